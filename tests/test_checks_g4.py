"""G4 controls RC-4.1 .. RC-4.4: external principals, Access Analyzer, service trust.

One hand-built organization (accounts ACCOUNT, OTHER; EXTERNAL is outside it), evaluated once
with GX; variants of the analyzers are judged without GX (checks_fixtures.judge).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

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


class TrustCase(NamedTuple):
    """A role (named after its case), its trust policy, and its RC-4.1 status (None: not in the
    population) and severity."""

    role: str
    trust: Any
    status: str | None
    severity: str | None


RC_4_1 = [
    TrustCase("ext-root-no-id", trust=trust(allow({"AWS": EXT_ROOT})), status="fail", severity="high"),
    TrustCase("ext-bare-id-in-list", trust=trust(allow({"AWS": [EXTERNAL]}, condition=EXTERNAL_ID)),
              status="pass", severity=None),
    TrustCase("ext-role-arn-no-id", trust=trust(allow({"AWS": EXT_ROLE}, sid="Vendor")), status="fail",
              severity="high"),
    TrustCase("ext-stringlike-wildcard",
              trust=trust(allow({"AWS": EXT_ROOT}, condition={"StringLike": {"sts:ExternalId": "b7e1*"}})),
              status="fail", severity="high"),
    TrustCase("ext-stringlike-exact",
              trust=trust(allow({"AWS": EXT_ROOT},
                                condition={"StringLike": {"sts:ExternalId": "b7e1c0de"}})),
              status="pass", severity=None),
    TrustCase("ext-ifexists",
              trust=trust(allow({"AWS": EXT_ROOT},
                                condition={"StringEqualsIfExists": {"sts:ExternalId": "b7e1c0de"}})),
              status="fail", severity="high"),
    TrustCase("ext-empty-id",
              trust=trust(allow({"AWS": EXT_ROOT}, condition={"StringEquals": {"sts:ExternalId": ""}})),
              status="fail", severity="high"),
    TrustCase("ext-key-case",
              trust=trust(allow({"AWS": EXT_ROOT}, condition={"StringEquals": {"STS:EXTERNALID": "x1"}})),
              status="pass", severity=None),
    TrustCase("ext-restricted-plus-unrestricted",
              trust=trust(allow({"AWS": EXT_ROOT}, condition=EXTERNAL_ID, sid="WithId"),
                          allow({"AWS": EXT_ROLE}, sid="Forgotten")),
              status="fail", severity="high"),
    TrustCase("ext-denied",
              trust=trust(allow({"AWS": EXT_ROOT}), {"Effect": "Deny", "Principal": {"AWS": EXTERNAL},
                                                     "Action": "sts:AssumeRole"}),
              status=None, severity=None),
    # IAM: no Deny may fire, and StringNotEquals is true when ExternalId is absent, so this
    # Deny makes the ExternalId mandatory for every principal of account EXTERNAL
    TrustCase("ext-deny-guard", trust=trust(allow({"AWS": EXT_ROOT}), deny({"AWS": EXTERNAL}, ID_GUARD)),
              status="pass", severity=None),
    TrustCase("ext-deny-guard-other-principal",
              trust=trust(allow({"AWS": EXT_ROOT}), deny({"AWS": EXT_ROLE}, ID_GUARD)), status="fail",
              severity="high"),
    TrustCase("star-deny-guard-org-id",
              trust=trust(allow("*"), deny("*", {"StringNotEquals": {"aws:PrincipalOrgID": ORG_ID}})),
              status=None, severity=None),
    TrustCase("star-no-condition", trust=trust(allow("*")), status="fail", severity="critical"),
    TrustCase("star-aws-org-pinned",
              trust=trust(allow({"AWS": "*"},
                                condition={"StringEquals": {"aws:PrincipalOrgID": ORG_ID}})),
              status=None, severity=None),
    TrustCase("star-account-pinned",
              trust=trust(allow({"AWS": "*"},
                                condition={"StringEquals": {"aws:PrincipalAccount": [OTHER]}})),
              status=None, severity=None),
    TrustCase("star-other-org",
              trust=trust(allow({"AWS": "*"},
                                condition={"StringEquals": {"aws:PrincipalOrgID": "o-other"}})),
              status="fail", severity="high"),
    TrustCase("internal-account", trust=trust(allow({"AWS": f"arn:aws:iam::{OTHER}:root"})), status=None,
              severity=None),
    TrustCase("service-only", trust=trust(allow({"Service": "ec2.amazonaws.com"})), status=None,
              severity=None),
    TrustCase("not-an-object", trust="not a policy", status="error", severity=None),
    TrustCase("not-collected", trust=None, status="error", severity=None),
]


class ServiceTrustCase(NamedTuple):
    """A role (named after its case), its trust policy and path, and its RC-4.4 status (None: not
    in the population)."""

    role: str
    trust: Any
    path: str
    status: str | None


RC_4_4 = [
    ServiceTrustCase("svc-no-source", trust=trust(allow({"Service": "lambda.amazonaws.com"})), path="/",
                     status="fail"),
    ServiceTrustCase("svc-source-account",
                     trust=trust(allow({"Service": "lambda.amazonaws.com"},
                                       condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}})),
                     path="/", status="pass"),
    ServiceTrustCase("svc-source-arn",
                     trust=trust(allow({"Service": "s3.amazonaws.com"},
                                       condition={"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::logs-bucket"}})),
                     path="/", status="pass"),
    ServiceTrustCase("svc-ifexists",
                     trust=trust(allow({"Service": "sns.amazonaws.com"},
                                       condition={"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}})),
                     path="/", status="fail"),
    ServiceTrustCase("svc-list", trust=trust(allow({"Service": ["ec2.amazonaws.com", "ecs.amazonaws.com"]})),
                     path="/", status="fail"),
    ServiceTrustCase("svc-linked", trust=trust(allow({"Service": "ecs.amazonaws.com"})),
                     path="/aws-service-role/ecs.amazonaws.com/", status=None),
    ServiceTrustCase("svc-none", trust=trust(allow({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})), path="/",
                     status=None),
    ServiceTrustCase("svc-deny-guard-source-account",
                     trust=trust(allow({"Service": "sns.amazonaws.com"}),
                                 deny("*", {"StringNotEquals": {"aws:SourceAccount": ACCOUNT}})),
                     path="/", status="pass"),
]


class FindingCase(NamedTuple):
    """An ExternalAccess finding on a role of RC_4_1 (or a deleted one) and its RC-4.2 status."""

    finding_id: str
    role: str
    finding_status: str
    status: str


RC_4_2 = [
    FindingCase("f-active-unprotected", role="ext-root-no-id", finding_status="ACTIVE", status="fail"),
    FindingCase("f-active-protected", role="ext-bare-id-in-list", finding_status="ACTIVE", status="pass"),
    FindingCase("f-archived", role="ext-role-arn-no-id", finding_status="ARCHIVED", status="pass"),
    FindingCase("f-resolved", role="star-no-condition", finding_status="RESOLVED", status="pass"),
    FindingCase("f-internal-org-pinned", role="star-aws-org-pinned", finding_status="ACTIVE",
                status="pass"),
    FindingCase("f-role-gone", role="deleted-role", finding_status="ACTIVE", status="error"),
    FindingCase("f-unparseable", role="not-an-object", finding_status="ACTIVE", status="error"),
    FindingCase("f-odd-status", role="ext-root-no-id", finding_status="PENDING", status="error"),
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
    for role in RC_4_1:
        add_role(con, role.role, role.trust)
    for service_role in RC_4_4:
        add_role(con, service_role.role, service_role.trust, path=service_role.path)
    add_rows(con, "access_analyzer_findings",
             *(_finding(f.finding_id, f.role, f.finding_status) for f in RC_4_2))
    # RC-4.3: ACCOUNT has its own analyzer; OTHER only a disabled and an unused-access one
    add_rows(con, "access_analyzers", _analyzer(ACCOUNT, "ACCOUNT"),
             _analyzer(OTHER, "ACCOUNT", "DISABLED"),
             _analyzer(OTHER, "ACCOUNT_UNUSED_ACCESS", name="unused"))
    summary = run(con, tmp_path)
    yield con, summary
    con.close()


@pytest.mark.parametrize("case", RC_4_1, ids=lambda c: c.role)
def test_rc_4_1_external_principals_must_supply_an_external_id(g4: Any, case: TrustCase) -> None:
    assert statuses(g4[0], "RC-4.1").get(role_arn(case.role)) == case.status
    if case.status == "fail":
        assert row(g4[0], "RC-4.1", role_arn(case.role))["severity"] == case.severity


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


@pytest.mark.parametrize("case", RC_4_4, ids=lambda c: c.role)
def test_rc_4_4_service_trust_without_source_condition_is_low(
    g4: Any, case: ServiceTrustCase
) -> None:
    arn = role_arn(case.role, path=case.path)
    assert statuses(g4[0], "RC-4.4").get(arn) == case.status
    if case.status == "fail":
        assert row(g4[0], "RC-4.4", arn)["severity"] == "low"


@pytest.mark.parametrize("case", RC_4_2, ids=lambda c: c.finding_id)
def test_rc_4_2_active_external_access_finding_on_a_role_failing_rc_4_1(
    g4: Any, case: FindingCase
) -> None:
    result = row(g4[0], "RC-4.2", case.finding_id)
    assert (result["status"], result["resource_type"]) == (case.status, "access_analyzer_finding")
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
        assert control.gx_unexpected == {"fail": control.counts.failed}, control_id
    assert summary.controls["RC-4.1"].counts.failed == 9


class AnalyzerCase(NamedTuple):
    """RC-4.3 variants: the analyzers, and the status of each account."""

    name: str
    analyzers: list[dict[str, Any]]
    statuses: dict[str, str]


RC_4_3 = [
    AnalyzerCase("organization analyzer covers all", analyzers=[_analyzer(ACCOUNT, "ORGANIZATION")],
                 statuses={ACCOUNT: "pass", OTHER: "pass"}),
    AnalyzerCase("disabled organization analyzer",
                 analyzers=[_analyzer(ACCOUNT, "ORGANIZATION", "DISABLED")],
                 statuses={ACCOUNT: "fail", OTHER: "fail"}),
    AnalyzerCase("unused-access organization analyzer does not count",
                 analyzers=[_analyzer(ACCOUNT, "ORGANIZATION_UNUSED_ACCESS")],
                 statuses={ACCOUNT: "fail", OTHER: "fail"}),
    AnalyzerCase("account analyzer covers only its account", analyzers=[_analyzer(OTHER, "ACCOUNT")],
                 statuses={ACCOUNT: "fail", OTHER: "pass"}),
    AnalyzerCase("none", analyzers=[], statuses={ACCOUNT: "fail", OTHER: "fail"}),
]


@pytest.mark.parametrize("case", RC_4_3, ids=lambda c: c.name)
def test_rc_4_3_every_account_is_covered_by_an_analyzer(tmp_path: Path, case: AnalyzerCase) -> None:
    con = new_snapshot(tmp_path / "s.duckdb", (ACCOUNT, OTHER))
    set_organization(con)
    if case.analyzers:
        add_rows(con, "access_analyzers", *case.analyzers)
    judge(con, "RC-4.3")
    assert statuses(con, "RC-4.3") == case.statuses
