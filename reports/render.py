"""The audit report: HTML from Jinja2 and a PDF from the same template with WeasyPrint.

Three steps with one job each, so tests and benchmarks can call them separately:
`load_report_data` reads the snapshot with SQL aggregates into plain dataclasses (no Jinja,
no WeasyPrint), `render_html` turns that into a document, `write_pdf` lays it out.
`render_report` chains them for one run folder.

Failure tables are capped: WeasyPrint's time grows with table rows, and a large organization has
tens of thousands of failures. Every cap says how many rows it left out and where the complete
list is (evidence/controls/<id>.csv), so nothing is hidden from the auditor.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import duckdb
import jinja2
import weasyprint
from markupsafe import Markup

from checks import completeness as completeness_checks
from checks.catalogue import CONTROLS, GUIDANCE, IMPLEMENTED, SEVERITIES, STATUSES
from checks.completeness import CompletenessSummary
from reports import history
from reports.chart import trend_svg
from reports.history import Changes, ControlChanges, TrendPoint
from store import snapshot as snapshot_db
from store.coverage import Coverage, coverage

TEMPLATES = Path(__file__).parent / "templates"
TITLE = "Do not use IAM Users \u2014 compliance audit"

# Rows of one control's failure and error tables. WeasyPrint needs ~10 ms per table row, so the
# PDF stays short; the HTML shows more because a browser copes, but a 50k-row page helps nobody:
# evidence/controls/<id>.csv is the complete list and every cap says so. Error rows get a lower PDF
# cap: they mostly repeat the uncollected accounts, which the Accounts section lists in full.
PDF_ROW_CAP = 50
PDF_ERROR_ROW_CAP = 20
HTML_ROW_CAP = 500
# Above this many accounts the PDF lists collected accounts per OU (every uncollected account is
# still listed); WeasyPrint spends ~10 ms a table row, and report.html has every account.
PDF_ACCOUNT_LIST_CAP = 200
# Rows of one control's new and resolved lists, and of one completeness check's failures.
PDF_CHANGE_CAP = 20
PDF_COMPLETENESS_CAP = 50
FINDINGS_CSV = "findings.csv"
PDF_VARIANT = "pdf/a-3b"
# Files that do not exist yet, or not in their final form, when the report is rendered.
WRITTEN_AFTER_RENDER = ("report.html", "report.pdf", "manifest.json", "manifest.json.p7s")

_SEVERITY_RANK_SQL = (
    "CASE severity "
    + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SEVERITIES))
    + f" ELSE {len(SEVERITIES)} END"
)


@dataclass
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


@dataclass
class Counts:
    """Result counts by status; `population` is every row, whatever its status."""

    passed: int = 0
    failed: int = 0
    excepted: int = 0
    error: int = 0
    failed_by_severity: dict[str, int] = field(default_factory=dict)

    @property
    def population(self) -> int:
        return self.passed + self.failed + self.excepted + self.error

    def add(self, status: str, severity: str | None, n: int) -> None:
        if status == "pass":
            self.passed += n
        elif status == "fail":
            self.failed += n
            key = severity or "unknown"
            self.failed_by_severity[key] = self.failed_by_severity.get(key, 0) + n
        elif status == "excepted":
            self.excepted += n
        else:
            # Unknown statuses count as errors: the control could not vouch for the member.
            self.error += n

    def merge(self, other: Counts) -> None:
        self.passed += other.passed
        self.failed += other.failed
        self.excepted += other.excepted
        self.error += other.error
        for sev, n in other.failed_by_severity.items():
            self.failed_by_severity[sev] = self.failed_by_severity.get(sev, 0) + n

    def severity_breakdown(self) -> list[tuple[str, int]]:
        """Failures per severity, most severe first, zero counts left out."""
        order = {s: i for i, s in enumerate(SEVERITIES)}
        return sorted(
            ((s, n) for s, n in self.failed_by_severity.items() if n),
            key=lambda item: (order.get(item[0], len(order)), item[0]),
        )


@dataclass
class ResultRow:
    """One failing (or erroring) population member, as shown in a control's table."""

    resource_id: str
    resource_type: str | None
    account_id: str | None
    account_name: str | None
    severity: str | None
    reason: str | None


@dataclass
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
    failures: list[ResultRow]
    errors: list[ResultRow]
    exceptions_applied: list[tuple[str, str | None, int]] = field(default_factory=list)
    changes: ControlChanges | None = None  # None when there is no baseline run

    @property
    def status(self) -> str:
        return _status(self.counts, evaluated=self.evaluated)

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


@dataclass
class GuidanceSection:
    """One guidance item with its controls, evaluated or not."""

    id: str
    title: str
    text: str
    controls: list[ControlSection]

    @property
    def evaluated_controls(self) -> list[ControlSection]:
        return [c for c in self.controls if c.evaluated]

    @property
    def not_evaluated_controls(self) -> list[ControlSection]:
        return [c for c in self.controls if not c.evaluated]

    @property
    def counts(self) -> Counts:
        total = Counts()
        for control in self.evaluated_controls:
            total.merge(control.counts)
        return total

    @property
    def status(self) -> str:
        return _status(self.counts, evaluated=bool(self.evaluated_controls))

    @property
    def changes(self) -> ControlChanges | None:
        """New, resolved and persisting failures over the item's controls; None without baseline."""
        per_control = [c.changes for c in self.controls if c.changes is not None]
        if not per_control:
            return None
        total = ControlChanges(self.id)
        for c in per_control:
            total.new += c.new
            total.resolved += c.resolved
            total.persisting += c.persisting
            total.not_compared += c.not_compared
        return total


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


@dataclass
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
    problems: list[str]
    covers: list[str]
    applied: list[tuple[str, int]]  # (control id, excepted results)
    in_register: bool = True


@dataclass
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


@dataclass
class CollectionError:
    """One failed AWS call during collection."""

    account_id: str | None
    account_name: str | None
    source: str | None
    operation: str | None
    error_code: str | None
    message: str | None
    occurred_at: datetime | None


@dataclass
class Inventory:
    """Headline facts about IAM users, from the collected tables rather than the checks."""

    iam_users: int
    accounts_with_users: int
    users_with_password: int
    users_with_active_keys: int


@dataclass
class ScpCoverageGroup:
    """Accounts whose SCP coverage reads the same: one row of the G6 coverage table."""

    ou_path: str
    account_ids: list[str]
    statuses: dict[str, str]  # control id -> status
    covering: dict[str, list[str]]  # control id -> "Policy (at Node)" that cover it


@dataclass
class ReportData:
    """Everything the template needs, as plain data: the template does no querying."""

    run: RunInfo
    guidance: list[GuidanceSection]
    exceptions: list[ExceptionEntry]
    accounts: list[AccountRow]
    collection_errors: list[CollectionError]
    inventory: Inventory
    row_limit: int
    scp_coverage: list[ScpCoverageGroup] = field(default_factory=list)
    scp_controls: tuple[str, ...] = tuple(c.id for c in CONTROLS if c.scp_coverage)
    changes: Changes | None = None  # None: no earlier complete run to compare with
    trend: list[TrendPoint] = field(default_factory=list)
    trend_svg: str = ""
    completeness: CompletenessSummary | None = None
    evidence_files: list[EvidenceFile] = field(default_factory=list)
    signing: SignerLike | None = None
    coverage: Coverage | None = None  # what the run could see; its headline opens the report

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
        total = Counts()
        for item in self.guidance:
            total.merge(item.counts)
        return total


def _status(counts: Counts, *, evaluated: bool) -> str:
    """Status word shared by controls and guidance items; a fail outranks an error."""
    if not evaluated:
        return "not evaluated"
    if counts.failed:
        return "non-compliant"
    if counts.error:
        return "incomplete"
    return "compliant"


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


def load_report_data(con: duckdb.DuckDBPyConnection, *, row_limit: int = HTML_ROW_CAP) -> ReportData:
    """Read the snapshot into ReportData; per-control rows are limited to `row_limit`.

    Counts come from GROUP BY queries and only the first `row_limit` failures per control are
    fetched, so the cost does not grow with the number of passing members.
    """
    runs = _dicts(
        con,
        "SELECT r.*, a.name AS management_account_name FROM run r "
        "LEFT JOIN accounts a ON a.account_id = r.management_account_id",
    )
    if len(runs) != 1:
        raise ValueError(f"the snapshot's run table must hold exactly one row, found {len(runs)}")
    r = runs[0]
    run = RunInfo(
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

    counts: dict[str, Counts] = defaultdict(Counts)
    result_item: dict[str, str] = {}
    for control_id, item, status, severity, n in con.execute(
        "SELECT control_id, any_value(guidance_item), status, severity, count(*) "
        "FROM control_results GROUP BY control_id, status, severity"
    ).fetchall():
        counts[control_id].add(status, severity, n)
        result_item.setdefault(control_id, item)

    failures = _first_rows(con, "fail", row_limit)
    errors = _first_rows(con, "error", row_limit)

    sections: list[ControlSection] = []
    for c in CONTROLS:
        sections.append(
            ControlSection(
                id=c.id,
                guidance_item=c.guidance_item,
                title=c.title,
                severity=c.severity,
                population_definition=c.population,
                fails_when=c.fails_when,
                remediation=c.remediation,
                in_catalogue=True,
                evaluated=c.id in counts or c.id in IMPLEMENTED,
                counts=counts.get(c.id, Counts()),
                failures=failures.get(c.id, []),
                errors=errors.get(c.id, []),
            )
        )
    # Results for a control the catalogue does not know are still shown, never dropped.
    known = {c.id for c in CONTROLS}
    for control_id in sorted(set(counts) - known):
        sections.append(
            ControlSection(
                id=control_id,
                guidance_item=result_item[control_id] or "unassigned",
                title="(not in this version's catalogue)",
                severity="",
                population_definition="",
                fails_when="",
                remediation="",
                in_catalogue=False,
                evaluated=True,
                counts=counts[control_id],
                failures=failures.get(control_id, []),
                errors=errors.get(control_id, []),
            )
        )

    exceptions = _exceptions(con)
    applied: dict[str, list[tuple[str, str | None, int]]] = defaultdict(list)
    for entry in exceptions:
        for control_id, n in entry.applied:
            applied[control_id].append((entry.exception_id, entry.principal, n))
    for section in sections:
        section.exceptions_applied = applied.get(section.id, [])

    guidance = [GuidanceSection(g.id, g.title, g.text, []) for g in GUIDANCE]
    by_item = {g.id: g for g in guidance}
    for section in sections:
        if section.guidance_item not in by_item:
            extra = GuidanceSection(section.guidance_item, "(not in this version's catalogue)", "", [])
            guidance.append(extra)
            by_item[extra.id] = extra
        by_item[section.guidance_item].controls.append(section)

    return ReportData(
        scp_coverage=_scp_coverage(con),
        run=run,
        guidance=guidance,
        exceptions=exceptions,
        accounts=_accounts(con),
        collection_errors=[
            CollectionError(**{**row, "occurred_at": _utc(row["occurred_at"])})
            for row in _dicts(
                con,
                "SELECT e.account_id, a.name AS account_name, e.source, e.operation, "
                "e.error_code, e.message, e.occurred_at FROM collection_errors e "
                "LEFT JOIN accounts a USING (account_id) "
                "ORDER BY e.account_id, e.source, e.operation, e.occurred_at",
            )
        ],
        inventory=_inventory(con),
        row_limit=row_limit,
        coverage=coverage(con),
    )


def _first_rows(con: duckdb.DuckDBPyConnection, status: str, limit: int) -> dict[str, list[ResultRow]]:
    """The first `limit` rows of one status per control, by severity, account, resource."""
    out: dict[str, list[ResultRow]] = defaultdict(list)
    rows = con.execute(
        f"""
        WITH ranked AS (
            SELECT control_id, resource_id, resource_type, account_id, severity, reason,
                   row_number() OVER (
                       PARTITION BY control_id
                       ORDER BY {_SEVERITY_RANK_SQL}, account_id, resource_id
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


def _exceptions(con: duckdb.DuckDBPyConnection) -> list[ExceptionEntry]:
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
                problems=_json_list(row["problems"]),
                covers=_json_list(row["controls"]),
                applied=applied.pop(row["exception_id"] or "", []),
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
                problems=["excepted results name this id, but the register has no such entry"],
                covers=[],
                applied=used,
                in_register=False,
            )
        )
    return entries


def _accounts(con: duckdb.DuckDBPyConnection) -> list[AccountRow]:
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
    return [AccountRow(*row) for row in rows]


def _scp_coverage(
    con: duckdb.DuckDBPyConnection,
    controls: tuple[str, ...] = tuple(c.id for c in CONTROLS if c.scp_coverage),
) -> list[ScpCoverageGroup]:
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
    groups: dict[str, ScpCoverageGroup] = {}
    for account_id, entry in per_account.items():
        key = json.dumps([entry["ou"], entry["statuses"], entry["covering"]], sort_keys=True)
        group = groups.setdefault(
            key, ScpCoverageGroup(entry["ou"], [], entry["statuses"], entry["covering"])
        )
        group.account_ids.append(account_id)
    return sorted(groups.values(), key=lambda g: (g.ou_path, g.account_ids[0]))


def _inventory(con: duckdb.DuckDBPyConnection) -> Inventory:
    users, accounts = con.execute(
        "SELECT count(*), count(DISTINCT account_id) FROM iam_users"
    ).fetchone() or (0, 0)
    with_password, with_keys = con.execute(
        "SELECT count(*) FILTER (WHERE password_enabled), "
        "count(*) FILTER (WHERE access_key_1_active OR access_key_2_active) "
        "FROM credential_report WHERE \"user\" <> '<root_account>'"
    ).fetchone() or (0, 0)
    return Inventory(users, accounts, with_password, with_keys)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["utc"] = lambda d: d.strftime("%Y-%m-%d %H:%M:%S UTC") if d else "\u2014"
    return env


def render_html(data: ReportData, *, medium: Literal["html", "pdf"] = "html") -> str:
    """The report as one self-contained HTML document (CSS inlined, no external resources).

    `medium` picks the row caps of the failure and error tables (HTML_ROW_CAP, or PDF_ROW_CAP and
    PDF_ERROR_ROW_CAP) and the wording that tells the reader which document they hold.
    """
    pdf = medium == "pdf"
    row_cap, error_row_cap = (PDF_ROW_CAP, PDF_ERROR_ROW_CAP) if pdf else (HTML_ROW_CAP, HTML_ROW_CAP)
    template = _environment().get_template("report.html.j2")
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return template.render(
        data=data,
        title=TITLE,
        css=Markup(css),
        chart=Markup(data.trend_svg),
        row_cap=min(row_cap, data.row_limit),
        error_row_cap=min(error_row_cap, data.row_limit),
        change_cap=PDF_CHANGE_CAP if pdf else HTML_ROW_CAP,
        completeness_cap=PDF_COMPLETENESS_CAP if pdf else HTML_ROW_CAP,
        medium=medium,
        account_list_cap=PDF_ACCOUNT_LIST_CAP if pdf else None,
        severities=SEVERITIES,
        statuses=STATUSES,
        findings_csv=FINDINGS_CSV,
        written_after=WRITTEN_AFTER_RENDER,
        gx_completeness=f"evidence/gx/{completeness_checks.RESULT_FILE}",
    )


def findings_csv(con: duckdb.DuckDBPyConnection) -> bytes:
    """Every fail row of control_results, every column but evidence, as CSV (UTF-8, header).

    DuckDB writes it (COPY to a temporary file outside the run folder): 900,000 failures take
    under a second that way, against five with Python's csv module.
    """
    with tempfile.TemporaryDirectory(prefix="rolecall-findings-") as folder:
        target = Path(folder) / FINDINGS_CSV
        con.execute(
            "COPY (SELECT * EXCLUDE (evidence) FROM control_results WHERE status = 'fail' "
            f"ORDER BY control_id, {_SEVERITY_RANK_SQL}, account_id, resource_id) "
            f"TO '{target}' (HEADER, DELIMITER ',')"
        )
        return target.read_bytes()


class _SvgStyleNoise(logging.Filter):
    """WeasyPrint's HTML CSS parser warns about the SVG presentation properties in the chart's
    style attributes (fill, stroke...), then its SVG renderer applies them: the warnings are noise.
    So is its note that fonts are subset with fontTools where the system lacks HarfBuzz-Subset
    (Debian ships it apart): the PDF is the same, only its making is slower."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Using fontTools instead of HarfBuzz-Subset"):
            return False
        return not (message.startswith(("Ignored `fill", "Ignored `stroke"))
                    and "unknown property" in message)


def write_pdf(html: str, path: Path, *, findings: bytes | None = None) -> Path:
    """Lay out the HTML as an A4 PDF/A-3b, with the findings CSV attached when given.

    Fetching any URL is refused: the PDF is evidence and must depend on nothing but the snapshot.
    """
    fetcher = weasyprint.URLFetcher(allowed_protocols=())
    attachments = []
    if findings is not None:
        attachments.append(weasyprint.Attachment(
            string=findings, name=FINDINGS_CSV, relationship="Data",
            description="Every failing result of this run (control_results, status = fail; "
                        "all columns but evidence)",
        ))
    noise = _SvgStyleNoise()
    logger = logging.getLogger("weasyprint")
    logger.addFilter(noise)
    try:
        weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf(
            path, pdf_variant=PDF_VARIANT, attachments=attachments)
    finally:
        logger.removeFilter(noise)
    return path


def evidence_index(run_dir: Path) -> list[EvidenceFile]:
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
    return files


def _checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    """Write the snapshot's WAL into the file, so the hash in the evidence index is final."""
    with contextlib.suppress(duckdb.Error):  # a read-only connection has nothing to write
        con.execute("CHECKPOINT")


def render_report(
    snapshot: Path | duckdb.DuckDBPyConnection,
    run_dir: Path,
    *,
    baseline: Path | None = None,
    history_runs: Sequence[Path] | None = None,
    signing: SignerLike | None = None,
    completeness: Path | None = None,
) -> tuple[Path, Path]:
    """Write run_dir/report.html and run_dir/report.pdf from a snapshot file or connection.

    baseline: the run folder to compare with; by default the newest complete run older than
      run_dir in the same runs folder (none: the report says there is no earlier run).
    history_runs: the runs of the trend chart; by default every complete run in that folder.
    signing: who will sign the report (subject, fingerprint, demo), stated on the cover.
    completeness: the GX result of the completeness suite; default run_dir/evidence/gx/completeness.json.
    """
    if isinstance(snapshot, duckdb.DuckDBPyConnection):
        _checkpoint(snapshot)
        return _render(snapshot, run_dir, baseline, history_runs, signing, completeness)
    con = snapshot_db.connect(snapshot, read_only=True)
    try:
        return _render(con, run_dir, baseline, history_runs, signing, completeness)
    finally:
        con.close()


def _render(
    con: duckdb.DuckDBPyConnection,
    run_dir: Path,
    baseline: Path | None,
    history_runs: Sequence[Path] | None,
    signing: SignerLike | None,
    completeness: Path | None,
) -> tuple[Path, Path]:
    data = load_report_data(con)
    if baseline is None:
        baseline = history.baseline_for(run_dir, data.coverage.organization_id if data.coverage else None)
    if baseline is not None:
        data.changes = history.changes(con, baseline, limit=HTML_ROW_CAP)
        for section in data.controls:
            section.changes = data.changes.for_control(section.id)
    runs = list(history_runs) if history_runs is not None else history.history_runs(run_dir)
    data.trend = history.trend(con, runs)
    data.trend_svg = trend_svg(data.trend)
    data.completeness = completeness_checks.load(
        completeness or run_dir / "evidence" / "gx" / completeness_checks.RESULT_FILE)
    data.signing = signing
    run_dir.mkdir(parents=True, exist_ok=True)
    data.evidence_files = evidence_index(run_dir)
    html_path = run_dir / "report.html"
    html_path.write_text(render_html(data, medium="html"), encoding="utf-8")
    pdf_path = write_pdf(render_html(data, medium="pdf"), run_dir / "report.pdf",
                         findings=findings_csv(con))
    return html_path, pdf_path
