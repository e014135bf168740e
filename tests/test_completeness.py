"""checks/completeness.py: the completeness suite, one case per check (CP-1..CP-4), pass and fail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from checks.completeness import POPULATION_SOURCES, RESULT_FILE, check_completeness, summarize
from store import snapshot

STARTED = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
A, B = "111111111111", "222222222222"


def arn(account: str, user: str) -> str:
    return f"arn:aws:iam::{account}:user/{user}"


def build(tmp_path: Path, *, simulated: bool = False) -> duckdb.DuckDBPyConnection:
    """Two collected accounts, consistent and fresh: every check passes."""
    con = snapshot.create(tmp_path / "snapshot.duckdb")
    snapshot.insert_rows(con, "run", [{"run_id": "20261128T000000Z", "started_at": STARTED,
                                       "simulated": simulated, "config": {}}])
    snapshot.insert_rows(con, "accounts", [{"account_id": a, "collected": True} for a in (A, B)])
    users = [(A, "alice"), (A, "bob"), (B, "carol")]
    snapshot.insert_rows(con, "iam_users", [{"account_id": a, "user_name": u, "arn": arn(a, u)}
                                            for a, u in users])
    report = [{"account_id": a, "user": u, "generated_time": STARTED - timedelta(hours=1)}
              for a, u in users]
    report += [{"account_id": a, "user": "<root_account>", "generated_time": STARTED - timedelta(hours=1)}
               for a in (A, B)]
    snapshot.insert_rows(con, "credential_report", report)
    snapshot.insert_rows(con, "control_results", [
        {"control_id": "RC-1.1", "guidance_item": "G1", "account_id": a, "resource_id": arn(a, u),
         "status": "fail", "severity": "high"} for a, u in users])
    # every other control whose source holds rows evaluated one member
    snapshot.insert_rows(con, "control_results", [
        {"control_id": cid, "guidance_item": f"G{cid[3]}", "account_id": A, "resource_id": A,
         "status": "pass"}
        for cid, sql in POPULATION_SOURCES.items()
        if cid != "RC-1.1" and con.execute(sql).fetchall()[0][0]])
    return con


def run(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> dict[str, Any]:
    summary = check_completeness(con, tmp_path / "gx")
    written = tmp_path / "gx" / RESULT_FILE
    # the evidence file says what the report is given
    assert summarize(json.loads(written.read_text()), written) == summary
    return {c.id: c for c in summary.checks}


def test_all_checks_pass_on_a_whole_population(tmp_path: Path) -> None:
    checks = run(build(tmp_path), tmp_path)
    assert set(checks) == {"CP-1", "CP-2", "CP-3", "CP-4"}
    assert all(c.success and not c.failures for c in checks.values()), checks
    assert checks["CP-1"].checked == 2 and checks["CP-2"].checked == 2 and checks["CP-3"].checked == 2


def test_cp1_account_not_collected_without_error_fails(tmp_path: Path) -> None:
    con = build(tmp_path)
    snapshot.insert_rows(con, "accounts", [
        {"account_id": "333333333333", "collected": False, "error": "AccessDenied"},
        {"account_id": "444444444444", "collected": False}])
    cp1 = run(con, tmp_path)["CP-1"]
    assert not cp1.success
    assert cp1.failures == [("444444444444", "not collected and no error recorded")]


def test_cp2_users_differ(tmp_path: Path) -> None:
    con = build(tmp_path)
    snapshot.insert_rows(con, "iam_users", [{"account_id": B, "user_name": "dave"}])
    cp2 = run(con, tmp_path)["CP-2"]
    assert not cp2.success
    assert cp2.failures == [(B, "credential report 1 users, authorization details 2 users; "
                                "only in authorization details: dave")]


def test_cp2_not_checkable_when_a_source_failed(tmp_path: Path) -> None:
    con = build(tmp_path)
    snapshot.insert_rows(con, "collection_errors", [
        {"account_id": B, "source": "authorization", "error_code": "AccessDenied"}])
    cp2 = run(con, tmp_path)["CP-2"]
    assert cp2.success and cp2.checked == 1 and cp2.not_checkable == 1


@pytest.mark.parametrize("simulated", [False, True])
def test_cp3_old_credential_report_fails(tmp_path: Path, simulated: bool) -> None:
    con = build(tmp_path, simulated=simulated)
    con.execute("UPDATE credential_report SET generated_time = '2015-02-02 00:00:00+00' "
                "WHERE account_id = ?", [A])
    cp3 = run(con, tmp_path)["CP-3"]
    assert not cp3.success
    ((account, detail),) = cp3.failures
    assert account == A and detail.startswith("generated 2015-02-02 00:00:00 UTC")
    assert detail.endswith("moto) fixes this value") == simulated


def test_cp4_empty_population_where_data_exists_fails(tmp_path: Path) -> None:
    con = build(tmp_path)
    con.execute("DELETE FROM control_results WHERE control_id = 'RC-1.1'")
    snapshot.insert_rows(con, "control_results", [
        {"control_id": "RC-1.1", "guidance_item": "G1", "account_id": A, "resource_id": A,
         "status": "error", "severity": "high"}])
    cp4 = run(con, tmp_path)["CP-4"]
    assert not cp4.success
    ((control, detail),) = cp4.failures
    assert control == "RC-1.1" and detail.startswith("0 evaluated; 3 rows in its source (iam_users)")
