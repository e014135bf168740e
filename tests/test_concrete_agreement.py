"""The symbolic verdicts (checks/iam, read by the guidance modules) and the concrete request
evaluator (checks/iam/requests.py, read by the GX restatements) agree on generated trust policies.

They share no code, so agreement over many policies is evidence that both read IAM's
evaluation logic the same way; each disagreement hypothesis found while this was written was a
decision one side had not made, and is now written down on both (see the modules' docstrings).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks import g4_external_id as g4
from checks import g5_deployment_oidc as g5
from checks.iam.document import parse_policy

ORG = {"111111111111", "222222222222"}
ORG_ID = "o-abc123"
GH = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
GITLAB = "arn:aws:iam::111111111111:oidc-provider/gitlab.com"
SUB, AUD, GL_SUB = ("token.actions.githubusercontent.com:sub",
                    "token.actions.githubusercontent.com:aud", "gitlab.com:sub")

VALUES: dict[str, list[str]] = {
    "sts:ExternalId": ["s3cret", "", "*", "sec*", "S3CRET"],
    SUB: ["repo:acme/app:ref:refs/heads/main", "repo:acme/app:*", "repo:acme/*", "repo:*", "*",
          "repo:acme/app*", "repo:other/tool:environment:prod"],
    AUD: ["sts.amazonaws.com", "sts.*", "other-audience", "*"],
    GL_SUB: ["project_path:acme/app:ref_type:branch:ref:main", "project_path:acme/*", "*"],
    "aws:SourceAccount": ["111111111111", "*", "1111*"],
    "aws:SourceArn": ["arn:aws:s3:::bucket", "arn:aws:s3:::bucket-*", "*"],
    "aws:PrincipalOrgID": [ORG_ID, "o-other"],
    "aws:PrincipalAccount": ["111111111111", "999999999999"],
}
STRING_OPERATORS = ["StringEquals", "StringLike", "StringNotEquals", "StringNotLike",
                    "StringEqualsIfExists", "StringEqualsIgnoreCase", "ForAnyValue:StringLike",
                    "ForAllValues:StringEquals"]
GUARD_OPERATORS = ["StringNotEquals", "StringNotLike", "StringNotEqualsIfExists"]

principal = st.sampled_from([
    "*", {"AWS": "*"}, {"AWS": "arn:aws:iam::999999999999:root"},
    {"AWS": "arn:aws:iam::999999999999:role/vendor"}, {"AWS": "111111111111"},
    {"AWS": ["arn:aws:iam::999999999999:root", "222222222222"]},
    {"Federated": GH}, {"Federated": GITLAB}, {"Service": "lambda.amazonaws.com"},
])
action = st.sampled_from(["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:*"])


@st.composite
def condition(draw: st.DrawFn, operators: list[str]) -> tuple[str, str, Any]:
    key = draw(st.sampled_from(sorted(VALUES)))
    op = draw(st.sampled_from(operators))
    if key == SUB and operators is STRING_OPERATORS and "Not" in op:
        # "Allow when sub is not like X": the symbolic side reads it as no sub condition
        # (conservative); with X = `*` no token that carries a sub gets in. Left out.
        op = "StringLike"
    values = draw(st.lists(st.sampled_from(VALUES[key]), min_size=1, max_size=2, unique=True))
    return op, key, values[0] if len(values) == 1 else values


# Conditions on other keys. A Deny's never contradicts an Allow's: the symbolic side keeps a
# grant under a conditional Deny that is not a guard (conservative), where the evaluator would
# see that no request meets both; such a role would turn `error`, and is left out here.
allow_extra = st.sampled_from([
    ("Bool", "aws:MultiFactorAuthPresent", "true"),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24"),
    ("Null", "sts:ExternalId", "false"),
    ("ArnLike", "aws:SourceArn", "arn:aws:s3:::bucket-*"),
])
deny_extra = st.just(("Bool", "aws:MultiFactorAuthPresent", "false"))


def _block(conditions: list[tuple[str, str, Any]]) -> dict[str, dict[str, Any]]:
    block: dict[str, dict[str, Any]] = {}
    for op, key, value in conditions:
        block.setdefault(op, {})[key] = value
    return block


@st.composite
def trust_policy(draw: st.DrawFn, one_condition_per_key: bool) -> dict[str, Any]:
    """1-3 Allow statements and 0-2 Deny guards (one negated condition each, perhaps with
    `Bool MFA false`, which lets requests with MFA past it)."""
    allows: list[dict[str, Any]] = [
        {"Effect": "Allow", "Principal": draw(principal), "Action": draw(action)}
        for _ in range(draw(st.integers(1, 3)))]
    denies: list[dict[str, Any]] = [
        {"Effect": "Deny", "Principal": "*", "Action": draw(action)}
        for _ in range(draw(st.integers(0, 2)))]
    pool = st.lists(st.one_of(condition(STRING_OPERATORS), allow_extra), max_size=4,
                    unique_by=lambda c: c[1])
    conditions: dict[int, list[tuple[str, str, Any]]] = {}
    for c in draw(pool):
        conditions.setdefault(draw(st.integers(0, len(allows) - 1)), []).append(c)
    for i, statement in enumerate(allows):
        if conditions.get(i):
            statement["Condition"] = _block(conditions[i])
    used = {c[1] for cs in conditions.values() for c in cs}
    for statement in denies:
        guard = draw(condition(GUARD_OPERATORS))
        if one_condition_per_key:
            if guard[1] in used:
                continue
            used.add(guard[1])
        statement["Condition"] = _block([guard, *draw(st.lists(deny_extra, max_size=1))])
    return {"Version": "2012-10-17", "Statement": allows + [d for d in denies if "Condition" in d]}


def verdicts(doc: dict[str, Any]) -> dict[str, tuple[bool, bool]]:
    """Per control: (the symbolic rule fails it, the request evaluator finds a way in)."""
    text = json.dumps(doc)
    parsed = parse_policy(text)
    s4, c4 = g4.trust_facts(parsed, ORG, ORG_ID), g4.request_facts(text, ORG, ORG_ID)
    s5, c5 = g5.trust_facts(parsed, ORG, ORG_ID), g5.request_facts(text, ORG, ORG_ID)
    no_audience = [f for f in s5["aud_findings"] if f["kind"] == "audience-not-required"]
    return {
        "RC-4.1": (s4["unprotected_grants"] > 0, c4["callers_admitted_without_external_id"] > 0),
        "RC-4.4": (bool(s4["service_findings"]), c4["services_admitted_from_any_source"] > 0),
        "RC-5.1": (bool(s5["sub_findings"]), c5["github_admitting_other_repositories"] > 0),
        "RC-5.2": (bool(no_audience), c5["github_admitting_other_audiences"] > 0),
        "RC-5.3": (bool(s5["other_findings"]), c5["other_admitting_any_subject"] > 0),
    }


SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(trust_policy(one_condition_per_key=True))
def test_symbolic_verdicts_and_concrete_requests_agree(doc: dict[str, Any]) -> None:
    """With each condition key tested once in the policy, the two sides agree on every control."""
    disagreements = {c: v for c, v in verdicts(doc).items() if v[0] != v[1]}
    assert not disagreements, (json.dumps(doc, indent=1), disagreements)


@SETTINGS
@given(trust_policy(one_condition_per_key=False))
def test_every_way_in_the_evaluator_finds_fails_the_symbolic_rule(doc: dict[str, Any]) -> None:
    """With a key tested more than once, an Allow and a guard may contradict each other (no
    request meets both): the symbolic side does not look for that and keeps the role failing,
    where the evaluator finds no way in (the control's rows then become `error`, not `pass`).
    It never misses a way in: a role the evaluator gets into always fails."""
    missed = {c: v for c, v in verdicts(doc).items() if v[1] and not v[0]}
    assert not missed, (json.dumps(doc, indent=1), missed)
