"""reports/history.py and reports/chart.py: changes since the previous run and counts over runs.

Two runs of a small organization with a change between them: bob is removed (his RC-1.1 failure is
resolved), alice gets an access key (a new RC-3.1 failure), carol's RC-1.1 failure persists. The
earlier run is complete (no .partial suffix); the current one is still being built.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pypdf import PdfReader

from reports.burndown import ALL_OUS, MonthCounts
from reports.chart import burndown_svg, trend_svg
from reports.history import TrendPoint, baseline_for, changes, trend
from reports.render import FINDINGS_CSV, render_report
from reports.view import SigningInfo
from store import snapshot

ACCOUNT = "222222222222"
BEFORE, AFTER = "20261028T000000Z", "20261128T000000Z"


def arn(user: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{user}"


def result(control: str, user: str, status: str, severity: str = "high") -> dict[str, Any]:
    return {"control_id": control, "guidance_item": f"G{control[3]}", "account_id": ACCOUNT,
            "resource_id": arn(user), "resource_type": "iam_user", "status": status,
            "severity": severity, "reason": f"{control} {status} for {user}", "evidence": {}}


def make_run(path: Path, run_id: str, users: dict[str, dict[str, bool]],
             results: list[dict[str, Any]], *, collected: bool = True,
             organization_id: str = "o-test") -> duckdb.DuckDBPyConnection:
    """A snapshot with one account; users maps name -> {password, key} flags."""
    path.mkdir(parents=True)
    con = snapshot.create(path / "snapshot.duckdb")
    started = datetime.strptime(run_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    snapshot.insert_rows(con, "run", [{"run_id": run_id, "started_at": started,
                                       "organization_id": organization_id, "config": {}}])
    snapshot.insert_rows(con, "accounts", [{"account_id": ACCOUNT, "name": "prod",
                                            "collected": collected}])
    if not collected:
        snapshot.insert_rows(con, "collection_errors", [{
            "account_id": ACCOUNT, "source": "session", "operation": "AssumeRole",
            "error_code": "AccessDenied", "message": "denied", "occurred_at": started}])
    snapshot.insert_rows(con, "iam_users", [{"account_id": ACCOUNT, "user_name": u, "arn": arn(u)}
                                            for u in users])
    snapshot.insert_rows(con, "credential_report", [
        {"account_id": ACCOUNT, "user": u, "arn": arn(u), "password_enabled": f["password"],
         "access_key_1_active": f["key"], "access_key_2_active": False, "generated_time": started}
        for u, f in users.items()])
    snapshot.insert_rows(con, "control_results", results)
    return con


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path, duckdb.DuckDBPyConnection]:
    runs = tmp_path / "runs"
    before = runs / BEFORE
    make_run(before, BEFORE,
             {"alice": {"password": True, "key": False}, "bob": {"password": False, "key": True},
              "carol": {"password": False, "key": True}},
             [result("RC-1.1", "alice", "excepted"), result("RC-1.1", "bob", "fail"),
              result("RC-1.1", "carol", "fail"), result("RC-3.1", "alice", "pass"),
              result("RC-3.1", "bob", "fail"), result("RC-3.1", "carol", "excepted")]).close()
    current = runs / f"{AFTER}.partial"
    con = make_run(current, AFTER,
                   {"alice": {"password": True, "key": True}, "carol": {"password": False, "key": True}},
                   [result("RC-1.1", "alice", "excepted"), result("RC-1.1", "carol", "fail"),
                    result("RC-3.1", "alice", "fail", "critical"),
                    result("RC-3.1", "carol", "excepted")])
    return before, current, con


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_baseline_is_the_newest_earlier_complete_run(two_runs: tuple) -> None:
    before, current, _ = two_runs
    (before.parent / "20261101T000000Z.partial").mkdir()  # incomplete: never a baseline
    (before.parent / "20261201T000000Z").mkdir()  # later and without a snapshot
    assert baseline_for(current) == before
    assert baseline_for(before) is None


def test_new_resolved_and_persisting_failures(two_runs: tuple) -> None:
    before, _, con = two_runs
    found = changes(con, before)
    assert found.baseline_run_id == BEFORE
    rc11, rc31 = found.for_control("RC-1.1"), found.for_control("RC-3.1")
    assert (rc11.new, rc11.resolved, rc11.persisting) == (0, 1, 1)
    assert [(c.resource_id, c.status_now) for c in rc11.resolved_rows] == [(arn("bob"), None)]
    assert (rc31.new, rc31.resolved, rc31.persisting) == (1, 1, 0)
    assert [(c.resource_id, c.severity) for c in rc31.new_rows] == [(arn("alice"), "critical")]
    assert [c.resource_id for c in rc31.resolved_rows] == [arn("bob")]
    assert found.for_controls(["RC-1.1", "RC-3.1"]).new == 1
    # the baseline is detached again
    assert "rolecall_baseline" not in {r[0] for r in con.execute(
        "SELECT database_name FROM duckdb_databases()").fetchall()}


def test_baseline_is_the_newest_run_of_the_organization_that_saw_everything(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    users = {"bob": {"password": False, "key": True}}
    complete = runs / "20261001T000000Z"
    make_run(complete, complete.name, users, [result("RC-1.1", "bob", "fail")]).close()
    blind = runs / "20261020T000000Z"  # AssumeRole denied: it saw nothing of the account
    make_run(blind, blind.name, users, [result("RC-1.1", ACCOUNT, "error")], collected=False).close()
    other = runs / "20261025T000000Z"  # another organization's run in the same folder
    make_run(other, other.name, users, [], organization_id="o-other").close()
    current = runs / f"{AFTER}.partial"
    make_run(current, AFTER, users, [result("RC-1.1", "bob", "fail")]).close()
    assert baseline_for(current, "o-test") == complete
    assert baseline_for(current, "o-other") == other
    assert baseline_for(current, "o-none") is None
    # with no complete run of the organization, the newest one is compared (on what both saw)
    only_blind = tmp_path / "only" / "20261020T000000Z"
    make_run(only_blind, only_blind.name, users, [], collected=False).close()
    assert baseline_for(tmp_path / "only" / f"{AFTER}.partial", "o-test") == only_blind


def test_an_account_one_run_could_not_see_is_neither_new_nor_resolved(tmp_path: Path) -> None:
    users = {"bob": {"password": False, "key": True}, "carol": {"password": True, "key": False}}
    seen = tmp_path / "runs" / BEFORE
    make_run(seen, BEFORE, users, [result("RC-1.1", "bob", "fail"),
                                   result("RC-1.1", "carol", "fail")]).close()
    blind = tmp_path / "runs" / f"{AFTER}.partial"
    error = {**result("RC-1.1", ACCOUNT, "error"), "resource_type": "account"}
    with make_run(blind, AFTER, users, [error], collected=False) as con:
        rc11 = changes(con, seen).for_control("RC-1.1")
    assert (rc11.new, rc11.resolved, rc11.persisting, rc11.not_compared) == (0, 0, 0, 2)
    # and the other way round: failures now, in an account the baseline could not see
    later = tmp_path / "later" / "20261228T000000Z.partial"
    with make_run(later, "20261228T000000Z", users, [result("RC-1.1", "bob", "fail")]) as con:
        rc11 = changes(con, blind).for_control("RC-1.1")
    assert (rc11.new, rc11.resolved, rc11.not_compared) == (0, 0, 1)


def test_a_source_that_failed_for_one_control_keeps_only_that_control_out(tmp_path: Path) -> None:
    users = {"bob": {"password": False, "key": True}}
    before = tmp_path / "runs" / BEFORE
    make_run(before, BEFORE, users, [result("RC-1.1", "bob", "fail"),
                                     result("RC-3.2", "bob", "fail")]).close()
    current = tmp_path / "runs" / f"{AFTER}.partial"
    with make_run(current, AFTER, users, [{**result("RC-3.2", ACCOUNT, "error"),
                                           "resource_type": "account"}]) as con:
        found = changes(con, before)
    assert found.for_control("RC-1.1").resolved == 1  # collected in both: bob's failure is gone
    assert (found.for_control("RC-3.2").resolved, found.for_control("RC-3.2").not_compared) == (0, 1)


def test_change_lists_are_cut_but_counts_are_whole(two_runs: tuple) -> None:
    before, _, con = two_runs
    found = changes(con, before, limit=0)
    assert found.for_control("RC-3.1").new == 1 and found.for_control("RC-3.1").new_rows == []


def test_trend_counts_every_run(two_runs: tuple) -> None:
    before, _, con = two_runs
    points = trend(con, [before])
    assert [(p.run_id, p.iam_users, p.active_keys, p.console_users) for p in points] == [
        (BEFORE, 3, 2, 1), (AFTER, 2, 2, 1)]


def test_chart_is_deterministic_svg(two_runs: tuple) -> None:
    before, _, con = two_runs
    points = trend(con, [before])
    svg = trend_svg(points)
    assert svg.startswith("<svg") and svg == trend_svg(points)
    assert "<dc:date>" not in svg
    # labels are text in the report's font (selectable in the PDF), not glyph outlines
    assert ">IAM users</text>" in svg and "DejaVuSans-" not in svg  # no glyph definitions
    assert "font-family: 'DejaVu Sans', sans-serif" in svg


def test_the_two_charts_of_one_report_share_no_element_id() -> None:
    trend_chart = trend_svg([TrendPoint(BEFORE, 3, 2, 1), TrendPoint(AFTER, 2, 2, 1)])
    burndown_chart = burndown_svg([MonthCounts("2026-10", BEFORE, ALL_OUS, 3, 2, 1),
                                   MonthCounts("2026-11", AFTER, ALL_OUS, 2, 2, 1)])
    ids = [re.findall(r'\bid="([^"]+)"', svg) for svg in (trend_chart, burndown_chart)]
    assert all(ids) and not set(ids[0]) & set(ids[1])
    for svg, own in zip((trend_chart, burndown_chart), ids, strict=True):
        # every reference (xlink:href="#..", url(#..)) points at an element of the same chart
        references = set(re.findall(r'(?:href="#|url\(#)([^")]+)', svg))
        assert references and references <= set(own)


def test_report_shows_changes_and_leaves_the_earlier_run_unchanged(two_runs: tuple) -> None:
    before, current, con = two_runs
    con.execute("CHECKPOINT")
    con.close()
    bytes_before = {p.name: digest(p) for p in before.iterdir()}
    signing = SigningInfo("CN=rolecall DEMO", "ab" * 32, demo=True)
    html, pdf = render_report(current / "snapshot.duckdb", current, signing=signing)
    assert {p.name: digest(p) for p in before.iterdir()} == bytes_before
    text = " ".join(html.read_text(encoding="utf-8").split())
    since = f'Since run <span class="mono">{BEFORE}</span>: <strong>1 new</strong> failures, 2 resolved'
    assert since in text
    assert "New since run " + BEFORE in text and "Resolved since run " + BEFORE in text
    assert "no longer in the population" in text  # bob is gone
    assert "DEMO KEY" in text and "ab" * 32 in text
    assert "<svg" in text
    reader = PdfReader(pdf)
    assert FINDINGS_CSV in reader.attachments
    (csv_bytes,) = reader.attachments[FINDINGS_CSV]
    lines = csv_bytes.decode().splitlines()
    assert lines[0].split(",") == ["control_id", "guidance_item", "account_id", "resource_id",
                                   "resource_type", "status", "severity", "reason", "exception_id"]
    assert len(lines) == 1 + 2 and all(",fail," in line for line in lines[1:])
    xmp = reader.xmp_metadata
    assert xmp is not None
    raw = xmp.stream.get_data().decode()
    # element or attribute form (pyHanko rewrites the packet when it signs)
    assert re.search(r'pdfaid:part(>|=")3', raw) and re.search(r'pdfaid:conformance(>|=")B', raw)


def test_report_without_earlier_run_says_so(tmp_path: Path) -> None:
    run = tmp_path / "runs" / f"{AFTER}.partial"
    make_run(run, AFTER, {"alice": {"password": False, "key": False}},
             [result("RC-1.1", "alice", "fail")]).close()
    html, _ = render_report(run / "snapshot.duckdb", run)
    text = " ".join(html.read_text(encoding="utf-8").split())
    assert "No earlier complete run was found" in text
    assert "snapshot.duckdb" in text and hashlib.sha256(
        (run / "snapshot.duckdb").read_bytes()).hexdigest() in text
