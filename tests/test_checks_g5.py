"""G5 controls RC-5.1 .. RC-5.3: roles trusting GitHub Actions and other OIDC providers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


# (role, trust policy, RC-5.1 status, RC-5.1 severity, RC-5.2 status); None = not in population
GITHUB = [
    ("gh-pinned", trust(gh({"StringEquals": AUD, "StringLike": {f"{GH}:sub": PINNED}})),
     "pass", None, "pass"),
    ("gh-immutable-ids",
     trust(gh({"StringEquals": {**AUD, f"{GH}:sub": "repo:acme@12/app@34:environment:prod"}})),
     "pass", None, "pass"),
    ("gh-org-wide", trust(gh({"StringEquals": AUD, "StringLike": {f"{GH}:sub": "repo:acme/*"}})),
     "fail", "high", "pass"),
    ("gh-star", trust(gh({"StringEquals": AUD, "StringLike": {f"{GH}:sub": "*"}})),
     "fail", "critical", "pass"),
    ("gh-org-prefix",
     trust(gh({"StringEquals": AUD, "StringLike": {f"{GH}:sub": "repo:acme*"}})),
     "fail", "critical", "pass"),
    ("gh-no-sub", trust(gh({"StringEquals": AUD})), "fail", "critical", "pass"),
    ("gh-mixed-values",
     trust(gh({"StringEquals": AUD, "StringLike": {f"{GH}:sub": [PINNED, "repo:acme/*"]}})),
     "fail", "high", "pass"),
    ("gh-restricted-plus-open",
     trust(gh({"StringEquals": AUD, "StringLike": {f"{GH}:sub": PINNED}}, sid="Deploy"),
           gh(None, sid="Debug")), "fail", "critical", "fail"),
    ("gh-enterprise",
     trust(gh({"StringEquals": {f"{ENTERPRISE}:aud": "sts.amazonaws.com",
                                f"{ENTERPRISE}:sub": PINNED}}, issuer=ENTERPRISE)),
     "pass", None, "pass"),
    ("gh-enterprise-plain-keys",
     trust(gh({"StringEquals": {**AUD, f"{GH}:sub": PINNED}}, issuer=ENTERPRISE)),
     "fail", "critical", "fail"),
    ("gh-key-case",
     trust(gh({"StringEquals": {"Token.Actions.GitHubUserContent.com:AUD": "sts.amazonaws.com",
                                "TOKEN.ACTIONS.GITHUBUSERCONTENT.COM:sub": PINNED}})),
     "pass", None, "pass"),
    ("gh-no-aud", trust(gh({"StringEquals": {f"{GH}:sub": PINNED}})), "pass", None, "fail"),
    ("gh-wrong-aud",
     trust(gh({"StringEquals": {f"{GH}:aud": "https://github.com/acme", f"{GH}:sub": PINNED}})),
     "pass", None, "fail"),
    ("gh-forallvalues-sub",
     trust(gh({"StringEquals": AUD, "ForAllValues:StringLike": {f"{GH}:sub": PINNED}})),
     "pass", None, "fail"),
    ("gh-sub-ifexists",
     trust(gh({"StringEquals": AUD, "StringLikeIfExists": {f"{GH}:sub": PINNED}})),
     "pass", None, "pass"),
    # IAM: a Deny with StringNotLike sub (true when sub is absent) pins it like an Allow would
    ("gh-deny-guard-sub",
     trust(gh({"StringEquals": AUD}),
           {"Effect": "Deny", "Principal": "*", "Action": WEB, "Condition": SUB_GUARD}),
     "pass", None, "pass"),
    ("gh-deny-guard-other-action",
     trust(gh({"StringEquals": AUD}),
           {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole",
            "Condition": SUB_GUARD}), "fail", "critical", "pass"),
    # StringEquals compares literally: this admits no token (broken, not exposed): pass + note
    ("gh-equals-literal-star",
     trust(gh({"StringEquals": {**AUD, f"{GH}:sub": "repo:acme/*"}})), "pass", None, "pass"),
    ("gh-assume-role-only", trust(allow(provider(GH), "sts:AssumeRole")), None, None, None),
    ("not-oidc", trust(allow({"Service": "ec2.amazonaws.com"})), None, None, None),
]

# (role, trust policy, RC-5.3 status); None = not in the population
OTHER_OIDC = [
    ("gitlab-sub",
     trust(allow(provider("gitlab.com"), WEB,
                 {"StringLike": {"gitlab.com:sub": "project_path:acme/app:ref_type:branch:*"}})),
     "pass"),
    ("gitlab-aud-only",
     trust(allow(provider("gitlab.com"), WEB,
                 {"StringEquals": {"gitlab.com:aud": "https://gitlab.com"}})), "fail"),
    ("terraform-star-sub",
     trust(allow(provider("app.terraform.io"), WEB,
                 {"StringLike": {"app.terraform.io:sub": "*"}})), "fail"),
    ("eks-service-account",
     trust(allow(provider("oidc.eks.eu-west-1.amazonaws.com/id/ABC"), WEB,
                 {"StringEquals": {"oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub":
                                   "system:serviceaccount:ns:app"}})), "pass"),
    ("eks-negated-sub",
     trust(allow(provider("oidc.eks.eu-west-1.amazonaws.com/id/ABC"), WEB,
                 {"StringNotEquals": {"oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub":
                                      "system:serviceaccount:ns:other"}})), "fail"),
    ("circleci-other-provider-key",
     trust(allow(provider("oidc.circleci.com/org/123"), WEB,
                 {"StringEquals": {"gitlab.com:sub": "project_path:acme/app"}})), "fail"),
    ("cognito", trust(allow({"Federated": "cognito-identity.amazonaws.com"}, WEB)), None),
]


@pytest.fixture(scope="module")
def g5(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    tmp_path = tmp_path_factory.mktemp("g5")
    con = new_snapshot(tmp_path / "s.duckdb")
    set_organization(con)
    for name, doc, *_ in GITHUB + OTHER_OIDC:
        add_role(con, name, doc)
    summary = run(con, tmp_path)
    yield con, summary
    con.close()


@pytest.mark.parametrize("case", GITHUB, ids=[c[0] for c in GITHUB])
def test_rc_5_1_github_roles_are_pinned_to_one_repository(g5: Any, case: tuple[Any, ...]) -> None:
    name, _, status, severity, _ = case
    assert statuses(g5[0], "RC-5.1").get(role_arn(name)) == status
    if status == "fail":
        assert row(g5[0], "RC-5.1", role_arn(name))["severity"] == severity


@pytest.mark.parametrize("case", GITHUB, ids=[c[0] for c in GITHUB])
def test_rc_5_2_github_roles_require_the_sts_audience(g5: Any, case: tuple[Any, ...]) -> None:
    name, *_, status = case
    assert statuses(g5[0], "RC-5.2").get(role_arn(name)) == status
    if status == "fail":
        assert row(g5[0], "RC-5.2", role_arn(name))["severity"] == "medium"


@pytest.mark.parametrize("case", OTHER_OIDC, ids=[c[0] for c in OTHER_OIDC])
def test_rc_5_3_other_oidc_roles_restrict_the_subject(g5: Any, case: tuple[Any, ...]) -> None:
    name, _, status = case
    assert statuses(g5[0], "RC-5.3").get(role_arn(name)) == status
    if status == "fail":
        assert row(g5[0], "RC-5.3", role_arn(name))["severity"] == "high"


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
        assert control.gx_unexpected == {"fail": control.failed}, control_id
        assert control.failed > 0
