"""The report's view model: everything report.html and report.pdf show, built in one place.

`build_view` reads the snapshot with SQL aggregates (and, for a run folder, its baseline, its
history and its files) into one immutable ReportView; reports/render.py turns that into HTML and
a PDF and reads nothing else. What validation found (the completeness suite) is passed in, never
read back from the files it wrote.

Per-control rows are capped at `row_limit`: a large organization has tens of thousands of
failures. Every cap in the report says how many rows it left out and where the complete list
is (evidence/controls/<id>.csv), so nothing is hidden from the auditor.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb

from checks.catalogue import CONTROLS, GUIDANCE, IMPLEMENTED, SEVERITIES
from checks.completeness import CompletenessSummary
from checks.counts import Counts, counts_by_control, total
from checks.settings import Settings
from reports import history
from reports.burndown import Burndown, burndown
from reports.frameworks_view import FrameworkSection, framework_sections
from reports.history import Changes, ControlChanges, TrendPoint
from reports.management_response import ManagementResponses, Signoff, signoff_rows
from reports.migration.of_run import iam_user_count, plan_of_run
from reports.migration.plan import Plan
from reports.scope_view import ScopeAndMethod, run_settings, scope_and_method
from store.coverage import Coverage, coverage
from store.snapshot import ROOT_USER, table_names

# Rows fetched per control and status; the HTML shows them all, the PDF fewer (reports/render.py).
HTML_ROW_CAP = 500
# Files that do not exist yet, or not in their final form, when the report is rendered.
WRITTEN_AFTER_RENDER = ("report.html", "report.pdf", "manifest.json", "manifest.json.p7s")
SCP_CONTROLS: tuple[str, ...] = tuple(c.id for c in CONTROLS if c.scp_coverage)

SEVERITY_RANK_SQL = (
    "CASE severity "
    + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SEVERITIES))
    + f" ELSE {len(SEVERITIES)} END"
)


@dataclass(frozen=True)
class RunInfo:
    """The single `run` row, with timestamps already in UTC."""

    run_id: str
    started_at: datetime | None
    finished_at: datetime | None
    tool_version: str | None
    organization_id: str | None
    management_account_id: str | None
    management_account_name: str | None
    endpoint_url: str | None
    simulated: bool


@dataclass(frozen=True)
class CentralizedRootAccess:
    """Whether IAM manages member accounts' root credentials centrally (RootCredentialsManagement):
    "on", "off" or "unknown", the features enabled, and how that is known."""

    state: str
    enabled_features: tuple[str, ...]
    basis: str


@dataclass(frozen=True)
class ResultRow:
    """One failing (or erroring) population member, as shown in a control's table."""

    resource_id: str
    resource_type: str | None
    account_id: str | None
    account_name: str | None
    severity: str | None
    reason: str | None


@dataclass(frozen=True)
class ControlSection:
    """One control: catalogue text, counts and the first rows of its failures and errors."""

    id: str
    guidance_item: str
    title: str
    severity: str
    population_definition: str
    fails_when: str
    remediation: str
    in_catalogue: bool
    evaluated: bool
    counts: Counts
    failures: tuple[ResultRow, ...]
    errors: tuple[ResultRow, ...]
    exceptions_applied: tuple[tuple[str, str | None, int], ...]  # (exception id, principal, rows)
    changes: ControlChanges | None  # None when there is no baseline run

    @property
    def status(self) -> str:
        return status_word(self.counts, evaluated=self.evaluated)

    @property
    def evidence_csv(self) -> str:
        return f"evidence/controls/{self.id}.csv"

    @property
    def reproduce_sql(self) -> list[str]:
        """Queries on snapshot.duckdb that give this section's counts and its failure list."""
        return [
            f"SELECT status, count(*) FROM control_results WHERE control_id = '{self.id}' "
            "GROUP BY status ORDER BY status;",
            f"SELECT resource_id, account_id, severity, reason FROM control_results "
            f"WHERE control_id = '{self.id}' AND status = 'fail' ORDER BY account_id, resource_id;",
        ]


@dataclass(frozen=True)
class GuidanceSection:
    """One guidance item with its controls, evaluated or not."""

    id: str
    title: str
    text: str
    controls: tuple[ControlSection, ...]
    changes: ControlChanges | None  # over the item's controls; None without a baseline

    @property
    def evaluated_controls(self) -> list[ControlSection]:
        return [c for c in self.controls if c.evaluated]

    @property
    def not_evaluated_controls(self) -> list[ControlSection]:
        return [c for c in self.controls if not c.evaluated]

    @property
    def counts(self) -> Counts:
        return total(c.counts for c in self.evaluated_controls)

    @property
    def status(self) -> str:
        return status_word(self.counts, evaluated=bool(self.evaluated_controls))


@dataclass(frozen=True)
class SigningInfo:
    """Who signs the report, as the report states it (reports.keys.SigningIdentity fits too)."""

    subject: str
    fingerprint: str
    demo: bool


class SignerLike(Protocol):
    @property
    def subject(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def demo(self) -> bool: ...


@dataclass(frozen=True)
class EvidenceFile:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ExceptionEntry:
    """One exceptions-register entry and the results it actually excepted."""

    exception_id: str
    principal: str | None
    kind: str | None
    dependency: str | None
    reason: str | None
    owner: str | None
    approved_by: str | None
    expires: date | None
    valid: bool | None
    problems: tuple[str, ...]
    covers: tuple[str, ...]
    applied: tuple[tuple[str, int], ...]  # (control id, excepted results)
    in_register: bool = True
    ticket: str | None = None  # the approval's reference: an id or an http(s) URL

    @property
    def ticket_link(self) -> str | None:
        """The ticket when it is an http(s) URL (the report links only those)."""
        ticket = self.ticket
        return ticket if ticket and ticket.lower().startswith(("http://", "https://")) else None


@dataclass(frozen=True)
class AccountRow:
    """One account of the organization and how its collection went."""

    account_id: str
    name: str | None
    status: str | None
    ou_path: str | None
    is_management: bool
    collected: bool
    error: str | None
    api_calls: int | None
    iam_users: int


@dataclass(frozen=True)
class CollectionError:
    """One failed AWS call during collection."""

    account_id: str | None
    account_name: str | None
    source: str | None
    operation: str | None
    error_code: str | None
    message: str | None
    occurred_at: datetime | None


@dataclass(frozen=True)
class Inventory:
    """Headline facts about IAM users, from the collected tables rather than the checks."""

    iam_users: int
    accounts_with_users: int
    users_with_password: int
    users_with_active_keys: int


@dataclass(frozen=True)
class ScpCoverageGroup:
    """Accounts whose SCP coverage reads the same: one row of the G6 coverage table."""

    ou_path: str
    account_ids: tuple[str, ...]
    statuses: dict[str, str]  # control id -> status
    covering: dict[str, list[str]]  # control id -> "Policy (at Node)" that cover it


@dataclass(frozen=True)
class ReportView:
    """Everything the template needs, as plain data: the template does no querying."""

    run: RunInfo
    guidance: tuple[GuidanceSection, ...]
    exceptions: tuple[ExceptionEntry, ...]
    accounts: tuple[AccountRow, ...]
    collection_errors: tuple[CollectionError, ...]
    inventory: Inventory
    row_limit: int
    scp_coverage: tuple[ScpCoverageGroup, ...]
    coverage: Coverage  # what the run could see; its headline opens the report
    root_access: CentralizedRootAccess = CentralizedRootAccess("unknown", (), "not collected")
    changes: Changes | None = None  # None: no earlier complete run to compare with
    trend: tuple[TrendPoint, ...] = ()
    completeness: CompletenessSummary | None = None  # None: not checked
    evidence_files: tuple[EvidenceFile, ...] = ()
    signing: SignerLike | None = None
    scp_controls: tuple[str, ...] = SCP_CONTROLS
    scope: ScopeAndMethod | None = None  # scope, method, settings and limitations
    frameworks: tuple[FrameworkSection, ...] = ()  # requirement -> controls -> verdict
    framework: str | None = None  # the one framework the report is scoped to, if any
    signoff: Signoff | None = None  # management responses per failing control; the sign-off
    migration: Plan | None = None  # None: no run date to plan from, or too many users
    iam_users: int = 0  # the run's IAM users, planned or not
    burndown: Burndown | None = None  # the runs' counts by period and OU; who came back

    @property
    def accounts_collected(self) -> int:
        return sum(1 for a in self.accounts if a.collected)

    @property
    def accounts_by_ou(self) -> list[tuple[str, int, int, int]]:
        """(OU path, accounts, collected, API calls) per OU path, for the PDF of large runs."""
        groups: dict[str, list[int]] = {}
        for a in self.accounts:
            g = groups.setdefault(a.ou_path or "", [0, 0, 0])
            g[0] += 1
            g[1] += 1 if a.collected else 0
            g[2] += a.api_calls or 0
        return [(ou, *counts) for ou, counts in sorted(groups.items())]  # type: ignore[misc]

    @property
    def accounts_not_collected(self) -> list[AccountRow]:
        return [a for a in self.accounts if not a.collected]

    @property
    def controls(self) -> list[ControlSection]:
        return [c for g in self.guidance for c in g.controls]

    @property
    def total_changes(self) -> ControlChanges | None:
        if self.changes is None:
            return None
        return self.changes.for_controls([c.id for c in self.controls])

    @property
    def totals(self) -> Counts:
        return total(item.counts for item in self.guidance)


def status_word(counts: Counts, *, evaluated: bool) -> str:
    """Status word shared by controls and guidance items; a fail outranks an error."""
    if not evaluated:
        return "not evaluated"
    if counts.failed:
        return "non-compliant"
    if counts.error:
        return "incomplete"
    return "compliant"


def build_view(
    con: duckdb.DuckDBPyConnection,
    *,
    run_dir: Path | None = None,
    baseline: Path | None = None,
    history_runs: Sequence[Path] | None = None,
    signing: SignerLike | None = None,
    completeness: CompletenessSummary | None = None,
    row_limit: int = HTML_ROW_CAP,
    framework: str | None = None,
    responses: ManagementResponses | None = None,
) -> ReportView:
    """The report of the snapshot behind `con`; per-control rows are limited to `row_limit`.

    run_dir: the run folder; it brings the evidence index, and the baseline and trend from the
      runs folder it sits in (without it, the view holds the snapshot alone).
    baseline: the run folder to compare with; by default the newest complete run older than
      run_dir in the same runs folder (none: the report says there is no earlier run).
    history_runs: the runs of the trend chart and the burn-down; by default every complete run
      in that folder.
    signing: who will sign the report (subject, fingerprint, demo), stated on the cover.
    completeness: what the completeness suite found (checks/completeness.py); None: not checked.
    framework: a framework id (checks/frameworks.py): the framework chapter shows only it.
    responses: the management response file (reports/management_response.py); None: no file,
      every failing control reads "no response recorded".
    """
    seen = coverage(con)
    if baseline is None and run_dir is not None:
        baseline = history.baseline_for(run_dir, seen.organization_id)
    changes = history.changes(con, baseline, limit=HTML_ROW_CAP) if baseline is not None else None
    runs = list(history_runs) if history_runs is not None else (
        history.history_runs(run_dir) if run_dir is not None else [])
    exceptions = _exceptions(con)
    return ReportView(
        run=(run := _run(con)),
        guidance=(guidance := _guidance(con, row_limit, exceptions, changes)),
        frameworks=_frameworks(guidance, framework, run_settings(con)),
        framework=framework,
        exceptions=exceptions,
        accounts=_accounts(con),
        collection_errors=_collection_errors(con),
        inventory=_inventory(con),
        row_limit=row_limit,
        scp_coverage=_scp_coverage(con),
        coverage=seen,
        scope=scope_and_method(con, seen, completeness),
        root_access=_root_access(con),
        changes=changes,
        trend=tuple(history.trend(con, runs)),
        migration=plan_of_run(con),
        iam_users=iam_user_count(con),
        burndown=burndown(con, runs),
        completeness=completeness,
        evidence_files=evidence_index(run_dir) if run_dir is not None else (),
        signing=signing,
        signoff=_signoff(run, guidance, responses),
    )


def _signoff(run: RunInfo, guidance: Sequence[GuidanceSection],
             responses: ManagementResponses | None) -> Signoff:
    """The Sign-off chapter's rows: every failing control, with management's response if any."""
    controls = [c for g in guidance for c in g.controls]
    return signoff_rows(controls, {c.id: c.counts.failed for c in controls}, responses,
                        run.started_at.date() if run.started_at else None)


def _run(con: duckdb.DuckDBPyConnection) -> RunInfo:
    runs = _dicts(
        con,
        "SELECT r.*, a.name AS management_account_name FROM run r "
        "LEFT JOIN accounts a ON a.account_id = r.management_account_id",
    )
    if len(runs) != 1:
        raise ValueError(f"the snapshot's run table must hold exactly one row, found {len(runs)}")
    r = runs[0]
    return RunInfo(
        run_id=r["run_id"],
        started_at=_utc(r["started_at"]),
        finished_at=_utc(r["finished_at"]),
        tool_version=r["tool_version"],
        organization_id=r["organization_id"],
        management_account_id=r["management_account_id"],
        management_account_name=r["management_account_name"],
        endpoint_url=r["endpoint_url"],
        simulated=bool(r["simulated"]),
    )


def _guidance(
    con: duckdb.DuckDBPyConnection, row_limit: int, exceptions: Sequence[ExceptionEntry],
    changes: Changes | None,
) -> tuple[GuidanceSection, ...]:
    """Every catalogue control under its guidance item, with counts and its first rows; results
    of a control (or item) this version's catalogue does not know are shown, never dropped.

    Counts come from GROUP BY queries and only the first `row_limit` failures per control are
    fetched, so the cost does not grow with the number of passing members.
    """
    counts = counts_by_control(con)
    settings = run_settings(con)
    result_item = dict(con.execute(
        "SELECT control_id, any_value(guidance_item) FROM control_results GROUP BY ALL").fetchall())
    failures = _first_rows(con, "fail", row_limit)
    errors = _first_rows(con, "error", row_limit)
    applied: dict[str, list[tuple[str, str | None, int]]] = defaultdict(list)
    for entry in exceptions:
        for control_id, n in entry.applied:
            applied[control_id].append((entry.exception_id, entry.principal, n))

    def section(control_id: str, item: str, catalogue: Any | None) -> ControlSection:
        return ControlSection(
            id=control_id,
            guidance_item=item,
            title=catalogue.title if catalogue else "(not in this version's catalogue)",
            severity=catalogue.severity if catalogue else "",
            population_definition=catalogue.population if catalogue else "",
            fails_when=catalogue.fails_when if catalogue else "",
            remediation=catalogue.remediation if catalogue else "",
            in_catalogue=catalogue is not None,
            evaluated=control_id in counts or (control_id in IMPLEMENTED
                                               and settings.selects(control_id, item)),
            counts=counts.get(control_id, Counts()),
            failures=tuple(failures.get(control_id, ())),
            errors=tuple(errors.get(control_id, ())),
            exceptions_applied=tuple(applied.get(control_id, ())),
            changes=changes.for_control(control_id) if changes is not None else None,
        )

    known = {c.id for c in CONTROLS}
    sections = [section(c.id, c.guidance_item, c) for c in CONTROLS] + [
        section(cid, result_item[cid] or "unassigned", None) for cid in sorted(set(counts) - known)]
    items: dict[str, tuple[str, str]] = {g.id: (g.title, g.text) for g in GUIDANCE}
    for s in sections:
        items.setdefault(s.guidance_item, ("(not in this version's catalogue)", ""))
    out = []
    for item_id, (title, text) in items.items():
        controls = tuple(s for s in sections if s.guidance_item == item_id)
        out.append(GuidanceSection(
            item_id, title, text, controls,
            changes.for_controls([c.id for c in controls]) if changes is not None else None))
    return tuple(out)


def _frameworks(guidance: Sequence[GuidanceSection], framework: str | None,
                settings: Settings) -> tuple[FrameworkSection, ...]:
    """The framework chapter from the controls' counts as the controls chapter shows them, each
    framework saying where the run's thresholds were not the ones its profile asks for."""
    shown = [c for g in guidance for c in g.controls]
    sections = framework_sections(CONTROLS, {c.id: c.counts for c in shown},
                                  {c.id for c in shown if c.evaluated}, framework)
    return tuple(replace(s, profile_gaps=tuple(
        f"this run used {name} = {getattr(settings, name)} ({settings.origin(name)}), not the "
        f"profile's {wanted}: the controls reading it were not judged at this framework's threshold"
        for name, wanted in s.framework.profile.items() if getattr(settings, name) != wanted))
        for s in sections)


def _root_access(con: duckdb.DuckDBPyConnection) -> CentralizedRootAccess:
    """The organization_features rows; without them, why the features are not known."""
    if "organization_features" not in table_names(con):
        return CentralizedRootAccess("unknown", (), "not collected by the version that made this run")
    rows = _dicts(con, "SELECT feature, enabled, basis FROM organization_features ORDER BY feature")
    if rows:
        enabled = tuple(r["feature"] for r in rows if r["enabled"])
        state = "on" if "RootCredentialsManagement" in enabled else "off"
        return CentralizedRootAccess(state, enabled, str(rows[0]["basis"]))
    (failed,) = con.execute(
        "SELECT string_agg(DISTINCT format('{} {}: {}', coalesce(operation, '?'), "
        "coalesce(error_code, '?'), coalesce(message, '')), '; ') "
        "FROM collection_errors WHERE source = 'organization_features'").fetchone() or (None,)
    return CentralizedRootAccess(
        "unknown", (), f"collection failed: {failed}" if failed else "not collected")


def _collection_errors(con: duckdb.DuckDBPyConnection) -> tuple[CollectionError, ...]:
    return tuple(
        CollectionError(**{**row, "occurred_at": _utc(row["occurred_at"])})
        for row in _dicts(
            con,
            "SELECT e.account_id, a.name AS account_name, e.source, e.operation, "
            "e.error_code, e.message, e.occurred_at FROM collection_errors e "
            "LEFT JOIN accounts a USING (account_id) "
            "ORDER BY e.account_id, e.source, e.operation, e.occurred_at",
        )
    )


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _json_list(value: Any) -> list[str]:
    """Decode a JSON column holding a list (or a single value) into strings."""
    if value is None:
        return []
    decoded = json.loads(value) if isinstance(value, str) else value
    if decoded is None:
        return []
    items = decoded if isinstance(decoded, list) else [decoded]
    return [_readable(v) for v in items]


def _readable(value: Any) -> str:
    """One register problem or list item as a sentence: the checks store problems as
    {code, message, severity}; anything else is shown as JSON rather than as a Python repr."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "message" in value:
        tags = ", ".join(str(value[k]) for k in ("severity", "code") if value.get(k))
        return f"{value['message']} ({tags})" if tags else str(value["message"])
    return json.dumps(value, sort_keys=True, default=str)


def _dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _first_rows(con: duckdb.DuckDBPyConnection, status: str, limit: int) -> dict[str, list[ResultRow]]:
    """The first `limit` rows of one status per control, by severity, account, resource."""
    out: dict[str, list[ResultRow]] = defaultdict(list)
    rows = con.execute(
        f"""
        WITH ranked AS (
            SELECT control_id, resource_id, resource_type, account_id, severity, reason,
                   row_number() OVER (
                       PARTITION BY control_id
                       ORDER BY {SEVERITY_RANK_SQL}, account_id, resource_id
                   ) AS rn
            FROM control_results WHERE status = ?
        )
        SELECT r.control_id, r.resource_id, r.resource_type, r.account_id, a.name,
               r.severity, r.reason
        FROM ranked r LEFT JOIN accounts a USING (account_id)
        WHERE r.rn <= ?
        ORDER BY r.control_id, r.rn
        """,
        [status, limit],
    ).fetchall()
    for control_id, resource_id, resource_type, account_id, name, severity, reason in rows:
        out[control_id].append(
            ResultRow(resource_id or "", resource_type, account_id, name, severity, reason)
        )
    return out


def _exceptions(con: duckdb.DuckDBPyConnection) -> tuple[ExceptionEntry, ...]:
    """Register entries plus any exception id used in results but absent from the register."""
    applied: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for exception_id, control_id, n in con.execute(
        "SELECT exception_id, control_id, count(*) FROM control_results "
        "WHERE status = 'excepted' GROUP BY ALL ORDER BY exception_id, control_id"
    ).fetchall():
        applied[exception_id or ""].append((control_id, n))

    entries: list[ExceptionEntry] = []
    for row in _dicts(con, "SELECT * FROM exceptions ORDER BY principal, exception_id"):
        entries.append(
            ExceptionEntry(
                exception_id=row["exception_id"] or "",
                principal=row["principal"],
                kind=row["kind"],
                dependency=row["dependency"],
                reason=row["reason"],
                owner=row["owner"],
                approved_by=row["approved_by"],
                expires=row["expires"],
                valid=row["valid"],
                problems=tuple(_json_list(row["problems"])),
                covers=tuple(_json_list(row["controls"])),
                applied=tuple(applied.pop(row["exception_id"] or "", [])),
                ticket=row.get("ticket"),  # None in snapshots older than the column
            )
        )
    for exception_id, used in sorted(applied.items()):
        entries.append(
            ExceptionEntry(
                exception_id=exception_id or "(none recorded)",
                principal=None,
                kind=None,
                dependency=None,
                reason=None,
                owner=None,
                approved_by=None,
                expires=None,
                valid=None,
                problems=("excepted results name this id, but the register has no such entry",),
                covers=(),
                applied=tuple(used),
                in_register=False,
            )
        )
    return tuple(entries)


def _accounts(con: duckdb.DuckDBPyConnection) -> tuple[AccountRow, ...]:
    rows = con.execute(
        """
        SELECT a.account_id, a.name, a.status, a.ou_path, coalesce(a.is_management, false),
               coalesce(a.collected, false), a.error, a.api_calls, coalesce(u.n, 0)
        FROM accounts a
        LEFT JOIN (SELECT account_id, count(*) AS n FROM iam_users GROUP BY account_id) u
            USING (account_id)
        ORDER BY a.account_id
        """
    ).fetchall()
    return tuple(AccountRow(*row) for row in rows)


def _scp_coverage(
    con: duckdb.DuckDBPyConnection,
    controls: tuple[str, ...] = SCP_CONTROLS,
) -> tuple[ScpCoverageGroup, ...]:
    """SCP coverage per member account, accounts with the same coverage grouped together.

    The evidence of the SCP coverage controls holds the chain root -> OUs -> account with each attached
    policy and whether it covers; accounts under one OU usually read the same, so a
    1,000-account organization fits in a few rows.
    """
    rows = con.execute(
        "SELECT c.account_id, coalesce(a.ou_path, ''), c.control_id, c.status, c.evidence "
        "FROM control_results c LEFT JOIN accounts a USING (account_id) "
        "WHERE list_contains(?, c.control_id) ORDER BY 2, 1",
        [list(controls)],
    ).fetchall()
    per_account: dict[str, dict[str, Any]] = {}
    for account_id, ou_path, control_id, status, evidence in rows:
        entry = per_account.setdefault(account_id, {"ou": ou_path, "statuses": {}, "covering": {}})
        entry["statuses"][control_id] = status
        chain = (json.loads(evidence) if isinstance(evidence, str) else evidence or {}).get("chain", [])
        entry["covering"][control_id] = [
            f"{policy.get('name') or policy.get('policy_id')} (at {node.get('name') or node.get('id')})"
            for node in chain or []
            for policy in node.get("policies") or []
            if policy.get("covers")
        ]
    grouped: dict[str, list[str]] = defaultdict(list)
    for account_id, entry in per_account.items():
        grouped[json.dumps([entry["ou"], entry["statuses"], entry["covering"]], sort_keys=True)].append(
            account_id)
    groups = [ScpCoverageGroup(per_account[ids[0]]["ou"], tuple(ids), per_account[ids[0]]["statuses"],
                               per_account[ids[0]]["covering"]) for ids in grouped.values()]
    return tuple(sorted(groups, key=lambda g: (g.ou_path, g.account_ids[0])))


def _inventory(con: duckdb.DuckDBPyConnection) -> Inventory:
    users, accounts = con.execute(
        "SELECT count(*), count(DISTINCT account_id) FROM iam_users"
    ).fetchone() or (0, 0)
    with_password, with_keys = con.execute(
        "SELECT count(*) FILTER (WHERE password_enabled), "
        "count(*) FILTER (WHERE access_key_1_active OR access_key_2_active) "
        f"FROM credential_report WHERE \"user\" <> '{ROOT_USER}'"
    ).fetchone() or (0, 0)
    return Inventory(users, accounts, with_password, with_keys)


def evidence_index(run_dir: Path) -> tuple[EvidenceFile, ...]:
    """Every file of run_dir that exists now, with its SHA-256, except those written after the
    report (the report itself, the manifest and its signature)."""
    files = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(run_dir).as_posix()
        if rel in WRITTEN_AFTER_RENDER or rel.endswith(".wal"):
            continue
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
            size = f.tell()
        files.append(EvidenceFile(rel, digest, size))
    return tuple(files)


