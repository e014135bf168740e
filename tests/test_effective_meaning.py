"""Issue 10 item 3: verdicts follow the effective meaning of the whole policy, as IAM evaluates it.

IAM lets a request in when some Allow matches and no Deny fires. So a Deny guard (a Deny with one
negated condition) restricts a grant just as an Allow condition would; StringEquals compares `*`
and `?` as text; and an SCP action must be allowed at every level from the root to the account.
Each test names the IAM rule it pins.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
from finding_controls import control_id, denies_user_creation, enforces_permissions_boundary, severity
from hypothesis import given
from hypothesis import strategies as st

from checks.iam.document import (
    Condition,
    conditions_hold,
    evaluate_condition,
    parse_policy,
)
from checks.iam.grants import (
    assume_paths,
    guard_requirement,
)
from checks.iam.scp import (
    ScpLevel,
    implicit_denial,
)
from checks.iam.trust import (
    external_assume_without_external_id,
    external_grants,
    github_oidc_findings,
    github_subject_notes,
    other_oidc_findings,
    requires_external_id,
    subjects_allowed,
)

ORG_ACCOUNTS = {"111111111111", "222222222222"}
ORG_ID = "o-abc123"
EXT = "999999999999"
EXT_ROLE = f"arn:aws:iam::{EXT}:role/Vendor"
GH = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
GITLAB = "arn:aws:iam::111111111111:oidc-provider/gitlab.com"
SUB = "token.actions.githubusercontent.com:sub"
AUD = {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
WEB = "sts:AssumeRoleWithWebIdentity"
ASSUME = "sts:AssumeRole"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def statement(effect: str, principal: Any, action: Any, condition: dict[str, Any] | None) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": effect, "Principal": principal, "Action": action}
    if condition:
        st["Condition"] = condition
    return st


def allow(principal: Any, action: Any = ASSUME, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    return statement("Allow", principal, action, condition)


def deny(condition: dict[str, Any] | None, principal: Any = "*", action: Any = ASSUME) -> dict[str, Any]:
    return statement("Deny", principal, action, condition)


def rc41(document: Any) -> list[tuple[str, str]]:
    return [(f.principal, severity(f))
            for f in external_assume_without_external_id(document, ORG_ACCOUNTS, ORG_ID)]


def rc51(document: Any) -> list[tuple[str, str]]:
    return [(control_id(f), severity(f)) for f in github_oidc_findings(document)]


def admitted(document: Any, action: str, context: dict[str, Any]) -> bool:
    """IAM's evaluation of one request by the first grant's principal: some Allow holds and no
    covering Deny fires (the oracle the guards are checked against)."""
    (grant,) = assume_paths(document, action)
    statements = parse_policy(document).statements
    allowed = conditions_hold(statements[grant.statement_index].conditions, context)
    fired = any(conditions_hold(statements[i].conditions, context) for i in grant.conditional_denies)
    return allowed and not fired


XID_GUARD = {"StringNotEquals": {"sts:ExternalId": "a1b2c3"}}


# --------------------------------------------------------------------------------------------
# RC-4.1: a Deny guard on sts:ExternalId
# --------------------------------------------------------------------------------------------

class ExternalIdGuardCase(NamedTuple):
    name: str
    document: Any
    expected: list[tuple[str, str]]


RC_4_1_GUARDS = [
    ExternalIdGuardCase("deny-string-not-equals-makes-external-id-mandatory",
                        document=doc(allow({"AWS": EXT}), deny(XID_GUARD)), expected=[]),
    ExternalIdGuardCase("deny-on-the-account-covers-it",
                        document=doc(allow({"AWS": EXT}), deny(XID_GUARD, {"AWS": EXT})), expected=[]),
    ExternalIdGuardCase("deny-on-the-account-covers-its-roles",
                        document=doc(allow({"AWS": EXT_ROLE}), deny(XID_GUARD, {"AWS": EXT})), expected=[]),
    ExternalIdGuardCase(
        "deny-without-principal-covers-every-caller",
        document=doc(allow({"AWS": EXT}), {"Effect": "Deny", "Action": ASSUME, "Condition": XID_GUARD}),
        expected=[],
    ),
    ExternalIdGuardCase("star-guarded-by-deny-star", document=doc(allow("*"), deny(XID_GUARD)), expected=[]),
    ExternalIdGuardCase(
        "if-exists-on-a-negated-operator-is-still-true-when-absent",
        document=doc(allow({"AWS": EXT}), deny({"StringNotEqualsIfExists": {"sts:ExternalId": "a1b2c3"}})),
        expected=[],
    ),
    ExternalIdGuardCase(
        "string-not-like-without-wildcard",
        document=doc(allow({"AWS": EXT}), deny({"StringNotLike": {"sts:ExternalId": "a1b2c3"}})),
        expected=[],
    ),
    ExternalIdGuardCase("deny-sts-star", document=doc(allow({"AWS": EXT}), deny(XID_GUARD, action="sts:*")),
                        expected=[]),
    # negative cases: the Deny does not cover every request of the grant
    ExternalIdGuardCase("guard-on-a-different-principal-does-not-count",
                        document=doc(allow({"AWS": EXT}), deny(XID_GUARD, {"AWS": EXT_ROLE})),
                        expected=[(f"AWS:{EXT}", "high")]),
    ExternalIdGuardCase("guard-on-another-account-does-not-count",
                        document=doc(allow({"AWS": EXT}), deny(XID_GUARD, {"AWS": "888888888888"})),
                        expected=[(f"AWS:{EXT}", "high")]),
    ExternalIdGuardCase("guard-on-a-different-action-does-not-count",
                        document=doc(allow({"AWS": EXT}), deny(XID_GUARD, action="sts:TagSession")),
                        expected=[(f"AWS:{EXT}", "high")]),
    ExternalIdGuardCase(
        "notprincipal-sparing-a-role-of-the-account-does-not-count",
        document=doc(
            allow({"AWS": EXT}),
            {"Effect": "Deny", "NotPrincipal": {"AWS": EXT_ROLE}, "Action": ASSUME, "Condition": XID_GUARD},
        ),
        expected=[(f"AWS:{EXT}", "high")],
    ),
    # negative cases: the Deny does not fire for every request without the right ExternalId
    ExternalIdGuardCase(
        "for-any-value-is-false-when-absent-so-no-guard",
        document=doc(allow({"AWS": EXT}), deny({"ForAnyValue:StringNotEquals": {"sts:ExternalId": "a1"}})),
        expected=[(f"AWS:{EXT}", "high")],
    ),
    ExternalIdGuardCase("null-guard-requires-presence-not-a-value",
                        document=doc(allow({"AWS": EXT}), deny({"Null": {"sts:ExternalId": "true"}})),
                        expected=[(f"AWS:{EXT}", "high")]),
    ExternalIdGuardCase("string-not-like-with-wildcard",
                        document=doc(allow({"AWS": EXT}), deny({"StringNotLike": {"sts:ExternalId": "a1*"}})),
                        expected=[(f"AWS:{EXT}", "high")]),
    ExternalIdGuardCase("empty-value",
                        document=doc(allow({"AWS": EXT}), deny({"StringNotEquals": {"sts:ExternalId": ""}})),
                        expected=[(f"AWS:{EXT}", "high")]),
    ExternalIdGuardCase("positive-operator-in-a-deny-is-no-guard",
                        document=doc(allow({"AWS": EXT}), deny({"StringEquals": {"sts:ExternalId": "bad"}})),
                        expected=[(f"AWS:{EXT}", "high")]),
    ExternalIdGuardCase(
        "two-conditions-are-anded-so-no-guard",
        document=doc(allow({"AWS": EXT}), deny({**XID_GUARD, "Bool": {"aws:SecureTransport": "true"}})),
        expected=[(f"AWS:{EXT}", "high")],
    ),
]


@pytest.mark.parametrize("case", RC_4_1_GUARDS, ids=lambda c: c.name)
def test_rc_4_1_deny_guard_on_external_id(case: ExternalIdGuardCase) -> None:
    assert rc41(case.document) == case.expected


class RequestCase(NamedTuple):
    name: str
    context: dict[str, Any]
    gets_in: bool


EXTERNAL_ID_REQUESTS = [
    RequestCase("absent-external-id-the-negated-operator-is-true-so-deny-fires", context={}, gets_in=False),
    RequestCase("wrong-external-id-deny-fires", context={"sts:ExternalId": "wrong"}, gets_in=False),
    RequestCase("right-external-id-deny-does-not-fire", context={"sts:ExternalId": "a1b2c3"}, gets_in=True),
]


@pytest.mark.parametrize("case", EXTERNAL_ID_REQUESTS, ids=lambda c: c.name)
def test_rc_4_1_guard_fires_when_the_external_id_is_absent(case: RequestCase) -> None:
    """AWS: a negated operator is true for an absent key, which is what makes the Deny a guard."""
    document = doc(allow({"AWS": EXT}), deny(XID_GUARD))
    assert admitted(document, ASSUME, case.context) is case.gets_in
    (grant,) = external_grants(document, ORG_ACCOUNTS, ORG_ID)
    assert conditions_hold(grant.effective_conditions, case.context) is case.gets_in
    assert requires_external_id(grant.effective_conditions) and not requires_external_id(grant.conditions)


def test_rc_4_1_for_any_value_deny_lets_a_request_without_external_id_in() -> None:
    """AWS: ForAnyValue is false when the key is absent, so such a Deny never fires then."""
    document = doc(allow({"AWS": EXT}), deny({"ForAnyValue:StringNotEquals": {"sts:ExternalId": "a1"}}))
    assert admitted(document, ASSUME, {})


def test_rc_4_1_guard_is_named_in_the_finding_of_a_loose_guard() -> None:
    (f,) = external_assume_without_external_id(
        doc(allow({"AWS": EXT}), {**deny({"StringNotLike": {"sts:ExternalId": "a1*"}}), "Sid": "NeedId"}),
        ORG_ACCOUNTS, ORG_ID)
    assert "a wildcard in the StringLike ExternalId value" in f.reason
    assert "guarded by Deny statement 1 (Sid 'NeedId') unless StringLike sts:ExternalId ['a1*']" in f.reason
    assert f.facts()["guards"] == [{"statement_index": 1, "sid": "NeedId", "operator": "StringNotLike",
                                    "key": "sts:ExternalId", "values": ["a1*"]}]


def test_rc_4_1_star_with_only_a_guard_is_high_not_critical() -> None:
    """CONTROLS.md: critical for `*` "with no condition at all"; a Deny guard is a condition."""
    assert rc41(doc(allow("*"), deny({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))) == [("*", "high")]
    assert rc41(doc(allow("*"))) == [("*", "critical")]


def test_g4_deny_guard_on_principal_org_id_makes_star_internal() -> None:
    """A Deny unless aws:PrincipalOrgID is the org pins `*` to it, as an Allow condition would."""
    document = doc(allow("*"), deny({"StringNotEquals": {"aws:PrincipalOrgID": ORG_ID}}))
    assert external_grants(document, ORG_ACCOUNTS, ORG_ID) == []


def test_unconditional_deny_with_notprincipal_sparing_a_role_keeps_the_account_grant() -> None:
    """Deny + NotPrincipal role/Vendor spares that role of the account: the grant stays."""
    document = doc(allow({"AWS": EXT}), {"Effect": "Deny", "NotPrincipal": {"AWS": EXT_ROLE},
                                         "Action": ASSUME})
    assert [str(g.principal) for g in assume_paths(document)] == [f"AWS:{EXT}"]


# --------------------------------------------------------------------------------------------
# RC-5.1 / 5.2 / 5.3: a Deny guard on the OIDC subject
# --------------------------------------------------------------------------------------------

def gh(condition: dict[str, Any] | None = None) -> dict[str, Any]:
    return allow({"Federated": GH}, WEB, {"StringEquals": AUD, **(condition or {})})


class SubGuardCase(NamedTuple):
    name: str
    document: Any
    expected: list[tuple[str, str]]


RC_5_1_GUARDS = [
    SubGuardCase("deny-string-not-like-sub-pins-the-subject",
                 document=doc(gh(), deny({"StringNotLike": {SUB: "repo:octo/app:*"}}, action=WEB)),
                 expected=[]),
    SubGuardCase(
        "deny-string-not-equals-sub-pins-the-subject",
        document=doc(gh(), deny({"StringNotEquals": {SUB: "repo:octo/app:ref:refs/heads/main"}}, action=WEB)),
        expected=[],
    ),
    SubGuardCase("if-exists-guard-still-fires-when-sub-is-absent",
                 document=doc(gh(), deny({"StringNotLikeIfExists": {SUB: "repo:octo/app:*"}}, action=WEB)),
                 expected=[]),
    SubGuardCase(
        "deny-on-the-provider",
        document=doc(gh(), deny({"StringNotLike": {SUB: "repo:octo/app:*"}}, {"Federated": GH}, WEB)),
        expected=[],
    ),
    SubGuardCase("guard-with-org-wide-wildcard-is-org-wide",
                 document=doc(gh(), deny({"StringNotLike": {SUB: "repo:octo/*"}}, action=WEB)),
                 expected=[("RC-5.1", "high")]),
    SubGuardCase(
        "guard-and-allow-condition-are-anded-tightest-wins",
        document=doc(
            gh({"StringLike": {SUB: "repo:*"}}), deny({"StringNotLike": {SUB: "repo:octo/app:*"}}, action=WEB)
        ),
        expected=[],
    ),
    SubGuardCase("guard-on-a-different-action-does-not-count",
                 document=doc(gh(), deny({"StringNotLike": {SUB: "repo:octo/app:*"}}, action=ASSUME)),
                 expected=[("RC-5.1", "critical")]),
    SubGuardCase(
        "guard-on-a-different-provider-does-not-count",
        document=doc(gh(), deny({"StringNotLike": {SUB: "repo:octo/app:*"}}, {"Federated": GITLAB}, WEB)),
        expected=[("RC-5.1", "critical")],
    ),
    SubGuardCase(
        "for-any-value-guard-does-not-count",
        document=doc(gh(), deny({"ForAnyValue:StringNotLike": {SUB: "repo:octo/app:*"}}, action=WEB)),
        expected=[("RC-5.1", "critical")],
    ),
    SubGuardCase("null-guard-requires-presence-only",
                 document=doc(gh(), deny({"Null": {SUB: "true"}}, action=WEB)),
                 expected=[("RC-5.1", "critical")]),
]


@pytest.mark.parametrize("case", RC_5_1_GUARDS, ids=lambda c: c.name)
def test_rc_5_1_deny_guard_on_sub(case: SubGuardCase) -> None:
    assert rc51(case.document) == case.expected


SUB_REQUESTS = [
    RequestCase("absent-sub-deny-fires", context={}, gets_in=False),
    RequestCase("other-repository-deny-fires", context={SUB: "repo:evil/app:ref:refs/heads/main"},
                gets_in=False),
    RequestCase("pinned-repository-gets-in", context={SUB: "repo:octo/app:ref:refs/heads/main"},
                gets_in=True),
]


@pytest.mark.parametrize("case", SUB_REQUESTS, ids=lambda c: c.name)
def test_rc_5_1_sub_guard_fires_when_the_claim_is_absent(case: RequestCase) -> None:
    document = doc(allow({"Federated": GH}, WEB),
                   deny({"StringNotLike": {SUB: "repo:octo/app:*"}}, action=WEB))
    assert admitted(document, WEB, case.context) is case.gets_in
    assert subjects_allowed(document) == ["repo:octo/app:*"]


def test_rc_5_2_deny_guard_on_aud_requires_the_sts_audience() -> None:
    document = doc(allow({"Federated": GH}, WEB, {"StringLike": {SUB: "repo:octo/app:*"}}),
                   deny({"StringNotEquals": AUD}, action=WEB))
    assert github_oidc_findings(document) == []


class OtherOidcGuardCase(NamedTuple):
    name: str
    guard: dict[str, Any]
    fails: bool


RC_5_3_GUARDS = [
    OtherOidcGuardCase("guard-restricts",
                       guard={"StringNotLike": {"gitlab.com:sub": "project_path:acme/app:*"}}, fails=False),
    OtherOidcGuardCase("guard-with-star-only", guard={"StringNotLike": {"gitlab.com:sub": "*"}}, fails=True),
    OtherOidcGuardCase("guard-on-another-provider-key",
                       guard={"StringNotLike": {"app.terraform.io:sub": "x"}}, fails=True),
]


@pytest.mark.parametrize("case", RC_5_3_GUARDS, ids=lambda c: c.name)
def test_rc_5_3_deny_guard_on_sub(case: OtherOidcGuardCase) -> None:
    document = doc(allow({"Federated": GITLAB}, WEB), deny(case.guard, action=WEB))
    assert bool(other_oidc_findings(document)) is case.fails


# --------------------------------------------------------------------------------------------
# RC-5.1: StringEquals does not expand `*` or `?`
# --------------------------------------------------------------------------------------------

class LiteralSubCase(NamedTuple):
    name: str
    sub: Any
    findings: list[Any]
    subjects: list[str]


LITERAL_SUBJECTS = [
    LiteralSubCase("literal-org-star-admits-no-token", sub="repo:octo/*", findings=[], subjects=[]),
    LiteralSubCase("literal-star-admits-no-token", sub="*", findings=[], subjects=[]),
    LiteralSubCase("literal-question-mark", sub="repo:octo/ap?", findings=[], subjects=[]),
    LiteralSubCase("literal-value-beside-a-pinned-one",
                   sub=["repo:octo/app:ref:refs/heads/main", "repo:octo/*"], findings=[],
                   subjects=["repo:octo/app:ref:refs/heads/main"]),
]


@pytest.mark.parametrize("case", LITERAL_SUBJECTS, ids=lambda c: c.name)
def test_rc_5_1_string_equals_star_is_literal_not_a_wildcard(case: LiteralSubCase) -> None:
    """IAM: StringEquals compares `*` and `?` as text, so the value is a misconfiguration
    (no GitHub subject contains them), reported as a note, never as an org-wide wildcard."""
    document = doc(gh({"StringEquals": {**AUD, SUB: case.sub}}))
    assert rc51(document) == case.findings
    assert subjects_allowed(document) == case.subjects
    (literal,) = [v for v in ([case.sub] if isinstance(case.sub, str) else case.sub) if "*" in v or "?" in v]
    assert github_subject_notes(document) == [
        f"statement 0: StringEquals compares literally: {literal!r} admits no real subject; use StringLike"]


def test_rc_5_1_string_like_star_is_still_a_wildcard() -> None:
    document = doc(gh({"StringLike": {SUB: "repo:octo/*"}}))
    assert rc51(document) == [("RC-5.1", "high")]
    assert github_subject_notes(document) == []


def test_rc_5_1_literal_under_ignore_case_and_in_a_guard_are_noted() -> None:
    document = doc(gh({"StringEqualsIgnoreCase": {SUB: "repo:octo/*"}}),
                   deny({"StringNotEquals": {SUB: "repo:octo/lib*"}}, action=WEB))
    assert rc51(document) == []
    assert github_subject_notes(document) == [
        "statement 0: StringEqualsIgnoreCase compares literally: 'repo:octo/*' admits no real subject; "
        "use StringLike",
        "Deny statement 1: StringNotEquals compares literally: 'repo:octo/lib*' admits no real subject; "
        "use StringNotLike"]


def test_rc_5_1_literal_statement_does_not_hide_an_open_one() -> None:
    document = doc(gh({"StringEquals": {**AUD, SUB: "repo:octo/*"}}), allow({"Federated": GH}, WEB,
                                                                          {"StringEquals": AUD}))
    assert [(f.statement_index, severity(f)) for f in github_oidc_findings(document)] == [(1, "critical")]


def test_rc_5_3_string_equals_star_is_a_literal_restriction() -> None:
    document = doc(allow({"Federated": GITLAB}, WEB, {"StringEquals": {"gitlab.com:sub": "*"}}))
    assert other_oidc_findings(document) == []


# --------------------------------------------------------------------------------------------
# The guard's inverse is exactly "the Deny does not fire"
# --------------------------------------------------------------------------------------------

guard_operator = st.sampled_from(["StringNotEquals", "StringNotLike", "StringNotEqualsIfExists",
                                  "StringNotLikeIfExists", "StringNotEqualsIgnoreCase", "ArnNotLike",
                                  "NotIpAddress", "NumericNotEquals", "Null"])
text = st.text(alphabet="ab*?:/1", max_size=5)


@given(guard_operator, st.lists(text, min_size=1, max_size=3),
       st.one_of(st.none(), text, st.lists(text, max_size=2)))
def test_guard_requirement_holds_exactly_when_the_deny_does_not_fire(op: str, values: list[str],
                                                                     ctx: Any) -> None:
    if op == "Null":
        values = values[:1] if values[0] in ("true", "false") else ["true"]
    deny_st = parse_policy(doc(deny({op: {"k": values}}))).statements[0]
    requirement = guard_requirement(deny_st)
    assert requirement is not None
    context = {} if ctx is None else {"k": ctx}
    assert evaluate_condition(requirement, context) is not conditions_hold(deny_st.conditions, context)


def test_guard_requirement_none_for_non_guards() -> None:
    for condition in ({"ForAnyValue:StringNotEquals": {"k": "v"}}, {"StringEquals": {"k": "v"}},
                      {"StringNotEquals": {"k": "v", "j": "w"}}, {"Null": {"k": ["true", "false"]}}):
        assert guard_requirement(parse_policy(doc(deny(condition))).statements[0]) is None
    assert guard_requirement(parse_policy(doc(allow("*", condition=XID_GUARD))).statements[0]) is None
    assert guard_requirement(parse_policy(doc(deny(None))).statements[0]) is None
    assert guard_requirement(parse_policy(doc(deny(XID_GUARD))).statements[0]) == Condition(
        "StringEquals", "sts:ExternalId", ("a1b2c3",))


# --------------------------------------------------------------------------------------------
# RC-6.2 / 6.3: an allow-list SCP strategy denies implicitly
# --------------------------------------------------------------------------------------------

def scp(*statements: dict[str, Any]) -> dict[str, Any]:
    return doc(*statements)


def allows(actions: Any, **extra: Any) -> dict[str, Any]:
    return scp({"Effect": "Allow", "Action": actions, "Resource": "*", **extra})


FULL = allows("*")
ALLOW_LIST = allows(["s3:*", "ec2:*", "iam:Get*"])


def chain(*levels: tuple[str, dict[str, Any]]) -> list[ScpLevel]:
    return [ScpLevel(label, policies) for label, policies in levels]


def flat(levels: list[ScpLevel]) -> dict[str, Any]:
    return {pid: d for level in levels for pid, d in level.policies.items() if d is not None}


class AllowListCase(NamedTuple):
    name: str
    levels: list[ScpLevel]
    passed: bool
    reason: str


ALLOW_LIST_LEVELS = [
    AllowListCase(
        "allow-list-at-an-ou-without-iam-create-user-denies-implicitly",
        levels=chain(
            ("root r", {"p-full": FULL}),
            ("OU ou-a (A)", {"p-allow": ALLOW_LIST}),
            ("account 1", {"p-full": FULL}),
        ),
        passed=True,
        reason=("iam:CreateUser and iam:CreateAccessKey are denied implicitly at OU ou-a (A): "
                "no SCP attached there (p-allow) allows iam:CreateUser or iam:CreateAccessKey"),
    ),
    AllowListCase(
        "first-denying-level-root-first-is-named",
        levels=chain(("root r", {"p-allow": ALLOW_LIST}), ("OU ou-a (A)", {"p-allow2": ALLOW_LIST})),
        passed=True,
        reason="are denied implicitly at root r",
    ),
    AllowListCase(
        "every-scp-of-the-level-is-named",
        levels=chain(
            ("root r", {"p-full": FULL}), ("OU ou-a (A)", {"p-allow": ALLOW_LIST, "p-s3": allows("s3:*")})
        ),
        passed=True,
        reason="(p-allow, p-s3)",
    ),
    AllowListCase(
        "allow-notaction-iam-star-denies-iam",
        levels=chain(
            ("root r", {"p-full": FULL}),
            (
                "OU ou-a (A)",
                {"p-all-but-iam": scp({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})},
            ),
        ),
        passed=True,
        reason="denied implicitly",
    ),
    AllowListCase(
        "allow-list-that-includes-iam-star-does-not-count",
        levels=chain(("root r", {"p-full": FULL}), ("OU ou-a (A)", {"p-allow": allows(["s3:*", "iam:*"])})),
        passed=False,
        reason="no SCP covering the account denies iam:CreateUser or iam:CreateAccessKey",
    ),
    AllowListCase(
        "allow-list-with-iam-create-star-does-not-count",
        levels=chain(("root r", {"p-full": FULL}), ("OU ou-a (A)", {"p-allow": allows("iam:Create*")})),
        passed=False,
        reason="no SCP covering",
    ),
    AllowListCase(
        "full-aws-access-beside-the-allow-list-allows-everything",
        levels=chain(("root r", {"p-full": FULL}), ("OU ou-a (A)", {"p-allow": ALLOW_LIST, "p-full": FULL})),
        passed=False,
        reason="no SCP covering",
    ),
    AllowListCase(
        "conditional-allow-may-allow-so-no-implicit-deny",
        levels=chain(
            ("root r", {"p-full": FULL}),
            (
                "OU ou-a (A)",
                {
                    "p-allow": allows(
                        ["iam:CreateUser", "iam:CreateAccessKey"],
                        Condition={"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
                    )
                },
            ),
        ),
        passed=False,
        reason="no SCP covering",
    ),
    AllowListCase(
        "unreadable-scp-at-the-level-might-allow",
        levels=chain(("root r", {"p-full": FULL}), ("OU ou-a (A)", {"p-allow": ALLOW_LIST, "p-gone": None})),
        passed=False,
        reason="no SCP covering",
    ),
    AllowListCase("level-without-scps-is-missing-data-not-a-deny",
                  levels=chain(("root r", {"p-full": FULL}), ("OU ou-a (A)", {})), passed=False,
                  reason="no SCP covering"),
    AllowListCase(
        "explicit-and-implicit-combine",
        levels=chain(
            ("root r", {"p-full": FULL}),
            (
                "OU ou-a (A)",
                {
                    "p-keys": allows(["*"]),
                    "p-deny": scp({"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}),
                },
            ),
            ("account 1", {"p-allow": allows(["iam:CreateUser", "s3:*"])}),
        ),
        passed=True,
        reason=("denied by p-deny; iam:CreateAccessKey is denied implicitly at account 1: no SCP attached "
                "there (p-allow) allows iam:CreateAccessKey"),
    ),
]


@pytest.mark.parametrize("case", ALLOW_LIST_LEVELS, ids=lambda c: c.name)
def test_rc_6_2_allow_list_levels(case: AllowListCase) -> None:
    """IAM: an SCP action must be allowed at every level root -> OUs -> account."""
    verdict = denies_user_creation(flat(case.levels), case.levels)
    assert verdict.passed is case.passed
    assert case.reason in verdict.reason


def test_rc_6_2_without_levels_only_explicit_denies_count() -> None:
    assert not denies_user_creation({"p-allow": ALLOW_LIST}).passed


def test_rc_6_3_allow_list_denies_create_role_and_delete_boundary_implicitly() -> None:
    levels = chain(("root r", {"p-full": FULL}), ("OU ou-a (A)", {"p-allow": ALLOW_LIST}))
    verdict = enforces_permissions_boundary(flat(levels), levels)
    assert verdict.passed and verdict.denied == (
        "iam:CreateRole without a permissions boundary", "iam:DeleteRolePermissionsBoundary")
    roles_allowed = chain(("root r", {"p-full": FULL}), ("OU ou-a (A)", {"p-allow": allows("iam:*Role")}))
    verdict = enforces_permissions_boundary(flat(roles_allowed), roles_allowed)
    assert not verdict.passed
    assert verdict.reason == (
        "no SCP covering the account denies iam:CreateRole without a permissions boundary")
    assert verdict.denied == ("iam:DeleteRolePermissionsBoundary",)


def test_implicit_denial_names_the_first_level() -> None:
    levels = chain(("root r", {"p-full": FULL}), ("OU a", {"p-1": ALLOW_LIST}), ("OU b", {"p-2": ALLOW_LIST}))
    level = implicit_denial(levels, "iam:CreateUser")
    assert level is not None and level.label == "OU a"
    assert implicit_denial(levels, "s3:GetObject") is None
