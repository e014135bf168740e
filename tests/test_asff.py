"""ASFF findings (reports/asff.py) and `rolecall publish securityhub` against moto's Security Hub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from checks.catalogue import CONTROLS, CONTROLS_BY_ID
from cli.main import app
from reports import asff

MAPPED = next(c for c in CONTROLS if c.requirements)
RUN = {"run_id": "20261201T000000Z", "started_at": datetime(2026, 12, 1, tzinfo=UTC),
       "management_account_id": "111111111111", "region": "eu-west-1", "organization_id": "o-abc"}
USER = "arn:aws:iam::222222222222:user/alice"


def row(**changes: Any) -> dict[str, Any]:
    return {"control_id": MAPPED.id, "account_id": "222222222222", "resource_id": USER,
            "resource_type": "iam_user", "status": "fail", "severity": None,
            "reason": "alice has a password", "exception_id": None,
            "evidence": '{"secret": "never sent"}', **changes}


def test_id_is_stable_across_runs_and_names_what_was_judged() -> None:
    later = {**RUN, "run_id": "20270101T000000Z", "started_at": datetime(2027, 1, 1, tzinfo=UTC)}
    first = asff.asff_finding(row(), RUN, MAPPED)
    second = asff.asff_finding(row(status="pass"), later, MAPPED)
    assert first["Id"] == second["Id"]
    assert first["Id"].startswith(f"rolecall/{MAPPED.id}/222222222222/")
    assert asff.asff_finding(row(resource_id=USER + "2"), RUN, MAPPED)["Id"] != first["Id"]
    # an excepted result updates the resource's finding; a register entry row gets its own
    assert asff.finding_id(row(status="excepted", exception_id="EX-1")) == first["Id"]
    assert asff.finding_id(row(exception_id="EX-1")) != first["Id"]
    assert first["CreatedAt"] == first["UpdatedAt"] == "2026-12-01T00:00:00.000Z"
    assert second["UpdatedAt"] == "2027-01-01T00:00:00.000Z"


@pytest.mark.parametrize(("status", "compliance", "workflow"), [
    ("pass", "PASSED", "RESOLVED"), ("fail", "FAILED", "NEW"),
    ("excepted", "FAILED", "SUPPRESSED"), ("error", "WARNING", "NEW")])
def test_compliance_and_workflow_status(status: str, compliance: str, workflow: str) -> None:
    finding = asff.asff_finding(row(status=status), RUN, MAPPED)
    assert finding["Compliance"]["Status"] == compliance
    assert finding["Workflow"]["Status"] == workflow


@pytest.mark.parametrize(("severity", "label"), [
    ("critical", "CRITICAL"), ("high", "HIGH"), ("medium", "MEDIUM"), ("low", "LOW"),
    ("info", "INFORMATIONAL")])
def test_severity_label_from_the_row(severity: str, label: str) -> None:
    assert asff.asff_finding(row(severity=severity), RUN, MAPPED)["Severity"] == {"Label": label}


def test_severity_falls_back_to_the_control() -> None:
    finding = asff.asff_finding(row(), RUN, MAPPED)
    assert finding["Severity"]["Label"] == asff.SEVERITY_LABELS[MAPPED.severity]


def test_requirements_resources_and_no_evidence() -> None:
    finding = asff.asff_finding(row(exception_id="EX-9", status="excepted"), RUN, MAPPED)
    assert finding["Compliance"]["RelatedRequirements"] == [
        f"{r.framework} {r.id}" for r in MAPPED.requirements][:32]
    assert finding["Resources"] == [{"Type": "AwsIamUser", "Id": USER, "Partition": "aws",
                                     "Region": "eu-west-1"}]
    assert finding["ProductArn"] == \
        "arn:aws:securityhub:eu-west-1:111111111111:product/111111111111/default"
    assert finding["AwsAccountId"] == "222222222222"
    assert finding["ProductFields"]["rolecall/exception_id"] == "EX-9"
    assert finding["ProductFields"]["rolecall/run_id"] == RUN["run_id"]
    assert "never sent" not in json.dumps(finding)
    assert asff.asff_finding(row(resource_type="organization"), RUN, MAPPED)["Resources"][0]["Type"] \
        == "Other"


def test_lengths_are_bounded() -> None:
    finding = asff.asff_finding(row(reason="x" * 5000), RUN, MAPPED)
    assert len(finding["Description"]) == asff.DESCRIPTION_MAX
    assert all(len(asff.asff_finding(row(), RUN, c)["Title"]) <= asff.TITLE_MAX for c in CONTROLS)
    assert all(len(asff.related_requirements(c)) <= asff.REQUIREMENTS_MAX for c in CONTROLS)


def test_batches_of_100() -> None:
    assert [len(b) for b in asff.batches(range(250))] == [100, 100, 50]


def _snapshot(run_dir: Path, run_id: str, rows: list[dict[str, Any]], org: str = "o-abc") -> None:
    run_dir.mkdir(parents=True)
    with duckdb.connect(str(run_dir / asff.SNAPSHOT)) as con:
        con.execute("CREATE TABLE run (run_id VARCHAR, started_at TIMESTAMPTZ, region VARCHAR, "
                    "management_account_id VARCHAR, organization_id VARCHAR)")
        con.execute("INSERT INTO run VALUES (?, ?, 'eu-west-1', '111111111111', ?)",
                    [run_id, datetime.strptime(run_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC), org])
        con.execute("CREATE TABLE control_results (control_id VARCHAR, account_id VARCHAR, "
                    "resource_id VARCHAR, resource_type VARCHAR, status VARCHAR, severity VARCHAR, "
                    "reason VARCHAR, exception_id VARCHAR)")
        for r in rows:
            con.execute("INSERT INTO control_results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [r[c] for c in asff.ROW_COLUMNS])


def test_resolved_since_the_previous_run_of_the_same_organization(tmp_path: Path) -> None:
    gone, fixed, still = row(resource_id=USER + "-gone"), row(resource_id=USER + "-fixed"), row()
    _snapshot(tmp_path / "20261101T000000Z", "20261101T000000Z", [gone, fixed, still])
    _snapshot(tmp_path / "20261115T000000Z", "20261115T000000Z", [row()], org="o-other")
    _snapshot(tmp_path / "20261201T000000Z", "20261201T000000Z", [{**fixed, "status": "pass"}, still])
    current = tmp_path / "20261201T000000Z"
    previous = asff.previous_run(current)
    assert previous == tmp_path / "20261101T000000Z"
    assert asff.previous_run(previous) is None
    with duckdb.connect(str(current / asff.SNAPSHOT), read_only=True) as con:
        resolved = list(asff.resolved_findings(con, previous))
    assert [f["Id"] for f in resolved] == [asff.finding_id(gone)]
    assert resolved[0]["Compliance"]["Status"] == "PASSED"
    assert resolved[0]["Workflow"]["Status"] == "RESOLVED"
    assert resolved[0]["UpdatedAt"] == "2026-12-01T00:00:00.000Z"


@pytest.fixture
def security_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's Security Hub on 127.0.0.1, enabled, with fake credentials in the environment."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                           "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        client = boto3.client("securityhub", region_name="us-east-1")
        client.enable_security_hub()
        yield client
    finally:
        server.stop()


def _all_findings(client: Any) -> list[dict[str, Any]]:
    return [f for page in client.get_paginator("get_findings").paginate() for f in page["Findings"]]


def test_publish_to_security_hub_and_update_on_a_second_publish(demo: Any, security_hub: Any) -> None:
    expected = demo.query("SELECT count(*) FROM control_results")[0][0]
    args = ["publish", "securityhub", str(demo.run_dir), "--region", "us-east-1"]

    first = CliRunner().invoke(app, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert f"Sent {expected} findings" in first.output
    found = _all_findings(security_hub)
    assert len(found) == expected
    with duckdb.connect(str(demo.run_dir / asff.SNAPSHOT), read_only=True) as con:
        ids = [f["Id"] for f in asff.findings(con)]
    assert sorted(f["Id"] for f in found) == sorted(ids)
    failing = next(f for f in found if f["Compliance"]["Status"] == "FAILED")
    assert failing["ProductArn"].endswith(":product/123456789012/default")
    assert failing["GeneratorId"] == f"rolecall/{failing['ProductFields']['rolecall/control_id']}"
    assert CONTROLS_BY_ID[failing["ProductFields"]["rolecall/control_id"]]

    second = CliRunner().invoke(app, args, catch_exceptions=False)
    assert second.exit_code == 0, second.output
    again = _all_findings(security_hub)
    assert sorted(f["Id"] for f in again) == sorted(ids)


def test_publish_says_when_the_call_is_refused(demo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    result = CliRunner().invoke(app, ["publish", "securityhub", str(demo.run_dir),
                                      "--region", "us-east-1"])
    assert result.exit_code == 2


def test_export_asff_writes_every_result(demo: Any, tmp_path: Path) -> None:
    out = tmp_path / "asff"
    result = CliRunner().invoke(app, ["export", str(demo.run_dir), "--format", "asff",
                                      "--output", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    written = json.loads((out / "findings.asff.json").read_text())
    assert len(written) == demo.query("SELECT count(*) FROM control_results")[0][0]
    assert {f["SchemaVersion"] for f in written} == {asff.SCHEMA_VERSION}
    assert len({f["Id"] for f in written}) == len(written)
    assert (out / "provenance.json").exists()


def test_publish_exits_1_and_lists_refused_findings(demo: Any, security_hub: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Security Hub refuses a finding without resources; the command names it and exits 1."""
    real = asff.findings

    def one_without_resources(con: Any, destination: Any = None) -> Iterator[dict[str, Any]]:
        first, *rest = list(real(con, destination))
        yield {**first, "Resources": []}
        yield from rest

    monkeypatch.setattr(asff, "findings", one_without_resources)
    result = CliRunner().invoke(app, ["publish", "securityhub", str(demo.run_dir),
                                      "--region", "us-east-1"], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "1 refused" in result.output
