"""Properties of checks/iam that must hold for any policy, not just the tabled ones."""

from __future__ import annotations

import json
from typing import Any

from finding_controls import control_id, severity
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.iam.document import (
    Condition,
    action_matches,
    evaluate_condition,
    parse_policy,
)
from checks.iam.grants import (
    assume_paths,
)
from checks.iam.scp import (
    deny_coverage,
)
from checks.iam.trust import (
    external_assume_without_external_id,
    github_oidc_findings,
    other_oidc_findings,
)

ORG = {"111111111111", "222222222222"}
ORG_ID = "o-abc123"
GH = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
GITLAB = "arn:aws:iam::111111111111:oidc-provider/gitlab.com"

word = st.text(alphabet="abcXYZ019-_", min_size=1, max_size=8)
action_name = st.builds(lambda s, a: f"{s}:{a}", st.sampled_from(["iam", "sts", "s3", "ec2"]), word)
action_pattern = st.one_of(action_name, st.sampled_from(["*", "sts:*", "sts:Assume*", "iam:Create*",
                                                         "sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"]))
aws_principal = st.one_of(
    st.just("*"),
    st.sampled_from(["111111111111", "999999999999", "arn:aws:iam::999999999999:root",
                     "arn:aws:iam::111111111111:role/ci", "arn:aws:iam::999999999999:role/vendor"]),
)
principal_block = st.one_of(
    st.just("*"),
    st.builds(lambda v: {"AWS": v},
              st.one_of(aws_principal, st.lists(aws_principal, min_size=1, max_size=3))),
    st.just({"Federated": GH}),
    st.just({"Federated": GITLAB}),
    st.just({"Service": "ec2.amazonaws.com"}),
)
condition_key = st.sampled_from([
    "sts:ExternalId", "aws:PrincipalOrgID", "aws:PrincipalAccount", "aws:PrincipalOrgPaths",
    "token.actions.githubusercontent.com:sub", "token.actions.githubusercontent.com:aud",
    "gitlab.com:sub", "aws:SourceIp", "aws:PrincipalArn",
])
operator = st.sampled_from([
    "StringEquals", "StringLike", "StringNotEquals", "StringEqualsIfExists", "StringEqualsIgnoreCase",
    "ForAnyValue:StringLike", "ForAllValues:StringEquals", "ArnNotLike", "Null",
])
condition_value = st.sampled_from([
    "x1", "", "*", "repo:octo/app:*", "repo:octo/*", "repo:*", "sts.amazonaws.com", ORG_ID,
    "111111111111", "999999999999", f"{ORG_ID}/r-1/*", "true", "arn:aws:iam::*:role/Admin",
])
condition_values = st.lists(condition_value, min_size=1, max_size=3)
condition_block = st.dictionaries(operator, st.dictionaries(condition_key, condition_values, max_size=2),
                                  max_size=2)


@st.composite
def statement(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    if draw(st.booleans()):
        out["Principal"] = draw(principal_block)
    else:
        out["NotPrincipal"] = {"AWS": draw(aws_principal)}
    key = "Action" if draw(st.integers(0, 3)) else "NotAction"
    out[key] = draw(st.lists(action_pattern, min_size=1, max_size=3))
    condition = draw(condition_block)
    if condition:
        out["Condition"] = condition
    return out


policies = st.builds(lambda s: {"Version": "2012-10-17", "Statement": s}, st.lists(statement(), max_size=4))


def _swapcase_keys(doc: dict[str, Any]) -> dict[str, Any]:
    """The same policy with every condition operator and key in different case."""
    out = json.loads(json.dumps(doc))
    for s in out["Statement"]:
        if "Condition" in s:
            s["Condition"] = {op.swapcase(): {k.swapcase(): v for k, v in pairs.items()}
                              for op, pairs in s["Condition"].items()}
    return out


def _verdicts(doc: Any) -> list[tuple[str, str, int, str]]:
    found = [*external_assume_without_external_id(doc, ORG, ORG_ID), *github_oidc_findings(doc),
             *other_oidc_findings(doc)]
    return [(control_id(f), severity(f), f.statement_index, f.principal) for f in found]


def _grant_keys(doc: Any, action: str) -> set[tuple[int, str]]:
    return {(g.statement_index, str(g.principal)) for g in assume_paths(doc, action)}


@settings(max_examples=300)
@given(policies, statement(effect="Deny"), st.sampled_from(["sts:AssumeRole",
                                                            "sts:AssumeRoleWithWebIdentity"]))
def test_adding_a_deny_never_grants_more(doc: dict[str, Any], extra_deny: dict[str, Any],
                                         action: str) -> None:
    denied = {**doc, "Statement": [*doc["Statement"], extra_deny]}
    assert _grant_keys(denied, action) <= _grant_keys(doc, action)
    # and never adds a finding (findings are made from grants) nor raises one's severity; it may
    # lower one: a Deny guard is a condition, so `*` is no longer "with no condition at all"
    rank = {s: i for i, s in enumerate(("critical", "high", "medium", "low", "info"))}
    before = {(c, i, p): rank[sev] for c, sev, i, p in _verdicts(doc)}
    after = {(c, i, p): rank[sev] for c, sev, i, p in _verdicts(denied)}
    assert set(after) <= set(before)
    assert all(after[k] >= before[k] for k in after)


@settings(max_examples=300)
@given(policies)
def test_verdicts_ignore_the_case_of_condition_keys_and_operators(doc: dict[str, Any]) -> None:
    assert _verdicts(_swapcase_keys(doc)) == _verdicts(doc)


@given(policies)
def test_deny_statements_never_grant(doc: dict[str, Any]) -> None:
    kinds = {g.statement_index for g in assume_paths(doc, "sts:AssumeRole")}
    effects = {i: s["Effect"] for i, s in enumerate(doc["Statement"])}
    assert all(effects[i] == "Allow" for i in kinds)


@given(policies)
def test_every_document_form_parses_the_same(doc: dict[str, Any]) -> None:
    text = json.dumps(doc)
    assert parse_policy(text) == parse_policy(doc)


@given(action_name)
def test_star_matches_any_action_and_service_star_its_service(action: str) -> None:
    assert action_matches("*", action)
    assert action_matches(action.split(":")[0] + ":*", action)
    assert action_matches(action.upper(), action.lower())
    assert not action_matches("nosuchservice:*", action)


@given(action_name)
def test_deny_star_covers_any_action(action: str) -> None:
    coverage = deny_coverage({"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}, action)
    assert coverage.denies


scalar = st.text(alphabet="ab*?:/-", max_size=6)
ops = st.sampled_from(["StringEquals", "StringLike", "StringEqualsIgnoreCase", "ArnLike", "NumericEquals",
                       "DateEquals", "Bool", "IpAddress"])


@given(st.sampled_from(["StringEquals", "StringNotEquals", "StringLike", "StringNotLike"]),
       st.lists(scalar, min_size=1, max_size=4), st.randoms(), scalar)
def test_condition_values_are_permutation_invariant(op: str, values: list[str], rnd: Any, ctx: str) -> None:
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert evaluate_condition(Condition(op, "k", tuple(values)), {"k": ctx}) == evaluate_condition(
        Condition(op, "k", tuple(shuffled)), {"k": ctx})


@given(ops, st.lists(scalar, min_size=1, max_size=3), scalar)
def test_negated_operator_is_the_negation_when_the_key_is_present(op: str, values: list[str],
                                                                  ctx: str) -> None:
    negated = {"StringEquals": "StringNotEquals", "StringLike": "StringNotLike", "ArnLike": "ArnNotLike",
               "StringEqualsIgnoreCase": "StringNotEqualsIgnoreCase", "NumericEquals": "NumericNotEquals",
               "DateEquals": "DateNotEquals", "IpAddress": "NotIpAddress"}.get(op)
    if negated is None:
        return
    positive = evaluate_condition(Condition(op, "k", tuple(values)), {"k": ctx})
    assert evaluate_condition(Condition(negated, "k", tuple(values)), {"k": ctx}) is (not positive)


@given(ops, st.lists(scalar, min_size=1, max_size=3))
def test_absent_key_rules(op: str, values: list[str]) -> None:
    vals = tuple(values)
    assert evaluate_condition(Condition(f"ForAllValues:{op}", "k", vals), {}) is True
    assert evaluate_condition(Condition(f"ForAnyValue:{op}", "k", vals), {}) is False
    assert evaluate_condition(Condition(f"{op}IfExists", "k", vals), {}) is True
    assert evaluate_condition(Condition(op, "k", vals), {}) is False


@given(ops, st.lists(scalar, min_size=1, max_size=3), scalar)
def test_key_case_never_matters(op: str, values: list[str], ctx: str) -> None:
    c = Condition(op, "aws:PrincipalTag/Team", tuple(values))
    assert evaluate_condition(c, {"AWS:PRINCIPALTAG/TEAM": ctx}) == evaluate_condition(
        Condition(op.upper(), "aws:principaltag/team", tuple(values)), {"aws:PrincipalTag/Team": ctx})
