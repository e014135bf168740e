"""The migration plan as the report shows it: the same plan `rolecall plan RUN` writes, made as of
the run date rather than today, so that rendering a run's report again gives the same chapter.

The plan is made in Python, user by user, from each user's facts and policies: for the report of
a very large organization (a 10,000-account run holds millions of users) it would cost minutes and
gigabytes inside the 5-minute, 4 GB budget of load + validate + render. Above REPORT_PLAN_USERS
the chapter says so and `rolecall plan RUN` makes the plan on its own.
"""

from __future__ import annotations

import duckdb

from reports.migration import facts
from reports.migration.plan import Plan, make_plan

REPORT_PLAN_USERS = 20_000


def iam_user_count(con: duckdb.DuckDBPyConnection) -> int:
    (users,) = con.execute("SELECT count(*) FROM iam_users").fetchone() or (0,)
    return int(users)


def plan_of_run(con: duckdb.DuckDBPyConnection) -> Plan | None:
    """The plan of the snapshot behind `con`, dated its run date; None when the snapshot has no
    start time to date it by (a snapshot still being written, or a hand-made one), or holds more
    than REPORT_PLAN_USERS users."""
    if iam_user_count(con) > REPORT_PLAN_USERS:
        return None
    (started,) = con.execute("SELECT any_value(started_at) FROM run").fetchone() or (None,)
    if started is None:
        return None
    run_facts = facts.load(con)
    return make_plan(run_facts, run_facts.run_date)
