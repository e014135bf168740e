"""G2 controls RC-2.1 (no console passwords), RC-2.2 (console users have MFA), RC-2.3 (IAM
Identity Center in use)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

# (user, password, mfa, in credential report, register entries, RC-2.1, RC-2.2 (None = not in
# the population))
CASES = [
    ("no-password", False, False, True, [], "pass", None),
    ("password-mfa", True, True, True, [], "fail", "pass"),
    ("password-no-mfa", True, False, True, [], "fail", "fail"),
    ("break-glass", True, True, True,
     [entry("bg", user_arn("break-glass"), ["RC-1.1", "RC-2.1"], "break-glass", dependency=None)],
     "excepted", "pass"),
    ("break-glass-no-mfa", True, False, True,
     [entry("bg2", user_arn("break-glass-no-mfa"), ["RC-2.1"], "break-glass")],
     "excepted", "fail"),
    ("wrong-kind", True, True, True, [entry("ext", user_arn("wrong-kind"), ["RC-2.1"])],
     "fail", "pass"),
    ("expired-break-glass", True, True, True,
     [entry("old", user_arn("expired-break-glass"), ["RC-2.1"], "break-glass",
            expires="2026-11-27")], "fail", "pass"),
    ("not-in-report", None, None, False, [], "error", "error"),
]


@pytest.fixture(scope="module")
def g2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    tmp_path = tmp_path_factory.mktemp("g2")
    con = new_snapshot(tmp_path / "s.duckdb")
    entries = []
    for user, password, mfa, in_report, user_entries, _, _ in CASES:
        add_user(con, user, password=password, mfa=mfa, in_report=in_report)
        entries += user_entries
    summary = run(con, tmp_path, register_of(*entries))
    yield con, summary
    con.close()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rc_2_1_console_password_fails_unless_break_glass_exception(
    g2: Any, case: tuple[Any, ...]
) -> None:
    user, *_, rc_2_1, _ = case
    assert statuses(g2[0], "RC-2.1")[user_arn(user)] == rc_2_1


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rc_2_2_console_users_without_mfa_fail_critical(g2: Any, case: tuple[Any, ...]) -> None:
    user, *_, rc_2_2 = case
    population = statuses(g2[0], "RC-2.2")
    assert population.get(user_arn(user)) == rc_2_2
    if rc_2_2:
        assert row(g2[0], "RC-2.2", user_arn(user))["severity"] == "critical"


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
# (case, instances (arn, status), permission sets, assigned accounts, status)
RC_2_3 = [
    ("no instance", [], [], [], "fail"),
    ("instance without permission sets", [(INSTANCE, "ACTIVE")], [], [], "fail"),
    ("permission set assigned to no account", [(INSTANCE, "ACTIVE")], [PERMISSION_SET], [],
     "fail"),
    ("assigned", [(INSTANCE, "ACTIVE")], [PERMISSION_SET], [OTHER], "pass"),
    ("instance being deleted", [(INSTANCE, "DELETE_IN_PROGRESS")], [PERMISSION_SET], [OTHER],
     "fail"),
]


@pytest.mark.parametrize("case", RC_2_3, ids=[c[0] for c in RC_2_3])
def test_rc_2_3_identity_center_has_permission_sets_assigned(
    tmp_path: Path, case: tuple[Any, ...]
) -> None:
    _, instances, permission_sets, assigned, status = case
    con = new_snapshot(tmp_path / "s.duckdb", (ACCOUNT, OTHER))
    set_organization(con)
    add_rows(con, "identity_center_instances", *(
        {"instance_arn": arn, "owner_account_id": ACCOUNT, "status": s} for arn, s in instances))
    add_rows(con, "permission_sets", *(
        {"instance_arn": INSTANCE, "permission_set_arn": p, "name": "admin"}
        for p in permission_sets))
    add_rows(con, "account_assignments", *(
        {"instance_arn": INSTANCE, "permission_set_arn": PERMISSION_SET, "account_id": a}
        for a in assigned))
    judge(con, "RC-2.3")
    result = row(con, "RC-2.3", ORG_ID)
    assert (result["status"], result["account_id"], result["severity"]) == (
        status, ACCOUNT, "high")


def test_rc_2_3_reasons(tmp_path: Path) -> None:
    con = new_snapshot(tmp_path / "s.duckdb")
    set_organization(con)
    judge(con, "RC-2.3")
    assert row(con, "RC-2.3", ORG_ID)["reason"] == "no IAM Identity Center instance exists"


def test_gx_confirms_rc_2_3(g2: Any) -> None:
    control = g2[1].controls["RC-2.3"]
    assert (control.failed, control.cross_check, control.gx_unexpected) == (1, "ok", {"fail": 1})
