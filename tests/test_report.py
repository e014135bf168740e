"""reports/view.py and reports/render.py: what an auditor must find in report.html and report.pdf.

The snapshot is built by hand with store.snapshot so each assertion points at a row we wrote.
PDF text is read back with pypdf.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pypdf import PdfReader
from pypdf.generic import BooleanObject

from reports.render import (
    PDF_ERROR_ROW_CAP,
    PDF_ROW_CAP,
    render_html,
    render_report,
)
from reports.view import build_view
from store import snapshot

RUN_ID = "20261128T002654Z"
MGMT = "111111111111"
PROD = "222222222222"
LOST = "333333333333"
EVIL = "<script>alert('x')</script>"
FAILING_USER = f"arn:aws:iam::{PROD}:user/deploy-bot"
FAILING_REASON = "user exists and no valid exception names it"
MANY = PDF_ROW_CAP + 7  # failures of RC-1.3, enough to trigger the PDF cap


def _result(
    control: str,
    item: str,
    account: str,
    resource: str,
    status: str,
    severity: str,
    reason: str,
    exception_id: str | None = None,
) -> dict[str, Any]:
    return {
        "control_id": control,
        "guidance_item": item,
        "account_id": account,
        "resource_id": resource,
        "resource_type": "iam_user",
        "status": status,
        "severity": severity,
        "reason": reason,
        "exception_id": exception_id,
        "evidence": {"resource": resource},
    }


def build_snapshot(path: Path, *, simulated: bool = False) -> duckdb.DuckDBPyConnection:
    """A three-account organization: one account uncollected, failures in G1 and G2."""
    con = snapshot.create(path)
    snapshot.insert_rows(
        con,
        "run",
        [
            {
                "run_id": RUN_ID,
                "started_at": datetime(2026, 11, 28, 0, 26, 54, tzinfo=UTC),
                "finished_at": datetime(2026, 11, 28, 0, 31, 2, tzinfo=UTC),
                "tool_version": "0.1.0",
                "organization_id": "o-abc123def4",
                "management_account_id": MGMT,
                "simulated": simulated,
                "config": {},
            }
        ],
    )
    snapshot.insert_rows(
        con,
        "accounts",
        [
            {
                "account_id": MGMT,
                "name": "management",
                "status": "ACTIVE",
                "ou_path": "Root",
                "is_management": True,
                "collected": True,
                "api_calls": 12,
            },
            {
                "account_id": PROD,
                "name": "prod",
                "status": "ACTIVE",
                "ou_path": "Root/Workloads/Prod",
                "is_management": False,
                "collected": True,
                "api_calls": 40,
            },
            {
                "account_id": LOST,
                "name": "legacy-sandbox",
                "status": "ACTIVE",
                "ou_path": "Root/Sandbox",
                "is_management": False,
                "collected": False,
                "error": "AccessDenied assuming rolecall-audit",
                "api_calls": 1,
            },
        ],
    )
    snapshot.insert_rows(
        con,
        "collection_errors",
        [
            {
                "account_id": LOST,
                "source": "session",
                "operation": "AssumeRole",
                "error_code": "AccessDenied",
                "message": "not authorized to perform sts:AssumeRole",
                "occurred_at": datetime(2026, 11, 28, 0, 27, 1, tzinfo=UTC),
            }
        ],
    )
    snapshot.insert_rows(
        con,
        "iam_users",
        [
            {"account_id": PROD, "user_name": "deploy-bot", "arn": FAILING_USER},
            {
                "account_id": PROD,
                "user_name": "partner-sync",
                "arn": f"arn:aws:iam::{PROD}:user/partner-sync",
            },
        ],
    )
    snapshot.insert_rows(
        con,
        "exceptions",
        [
            {
                "exception_id": "EX-001",
                "principal": f"arn:aws:iam::{PROD}:user/partner-sync",
                "controls": ["RC-1.1", "RC-3.1"],
                "kind": "external-dependency",
                "dependency": "Partner SFTP gateway needs static keys",
                "reason": "vendor limitation",
                "owner": "team-integrations",
                "approved_by": "ciso@example.com",
                "expires": date(2027, 3, 31),
                "valid": True,
                "problems": [],
            },
            {
                "exception_id": "EX-002",
                "principal": f"arn:aws:iam::{PROD}:user/old-ci",
                "controls": ["RC-1.1"],
                "kind": "external-dependency",
                "dependency": "old CI",
                "reason": "migration",
                "owner": None,
                "approved_by": "ciso@example.com",
                "expires": date(2026, 1, 31),
                "valid": False,
                "problems": [
                    {"code": "expired", "message": "expired on 2026-01-31", "severity": "medium"},
                    "no owner",
                ],
            },
        ],
    )
    results = [
        _result("RC-1.1", "G1", PROD, FAILING_USER, "fail", "high", FAILING_REASON),
        _result(
            "RC-1.1",
            "G1",
            PROD,
            f"arn:aws:iam::{PROD}:user/partner-sync",
            "excepted",
            "high",
            "excepted by EX-001",
            "EX-001",
        ),
        _result("RC-1.1", "G1", PROD, f"arn:aws:iam::{PROD}:user/{EVIL}", "fail", "high", f"name is {EVIL}"),
        _result("RC-1.1", "G1", LOST, LOST, "error", "high", "account not collected"),
        _result("RC-1.4", "G1", MGMT, f"arn:aws:iam::{MGMT}:root", "pass", "critical", "ok"),
        _result(
            "RC-1.4", "G1", PROD, f"arn:aws:iam::{PROD}:root", "fail", "critical", "root user has no MFA"
        ),
        _result("RC-2.1", "G2", MGMT, f"arn:aws:iam::{MGMT}:user/alice", "pass", "high", "ok"),
        _result(
            "RC-3.1",
            "G3",
            PROD,
            f"arn:aws:iam::{PROD}:user/partner-sync",
            "excepted",
            "high",
            "excepted by EX-001",
            "EX-001",
        ),
    ]
    # RC-1.3: more failures than the PDF shows, each with a long unbreakable ARN.
    results += [
        _result(
            "RC-1.3",
            "G1",
            PROD,
            f"arn:aws:iam::{PROD}:user/service/very-long-path-segment-{i:03d}-{'x' * 60}/access_key_1",
            "fail",
            "medium",
            f"never used (key {i:03d})",
        )
        for i in range(MANY)
    ]
    snapshot.insert_rows(con, "control_results", results)
    return con


class _Text(HTMLParser):
    """Collects the text of an HTML document and counts its <script> elements that run (the
    findings explorer's JSON data blocks do not)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and dict(attrs).get("type") != "application/json":
            self.scripts += 1

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _html_text(html: str) -> tuple[str, int]:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split()), parser.scripts


def _pdf_text(pdf: Path) -> str:
    """The PDF's text page by page, pages separated by form feeds as pdftotext does."""
    return "\f".join(page.extract_text() or "" for page in PdfReader(pdf).pages)


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[Path, Path]:
    con = build_snapshot(tmp_path / "snapshot.duckdb")
    con.close()
    return render_report(tmp_path / "snapshot.duckdb", tmp_path / "run")


def test_writes_html_and_pdf(rendered: tuple[Path, Path]) -> None:
    html, pdf = rendered
    assert html.name == "report.html" and pdf.name == "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    assert "<html" in html.read_text(encoding="utf-8")


def test_accepts_an_open_connection(tmp_path: Path) -> None:
    con = build_snapshot(tmp_path / "snapshot.duckdb")
    html, pdf = render_report(con, tmp_path / "run")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert RUN_ID in html.read_text(encoding="utf-8")


def test_pdf_shows_failures_accounts_and_exceptions(rendered: tuple[Path, Path]) -> None:
    text = _flat(_pdf_text(rendered[1]))
    assert "Do not use IAM Users — compliance audit" in text
    assert "o-abc123def4" in text and RUN_ID in text
    assert "2026-11-28 00:26:54 UTC" in text
    # the failing principal and its reason
    # ARNs wrap anywhere, so look for them with the layout's whitespace removed
    assert FAILING_USER in "".join(text.split()) and FAILING_REASON in text
    # the uncollected account and its error
    assert LOST in text and "legacy-sandbox" in text
    assert "AccessDenied assuming rolecall-audit" in text
    assert "not authorized to perform sts:AssumeRole" in text
    # the exceptions with their expiry, validity and problems
    assert "Partner SFTP gateway needs static keys" in text and "2027-03-31" in text
    assert "2026-01-31" in text and "expired on 2026-01-31 (medium, expired)" in text
    assert "no owner" in text and "not valid" in text


def test_pdf_caps_long_failure_tables(rendered: tuple[Path, Path]) -> None:
    text = _flat(_pdf_text(rendered[1]))
    assert f"{MANY - PDF_ROW_CAP} more in evidence/controls/RC-1.3.csv" in text
    assert f"never used (key {PDF_ROW_CAP - 1:03d})" in text
    assert f"never used (key {PDF_ROW_CAP:03d})" not in text
    assert "RC-1.3.csv and in the attached findings.csv" in text


def test_html_shows_what_the_pdf_caps(rendered: tuple[Path, Path]) -> None:
    text, _ = _html_text(rendered[0].read_text(encoding="utf-8"))
    assert f"never used (key {MANY - 1:03d})" in text
    assert "more in evidence/controls/RC-1.3.csv" not in text


def test_footer_carries_run_id_and_page_numbers(rendered: tuple[Path, Path]) -> None:
    pages = _pdf_text(rendered[1]).split("\f")
    body = [p for p in pages if p.strip()]
    assert len(body) > 3
    assert all(RUN_ID in p for p in body)
    assert re.search(rf"page 2 of {len(body)}", _flat(body[1]))


def test_html_escapes_resource_names(rendered: tuple[Path, Path]) -> None:
    html = rendered[0].read_text(encoding="utf-8")
    text, scripts = _html_text(html)
    assert scripts == 1  # the findings explorer's own code; the rows are JSON data blocks
    assert EVIL not in html
    assert "&lt;script&gt;" in html
    assert f"arn:aws:iam::{PROD}:user/{EVIL}" in text  # shown, as text


def test_summary_marks_status_and_unevaluated_controls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a catalogue version that evaluates G1-G3 only: the rest must say "not evaluated"
    monkeypatch.setattr(
        "reports.view.IMPLEMENTED",
        ("RC-1.1", "RC-1.2", "RC-1.3", "RC-1.4", "RC-1.5", "RC-2.1", "RC-2.2", "RC-3.1"),
    )
    con = build_snapshot(tmp_path / "snapshot.duckdb")
    data = build_view(con)
    items = {g.id: g for g in data.guidance}
    assert items["G1"].status == "non-compliant"
    assert items["G1"].counts.failed == 2 + 1 + MANY
    assert items["G1"].counts.failed_by_severity == (("critical", 1), ("high", 2), ("medium", MANY))
    assert items["G2"].status == "compliant"
    assert items["G3"].status == "compliant"
    assert items["G4"].status == "not evaluated"
    controls = {c.id: c for g in data.guidance for c in g.controls}
    assert controls["RC-2.3"].evaluated is False  # neither implemented nor in results
    assert controls["RC-1.2"].evaluated is True  # implemented, empty population
    assert controls["RC-1.1"].counts.error == 1
    # failures sorted by severity then account
    assert [r.severity for r in controls["RC-1.1"].failures] == ["high", "high"]
    text, _ = _html_text(render_html(data))
    assert "RC-2.3" in text and "not evaluated in this version" in text


def test_guidance_with_only_errors_is_incomplete(tmp_path: Path) -> None:
    con = build_snapshot(tmp_path / "snapshot.duckdb")
    snapshot.insert_rows(
        con,
        "control_results",
        [
            _result("RC-2.2", "G2", LOST, LOST, "error", "critical", "account not collected"),
        ],
    )
    items = {g.id: g for g in build_view(con).guidance}
    assert items["G2"].status == "incomplete"


def test_simulated_run_is_flagged_on_every_page(tmp_path: Path) -> None:
    con = build_snapshot(tmp_path / "snapshot.duckdb", simulated=True)
    _, pdf = render_report(con, tmp_path / "run")
    pages = [p for p in _pdf_text(pdf).split("\f") if p.strip()]
    assert "SIMULATED DATA — NOT AUDIT EVIDENCE" in _flat(pages[0])
    assert all("NOT AUDIT EVIDENCE" in p for p in pages)


def test_excepted_results_without_register_entry_are_shown(tmp_path: Path) -> None:
    con = build_snapshot(tmp_path / "snapshot.duckdb")
    snapshot.insert_rows(
        con,
        "control_results",
        [
            _result(
                "RC-2.1",
                "G2",
                PROD,
                "arn:aws:iam::222222222222:user/ghost",
                "excepted",
                "high",
                "excepted",
                "EX-404",
            ),
        ],
    )
    entries = {e.exception_id: e for e in build_view(con).exceptions}
    assert entries["EX-001"].applied == (("RC-1.1", 1), ("RC-3.1", 1))
    assert entries["EX-404"].in_register is False


def test_pdf_caps_error_tables_lower_than_failures(tmp_path: Path) -> None:
    con = build_snapshot(tmp_path / "snapshot.duckdb")
    snapshot.insert_rows(
        con,
        "control_results",
        [
            _result("RC-2.2", "G2", LOST, f"{LOST}-{i:02d}", "error", "critical", f"not collected {i:02d}")
            for i in range(PDF_ERROR_ROW_CAP + 5)
        ],
    )
    data = build_view(con)
    pdf_text, _ = _html_text(render_html(data, medium="pdf"))
    assert "5 more in evidence/controls/RC-2.2.csv" in pdf_text
    assert f"not collected {PDF_ERROR_ROW_CAP - 1:02d}" in pdf_text
    assert f"not collected {PDF_ERROR_ROW_CAP:02d}" not in pdf_text
    html_text, _ = _html_text(render_html(data, medium="html"))
    assert f"not collected {PDF_ERROR_ROW_CAP + 4:02d}" in html_text


def _scp_result(control: str, account: str, status: str, covering: list[tuple[str, str]]) -> dict:
    """An RC-6.x row whose evidence chain has the given (policy, node) pairs covering."""
    row = _result(control, "G6", account, account, status, "high", f"{control} {status}")
    row["resource_type"] = "account"
    row["evidence"] = {"chain": [
        {"id": node, "name": node, "type": "ORGANIZATIONAL_UNIT",
         "policies": [{"name": policy, "policy_id": f"p-{policy}", "covers": True},
                      {"name": "FullAWSAccess", "policy_id": "p-FullAWSAccess", "covers": False}]}
        for policy, node in covering
    ]}
    return row


def test_scp_coverage_groups_accounts_that_read_the_same(tmp_path: Path) -> None:
    con = build_snapshot(tmp_path / "snapshot.duckdb")
    accounts = con.execute("SELECT account_id FROM accounts ORDER BY 1").fetchall()
    a, b, c = (row[0] for row in accounts)
    con.execute("UPDATE accounts SET ou_path = 'Root/Workloads' WHERE account_id IN (?, ?)", [a, b])
    snapshot.insert_rows(con, "control_results", [
        _scp_result("RC-6.2", a, "pass", [("DenyUsers", "Root")]),
        _scp_result("RC-6.3", a, "pass", [("Boundaries", "Workloads")]),
        _scp_result("RC-6.2", b, "pass", [("DenyUsers", "Root")]),
        _scp_result("RC-6.3", b, "pass", [("Boundaries", "Workloads")]),
        _scp_result("RC-6.2", c, "pass", [("DenyUsers", "Root")]),
        _scp_result("RC-6.3", c, "fail", []),
    ])
    (c_path,) = con.execute("SELECT ou_path FROM accounts WHERE account_id = ?", [c]).fetchone()
    groups = build_view(con).scp_coverage
    expected = sorted([(c_path, (c,), "fail"), ("Root/Workloads", (a, b), "pass")])
    assert [(g.ou_path, g.account_ids, g.statuses["RC-6.3"]) for g in groups] == expected
    workloads = next(g for g in groups if a in g.account_ids)
    assert workloads.covering == {"RC-6.2": ["DenyUsers (at Root)"],
                                  "RC-6.3": ["Boundaries (at Workloads)"]}
    text, _ = _html_text(render_html(build_view(con)))
    assert "SCP coverage by account" in text and "no covering SCP" in text


def test_pdf_of_a_large_organization_counts_accounts_per_ou(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reports.render.PDF_ACCOUNT_LIST_CAP", 1)
    data = build_view(build_snapshot(tmp_path / "snapshot.duckdb"))
    pdf_text, _ = _html_text(render_html(data, medium="pdf"))
    html_text, _ = _html_text(render_html(data, medium="html"))
    assert "Accounts per OU" in pdf_text and "All accounts" not in pdf_text
    assert "All accounts" in html_text
    assert sum(total for _, total, _, _ in data.accounts_by_ou) == len(data.accounts)
    for account in data.accounts_not_collected:  # still listed one by one in the PDF
        assert account.account_id in pdf_text


# --- Tagged PDF/A-3b, tickets and the Sign-off chapter (issue 12, items 4, 7, 8) ----------------

RESPONSES = """\
responses:
  - control: RC-1.1
    owner: platform-team
    action: Move deploy-bot to a GitHub OIDC role
    due: 2027-01-31
    ticket: SEC-1234
"""


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The report of build_snapshot, with a ticket on a register entry and a response file."""
    from reports.management_response import parse_responses

    folder = tmp_path_factory.mktemp("tagged")
    con = build_snapshot(folder / "snapshot.duckdb")
    ticketed = _result("RC-1.5", "G1", PROD, f"arn:aws:iam::{PROD}:user/partner-sync", "pass",
                       "medium", "complete and current", "EX-001")
    ticketed["resource_type"] = "exception"
    ticketed["evidence"] = {"ticket": "https://jira.example.com/browse/SEC-900"}
    snapshot.insert_rows(con, "control_results", [ticketed])
    con.execute("UPDATE exceptions SET ticket = 'https://jira.example.com/browse/SEC-900' "
                "WHERE exception_id = 'EX-001'")
    assert con.execute("SELECT count(*) FROM exceptions WHERE ticket IS NOT NULL").fetchone() == (1,)
    try:
        return render_report(con, folder / "run", responses=parse_responses(RESPONSES))
    finally:
        con.close()


def _struct_types(reader: PdfReader) -> dict[str, int]:
    """How many structure elements of each type (/H1, /Table, ...) the PDF's tree holds."""
    counts: dict[str, int] = {}
    todo = [reader.trailer["/Root"]["/StructTreeRoot"]["/K"]]
    while todo:
        node = todo.pop()
        node = node.get_object() if hasattr(node, "get_object") else node
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict) and node.get("/Type") == "/StructElem":
            counts[node["/S"]] = counts.get(node["/S"], 0) + 1
            if "/K" in node:
                todo.append(node["/K"])
    return counts


def test_pdf_is_tagged(tagged: tuple[Path, Path]) -> None:
    reader = PdfReader(tagged[1])
    root = reader.trailer["/Root"]
    assert root["/MarkInfo"]["/Marked"] == BooleanObject(True)
    assert root["/Lang"] == "en"
    types = _struct_types(reader)
    assert types["/Document"] == 1 and types["/H1"] == 1
    assert types["/H2"] >= 8 and types["/H3"] >= 1  # one per chapter at least
    assert types["/Table"] >= 5 and types["/TH"] >= 10 and types["/TD"] >= 50
    assert types["/THead"] >= 1 and types["/TR"] >= 10


def test_tagged_pdf_stays_pdf_a_3b_with_its_attachment(tagged: tuple[Path, Path]) -> None:
    reader = PdfReader(tagged[1])
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
    assert re.search(r'pdfaid:part="3"', xmp) and re.search(r'pdfaid:conformance="B"', xmp)
    assert list(reader.attachments) == ["findings.csv"]
    (csv,) = reader.attachments["findings.csv"]
    assert csv.startswith(b"control_id,") and FAILING_USER.encode() in csv
    # PDF/A-3's associated file (WeasyPrint lists the one file spec twice, tagged or not)
    specs = {ref.idnum: ref.get_object() for ref in reader.trailer["/Root"]["/AF"]}
    assert [(s["/F"], s["/AFRelationship"]) for s in specs.values()] == [("findings.csv", "/Data")]


def test_pdf_shows_exception_tickets_and_the_signoff(tagged: tuple[Path, Path]) -> None:
    text = _flat(_pdf_text(tagged[1]))
    squeezed = "".join(text.split())
    assert "Ticket https://jira.example.com/browse/SEC-900" in text or (
        "Tickethttps://jira.example.com/browse/SEC-900" in squeezed)
    assert "none recorded" in text  # EX-002 has no ticket
    signoff = text[text.index("Sign-off Management responses"):]
    assert "Move deploy-bot to a GitHub OIDC role" in signoff and "SEC-1234" in signoff
    assert "no response recorded" in signoff  # RC-1.3 and RC-1.4 failed without one
    html = tagged[0].read_text(encoding="utf-8")
    assert '<a href="https://jira.example.com/browse/SEC-900">' in html


def test_the_contents_are_a_page_of_their_own_each_entry_ending_in_its_page(
    rendered: tuple[Path, Path],
) -> None:
    """The cover is page 1, the contents page 2; the leader and page number follow an entry's
    whole title (the Migration plan's number once landed in the middle of its line)."""
    pages = _pdf_text(rendered[1]).split("\f")
    assert "Contents" not in pages[0] and "Contents" in pages[1]
    contents = _flat(pages[1])
    migration = re.search(r"Migration plan: a way out for every IAM user, and the burn-down "
                          r"by month ?\.{3,} ?(\d+)", contents)
    assert migration, contents
    page = int(migration.group(1))
    assert "Migration plan" in _flat(pages[page - 1])
