"""Control results as AWS Security Finding Format (ASFF), for `rolecall export --format asff` and
`rolecall publish securityhub`.

Security Hub keeps one finding per Id and a later BatchImportFindings with the same Id updates
it, so the Id must name what was judged, never the run. Decisions:

- Id = "rolecall/<control>/<account or 'org'>/<sha256(resource key)[:32]>"; the resource key is
  the resource id, plus "#<exception id>" when the row names a register entry without being an
  excepted result (the register's own control judges entries, two may name one principal). An
  excepted row keeps the resource's Id, so fail -> excepted -> fail updates one finding.
- ProductArn = the importing account's default product
  (arn:<partition>:securityhub:<region>:<account>:product/<account>/default). `export` has no
  caller, so it uses the run's management account and region; `publish` the caller's.
- AwsAccountId = the account the row is about (the management account for org-level rows). Real
  Security Hub accepts a default-product finding only from the account it names, or from the
  Security Hub administrator account of an organization: publish from there.
- CreatedAt = UpdatedAt = run.started_at (UTC, ISO 8601 with Z): every age rule measures from it.
- Compliance.Status: pass -> PASSED, fail -> FAILED, error -> WARNING (ASFF: "some information is
  missing"), excepted -> FAILED with Workflow SUPPRESSED: an exception accepts the risk, it does
  not make the resource compliant (as the OCSF export does). Workflow: PASSED -> RESOLVED, else NEW.
- Compliance.RelatedRequirements = "<framework> <id>" of each requirement the control maps to
  (at most 32, ASFF's limit).
- Severity.Label from the row's severity, else the control's; Title <= 256, Description <= 1024.
- ProductFields: rolecall/control_id, rolecall/run_id, rolecall/status, rolecall/exception_id.
  The evidence JSON is never sent: it is the run folder's business, not a third party's.
- Resolved since the previous run: a (control, account, resource) that failed in the newest
  earlier run of the same organization and has no row at all now (the resource is gone) is sent
  PASSED / RESOLVED. One that has a row now is sent by that row's own finding (same Id).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import duckdb

from checks.catalogue import CONTROLS_BY_ID, Control
from reports.export import ExportError, _open, _refuse_run_folder, write_findings
from store.run_folder import complete_runs

SCHEMA_VERSION = "2018-10-08"
FINDING_TYPES = ("Software and Configuration Checks/Industry and Regulatory Standards",)
BATCH_SIZE = 100  # BatchImportFindings accepts at most 100 findings a call
TITLE_MAX = 256
DESCRIPTION_MAX = 1024
REQUIREMENTS_MAX = 32
PRODUCT_FIELD_MAX = 4096
SEVERITY_LABELS = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "low": "LOW",
                   "info": "INFORMATIONAL"}
# rolecall status -> (Compliance.Status, Workflow.Status)
STATUS_MAP = {
    "pass": ("PASSED", "RESOLVED"),
    "fail": ("FAILED", "NEW"),
    "excepted": ("FAILED", "SUPPRESSED"),
    "error": ("WARNING", "NEW"),
}
RESOURCE_TYPES = {"iam_user": "AwsIamUser", "iam_role": "AwsIamRole", "account": "AwsAccount",
                  "access_key": "AwsIamAccessKey"}
SNAPSHOT = "snapshot.duckdb"
FETCH_ROWS = 10_000
ROW_COLUMNS = ("control_id", "account_id", "resource_id", "resource_type", "status", "severity",
               "reason", "exception_id")


@dataclass(frozen=True)
class Destination:
    """Where the findings go: the importing account and region (ProductArn, Resources.Region)."""

    account_id: str
    region: str

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        return "aws-us-gov" if self.region.startswith("us-gov-") else "aws"

    @property
    def product_arn(self) -> str:
        return (f"arn:{self.partition}:securityhub:{self.region}:{self.account_id}:"
                f"product/{self.account_id}/default")


def finding_id(row: Mapping[str, Any]) -> str:
    """Stable across runs: the control, account and resource judged (see the module doc)."""
    key = str(row["resource_id"])
    if row.get("exception_id") and row.get("status") != "excepted":
        key += f"#{row['exception_id']}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"rolecall/{row['control_id']}/{row.get('account_id') or 'org'}/{digest}"


def iso_z(moment: datetime) -> str:
    """ASFF timestamps: UTC, ISO 8601, 'Z', milliseconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def related_requirements(control: Control) -> list[str]:
    return list(dict.fromkeys(f"{r.framework} {r.id}" for r in control.requirements))[:REQUIREMENTS_MAX]


def asff_finding(row: Mapping[str, Any], run: Mapping[str, Any], control: Control,
                 destination: Destination | None = None) -> dict[str, Any]:
    """One control_results row as an ASFF finding (never its evidence JSON)."""
    destination = destination or Destination(run["management_account_id"], run["region"])
    compliance, workflow = STATUS_MAP[row["status"]]
    severity = row.get("severity") or control.severity
    account = row.get("account_id") or run["management_account_id"] or destination.account_id
    when = iso_z(run["started_at"])
    fields = {"rolecall/control_id": control.id, "rolecall/run_id": str(run["run_id"]),
              "rolecall/status": row["status"], "rolecall/guidance_item": control.guidance_item}
    if row.get("exception_id"):
        fields["rolecall/exception_id"] = str(row["exception_id"])
    finding: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(row),
        "ProductArn": destination.product_arn,
        "ProductName": "rolecall",
        "CompanyName": "rolecall",
        "GeneratorId": f"rolecall/{control.id}",
        "AwsAccountId": account,
        "Region": destination.region,
        "Types": list(FINDING_TYPES),
        "CreatedAt": when,
        "UpdatedAt": when,
        "Severity": {"Label": SEVERITY_LABELS.get(severity, "INFORMATIONAL")},
        "Title": bounded(f"{control.id} {control.title}", TITLE_MAX),
        "Description": bounded(row.get("reason") or control.fails_when or control.title,
                               DESCRIPTION_MAX),
        "Remediation": {"Recommendation": {"Text": bounded(control.remediation, 512)}},
        "Resources": [{
            "Type": RESOURCE_TYPES.get(row.get("resource_type") or "", "Other"),
            "Id": str(row["resource_id"]),
            "Partition": _partition(str(row["resource_id"])) or destination.partition,
            "Region": destination.region,
        }],
        "Compliance": {"Status": compliance},
        "Workflow": {"Status": workflow},
        "RecordState": "ACTIVE",
        "ProductFields": {k: bounded(v, PRODUCT_FIELD_MAX) for k, v in fields.items()},
    }
    if requirements := related_requirements(control):
        finding["Compliance"]["RelatedRequirements"] = requirements
    return finding


def resolved_finding(row: Mapping[str, Any], run: Mapping[str, Any], control: Control,
                     previous_run_id: str, destination: Destination | None = None) -> dict[str, Any]:
    """A finding that failed in the previous run and is gone now, sent PASSED / RESOLVED."""
    reason = (f"Resolved: failed in run {previous_run_id}; run {run['run_id']} has no result for "
              "this resource (it no longer exists or is no longer in scope).")
    return asff_finding({**row, "status": "pass", "reason": reason, "exception_id": None},
                        run, control, destination)


def _partition(resource_id: str) -> str | None:
    parts = resource_id.split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else None


def batches(items: Iterable[Any], size: int = BATCH_SIZE) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def run_row(con: duckdb.DuckDBPyConnection, db: str = "") -> dict[str, Any]:
    cursor = con.execute(f"SELECT * FROM {db + '.' if db else ''}run")
    rows = cursor.fetchall()
    if len(rows) != 1:
        raise ValueError(f"the snapshot's run table has {len(rows)} rows, expected 1")
    return dict(zip([d[0] for d in cursor.description], rows[0], strict=True))


def _rows(cursor: duckdb.DuckDBPyConnection) -> Iterator[dict[str, Any]]:
    while batch := cursor.fetchmany(FETCH_ROWS):
        for values in batch:
            yield dict(zip(ROW_COLUMNS, values, strict=True))


def _control(control_id: str) -> Control:
    control = CONTROLS_BY_ID.get(control_id)
    if control is None:
        raise ValueError(f"control {control_id} is not in the catalogue")
    return control


def findings(con: duckdb.DuckDBPyConnection, destination: Destination | None = None,
             statuses: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every control_results row (or those with the given statuses) as ASFF, streamed in a
    stable order."""
    run = run_row(con)
    wanted = sorted(set(statuses)) if statuses else None
    where = f"WHERE status IN ({', '.join('?' * len(wanted))})" if wanted else ""
    cursor = con.execute(
        f"SELECT {', '.join(ROW_COLUMNS)} FROM control_results {where} "
        "ORDER BY control_id, account_id NULLS FIRST, resource_id, exception_id NULLS FIRST",
        wanted or [])
    for row in _rows(cursor):
        yield asff_finding(row, run, _control(row["control_id"]), destination)


def previous_run(run_dir: Path) -> Path | None:
    """The newest finished run before run_dir in the same runs folder, of the same organization."""
    organization = _organization_of(run_dir)
    for earlier in reversed([p for p in complete_runs(run_dir.parent) if p.name < run_dir.name]):
        try:
            if _organization_of(earlier) == organization:
                return earlier
        except duckdb.Error:
            continue  # not a snapshot this version can read
    return None


def _organization_of(run_dir: Path) -> str | None:
    with duckdb.connect(str(run_dir / SNAPSHOT), read_only=True) as con:
        return run_row(con)["organization_id"]


def resolved_findings(con: duckdb.DuckDBPyConnection, previous: Path,
                      destination: Destination | None = None) -> Iterator[dict[str, Any]]:
    """Failures of the previous run's snapshot whose (control, account, resource) has no row in
    this one, as PASSED / RESOLVED findings dated by this run."""
    run = run_row(con)
    literal = "'" + str(previous / SNAPSHOT).replace("'", "''") + "'"
    con.execute(f"ATTACH {literal} AS previous (READ_ONLY)")
    try:
        previous_id = str(run_row(con, "previous")["run_id"])
        cursor = con.execute(
            f"SELECT {', '.join('p.' + c for c in ROW_COLUMNS)} FROM previous.control_results p "
            "WHERE p.status = 'fail' AND NOT EXISTS (SELECT 1 FROM control_results c "
            "WHERE c.control_id = p.control_id AND c.account_id IS NOT DISTINCT FROM p.account_id "
            "AND c.resource_id = p.resource_id) "
            "ORDER BY p.control_id, p.account_id NULLS FIRST, p.resource_id")
        for row in _rows(cursor):
            if row["control_id"] in CONTROLS_BY_ID:  # a control since retired: nothing to resolve
                yield resolved_finding(row, run, CONTROLS_BY_ID[row["control_id"]], previous_id,
                                       destination)
    finally:
        con.execute("DETACH previous")


def export_asff(snapshot: Path, output: Path, statuses: Iterable[str] | None = None, *,
                lines: bool = False) -> int:
    """Write the snapshot's control results (all, or those with the given statuses) as ASFF into
    output, streamed; refused inside a run folder (signed evidence). Return how many."""
    _refuse_run_folder(output)
    with _open(snapshot) as con:
        try:
            return write_findings(findings(con, statuses=statuses), output, lines=lines)
        except ValueError as error:
            raise ExportError(str(error)) from error
