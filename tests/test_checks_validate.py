"""checks/validate.py: the evaluate() contract, GX result files and the GX cross-check."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from checks_fixtures import ACCOUNT, OTHER, add_root, add_user, new_snapshot, row, run, user_arn

from checks import validate
from checks.catalogue import IMPLEMENTED
from store import snapshot


def _small(tmp_path: Path) -> Any:
    con = new_snapshot(tmp_path / "s.duckdb", (ACCOUNT, OTHER))
    add_root(con)
    add_user(con, "alice", password=True, keys=({"active": True, "rotated": 200, "used": None},))
    return con


def test_every_implemented_control_has_rows_and_gx_files(tmp_path: Path) -> None:
    con = _small(tmp_path)
    summary = run(con, tmp_path)
    assert set(summary.controls) == set(IMPLEMENTED)
    assert validate.GUIDANCE_ITEMS == ("G1", "G2", "G3", "G4", "G5", "G6")
    for item in validate.GUIDANCE_ITEMS:
        result = json.loads((tmp_path / "gx" / f"{item}.json").read_text())
        assert result["results"], item
        assert all(r["expectation_config"]["meta"]["control_id"].startswith("RC-")
                   for r in result["results"])
        assert not any(r["exception_info"]["raised_exception"] for r in result["results"])
    assert summary.cross_checked
    # no register: RC-1.5 has an empty population, the rest still evaluated
    assert summary.controls["RC-1.5"].counts.population == 0
    assert summary.controls["RC-1.1"].counts.failed == 1


def test_evaluate_twice_replaces_rows(tmp_path: Path) -> None:
    con = _small(tmp_path)
    run(con, tmp_path)
    first = con.execute("SELECT count(*) FROM control_results").fetchone()
    run(con, tmp_path)
    assert con.execute("SELECT count(*) FROM control_results").fetchone() == first


def test_now_is_the_run_start_not_the_wall_clock(tmp_path: Path) -> None:
    con = _small(tmp_path)
    con.execute("UPDATE run SET started_at = ?", [datetime(2026, 1, 1, tzinfo=UTC)])
    summary = run(con, tmp_path)
    assert summary.run_date.isoformat() == "2026-01-01"
    # the key was rotated in 2026-05: "in the future" relative to that run, so not too old
    assert row(con, "RC-1.2", f"{user_arn('alice')}/access_key_1")["status"] == "pass"


def test_a_snapshot_without_a_run_is_refused(tmp_path: Path) -> None:
    con = snapshot.create(tmp_path / "s.duckdb")
    with pytest.raises(ValueError, match="exactly one run"):
        run(con, tmp_path)


def test_failed_source_blocks_only_the_controls_that_need_it(tmp_path: Path) -> None:
    con = _small(tmp_path)
    add_user(con, "bob", OTHER, password=True)
    add_root(con, OTHER)
    con.execute("UPDATE accounts SET collected = false WHERE account_id = ?", [OTHER])
    snapshot.insert_rows(con, "collection_errors", [{
        "account_id": OTHER, "source": "credential_report", "operation": "GetCredentialReport",
        "error_code": "ReportNotReady", "message": "still not complete",
    }])
    run(con, tmp_path)
    rc_2_1 = row(con, "RC-2.1", OTHER)
    assert (rc_2_1["status"], rc_2_1["resource_type"]) == ("error", "account")
    assert rc_2_1["reason"] == (
        "not evaluated: credential_report collection failed: GetCredentialReport "
        "ReportNotReady: still not complete"
    )
    # RC-1.1 only needs the authorization details, which were collected
    assert row(con, "RC-1.1", user_arn("bob", OTHER))["status"] == "fail"


def test_gx_disagreement_turns_the_control_into_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If GX's second computation disagrees, nothing of the control is trusted."""
    from checks.gx_import import gx

    original = validate.expectations

    def wrong(item: str, settings: Any = None) -> list[Any]:
        suite = original(item, settings)
        if item == "G1":  # RC-1.2 restated with the wrong limit: 300 days instead of 90
            suite = [e for e in suite if e.meta["control_id"] != "RC-1.2"] + [
                gx.expectations.ExpectColumnValuesToBeBetween(
                    column="key_age_days", max_value=300,
                    meta={"control_id": "RC-1.2", "counts": "fail", "says": "wrong"})
            ]
        return suite

    monkeypatch.setattr(validate, "expectations", wrong)
    con = _small(tmp_path)
    summary = run(con, tmp_path)
    assert summary.controls["RC-1.2"].cross_check.startswith(
        "GX cross-check failed: the rule gave 1 fail, GX found 0 unexpected"
    )
    result = row(con, "RC-1.2", f"{user_arn('alice')}/access_key_1")
    assert result["status"] == "error"
    assert result["reason"].endswith("(rule said fail: access key 1 last rotated 2026-05-12, "
                                     "200 days before the snapshot (limit 90))")
    assert summary.controls["RC-1.1"].cross_check == "ok"
    assert any(e.startswith("RC-1.2: GX cross-check failed") for e in summary.errors)


def test_gx_expectation_that_raises_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from checks.gx_import import gx

    original = validate.expectations

    def broken(item: str, settings: Any = None) -> list[Any]:
        suite = original(item, settings)
        if item == "G3":
            suite.append(gx.expectations.ExpectColumnValuesToBeInSet(
                column="no_such_column", value_set=[1],
                meta={"control_id": "RC-3.1", "counts": "fail", "says": "broken"}))
        return suite

    monkeypatch.setattr(validate, "expectations", broken)
    con = _small(tmp_path)
    summary = run(con, tmp_path)
    assert "GX expectation 'broken' raised" in summary.controls["RC-3.1"].cross_check
    assert row(con, "RC-3.1", user_arn("alice"))["status"] == "error"
