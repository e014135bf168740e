"""The migration plan as the report shows it: the same plan `rolecall plan RUN` writes, made as of
the run date rather than today, so that rendering a run's report again gives the same chapter."""

from __future__ import annotations

import duckdb

from reports.migration import facts
from reports.migration.plan import Plan, make_plan


def plan_of_run(con: duckdb.DuckDBPyConnection) -> Plan | None:
    """The plan of the snapshot behind `con`, dated its run date; None when the snapshot has no
    start time to date it by (a snapshot still being written, or a hand-made one)."""
    (started,) = con.execute("SELECT any_value(started_at) FROM run").fetchone() or (None,)
    if started is None:
        return None
    run_facts = facts.load(con)
    return make_plan(run_facts, run_facts.run_date)
