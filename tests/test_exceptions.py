"""checks/exceptions.py: loading the register strictly, and judging entries (RC-1.5 inputs)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from checks.exceptions import (
    MAX_TERM_DAYS,
    Entry,
    Register,
    RegisterError,
    RegisterPolicy,
    entry_problems,
    is_valid,
    load_register,
    parse_register,
    valid_exception_for,
    valid_exception_rows,
)

AS_OF = date(2026, 11, 28)
ALICE = "arn:aws:iam::111111111111:user/alice"

GOOD = """\
exceptions:
  - id: ci-deployer
    principal: arn:aws:iam::111111111111:user/alice
    controls: [RC-1.1, RC-3.1]
    kind: external-dependency
    dependency: vendor SFTP
    reason: vendor has no OIDC
    owner: platform-team
    approved_by: ciso
    expires: 2027-01-31
    approved_on: 2026-11-01
"""


def _with(**fields: str) -> str:
    """GOOD with some fields of its entry replaced (value "DROP" removes the line)."""
    lines = []
    for line in GOOD.splitlines():
        key = line.strip().lstrip("- ").split(":")[0]
        if key in fields and line.startswith("    ") or (key == "id" and "id" in fields):
            value = fields[key]
            if value == "DROP":
                if key == "id":
                    lines.append("  -")
                continue
            prefix = line[: line.index(key)]
            lines.append(f"{prefix}{key}: {value}")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def test_good_register_loads(tmp_path: Path) -> None:
    path = tmp_path / "exceptions.yaml"
    path.write_text(GOOD)
    register = load_register(path)
    (entry,) = register.entries
    assert entry.id == "ci-deployer"
    assert entry.controls == ("RC-1.1", "RC-3.1")
    assert entry.expires == date(2027, 1, 31)
    assert entry.approved_on == date(2026, 11, 1)
    assert entry.account_id == "111111111111"


def test_example_register_in_data_loads() -> None:
    register = load_register(Path(__file__).parent.parent / "data" / "exceptions.example.yaml")
    assert len(register.entries) >= 2
    assert {e.kind for e in register.entries} == {"external-dependency", "break-glass"}


LOAD_ERRORS = [
    # (case, register text, the error message must contain)
    ("malformed YAML", "exceptions: [a: b: c]", "exceptions.yaml: not valid YAML at line 1"),
    ("no exceptions key", "entries: []\n", "expected a top-level 'exceptions:' list"),
    ("not a list", "exceptions: {a: 1}\n", "exceptions: expected a list of entries"),
    ("wrong date", _with(expires='"2026-13-01"'),
     'exceptions.yaml: entry 1 (id "ci-deployer"): expires: invalid date "2026-13-01"'),
    ("unquoted wrong date", _with(expires="2026-13-01"),
     'entry 1 (id "ci-deployer"): expires: invalid date "2026-13-01"'),
    ("date as number", _with(expires="20270131"), "expires: invalid date 20270131"),
    ("wrong approved_on", _with(approved_on="yesterday"), 'approved_on: invalid date "yesterday"'),
    ("unknown control", _with(controls="[RC-1.1, RC-9.9]"),
     'entry 1 (id "ci-deployer"): controls: unknown control "RC-9.9"'),
    ("control never excepted", _with(controls="[RC-1.2]"),
     "controls: RC-1.2 cannot be excepted: excepted users still rotate their keys"),
    ("controls not a list", _with(controls="RC-1.1"), 'controls: expected a list, got "RC-1.1"'),
    ("empty controls", _with(controls="[]"), "controls: must not be empty"),
    ("unknown kind", _with(kind="vendor"),
     'kind: must be one of external-dependency, break-glass, got "vendor"'),
    ("principal not a user", _with(principal="arn:aws:iam::111111111111:role/ci"),
     'principal: not an IAM user ARN "arn:aws:iam::111111111111:role/ci"'),
    ("missing principal", _with(principal="DROP"), 'entry 1 (id "ci-deployer"): principal: missing'),
    ("missing controls", _with(controls="DROP"), "controls: missing"),
    ("missing kind", _with(kind="DROP"), "kind: missing"),
    ("missing expires", _with(expires="DROP"), "expires: missing"),
    ("id not a string", _with(id="42"), "entry 1: id: input should be a valid string, got 42"),
    ("typo in a field name", GOOD.replace("owner:", "owners:"), "owners: unknown field"),
    ("duplicate id", GOOD + GOOD.split("exceptions:\n")[1],
     'exceptions.yaml: entry 2 (id "ci-deployer"): id: duplicate id, first used by entry 1'),
    ("entry not a mapping", "exceptions:\n  - just text\n", "entry 1: expected a mapping"),
]


@pytest.mark.parametrize(("case", "text", "message"), LOAD_ERRORS, ids=[c[0] for c in LOAD_ERRORS])
def test_invalid_register_is_an_error_naming_entry_and_field(
    case: str, text: str, message: str
) -> None:
    with pytest.raises(RegisterError) as raised:
        parse_register(text)
    assert message in str(raised.value)


def test_missing_file_is_a_register_error(tmp_path: Path) -> None:
    with pytest.raises(RegisterError, match="nope.yaml: cannot read"):
        load_register(tmp_path / "nope.yaml")


def test_every_bad_entry_is_reported_at_once() -> None:
    text = GOOD + GOOD.split("exceptions:\n")[1].replace("ci-deployer", "second").replace(
        "expires: 2027-01-31", "expires: never"
    ) + "  - id: third\n"
    message = str(pytest.raises(RegisterError, parse_register, text).value)
    assert 'entry 2 (id "second"): expires: invalid date "never"' in message
    assert 'entry 3 (id "third"): principal: missing' in message


def test_missing_owner_reason_dependency_load_but_are_problems() -> None:
    register = parse_register(_with(owner='""', reason="DROP", dependency="'  '"))
    (entry,) = register.entries
    codes = [p.code for p in entry_problems(entry, AS_OF, {ALICE})]
    assert codes == ["missing-owner", "missing-reason", "missing-dependency"]


def _entry(**fields: object) -> Entry:
    base: dict[str, object] = {
        "id": "e", "principal": ALICE, "controls": ["RC-1.1"], "kind": "external-dependency",
        "dependency": "vendor", "reason": "why", "owner": "team", "expires": "2027-01-31",
        "approved_on": "2026-11-01",
    }
    base.update(fields)
    return Entry.model_validate({k: v for k, v in base.items() if v is not None})


PROBLEMS = [
    # (case, entry fields, existing users (None = unknown), problem codes)
    ("complete and current", {}, {ALICE}, []),
    ("expires on the run date is still valid", {"expires": str(AS_OF)}, {ALICE}, []),
    ("expired the day before", {"expires": str(AS_OF - timedelta(1))}, {ALICE}, ["expired"]),
    ("no owner", {"owner": None}, {ALICE}, ["missing-owner"]),
    ("empty reason", {"reason": ""}, {ALICE}, ["missing-reason"]),
    ("external dependency not named", {"dependency": None}, {ALICE}, ["missing-dependency"]),
    ("break-glass needs no dependency", {"kind": "break-glass", "dependency": None}, {ALICE}, []),
    ("366 days from approval", {"approved_on": "2026-01-01", "expires": "2027-01-02"}, {ALICE},
     []),
    ("367 days from approval", {"approved_on": "2026-01-01", "expires": "2027-01-03"}, {ALICE},
     ["too-long"]),
    ("no approved_on: 366 days from the run date",
     {"approved_on": None, "expires": str(AS_OF + timedelta(366))}, {ALICE}, []),
    ("no approved_on: 367 days from the run date",
     {"approved_on": None, "expires": str(AS_OF + timedelta(367))}, {ALICE}, ["too-long"]),
    ("stale: the user is gone", {}, {"arn:aws:iam::111111111111:user/bob"}, ["stale"]),
    ("user name compared case-insensitively", {"principal": ALICE.replace("alice", "Alice")},
     {ALICE}, []),
    ("existence unknown: not stale", {}, None, []),
]


@pytest.mark.parametrize(("case", "fields", "existing", "codes"), PROBLEMS,
                         ids=[c[0] for c in PROBLEMS])
def test_rc_1_5_entry_problems(
    case: str, fields: dict[str, object], existing: set[str] | None, codes: list[str]
) -> None:
    problems = entry_problems(_entry(**fields), AS_OF, existing)
    assert [p.code for p in problems] == codes
    assert all(p.severity == ("low" if p.code == "stale" else "medium") for p in problems)


def test_problem_messages_state_the_facts() -> None:
    (expired,) = entry_problems(_entry(expires="2026-11-20"), AS_OF, None)
    assert expired.message == "expired on 2026-11-20 (8 days before the run date 2026-11-28)"
    (long,) = entry_problems(_entry(approved_on="2026-01-01", expires="2027-06-01"), AS_OF, None)
    assert long.message == "runs 516 days from 2026-01-01 (approved_on) to 2027-06-01 (limit 366)"


def test_valid_exception_for_matches_principal_control_kind_and_validity() -> None:
    good = _entry(id="good", controls=["RC-1.1", "RC-3.1"])
    expired = _entry(id="old", controls=["RC-2.1"], kind="break-glass", expires="2026-01-01",
                     approved_on="2025-06-01")
    register = Register(entries=(good, expired))
    assert valid_exception_for(register, ALICE, "RC-1.1", AS_OF) == good
    assert valid_exception_for(register, ALICE.upper().replace("ARN:AWS:IAM", "arn:aws:iam"),
                               "RC-1.1", AS_OF) == good
    assert valid_exception_for(register, ALICE, "RC-3.1", AS_OF, kind="external-dependency") == good
    assert valid_exception_for(register, ALICE, "RC-3.1", AS_OF, kind="break-glass") is None
    assert valid_exception_for(register, ALICE, "RC-1.3", AS_OF) is None
    assert valid_exception_for(register, ALICE, "RC-2.1", AS_OF) is None  # expired
    assert valid_exception_for(register, ALICE, "RC-1.1", date(2027, 2, 1)) is None
    assert valid_exception_for(register, ALICE.replace("alice", "bob"), "RC-1.1", AS_OF) is None


def test_latest_expiring_entry_wins() -> None:
    early = _entry(id="b-early", expires="2026-12-31")
    late = _entry(id="a-late", expires="2027-01-31")
    assert valid_exception_for(Register(entries=(early, late)), ALICE, "RC-1.1", AS_OF) == late


# --- ticket: the approval's reference (issue 12, item 7) ---------------------------------------

TICKETS_ACCEPTED = [
    ("SEC-1234", "SEC-1234"),
    ("CHG0030001", "CHG0030001"),
    ("INC-2026-017", "INC-2026-017"),
    ("  SEC-9  ", "SEC-9"),
    ("https://jira.example.com/browse/SEC-1234", "https://jira.example.com/browse/SEC-1234"),
    ("http://tickets.internal/7", "http://tickets.internal/7"),
    ('""', None),
]


@pytest.mark.parametrize(("given", "loaded"), TICKETS_ACCEPTED, ids=[t[0] for t in TICKETS_ACCEPTED])
def test_ticket_is_an_id_or_a_url(given: str, loaded: str | None) -> None:
    (entry,) = parse_register(_with(approved_by=f"ciso\n    ticket: {given}")).entries
    assert entry.ticket == loaded


def test_ticket_is_optional() -> None:
    (entry,) = parse_register(GOOD).entries
    assert entry.ticket is None


TICKETS_REFUSED = [
    # (case, YAML value, the error must contain)
    ("a word, no number", "approved", 'ticket: not a ticket id or URL "approved"'),
    ("spaces", '"SEC 1234"', 'ticket: not a ticket id or URL "SEC 1234"'),
    ("starts with a digit", '"1234"', 'ticket: not a ticket id or URL "1234"'),
    ("a number", "1234", "ticket: expected a ticket id or URL as text, got 1234"),
    ("too long an id", "A" + "1" * 64, "ticket: not a ticket id or URL"),
    ("another scheme", "javascript:alert(1)", "ticket: not a ticket id or URL"),
    ("URL without a host", "https:///SEC-1", 'ticket: not a usable URL "https:///SEC-1"'),
    ("URL with a password", "https://bob:hunter2@jira.example.com/SEC-1",
     "ticket: URL carries a user name or password"),
    ("URL too long", "https://jira.example.com/" + "a" * 2048, "ticket: URL longer than 2048"),
]


@pytest.mark.parametrize(("case", "value", "message"), TICKETS_REFUSED,
                         ids=[t[0] for t in TICKETS_REFUSED])
def test_bad_ticket_is_a_load_error_naming_entry_and_field(case: str, value: str, message: str) -> None:
    with pytest.raises(RegisterError) as raised:
        parse_register(_with(approved_by=f"ciso\n    ticket: {value}"))
    text = str(raised.value)
    assert text.startswith('exceptions.yaml: entry 1 (id "ci-deployer"): ')
    assert message in text and "\n" not in text
    assert "hunter2" not in text or "password" not in case  # credentials are not echoed


POLICIES = [
    # (case, entry fields, policy, problem codes)
    ("ticket not required by default", {}, RegisterPolicy(), []),
    ("ticket required and missing", {}, RegisterPolicy(require_ticket=True), ["missing-ticket"]),
    ("ticket required and given", {"ticket": "SEC-1"}, RegisterPolicy(require_ticket=True), []),
    ("shorter term: 91 days fails 90", {"approved_on": "2026-11-01", "expires": "2027-01-31"},
     RegisterPolicy(max_term_days=90), ["too-long"]),
    ("shorter term: 91 days passes 91", {"approved_on": "2026-11-01", "expires": "2027-01-31"},
     RegisterPolicy(max_term_days=91), []),
    ("longer term: 700 days", {"approved_on": "2026-01-01", "expires": "2027-12-01"},
     RegisterPolicy(max_term_days=730), []),
]


@pytest.mark.parametrize(("case", "fields", "policy", "codes"), POLICIES, ids=[p[0] for p in POLICIES])
def test_the_runs_policy_decides_term_and_ticket(
    case: str, fields: dict[str, object], policy: RegisterPolicy, codes: list[str]
) -> None:
    entry = _entry(**fields)
    assert [p.code for p in entry_problems(entry, AS_OF, {ALICE}, policy)] == codes
    assert is_valid(entry, AS_OF, policy) is (not codes)


def test_missing_ticket_message_says_the_settings_require_it() -> None:
    (problem,) = entry_problems(_entry(), AS_OF, None, RegisterPolicy(require_ticket=True))
    assert problem.severity == "medium"
    assert problem.message == ("no ticket: the run's settings require the approval's reference "
                               "(require_exception_ticket)")
    (long,) = entry_problems(_entry(approved_on="2026-10-01", expires="2027-02-01"), AS_OF, None,
                             RegisterPolicy(max_term_days=100))
    assert long.message.endswith("(limit 100)")


def test_example_register_entries_carry_tickets() -> None:
    register = load_register(Path(__file__).parent.parent / "data" / "exceptions.example.yaml")
    assert all(e.ticket for e in register.entries)
    assert all(is_valid(e, date(2026, 12, 1), RegisterPolicy(require_ticket=True))
               for e in register.entries)


# --- RC-1.5 judged under the run's settings (DuckDB variables) ---------------------------------

def _judged(tmp_path: Path, register: Register, **variables: object) -> Any:
    """A snapshot with alice, prepared like a run, the variables set, the register judged."""
    from checks.register_facts import judge_register
    from checks.results import prepare
    from tests.checks_fixtures import NOW, add_user, new_snapshot

    tmp_path.mkdir(parents=True, exist_ok=True)
    con = new_snapshot(tmp_path / "s.duckdb")
    add_user(con, "alice")
    add_user(con, "bob")
    prepare(con, NOW, valid_exception_rows(register, NOW.date()))
    for name, value in variables.items():
        con.execute(f"SET VARIABLE {name} = {str(value).lower()}")
    rows = {r["exception_id"]: r for r in judge_register(con, register, NOW.date())}
    return con, rows


TICKETED = [
    {"id": "with-ticket", "principal": ALICE, "ticket": "SEC-1234"},
    {"id": "without", "principal": ALICE.replace("alice", "bob")},
]


def _register(*overrides: dict[str, object]) -> Register:
    from tests.checks_fixtures import entry, register_of

    return register_of(*(entry(str(o["id"]), str(o["principal"]), ["RC-1.1"],
                               **{k: v for k, v in o.items() if k not in ("id", "principal")})
                         for o in overrides))


def test_unset_variables_mean_the_defaults(tmp_path: Path) -> None:
    from checks.register_facts import register_policy

    con = duckdb.connect()
    assert register_policy(con) == RegisterPolicy(max_term_days=MAX_TERM_DAYS, require_ticket=False)
    con.execute("SET VARIABLE exception_max_days = 90")
    con.execute("SET VARIABLE require_exception_ticket = true")
    assert register_policy(con) == RegisterPolicy(max_term_days=90, require_ticket=True)


@pytest.mark.parametrize(("name", "value"), [("exception_max_days", "0"),
                                             ("exception_max_days", "'400'"),
                                             ("require_exception_ticket", "'yes'")])
def test_unusable_variables_are_an_error(name: str, value: str) -> None:
    from checks.register_facts import register_policy

    con = duckdb.connect()
    con.execute(f"SET VARIABLE {name} = {value}")
    with pytest.raises(ValueError, match=name):
        register_policy(con)


def test_rc_1_5_fails_an_entry_without_ticket_when_required(tmp_path: Path) -> None:
    con, rows = _judged(tmp_path, _register(*TICKETED), require_exception_ticket=True)
    assert rows["with-ticket"]["outcome"] == "pass"
    assert "approved under SEC-1234" in rows["with-ticket"]["reason"]
    assert rows["without"]["outcome"] == "fail"
    assert "no ticket: the run's settings require the approval's reference" in rows["without"]["reason"]
    assert (rows["without"]["has_ticket"], rows["without"]["ticket_required"]) == (False, True)
    assert rows["with-ticket"]["ticket"] == "SEC-1234"
    # the entry RC-1.5 fails excepts nothing: valid_exceptions follows the run's policy
    valid = {r[0] for r in con.execute("SELECT exception_id FROM valid_exceptions").fetchall()}
    assert valid == {"with-ticket"}
    stored = dict(con.execute("SELECT exception_id, valid FROM exceptions").fetchall())
    assert stored == {"with-ticket": True, "without": False}


def test_rc_1_5_does_not_ask_for_a_ticket_by_default(tmp_path: Path) -> None:
    con, rows = _judged(tmp_path, _register(*TICKETED))
    assert {k: r["outcome"] for k, r in rows.items()} == {"with-ticket": "pass", "without": "pass"}
    valid = {r[0] for r in con.execute("SELECT exception_id FROM valid_exceptions").fetchall()}
    assert valid == {"with-ticket", "without"}


def test_rc_1_5_term_limit_comes_from_the_settings(tmp_path: Path) -> None:
    from tests.checks_fixtures import TODAY

    register = _register({"id": "long", "principal": ALICE, "approved_on": str(TODAY - timedelta(10)),
                          "expires": str(TODAY + timedelta(100))})
    _, rows = _judged(tmp_path, register, exception_max_days=100)
    assert rows["long"]["outcome"] == "fail" and rows["long"]["term_limit_days"] == 100
    assert "runs 110 days" in rows["long"]["reason"] and "(limit 100)" in rows["long"]["reason"]
    _, rows = _judged(tmp_path / "again", register, exception_max_days=110)
    assert rows["long"]["outcome"] == "pass" and "limit 110" in rows["long"]["reason"]


def test_ticket_requirement_is_cross_checked_by_gx(tmp_path: Path) -> None:
    """Through evaluate(): the rule and the GX restatement agree on the ticket problem, and
    the user whose entry lacks a ticket is not excepted."""
    from checks.settings import Settings
    from checks.validate import evaluate
    from tests.checks_fixtures import add_user, new_snapshot, row, user_arn

    con = new_snapshot(tmp_path / "s.duckdb")
    add_user(con, "alice")
    add_user(con, "bob")
    register = _register(*TICKETED)
    summary = evaluate(con, register, tmp_path / "gx", Settings(require_exception_ticket=True))
    assert summary.controls["RC-1.5"].cross_check == "ok"
    assert summary.controls["RC-1.5"].counts.failed == 1
    assert row(con, "RC-1.1", user_arn("alice"))["status"] == "excepted"
    assert row(con, "RC-1.1", user_arn("bob"))["status"] == "fail"
    evidence = json.loads(row(con, "RC-1.5", ALICE)["evidence"])
    assert (evidence["ticket"], evidence["has_ticket"], evidence["ticket_required"]) == (
        "SEC-1234", True, True)
