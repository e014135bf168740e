"""reports/export.py and reports/ocsf.py: Parquet and OCSF exports of a finished run's snapshot.

One small snapshot: a run, two accounts, a user with JSON columns, an exceptions register entry,
and control results covering pass, fail, excepted and error (each with evidence JSON). The run
folder holds only the snapshot, so anything an export left there would show.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pytest
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

import reports.export as export
import reports.ocsf as ocsf
from checks.catalogue import CONTROLS_BY_ID
from reports.export import ExportError, export_ocsf, export_parquet
from reports.ocsf import OCSF_VERSION, PROFILES, finding_problems
from store import snapshot

RUN_ID = "20261128T002654Z"
STARTED = datetime(2026, 11, 28, 0, 26, 54, 123456, tzinfo=UTC)
STARTED_MS = 1_795_825_614_123  # 2026-11-28T00:26:54.123Z; the microseconds are cut, not rounded
PROD, SHARED = "111111111111", "222222222222"
ORG = "o-rolecall"
ALICE = f"arn:aws:iam::{PROD}:user/alice"
VENDOR = f"arn:aws:iam::{SHARED}:user/svc-vendor"
USER_GROUPS = ["admins", "ops"]
USER_TAGS = {"team": "platform", "cost-centre": "42"}

RESULTS: list[dict[str, Any]] = [
    {"control_id": "RC-1.4", "guidance_item": "G1", "account_id": PROD,
     "resource_id": f"arn:aws:iam::{PROD}:root", "resource_type": "root_user", "status": "pass",
     "severity": "critical", "reason": "root user has MFA and no access key",
     "evidence": {"mfa_active": True, "access_keys": 0}},
    {"control_id": "RC-1.1", "guidance_item": "G1", "account_id": PROD, "resource_id": ALICE,
     "resource_type": "iam_user", "status": "fail", "severity": "high",
     "reason": "IAM user alice exists", "evidence": {"user_name": "alice", "groups": USER_GROUPS}},
    {"control_id": "RC-1.1", "guidance_item": "G1", "account_id": SHARED, "resource_id": VENDOR,
     "resource_type": "iam_user", "status": "excepted", "severity": "high",
     "reason": 'IAM user svc-vendor exists; excepted by register entry "EXC-001"',
     "exception_id": "EXC-001", "evidence": {"user_name": "svc-vendor"}},
    {"control_id": "RC-4.3", "guidance_item": "G4", "account_id": SHARED, "resource_id": SHARED,
     "resource_type": "account", "status": "error", "severity": "medium",
     "reason": "not evaluated: access_analyzer AccessDenied",
     "evidence": {"not_collected": ["access_analyzer AccessDenied"]}},
    {"control_id": "RC-4.4", "guidance_item": "G4", "account_id": PROD,
     "resource_id": f"arn:aws:iam::{PROD}:role/lambda-exec", "resource_type": "iam_role",
     "status": "fail", "severity": "low", "reason": "lambda.amazonaws.com may assume it",
     "evidence": {"services": ["lambda.amazonaws.com"], "conditions": None}},
    {"control_id": "RC-1.5", "guidance_item": "G1", "account_id": SHARED, "resource_id": VENDOR,
     "resource_type": "exception", "status": "pass", "severity": "info",
     "reason": "entry is complete and current", "exception_id": "EXC-001",
     "evidence": {"problems": [], "days_to_expiry": 60}},
]
# (control, status) of the rows above -> (compliance status, finding status, severity), as
# (id, caption); the comment says the row's severity
EXPECTED_CODES = {
    ("RC-1.4", "pass"): ((1, "Pass"), (1, "New"), (5, "Critical")),  # critical
    ("RC-1.1", "fail"): ((3, "Fail"), (1, "New"), (4, "High")),  # high
    ("RC-1.1", "excepted"): ((3, "Fail"), (3, "Suppressed"), (4, "High")),  # high
    ("RC-4.3", "error"): ((2, "Warning"), (1, "New"), (3, "Medium")),  # medium
    ("RC-4.4", "fail"): ((3, "Fail"), (1, "New"), (2, "Low")),  # low
    ("RC-1.5", "pass"): ((1, "Pass"), (1, "New"), (1, "Informational")),  # info
}


def build_snapshot(path: Path, results: list[dict[str, Any]] = RESULTS, **run: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = snapshot.create(path)
    snapshot.insert_rows(con, "run", [{
        "run_id": RUN_ID, "started_at": STARTED, "finished_at": STARTED, "tool_version": "0.1.0",
        "organization_id": ORG, "management_account_id": PROD, "simulated": True,
        "config": {"region": None, "max_workers": 8},
    } | run])
    snapshot.insert_rows(con, "accounts", [
        {"account_id": PROD, "name": "prod", "status": "ACTIVE", "collected": True, "api_calls": 12},
        {"account_id": SHARED, "name": "shared", "status": "ACTIVE", "collected": False,
         "error": "access_analyzer: AccessDenied"},
    ])
    snapshot.insert_rows(con, "iam_users", [{
        "account_id": PROD, "user_name": "alice", "arn": ALICE, "create_date": STARTED,
        "groups": USER_GROUPS, "attached_policies": [], "inline_policy_names": [], "tags": USER_TAGS,
    }])
    snapshot.insert_rows(con, "exceptions", [{
        "exception_id": "EXC-001", "principal": VENDOR, "controls": ["RC-1.1"], "kind": "break-glass",
        "expires": date(2027, 1, 27), "valid": True, "problems": [],
    }])
    snapshot.insert_rows(con, "control_results", results)
    con.close()
    return path


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    return build_snapshot(tmp_path / "runs" / RUN_ID / "snapshot.duckdb")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def by_key(findings: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(f["compliance"]["control"], f["resources"][0]["uid"], f["status_code"]): f for f in findings}


@pytest.fixture
def findings(snap: Path, tmp_path: Path) -> list[dict[str, Any]]:
    out = tmp_path / "out" / "findings.ocsf.json"
    export_ocsf(snap, out)
    return json.loads(out.read_text(encoding="utf-8"))


def exported(tmp_path: Path, results: list[dict[str, Any]], **run: Any) -> list[dict[str, Any]]:
    snap = build_snapshot(tmp_path / "runs" / RUN_ID / "snapshot.duckdb", results, **run)
    export_ocsf(snap, tmp_path / "out" / "findings.ocsf.json")
    return json.loads((tmp_path / "out" / "findings.ocsf.json").read_text(encoding="utf-8"))


# The version the findings claim (py-ocsf-models'), and the newest release, which they also meet.
@pytest.fixture(scope="module", params=[OCSF_VERSION, "1.8.0"])
def full_schema_validator(request: pytest.FixtureRequest) -> jsonschema.Draft202012Validator:
    """The exact JSON Schema of the class (ocsf-json-schema, dev dependency): slow, exhaustive."""
    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(request.param)).get_class_schema(
        "compliance_finding", profiles=list(PROFILES)
    )
    return jsonschema.Draft202012Validator(schema)


# --- Parquet ------------------------------------------------------------------------------------


def test_parquet_has_one_file_per_table_with_the_same_rows(snap: Path, tmp_path: Path) -> None:
    paths = export_parquet(snap, tmp_path / "parquet")

    assert sorted(p.name for p in paths) == sorted(f"{t}.parquet" for t in snapshot.SCHEMA)
    assert all(p.parent == tmp_path / "parquet" and p.is_file() for p in paths)
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{snap}' AS snap (READ_ONLY)")
        for path in paths:
            table = path.stem
            copied = f"read_parquet('{path}')"
            assert con.execute(f"SELECT count(*) FROM {copied}").fetchone() == \
                con.execute(f"SELECT count(*) FROM snap.{table}").fetchone(), table
            for left, right in ((f"snap.{table}", copied), (copied, f"snap.{table}")):
                sql = f"SELECT count(*) FROM (FROM {left} EXCEPT ALL FROM {right})"
                assert con.execute(sql).fetchone() == (0,), (table, left)
            types = [(c[0], c[1]) for c in con.execute(f"DESCRIBE FROM {copied}").fetchall()]
            assert types == [(c[0], c[1]) for c in con.execute(f"DESCRIBE snap.{table}").fetchall()], table


def test_parquet_files_are_zstd_compressed(snap: Path, tmp_path: Path) -> None:
    path = next(p for p in export_parquet(snap, tmp_path / "parquet") if p.stem == "control_results")

    with duckdb.connect() as con:
        codecs = {r[0] for r in con.execute(f"SELECT compression FROM parquet_metadata('{path}')").fetchall()}
    assert codecs == {"ZSTD"}


def test_parquet_json_columns_round_trip(snap: Path, tmp_path: Path) -> None:
    folder = tmp_path / "parquet"
    export_parquet(snap, folder)

    with duckdb.connect() as con:
        groups, tags = con.execute(
            f"SELECT groups, tags FROM read_parquet('{folder / 'iam_users.parquet'}')"
        ).fetchone()
        evidence = dict(con.execute(
            f"SELECT control_id || ' ' || status, evidence "
            f"FROM read_parquet('{folder / 'control_results.parquet'}')"
        ).fetchall())
        config, started = con.execute(
            f"SELECT config, started_at FROM read_parquet('{folder / 'run.parquet'}')"
        ).fetchone()
    assert (json.loads(groups), json.loads(tags)) == (USER_GROUPS, USER_TAGS)
    assert {k: json.loads(v) for k, v in evidence.items()} == {
        f"{r['control_id']} {r['status']}": r["evidence"] for r in RESULTS
    }
    assert json.loads(config) == {"region": None, "max_workers": 8}
    assert started == STARTED


def test_parquet_creates_the_folder_and_replaces_earlier_files(snap: Path, tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "er" / "parquet"
    export_parquet(snap, folder)
    (folder / "run.parquet").write_bytes(b"stale")

    export_parquet(snap, folder)

    with duckdb.connect() as con:
        run_ids = con.execute(f"SELECT run_id FROM read_parquet('{folder / 'run.parquet'}')").fetchall()
    assert run_ids == [(RUN_ID,)]
    assert listing(folder.parent) == ["parquet"] + [f"parquet/{t}.parquet" for t in sorted(snapshot.SCHEMA)]


@pytest.mark.parametrize("earlier_export", [False, True])
def test_parquet_failure_half_way_leaves_no_file_and_keeps_an_earlier_export(
    snap: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, earlier_export: bool
) -> None:
    folder = tmp_path / "exports" / "parquet"
    if earlier_export:
        for path in export_parquet(snap, folder):
            path.write_text(f"earlier {path.name}")  # distinguishable from a new copy
    earlier = {p.name: p.read_text() for p in folder.glob("*")}
    real_copy, copied = export._copy_table, []

    def copy_then_fail(con: duckdb.DuckDBPyConnection, table: str, staging: Path) -> Path:
        if len(copied) == 3:
            raise OSError("disk full")
        copied.append(table)
        return real_copy(con, table, staging)

    monkeypatch.setattr(export, "_copy_table", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export_parquet(snap, folder)

    assert len(copied) == 3
    assert {p.name: p.read_text() for p in folder.glob("*")} == earlier
    assert [p.name for p in (tmp_path / "exports").iterdir()] == (["parquet"] if earlier_export else [])


# --- the run folder is evidence -------------------------------------------------------------------


def test_exports_leave_the_run_folder_byte_identical(snap: Path, tmp_path: Path) -> None:
    before, files_before = sha256(snap), listing(snap.parent)

    export_parquet(snap, tmp_path / "exports" / "parquet")
    export_ocsf(snap, tmp_path / "exports" / "findings.ocsf.json")

    assert sha256(snap) == before
    assert listing(snap.parent) == files_before == ["snapshot.duckdb"]


@pytest.mark.parametrize("where", [".", "parquet", "evidence/deeper"])
def test_exports_refuse_to_write_into_the_run_folder(snap: Path, where: str) -> None:
    target = snap.parent / where
    before = sha256(snap)

    with pytest.raises(ExportError, match="inside the run folder"):
        export_parquet(snap, target)
    with pytest.raises(ExportError, match="inside the run folder"):
        export_ocsf(snap, target / "findings.ocsf.json")

    assert listing(snap.parent) == ["snapshot.duckdb"]
    assert sha256(snap) == before


# --- OCSF export ----------------------------------------------------------------------------------


def test_ocsf_writes_one_finding_per_control_result(snap: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "findings.ocsf.json"

    count = export_ocsf(snap, out)

    findings = json.loads(out.read_text(encoding="utf-8"))
    assert count == len(findings) == len(RESULTS)
    assert sorted((f["compliance"]["control"], f["status_code"]) for f in findings) == \
        sorted((r["control_id"], r["status"]) for r in RESULTS)
    assert listing(out.parent) == ["findings.ocsf.json"]


def test_every_finding_passes_the_models(findings: list[dict[str, Any]]) -> None:
    assert [finding_problems(json.dumps(f)) for f in findings] == [[] for _ in findings]


def test_every_finding_is_valid_against_the_full_ocsf_json_schema(
    findings: list[dict[str, Any]], full_schema_validator: jsonschema.Draft202012Validator
) -> None:
    errors = [(f["metadata"]["uid"], e.message)
              for f in findings for e in full_schema_validator.iter_errors(f)]
    assert errors == []


def test_class_and_type_ids_are_consistent(findings: list[dict[str, Any]]) -> None:
    for f in findings:
        assert (f["class_uid"], f["category_uid"], f["activity_id"]) == (2003, 2, 1)
        assert f["type_uid"] == f["class_uid"] * 100 + f["activity_id"]
        assert f["metadata"]["version"] == OCSF_VERSION
        assert f["metadata"]["product"] == {"name": "rolecall", "vendor_name": "rolecall", "version": "0.1.0"}


def test_status_and_severity_mapping(findings: list[dict[str, Any]]) -> None:
    codes = {
        (f["compliance"]["control"], f["unmapped"]["status"]): (
            (f["compliance"]["status_id"], f["compliance"]["status"]),
            (f["status_id"], f["status"]),
            (f["severity_id"], f["severity"]),
        )
        for f in findings
    }

    assert codes == EXPECTED_CODES
    assert all(f["status_code"] == f["compliance"]["status_code"] == f["unmapped"]["status"]
               for f in findings)


def test_excepted_finding_is_suppressed_fail_and_keeps_the_exception_id(
    findings: list[dict[str, Any]],
) -> None:
    f = by_key(findings)[("RC-1.1", VENDOR, "excepted")]

    assert (f["compliance"]["status"], f["status"]) == ("Fail", "Suppressed")
    assert f["unmapped"]["exception_id"] == "EXC-001"
    assert "EXC-001" in f["status_detail"]
    assert f["metadata"]["uid"].endswith("#EXC-001")


def test_error_finding_is_warning_with_the_reason(findings: list[dict[str, Any]]) -> None:
    f = by_key(findings)[("RC-4.3", SHARED, "error")]

    assert (f["compliance"]["status"], f["compliance"]["status_id"]) == ("Warning", 2)
    assert f["status_detail"] == f["finding_info"]["desc"] == "not evaluated: access_analyzer AccessDenied"


def test_finding_content(findings: list[dict[str, Any]]) -> None:
    f = by_key(findings)[("RC-1.1", ALICE, "fail")]
    control = CONTROLS_BY_ID["RC-1.1"]

    assert f["time"] == STARTED_MS
    assert f["finding_info"] == {
        "uid": f"rolecall:{RUN_ID}:RC-1.1:{PROD}:{ALICE}", "title": control.title,
        "desc": "IAM user alice exists",
    }
    assert f["metadata"]["uid"] == f["finding_info"]["uid"]
    assert f["compliance"]["standards"] == [
        "Do not use IAM Users", "CIS Amazon Web Services Foundations Benchmark 3.0.0",
        "NIST SP 800-53 Rev. 5", "AICPA Trust Services Criteria (SOC 2) 2017 (revised points of "
        "focus 2022)", "ISO/IEC 27001 Annex A 2022"]
    assert f["compliance"]["requirements"] == [
        "G1",
        "CIS Amazon Web Services Foundations Benchmark 3.0.0 1.21 - Ensure IAM users are managed "
        "centrally via identity federation or AWS Organizations for multi-account environments",
        "NIST SP 800-53 Rev. 5 AC-2 - Account Management",
        "AICPA Trust Services Criteria (SOC 2) 2017 (revised points of focus 2022) CC6.2 - Prior to "
        "issuing system credentials and granting system access, the entity registers and "
        "authorizes new internal and external users whose access is administered by the entity",
        "ISO/IEC 27001 Annex A 2022 A.5.16 - Identity Management",
    ]
    assert f["unmapped"]["framework_requirements"] == [
        {"framework": "cis-aws-3.0", "requirement": "1.21", "coverage": "partial"},
        {"framework": "nist-800-53-r5", "requirement": "AC-2", "coverage": "partial"},
        {"framework": "soc2-2017", "requirement": "CC6.2", "coverage": "partial"},
        {"framework": "iso27001-2022", "requirement": "A.5.16", "coverage": "partial"},
    ]
    assert f["cloud"] == {
        "provider": "AWS", "account": {"uid": PROD, "name": "prod", "type_id": 10, "type": "AWS Account"},
        "org": {"uid": ORG},
    }
    assert f["resources"] == [{"uid": ALICE, "type": "iam_user", "cloud_partition": "aws"}]
    assert f["evidences"] == [
        {"name": "rolecall facts", "data": {"user_name": "alice", "groups": USER_GROUPS}}
    ]
    assert f["remediation"] == {"desc": control.remediation}
    assert "status_detail" not in f


def test_finding_uids_are_unique_and_the_export_is_reproducible(snap: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    export_ocsf(snap, first)
    export_ocsf(snap, second)

    uids = [f["finding_info"]["uid"] for f in json.loads(first.read_text())]
    # RC-1.1 and RC-1.5 judge the same principal: the control (and exception) keep them apart
    assert len(set(uids)) == len(uids) == len(RESULTS)
    assert first.read_bytes() == second.read_bytes()


def test_batches_do_not_change_the_output(
    snap: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_ocsf(snap, tmp_path / "one_batch.json")
    monkeypatch.setattr(export, "FETCH_ROWS", 2)

    assert export_ocsf(snap, tmp_path / "batches.json") == len(RESULTS)
    assert (tmp_path / "batches.json").read_bytes() == (tmp_path / "one_batch.json").read_bytes()


def test_no_results_give_an_empty_array(tmp_path: Path) -> None:
    empty = build_snapshot(tmp_path / "run" / "snapshot.duckdb", results=[])

    assert export_ocsf(empty, tmp_path / "out.json") == 0
    assert json.loads((tmp_path / "out.json").read_text()) == []


def test_invalid_finding_aborts_naming_control_and_resource_and_leaves_no_file(
    snap: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out" / "findings.ocsf.json"
    out.parent.mkdir()
    out.write_text("previous export")
    monkeypatch.setattr(export, "FETCH_ROWS", 2)  # the bad row comes after a batch was written

    real_fragments = ocsf.shape_fragments

    def without_compliance(finding: ocsf.CloudComplianceFinding) -> dict[str, str]:
        fragments = real_fragments(finding)
        if finding.compliance.control == "RC-4.4":
            compliance = f'"compliance":{finding.compliance.model_dump_json(exclude_none=True)},'
            fragments["head"] = fragments["head"].replace(compliance, "")
        return fragments

    monkeypatch.setattr(ocsf, "shape_fragments", without_compliance)
    with pytest.raises(ExportError) as raised:
        export_ocsf(snap, out)

    message = str(raised.value)
    assert f"control RC-4.4, resource arn:aws:iam::{PROD}:role/lambda-exec" in message
    assert "not a valid OCSF Compliance Finding: compliance: Field required" in message
    assert out.read_text() == "previous export"
    assert listing(out.parent) == ["findings.ocsf.json"]


@pytest.mark.parametrize(("change", "message"), [
    ({"control_id": "RC-9.9"}, "control RC-9.9, resource .*: control is not in the catalogue"),
    ({"status": "skipped"}, "control RC-1.1, resource .*: unknown control result status 'skipped'"),
    ({"severity": "urgent"}, "control RC-1.1, resource .*: unknown severity 'urgent'"),
])
def test_rows_rolecall_does_not_define_abort_the_export(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    bad = build_snapshot(tmp_path / "run" / "snapshot.duckdb", results=[RESULTS[0], RESULTS[1] | change])

    with pytest.raises(ExportError, match=message):
        export_ocsf(bad, tmp_path / "out" / "findings.json")
    assert listing(tmp_path / "out") == []


def test_duplicate_results_abort_the_export(tmp_path: Path) -> None:
    bad = build_snapshot(tmp_path / "run" / "snapshot.duckdb", results=[RESULTS[1], RESULTS[1]])

    with pytest.raises(ExportError, match="would not be unique"):
        export_ocsf(bad, tmp_path / "out" / "findings.json")
    assert listing(tmp_path / "out") == []


# --- the mapping and the validator ------------------------------------------------------------------


def test_mapping_without_account_organization_or_evidence_is_still_valid(tmp_path: Path) -> None:
    [finding] = exported(
        tmp_path, [RESULTS[1] | {"account_id": None, "evidence": None, "severity": None}],
        started_at=STARTED.replace(tzinfo=None), tool_version=None, organization_id=None,
    )

    assert finding["cloud"] == {"provider": "AWS"}
    assert "evidences" not in finding
    assert finding["severity_id"] == 4  # the control's severity
    assert finding["time"] == STARTED_MS  # a naive time is UTC
    assert finding["metadata"]["product"] == {"name": "rolecall", "vendor_name": "rolecall"}
    assert finding["metadata"]["uid"] == f"rolecall:{RUN_ID}:RC-1.1:-:{ALICE}"
    assert finding_problems(json.dumps(finding)) == []


def test_an_account_without_a_name_is_left_unnamed(tmp_path: Path) -> None:
    [finding] = exported(tmp_path, [RESULTS[1] | {"account_id": "333333333333"}])

    assert finding["cloud"]["account"] == {"uid": "333333333333", "type_id": 10, "type": "AWS Account"}
    assert finding_problems(json.dumps(finding)) == []


def test_every_mapped_requirement_of_a_control_is_in_its_findings(tmp_path: Path) -> None:
    rows = [RESULTS[1] | {"control_id": c.id, "guidance_item": c.guidance_item, "evidence": None}
            for c in CONTROLS_BY_ID.values()]

    for finding in exported(tmp_path, rows):
        control = CONTROLS_BY_ID[finding["compliance"]["control"]]
        requirements = finding["compliance"]["requirements"]
        assert len(requirements) == 1 + len(control.requirements)
        for r in control.requirements:
            assert any(f" {r.id} - {r.title}" in text for text in requirements), (control.id, r.id)
        assert finding_problems(json.dumps(finding)) == []


def test_a_control_without_mappings_keeps_the_guidance_standard_alone() -> None:
    bare = dataclasses.replace(CONTROLS_BY_ID["RC-1.1"], requirements=())
    run = ocsf.RunFacts(run_id=RUN_ID, started_at=STARTED, tool_version="0.1.0", organization_id=ORG)

    finding = ocsf.shape_finding(ocsf.Shape("RC-1.1", "fail", "high", "G1"), bare, run)

    assert finding.compliance.standards == ["Do not use IAM Users"]
    assert finding.compliance.requirements == ["G1"]
    assert "framework_requirements" not in finding.unmapped


@pytest.mark.parametrize(("resource_id", "partition"), [
    ("arn:aws-cn:iam::123456789012:user/a", "aws-cn"),
    ("arn:aws-us-gov:iam::123456789012:role/b", "aws-us-gov"),
    ("123456789012", None),
    ("organization", None),
    ("arn:", None),
])
def test_the_cloud_partition_comes_from_an_arn(
    tmp_path: Path, resource_id: str, partition: str | None
) -> None:
    [finding] = exported(tmp_path, [RESULTS[1] | {"resource_id": resource_id}])

    assert finding["resources"][0].get("cloud_partition") == partition


def test_text_is_escaped_and_evidence_kept_as_data(tmp_path: Path) -> None:
    reason = 'quote " backslash \\ newline \n tab \t é ✓ \u0001'
    evidence = {"nested": {"list": [1, 2.5, None, True], "text": reason}, "empty": {}}
    [finding] = exported(tmp_path, [RESULTS[1] | {"reason": reason, "evidence": evidence}])

    assert finding["finding_info"]["desc"] == reason
    assert finding["evidences"] == [{"name": "rolecall facts", "data": evidence}]
    assert finding_problems(json.dumps(finding)) == []


def _remove(*path: Any) -> Callable[[dict[str, Any]], None]:
    def change(finding: dict[str, Any]) -> None:
        target = finding
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return change


def _set(value: Any, *path: Any) -> Callable[[dict[str, Any]], None]:
    def change(finding: dict[str, Any]) -> None:
        target = finding
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


# What py-ocsf-models (with the checks finding_problems adds) refuses, and the official schema too.
# Not here: at-least-one constraints (product name or uid, resource name or uid) and a missing
# metadata.version, which the models do not check (the version has a default); the export's
# output meets them (test_every_finding_is_valid_against_the_full_ocsf_json_schema).
BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "class compliance": (_remove("compliance"), "compliance: Field required"),
    "class time": (_remove("time"), "time: Field required"),
    "class metadata": (_remove("metadata"), "metadata: Field required"),
    "class type_uid": (_remove("type_uid"), "type_uid: Field required"),
    "profile cloud": (_remove("cloud"), "cloud: Field required"),
    "metadata.product": (_remove("metadata", "product"), "metadata.product: Field required"),
    "finding_info.uid": (_remove("finding_info", "uid"), "finding_info.uid: Field required"),
    "cloud.provider": (_remove("cloud", "provider"), "cloud.provider: Field required"),
    "remediation.desc": (_remove("remediation", "desc"), "remediation.desc: Field required"),
    "account uid": (_set({"type_id": 10}, "cloud", "account"), "cloud.account.uid: Field required"),
    "severity_id enum": (_set(7, "severity_id"), "severity_id: Input should be 0, 1, 2"),
    "status_id enum": (_set(42, "status_id"), "status_id: Input should be 0, 1, 2"),
    "compliance.status_id enum": (_set(4, "compliance", "status_id"),
                                  "compliance.status_id: Input should be 0, 1, 2"),
    "type_uid enum": (_set(200401, "type_uid"), "type_uid: Input should be 200300, 200301"),
    "unknown attribute": (_set(1, "risk_score"), "risk_score: not an attribute of OCSF 1.5.0"),
    "unknown nested attribute": (_set("x", "compliance", "rule"), "compliance.rule: not an attribute"),
    "type": (_set(str(STARTED_MS), "time"), "time: Input should be a valid integer"),
    "array": (_set("Do not use IAM Users", "compliance", "standards"),
              "compliance.standards: Input should be a valid array"),
    "null required": (_set(None, "finding_info", "title"),
                      "finding_info.title: Input should be a valid string"),
    "null optional": (_set(None, "finding_info", "desc"), "finding_info.desc: null is not a value"),
    "in an array": (_set(12, "resources", 0, "uid"), "resources.0.uid: Input should be a valid string"),
}


@pytest.fixture(scope="module")
def alice_finding(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return exported(tmp_path_factory.mktemp("alice"), [RESULTS[1]])[0]


@pytest.mark.parametrize("case", BROKEN)
def test_validation_reports_a_broken_finding(
    case: str, alice_finding: dict[str, Any], full_schema_validator: jsonschema.Draft202012Validator
) -> None:
    change, expected = BROKEN[case]
    finding = copy.deepcopy(alice_finding)
    assert finding_problems(json.dumps(finding)) == []

    change(finding)

    problems = finding_problems(json.dumps(finding))
    assert any(expected in p for p in problems), problems
    assert list(full_schema_validator.iter_errors(finding)), "the official schema accepts it too"


def test_a_failing_disk_write_stops_the_export_and_leaves_the_earlier_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The findings file is written by a thread of its own: its error still reaches the export."""
    target = tmp_path / "findings.json"
    target.write_bytes(b"earlier export\n")
    produced: list[int] = []

    def batches() -> Iterator[list[bytes]]:
        for i in range(1000):
            produced.append(i)
            yield [b'{"n":%d}' % i] * 100

    class FullDisk:
        def __init__(self, real: Any) -> None:
            self.real, self.written = real, 0

        def write(self, chunk: bytes) -> int:
            self.written += len(chunk)
            if self.written > 10_000:
                raise OSError(28, "No space left on device")
            return self.real.write(chunk)

    original = export._BackgroundWriter.__init__

    def failing(self: Any, out: Any) -> None:
        original(self, FullDisk(out))

    monkeypatch.setattr(export._BackgroundWriter, "__init__", failing)
    with pytest.raises(OSError, match="No space left"):
        export.write_json_texts(batches(), target)
    assert target.read_bytes() == b"earlier export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["findings.json"]  # no staging file left
    assert len(produced) < 1000  # the producer stopped at the error, not at the end
