"""The burn-down of IAM users across runs: how many are left each month, per OU, and who came back.

One point per period (the month a run stands as evidence for, `run.period`): the latest run of
that period counts, so a month audited twice is not counted twice. Runs made before rolecall
recorded a period have none and are left out. The counts are the trend chart's
(reports/history.py TREND_DEFINITIONS): rows of iam_users; credential-report users (root excluded)
with an active access key, with a console password.

A user *reappears* when its ARN is in one period's run, absent from a later one that collected
its account, and present again later still: someone recreated a user that had been removed.
An account a run could not collect proves nothing about its users, so it never counts as absence.
docs/queries.sql holds the same two answers as history queries (17, 18); the tests compare them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reports.history import per_run
from store.snapshot import ROOT_USER

# Users that came back are found by comparing each run's set of user ARNs in Python; past this
# many users in a run (a 10,000-account run holds millions, hundreds of MB per run) the report
# leaves them to query 18 of docs/queries.sql, which DuckDB answers from the files.
REAPPEARANCE_USERS = 200_000

ALL_OUS = "(all OUs)"
ROOT_OU = "(root)"  # accounts directly under the organization's root, as plan.md names them


@dataclass(frozen=True)
class MonthCounts:
    """One period's counts, over every OU (ou_path ALL_OUS) or one OU."""

    period: str
    run_id: str
    ou_path: str
    iam_users: int
    active_keys: int
    console_users: int


@dataclass(frozen=True)
class Reappearance:
    """A user present, then removed, then present again."""

    arn: str
    account_id: str
    removed_in: str  # the first period it was absent from
    back_in: str  # the period it was present again


@dataclass(frozen=True)
class Burndown:
    months: tuple[MonthCounts, ...]  # every OU together, oldest period first
    by_ou: tuple[MonthCounts, ...]  # per OU, then per period
    reappeared: tuple[Reappearance, ...]
    not_collected: dict[str, int]  # period -> accounts its run could not collect (when any)
    reappearances_listed: bool = True  # False: a run had more than REAPPEARANCE_USERS users

    @property
    def periods(self) -> list[str]:
        return [m.period for m in self.months]

    @property
    def ous(self) -> list[str]:
        return sorted({m.ou_path for m in self.by_ou})

    def of_ou(self, ou_path: str) -> dict[str, MonthCounts]:
        """One OU's counts by period (a period without the OU has no entry)."""
        return {m.period: m for m in self.by_ou if m.ou_path == ou_path}


@dataclass(frozen=True)
class _RunFacts:
    period: str | None
    run_id: str
    ou_counts: list[tuple[str, int, int, int]]
    users: set[tuple[str, str]] | None  # (arn, account id); None past REAPPEARANCE_USERS
    collected: set[str]
    not_collected: int


_OU_COUNTS = f"""
    WITH users AS (SELECT account_id, count(*) AS n FROM iam_users GROUP BY ALL),
    credentials AS (
        SELECT account_id,
               count(*) FILTER (access_key_1_active OR access_key_2_active) AS keys,
               count(*) FILTER (password_enabled) AS console
        FROM credential_report WHERE "user" <> '{ROOT_USER}' GROUP BY ALL
    )
    SELECT coalesce(nullif(a.ou_path, ''), '{ROOT_OU}') AS ou,
           sum(coalesce(u.n, 0))::INT, sum(coalesce(c.keys, 0))::INT, sum(coalesce(c.console, 0))::INT
    FROM accounts a LEFT JOIN users u USING (account_id) LEFT JOIN credentials c USING (account_id)
    GROUP BY ALL ORDER BY ou
"""


def _read(con: duckdb.DuckDBPyConnection) -> _RunFacts:
    period, run_id = con.execute("SELECT any_value(period), any_value(run_id) FROM run").fetchone() \
        or (None, None)
    collected = {a for a, ok in con.execute("SELECT account_id, collected FROM accounts").fetchall()
                 if ok}
    (accounts,) = con.execute("SELECT count(*) FROM accounts").fetchone() or (0,)
    (users,) = con.execute("SELECT count(*) FROM iam_users").fetchone() or (0,)
    return _RunFacts(
        period=period, run_id=run_id or "",
        ou_counts=[tuple(r) for r in con.execute(_OU_COUNTS).fetchall()],
        users=set(con.execute("SELECT arn, account_id FROM iam_users").fetchall())
        if users <= REAPPEARANCE_USERS else None,
        collected=collected, not_collected=accounts - len(collected),
    )


def burndown(con: duckdb.DuckDBPyConnection, runs: Sequence[Path]) -> Burndown:
    """The burn-down of the current snapshot `con` and the earlier `runs` (opened read-only)."""
    latest: dict[str, _RunFacts] = {}
    for facts in per_run(con, runs, _read).values():  # oldest first: a later run replaces
        if facts.period:
            latest[facts.period] = facts
    ordered = [latest[p] for p in sorted(latest)]
    months, by_ou = [], []
    for f in ordered:
        totals = [sum(c[i] for c in f.ou_counts) for i in (1, 2, 3)]
        months.append(MonthCounts(f.period or "", f.run_id, ALL_OUS, *totals))
        by_ou += [MonthCounts(f.period or "", f.run_id, ou, *counts) for ou, *counts in f.ou_counts]
    by_ou.sort(key=lambda m: (m.ou_path, m.period))
    listed = all(f.users is not None for f in ordered)
    return Burndown(tuple(months), tuple(by_ou), tuple(_reappearances(ordered)) if listed else (),
                    {f.period or "": f.not_collected for f in ordered if f.not_collected},
                    reappearances_listed=listed)


def _reappearances(ordered: Sequence[_RunFacts]) -> list[Reappearance]:
    """Every return of a removed user, in order of ARN, then period."""
    found = []
    runs = [(f, f.users or set()) for f in ordered]
    for arn, account_id in sorted(set().union(*(users for _, users in runs))):
        seen, removed_in = False, None
        for f, users in runs:
            if (arn, account_id) in users:
                if removed_in is not None:
                    found.append(Reappearance(arn, account_id, removed_in, f.period or ""))
                seen, removed_in = True, None
            elif seen and removed_in is None and account_id in f.collected:
                removed_in = f.period
    return found
