"""report.html's findings explorer in a real browser (Chromium through Playwright, tests/browser.py).

The demo report (a real `rolecall audit --demo` run) and a 100,000-row synthetic report written
by the product's HTML path (build_view + write_html, as render_report does) are searched, sorted
and filtered; counts are compared with SQL on the same snapshot; the report's links are followed;
and the page must say nothing on the console. A hostile value must show as text and run nothing.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import duckdb
import pytest

from checks.catalogue import CONTROLS_BY_ID
from checks.control import SEVERITIES
from reports.explorer import CREDENTIAL_REPORT_CONTROLS
from reports.render import write_html
from reports.view import build_view
from store import snapshot
from tests.browser import OpenReport, browser, open_report  # noqa: F401  (browser: fixture)
from tests.demo_run import DemoRun

PAGE_SIZE = 100  # the explorer's default rows per page
SYNTHETIC_ROWS = 100_000
SYNTHETIC_ACCOUNTS = 40
SYNTHETIC_CONTROLS = ("RC-1.1", "RC-1.2", "RC-2.1", "RC-4.1", "RC-6.4")
HOSTILE = "</script><img src=x onerror=window.__pwned=1>"
HOSTILE_REASON = "<!-- </script><script>window.__pwned=2</script> -->"
HOSTILE_EXCEPTION = "EX-\"><img src=x onerror=window.__pwned=3>"
HOSTILE_NAME = "<b onmouseover=window.__pwned=4>prod</b>"


# --- reading the page -----------------------------------------------------------------------


def shown(opened: OpenReport) -> dict[str, Any]:
    """What the explorer shows: rows in the DOM, matching rows, and each filter's value."""
    page = opened.page
    return page.evaluate("""() => {
        const section = document.getElementById('findings');
        const filters = {};
        section.querySelectorAll('select[data-filter]').forEach(s => {
            filters[s.dataset.filter] = s.value;
        });
        return {dom_rows: section.querySelectorAll('tbody tr').length,
                matches: Number(section.dataset.matches),
                counts: section.querySelector('[data-role=counts]').textContent,
                filters: filters,
                search: section.querySelector('[data-role=q]').value};
    }""")


def column(opened: OpenReport, index: int) -> list[str]:
    """The text of one column (1-based, as nth-child) of the rows on the page."""
    return opened.page.eval_on_selector_all(
        f"#findings tbody tr td:nth-child({index})", "cells => cells.map(c => c.textContent)")


ACCOUNT_COLUMN, RESOURCE_COLUMN, STATUS_COLUMN, SEVERITY_COLUMN, REASON_COLUMN = 3, 5, 6, 7, 8


def resources(opened: OpenReport) -> list[str]:
    """The principal / resource of each row on the page (the cell also holds the type)."""
    return opened.page.eval_on_selector_all(
        f"#findings tbody tr td:nth-child({RESOURCE_COLUMN}) span.mono",
        "spans => spans.map(s => s.textContent)")


def option_count(opened: OpenReport, facet: str, value: str) -> int:
    """The count a filter's option shows next to its value, as in "fail (12)"."""
    text = opened.page.eval_on_selector(
        f'#findings select[data-filter="{facet}"]',
        "(s, value) => [...s.options].find(o => o.value === value).textContent", value)
    return int(text.rsplit("(", 1)[1].rstrip(")").replace(",", ""))


def search(opened: OpenReport, term: str) -> None:
    """Type into the search box and wait until the list has followed."""
    box = opened.page.locator("#findings [data-role=q]")
    box.fill(term)
    box.press("Enter")
    opened.page.wait_for_function(
        "term => new URLSearchParams(location.hash.split('?')[1] || '').get('q') === term "
        "|| (term === '' && !location.hash.includes('q='))", arg=term)


def choose(opened: OpenReport, facet: str, value: str) -> None:
    opened.page.select_option(f'#findings select[data-filter="{facet}"]', value)


def sort_by(opened: OpenReport, key: str) -> None:
    opened.page.click(f'#findings th[data-sort="{key}"] button')


# --- expected values, from SQL on the same snapshot ---------------------------------------------


def all_rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cursor = con.execute(
        "SELECT r.control_id, r.guidance_item, r.account_id, a.name AS account_name, "
        "a.ou_path, r.resource_id, r.resource_type, r.status, r.severity, r.reason, "
        "r.exception_id FROM control_results r LEFT JOIN accounts a USING (account_id)")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def search_hits(row: dict[str, Any], term: str) -> bool:
    """The fields the explorer's search reads, as its label texts show them."""
    control = CONTROLS_BY_ID.get(row["control_id"])
    title = control.title if control else "(not in this version's catalogue)"
    account = (row["account_id"] or "") + (f" {row['account_name']}" if row["account_name"] else "")
    fields = [f"{row['control_id']} \u2014 {title}", account, row["ou_path"] or "(none)",
              row["resource_type"] or "(none)", row["exception_id"] or "", row["status"],
              row["severity"] or "(none)", row["reason"] or "", row["resource_id"] or ""]
    return any(term.lower() in f.lower() for f in fields)


# --- the demo report ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_rows(demo: DemoRun) -> list[dict[str, Any]]:
    with duckdb.connect(str(demo.run_dir / "snapshot.duckdb"), read_only=True) as con:
        return all_rows(con)


def test_demo_report_searches_sorts_and_filters(browser: Any, demo: DemoRun,  # noqa: F811
                                                demo_rows: list[dict[str, Any]]) -> None:
    opened = open_report(browser, demo.run_dir / "report.html")
    try:
        first = shown(opened)
        assert first["matches"] == len(demo_rows)  # every result, passes too: the demo is small
        assert first["dom_rows"] == min(PAGE_SIZE, len(demo_rows))
        assert f"of {len(demo_rows)} listed results match" in first["counts"]

        # search: a user name, found in principals and in reasons
        term = "svc-legacy-etl"
        expected = [r for r in demo_rows if search_hits(r, term)]
        assert expected
        search(opened, term)
        assert shown(opened)["matches"] == len(expected)
        for resource, reason in zip(resources(opened), column(opened, REASON_COLUMN), strict=True):
            assert term in resource or term in reason

        # filters, with the counts beside each option following the other filters
        search(opened, "")
        choose(opened, "control", "RC-1.1")
        rc11 = [r for r in demo_rows if r["control_id"] == "RC-1.1"]
        assert shown(opened)["matches"] == len(rc11)
        failing = [r for r in rc11 if r["status"] == "fail"]
        assert option_count(opened, "status", "fail") == len(failing)
        assert option_count(opened, "status", "excepted") == sum(
            r["status"] == "excepted" for r in rc11)
        choose(opened, "status", "fail")
        assert shown(opened)["matches"] == len(failing)
        assert set(column(opened, STATUS_COLUMN)) == {"fail"}  # no exception id under it
        account = failing[0]["account_id"]
        assert option_count(opened, "account", account) == sum(
            r["account_id"] == account for r in failing)
        item_failures = sum(r["guidance_item"] == "G1" and r["status"] == "fail" for r in demo_rows)
        choose(opened, "control", "")
        choose(opened, "item", "G1")
        assert shown(opened)["matches"] == item_failures

        # sort by principal, then the other way round
        sort_by(opened, "resource")
        ascending = resources(opened)
        g1_failing = sorted(r["resource_id"] for r in demo_rows
                            if r["guidance_item"] == "G1" and r["status"] == "fail")
        assert ascending == g1_failing[:PAGE_SIZE]
        sort_by(opened, "resource")
        assert resources(opened) == sorted(g1_failing, reverse=True)[:PAGE_SIZE]
        assert opened.page.get_attribute('#findings th[data-sort="resource"]', "aria-sort") == \
            "descending"

        # severity: the first click shows the most severe first, the second the least
        choose(opened, "item", "")
        sort_by(opened, "severity")
        rank = [SEVERITIES.index(s) for s in column(opened, SEVERITY_COLUMN)]
        present = {r["severity"] for r in demo_rows if r["status"] == "fail"}
        assert rank == sorted(rank) and rank[0] == min(SEVERITIES.index(s) for s in present)
        assert opened.page.get_attribute('#findings th[data-sort="severity"]', "aria-sort") == \
            "descending"
        sort_by(opened, "severity")
        rank = [SEVERITIES.index(s) for s in column(opened, SEVERITY_COLUMN)]
        assert rank == sorted(rank, reverse=True)
        assert opened.problems() == []
    finally:
        opened.page.close()


def test_demo_summary_links_open_the_filtered_view_and_back_returns(
        browser: Any, demo: DemoRun, demo_rows: list[dict[str, Any]]) -> None:  # noqa: F811
    opened = open_report(browser, demo.run_dir / "report.html")
    page = opened.page
    try:
        page.evaluate("window.scrollTo(0, document.getElementById('summary').offsetTop)")
        link = page.locator('#summary a[href="#findings?control=RC-1.1&status=fail"]')
        failing = sum(r["control_id"] == "RC-1.1" and r["status"] == "fail" for r in demo_rows)
        assert link.inner_text() == str(failing)
        link.click()
        page.wait_for_function(
            f"document.getElementById('findings').dataset.matches === '{failing}'")
        view = shown(opened)
        assert view["filters"]["control"] == "RC-1.1" and view["filters"]["status"] == "fail"
        assert page.evaluate("location.hash") == "#findings?control=RC-1.1&status=fail"
        top = page.evaluate("document.getElementById('findings').getBoundingClientRect().top")
        assert abs(top) < 5  # the explorer is scrolled into view
        opened.screenshot("demo-filtered-1280")

        # a control section's link: every result of a control
        page.locator('[id="RC-2.1"] a[href="#findings?control=RC-2.1"]').click()
        page.wait_for_function("location.hash === '#findings?control=RC-2.1'")
        assert shown(opened)["matches"] == sum(r["control_id"] == "RC-2.1" for r in demo_rows)

        # back: the previous filtered view, then the unfiltered report
        page.go_back()
        page.wait_for_function("location.hash === '#findings?control=RC-1.1&status=fail'")
        assert shown(opened)["matches"] == failing
        page.go_back()
        page.wait_for_function("location.hash === ''")
        assert shown(opened)["matches"] == len(demo_rows)
        assert opened.problems() == []
    finally:
        page.close()


def test_demo_findings_link_to_their_evidence_files(
        browser: Any, demo: DemoRun, demo_rows: list[dict[str, Any]]) -> None:  # noqa: F811
    credential = sorted(CREDENTIAL_REPORT_CONTROLS & {r["control_id"] for r in demo_rows})
    assert credential, "the demo has results of credential-report controls"
    opened = open_report(browser, demo.run_dir / "report.html", f"#findings?control={credential[0]}")
    try:
        hrefs = opened.page.eval_on_selector_all(
            "#findings tbody tr:first-child td:last-child a",
            "links => links.map(a => [a.getAttribute('href'), a.href])")
        assert [h for h, _ in hrefs][0] == f"evidence/controls/{credential[0]}.csv"
        assert hrefs[1][0].startswith("evidence/credential_reports/")
        for _, absolute in hrefs:  # each link opens a file of this run folder
            assert Path(unquote(urlparse(absolute).path)).is_file(), absolute
        # following the control CSV link gets the evidence file itself (a browser downloads CSV)
        with opened.page.expect_download() as download:
            opened.page.click("#findings tbody tr:first-child td:last-child a >> nth=0")
        assert download.value.suggested_filename == f"{credential[0]}.csv"
        evidence = demo.run_dir / "evidence" / "controls" / f"{credential[0]}.csv"
        assert Path(download.value.path()).read_bytes() == evidence.read_bytes()
        assert opened.problems() == []
    finally:
        opened.page.close()


def test_demo_report_at_1280_px_uses_the_window(browser: Any, demo: DemoRun) -> None:  # noqa: F811
    opened = open_report(browser, demo.run_dir / "report.html", "#findings?status=fail")
    try:
        page = opened.page
        width = page.evaluate("document.querySelector('#controls table.results').offsetWidth")
        assert width > 1000  # not a 760 px column
        assert page.evaluate("document.getElementById('findings').querySelector('table')"
                             ".offsetWidth") > 1100
        opened.screenshot("demo-1280")
        # printing keeps the rows shown and drops the explorer's controls
        page.emulate_media(media="print")
        assert page.locator("#findings .explorer-controls").is_hidden()
        assert page.locator("#findings tbody tr").first.is_visible()
        assert page.locator("#controls").is_visible()
        page.emulate_media(media="screen")
        assert opened.problems() == []
    finally:
        opened.page.close()


def test_demo_report_without_javascript_keeps_its_chapters(browser: Any,  # noqa: F811
                                                          demo: DemoRun) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto((demo.run_dir / "report.html").resolve().as_uri())
        assert page.locator("#findings .explorer-nojs").is_visible()
        assert page.locator("#findings .explorer-app").is_hidden()
        assert page.locator("#controls table.results").count() > 0  # the capped tables
        assert "evidence/controls/<control id>.csv" in page.locator("#findings").inner_text()
    finally:
        context.close()


# --- 100,000 rows, written by the product's HTML path ---------------------------------------


def synthetic_snapshot(path: Path, rows: int) -> duckdb.DuckDBPyConnection:
    """A snapshot of `rows` control results over SYNTHETIC_ACCOUNTS accounts: about half pass,
    40% fail, the rest error or excepted; every principal distinct (user-000000 ...)."""
    con = snapshot.create(path)
    snapshot.insert_rows(con, "run", [{
        "run_id": "20261201T000000Z", "started_at": datetime(2026, 12, 1, tzinfo=UTC),
        "finished_at": datetime(2026, 12, 1, 0, 5, tzinfo=UTC), "tool_version": "test",
        "organization_id": "o-synthetic", "management_account_id": f"{100000000000:012d}",
        "simulated": True, "config": {}}])
    snapshot.insert_rows(con, "accounts", [
        {"account_id": f"{100000000000 + i:012d}", "name": f"account-{i:02d}",
         "status": "ACTIVE", "ou_path": "Root" if i == 0 else f"Root/OU{i % 4}",
         "is_management": i == 0, "collected": True, "api_calls": 8}
        for i in range(SYNTHETIC_ACCOUNTS)])
    controls = list(SYNTHETIC_CONTROLS)
    severities = [CONTROLS_BY_ID[c].severity for c in controls]
    items = [CONTROLS_BY_ID[c].guidance_item for c in controls]
    con.execute(f"""
        INSERT INTO control_results
        SELECT $controls[1 + i % 5], $items[1 + i % 5],
               format('{{:012d}}', 100000000000 + (i // 5) % {SYNTHETIC_ACCOUNTS}),
               format('arn:aws:iam::{{:012d}}:user/user-{{:06d}}',
                      100000000000 + (i // 5) % {SYNTHETIC_ACCOUNTS}, i),
               'iam_user',
               CASE WHEN i % 20 = 7 THEN 'error' WHEN i % 20 = 11 THEN 'excepted'
                    WHEN i % 10 < 4 THEN 'fail' ELSE 'pass' END,
               $severities[1 + i % 5],
               format('finding {{}} of the synthetic run', i % 997),
               CASE WHEN i % 20 = 11 THEN 'EX-' || (i % 7) END,
               NULL
        FROM range({rows}) t(i)
    """, {"controls": controls, "items": items, "severities": severities})
    return con


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """report.html of SYNTHETIC_ROWS results, and the rows as SQL reads them."""
    folder = tmp_path_factory.mktemp("synthetic")
    con = synthetic_snapshot(folder / "snapshot.duckdb", SYNTHETIC_ROWS)
    try:
        started = time.perf_counter()
        report = write_html(con, build_view(con), folder / "report.html")
        print(f"\n100,000-row report.html: {report.stat().st_size / 1e6:.1f} MB "
              f"in {time.perf_counter() - started:.1f} s")
        return report, all_rows(con)
    finally:
        con.close()


def test_100k_rows_stay_responsive_with_a_small_dom(
        browser: Any, synthetic: tuple[Path, list[dict[str, Any]]]) -> None:  # noqa: F811
    report, rows = synthetic
    started = time.perf_counter()
    opened = open_report(browser, report)
    print(f"100,000-row report ready in the browser in {time.perf_counter() - started:.1f} s")
    try:
        page = opened.page
        first = shown(opened)
        assert first["matches"] == SYNTHETIC_ROWS  # every row, passes too: under the budget
        assert first["dom_rows"] == PAGE_SIZE
        assert page.evaluate("document.querySelectorAll('#findings tr').length") <= PAGE_SIZE + 1
        page.evaluate("document.getElementById('findings').scrollIntoView()")
        opened.screenshot("synthetic-100k")

        # search: one principal among 100,000
        search(opened, "user-077777")
        assert shown(opened)["matches"] == 1
        assert resources(opened) == [r["resource_id"] for r in rows
                                     if r["resource_id"].endswith("user-077777")]
        # a reason shared by about a hundred rows
        search(opened, "finding 996 of")
        assert shown(opened)["matches"] == sum(r["reason"].startswith("finding 996 of")
                                               for r in rows)

        # filters: counts follow, as SQL counts them
        search(opened, "")
        account = f"{100000000000 + 3:012d}"
        choose(opened, "account", account)
        in_account = [r for r in rows if r["account_id"] == account]
        assert shown(opened)["matches"] == len(in_account)
        assert option_count(opened, "status", "error") == sum(
            r["status"] == "error" for r in in_account)
        choose(opened, "status", "error")
        errors = [r for r in in_account if r["status"] == "error"]
        assert shown(opened)["matches"] == len(errors)
        choose(opened, "account", "")
        choose(opened, "ou", "Root/OU1")
        assert shown(opened)["matches"] == sum(
            r["status"] == "error" and r["ou_path"] == "Root/OU1" for r in rows)

        # sort the whole population by principal, descending, then page
        choose(opened, "ou", "")
        choose(opened, "status", "")
        sort_by(opened, "resource")
        sort_by(opened, "resource")
        everything = sorted((r["resource_id"] for r in rows), reverse=True)
        assert resources(opened) == everything[:PAGE_SIZE]
        page.click('#findings [data-page="next"]')
        assert resources(opened) == everything[PAGE_SIZE:2 * PAGE_SIZE]
        assert column(opened, 1)[0] == f"{PAGE_SIZE + 1}"
        assert shown(opened)["dom_rows"] == PAGE_SIZE

        # the summary's link to a control's failures
        control = SYNTHETIC_CONTROLS[0]
        page.locator(f'#summary a[href="#findings?control={control}&status=fail"]').click()
        failing = sum(r["control_id"] == control and r["status"] == "fail" for r in rows)
        page.wait_for_function(
            f"document.getElementById('findings').dataset.matches === '{failing}'")
        assert shown(opened)["dom_rows"] == PAGE_SIZE
        assert opened.problems() == []
    finally:
        opened.page.close()


# --- hostile values ---------------------------------------------------------------------------


def test_hostile_values_are_shown_as_text_and_run_nothing(
        browser: Any, tmp_path: Path) -> None:  # noqa: F811
    con = synthetic_snapshot(tmp_path / "snapshot.duckdb", 50)
    account = f"{100000000000 + 1:012d}"
    con.execute("UPDATE accounts SET name = ?, ou_path = ? WHERE account_id = ?",
                [HOSTILE_NAME, f"Root/{HOSTILE}", account])
    snapshot.insert_rows(con, "control_results", [{
        "control_id": "RC-1.1", "guidance_item": "G1", "account_id": account,
        "resource_id": f"arn:aws:iam::{account}:user/{HOSTILE}", "resource_type": "iam_user",
        "status": "excepted", "severity": "high", "reason": HOSTILE_REASON,
        "exception_id": HOSTILE_EXCEPTION, "evidence": {}}])
    report = write_html(con, build_view(con), tmp_path / "report.html")
    con.close()
    html = report.read_text(encoding="utf-8")
    assert "<img" not in html and "window.__pwned=2</script>" not in html

    opened = open_report(browser, report)
    page = opened.page
    try:
        search(opened, "user/</script>")
        assert shown(opened)["matches"] == 1
        assert resources(opened) == [f"arn:aws:iam::{account}:user/{HOSTILE}"]
        assert column(opened, REASON_COLUMN) == [HOSTILE_REASON]
        assert column(opened, STATUS_COLUMN) == [f"excepted{HOSTILE_EXCEPTION}"]
        assert HOSTILE_NAME in column(opened, ACCOUNT_COLUMN)[0]
        page.hover(f"#findings tbody tr td:nth-child({ACCOUNT_COLUMN})")
        assert page.evaluate("window.__pwned") is None
        assert page.evaluate("document.querySelectorAll('img, b[onmouseover]').length") == 0
        # a hostile OU is a filter value like any other
        search(opened, "")
        choose(opened, "ou", f"Root/{HOSTILE}")
        assert shown(opened)["matches"] == 1 + sum(1 for i in range(50) if (i // 5) % 40 == 1)
        assert opened.problems() == []
    finally:
        page.close()
