"""reports/management_response.py: the strict loader of the management response file, and the
Sign-off chapter it feeds (issue 12, item 4)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from reports.management_response import (
    MAX_RESPONSES_BYTES,
    ResponseError,
    load_responses,
    parse_responses,
)
from reports.render import render_html
from reports.view import SigningInfo, build_view
from tests.test_report import build_snapshot

GOOD = """\
responses:
  - control: RC-1.1
    owner: platform-team
    action: Move deploy-bot to a GitHub OIDC role
    due: 2027-01-31
    ticket: SEC-1234
  - control: RC-2.1
    owner: identity-team
    action: Keep break-glass passwords in the safe
    due: 2026-10-01
    ticket: https://jira.example.com/browse/SEC-77
    comment: reviewed quarterly
"""


def test_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "responses.yaml"
    path.write_text(GOOD)
    loaded = load_responses(path)
    assert loaded.source == "responses.yaml"
    first, second = loaded.responses
    assert (first.control, first.owner, first.due, first.ticket) == (
        "RC-1.1", "platform-team", date(2027, 1, 31), "SEC-1234")
    assert first.comment is None and second.comment == "reviewed quarterly"
    assert loaded.for_control("RC-2.1") == second and loaded.for_control("RC-3.1") is None


def test_example_file_in_data_loads() -> None:
    loaded = load_responses(Path(__file__).parent.parent / "data" / "responses.example.yaml")
    assert [r.control for r in loaded.responses] == ["RC-1.1", "RC-1.3"]
    assert all(r.ticket for r in loaded.responses)


def _entry(**fields: str) -> str:
    base = {"control": "RC-1.1", "owner": "team", "action": "fix it", "due": "2027-01-31",
            "ticket": "SEC-1"}
    base.update(fields)
    lines = [f"    {k}: {v}" for k, v in base.items() if v != "DROP"]
    return "responses:\n  -\n" + "\n".join(lines) + "\n"


ERRORS = [
    # (case, text, the one-line error must contain)
    ("unknown control", _entry(control="RC-9.9"),
     'responses.yaml: entry 1 (control "RC-9.9"): control: unknown control "RC-9.9"'),
    ("unknown field", _entry(owners="x"), 'entry 1 (control "RC-1.1"): owners: unknown field'),
    ("missing owner", _entry(owner="DROP"), 'entry 1 (control "RC-1.1"): owner: missing'),
    ("missing control", _entry(control="DROP"), "responses.yaml: entry 1: control: missing"),
    ("empty action", _entry(action='""'), "action: must not be empty"),
    ("missing ticket", _entry(ticket="DROP"), "ticket: missing"),
    ("empty ticket", _entry(ticket='""'), "ticket: must not be empty"),
    ("bad ticket", _entry(ticket="soon"), 'ticket: not a ticket id or URL "soon"'),
    ("bad date", _entry(due="2027-02-30"), 'due: invalid date "2027-02-30"'),
    ("date not ISO", _entry(due="31/01/2027"), 'due: invalid date "31/01/2027", expected YYYY-MM-DD'),
    ("too long", _entry(action="a" * 2001), "action: longer than 2000 characters"),
    ("no responses key", "answers: []\n", "responses.yaml: expected a top-level 'responses:' list"),
    ("extra top-level key", GOOD + "notes: x\n", "unknown top-level key(s): notes"),
    ("not a list", "responses: {a: 1}\n", "responses: expected a list of entries"),
    ("entry not a mapping", "responses:\n  - RC-1.1\n", "entry 1: expected a mapping of fields"),
    ("answered twice", GOOD + GOOD.split("responses:\n")[1],
     'entry 3 (control "RC-1.1"): control: answered twice, first by entry 1'),
    ("duplicate key", _entry() + "    owner: someone-else\n",
     'entry 1 (control "RC-1.1"): owner: duplicate key, at line 4 and again at line 8'),
    ("alias", "base: &b {owner: x}\nresponses: []\n", "YAML anchors are not allowed (&b)"),
    ("malformed", "responses: [a: b: c]", "responses.yaml: not valid YAML at line 1"),
]


@pytest.mark.parametrize(("case", "text", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_file_is_one_line_naming_file_entry_and_field(case: str, text: str, message: str) -> None:
    with pytest.raises(ResponseError) as raised:
        parse_responses(text)
    assert message in str(raised.value)
    assert all(line.startswith("responses.yaml: ") for line in str(raised.value).splitlines())


def test_every_bad_entry_is_reported_at_once() -> None:
    text = _entry(control="RC-9.9") + _entry(due="never").split("responses:\n")[1]
    lines = str(pytest.raises(ResponseError, parse_responses, text).value).splitlines()
    assert len(lines) == 2
    assert 'entry 2 (control "RC-1.1"): due: invalid date "never"' in lines[1]


def test_file_checks_come_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_RESPONSES_BYTES + 1))
    with pytest.raises(ResponseError, match=r"big.yaml: \d+ bytes, more than the limit of 262144 "
                                             r"bytes \(256 KiB\) for a management response file"):
        load_responses(big)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(GOOD.replace("platform-team", "équipe").encode("latin-1"))
    with pytest.raises(ResponseError, match="latin.yaml: not UTF-8 text: byte 0xe9"):
        load_responses(latin)
    with pytest.raises(ResponseError, match="folder.yaml: cannot read: is a folder"):
        (tmp_path / "folder.yaml").mkdir()
        load_responses(tmp_path / "folder.yaml")
    with pytest.raises(ResponseError, match="nope.yaml: cannot read"):
        load_responses(tmp_path / "nope.yaml")


def test_empty_list_is_no_responses() -> None:
    assert parse_responses("responses:\n").responses == ()


# --- The Sign-off chapter ------------------------------------------------------------------------

def _text(html: str) -> str:
    from tests.test_report import _html_text

    return _html_text(html)[0]


@pytest.fixture(scope="module")
def snapshot_con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    con = build_snapshot(tmp_path_factory.mktemp("signoff") / "snapshot.duckdb")
    yield con
    con.close()


SIGNER = SigningInfo(subject="CN=Audit Team,O=Example", fingerprint="ab" * 32, demo=False)


def test_signoff_lists_every_failing_control_with_or_without_response(
    snapshot_con: duckdb.DuckDBPyConnection,
) -> None:
    view = build_view(snapshot_con, responses=parse_responses(GOOD), signing=SIGNER)
    signoff = view.signoff
    assert signoff is not None and signoff.source == "responses.yaml"
    # the snapshot fails RC-1.1, RC-1.3 and RC-1.4; RC-2.1 passes
    assert [r.control_id for r in signoff.failing] == ["RC-1.1", "RC-1.3", "RC-1.4"]
    answered = {r.control_id: r.response for r in signoff.failing}
    assert answered["RC-1.1"] is not None and answered["RC-1.3"] is None
    assert signoff.unanswered == 2
    assert [(r.control_id, r.status) for r in signoff.not_failing] == [("RC-2.1", "compliant")]
    # due 2026-10-01, run 2026-11-28: overdue
    assert signoff.not_failing[0].overdue is True and signoff.failing[0].overdue is False

    text = _text(render_html(view))
    chapter = text[text.index("Sign-off Management responses"):]
    assert "Responses from responses.yaml" in chapter
    assert "2 without a response" in chapter
    assert ("RC-1.1 No IAM users without a documented exception 2 failing platform-team "
            "Move deploy-bot to a GitHub OIDC role 2027-01-31 SEC-1234") in chapter
    assert chapter.count("no response recorded") == 2
    assert "Responses given for controls that did not fail in this run" in chapter
    assert "reviewed quarterly" in chapter
    assert "Prepared by CN=Audit Team,O=Example" in chapter
    assert "rolecall attest RUN --role reviewer|preparer|management" in chapter
    assert "rolecall verify RUN" in chapter


def test_ticket_urls_are_links_and_ids_are_text(
    snapshot_con: duckdb.DuckDBPyConnection,
) -> None:
    html = render_html(build_view(snapshot_con, responses=parse_responses(GOOD)))
    assert '<a href="https://jira.example.com/browse/SEC-77">' in html
    assert '<a href="SEC-1234"' not in html


def test_without_a_file_every_failing_control_reads_no_response(
    snapshot_con: duckdb.DuckDBPyConnection,
) -> None:
    view = build_view(snapshot_con)
    assert view.signoff is not None and view.signoff.source is None
    text = _text(render_html(view))
    chapter = text[text.index("Sign-off Management responses"):]
    assert "No management response file was given with this run" in chapter
    assert chapter.count("no response recorded") == 3
    assert "no signing certificate was given to the renderer" in chapter
