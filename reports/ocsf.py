"""One control result as an OCSF Compliance Finding, and the check that a finding is valid OCSF.

Every `control_results` row becomes one finding, pass, fail, excepted and error alike: the
population is the evidence (Prowler's `.ocsf.json` exports PASS findings too), so a consumer can
count what was judged, not only what failed. Decisions:

- OCSF version 1.8.0 (released 2026-03), class Compliance Finding (class_uid 2003, category
  Findings = 2), with the `cloud` profile (it makes `cloud` required; `metadata.profiles` says
  so). 1.8.0 is the newest release whose compiled schema we could read whole and validate
  against (see `ocsf_required.json`); every attribute used here exists, undeprecated, in it.
- activity Create (1), so type_uid = 2003 * 100 + 1 = 200301: each run creates its findings
  afresh; there is no finding lifecycle across runs to update.
- metadata.product: name and vendor "rolecall", version = run.tool_version.
- metadata.uid = finding_info.uid = "rolecall:<run_id>:<control_id>:<account_id>:<resource_id>",
  plus "#<exception_id>" for rows that carry one (the register's own control judges entries, and two entries
  may name the same principal). Readable, stable for a given run, unique per run.
- time = run.started_at in epoch milliseconds: every age rule measures from it.
- finding_info.title = control title; finding_info.desc = the row's reason.
- compliance: control = control id, desc = when the control fails, status_code = rolecall's own
  status. standards = ["Do not use IAM Users"], then each framework the control maps to
  (checks/frameworks.py), as "<name> <version>"; requirements = the guidance item (G1..G6), then
  each mapped requirement as "<framework> <version> <id> - <title>", the form of OCSF's own
  examples ("PCI DSS Requirement 8.2.3 - Passwords must ..."). Both are the string arrays of
  OCSF 1.8.0's compliance object; its kb_article variants (compliance_standards,
  compliance_references) are deprecated since 1.5.0. Whether the control covers a requirement
  fully or partly has no OCSF attribute: it goes to unmapped.framework_requirements.
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
  info -> 1 Informational (OCSF severity_id: 0 Unknown .. 6 Fatal, 99 Other). The row's severity
  is used (a rule may raise it, e.g. critical for a bare "*" in a trust policy), else the control's.
- cloud: provider "AWS", account uid/name (type AWS Account), org uid = organization id.
- resources: one, uid = resource_id, type = resource_type, cloud_partition from an ARN.
- evidences: one artifact whose `data` is the row's evidence JSON. OCSF keeps `data` for facts
  no structured evidence attribute can hold; rolecall's facts are such facts.
- unmapped: run_id, rolecall status, guidance item and exception id, as they are in the snapshot.

Validation (`required_field_problems`) walks vendored schema data (`ocsf_required.json`, made
from the official OCSF 1.8.0 export by `schema_data_from_export`; its provenance is recorded in
it): required attributes, at-least-one constraints, unknown attributes, value types and integer
enums, recursively through objects and arrays. Full JSON Schema validation of the same export
(ocsf-json-schema + jsonschema) is exact but takes ~0.5 ms a finding, ~12 minutes for a
1.5 M-row run, so it runs in the tests only; this walk takes microseconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypedDict

from checks.catalogue import Control
from checks.frameworks import FRAMEWORKS_BY_ID

OCSF_VERSION = "1.8.0"
CLASS_NAME = "compliance_finding"
CLASS_UID = 2003
CATEGORY_UID = 2  # Findings
ACTIVITY_CREATE = 1
TYPE_UID = CLASS_UID * 100 + ACTIVITY_CREATE
PROFILES: tuple[str, ...] = ("cloud",)
PRODUCT_NAME = "rolecall"
VENDOR_NAME = "rolecall"
STANDARD = "Do not use IAM Users"
AWS_ACCOUNT_TYPE_ID = 10  # account.type_id "AWS Account"
SCHEMA_DATA = Path(__file__).with_name("ocsf_required.json")
# Objects the mapping emits; the vendored data covers exactly these (plus what they require).
EMITTED_OBJECTS: tuple[str, ...] = (
    "account", "cloud", "compliance", "evidences", "finding_info", "metadata", "object",
    "organization", "product", "remediation", "resource_details",
)

# rolecall status -> ((compliance.status_id, caption), (finding status_id, caption))
STATUS_MAP: dict[str, tuple[tuple[int, str], tuple[int, str]]] = {
    "pass": ((1, "Pass"), (1, "New")),
    "fail": ((3, "Fail"), (1, "New")),
    "excepted": ((3, "Fail"), (3, "Suppressed")),
    "error": ((2, "Warning"), (1, "New")),
}
SEVERITY_MAP: dict[str, tuple[int, str]] = {
    "critical": (5, "Critical"),
    "high": (4, "High"),
    "medium": (3, "Medium"),
    "low": (2, "Low"),
    "info": (1, "Informational"),
}


class ControlResultRow(TypedDict):
    """A `control_results` row as read from the snapshot (evidence is the stored JSON text)."""

    control_id: str
    guidance_item: str
    account_id: str | None
    resource_id: str
    resource_type: str
    status: str
    severity: str | None
    reason: str | None
    exception_id: str | None
    evidence: str | None


class RunRow(TypedDict):
    """The columns of the snapshot's one `run` row that a finding uses (others are ignored)."""

    run_id: str
    started_at: datetime
    tool_version: str | None
    organization_id: str | None


def epoch_ms(moment: datetime) -> int:
    """OCSF timestamp_t: milliseconds since the epoch; a naive time is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def finding_uid(run_id: str, row: Mapping[str, Any]) -> str:
    """Readable id, unique within a run: the control, account and resource judged (and the
    register entry, when the row names one)."""
    uid = f"rolecall:{run_id}:{row['control_id']}:{row['account_id'] or '-'}:{row['resource_id']}"
    return f"{uid}#{row['exception_id']}" if row.get("exception_id") else uid


def arn_partition(resource_id: str | None) -> str | None:
    """The partition (aws, aws-cn, aws-us-gov) of an ARN; None for account ids and the like."""
    parts = (resource_id or "").split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else None


def compliance_finding(
    row: ControlResultRow, run: RunRow, account_name: str | None, control: Control
) -> dict[str, Any]:
    """The OCSF 1.8.0 Compliance Finding of one control result (see the module docstring).

    Raises ValueError for a status or severity rolecall does not define: guessing would put a
    wrong verdict into evidence.
    """
    status = row["status"]
    if status not in STATUS_MAP:
        raise ValueError(f"unknown control result status {status!r}")
    (compliance_id, compliance_caption), (status_id, status_caption) = STATUS_MAP[status]
    severity = row.get("severity") or control.severity
    if severity not in SEVERITY_MAP:
        raise ValueError(f"unknown severity {severity!r}")
    severity_id, severity_caption = SEVERITY_MAP[severity]
    uid = finding_uid(run["run_id"], row)
    reason = row.get("reason")
    finding: dict[str, Any] = {
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "type_uid": TYPE_UID,
        "type_name": "Compliance Finding: Create",
        "time": epoch_ms(run["started_at"]),
        "severity_id": severity_id,
        "severity": severity_caption,
        "status_id": status_id,
        "status": status_caption,
        "status_code": status,
        "message": f"{control.id} {status}: {row['resource_id']}",
        "metadata": {
            "version": OCSF_VERSION,
            "uid": uid,
            "event_code": control.id,
            "profiles": list(PROFILES),
            "product": _product(run.get("tool_version")),
        },
        "finding_info": _without_none({"uid": uid, "title": control.title, "desc": reason}),
        "compliance": {
            "control": control.id,
            "standards": [STANDARD, *framework_standards(control)],
            "requirements": [row.get("guidance_item") or control.guidance_item,
                             *framework_requirements(control)],
            "desc": f"Fails when {control.fails_when}.",
            "status": compliance_caption,
            "status_id": compliance_id,
            "status_code": status,
        },
        "cloud": _cloud(row.get("account_id"), account_name, run.get("organization_id")),
        "resources": [_without_none({
            "uid": row["resource_id"],
            "type": row.get("resource_type"),
            "cloud_partition": arn_partition(row["resource_id"]),
        })],
        "remediation": {"desc": control.remediation},
        "unmapped": _without_none({
            "run_id": run["run_id"],
            "status": status,
            "guidance_item": row.get("guidance_item"),
            "exception_id": row.get("exception_id"),
            "framework_requirements": [
                {"framework": r.framework, "requirement": r.id, "coverage": r.coverage}
                for r in control.requirements] or None,
        }),
    }
    detail = _status_detail(status, reason, row.get("exception_id"))
    if detail:
        finding["status_detail"] = detail
    evidence = _decoded(row.get("evidence"))
    if evidence is not None:
        finding["evidences"] = [{"name": "rolecall facts", "data": evidence}]
    return finding


def framework_standards(control: Control) -> list[str]:
    """The frameworks the control maps to, in the order the catalogue names them."""
    ids = dict.fromkeys(r.framework for r in control.requirements)
    return [FRAMEWORKS_BY_ID[i].label for i in ids]


def framework_requirements(control: Control) -> list[str]:
    """Each mapped requirement as one readable string: framework, version, id and title."""
    return [f"{FRAMEWORKS_BY_ID[r.framework].label} {r.id} - {r.title}" for r in control.requirements]


def _product(tool_version: str | None) -> dict[str, Any]:
    return _without_none({"name": PRODUCT_NAME, "vendor_name": VENDOR_NAME, "version": tool_version})


def _cloud(account_id: str | None, account_name: str | None, organization_id: str | None) -> dict[str, Any]:
    cloud: dict[str, Any] = {"provider": "AWS"}
    if account_id:
        cloud["account"] = _without_none({
            "uid": account_id, "name": account_name, "type_id": AWS_ACCOUNT_TYPE_ID,
            "type": "AWS Account",
        })
    if organization_id:
        cloud["org"] = {"uid": organization_id}
    return cloud


def _status_detail(status: str, reason: str | None, exception_id: str | None) -> str | None:
    """Why a finding is suppressed (the register entry) or has no verdict (the reason)."""
    if status == "excepted":
        return f"excepted by exceptions register entry {exception_id}"
    if status == "error":
        return reason
    return None


def _decoded(evidence: Any) -> Any:
    """The row's evidence as data: the snapshot stores JSON text."""
    return json.loads(evidence) if isinstance(evidence, str) else evidence


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    """OCSF leaves absent attributes out; a null is not a value of any OCSF type."""
    return {k: v for k, v in values.items() if v is not None}


# --- validation -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Attribute:
    kind: str  # string, integer, number, boolean, json or object
    array: bool
    enum: frozenset[int] | None
    object_name: str | None  # for kind object


@dataclass(frozen=True, slots=True)
class _Spec:
    """A class or object of the vendored data, compiled once: the walk runs per finding."""

    name: str
    required: tuple[str, ...]
    at_least_one: tuple[tuple[str, ...], ...]
    just_one: tuple[tuple[str, ...], ...]
    open: bool  # defines no attributes: anything goes (OCSF's `object`, used by `unmapped`)
    attributes: dict[str, _Attribute]


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "json": lambda v: True,
}


@cache
def schema_data() -> dict[str, Any]:
    """The vendored OCSF schema data (`ocsf_required.json`), read once."""
    return json.loads(SCHEMA_DATA.read_text(encoding="utf-8"))


@cache
def _compiled() -> tuple[_Spec, dict[str, _Spec]]:
    return compile_schema_data(schema_data())


def compile_schema_data(data: Mapping[str, Any]) -> tuple[_Spec, dict[str, _Spec]]:
    """The class spec and the object specs of vendored-format data."""
    objects = {name: _compile_spec(spec) for name, spec in data["objects"].items()}
    return _compile_spec(data["class"]), objects


def _compile_spec(spec: Mapping[str, Any]) -> _Spec:
    attributes = {}
    for name, kind in spec["attributes"].items():
        base = kind.removesuffix("[]")
        is_object = base.startswith("object:")
        if not is_object and base not in _TYPE_CHECKS:
            raise ValueError(f"{spec['name']}.{name}: unknown attribute kind {kind!r} in the schema data")
        enum = spec["enums"].get(name)
        attributes[name] = _Attribute(
            kind="object" if is_object else base,
            array=kind.endswith("[]"),
            enum=frozenset(enum) if enum is not None else None,
            object_name=base.removeprefix("object:") if is_object else None,
        )
    return _Spec(
        name=spec["name"],
        required=tuple(spec["required"]),
        at_least_one=tuple(tuple(g) for g in spec["at_least_one"]),
        just_one=tuple(tuple(g) for g in spec["just_one"]),
        open=spec["open"],
        attributes=attributes,
    )


def required_field_problems(
    finding: Mapping[str, Any], data: Mapping[str, Any] | None = None
) -> list[str]:
    """What makes `finding` an invalid OCSF Compliance Finding; empty when it is valid.

    Checked against the vendored schema data (or `data` in the same format): required
    attributes, at-least-one and just-one constraints, attributes the class or object does not
    define, value types (arrays included) and integer enums, recursively through every object
    and array element. Problems name the attribute path, e.g. `metadata.product: ...`.
    """
    cls, objects = _compiled() if data is None else compile_schema_data(data)
    return _object_problems(finding, cls, objects, "")


def _object_problems(value: Any, spec: _Spec, objects: dict[str, _Spec], path: str) -> list[str]:
    where = path.removesuffix(".") or spec.name
    if not isinstance(value, Mapping):
        return [f"{where}: expected an object ({spec.name}), got {type(value).__name__}"]
    problems = [
        f"{path}{name}: required attribute of {spec.name} is missing"
        for name in spec.required if value.get(name) is None
    ]
    for group in spec.at_least_one:
        if all(value.get(name) is None for name in group):
            problems.append(f"{where}: {spec.name} needs at least one of {', '.join(group)}")
    for group in spec.just_one:
        if sum(value.get(name) is not None for name in group) != 1:
            problems.append(f"{where}: {spec.name} needs exactly one of {', '.join(group)}")
    if spec.open:
        return problems
    for name, item in value.items():
        attribute = spec.attributes.get(name)
        if attribute is None:
            problems.append(f"{path}{name}: not an attribute of {spec.name}")
        elif not attribute.array:
            problems += _value_problems(item, attribute, objects, path, name)
        elif not isinstance(item, list):
            problems.append(f"{path}{name}: expected an array, got {type(item).__name__}")
        else:
            for i, element in enumerate(item):
                problems += _value_problems(element, attribute, objects, path, f"{name}[{i}]")
    return problems


def _value_problems(
    value: Any, attribute: _Attribute, objects: dict[str, _Spec], path: str, name: str
) -> list[str]:
    """Problems of one value; the path string is only built when it is needed."""
    if value is None:
        return [f"{path}{name}: null is not a value (leave the attribute out)"]
    if attribute.object_name is not None:
        spec = objects.get(attribute.object_name)
        if spec is None:
            return [f"{path}{name}: object {attribute.object_name} is not in the vendored schema data "
                    "(add it to EMITTED_OBJECTS and regenerate)"]
        return _object_problems(value, spec, objects, f"{path}{name}.")
    if not _TYPE_CHECKS[attribute.kind](value):
        return [f"{path}{name}: expected {attribute.kind}, got {type(value).__name__} {value!r}"]
    if attribute.enum is not None and value not in attribute.enum:
        return [f"{path}{name}: {value!r} is not one of {sorted(attribute.enum)}"]
    return []


# --- vendored data ----------------------------------------------------------------------------

_PRIMITIVES = {
    "string_t": "string", "integer_t": "integer", "long_t": "integer", "float_t": "number",
    "boolean_t": "boolean", "json_t": "json",
}


def schema_data_from_export(
    export: Mapping[str, Any],
    class_name: str = CLASS_NAME,
    profiles: Sequence[str] = PROFILES,
    object_names: Sequence[str] = EMITTED_OBJECTS,
) -> dict[str, Any]:
    """The validation data of one class, from a compiled OCSF schema export (the JSON that
    schema.ocsf.io serves at /<version>/export/schema, v1 or v2 layout), with `profiles` applied.

    Objects required by the class or by an included object are added to `object_names`.
    """
    types = export["dictionary"]["types"]["attributes"] if "dictionary" in export else export["types"]
    cls = export["classes"][class_name]
    class_spec = _spec(class_name, cls, profiles, types)
    class_spec.update(uid=cls["uid"], category_uid=cls["category_uid"])
    wanted, specs = list(object_names) + _required_objects(class_spec), {}
    while wanted:
        name = wanted.pop()
        if name not in specs:
            specs[name] = _spec(name, export["objects"][name], profiles, types)
            wanted += _required_objects(specs[name])
    return {
        "ocsf_version": export["version"],
        "profiles": list(profiles),
        "class": class_spec,
        "objects": dict(sorted(specs.items())),
    }


def _spec(
    name: str, item: Mapping[str, Any], profiles: Sequence[str], types: Mapping[str, Any]
) -> dict[str, Any]:
    attributes = {
        attr: info for attr, info in item.get("attributes", {}).items() if _applies(info, profiles)
    }
    constraints = item.get("constraints", {})
    return {
        "name": name,
        "required": sorted(a for a, info in attributes.items() if info.get("requirement") == "required"),
        "at_least_one": [constraints["at_least_one"]] if "at_least_one" in constraints else [],
        "just_one": [constraints["just_one"]] if "just_one" in constraints else [],
        "open": not attributes,
        "attributes": {attr: _kind(info, types) for attr, info in sorted(attributes.items())},
        "enums": {
            attr: sorted(int(v) for v in info["enum"])
            for attr, info in sorted(attributes.items())
            if info.get("enum") and _kind(info, types).removesuffix("[]") == "integer"
        },
    }


def _applies(info: Mapping[str, Any], profiles: Sequence[str]) -> bool:
    """An attribute belongs to the event unless it comes from a profile that is not applied."""
    own = info.get("profiles") or ([info["profile"]] if info.get("profile") else [])
    return not own or any(p in profiles for p in own)


def _kind(info: Mapping[str, Any], types: Mapping[str, Any]) -> str:
    if info["type"] == "object_t":
        kind = f"object:{info['object_type']}"
    else:
        base = info["type"]
        while types.get(base, {}).get("type"):
            base = types[base]["type"]
        kind = _PRIMITIVES[base]
    return kind + "[]" if info.get("is_array") else kind


def _required_objects(spec: Mapping[str, Any]) -> list[str]:
    return [
        spec["attributes"][a].removeprefix("object:").removesuffix("[]")
        for a in spec["required"] if spec["attributes"][a].startswith("object:")
    ]


PROVENANCE: dict[str, Any] = {
    "what": "Validation data for OCSF 1.8.0 Compliance Finding (class_uid 2003) with the cloud profile: "
            "per class/object the required attributes, constraints, attribute kinds and integer enums. "
            "Read by reports.ocsf.required_field_problems.",
    "schema_repository": "https://github.com/ocsf/ocsf-schema",
    "schema_release": "v1.8.0",
    "schema_files": [
        "events/base_event.json", "events/findings/finding.json", "events/findings/compliance_finding.json",
        "profiles/cloud.json", "dictionary.json", "objects/object.json", "objects/_entity.json",
        "objects/_resource.json",
    ] + [f"objects/{name}.json" for name in EMITTED_OBJECTS if name != "object"],
    "compiled_export": "https://schema.ocsf.io/1.8.0/export/v2/schema (the files above compiled: "
                       "inheritance, $include and profiles resolved)",
    "export_copy_used": "PyPI ocsf-json-schema 1.2.0, file ocsf_json_schema/ocsf/1.8.0.json",
    "export_sha256": "221b43d05787aa68d03233589f0eabdab192531d3e4740b856b2e0a4d6d91f82",
    "cross_checked": "Requirement flags read in ocsf/ocsf-schema itself (events/base_event.json, "
                     "events/findings/finding.json, events/findings/compliance_finding.json, "
                     "profiles/cloud.json, objects/metadata.json, objects/finding_info.json, "
                     "objects/compliance.json, objects/cloud.json, objects/product.json, "
                     "objects/resource_details.json) agree with the export, except in older "
                     "revisions of those files, where the exports of earlier releases show the "
                     "change: compliance.standards required through 1.4.0, finding_info.title "
                     "through 1.3.0, product.name required in pre-1.0 revisions.",
    "regenerate": "uv run --group dev python -m reports.ocsf > reports/ocsf_required.json; "
                  "tests/test_export.py checks the file against the bundled export.",
}


def vendored_schema_data(export: Mapping[str, Any]) -> dict[str, Any]:
    """`ocsf_required.json`'s content: provenance, then the data."""
    return {"provenance": PROVENANCE, **schema_data_from_export(export)}


if __name__ == "__main__":  # pragma: no cover - regenerates ocsf_required.json (dev dependency)
    from ocsf_json_schema import get_ocsf_schema

    print(json.dumps(vendored_schema_data(get_ocsf_schema(OCSF_VERSION)), indent=1))
