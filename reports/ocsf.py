"""Control results as OCSF Compliance Findings: py-ocsf-models for the parts a control shares,
DuckDB SQL for the parts each row has, py-ocsf-models again to check the result.

Every `control_results` row becomes one finding, pass, fail, excepted and error alike: the
population is the evidence (Prowler's `.ocsf.json` exports PASS findings too), so a consumer can
count what was judged, not only what failed. Decisions:

- OCSF 1.5.0, the version py-ocsf-models 0.10.0 (the models Prowler uses) describes
  (`py_ocsf_models.OCSF_VERSION`), and so the version `metadata.version` claims. Class Compliance
  Finding (class_uid 2003, category Findings = 2) with the `cloud` profile (it makes `cloud`
  required; `metadata.profiles` says so). The findings are also valid OCSF 1.8.0 (the tests
  check both official JSON Schemas), but 1.5.0 is what they are built and checked against.
- The package models the class without its profiles and leaves out some 1.5.0 attributes;
  `CloudComplianceFinding` adds them (`cloud`, compliance `status` and `status_code`) and lets an
  account go without a name (OCSF recommends `account.name`, it does not require it).
- activity Create (1), so type_uid = 2003 * 100 + 1 = 200301: each run creates its findings
  afresh; there is no finding lifecycle across runs to update.
- metadata.product: name and vendor "rolecall", version = run.tool_version.
- metadata.uid = finding_info.uid = "rolecall:<run_id>:<control_id>:<account_id>:<resource_id>",
  plus "#<exception_id>" for rows that carry one (the register's own control judges entries, and
  two entries may name the same principal). Readable, stable for a given run, unique per run.
- time = run.started_at in epoch milliseconds: every age rule measures from it.
- finding_info.title = control title; finding_info.desc = the row's reason.
- compliance: control = control id, desc = when the control fails, status_code = rolecall's own
  status. standards = ["Do not use IAM Users"], then each framework the control maps to
  (checks/frameworks.py), as "<name> <version>"; requirements = the guidance item (G1..G6), then
  each mapped requirement as "<framework> <version> <id> - <title>", the form of OCSF's own
  examples ("PCI DSS Requirement 8.2.3 - Passwords must ..."). Its kb_article variants
  (compliance_standards, compliance_references) are deprecated since 1.5.0. Whether the control
  covers a requirement fully or partly has no OCSF attribute: it goes to
  unmapped.framework_requirements.
- Status, as (compliance.status_id, finding status_id):
    pass     -> Pass (1),    New (1)
    fail     -> Fail (3),    New (1)
    excepted -> Fail (3),    Suppressed (3). An exception accepts the risk; it does not make the
                resource compliant, so the compliance result stays Fail. The finding itself was
                reviewed and accepted by a person (the register entry's approver), which is what
                OCSF's Suppressed means; Prowler does the same for muted findings. The entry id
                is kept in status_detail and unmapped.exception_id.
    error    -> Warning (2), New (1). OCSF defines compliance Warning as "the compliance check
                did not yield a result due to missing information", which is exactly rolecall's
                error (data not collected, or the rule could not be trusted); Unknown would say
                less. The reason goes to status_detail and finding_info.desc.
  Every finding but the excepted one is New: triage is the consumer's business.
- Severity: critical -> 5 Critical, high -> 4 High, medium -> 3 Medium, low -> 2 Low,
  info -> 1 Informational. The row's severity is used (a rule may raise it, e.g. critical for a
  bare "*" in a trust policy), else the control's.
- cloud: provider "AWS", account uid/name (type AWS Account), org uid = organization id.
- resources: one, uid = resource_id, type = resource_type, cloud_partition from an ARN.
- evidences: one artifact whose `data` is the row's evidence JSON object. OCSF keeps `data` for
  facts no structured evidence attribute can hold; rolecall's facts are such facts.
- unmapped: run_id, rolecall status, guidance item and exception id, as they are in the snapshot.

How it is built: a million findings share a few hundred shapes, one per (control, status,
severity, guidance item) in the run. `shape_finding` builds each shape once as a
py-ocsf-models model and `shape_fragments` serialises it into the JSON text around the per-row
attributes; `FINDINGS_SQL` splices the row's own values (ids, reason, account, resource,
evidence) into that text, so DuckDB writes each finding as one string without a Python object
per row. `finding_problems` parses a finding back into the model (strict JSON mode) and reports
what the model refuses or would drop; the export runs it on the first finding of every shape
and on a sample of the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from py_ocsf_models import OCSF_VERSION
from py_ocsf_models.events.findings.activity_id import ActivityID
from py_ocsf_models.events.findings.category_uid import CategoryUID
from py_ocsf_models.events.findings.class_uid import ClassUID
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
from py_ocsf_models.events.findings.compliance_finding_type_id import ComplianceFindingTypeID
from py_ocsf_models.events.findings.severity_id import SeverityID
from py_ocsf_models.events.findings.status_id import StatusID
from py_ocsf_models.objects.account import Account, TypeID
from py_ocsf_models.objects.cloud import Cloud
from py_ocsf_models.objects.compliance import Compliance
from py_ocsf_models.objects.compliance_status import StatusID as ComplianceStatusID
from py_ocsf_models.objects.finding_info import FindingInformation
from py_ocsf_models.objects.metadata import Metadata
from py_ocsf_models.objects.organization import Organization
from py_ocsf_models.objects.product import Product
from py_ocsf_models.objects.remediation import Remediation
from pydantic import ValidationError

from checks.catalogue import Control
from checks.frameworks import FRAMEWORKS_BY_ID

PROFILES: tuple[str, ...] = ("cloud",)
PRODUCT_NAME = "rolecall"
VENDOR_NAME = "rolecall"
STANDARD = "Do not use IAM Users"
AWS_ACCOUNT = (TypeID.AWS_Account, "AWS Account")
EVIDENCE_NAME = "rolecall facts"

# rolecall status -> (compliance status, finding status)
STATUS_MAP: dict[str, tuple[ComplianceStatusID, StatusID]] = {
    "pass": (ComplianceStatusID.Pass, StatusID.New),
    "fail": (ComplianceStatusID.Fail, StatusID.New),
    "excepted": (ComplianceStatusID.Fail, StatusID.Suppressed),
    "error": (ComplianceStatusID.Warning, StatusID.New),
}
SEVERITY_MAP: dict[str, SeverityID] = {
    "critical": SeverityID.Critical,
    "high": SeverityID.High,
    "medium": SeverityID.Medium,
    "low": SeverityID.Low,
    "info": SeverityID.Informational,
}


class OcsfCompliance(Compliance):
    """OCSF 1.5.0's compliance object: the package leaves out `status` and `status_code`."""

    status: str | None = None
    status_code: str | None = None


class OcsfAccount(Account):
    """OCSF recommends an account name, it does not require one (the package does)."""

    name: str | None = None  # type: ignore[assignment]


class OcsfCloud(Cloud):
    account: OcsfAccount | None = None  # type: ignore[assignment]


class CloudComplianceFinding(ComplianceFinding):
    """Compliance Finding with the cloud profile applied, which makes `cloud` required."""

    compliance: OcsfCompliance
    cloud: OcsfCloud


@dataclass(frozen=True, slots=True)
class Shape:
    """What the findings of many rows share: the key of `FINDINGS_SQL`'s join."""

    control_id: str
    status: str
    severity: str | None  # the row's own, None when it has none
    guidance_item: str | None


@dataclass(frozen=True, slots=True)
class RunFacts:
    """The columns of the snapshot's one `run` row that a finding uses."""

    run_id: str
    started_at: datetime
    tool_version: str | None
    organization_id: str | None


def epoch_ms(moment: datetime) -> int:
    """OCSF timestamp_t: milliseconds since the epoch; a naive time is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def framework_standards(control: Control) -> list[str]:
    """The frameworks the control maps to, in the order the catalogue names them."""
    ids = dict.fromkeys(r.framework for r in control.requirements)
    return [FRAMEWORKS_BY_ID[i].label for i in ids]


def framework_requirements(control: Control) -> list[str]:
    """Each mapped requirement as one readable string: framework, version, id and title."""
    return [f"{FRAMEWORKS_BY_ID[r.framework].label} {r.id} - {r.title}" for r in control.requirements]


def shape_finding(shape: Shape, control: Control, run: RunFacts) -> CloudComplianceFinding:
    """The finding every row of this shape shares; its per-row attributes (ids, reason, account,
    resource, evidence) are left out or empty, for `FINDINGS_SQL` to fill.

    Raises ValueError for a status or severity rolecall does not define: guessing would put a
    wrong verdict into evidence.
    """
    if shape.status not in STATUS_MAP:
        raise ValueError(f"unknown control result status {shape.status!r}")
    compliance_status, finding_status = STATUS_MAP[shape.status]
    severity = shape.severity or control.severity
    if severity not in SEVERITY_MAP:
        raise ValueError(f"unknown severity {severity!r}")
    severity_id = SEVERITY_MAP[severity]
    return CloudComplianceFinding(
        activity_id=ActivityID.Create,
        activity_name=ActivityID.Create.name,
        category_uid=CategoryUID.Findings,
        category_name=CategoryUID.Findings.name,
        class_uid=ClassUID.ComplianceFinding,
        class_name="Compliance Finding",
        type_uid=ComplianceFindingTypeID.Create,
        type_name="Compliance Finding: Create",
        time=epoch_ms(run.started_at),
        severity_id=severity_id,
        severity=severity_id.name,
        status_id=finding_status,
        status=finding_status.name,
        status_code=shape.status,
        metadata=Metadata(
            version=OCSF_VERSION, event_code=control.id, profiles=list(PROFILES),
            product=Product(name=PRODUCT_NAME, vendor_name=VENDOR_NAME, version=run.tool_version),
        ),
        finding_info=FindingInformation(title=control.title, uid=""),
        compliance=OcsfCompliance(
            control=control.id,
            standards=[STANDARD, *framework_standards(control)],
            requirements=[shape.guidance_item or control.guidance_item, *framework_requirements(control)],
            desc=f"Fails when {control.fails_when}.",
            status=compliance_status.name,
            status_id=compliance_status,
            status_code=shape.status,
        ),
        cloud=OcsfCloud(
            provider="AWS",
            org=Organization(uid=run.organization_id) if run.organization_id else None,
        ),
        remediation=Remediation(desc=control.remediation),
        unmapped=_without_none({
            "run_id": run.run_id,
            "status": shape.status,
            "guidance_item": shape.guidance_item,
            "framework_requirements": [
                {"framework": r.framework, "requirement": r.id, "coverage": r.coverage}
                for r in control.requirements] or None,
        }),
    )


# The JSON text of a shape, each object left open for FINDINGS_SQL to add the row's members.
FRAGMENTS = ("head", "metadata", "finding_info", "cloud", "unmapped")
PER_ROW = {"message", "metadata", "finding_info", "status_detail", "cloud", "resources",
           "evidences", "unmapped"}


def shape_fragments(finding: CloudComplianceFinding) -> dict[str, str]:
    """The shape's JSON, serialised once by the model: `head` is the finding's shared top-level
    members, the others the shared members of the objects the row adds to; all without their
    closing brace."""
    return {
        "head": _open(finding.model_dump_json(exclude_none=True, exclude=PER_ROW)),
        "metadata": _open(finding.metadata.model_dump_json(exclude_none=True)),
        "finding_info": _open(finding.finding_info.model_dump_json(exclude_none=True, exclude={"uid"})),
        "cloud": _open(finding.cloud.model_dump_json(exclude_none=True)),
        "unmapped": _open(json.dumps(finding.unmapped, ensure_ascii=False, separators=(",", ":"))),
    }


def _open(object_json: str) -> str:
    if not (object_json.startswith("{") and object_json.endswith("}")) or object_json == "{}":
        raise ValueError(f"expected a JSON object with members, got {object_json[:40]!r}")
    return object_json[:-1]


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    """OCSF leaves absent attributes out; a null is not a value of any OCSF type."""
    return {k: v for k, v in values.items() if v is not None}


# One row of control_results, joined to its shape ($shapes: Shape and shape_index) and its
# account's name, as the text of one finding. The shape's fragments are $<fragment>[shape_index]
# and the id is built after the sort, which so moves the rows' own columns only. concat() skips
# NULL arguments, and `',"key":' || NULL` is NULL: a member whose value is NULL is left out. One
# concat() builds each finding in one piece (chained || would copy the growing text ~20 times).
# to_json quotes and escapes strings; json() checks and compacts the stored evidence.
# {where} is the caller's filter (findings_sql). `variant` tells the shapes and the members a
# row leaves out apart, for the export to check the first finding of each. The text comes
# as UTF-8 bytes: the export writes it as it is, without decoding and encoding it again.
FINDINGS_SQL = """
WITH shapes AS (SELECT s.* FROM unnest($shapes) AS t(s)),
names AS (SELECT account_id, any_value(name) AS name FROM accounts GROUP BY account_id),
results AS (
    SELECT r.*, s.shape_index, n.name AS account_name
    FROM control_results r
    JOIN shapes s ON s.control_id = r.control_id AND s.status = r.status
        AND s.severity IS NOT DISTINCT FROM r.severity
        AND s.guidance_item IS NOT DISTINCT FROM r.guidance_item
    LEFT JOIN names n ON n.account_id = r.account_id
    {where}
    ORDER BY r.control_id, r.account_id NULLS FIRST, r.resource_id, r.exception_id NULLS FIRST
),
identified AS (
    SELECT *,
        'rolecall:' || $run_id || ':' || control_id || ':' || coalesce(nullif(account_id, ''), '-') || ':'
        || resource_id || CASE WHEN exception_id <> '' THEN '#' || exception_id ELSE '' END AS uid
    FROM results
)
SELECT
    encode(concat(
        $head[shape_index],
        ',"message":', to_json(control_id || ' ' || status || ': ' || resource_id),
        ',"metadata":', $metadata[shape_index], ',"uid":', to_json(uid), '}',
        ',"finding_info":', $finding_info[shape_index], ',"uid":', to_json(uid),
            ',"desc":' || to_json(reason),
        '}',
        ',"status_detail":' || to_json(CASE status
            WHEN 'excepted' THEN 'excepted by exceptions register entry ' || coalesce(exception_id, '')
            WHEN 'error' THEN nullif(reason, '') END),
        ',"cloud":', $cloud[shape_index],
            ',"account":{"uid":' || to_json(nullif(account_id, ''))
                || coalesce(',"name":' || to_json(account_name), '')
                || ',"type_id":' || $account_type_id || ',"type":' || to_json($account_type) || '}',
        '}',
        ',"resources":[{"uid":', to_json(resource_id),
            ',"type":' || to_json(resource_type),
            ',"cloud_partition":' || to_json(CASE WHEN resource_id LIKE 'arn:%:%'
                THEN nullif(split_part(resource_id, ':', 2), '') END),
        '}]',
        ',"evidences":[{"name":' || to_json($evidence_name) || ',"data":'
            || nullif(json(evidence)::VARCHAR, 'null') || '}]',
        ',"unmapped":', $unmapped[shape_index], ',"exception_id":' || to_json(exception_id), '}',
        '}'
    )) AS finding,
    shape_index * 64 + (account_id IS NULL)::INT + 2 * (account_name IS NULL)::INT + 4 * (reason IS NULL)::INT
        + 8 * (exception_id IS NULL)::INT + 16 * (evidence IS NULL)::INT
        + 32 * (resource_type IS NULL)::INT AS variant
FROM identified
"""


def findings_sql(where: str = "") -> str:
    """FINDINGS_SQL over the control_results rows `where` keeps (a WHERE clause, or '')."""
    return FINDINGS_SQL.replace("{where}", where)


def findings_parameters(shapes: dict[Shape, dict[str, str]], run: RunFacts) -> dict[str, Any]:
    """FINDINGS_SQL's parameters (its {where} ones are the caller's)."""
    return {
        "shapes": [
            {"control_id": s.control_id, "status": s.status, "severity": s.severity,
             "guidance_item": s.guidance_item, "shape_index": i}
            for i, s in enumerate(shapes, start=1)  # SQL lists count from 1
        ],
        **{name: [fragments[name] for fragments in shapes.values()] for name in FRAGMENTS},
        "run_id": run.run_id,
        "account_type_id": int(AWS_ACCOUNT[0]),
        "account_type": AWS_ACCOUNT[1],
        "evidence_name": EVIDENCE_NAME,
    }


def finding_problems(finding_json: str | bytes) -> list[str]:
    """What makes this finding text an invalid OCSF Compliance Finding; empty when it is valid.

    The model parses it in strict JSON mode (required attributes, types, enums); any member the
    model would not keep (an attribute OCSF 1.5.0 does not define, or a null) is reported too.
    Problems name the attribute path, e.g. `metadata.product: Field required`.
    """
    try:
        model = CloudComplianceFinding.model_validate_json(finding_json, strict=True)
    except ValidationError as e:
        return [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
    kept = model.model_dump(mode="json", exclude_unset=True)
    return _dropped(json.loads(finding_json), kept, "")


# Attributes whose value is the source's own JSON: anything goes inside them, nulls included.
OPEN_ATTRIBUTES = frozenset({"unmapped", "data"})


def _dropped(given: Any, kept: Any, path: str) -> list[str]:
    """Where `given` (the parsed text) says more than `kept` (the model's dump of it), or a null."""
    if isinstance(given, dict) and isinstance(kept, dict):
        problems = []
        for name, value in given.items():
            where = f"{path}.{name}" if path else name
            if name not in kept:
                problems.append(f"{where}: not an attribute of OCSF {OCSF_VERSION} (as modelled)")
            elif value is None:
                problems.append(f"{where}: null is not a value of any OCSF type")
            elif name not in OPEN_ATTRIBUTES:
                problems += _dropped(value, kept[name], where)
            elif value != kept[name]:
                problems.append(f"{where}: {value!r} would be read as {kept[name]!r}")
        return problems
    if isinstance(given, list) and isinstance(kept, list) and len(given) == len(kept):
        pairs = enumerate(zip(given, kept, strict=True))
        return [p for i, (g, k) in pairs for p in _dropped(g, k, f"{path}[{i}]")]
    return [] if given == kept else [f"{path}: {given!r} would be read as {kept!r}"]
