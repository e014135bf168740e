"""checks/exceptions.py: loading the register strictly, and judging entries (RC-1.5 inputs)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from checks.exceptions import (
    Entry,
    Register,
    RegisterError,
    entry_problems,
    load_register,
    parse_register,
    valid_exception_for,
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
