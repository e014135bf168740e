"""G2 controls RC-2.1 (no console passwords), RC-2.2 (console users have MFA), RC-2.3 (IAM
Identity Center in use)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from checks_fixtures import (
    ACCOUNT,
    ORG_ID,
    OTHER,
    add_rows,
    add_user,
    entry,
    judge,
    new_snapshot,
    register_of,
    row,
    run,
    set_organization,
    statuses,
    user_arn,
)


class UserCase(NamedTuple):
    """A user (named after its case) and its RC-2.1 and RC-2.2 statuses (None: not in the
    population)."""

    user: str
    password: bool | None
    mfa: bool | None
    in_report: bool  # in the credential report
    entries: list[dict[str, Any]]  # register entries naming the user
    rc_2_1: str
    rc_2_2: str | None


CASES = [
    UserCase("no-password", password=False, mfa=False, in_report=True, entries=[], rc_2_1="pass",
             rc_2_2=None),
    UserCase("password-mfa", password=True, mfa=True, in_report=True, entries=[], rc_2_1="fail",
             rc_2_2="pass"),
    UserCase("password-no-mfa", password=True, mfa=False, in_report=True, entries=[],
             rc_2_1="fail", rc_2_2="fail"),
    UserCase("break-glass", password=True, mfa=True, in_report=True,
             entries=[entry("bg", user_arn("break-glass"), ["RC-1.1", "RC-2.1"], "break-glass",
                            dependency=None)],
             rc_2_1="excepted", rc_2_2="pass"),
    UserCase("break-glass-no-mfa", password=True, mfa=False, in_report=True,
             entries=[entry("bg2", user_arn("break-glass-no-mfa"), ["RC-2.1"], "break-glass")],
             rc_2_1="excepted", rc_2_2="fail"),
    UserCase("wrong-kind", password=True, mfa=True, in_report=True,
             entries=[entry("ext", user_arn("wrong-kind"), ["RC-2.1"])], rc_2_1="fail",
             rc_2_2="pass"),
    UserCase("expired-break-glass", password=True, mfa=True, in_report=True,
             entries=[entry("old", user_arn("expired-break-glass"), ["RC-2.1"], "break-glass",
                            expires="2026-11-27")],
             rc_2_1="fail", rc_2_2="pass"),
    UserCase("not-in-report", password=None, mfa=None, in_report=False, entries=[],
             rc_2_1="error", rc_2_2="error"),
]


@pytest.fixture(scope="module")
def g2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    tmp_path = tmp_path_factory.mktemp("g2")
    con = new_snapshot(tmp_path / "s.duckdb")
    entries = []
    for case in CASES:
        add_user(con, case.user, password=case.password, mfa=case.mfa, in_report=case.in_report)
        entries += case.entries
    summary = run(con, tmp_path, register_of(*entries))
    yield con, summary
    con.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.user)
def test_rc_2_1_console_password_fails_unless_break_glass_exception(
    g2: Any, case: UserCase
) -> None:
    assert statuses(g2[0], "RC-2.1")[user_arn(case.user)] == case.rc_2_1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.user)
def test_rc_2_2_console_users_without_mfa_fail_critical(g2: Any, case: UserCase) -> None:
    population = statuses(g2[0], "RC-2.2")
    assert population.get(user_arn(case.user)) == case.rc_2_2
    if case.rc_2_2:
        assert row(g2[0], "RC-2.2", user_arn(case.user))["severity"] == "critical"


def test_rc_2_reasons(g2: Any) -> None:
    assert row(g2[0], "RC-2.2", user_arn("password-no-mfa"))["reason"] == (
        "user password-no-mfa has a console password and no active MFA device"
    )
    assert row(g2[0], "RC-2.1", user_arn("not-in-report"))["reason"] == (
        "user not-in-report is not in the credential report (created after it was generated?)"
    )
    assert row(g2[0], "RC-2.1", user_arn("break-glass"))["exception_id"] == "bg"


def test_gx_confirms_g2(g2: Any) -> None:
    summary = g2[1]
    assert summary.errors == []
    assert summary.controls["RC-2.1"].gx_unexpected == {"fail+excepted": 6, "fail": 4}
    assert summary.controls["RC-2.2"].gx_unexpected == {"fail": 2}


# --- RC-2.3: the organization uses IAM Identity Center ------------------------------------------

INSTANCE = "arn:aws:sso:::instance/ssoins-1"
PERMISSION_SET = f"{INSTANCE.replace('instance/', 'permissionSet/ssoins-1/')}ps-admin"


class IdentityCenterCase(NamedTuple):
    name: str
    instances: list[tuple[str, str]]  # (arn, status)
    permission_sets: list[str]
    assigned: list[str]  # accounts the permission set is assigned to
    status: str


RC_2_3 = [
    IdentityCenterCase("no instance", instances=[], permission_sets=[], assigned=[], status="fail"),
    IdentityCenterCase("instance without permission sets", instances=[(INSTANCE, "ACTIVE")],
                       permission_sets=[], assigned=[], status="fail"),
    IdentityCenterCase("permission set assigned to no account", instances=[(INSTANCE, "ACTIVE")],
                       permission_sets=[PERMISSION_SET], assigned=[], status="fail"),
    IdentityCenterCase("assigned", instances=[(INSTANCE, "ACTIVE")],
                       permission_sets=[PERMISSION_SET], assigned=[OTHER], status="pass"),
    IdentityCenterCase("instance being deleted", instances=[(INSTANCE, "DELETE_IN_PROGRESS")],
                       permission_sets=[PERMISSION_SET], assigned=[OTHER], status="fail"),
]


@pytest.mark.parametrize("case", RC_2_3, ids=lambda c: c.name)
def test_rc_2_3_identity_center_has_permission_sets_assigned(
    tmp_path: Path, case: IdentityCenterCase
) -> None:
    con = new_snapshot(tmp_path / "s.duckdb", (ACCOUNT, OTHER))
    set_organization(con)
    add_rows(con, "identity_center_instances", *(
        {"instance_arn": arn, "owner_account_id": ACCOUNT, "status": s}
        for arn, s in case.instances))
    add_rows(con, "permission_sets", *(
        {"instance_arn": INSTANCE, "permission_set_arn": p, "name": "admin"}
        for p in case.permission_sets))
    add_rows(con, "account_assignments", *(
        {"instance_arn": INSTANCE, "permission_set_arn": PERMISSION_SET, "account_id": a}
        for a in case.assigned))
    judge(con, "RC-2.3")
    result = row(con, "RC-2.3", ORG_ID)
    assert (result["status"], result["account_id"], result["severity"]) == (
        case.status, ACCOUNT, "high")


def test_rc_2_3_reasons(tmp_path: Path) -> None:
    con = new_snapshot(tmp_path / "s.duckdb")
    set_organization(con)
    judge(con, "RC-2.3")
    assert row(con, "RC-2.3", ORG_ID)["reason"] == "no IAM Identity Center instance exists"


def test_gx_confirms_rc_2_3(g2: Any) -> None:
    control = g2[1].controls["RC-2.3"]
    assert (control.counts.failed, control.cross_check, control.gx_unexpected) == (1, "ok", {"fail": 1})
