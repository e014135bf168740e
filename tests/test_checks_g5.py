"""G5 controls RC-5.1 .. RC-5.3: roles trusting GitHub Actions and other OIDC providers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from checks_fixtures import (
    ACCOUNT,
    add_role,
    allow,
    evidence,
    new_snapshot,
    role_arn,
    row,
    run,
    set_organization,
    statuses,
    trust,
)

WEB = "sts:AssumeRoleWithWebIdentity"
GH = "token.actions.githubusercontent.com"
ENTERPRISE = f"{GH}/acme-ent"
AUD = {f"{GH}:aud": "sts.amazonaws.com"}
PINNED = "repo:acme/app:ref:refs/heads/main"
SUB_GUARD = {"StringNotLike": {f"{GH}:sub": "repo:acme/app:*"}}


def provider(issuer: str) -> dict[str, str]:
    return {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer}"}


def gh(condition: dict[str, Any] | None, issuer: str = GH, sid: str | None = None) -> Any:
    return allow(provider(issuer), WEB, condition, sid)


class GithubCase(NamedTuple):
    """A role (named after its case), its trust policy, its RC-5.1 status and severity and its
    RC-5.2 status (None: not in the population)."""

    role: str
    trust: Any
    rc_5_1: str | None
    rc_5_1_severity: str | None
    rc_5_2: str | None


GITHUB = [
    GithubCase("gh-pinned", trust=trust(gh({"StringEquals": AUD, "StringLike": {f"{GH}:sub": PINNED}})),
               rc_5_1="pass", rc_5_1_severity=None, rc_5_2="pass"),
    GithubCase("gh-immutable-ids",
               trust=trust(gh({"StringEquals": {**AUD,
                                                f"{GH}:sub": "repo:acme@12/app@34:environment:prod"}})),
               rc_5_1="pass", rc_5_1_severity=None, rc_5_2="pass"),
    GithubCase("gh-org-wide",
               trust=trust(gh({"StringEquals": AUD, "StringLike": {f"{GH}:sub": "repo:acme/*"}})),
               rc_5_1="fail", rc_5_1_severity="high", rc_5_2="pass"),
    GithubCase("gh-star", trust=trust(gh({"StringEquals": AUD, "StringLike": {f"{GH}:sub": "*"}})),
               rc_5_1="fail", rc_5_1_severity="critical", rc_5_2="pass"),
    GithubCase("gh-org-prefix",
               trust=trust(gh({"StringEquals": AUD, "StringLike": {f"{GH}:sub": "repo:acme*"}})),
               rc_5_1="fail", rc_5_1_severity="critical", rc_5_2="pass"),
    GithubCase("gh-no-sub", trust=trust(gh({"StringEquals": AUD})), rc_5_1="fail",
               rc_5_1_severity="critical", rc_5_2="pass"),
    GithubCase("gh-mixed-values",
               trust=trust(gh({"StringEquals": AUD, "StringLike": {f"{GH}:sub": [PINNED, "repo:acme/*"]}})),
               rc_5_1="fail", rc_5_1_severity="high", rc_5_2="pass"),
    GithubCase("gh-restricted-plus-open",
               trust=trust(gh({"StringEquals": AUD, "StringLike": {f"{GH}:sub": PINNED}}, sid="Deploy"),
                           gh(None, sid="Debug")),
               rc_5_1="fail", rc_5_1_severity="critical", rc_5_2="fail"),
    GithubCase("gh-enterprise",
               trust=trust(gh({"StringEquals": {f"{ENTERPRISE}:aud": "sts.amazonaws.com",
                                                f"{ENTERPRISE}:sub": PINNED}}, issuer=ENTERPRISE)),
               rc_5_1="pass", rc_5_1_severity=None, rc_5_2="pass"),
    GithubCase("gh-enterprise-plain-keys",
               trust=trust(gh({"StringEquals": {**AUD, f"{GH}:sub": PINNED}}, issuer=ENTERPRISE)),
               rc_5_1="fail", rc_5_1_severity="critical", rc_5_2="fail"),
    GithubCase("gh-key-case",
               trust=trust(gh({"StringEquals": {
                   "Token.Actions.GitHubUserContent.com:AUD": "sts.amazonaws.com",
                   "TOKEN.ACTIONS.GITHUBUSERCONTENT.COM:sub": PINNED}})),
               rc_5_1="pass", rc_5_1_severity=None, rc_5_2="pass"),
    GithubCase("gh-no-aud", trust=trust(gh({"StringEquals": {f"{GH}:sub": PINNED}})), rc_5_1="pass",
               rc_5_1_severity=None, rc_5_2="fail"),
    GithubCase("gh-wrong-aud",
               trust=trust(gh({"StringEquals": {f"{GH}:aud": "https://github.com/acme",
                                                f"{GH}:sub": PINNED}})),
               rc_5_1="pass", rc_5_1_severity=None, rc_5_2="fail"),
    GithubCase("gh-forallvalues-sub",
               trust=trust(gh({"StringEquals": AUD, "ForAllValues:StringLike": {f"{GH}:sub": PINNED}})),
               rc_5_1="pass", rc_5_1_severity=None, rc_5_2="fail"),
    GithubCase("gh-sub-ifexists",
               trust=trust(gh({"StringEquals": AUD, "StringLikeIfExists": {f"{GH}:sub": PINNED}})),
               rc_5_1="pass", rc_5_1_severity=None, rc_5_2="pass"),
    # IAM: a Deny with StringNotLike sub (true when sub is absent) pins it like an Allow would
    GithubCase("gh-deny-guard-sub",
               trust=trust(gh({"StringEquals": AUD}),
                           {"Effect": "Deny", "Principal": "*", "Action": WEB, "Condition": SUB_GUARD}),
               rc_5_1="pass", rc_5_1_severity=None, rc_5_2="pass"),
    GithubCase("gh-deny-guard-other-action",
               trust=trust(gh({"StringEquals": AUD}),
                           {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole",
                            "Condition": SUB_GUARD}),
               rc_5_1="fail", rc_5_1_severity="critical", rc_5_2="pass"),
    # StringEquals compares literally: this admits no token (broken, not exposed): pass + note
    GithubCase("gh-equals-literal-star",
               trust=trust(gh({"StringEquals": {**AUD, f"{GH}:sub": "repo:acme/*"}})),
               rc_5_1="pass", rc_5_1_severity=None, rc_5_2="pass"),
    GithubCase("gh-assume-role-only", trust=trust(allow(provider(GH), "sts:AssumeRole")), rc_5_1=None,
               rc_5_1_severity=None, rc_5_2=None),
    GithubCase("not-oidc", trust=trust(allow({"Service": "ec2.amazonaws.com"})), rc_5_1=None,
               rc_5_1_severity=None, rc_5_2=None),
]


class OtherOidcCase(NamedTuple):
    """A role (named after its case), its trust policy and its RC-5.3 status (None: not in the
    population)."""

    role: str
    trust: Any
    status: str | None


OTHER_OIDC = [
    OtherOidcCase("gitlab-sub",
                  trust=trust(allow(provider("gitlab.com"), WEB,
                                    {"StringLike": {"gitlab.com:sub":
                                                    "project_path:acme/app:ref_type:branch:*"}})),
                  status="pass"),
    OtherOidcCase("gitlab-aud-only",
                  trust=trust(allow(provider("gitlab.com"), WEB,
                                    {"StringEquals": {"gitlab.com:aud": "https://gitlab.com"}})),
                  status="fail"),
    OtherOidcCase("terraform-star-sub",
                  trust=trust(allow(provider("app.terraform.io"), WEB,
                                    {"StringLike": {"app.terraform.io:sub": "*"}})),
                  status="fail"),
    OtherOidcCase("eks-service-account",
                  trust=trust(allow(provider("oidc.eks.eu-west-1.amazonaws.com/id/ABC"), WEB,
                                    {"StringEquals": {"oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub":
                                                      "system:serviceaccount:ns:app"}})),
                  status="pass"),
    OtherOidcCase("eks-negated-sub",
                  trust=trust(allow(provider("oidc.eks.eu-west-1.amazonaws.com/id/ABC"), WEB,
                                    {"StringNotEquals": {"oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub":
                                                         "system:serviceaccount:ns:other"}})),
                  status="fail"),
    OtherOidcCase("circleci-other-provider-key",
                  trust=trust(allow(provider("oidc.circleci.com/org/123"), WEB,
                                    {"StringEquals": {"gitlab.com:sub": "project_path:acme/app"}})),
                  status="fail"),
    OtherOidcCase("cognito", trust=trust(allow({"Federated": "cognito-identity.amazonaws.com"}, WEB)),
                  status=None),
]


@pytest.fixture(scope="module")
def g5(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    tmp_path = tmp_path_factory.mktemp("g5")
    con = new_snapshot(tmp_path / "s.duckdb")
    set_organization(con)
    for case in GITHUB + OTHER_OIDC:
        add_role(con, case.role, case.trust)
    summary = run(con, tmp_path)
    yield con, summary
    con.close()


@pytest.mark.parametrize("case", GITHUB, ids=lambda c: c.role)
def test_rc_5_1_github_roles_are_pinned_to_one_repository(g5: Any, case: GithubCase) -> None:
    assert statuses(g5[0], "RC-5.1").get(role_arn(case.role)) == case.rc_5_1
    if case.rc_5_1 == "fail":
        assert row(g5[0], "RC-5.1", role_arn(case.role))["severity"] == case.rc_5_1_severity


@pytest.mark.parametrize("case", GITHUB, ids=lambda c: c.role)
def test_rc_5_2_github_roles_require_the_sts_audience(g5: Any, case: GithubCase) -> None:
    assert statuses(g5[0], "RC-5.2").get(role_arn(case.role)) == case.rc_5_2
    if case.rc_5_2 == "fail":
        assert row(g5[0], "RC-5.2", role_arn(case.role))["severity"] == "medium"


@pytest.mark.parametrize("case", OTHER_OIDC, ids=lambda c: c.role)
def test_rc_5_3_other_oidc_roles_restrict_the_subject(g5: Any, case: OtherOidcCase) -> None:
    assert statuses(g5[0], "RC-5.3").get(role_arn(case.role)) == case.status
    if case.status == "fail":
        assert row(g5[0], "RC-5.3", role_arn(case.role))["severity"] == "high"


def test_rc_5_evidence_names_statement_subjects_and_conditions(g5: Any) -> None:
    con = g5[0]
    facts = evidence(con, "RC-5.1", role_arn("gh-restricted-plus-open"))
    assert facts["subjects_allowed"] == [PINNED, "*"]
    [finding] = facts["sub_findings"]
    assert (finding["statement_index"], finding["sid"], finding["severity"]) == (
        1, "Debug", "critical")
    assert finding["principal"] == f"Federated:arn:aws:iam::{ACCOUNT}:oidc-provider/{GH}"
    wide = evidence(con, "RC-5.1", role_arn("gh-org-wide"))["sub_findings"][0]
    assert {"operator": "StringLike", "key": f"{GH}:sub", "values": ["repo:acme/*"]} in wide[
        "conditions"]
    assert "repo:acme/*" in row(con, "RC-5.1", role_arn("gh-org-wide"))["reason"]
    assert "ForAllValues:StringLike" in row(con, "RC-5.2", role_arn("gh-forallvalues-sub"))[
        "reason"]
    guarded = evidence(con, "RC-5.1", role_arn("gh-deny-guard-sub"))
    assert (guarded["subjects_allowed"], guarded["unpinned_subjects"]) == (["repo:acme/app:*"], 0)


def test_rc_5_1_string_equals_wildcard_is_reported_as_literal_not_org_wide(g5: Any) -> None:
    """IAM: StringEquals does not expand `*`; `repo:acme/*` matches only itself, no real token."""
    con = g5[0]
    result = row(con, "RC-5.1", role_arn("gh-equals-literal-star"))
    note = ("statement 0: StringEquals compares literally: 'repo:acme/*' admits no real subject; "
            "use StringLike")
    assert result["reason"] == (
        f"role gh-equals-literal-star: no GitHub subject can assume the role | {note}")
    facts = evidence(con, "RC-5.1", role_arn("gh-equals-literal-star"))
    assert (facts["subjects_allowed"], facts["sub_notes"], facts["sub_findings"]) == ([], [note], [])


def test_gx_confirms_g5(g5: Any) -> None:
    summary = g5[1]
    assert summary.errors == []
    for control_id in ("RC-5.1", "RC-5.2", "RC-5.3"):
        control = summary.controls[control_id]
        assert control.cross_check == "ok", control_id
        assert control.gx_unexpected == {"fail": control.counts.failed}, control_id
        assert control.counts.failed > 0
