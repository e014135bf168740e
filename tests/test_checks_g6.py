"""G6 controls RC-6.1 .. RC-6.4: SCPs on the root, inherited coverage, permission boundaries.

The organization: root r-root -> ou-work -> ou-prod, root -> ou-sandbox, and two allow-list
OUs, root -> ou-allow and root -> ou-allow-iam. SCP coverage is inherited from the root, every
OU on the path and the account itself. As AWS does when SCPs are enabled, FullAWSAccess
(p-full) is on every node, except where an allow-list replaces it: IAM needs an Allow at every
level, so an OU with only Deny SCPs would deny everything implicitly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from checks_fixtures import (
    ORG_ID,
    add_role,
    add_rows,
    allow,
    entry,
    evidence,
    judge,
    new_snapshot,
    register_of,
    role_arn,
    row,
    run,
    set_organization,
    statuses,
    trust,
)

MGMT = "100000000000"
PROD = "200000000001"  # ou-prod: CreateUser denied by ou-work, CreateAccessKey by ou-prod
WORK = "200000000002"  # ou-work: only CreateUser denied
SANDBOX = "200000000003"  # ou-sandbox: a conditional deny that does not count
DIRECT = "200000000004"  # ou-sandbox, with iam:Create* and the boundary SCP attached directly
ROOT_CHILD = "200000000005"  # under the root, deny with an admin exemption attached directly
ORPHAN = "200000000006"  # its parents were not collected
ALLOW_LIST = "200000000007"  # ou-allow: FullAWSAccess replaced by Allows without iam:*
IAM_ALLOWED = "200000000008"  # ou-allow-iam: an allow-list that includes iam:*
MIXED = "200000000009"  # ou-work: CreateUser denied by ou-work, CreateAccessKey by its allow-list
ACCOUNTS = (MGMT, PROD, WORK, SANDBOX, DIRECT, ROOT_CHILD, ORPHAN, ALLOW_LIST, IAM_ALLOWED, MIXED)


def deny(actions: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Deny", "Action": actions, "Resource": "*"}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def allow_list(actions: list[str]) -> dict[str, Any]:
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}


SCPS: dict[str, dict[str, Any]] = {
    "p-full": allow_list(["*"]),
    "p-allow-list": allow_list(["s3:*", "ec2:*", "sts:*", "iam:Get*", "iam:List*"]),
    "p-allow-iam": allow_list(["s3:*", "iam:*"]),
    "p-allow-no-keys": allow_list(["s3:*", "iam:CreateUser", "iam:CreateRole",
                                   "iam:DeleteRolePermissionsBoundary"]),
    "p-deny-delete-boundary": deny("iam:DeleteRolePermissionsBoundary"),
    "p-deny-user": deny("iam:CreateUser"),
    "p-deny-key": deny("iam:createaccesskey"),
    "p-boundary-create": deny("iam:CreateRole",
                              {"Null": {"iam:PermissionsBoundary": "true"}}),
    "p-conditional": deny(["iam:CreateUser", "iam:CreateAccessKey"],
                          {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}),
    "p-create-star": deny("iam:Create*"),
    "p-admin-exempt": deny(["iam:CreateUser", "iam:CreateAccessKey"],
                           {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Admin"}}),
}
TARGETS = [  # (policy, target, type)
    ("p-full", "r-root", "ROOT"),
    *(("p-full", ou, "ORGANIZATIONAL_UNIT") for ou in ("ou-work", "ou-prod", "ou-sandbox")),
    *(("p-full", a, "ACCOUNT") for a in (MGMT, PROD, WORK, SANDBOX, DIRECT, ROOT_CHILD, ALLOW_LIST,
                                         IAM_ALLOWED)),
    ("p-allow-list", "ou-allow", "ORGANIZATIONAL_UNIT"),
    ("p-allow-iam", "ou-allow-iam", "ORGANIZATIONAL_UNIT"),
    ("p-allow-no-keys", MIXED, "ACCOUNT"),
    ("p-allow-list", MGMT, "ACCOUNT"),  # would deny implicitly, but SCPs don't govern it
    ("p-deny-delete-boundary", "r-root", "ROOT"),
    ("p-deny-user", "ou-work", "ORGANIZATIONAL_UNIT"),
    ("p-deny-key", "ou-prod", "ORGANIZATIONAL_UNIT"),
    ("p-boundary-create", "ou-prod", "ORGANIZATIONAL_UNIT"),
    ("p-conditional", "ou-sandbox", "ORGANIZATIONAL_UNIT"),
    ("p-create-star", DIRECT, "ACCOUNT"),
    ("p-admin-exempt", ROOT_CHILD, "ACCOUNT"),
    ("p-create-star", MGMT, "ACCOUNT"),
]
PARENTS = {  # account -> parents from the direct one up to the root
    MGMT: ["r-root"], PROD: ["ou-prod", "ou-work", "r-root"], WORK: ["ou-work", "r-root"],
    SANDBOX: ["ou-sandbox", "r-root"], DIRECT: ["ou-sandbox", "r-root"],
    ROOT_CHILD: ["r-root"], ALLOW_LIST: ["ou-allow", "r-root"],
    IAM_ALLOWED: ["ou-allow-iam", "r-root"], MIXED: ["ou-work", "r-root"],
}


class AccountCase(NamedTuple):
    """A member account and its RC-6.2 and RC-6.3 statuses."""

    name: str
    account: str
    rc_6_2: str
    rc_6_3: str


# the management account is not in the population
SCP_COVERAGE = [
    AccountCase("prod", account=PROD, rc_6_2="pass", rc_6_3="pass"),
    AccountCase("work", account=WORK, rc_6_2="fail", rc_6_3="fail"),
    AccountCase("sandbox", account=SANDBOX, rc_6_2="fail", rc_6_3="fail"),
    # iam:Create* covers CreateUser, CreateAccessKey and CreateRole
    AccountCase("direct", account=DIRECT, rc_6_2="pass", rc_6_3="pass"),
    AccountCase("root-child", account=ROOT_CHILD, rc_6_2="pass", rc_6_3="fail"),
    AccountCase("orphan", account=ORPHAN, rc_6_2="error", rc_6_3="error"),
    # IAM: an action must be allowed at every level; ou-allow allows no iam:Create*/Delete*
    AccountCase("allow-list", account=ALLOW_LIST, rc_6_2="pass", rc_6_3="pass"),
    # iam:* is allowed at every level: nothing denies
    AccountCase("iam-allowed", account=IAM_ALLOWED, rc_6_2="fail", rc_6_3="fail"),
    # CreateRole and DeleteRolePermissionsBoundary stay allowed
    AccountCase("mixed", account=MIXED, rc_6_2="pass", rc_6_3="fail"),
]


def _organization(con: Any, scp_enabled: bool = True) -> None:
    set_organization(con, MGMT)
    add_rows(con, "org_roots", {"root_id": "r-root", "name": "Root", "scp_enabled": scp_enabled,
                                "policy_types": [{"Type": "SERVICE_CONTROL_POLICY",
                                                  "Status": "ENABLED" if scp_enabled else
                                                  "DISABLED"}]})
    add_rows(con, "org_units",
             {"ou_id": "ou-work", "name": "Workloads", "parent_id": "r-root"},
             {"ou_id": "ou-prod", "name": "Prod", "parent_id": "ou-work"},
             {"ou_id": "ou-sandbox", "name": "Sandbox", "parent_id": "r-root"},
             {"ou_id": "ou-allow", "name": "AllowList", "parent_id": "r-root"},
             {"ou_id": "ou-allow-iam", "name": "AllowListWithIam", "parent_id": "r-root"})
    add_rows(con, "account_parents", *(
        {"account_id": a, "parent_id": p, "depth": depth}
        for a, parents in PARENTS.items() for depth, p in enumerate(parents, start=1)))
    add_rows(con, "scps", *({"policy_id": p, "name": p, "document": d} for p, d in SCPS.items()))
    add_rows(con, "scp_targets", *({"policy_id": p, "target_id": t, "target_type": kind}
                                   for p, t, kind in TARGETS))


class RoleCase(NamedTuple):
    """A role of PROD (named after its case), the register entries naming it, and its RC-6.4
    status (None: not in the population)."""

    role: str
    path: str
    boundary: str | None
    entries: list[dict[str, Any]]
    status: str | None


RC_6_4 = [
    RoleCase("bounded", path="/", boundary="arn:aws:iam::200000000001:policy/boundary", entries=[],
             status="pass"),
    RoleCase("unbounded", path="/", boundary=None, entries=[], status="fail"),
    RoleCase("service-linked", path="/aws-service-role/ecs.amazonaws.com/", boundary=None, entries=[],
             status=None),
    RoleCase("excepted-role", path="/", boundary=None,
             entries=[entry("r-ok", role_arn("excepted-role", PROD), ["RC-6.4"], "break-glass")],
             status="excepted"),
    RoleCase("expired-exception", path="/", boundary=None,
             entries=[entry("r-old", role_arn("expired-exception", PROD), ["RC-6.4"],
                            expires="2026-11-27")],
             status="fail"),
]


@pytest.fixture(scope="module")
def g6(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    tmp_path = tmp_path_factory.mktemp("g6")
    con = new_snapshot(tmp_path / "s.duckdb", ACCOUNTS)
    _organization(con)
    entries = []
    for role in RC_6_4:
        add_role(con, role.role, trust(allow({"Service": "ec2.amazonaws.com"})), PROD,
                 path=role.path, boundary=role.boundary)
        entries += role.entries
    entries.append(entry("r-gone", role_arn("gone-role", PROD), ["RC-6.4"]))
    summary = run(con, tmp_path, register_of(*entries))
    yield con, summary
    con.close()


def test_rc_6_1_scps_enabled_on_the_root(g6: Any) -> None:
    result = row(g6[0], "RC-6.1", ORG_ID)
    assert (result["status"], result["account_id"], result["resource_type"]) == (
        "pass", MGMT, "organization")
    facts = evidence(g6[0], "RC-6.1", ORG_ID)
    assert facts["management_account_id"] == MGMT
    assert facts["scps_govern_management_account"] is False


@pytest.mark.parametrize("case", SCP_COVERAGE, ids=lambda c: c.name)
def test_rc_6_2_scps_deny_iam_users_and_keys(g6: Any, case: AccountCase) -> None:
    assert statuses(g6[0], "RC-6.2")[case.account] == case.rc_6_2


@pytest.mark.parametrize("case", SCP_COVERAGE, ids=lambda c: c.name)
def test_rc_6_3_scps_enforce_permission_boundaries(g6: Any, case: AccountCase) -> None:
    assert statuses(g6[0], "RC-6.3")[case.account] == case.rc_6_3


def test_rc_6_2_management_account_is_excluded_and_said_so(g6: Any) -> None:
    con, summary = g6
    assert MGMT not in statuses(con, "RC-6.2") and MGMT not in statuses(con, "RC-6.3")
    assert summary.controls["RC-6.2"].notes == (
        f"management account {MGMT} is not governed by SCPs: not in the population",)


def test_rc_6_2_evidence_is_the_chain_with_what_each_policy_covers(g6: Any) -> None:
    con = g6[0]
    chain = evidence(con, "RC-6.2", PROD)["chain"]
    assert [(n["id"], n["type"], n["name"]) for n in chain] == [
        ("r-root", "ROOT", "Root"), ("ou-work", "ORGANIZATIONAL_UNIT", "Workloads"),
        ("ou-prod", "ORGANIZATIONAL_UNIT", "Prod"), (PROD, "ACCOUNT", PROD)]
    covers = {p["policy_id"]: (p["covers"], p["denies"]) for n in chain for p in n["policies"]}
    assert covers == {
        "p-full": (False, []), "p-deny-delete-boundary": (False, []),
        "p-deny-user": (True, ["iam:CreateUser"]), "p-deny-key": (True, ["iam:CreateAccessKey"]),
        "p-boundary-create": (False, []),
    }
    assert row(con, "RC-6.2", PROD)["reason"] == "denied by p-deny-key, p-deny-user"
    assert row(con, "RC-6.2", WORK)["reason"] == (
        "no SCP covering the account denies iam:CreateAccessKey")
    exempt = evidence(con, "RC-6.2", ROOT_CHILD)["chain"][-1]["policies"][0]
    assert exempt["admin_exemptions"] == [
        "ArnNotLike aws:PrincipalArn ['arn:aws:iam::*:role/Admin']"]
    rc_6_3 = evidence(con, "RC-6.3", PROD)["chain"]
    root_policies = {p["policy_id"]: p["denies"] for p in rc_6_3[0]["policies"]}
    assert root_policies == {"p-deny-delete-boundary": ["iam:DeleteRolePermissionsBoundary"],
                             "p-full": []}
    assert row(con, "RC-6.2", ORPHAN)["reason"] == (
        "the account's parents (root and OUs) were not collected")


def test_rc_6_2_allow_list_ou_without_iam_create_user_denies_implicitly(g6: Any) -> None:
    """IAM: an SCP action must be allowed at every level root -> OUs -> account. ou-allow's
    allow-list (FullAWSAccess replaced) allows no iam:CreateUser: that is coverage, and the
    reason names the level and its policy."""
    con = g6[0]
    assert row(con, "RC-6.2", ALLOW_LIST)["reason"] == (
        "iam:CreateUser and iam:CreateAccessKey are denied implicitly at OU ou-allow (AllowList): "
        "no SCP attached there (p-allow-list) allows iam:CreateUser or iam:CreateAccessKey")
    facts = evidence(con, "RC-6.2", ALLOW_LIST)
    assert (facts["denies_create_user"], facts["denies_create_access_key"]) == (True, True)
    ou = facts["chain"][1]
    assert (ou["id"], ou["implicitly_denies"]) == (
        "ou-allow", ["iam:CreateUser", "iam:CreateAccessKey"])
    assert [(p["policy_id"], p["covers"], p["denies"], p["denies_implicitly"])
            for p in ou["policies"]] == [
        ("p-allow-list", True, [], ["iam:CreateUser", "iam:CreateAccessKey"])]
    assert row(con, "RC-6.3", ALLOW_LIST)["reason"] == (
        "denied by p-deny-delete-boundary; iam:CreateRole without a permissions boundary is "
        "denied implicitly at OU ou-allow (AllowList): no SCP attached there (p-allow-list) "
        "allows iam:CreateRole")


def test_rc_6_2_allow_list_that_includes_iam_star_is_no_coverage(g6: Any) -> None:
    """Negative: ou-allow-iam's allow-list includes iam:*, so every level allows the action."""
    con = g6[0]
    assert row(con, "RC-6.2", IAM_ALLOWED)["reason"] == (
        "no SCP covering the account denies iam:CreateUser or iam:CreateAccessKey")
    chain = evidence(con, "RC-6.2", IAM_ALLOWED)["chain"]
    assert all(n["implicitly_denies"] == [] for n in chain)


def test_rc_6_2_explicit_and_implicit_denies_combine_across_levels(g6: Any) -> None:
    """CreateUser is denied by ou-work's SCP, CreateAccessKey by the account's allow-list."""
    con = g6[0]
    assert row(con, "RC-6.2", MIXED)["reason"] == (
        f"denied by p-deny-user; iam:CreateAccessKey is denied implicitly at account {MIXED}: "
        "no SCP attached there (p-allow-no-keys) allows iam:CreateAccessKey")


def test_rc_6_2_management_account_allow_list_stays_outside(g6: Any) -> None:
    """An allow-list attached to the management account changes nothing: SCPs don't apply."""
    assert MGMT not in statuses(g6[0], "RC-6.2")


@pytest.mark.parametrize("case", RC_6_4, ids=lambda c: c.role)
def test_rc_6_4_roles_have_a_permissions_boundary(g6: Any, case: RoleCase) -> None:
    assert statuses(g6[0], "RC-6.4").get(role_arn(case.role, PROD, case.path)) == case.status


def test_rc_6_4_role_exceptions_are_judged_by_rc_1_5(g6: Any) -> None:
    con = g6[0]
    assert row(con, "RC-6.4", role_arn("excepted-role", PROD))["exception_id"] == "r-ok"
    assert row(con, "RC-1.5", role_arn("excepted-role", PROD))["status"] == "pass"
    stale = row(con, "RC-1.5", role_arn("gone-role", PROD))
    assert (stale["status"], stale["severity"]) == ("fail", "low")


def test_gx_confirms_g6(g6: Any) -> None:
    summary = g6[1]
    assert summary.errors == []
    for control_id in ("RC-6.1", "RC-6.2", "RC-6.3", "RC-6.4"):
        control = summary.controls[control_id]
        assert control.cross_check == "ok", control_id
        assert control.gx_unexpected["fail"] == control.counts.failed, control_id
    assert summary.controls["RC-6.4"].gx_unexpected == {"fail+excepted": 3, "fail": 2}


def test_rc_6_scps_disabled_on_the_root_fail_every_member(tmp_path: Path) -> None:
    con = new_snapshot(tmp_path / "s.duckdb", ACCOUNTS)
    _organization(con, scp_enabled=False)
    judge(con, "RC-6.1", "RC-6.2", "RC-6.3")
    assert statuses(con, "RC-6.1") == {ORG_ID: "fail"}
    assert set(statuses(con, "RC-6.2").values()) == {"fail", "error"}
    assert row(con, "RC-6.2", PROD)["reason"] == (
        "SCPs are not enabled on the root: no SCP applies to the account")


def test_rc_6_unreadable_scp_makes_a_failing_account_error(tmp_path: Path) -> None:
    con = new_snapshot(tmp_path / "s.duckdb", ACCOUNTS)
    _organization(con)
    add_rows(con, "scp_targets", {"policy_id": "p-missing", "target_id": WORK,
                                  "target_type": "ACCOUNT"})
    judge(con, "RC-6.2")
    result = row(con, "RC-6.2", WORK)
    assert result["status"] == "error"
    assert "SCP p-missing is attached but was not collected (it might)" in result["reason"]
    assert statuses(con, "RC-6.2")[PROD] == "pass"


def test_rc_6_unreadable_scp_on_an_allow_list_level_is_no_implicit_deny(tmp_path: Path) -> None:
    """The unreadable SCP at ou-allow might allow iam:*: the level can't be said to deny."""
    con = new_snapshot(tmp_path / "s.duckdb", ACCOUNTS)
    _organization(con)
    add_rows(con, "scp_targets", {"policy_id": "p-missing", "target_id": "ou-allow",
                                  "target_type": "ORGANIZATIONAL_UNIT"})
    judge(con, "RC-6.2")
    result = row(con, "RC-6.2", ALLOW_LIST)
    assert result["status"] == "error"
    assert result["reason"] == (
        "no SCP covering the account denies iam:CreateUser or iam:CreateAccessKey, but SCP "
        "p-missing is attached but was not collected (it might)")


class RoleEntryCase(NamedTuple):
    """A register entry's principal and controls, and its load error (None: it loads)."""

    name: str
    principal: str
    controls: list[str]
    error: str | None


# The register names roles for RC-6.4 only
ROLE_ENTRIES = [
    RoleEntryCase("role", principal=role_arn("ci", PROD), controls=["RC-6.4"], error=None),
    RoleEntryCase("role-user-control", principal=role_arn("ci", PROD), controls=["RC-1.1", "RC-6.4"],
                  error=(f'principal: not an IAM user ARN "{role_arn("ci", PROD)}" (a role ARN may only '
                         "be excepted from RC-6.4)")),
    RoleEntryCase("user-rc-6.4", principal=f"arn:aws:iam::{PROD}:user/alice", controls=["RC-6.4"],
                  error=("principal: RC-6.4 applies to roles, not to the IAM user "
                         f'"arn:aws:iam::{PROD}:user/alice"')),
]


@pytest.mark.parametrize("case", ROLE_ENTRIES, ids=lambda c: c.name)
def test_rc_6_4_register_entries_name_roles(case: RoleEntryCase) -> None:
    from checks.exceptions import RegisterError

    if case.error is None:
        [loaded] = register_of(entry("r", case.principal, case.controls)).entries
        assert (loaded.is_role, loaded.account_id) == (True, PROD)
    else:
        with pytest.raises(RegisterError) as raised:
            register_of(entry("r", case.principal, case.controls))
        assert case.error in str(raised.value)
