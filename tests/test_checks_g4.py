"""G4 controls RC-4.1 .. RC-4.4: external principals, Access Analyzer, service trust.

One hand-built organization (accounts ACCOUNT, OTHER; EXTERNAL is outside it), evaluated once
with GX; variants of the analyzers are judged without GX (checks_fixtures.judge).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from checks_fixtures import (
    ACCOUNT,
    EXTERNAL,
    NOW,
    ORG_ID,
    OTHER,
    add_role,
    add_rows,
    allow,
    evidence,
    judge,
    new_snapshot,
    role_arn,
    row,
    run,
    set_organization,
    statuses,
    trust,
)

EXT_ROOT = f"arn:aws:iam::{EXTERNAL}:root"
EXT_ROLE = f"arn:aws:iam::{EXTERNAL}:role/vendor"
EXTERNAL_ID = {"StringEquals": {"sts:ExternalId": "b7e1c0de"}}
ID_GUARD = {"StringNotEquals": {"sts:ExternalId": "b7e1c0de"}}


def deny(principal: Any, condition: dict[str, Any], action: str = "sts:AssumeRole") -> Any:
    """A Deny statement of a trust policy: with one negated condition it is a guard."""
    return {"Effect": "Deny", "Principal": principal, "Action": action, "Condition": condition}


# RC-4.1: (role, trust policy, status (None = not in the population), severity)
RC_4_1 = [
    ("ext-root-no-id", trust(allow({"AWS": EXT_ROOT})), "fail", "high"),
    ("ext-bare-id-in-list", trust(allow({"AWS": [EXTERNAL]}, condition=EXTERNAL_ID)),
     "pass", None),
    ("ext-role-arn-no-id", trust(allow({"AWS": EXT_ROLE}, sid="Vendor")), "fail", "high"),
    ("ext-stringlike-wildcard",
     trust(allow({"AWS": EXT_ROOT}, condition={"StringLike": {"sts:ExternalId": "b7e1*"}})),
     "fail", "high"),
    ("ext-stringlike-exact",
     trust(allow({"AWS": EXT_ROOT}, condition={"StringLike": {"sts:ExternalId": "b7e1c0de"}})),
     "pass", None),
    ("ext-ifexists",
     trust(allow({"AWS": EXT_ROOT},
                 condition={"StringEqualsIfExists": {"sts:ExternalId": "b7e1c0de"}})),
     "fail", "high"),
    ("ext-empty-id",
     trust(allow({"AWS": EXT_ROOT}, condition={"StringEquals": {"sts:ExternalId": ""}})),
     "fail", "high"),
    ("ext-key-case",
     trust(allow({"AWS": EXT_ROOT}, condition={"StringEquals": {"STS:EXTERNALID": "x1"}})),
     "pass", None),
    ("ext-restricted-plus-unrestricted",
     trust(allow({"AWS": EXT_ROOT}, condition=EXTERNAL_ID, sid="WithId"),
           allow({"AWS": EXT_ROLE}, sid="Forgotten")), "fail", "high"),
    ("ext-denied",
     trust(allow({"AWS": EXT_ROOT}), {"Effect": "Deny", "Principal": {"AWS": EXTERNAL},
                                      "Action": "sts:AssumeRole"}), None, None),
    # IAM: no Deny may fire, and StringNotEquals is true when ExternalId is absent, so this
    # Deny makes the ExternalId mandatory for every principal of account EXTERNAL
    ("ext-deny-guard", trust(allow({"AWS": EXT_ROOT}), deny({"AWS": EXTERNAL}, ID_GUARD)),
     "pass", None),
    ("ext-deny-guard-other-principal",
     trust(allow({"AWS": EXT_ROOT}), deny({"AWS": EXT_ROLE}, ID_GUARD)), "fail", "high"),
    ("star-deny-guard-org-id",
     trust(allow("*"), deny("*", {"StringNotEquals": {"aws:PrincipalOrgID": ORG_ID}})),
     None, None),
    ("star-no-condition", trust(allow("*")), "fail", "critical"),
    ("star-aws-org-pinned",
     trust(allow({"AWS": "*"}, condition={"StringEquals": {"aws:PrincipalOrgID": ORG_ID}})),
     None, None),
    ("star-account-pinned",
     trust(allow({"AWS": "*"}, condition={"StringEquals": {"aws:PrincipalAccount": [OTHER]}})),
     None, None),
    ("star-other-org",
     trust(allow({"AWS": "*"}, condition={"StringEquals": {"aws:PrincipalOrgID": "o-other"}})),
     "fail", "high"),
    ("internal-account", trust(allow({"AWS": f"arn:aws:iam::{OTHER}:root"})), None, None),
    ("service-only", trust(allow({"Service": "ec2.amazonaws.com"})), None, None),
    ("not-an-object", "not a policy", "error", None),
    ("not-collected", None, "error", None),
]

# RC-4.4: (role, trust policy, path, status (None = not in the population))
RC_4_4 = [
    ("svc-no-source", trust(allow({"Service": "lambda.amazonaws.com"})), "/", "fail"),
    ("svc-source-account",
     trust(allow({"Service": "lambda.amazonaws.com"},
                 condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}})), "/", "pass"),
    ("svc-source-arn",
     trust(allow({"Service": "s3.amazonaws.com"},
                 condition={"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::logs-bucket"}})),
     "/", "pass"),
    ("svc-ifexists",
     trust(allow({"Service": "sns.amazonaws.com"},
                 condition={"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}})),
     "/", "fail"),
    ("svc-list", trust(allow({"Service": ["ec2.amazonaws.com", "ecs.amazonaws.com"]})), "/",
     "fail"),
    ("svc-linked", trust(allow({"Service": "ecs.amazonaws.com"})),
     "/aws-service-role/ecs.amazonaws.com/", None),
    ("svc-none", trust(allow({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})), "/", None),
    ("svc-deny-guard-source-account",
     trust(allow({"Service": "sns.amazonaws.com"}),
           deny("*", {"StringNotEquals": {"aws:SourceAccount": ACCOUNT}})), "/", "pass"),
]

# RC-4.2: (finding id, role, status, expected)
RC_4_2 = [
    ("f-active-unprotected", "ext-root-no-id", "ACTIVE", "fail"),
    ("f-active-protected", "ext-bare-id-in-list", "ACTIVE", "pass"),
    ("f-archived", "ext-role-arn-no-id", "ARCHIVED", "pass"),
    ("f-resolved", "star-no-condition", "RESOLVED", "pass"),
    ("f-internal-org-pinned", "star-aws-org-pinned", "ACTIVE", "pass"),
    ("f-role-gone", "deleted-role", "ACTIVE", "error"),
    ("f-unparseable", "not-an-object", "ACTIVE", "error"),
    ("f-odd-status", "ext-root-no-id", "PENDING", "error"),
]


def _finding(finding_id: str, role: str, status: str, finding_type: str = "ExternalAccess",
             account: str = ACCOUNT) -> dict[str, Any]:
    return {
        "account_id": account, "analyzer_arn": f"arn:aws:access-analyzer:eu-west-1:{account}:"
        "analyzer/org", "finding_id": finding_id, "finding_type": finding_type,
        "resource": role_arn(role, account), "resource_type": "AWS::IAM::Role",
        "resource_owner_account": account, "status": status, "created_at": NOW,
        "updated_at": NOW,
    }


def _analyzer(account: str, kind: str, status: str = "ACTIVE", name: str = "a") -> dict[str, Any]:
    return {"account_id": account, "arn": f"arn:aws:access-analyzer:eu-west-1:{account}:"
            f"analyzer/{name}", "name": name, "type": kind, "status": status,
            "region": "eu-west-1"}


@pytest.fixture(scope="module")
def g4(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    tmp_path = tmp_path_factory.mktemp("g4")
    con = new_snapshot(tmp_path / "s.duckdb", (ACCOUNT, OTHER))
    set_organization(con)
    for name, doc, *_ in RC_4_1:
        add_role(con, name, doc)
    for name, doc, path, _ in RC_4_4:
        add_role(con, name, doc, path=path)
    add_rows(con, "access_analyzer_findings",
             *(_finding(f, role, status) for f, role, status, _ in RC_4_2))
    # RC-4.3: ACCOUNT has its own analyzer; OTHER only a disabled and an unused-access one
    add_rows(con, "access_analyzers", _analyzer(ACCOUNT, "ACCOUNT"),
             _analyzer(OTHER, "ACCOUNT", "DISABLED"),
             _analyzer(OTHER, "ACCOUNT_UNUSED_ACCESS", name="unused"))
    summary = run(con, tmp_path)
    yield con, summary
    con.close()


@pytest.mark.parametrize("case", RC_4_1, ids=[c[0] for c in RC_4_1])
def test_rc_4_1_external_principals_must_supply_an_external_id(
    g4: Any, case: tuple[Any, ...]
) -> None:
    name, _, status, severity = case
    assert statuses(g4[0], "RC-4.1").get(role_arn(name)) == status
    if status == "fail":
        assert row(g4[0], "RC-4.1", role_arn(name))["severity"] == severity


def test_rc_4_1_evidence_names_statement_principal_and_conditions(g4: Any) -> None:
    con = g4[0]
    facts = evidence(con, "RC-4.1", role_arn("ext-restricted-plus-unrestricted"))
    assert facts["external_grants"] == 2 and facts["protected_grants"] == 1
    [finding] = facts["external_findings"]
    assert (finding["statement_index"], finding["sid"], finding["principal"]) == (
        1, "Forgotten", f"AWS:{EXT_ROLE}")
    wildcard = evidence(con, "RC-4.1", role_arn("ext-stringlike-wildcard"))["external_findings"]
    assert wildcard[0]["conditions"] == [
        {"operator": "StringLike", "key": "sts:ExternalId", "values": ["b7e1*"]}]
    reason = row(con, "RC-4.1", role_arn("ext-role-arn-no-id"))["reason"]
    assert reason.startswith("role ext-role-arn-no-id: statement 0 (Sid 'Vendor'): ")
    assert f"account {EXTERNAL}, outside the organization" in reason
    assert "could not be evaluated" in row(con, "RC-4.1", role_arn("not-an-object"))["reason"]
    guarded = evidence(con, "RC-4.1", role_arn("ext-deny-guard"))
    assert (guarded["external_grants"], guarded["protected_grants"]) == (1, 1)
    unguarded = evidence(con, "RC-4.1", role_arn("ext-deny-guard-other-principal"))
    assert unguarded["external_findings"][0]["guards"] == []  # the Deny covers another role
    assert row(con, "RC-4.1", role_arn("not-collected"))["reason"] == (
        "role not-collected: the trust policy was not collected")


@pytest.mark.parametrize("case", RC_4_4, ids=[c[0] for c in RC_4_4])
def test_rc_4_4_service_trust_without_source_condition_is_low(
    g4: Any, case: tuple[Any, ...]
) -> None:
    name, _, path, status = case
    arn = role_arn(name, path=path)
    assert statuses(g4[0], "RC-4.4").get(arn) == status
    if status == "fail":
        assert row(g4[0], "RC-4.4", arn)["severity"] == "low"


@pytest.mark.parametrize("case", RC_4_2, ids=[c[0] for c in RC_4_2])
def test_rc_4_2_active_external_access_finding_on_a_role_failing_rc_4_1(
    g4: Any, case: tuple[Any, ...]
) -> None:
    finding_id, role, _, status = case
    result = row(g4[0], "RC-4.2", finding_id)
    assert (result["status"], result["resource_type"]) == (status, "access_analyzer_finding")
    assert result["account_id"] == ACCOUNT


def test_rc_4_3_account_analyzers(g4: Any) -> None:
    assert statuses(g4[0], "RC-4.3") == {ACCOUNT: "pass", OTHER: "fail"}
    assert row(g4[0], "RC-4.3", OTHER)["severity"] == "medium"


def test_gx_confirms_g4(g4: Any) -> None:
    summary = g4[1]
    assert summary.errors == []
    for control_id in ("RC-4.1", "RC-4.2", "RC-4.3", "RC-4.4"):
        control = summary.controls[control_id]
        assert control.cross_check == "ok", control_id
        assert control.gx_unexpected == {"fail": control.failed}, control_id
    assert summary.controls["RC-4.1"].failed == 9


# RC-4.3 variants: (analyzers, {account: status})
RC_4_3 = [
    ("organization analyzer covers all",
     [_analyzer(ACCOUNT, "ORGANIZATION")], {ACCOUNT: "pass", OTHER: "pass"}),
    ("disabled organization analyzer", [_analyzer(ACCOUNT, "ORGANIZATION", "DISABLED")],
     {ACCOUNT: "fail", OTHER: "fail"}),
    ("unused-access organization analyzer does not count",
     [_analyzer(ACCOUNT, "ORGANIZATION_UNUSED_ACCESS")], {ACCOUNT: "fail", OTHER: "fail"}),
    ("account analyzer covers only its account", [_analyzer(OTHER, "ACCOUNT")],
     {ACCOUNT: "fail", OTHER: "pass"}),
    ("none", [], {ACCOUNT: "fail", OTHER: "fail"}),
]


@pytest.mark.parametrize("case", RC_4_3, ids=[c[0] for c in RC_4_3])
def test_rc_4_3_every_account_is_covered_by_an_analyzer(
    tmp_path: Path, case: tuple[Any, ...]
) -> None:
    _, analyzers, expected = case
    con = new_snapshot(tmp_path / "s.duckdb", (ACCOUNT, OTHER))
    set_organization(con)
    if analyzers:
        add_rows(con, "access_analyzers", *analyzers)
    judge(con, "RC-4.3")
    assert statuses(con, "RC-4.3") == expected
