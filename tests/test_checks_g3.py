"""G3 controls RC-3.1 (no active key without a valid exception naming the external dependency)
and RC-3.2 (no ACTIVE unused-access finding of IAM Access Analyzer)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

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


class UserCase(NamedTuple):
    """A user (named after its case), its keys, the register entries naming it, and its RC-3.1
    status."""

    user: str
    keys: tuple[dict[str, Any], ...]
    entries: list[dict[str, Any]]
    status: str


CASES = [
    UserCase("no-keys", keys=(), entries=[], status="pass"),
    UserCase("inactive-key", keys=(INACTIVE,), entries=[], status="pass"),
    UserCase("active-key", keys=(ACTIVE,), entries=[], status="fail"),
    UserCase("second-slot-active", keys=(INACTIVE, ACTIVE), entries=[], status="fail"),
    UserCase("named-dependency", keys=(ACTIVE,),
             entries=[entry("dep", user_arn("named-dependency"), ["RC-3.1"])], status="excepted"),
    UserCase("no-dependency-named", keys=(ACTIVE,),
             entries=[entry("nodep", user_arn("no-dependency-named"), ["RC-3.1"], dependency=None)],
             status="fail"),
    UserCase("break-glass-kind", keys=(ACTIVE,),
             entries=[entry("bg", user_arn("break-glass-kind"), ["RC-1.1", "RC-2.1"], "break-glass")],
             status="fail"),
    UserCase("lists-other-control", keys=(ACTIVE,),
             entries=[entry("other", user_arn("lists-other-control"), ["RC-1.1"])], status="fail"),
    UserCase("unknown-key-state", keys=(UNKNOWN,), entries=[], status="error"),
]


class FindingCase(NamedTuple):
    """An Access Analyzer finding and its RC-3.2 status (None: not in the population)."""

    finding_id: str
    finding_type: str
    resource: str
    finding_status: str
    entries: list[dict[str, Any]]  # register entries naming the resource
    status: str | None


FINDINGS = [
    FindingCase("u-key-active", finding_type="UnusedIAMUserAccessKey", resource=user_arn("active-key"),
                finding_status="ACTIVE", entries=[], status="fail"),
    FindingCase("u-password-archived", finding_type="UnusedIAMUserPassword",
                resource=user_arn("no-keys"), finding_status="ARCHIVED", entries=[], status="pass"),
    FindingCase("u-role-active", finding_type="UnusedIAMRole", resource=role_arn("old-role"),
                finding_status="ACTIVE", entries=[], status="fail"),
    FindingCase("u-role-resolved", finding_type="UnusedIAMRole", resource=role_arn("older-role"),
                finding_status="RESOLVED", entries=[], status="pass"),
    FindingCase("u-break-glass-password", finding_type="UnusedIAMUserPassword",
                resource=user_arn("inactive-key"), finding_status="ACTIVE",
                entries=[entry("bg-unused", user_arn("inactive-key"), ["RC-3.2"], "break-glass")],
                status="excepted"),
    FindingCase("u-odd-status", finding_type="UnusedIAMRole", resource=role_arn("odd"),
                finding_status="SUPPRESSED", entries=[], status="error"),
    FindingCase("x-external", finding_type="ExternalAccess", resource=role_arn("vendor"),
                finding_status="ACTIVE", entries=[], status=None),
]


@pytest.fixture(scope="module")
def g3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    tmp_path = tmp_path_factory.mktemp("g3")
    con = new_snapshot(tmp_path / "s.duckdb")
    entries = []
    for user in CASES:
        add_user(con, user.user, keys=user.keys)
        entries += user.entries
    for finding in FINDINGS:
        add_rows(con, "access_analyzer_findings", {
            "account_id": ACCOUNT, "analyzer_arn": "arn:aws:access-analyzer:eu-west-1:"
            f"{ACCOUNT}:analyzer/unused", "finding_id": finding.finding_id,
            "finding_type": finding.finding_type, "resource": finding.resource,
            "resource_owner_account": ACCOUNT, "status": finding.finding_status,
            "created_at": NOW, "updated_at": NOW,
        })
        entries += finding.entries
    summary = run(con, tmp_path, register_of(*entries))
    yield con, summary
    con.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.user)
def test_rc_3_1_active_keys_need_an_external_dependency_exception(
    g3: Any, case: UserCase
) -> None:
    assert statuses(g3[0], "RC-3.1")[user_arn(case.user)] == case.status


def test_rc_3_1_reason(g3: Any) -> None:
    assert row(g3[0], "RC-3.1", user_arn("second-slot-active"))["reason"] == (
        "user second-slot-active has 1 active access key(s) (slot 2); no valid register entry "
        "of kind external-dependency excepts it for RC-3.1"
    )


def test_gx_confirms_g3(g3: Any) -> None:
    assert g3[1].errors == []
    assert g3[1].controls["RC-3.1"].gx_unexpected == {"fail+excepted": 6, "fail": 5}
    assert g3[1].controls["RC-3.2"].gx_unexpected == {"fail+excepted": 3, "fail": 2}


@pytest.mark.parametrize("case", FINDINGS, ids=lambda c: c.finding_id)
def test_rc_3_2_active_unused_access_findings_fail(g3: Any, case: FindingCase) -> None:
    assert statuses(g3[0], "RC-3.2").get(case.finding_id) == case.status
    if case.status == "fail":
        result = row(g3[0], "RC-3.2", case.finding_id)
        assert (result["severity"], result["account_id"]) == ("medium", ACCOUNT)


def test_rc_3_2_reason(g3: Any) -> None:
    assert row(g3[0], "RC-3.2", "u-role-active")["reason"] == (
        f"UnusedIAMRole finding on {role_arn('old-role')} is ACTIVE; no valid register entry of "
        "kind external-dependency or break-glass excepts it for RC-3.2")
    assert row(g3[0], "RC-3.2", "u-break-glass-password")["exception_id"] == "bg-unused"
