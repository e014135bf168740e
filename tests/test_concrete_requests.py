"""checks/iam/requests.py, the request evaluator the GX restatements of G4-G6 read.

Each case names the IAM evaluation rule it pins. The last tests show the cross-check is
independent: when the evaluator and the symbolic rule disagree, the control's rows become
`error`, whichever side is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from checks_fixtures import (
    ACCOUNT,
    EXTERNAL,
    OTHER,
    add_role,
    add_rows,
    allow,
    new_snapshot,
    run,
    set_organization,
    statuses,
    trust,
)

from checks.iam import requests
from checks.iam.requests import Caller, Request, Unknown, allows, decide, read_policy, scp_allows

ORG = {ACCOUNT, OTHER}
ORG_ID = "o-rolecall"
GH = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
GITLAB = "arn:aws:iam::111111111111:oidc-provider/gitlab.com"
SUB, AUD = "token.actions.githubusercontent.com:sub", "token.actions.githubusercontent.com:aud"
STRANGER = Caller("aws", f"arn:aws:iam::{EXTERNAL}:role/vendor", EXTERNAL)


def deny(principal: Any, condition: dict[str, Any] | None = None, action: str = "sts:AssumeRole",
         ) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Deny", "Principal": principal, "Action": action}
    if condition:
        statement["Condition"] = condition
    return statement


# --- the evaluator ---------------------------------------------------------------------------

class RequestCase(NamedTuple):
    """A policy, one concrete request, and IAM's decision for it."""

    iam_rule: str
    policy: dict[str, Any]
    request: Request
    decision: str  # "allow", "deny" (explicit) or "implicit"


def _request(context: dict[str, str] | None = None, caller: Caller = STRANGER,
             action: str = "sts:AssumeRole") -> Request:
    return Request(caller, action, "*", {k.lower(): (v,) for k, v in (context or {}).items()})


EXT_ALLOW = allow({"AWS": f"arn:aws:iam::{EXTERNAL}:root"})
REQUEST_CASES = [
    RequestCase("an explicit Deny overrides any Allow",
                trust(EXT_ALLOW, deny("*")), _request(), "deny"),
    RequestCase("without a matching Allow the request is implicitly denied",
                trust(allow({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})), _request(), "implicit"),
    RequestCase("an account principal stands for every identity of the account",
                trust(EXT_ALLOW), _request(), "allow"),
    RequestCase("a negated operator is true when the key is absent (the guard fires)",
                trust(EXT_ALLOW, deny("*", {"StringNotEquals": {"sts:ExternalId": "x"}})),
                _request(), "deny"),
    RequestCase("StringEquals compares literally: `*` matches only the text `*`",
                trust(allow({"AWS": "*"}, condition={"StringEquals": {"sts:ExternalId": "*"}})),
                _request({"sts:ExternalId": "anything"}), "implicit"),
    RequestCase("StringLike expands `*`",
                trust(allow({"AWS": "*"}, condition={"StringLike": {"sts:ExternalId": "*"}})),
                _request({"sts:ExternalId": "anything"}), "allow"),
    RequestCase("...IfExists is true when the key is absent",
                trust(allow({"AWS": "*"}, condition={"StringEqualsIfExists": {"sts:ExternalId": "x"}})),
                _request(), "allow"),
    RequestCase("ForAllValues is true when the key is absent",
                trust(allow({"AWS": "*"}, condition={"ForAllValues:StringEquals": {"sts:ExternalId": "x"}})),
                _request(), "allow"),
    RequestCase("ForAnyValue is false when the key is absent",
                trust(allow({"AWS": "*"}, condition={"ForAnyValue:StringEquals": {"sts:ExternalId": "x"}})),
                _request(), "implicit"),
    RequestCase("Null true requires the key to be absent",
                trust(allow({"AWS": "*"}, condition={"Null": {"sts:ExternalId": "true"}})),
                _request({"sts:ExternalId": "x"}), "implicit"),
    RequestCase("the values of one key are ORed",
                trust(allow({"AWS": "*"}, condition={"StringEquals": {"sts:ExternalId": ["a", "b"]}})),
                _request({"sts:ExternalId": "b"}), "allow"),
    RequestCase("the keys of a Condition block are ANDed",
                trust(allow({"AWS": "*"}, condition={"StringEquals": {"sts:ExternalId": "a",
                                                                       "aws:PrincipalAccount": ACCOUNT}})),
                _request({"sts:ExternalId": "a", "aws:PrincipalAccount": EXTERNAL}), "implicit"),
    RequestCase("condition keys are case-insensitive",
                trust(allow({"AWS": "*"}, condition={"StringEquals": {"STS:EXTERNALID": "a"}})),
                _request({"sts:ExternalId": "a"}), "allow"),
    RequestCase('"*" in an Allow admits AWS callers, not a web identity',
                trust(allow("*", action="sts:AssumeRoleWithWebIdentity")),
                _request(caller=Caller("federated", GH), action="sts:AssumeRoleWithWebIdentity"),
                "implicit"),
    RequestCase('"*" in a Deny covers every caller',
                trust(allow({"Federated": GH}, action="sts:AssumeRoleWithWebIdentity"),
                      deny("*", action="sts:AssumeRoleWithWebIdentity")),
                _request(caller=Caller("federated", GH), action="sts:AssumeRoleWithWebIdentity"),
                "deny"),
    RequestCase("NotPrincipal in an Allow admits everyone it does not name",
                trust({"Effect": "Allow", "NotPrincipal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}),
                _request(), "allow"),
    RequestCase("actions match case-insensitively, with wildcards",
                trust(allow({"AWS": "*"}, action="STS:Assume*")), _request(), "allow"),
    RequestCase("ArnLike compares the six ARN fields, each with wildcards",
                trust(allow({"AWS": "*"},
                            condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/v*"}})),
                _request({"aws:PrincipalArn": STRANGER.arn}), "allow"),
]


@pytest.mark.parametrize("case", REQUEST_CASES, ids=lambda c: c.iam_rule)
def test_the_evaluator_follows_iam(case: RequestCase) -> None:
    assert decide(read_policy(json.dumps(case.policy)), case.request) == case.decision


def test_an_operator_it_does_not_know_is_unknown_not_a_guess() -> None:
    rules = read_policy(trust(allow({"AWS": "*"}, condition={"StringSoundsLike": {"sts:ExternalId": "x"}})))
    with pytest.raises(Unknown, match="StringSoundsLike"):
        allows(rules, _request({"sts:ExternalId": "x"}))


def _scp(*statements: dict[str, Any]) -> tuple[requests.Rule, ...]:
    return read_policy({"Version": "2012-10-17", "Statement": list(statements)})


FULL = _scp({"Effect": "Allow", "Action": "*", "Resource": "*"})
DENY_USERS = _scp({"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"})
S3_ONLY = _scp({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})


class ScpCase(NamedTuple):
    iam_rule: str
    levels: list[list[tuple[requests.Rule, ...] | None]]
    allowed: bool | None


SCP_CASES = [
    ScpCase("FullAWSAccess at every level allows", [[FULL], [FULL]], True),
    ScpCase("a Deny at any level denies", [[FULL], [FULL, DENY_USERS]], False),
    ScpCase("a level none of whose SCPs allows the action denies it (allow-list)",
            [[FULL], [S3_ONLY]], False),
    ScpCase("an SCP that could not be read leaves the answer unknown", [[FULL], [FULL, None]], None),
    ScpCase("a readable Deny decides even beside an unreadable SCP", [[FULL, DENY_USERS], [None]], False),
]


@pytest.mark.parametrize("case", SCP_CASES, ids=lambda c: c.iam_rule)
def test_scp_chains(case: ScpCase) -> None:
    caller = requests.ordinary_caller(OTHER)
    assert scp_allows(case.levels, Request(caller, "iam:CreateUser", "*")) is case.allowed


# --- the questions G4 and G5 ask -----------------------------------------------------------

class QuestionCase(NamedTuple):
    """A trust policy and how many callers / providers the question finds a way in for."""

    iam_rule: str
    policy: dict[str, Any]
    found: int


EXT = {"AWS": f"arn:aws:iam::{EXTERNAL}:root"}
EXTERNAL_ID_CASES = [
    QuestionCase("no ExternalId condition: an outside account gets in", trust(allow(EXT)), 1),
    QuestionCase("StringEquals ExternalId: only the secret gets in",
                 trust(allow(EXT, condition={"StringEquals": {"sts:ExternalId": "s3cret"}})), 0),
    QuestionCase("a Deny guard StringNotEquals ExternalId makes it mandatory",
                 trust(allow(EXT), deny("*", {"StringNotEquals": {"sts:ExternalId": "s3cret"}})), 0),
    QuestionCase("StringLike with a wildcard admits a guessed ExternalId",
                 trust(allow(EXT, condition={"StringLike": {"sts:ExternalId": "sec*"}})), 1),
    QuestionCase("StringEqualsIgnoreCase admits a case variant of the secret",
                 trust(allow(EXT, condition={"StringEqualsIgnoreCase": {"sts:ExternalId": "s3cret"}})), 1),
    QuestionCase("an empty ExternalId value is no secret",
                 trust(allow(EXT, condition={"StringEquals": {"sts:ExternalId": ["s3cret", ""]}})), 1),
    QuestionCase("`*` pinned by aws:PrincipalOrgID admits nobody outside the organization",
                 trust(allow({"AWS": "*"}, condition={"StringEquals": {"aws:PrincipalOrgID": ORG_ID}})), 0),
    QuestionCase("an organization pin does not let a named outside account in either",
                 trust(allow(EXT, condition={"StringEquals": {"aws:PrincipalOrgID": ORG_ID}})), 0),
    QuestionCase("`*` pinned to another organization still admits outsiders",
                 trust(allow({"AWS": "*"},
                             condition={"StringEquals": {"aws:PrincipalOrgID": "o-other"}})), 1),
    QuestionCase("a principal inside the organization is not external",
                 trust(allow({"AWS": f"arn:aws:iam::{OTHER}:root"})), 0),
]


@pytest.mark.parametrize("case", EXTERNAL_ID_CASES, ids=lambda c: c.iam_rule)
def test_outside_callers_without_the_external_id(case: QuestionCase) -> None:
    found = requests.external_callers_admitted_without_external_id(json.dumps(case.policy), ORG, ORG_ID)
    assert found == case.found


SERVICE = {"Service": "lambda.amazonaws.com"}
SERVICE_CASES = [
    QuestionCase("no source condition: the service gets in for anyone", trust(allow(SERVICE)), 1),
    QuestionCase("aws:SourceAccount pins the source",
                 trust(allow(SERVICE, condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}})), 0),
    QuestionCase("a source pattern of wildcards only pins nothing",
                 trust(allow(SERVICE, condition={"ArnLike": {"aws:SourceArn": "*"}})), 1),
    QuestionCase("...IfExists lets a request without the source through",
                 trust(allow(SERVICE,
                             condition={"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}})), 1),
]


@pytest.mark.parametrize("case", SERVICE_CASES, ids=lambda c: c.iam_rule)
def test_services_from_any_source(case: QuestionCase) -> None:
    assert requests.services_admitted_from_any_source(json.dumps(case.policy)) == case.found


def _github(condition: dict[str, Any] | None, *more: dict[str, Any]) -> dict[str, Any]:
    return trust(allow({"Federated": GH}, "sts:AssumeRoleWithWebIdentity", condition), *more)


AUD_OK = {AUD: "sts.amazonaws.com"}
REPOSITORY_CASES = [
    QuestionCase("no sub condition: any repository gets in", _github({"StringEquals": AUD_OK}), 1),
    QuestionCase("StringLike repo:acme/app:* admits only acme/app",
                 _github({"StringEquals": AUD_OK, "StringLike": {SUB: "repo:acme/app:*"}}), 0),
    QuestionCase("StringLike repo:acme/* admits every repository of the organization",
                 _github({"StringEquals": AUD_OK, "StringLike": {SUB: "repo:acme/*"}}), 1),
    QuestionCase("StringEquals does not expand `*`: repo:acme/* admits no real token",
                 _github({"StringEquals": {**AUD_OK, SUB: "repo:acme/*"}}), 0),
    QuestionCase("a Deny guard StringNotLike sub pins the subject like an Allow condition",
                 _github({"StringEquals": AUD_OK},
                         deny("*", {"StringNotLike": {SUB: "repo:acme/app:*"}},
                              "sts:AssumeRoleWithWebIdentity")), 0),
    QuestionCase("values are ORed: one `*` among them admits every repository",
                 _github({"StringLike": {SUB: ["repo:acme/app:*", "*"]}}), 1),
]


@pytest.mark.parametrize("case", REPOSITORY_CASES, ids=lambda c: c.iam_rule)
def test_github_tokens_of_other_repositories(case: QuestionCase) -> None:
    assert requests.github_providers_admitting_other_repositories(json.dumps(case.policy)) == case.found


AUDIENCE_CASES = [
    QuestionCase("aud = sts.amazonaws.com is required", _github({"StringEquals": AUD_OK}), 0),
    QuestionCase("no aud condition: a token for another audience gets in",
                 _github({"StringLike": {SUB: "repo:acme/app:*"}}), 1),
    QuestionCase("ForAllValues on aud is true for a token without aud",
                 _github({"ForAllValues:StringEquals": AUD_OK}), 1),
    QuestionCase("a Deny guard StringNotEquals aud requires it",
                 _github(None, deny("*", {"StringNotEquals": AUD_OK}, "sts:AssumeRoleWithWebIdentity")), 0),
]


@pytest.mark.parametrize("case", AUDIENCE_CASES, ids=lambda c: c.iam_rule)
def test_github_tokens_for_other_audiences(case: QuestionCase) -> None:
    assert requests.github_providers_admitting_other_audiences(json.dumps(case.policy)) == case.found


def _gitlab(condition: dict[str, Any] | None) -> dict[str, Any]:
    return trust(allow({"Federated": GITLAB}, "sts:AssumeRoleWithWebIdentity", condition))


SUBJECT_CASES = [
    QuestionCase("no sub condition: any identity of the provider gets in", _gitlab(None), 1),
    QuestionCase("a sub pattern restricts",
                 _gitlab({"StringLike": {"gitlab.com:sub": "project_path:acme/*"}}), 0),
    QuestionCase("a sub of wildcards only restricts nothing",
                 _gitlab({"StringLike": {"gitlab.com:sub": "*"}}), 1),
    QuestionCase("values are ORed: `*` beside a pattern restricts nothing",
                 _gitlab({"StringLike": {"gitlab.com:sub": ["*", "project_path:acme/*"]}}), 1),
]


@pytest.mark.parametrize("case", SUBJECT_CASES, ids=lambda c: c.iam_rule)
def test_other_providers_with_any_subject(case: QuestionCase) -> None:
    assert requests.other_providers_admitting_any_subject(json.dumps(case.policy)) == case.found


# --- the cross-check is independent ------------------------------------------------------------

def _one_external_role(tmp_path: Path) -> Any:
    con = new_snapshot(tmp_path / "s.duckdb", (ACCOUNT, OTHER))
    set_organization(con)
    add_role(con, "vendor", trust(allow(EXT)))  # fails RC-4.1: no ExternalId
    add_role(con, "partner", trust(allow(EXT, condition={"StringEquals": {"sts:ExternalId": "s3cret"}})))
    return con


def test_the_controls_confirm_on_agreement(tmp_path: Path) -> None:
    con = _one_external_role(tmp_path)
    summary = run(con, tmp_path)
    assert summary.controls["RC-4.1"].cross_check == "ok"
    assert set(statuses(con, "RC-4.1").values()) == {"fail", "pass"}


def test_an_evaluator_that_finds_no_way_in_turns_the_rows_into_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests, "external_callers_admitted_without_external_id", lambda *a: 0)
    con = _one_external_role(tmp_path)
    summary = run(con, tmp_path)
    assert summary.controls["RC-4.1"].cross_check.startswith(
        "GX cross-check failed: the rule gave 1 fail, GX found 0 unexpected")
    assert set(statuses(con, "RC-4.1").values()) == {"error"}


def test_a_symbolic_rule_that_misses_a_way_in_turns_the_rows_into_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from checks.iam import trust as trust_semantics

    monkeypatch.setattr(trust_semantics, "external_assume_without_external_id", lambda *a, **k: [])
    con = _one_external_role(tmp_path)
    summary = run(con, tmp_path)
    assert summary.controls["RC-4.1"].cross_check.startswith(
        "GX cross-check failed: the rule gave 0 fail, GX found 1 unexpected")
    assert set(statuses(con, "RC-4.1").values()) == {"error"}


def test_an_scp_verdict_the_evaluator_contradicts_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No SCP denies iam:CreateUser, so RC-6.2 fails; an evaluator that says every request is
    refused disagrees, and the control's rows become errors."""
    monkeypatch.setattr(requests, "ordinary_request_allowed", lambda *a, **k: False)
    con = new_snapshot(tmp_path / "s.duckdb", (ACCOUNT, OTHER))
    set_organization(con)
    full = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    add_rows(con, "org_roots", {"root_id": "r-root", "name": "Root", "scp_enabled": True})
    add_rows(con, "account_parents", {"account_id": OTHER, "parent_id": "r-root", "depth": 1})
    add_rows(con, "scps", {"policy_id": "p-full", "name": "FullAWSAccess", "document": full})
    add_rows(con, "scp_targets", {"policy_id": "p-full", "target_id": "r-root", "target_type": "ROOT"})
    summary = run(con, tmp_path)
    assert summary.controls["RC-6.2"].cross_check.startswith("GX cross-check failed")
    assert set(statuses(con, "RC-6.2").values()) == {"error"}


def test_the_evaluator_shares_no_code_with_what_it_checks() -> None:
    """A cross-check importing checks/iam's semantics would prove only the plumbing."""
    import ast

    tree = ast.parse(Path(requests.__file__).read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert imported and not [m for m in imported if m.split(".")[0] in ("checks", "store", "flows")]
