"""G3 controls RC-3.1 (no active key without a valid exception naming the external dependency)
and RC-3.2 (no ACTIVE unused-access finding of IAM Access Analyzer)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from checks_fixtures import (
    ACCOUNT,
    NOW,
    add_rows,
    add_user,
    entry,
    new_snapshot,
    register_of,
    role_arn,
    row,
    run,
    statuses,
    user_arn,
)

ACTIVE = {"active": True, "rotated": 10, "used": 1}
INACTIVE = {"active": False, "rotated": 10, "used": 1}
UNKNOWN = {"active": None, "rotated": 10, "used": 1}

# (user, keys, register entries, RC-3.1 status)
CASES = [
    ("no-keys", (), [], "pass"),
    ("inactive-key", (INACTIVE,), [], "pass"),
    ("active-key", (ACTIVE,), [], "fail"),
    ("second-slot-active", (INACTIVE, ACTIVE), [], "fail"),
    ("named-dependency", (ACTIVE,), [entry("dep", user_arn("named-dependency"), ["RC-3.1"])],
     "excepted"),
    ("no-dependency-named", (ACTIVE,),
     [entry("nodep", user_arn("no-dependency-named"), ["RC-3.1"], dependency=None)], "fail"),
    ("break-glass-kind", (ACTIVE,),
     [entry("bg", user_arn("break-glass-kind"), ["RC-1.1", "RC-2.1"], "break-glass")], "fail"),
    ("lists-other-control", (ACTIVE,),
     [entry("other", user_arn("lists-other-control"), ["RC-1.1"])], "fail"),
    ("unknown-key-state", (UNKNOWN,), [], "error"),
]

# RC-3.2: (finding id, finding type, resource, status, register entries, expected status;
# None = not in the population)
FINDINGS = [
    ("u-key-active", "UnusedIAMUserAccessKey", user_arn("active-key"), "ACTIVE", [], "fail"),
    ("u-password-archived", "UnusedIAMUserPassword", user_arn("no-keys"), "ARCHIVED", [],
     "pass"),
    ("u-role-active", "UnusedIAMRole", role_arn("old-role"), "ACTIVE", [], "fail"),
    ("u-role-resolved", "UnusedIAMRole", role_arn("older-role"), "RESOLVED", [], "pass"),
    ("u-break-glass-password", "UnusedIAMUserPassword", user_arn("inactive-key"), "ACTIVE",
     [entry("bg-unused", user_arn("inactive-key"), ["RC-3.2"], "break-glass")], "excepted"),
    ("u-odd-status", "UnusedIAMRole", role_arn("odd"), "SUPPRESSED", [], "error"),
    ("x-external", "ExternalAccess", role_arn("vendor"), "ACTIVE", [], None),
]


@pytest.fixture(scope="module")
def g3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    tmp_path = tmp_path_factory.mktemp("g3")
    con = new_snapshot(tmp_path / "s.duckdb")
    entries = []
    for user, keys, user_entries, _ in CASES:
        add_user(con, user, keys=keys)
        entries += user_entries
    for finding_id, kind, resource, status, finding_entries, _ in FINDINGS:
        add_rows(con, "access_analyzer_findings", {
            "account_id": ACCOUNT, "analyzer_arn": "arn:aws:access-analyzer:eu-west-1:"
            f"{ACCOUNT}:analyzer/unused", "finding_id": finding_id, "finding_type": kind,
            "resource": resource, "resource_owner_account": ACCOUNT, "status": status,
            "created_at": NOW, "updated_at": NOW,
        })
        entries += finding_entries
    summary = run(con, tmp_path, register_of(*entries))
    yield con, summary
    con.close()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rc_3_1_active_keys_need_an_external_dependency_exception(
    g3: Any, case: tuple[Any, ...]
) -> None:
    user, _, _, status = case
    assert statuses(g3[0], "RC-3.1")[user_arn(user)] == status


def test_rc_3_1_reason(g3: Any) -> None:
    assert row(g3[0], "RC-3.1", user_arn("second-slot-active"))["reason"] == (
        "user second-slot-active has 1 active access key(s) (slot 2); no valid register entry "
        "of kind external-dependency excepts it for RC-3.1"
    )


def test_gx_confirms_g3(g3: Any) -> None:
    assert g3[1].errors == []
    assert g3[1].controls["RC-3.1"].gx_unexpected == {"fail+excepted": 6, "fail": 5}
    assert g3[1].controls["RC-3.2"].gx_unexpected == {"fail+excepted": 3, "fail": 2}


@pytest.mark.parametrize("case", FINDINGS, ids=[c[0] for c in FINDINGS])
def test_rc_3_2_active_unused_access_findings_fail(g3: Any, case: tuple[Any, ...]) -> None:
    finding_id, *_, status = case
    assert statuses(g3[0], "RC-3.2").get(finding_id) == status
    if status == "fail":
        result = row(g3[0], "RC-3.2", finding_id)
        assert (result["severity"], result["account_id"]) == ("medium", ACCOUNT)


def test_rc_3_2_reason(g3: Any) -> None:
    assert row(g3[0], "RC-3.2", "u-role-active")["reason"] == (
        f"UnusedIAMRole finding on {role_arn('old-role')} is ACTIVE; no valid register entry of "
        "kind external-dependency or break-glass excepts it for RC-3.2")
    assert row(g3[0], "RC-3.2", "u-break-glass-password")["exception_id"] == "bg-unused"
