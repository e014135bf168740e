"""The Migration plan chapter and the burn-down across runs, on three monthly audits of the
simulated organization (tests/simulated_history.py audit_three_months): alice (prod, console) and
svc-legacy-etl (dev, access key) are removed after the first month, alice is back in the third."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cli.main import app
from cli.query import read_statements, statement_title
from reports.burndown import ALL_OUS, Burndown, Reappearance, burndown
from reports.migration.of_run import plan_of_run
from reports.render import PDF_MIGRATION_CAP, render_html
from reports.view import build_view
from tests.simulated_history import History, three_months

ROOT = Path(__file__).resolve().parents[1]
QUERIES = {statement_title(q)[:3]: q for q in read_statements((ROOT / "docs" / "queries.sql").read_text())}

# (IAM users, users with an active key, console users) per month, counted from simulated/USERS
# by hand: 11 users, 7 with an active key (svc-retired's key is inactive), 3 with a password.
MONTHS = [(11, 7, 3), (9, 6, 2), (10, 6, 3)]
BY_OU = {
    "Root": [(1, 0, 1)] * 3,  # break-glass-admin in the management account
    "Root/Security": [(0, 0, 0)] * 3,
    "Root/Shared": [(3, 3, 0)] * 3,
    "Root/Workloads/Dev": [(3, 2, 0), (2, 1, 0), (2, 1, 0)],  # svc-legacy-etl removed
    "Root/Workloads/Prod": [(4, 2, 2), (3, 2, 1), (4, 2, 2)],  # alice removed, then back
}
# Chapters of report.html in order (the README's list under "The report").
CHAPTERS = ["summary", "findings", "scope", "completeness", "controls", "frameworks", "migration",
            "exceptions", "signoff", "accounts", "reproduce", "evidence"]


@pytest.fixture(scope="module")
def burned(monthly_history: History) -> Burndown:
    with duckdb.connect(str(monthly_history.run_dirs[-1] / "snapshot.duckdb"), read_only=True) as con:
        return burndown(con, monthly_history.run_dirs)


def counts(m: object) -> tuple[int, int, int]:
    return (m.iam_users, m.active_keys, m.console_users)  # type: ignore[attr-defined]


def chapter(run_dir: Path) -> str:
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    start = html.index('<section id="migration"')
    return html[start:html.index("</section>", start)]


def test_the_burndown_counts_each_month_and_each_ou(burned: Burndown, monthly_history: History) -> None:
    assert burned.periods == three_months()
    assert [counts(m) for m in burned.months] == MONTHS
    assert [m.run_id for m in burned.months] == [d.name for d in monthly_history.run_dirs]
    assert {ou: [counts(burned.of_ou(ou)[p]) for p in burned.periods] for ou in burned.ous} == BY_OU
    assert burned.not_collected == {}


def test_the_user_who_came_back_is_named_and_the_one_removed_for_good_is_not(
        burned: Burndown, monthly_history: History) -> None:
    alice = monthly_history.sim.user_arn("prod", "alice")
    _, removed, back = three_months()
    assert burned.reappeared == (
        Reappearance(alice, monthly_history.sim.account_ids["prod"], removed, back),)
    text = chapter(monthly_history.run_dirs[-1])
    came_back = text[text.index("Users that came back"):]
    assert alice in came_back and f"<td>{removed}</td><td>{back}</td>" in came_back
    assert "svc-legacy-etl" not in came_back


def test_past_the_budget_the_counts_stay_and_the_returns_are_left_to_query_18(
        monthly_history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    """Millions of users per run are not compared in Python while the report renders; the
    counts, which are SQL aggregates, are the same."""
    from reports import burndown as module

    monkeypatch.setattr(module, "REAPPEARANCE_USERS", 9)  # months of 11, 9 and 10 users
    run = monthly_history.run_dirs[-1]
    with duckdb.connect(str(run / "snapshot.duckdb"), read_only=True) as con:
        limited = burndown(con, monthly_history.run_dirs)
        view = build_view(con, history_runs=monthly_history.run_dirs)
    assert [counts(m) for m in limited.months] == MONTHS
    assert limited.reappeared == () and not limited.reappearances_listed
    html = render_html(view, medium="pdf")
    came_back = html[html.index("Users that came back"):]
    assert "Query 18 of docs/queries.sql lists them" in came_back
    assert monthly_history.sim.user_arn("prod", "alice") not in came_back


def test_the_chapter_shows_the_plan_rolecall_plan_writes(monthly_history: History,
                                                         tmp_path: Path) -> None:
    run = monthly_history.run_dirs[-1]
    result = CliRunner().invoke(app, ["plan", str(run), "-o", str(tmp_path / "plan")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "plan" / "plan.csv").read_text())))
    written = Counter(r["target_kind"] for r in rows)
    text = chapter(run)
    assert f"each of the {len(rows)} IAM users" in text
    by_target = text[text.index("Users by target"):text.index("Users by account")]
    assert sorted(re.findall(r'<td class="mono">([^<]+)</td><td class="num">(\d+)</td>', by_target)) \
        == sorted((kind, str(n)) for kind, n in written.items())
    listed = re.findall(r'<td class="num">\d+</td>\s*<td><span class="mono">([^<]+)</span>', text)
    assert listed == [r["user"] for r in rows]  # the same order: riskiest, then oldest
    # the burn-down chart of three months sits in the chapter, described for screen readers
    assert f'aria-label="Burn-down over 3 month(s), from {three_months()[0]} to ' in text


def test_chapters_come_in_order_with_the_migration_plan_in_the_contents(
        monthly_history: History) -> None:
    html = (monthly_history.run_dirs[-1] / "report.html").read_text(encoding="utf-8")
    ids = re.findall(r'<section id="([a-z]+)" class="chapter', html)
    assert ids == CHAPTERS
    assert '<li><a href="#migration">Migration plan: a way out for every IAM user' in html
    readme = (ROOT / "README.md").read_text()
    assert "framework mappings, migration plan (with the burn-down), exceptions" in readme


def test_the_pdf_lists_fifty_users_and_says_where_the_rest_are(monthly_history: History) -> None:
    run = monthly_history.run_dirs[-1]
    with duckdb.connect(str(run / "snapshot.duckdb"), read_only=True) as con:
        view = build_view(con, history_runs=monthly_history.run_dirs)
        plan = plan_of_run(con)
    assert plan is not None
    many = dataclasses.replace(plan, entries=plan.entries * 6)  # 60 users
    html = render_html(dataclasses.replace(view, migration=many), medium="pdf")
    text = html[html.index('<section id="migration"'):]
    assert f"Showing the first {PDF_MIGRATION_CAP} of {len(many.entries)} users" in text
    assert f"rolecall plan {run.name}</span> writes all {len(many.entries)}" in text


def test_a_run_with_more_users_than_the_report_plans_says_so_and_keeps_the_burndown(
        monthly_history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 10,000-account run holds millions of users: the report does not plan them user by user
    while it renders, and says that `rolecall plan RUN` does."""
    from reports.migration import of_run

    monkeypatch.setattr(of_run, "REPORT_PLAN_USERS", 5)  # the third month has 10 users
    run = monthly_history.run_dirs[-1]
    with duckdb.connect(str(run / "snapshot.duckdb"), read_only=True) as con:
        view = build_view(con, history_runs=monthly_history.run_dirs)
    assert view.migration is None and view.iam_users == 10
    html = render_html(view, medium="pdf")
    text = html[html.index('<section id="migration"'):]
    assert "This run has 10 IAM users, more than the 5 the report plans" in text
    assert f"rolecall plan {run.name}" in text and "Users by target" not in text
    assert view.burndown is not None and view.burndown.months[-1].iam_users == 10


def _history_sql(history: History, query: str) -> list[dict]:
    result = CliRunner().invoke(app, ["sql", "--runs", str(history.runs_root), "--history",
                                      "-f", "json", "--", query], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_query_17_gives_the_charts_numbers(burned: Burndown, monthly_history: History) -> None:
    rows = _history_sql(monthly_history, QUERIES["17."])
    by_sql = {(r["period"], r["ou_path"]): (r["run_id"], r["iam_users"], r["active_keys"],
                                            r["console_users"]) for r in rows}
    by_chart = {(m.period, m.ou_path): (m.run_id, *counts(m)) for m in burned.months + burned.by_ou}
    assert by_sql == by_chart
    assert [by_sql[(p, ALL_OUS)][1:] for p in three_months()] == MONTHS


def test_query_18_names_the_user_who_came_back(burned: Burndown, monthly_history: History) -> None:
    rows = _history_sql(monthly_history, QUERIES["18."])
    assert [Reappearance(r["arn"], r["account_id"], r["removed_in"], r["back_in"]) for r in rows] \
        == list(burned.reappeared)
