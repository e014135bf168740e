"""Changes since the previous run, and counts over every run: what an auditor asks first.

`baseline_for` picks the newest earlier run of the same organization that saw everything (every
account and source collected), else the newest earlier run of that organization; `changes`
compares the failures of the current snapshot with the baseline's, matched by (control_id,
resource_id), in one DuckDB query with the baseline ATTACHed READ_ONLY, and only where both runs
evaluated the control in the account: a failure whose account or source one run could not see is
counted as not compared, never as new or resolved. `trend` counts IAM users, active access keys
and console users in every complete run. Earlier runs are only ever opened read-only: a finished
run is evidence and is never written to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb

from checks.catalogue import CONTROLS, SEVERITIES
from store.coverage import coverage_of
from store.run_folder import PARTIAL, SNAPSHOT_FILE, complete_runs
from store.snapshot import ROOT_USER

SNAPSHOT = SNAPSHOT_FILE
BASELINE_ALIAS = "rolecall_baseline"
KINDS = ("new", "resolved", "persisting", "not_compared")
T = TypeVar("T")

_SEVERITY_RANK = (
    "CASE severity " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SEVERITIES))
    + f" ELSE {len(SEVERITIES)} END"
)


@dataclass
class Change:
    """One failure that appeared or went away between the baseline and this run."""

    resource_id: str
    account_id: str | None
    severity: str | None
    reason: str | None  # this run's reason for a new failure, the baseline's for a resolved one
    status_now: str | None = None  # for a resolved failure: pass, excepted, error, or None (gone)


@dataclass
class ControlChanges:
    """New, resolved and persisting failures of one control; lists hold at most `limit` rows.

    not_compared: failures (in either run) of an account where one of the runs could not evaluate
    the control (account or source not collected): neither new nor resolved.
    """

    control_id: str
    new: int = 0
    resolved: int = 0
    persisting: int = 0
    not_compared: int = 0
    new_rows: list[Change] = field(default_factory=list)
    resolved_rows: list[Change] = field(default_factory=list)


@dataclass
class Changes:
    """The comparison of this run with its baseline run."""

    baseline_run_id: str
    baseline_path: Path
    controls: dict[str, ControlChanges]

    def for_control(self, control_id: str) -> ControlChanges:
        return self.controls.get(control_id) or ControlChanges(control_id)

    def for_controls(self, control_ids: list[str]) -> ControlChanges:
        total = ControlChanges("+".join(control_ids))
        for cid in control_ids:
            c = self.for_control(cid)
            total.new += c.new
            total.resolved += c.resolved
            total.persisting += c.persisting
            total.not_compared += c.not_compared
        return total


@dataclass(frozen=True)
class TrendPoint:
    run_id: str
    iam_users: int
    active_keys: int
    console_users: int


def run_id_of(run_dir: Path) -> str:
    return run_dir.name.removesuffix(PARTIAL)


def baseline_for(run_dir: Path, organization_id: str | None = None) -> Path | None:
    """The run to compare run_dir with: among the finished runs under its parent that are older
    and (when given) of the same organization, the newest that saw everything, else the newest."""
    current = run_id_of(run_dir)
    fallback: Path | None = None
    for earlier in reversed([p for p in complete_runs(run_dir.parent) if p.name < current]):
        try:
            seen = coverage_of(str(earlier / SNAPSHOT))
        except duckdb.Error:
            continue  # not a snapshot this version can read: not a baseline
        if organization_id is not None and seen.organization_id != organization_id:
            continue
        if seen.complete:
            return earlier
        fallback = fallback or earlier
    return fallback


def _snapshot_of(run: Path) -> Path:
    return run / SNAPSHOT if run.is_dir() else run


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def changes(con: duckdb.DuckDBPyConnection, baseline: Path, *, limit: int = 500) -> Changes:
    """Failures new, resolved and persisting since `baseline` (a run folder or its snapshot).

    The baseline is ATTACHed READ_ONLY and detached afterwards. Lists are sorted by severity,
    account, resource and cut at `limit` per control and kind; counts are whole.

    Built to stay within the snapshot connection's memory cap at any size (a 1,000-account run
    compares ~900,000 failures with as many): the two failure sets are matched on their keys
    alone into a temporary table that DuckDB can spill, counted with a GROUP BY, and only the
    listed rows (at most `limit` per control and kind) are joined back to their wide columns.
    """
    path = _snapshot_of(baseline)
    if not path.exists():
        raise FileNotFoundError(f"baseline snapshot not found: {path}")
    con.execute(f"ATTACH {_quoted(path)} AS {BASELINE_ALIAS} (READ_ONLY)")
    try:
        ids = con.execute(f"SELECT run_id FROM {BASELINE_ALIAS}.run").fetchall()
        baseline_run_id = ids[0][0] if ids else run_id_of(path.parent)
        con.execute(_CLASSIFY.format(table=_CHANGES_TABLE, base=BASELINE_ALIAS,
                                     now_eval=_EVALUATED.format(db=""),
                                     base_eval=_EVALUATED.format(db=BASELINE_ALIAS + "."),
                                     rank=_SEVERITY_RANK),
                    {"controls": [c.id for c in CONTROLS]})
        counts = con.execute(
            f"SELECT control_id, kind, count(*) FROM {_CHANGES_TABLE} GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        listed = con.execute(_LISTED.format(table=_CHANGES_TABLE, base=BASELINE_ALIAS,
                                            rank=_SEVERITY_RANK), {"limit": limit}).fetchall()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_CHANGES_TABLE}")
        con.execute(f"DETACH {BASELINE_ALIAS}")
    controls: dict[str, ControlChanges] = {}
    for control_id, kind, total in counts:
        setattr(controls.setdefault(control_id, ControlChanges(control_id)), kind, total)
    for control_id, kind, resource_id, account_id, severity, reason, status_now in listed:
        change = Change(resource_id or "", account_id, severity, reason,
                        status_now if kind == "resolved" else None)
        c = controls[control_id]
        (c.new_rows if kind == "new" else c.resolved_rows).append(change)
    return Changes(baseline_run_id, path.parent, controls)


_CHANGES_TABLE = "rolecall_changes"

# Every failure of either run, matched by (control_id, resource_id) on narrow rows (no reason):
# new, resolved, persisting, or not_compared when its account is not in both runs' evaluated
# pairs. A TEMP table: it spills under the memory cap and never lands in the snapshot file.
_CLASSIFY = """
    CREATE OR REPLACE TEMP TABLE {table} AS
    WITH now_eval AS ({now_eval}),
    base_eval AS ({base_eval}),
    both_eval AS (SELECT * FROM now_eval INTERSECT SELECT * FROM base_eval),
    now_fail AS (
        SELECT control_id, resource_id, any_value(account_id) AS account_id, min({rank}) AS rank
        FROM control_results WHERE status = 'fail' GROUP BY control_id, resource_id
    ), base_fail AS (
        SELECT control_id, resource_id, any_value(account_id) AS account_id, min({rank}) AS rank
        FROM {base}.control_results WHERE status = 'fail' GROUP BY control_id, resource_id
    ), joined AS (
        SELECT control_id, resource_id,
               CASE WHEN b.resource_id IS NULL THEN 'new'
                    WHEN n.resource_id IS NULL THEN 'resolved'
                    ELSE 'persisting' END AS kind,
               coalesce(n.account_id, b.account_id) AS account_id,
               coalesce(n.rank, b.rank) AS rank
        FROM now_fail n FULL OUTER JOIN base_fail b USING (control_id, resource_id)
    )
    SELECT j.* REPLACE (CASE WHEN e.control_id IS NULL THEN 'not_compared' ELSE j.kind END AS kind)
    FROM joined j LEFT JOIN both_eval e
      ON e.control_id = j.control_id AND e.account_id = coalesce(j.account_id, '')
"""

# The listed rows: the first `limit` new and resolved failures of each control, then their
# severity and reason (this run's for a new failure, the baseline's for a resolved one) and, for
# a resolved one, what the resource is now.
_LISTED = """
    WITH listed AS (
        SELECT control_id, kind, resource_id, account_id, rank
        FROM {table} WHERE kind IN ('new', 'resolved')
        QUALIFY row_number() OVER (PARTITION BY control_id, kind
                                   ORDER BY rank, account_id, resource_id) <= $limit
    ), detail AS (
        SELECT l.control_id, l.kind, l.resource_id, l.account_id, l.rank,
               arg_min(r.severity, {rank}) AS severity, any_value(r.reason) AS reason
        FROM listed l
        JOIN (SELECT 'new' AS kind, control_id, resource_id, severity, reason
              FROM control_results WHERE status = 'fail'
              UNION ALL
              SELECT 'resolved', control_id, resource_id, severity, reason
              FROM {base}.control_results WHERE status = 'fail') r
          ON r.kind = l.kind AND r.control_id = l.control_id AND r.resource_id = l.resource_id
        GROUP BY ALL
    ), now_status AS (
        SELECT control_id, resource_id, min(r.status) AS status
        FROM control_results r
        SEMI JOIN (SELECT control_id, resource_id FROM listed WHERE kind = 'resolved') l
          USING (control_id, resource_id)
        GROUP BY ALL
    )
    SELECT d.control_id, d.kind, d.resource_id, d.account_id, d.severity, d.reason, s.status
    FROM detail d LEFT JOIN now_status s USING (control_id, resource_id)
    ORDER BY d.control_id, d.kind, d.rank, d.account_id, d.resource_id
"""


# (control_id, account_id) pairs a run evaluated: the account is in the run and was collected (or
# the control still has a verdict for it, from organization data), and the control has no error row
# for it. Only failures within pairs both runs evaluated can be new or resolved.
_EVALUATED = """
    SELECT c.control_id, a.account_id
    FROM (SELECT unnest($controls) AS control_id) c CROSS JOIN {db}accounts a
    WHERE NOT EXISTS (SELECT 1 FROM {db}control_results r WHERE r.control_id = c.control_id
                      AND coalesce(r.account_id, '') = a.account_id AND r.status = 'error')
      AND (a.collected OR EXISTS (SELECT 1 FROM {db}control_results r
                                  WHERE r.control_id = c.control_id AND r.account_id = a.account_id))
"""

_TREND_SQL = """
    SELECT (SELECT any_value(run_id) FROM {db}run),
           (SELECT count(*) FROM {db}iam_users),
           (SELECT count(*) FROM {db}credential_report
            WHERE "user" <> '{ROOT_USER}' AND (access_key_1_active OR access_key_2_active)),
           (SELECT count(*) FROM {db}credential_report
            WHERE "user" <> '{ROOT_USER}' AND password_enabled)
"""
TREND_DEFINITIONS = {
    "iam_users": "rows of iam_users (GetAccountAuthorizationDetails)",
    "active_keys": "credential-report users with at least one active access key",
    "console_users": "credential-report users with a console password",
}


def trend_point(con: duckdb.DuckDBPyConnection, db: str = "") -> TrendPoint:
    ((run_id, users, keys, console),) = con.execute(_TREND_SQL.format(db=db, ROOT_USER=ROOT_USER)).fetchall()
    return TrendPoint(run_id or "", users, keys, console)


def trend(con: duckdb.DuckDBPyConnection, runs: list[Path]) -> list[TrendPoint]:
    """Counts for every run in `runs` (each opened read-only) and for the current snapshot `con`,
    oldest first; a run whose id equals the current one is counted once, from `con`."""
    return list(per_run(con, runs, trend_point).values())


def per_run(con: duckdb.DuckDBPyConnection, runs: Sequence[Path],
            read: Callable[[duckdb.DuckDBPyConnection], T]) -> dict[str, T]:
    """`read` of the current snapshot `con` and of every run in `runs`, by run id, oldest first.

    Each earlier run is opened read-only (it is evidence); a run whose snapshot is con's own
    file, or whose id is the current one, is read once, from `con`.
    """
    out = {_run_id(con): read(con)}
    open_file = _database_file(con)
    for run in runs:
        if open_file is not None and _snapshot_of(run).resolve() == open_file:
            continue
        with duckdb.connect(str(_snapshot_of(run)), read_only=True) as other:
            run_id = _run_id(other) or run_id_of(run)
            if run_id not in out:
                out[run_id] = read(other)
    return {k: out[k] for k in sorted(out)}


def _run_id(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("SELECT any_value(run_id) FROM run").fetchone()
    return (row[0] if row else None) or ""


def _database_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file behind con's current database (None in memory): DuckDB refuses to open a file
    a second time in one process with another configuration."""
    rows = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    return Path(rows[0][0]).resolve() if rows and rows[0][0] else None


def history_runs(run_dir: Path) -> list[Path]:
    """Every complete run under run_dir's parent (the runs folder), oldest first."""
    return complete_runs(run_dir.parent)


def group_by_item(changes: Changes | None, items: dict[str, list[str]]) -> dict[str, ControlChanges]:
    """Change counts per guidance item, from {item: [control ids]}; empty without a baseline."""
    if changes is None:
        return {}
    return {item: changes.for_controls(ids) for item, ids in items.items()}
