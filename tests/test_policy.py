"""Tables for checks/iam: parsing, principals, actions, conditions, and the G4-G6 questions.

Each table row is one case with a readable id; rows for a control are named by its id (RC-x.y).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple
from urllib.parse import quote

import pytest
from finding_controls import control_id, denies_user_creation, enforces_permissions_boundary, severity

from checks.iam.document import (
    EVERYONE,
    Condition,
    Policy,
    Principal,
    action_matches,
    conditions_hold,
    decode_document,
    evaluate_condition,
    parse_policy,
    principal_account,
    principal_covers,
)
from checks.iam.grants import (
    assume_paths,
)
from checks.iam.scp import (
    boundary_coverage,
    deny_coverage,
)
from checks.iam.trust import (
    OPEN,
    ORG_WIDE,
    PINNED,
    classify_github_subject,
    external_assume_without_external_id,
    external_grants,
    github_oidc_findings,
    is_github_issuer,
    oidc_issuer,
    other_oidc_findings,
    subjects_allowed,
)

ORG_ACCOUNTS = {"111111111111", "222222222222"}
ORG_ID = "o-abc123"
EXT = "999999999999"
GH = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
GHE = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com/octo-ent"
GH_SUB = "token.actions.githubusercontent.com:sub"
GH_AUD = {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}
WEB = "sts:AssumeRoleWithWebIdentity"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(principal: Any, action: Any = "sts:AssumeRole", condition: dict[str, Any] | None = None,
          **extra: Any) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": action, **extra}
    if condition is not None:
        st["Condition"] = condition
    return st


def deny(principal: Any = "*", action: Any = "sts:AssumeRole", condition: dict[str, Any] | None = None,
         **extra: Any) -> dict[str, Any]:
    st = allow(principal, action, condition, **extra)
    st["Effect"] = "Deny"
    return st


def merge(*conditions: dict[str, Any]) -> dict[str, Any]:
    """Merge condition blocks operator by operator."""
    out: dict[str, Any] = {}
    for c in conditions:
        for op, pairs in c.items():
            out.setdefault(op, {}).update(pairs)
    return out


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

TRUST = doc(allow({"AWS": f"arn:aws:iam::{EXT}:root"}, condition={"StringEquals": {"sts:ExternalId": "x1"}},
                  Sid="Vendor"))


@pytest.mark.parametrize("form", [
    pytest.param(TRUST, id="dict"),
    pytest.param(json.dumps(TRUST), id="json-string"),
])
def test_parse_accepts_every_document_form(form: Any) -> None:
    """A dict or JSON text; IAM's URL-encoding is undone once, when the document is collected
    (tests/test_sources.py), so checks/iam never sees it."""
    policy = parse_policy(form)
    assert policy.version == "2012-10-17"
    (st,) = policy.statements
    assert (st.index, st.sid, st.effect) == (0, "Vendor", "Allow")
    assert st.principals == (Principal("AWS", f"arn:aws:iam::{EXT}:root"),)
    assert st.actions == ("sts:AssumeRole",)
    assert st.conditions == (Condition("StringEquals", "sts:ExternalId", ("x1",)),)


def test_parse_json_with_a_literal_percent_is_not_url_decoded() -> None:
    text = json.dumps(doc(allow("*", condition={"StringEquals": {"sts:ExternalId": "50%25off"}})))
    assert parse_policy(text).statements[0].conditions[0].values == ("50%25off",)


def test_parse_single_statement_object_and_scalars_equal_lists() -> None:
    single = {"Statement": {"Effect": "Allow", "Principal": {"AWS": EXT}, "Action": "sts:AssumeRole",
                            "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": True}}}}
    listed = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": [EXT]}, "Action": ["sts:AssumeRole"],
                             "Resource": ["*"],
                             "Condition": {"Bool": {"aws:MultiFactorAuthPresent": ["true"]}}}]}
    assert parse_policy(single) == parse_policy(listed)
    assert parse_policy(single).version is None


def test_parse_keeps_absent_elements_as_none() -> None:
    st = parse_policy(doc({"Effect": "Deny", "NotAction": "s3:*", "NotResource": "arn:aws:s3:::b",
                           "NotPrincipal": {"AWS": EXT}, "Sid": ""})).statements[0]
    assert (st.principals, st.actions, st.resources, st.sid) == (None, None, None, None)
    assert st.not_actions == ("s3:*",) and st.not_resources == ("arn:aws:s3:::b",)
    assert st.not_principals == (Principal("AWS", EXT),)
    assert st.label == "statement 0"


def test_parse_tolerates_element_name_case_and_effect_case() -> None:
    st = parse_policy({"statement": [{"effect": "allow", "principal": "*", "action": "sts:*"}]}).statements[0]
    assert (st.effect, st.principals, st.actions) == ("Allow", (EVERYONE,), ("sts:*",))


def test_parse_policy_is_idempotent_and_empty_without_statements() -> None:
    policy = parse_policy(TRUST)
    assert parse_policy(policy) is policy
    assert parse_policy({"Version": "2012-10-17"}) == Policy("2012-10-17", ())
    assert decode_document(TRUST) == TRUST


@pytest.mark.parametrize("bad", [
    pytest.param(42, id="not-a-document"),
    pytest.param("[1, 2]", id="json-array"),
    pytest.param("{not json", id="not-json-at-all"),
    pytest.param({"Statement": "Allow"}, id="statement-is-a-string"),
    pytest.param({"Statement": ["Allow"]}, id="statement-item-not-object"),
    pytest.param(doc({"Effect": "Maybe", "Action": "*"}), id="bad-effect"),
    pytest.param(doc({"Effect": "Allow", "Principal": "arn:aws:iam::1:root", "Action": "*"}),
                 id="principal-str"),
    pytest.param(doc({"Effect": "Allow", "Principal": ["*"], "Action": "*"}), id="principal-list"),
    pytest.param(doc({"Effect": "Allow", "Action": "*", "Condition": ["x"]}), id="condition-not-object"),
    pytest.param(doc({"Effect": "Allow", "Action": "*", "Condition": {"Bool": "x"}}),
                 id="operator-not-object"),
])
def test_parse_rejects_malformed_documents(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_policy(bad)


# --------------------------------------------------------------------------------------------
# Principals
# --------------------------------------------------------------------------------------------

class PrincipalFormCase(NamedTuple):
    name: str
    principal: Any
    expected: list[Principal]


PRINCIPAL_FORMS = [
    PrincipalFormCase("star-string", principal="*", expected=[EVERYONE]),
    PrincipalFormCase("aws-star", principal={"AWS": "*"}, expected=[EVERYONE]),
    PrincipalFormCase("bare-account", principal={"AWS": "123456789012"},
                      expected=[Principal("AWS", "123456789012")]),
    PrincipalFormCase("root-arn-kind-case-and-spaces", principal={"aws": " arn:aws:iam::123456789012:root "},
                      expected=[Principal("AWS", "arn:aws:iam::123456789012:root")]),
    PrincipalFormCase(
        "list",
        principal={"AWS": ["arn:aws:iam::1:role/a", "arn:aws:sts::1:assumed-role/a/s"]},
        expected=[
            Principal("AWS", "arn:aws:iam::1:role/a"),
            Principal("AWS", "arn:aws:sts::1:assumed-role/a/s"),
        ],
    ),
    PrincipalFormCase(
        "services",
        principal={"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]},
        expected=[Principal("Service", "ec2.amazonaws.com"), Principal("Service", "lambda.amazonaws.com")],
    ),
    PrincipalFormCase("federated-oidc", principal={"Federated": GH}, expected=[Principal("Federated", GH)]),
    PrincipalFormCase("federated-saml", principal={"Federated": "arn:aws:iam::1:saml-provider/Okta"},
                      expected=[Principal("Federated", "arn:aws:iam::1:saml-provider/Okta")]),
    PrincipalFormCase("federated-cognito", principal={"Federated": "cognito-identity.amazonaws.com"},
                      expected=[Principal("Federated", "cognito-identity.amazonaws.com")]),
    PrincipalFormCase("canonical-user", principal={"CanonicalUser": "79a59df9"},
                      expected=[Principal("CanonicalUser", "79a59df9")]),
    PrincipalFormCase("mixed-kinds", principal={"AWS": EXT, "Service": "ec2.amazonaws.com"},
                      expected=[Principal("AWS", EXT), Principal("Service", "ec2.amazonaws.com")]),
]


@pytest.mark.parametrize("case", PRINCIPAL_FORMS, ids=lambda c: c.name)
def test_principal_forms(case: PrincipalFormCase) -> None:
    assert list(parse_policy(doc(allow(case.principal))).statements[0].principals or ()) == case.expected


class PrincipalAccountCase(NamedTuple):
    name: str
    value: str
    account: str | None


PRINCIPAL_ACCOUNTS = [
    PrincipalAccountCase("bare-account", value="123456789012", account="123456789012"),
    PrincipalAccountCase("root", value="arn:aws:iam::123456789012:root", account="123456789012"),
    PrincipalAccountCase("role", value="arn:aws:iam::123456789012:role/path/Deploy", account="123456789012"),
    PrincipalAccountCase("user", value="arn:aws:iam::123456789012:user/alice", account="123456789012"),
    PrincipalAccountCase("assumed-role", value="arn:aws:sts::123456789012:assumed-role/Deploy/session",
                         account="123456789012"),
    PrincipalAccountCase("other-partition", value="arn:aws-us-gov:iam::123456789012:root",
                         account="123456789012"),
    PrincipalAccountCase("star", value="*", account=None),
    PrincipalAccountCase("deleted-principal-unique-id", value="AROAEXAMPLEUNIQUEID", account=None),
    PrincipalAccountCase("service", value="ec2.amazonaws.com", account=None),
    PrincipalAccountCase("eleven-digits", value="12345678901", account=None),
    PrincipalAccountCase("wildcard-account", value="arn:aws:iam::*:root", account=None),
]


@pytest.mark.parametrize("case", PRINCIPAL_ACCOUNTS, ids=lambda c: c.name)
def test_principal_account(case: PrincipalAccountCase) -> None:
    assert principal_account(case.value) == case.account


def test_principal_str_and_account_property() -> None:
    assert str(EVERYONE) == "*"
    assert str(Principal("Service", "ec2.amazonaws.com")) == "Service:ec2.amazonaws.com"
    assert Principal("Service", "ec2.amazonaws.com").account is None
    assert Principal("AWS", "arn:aws:iam::123456789012:role/x").account == "123456789012"


class CoversCase(NamedTuple):
    name: str
    pattern: Principal
    target: Principal
    covers: bool


PRINCIPAL_COVERS = [
    CoversCase("star-covers-every-kind", pattern=EVERYONE, target=Principal("Federated", GH), covers=True),
    CoversCase("account-covers-its-role", pattern=Principal("AWS", EXT),
               target=Principal("AWS", f"arn:aws:iam::{EXT}:role/r"), covers=True),
    CoversCase("root-covers-bare-account", pattern=Principal("AWS", f"arn:aws:iam::{EXT}:root"),
               target=Principal("AWS", EXT), covers=True),
    CoversCase("role-does-not-cover-account", pattern=Principal("AWS", f"arn:aws:iam::{EXT}:role/r"),
               target=Principal("AWS", EXT), covers=False),
    CoversCase("other-account", pattern=Principal("AWS", "123456789012"),
               target=Principal("AWS", f"arn:aws:iam::{EXT}:role/r"), covers=False),
    CoversCase("account-does-not-cover-everyone", pattern=Principal("AWS", EXT), target=EVERYONE,
               covers=False),
    CoversCase("service-case-insensitive", pattern=Principal("Service", "EC2.amazonaws.com"),
               target=Principal("Service", "ec2.amazonaws.com"), covers=True),
    CoversCase("kind-differs", pattern=Principal("Service", "ec2.amazonaws.com"),
               target=Principal("AWS", EXT), covers=False),
]


@pytest.mark.parametrize("case", PRINCIPAL_COVERS, ids=lambda c: c.name)
def test_principal_covers(case: CoversCase) -> None:
    assert principal_covers(case.pattern, case.target) is case.covers


# --------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------

class ActionMatchCase(NamedTuple):
    name: str
    pattern: str
    action: str
    matches: bool


ACTION_MATCHES = [
    ActionMatchCase("star-matches-all", pattern="*", action="iam:CreateUser", matches=True),
    ActionMatchCase("service-star", pattern="iam:*", action="iam:CreateUser", matches=True),
    ActionMatchCase("prefix-star", pattern="iam:Create*", action="iam:CreateUser", matches=True),
    ActionMatchCase("prefix-star-other", pattern="iam:Create*", action="iam:DeleteUser", matches=False),
    ActionMatchCase("suffix-star", pattern="iam:*User", action="iam:CreateUser", matches=True),
    ActionMatchCase("case-insensitive", pattern="IAM:createuser", action="iam:CreateUser", matches=True),
    ActionMatchCase("question-mark", pattern="iam:CreateUse?", action="iam:CreateUser", matches=True),
    ActionMatchCase("question-mark-one-char-only", pattern="iam:CreateUse?", action="iam:CreateUsers",
                    matches=False),
    ActionMatchCase("wildcard-spans-service", pattern="i*:Create*", action="iam:CreateUser", matches=True),
    ActionMatchCase("any-service", pattern="*:CreateUser", action="iam:CreateUser", matches=True),
    ActionMatchCase("full-match-required", pattern="iam:CreateUser", action="iam:CreateUserX", matches=False),
    ActionMatchCase("dot-is-literal", pattern="iam:Create.ser", action="iam:CreateUser", matches=False),
    ActionMatchCase("no-implicit-prefix", pattern="sts:AssumeRole", action="sts:AssumeRoleWithWebIdentity",
                    matches=False),
    ActionMatchCase("assume-role-star", pattern="sts:AssumeRole*", action="sts:AssumeRoleWithSAML",
                    matches=True),
]


@pytest.mark.parametrize("case", ACTION_MATCHES, ids=lambda c: c.name)
def test_action_matches(case: ActionMatchCase) -> None:
    assert action_matches(case.pattern, case.action) is case.matches


class AppliesCase(NamedTuple):
    name: str
    statement: dict[str, Any]
    action: str
    applies: bool


STATEMENT_APPLIES = [
    AppliesCase("action-list", statement={"Action": ["s3:Get*", "iam:Create*"]}, action="iam:CreateRole",
                applies=True),
    AppliesCase("action-other-service", statement={"Action": "s3:*"}, action="iam:CreateRole", applies=False),
    AppliesCase("notaction-applies-to-unlisted", statement={"NotAction": "s3:*"}, action="iam:CreateRole",
                applies=True),
    AppliesCase("notaction-excludes-listed", statement={"NotAction": ["iam:*"]}, action="iam:CreateRole",
                applies=False),
    AppliesCase("neither-element", statement={}, action="iam:CreateRole", applies=False),
]


@pytest.mark.parametrize("case", STATEMENT_APPLIES, ids=lambda c: c.name)
def test_statement_applies_to_action(case: AppliesCase) -> None:
    st = parse_policy(doc({"Effect": "Deny", **case.statement})).statements[0]
    assert st.applies_to_action(case.action) is case.applies


# --------------------------------------------------------------------------------------------
# Conditions
# --------------------------------------------------------------------------------------------

ADMIN = "arn:aws:iam::123456789012:role/Admin"
OTHER = "arn:aws:iam::123456789012:role/Other"

class ConditionCase(NamedTuple):
    name: str
    operator: str
    key: str
    values: list[str]
    context: dict[str, Any]
    expected: bool


CONDITION_CASES = [
    # String operators
    ConditionCase("string-equals-match", operator="StringEquals", key="aws:username", values=["alice"],
                  context={"aws:username": "alice"}, expected=True),
    ConditionCase("string-equals-other", operator="StringEquals", key="aws:username", values=["alice"],
                  context={"aws:username": "bob"}, expected=False),
    ConditionCase("values-are-ored", operator="StringEquals", key="aws:username", values=["bob", "alice"],
                  context={"aws:username": "alice"}, expected=True),
    ConditionCase("string-equals-case-sensitive", operator="StringEquals", key="aws:username",
                  values=["alice"], context={"aws:username": "Alice"}, expected=False),
    ConditionCase("string-equals-absent-false", operator="StringEquals", key="aws:username", values=["alice"],
                  context={}, expected=False),
    ConditionCase("string-equals-star-is-literal", operator="StringEquals", key="aws:username", values=["a*"],
                  context={"aws:username": "alice"}, expected=False),
    ConditionCase("not-equals-other", operator="StringNotEquals", key="aws:username", values=["alice"],
                  context={"aws:username": "bob"}, expected=True),
    ConditionCase("not-equals-same", operator="StringNotEquals", key="aws:username", values=["alice"],
                  context={"aws:username": "alice"}, expected=False),
    ConditionCase("not-equals-is-nor-hit", operator="StringNotEquals", key="aws:username", values=["a", "b"],
                  context={"aws:username": "a"}, expected=False),
    ConditionCase("not-equals-is-nor-miss", operator="StringNotEquals", key="aws:username", values=["a", "b"],
                  context={"aws:username": "c"}, expected=True),
    ConditionCase("not-equals-absent-true", operator="StringNotEquals", key="aws:username", values=["alice"],
                  context={}, expected=True),
    ConditionCase("ignore-case", operator="StringEqualsIgnoreCase", key="aws:username", values=["ALICE"],
                  context={"aws:username": "alice"}, expected=True),
    ConditionCase("not-equals-ignore-case-same", operator="StringNotEqualsIgnoreCase", key="aws:username",
                  values=["ALICE"], context={"aws:username": "alice"}, expected=False),
    ConditionCase("not-equals-ignore-case-absent", operator="StringNotEqualsIgnoreCase", key="aws:username",
                  values=["ALICE"], context={}, expected=True),
    ConditionCase("like-star", operator="StringLike", key="s:sub", values=["repo:org/*"],
                  context={"s:sub": "repo:org/app:ref:main"}, expected=True),
    ConditionCase("like-question", operator="StringLike", key="s:sub", values=["repo:org/ap?"],
                  context={"s:sub": "repo:org/app"}, expected=True),
    ConditionCase("like-question-one-char", operator="StringLike", key="s:sub", values=["repo:org/ap?"],
                  context={"s:sub": "repo:org/appp"}, expected=False),
    ConditionCase("like-case-sensitive", operator="StringLike", key="s:sub", values=["repo:org/*"],
                  context={"s:sub": "repo:ORG/app"}, expected=False),
    ConditionCase("like-absent", operator="StringLike", key="s:sub", values=["repo:org/*"], context={},
                  expected=False),
    ConditionCase("not-like-hit", operator="StringNotLike", key="s:sub", values=["repo:org/*"],
                  context={"s:sub": "repo:org/app"}, expected=False),
    ConditionCase("not-like-miss", operator="StringNotLike", key="s:sub", values=["repo:org/*"],
                  context={"s:sub": "repo:evil/app"}, expected=True),
    ConditionCase("not-like-absent-true", operator="StringNotLike", key="s:sub", values=["repo:org/*"],
                  context={}, expected=True),
    # ARN operators
    ConditionCase("arn-like", operator="ArnLike", key="aws:PrincipalArn",
                  values=["arn:aws:iam::*:role/Admin"], context={"aws:PrincipalArn": ADMIN}, expected=True),
    ConditionCase("arn-like-other", operator="ArnLike", key="aws:PrincipalArn",
                  values=["arn:aws:iam::*:role/Admin"], context={"aws:PrincipalArn": OTHER}, expected=False),
    ConditionCase("arn-equals-also-globs", operator="ArnEquals", key="aws:PrincipalArn",
                  values=["arn:aws:iam::*:role/Admin"], context={"aws:PrincipalArn": ADMIN}, expected=True),
    ConditionCase("arn-like-star-does-not-cross-fields", operator="ArnLike", key="aws:PrincipalArn",
                  values=["arn:aws:iam::*"], context={"aws:PrincipalArn": ADMIN}, expected=False),
    ConditionCase("arn-like-context-not-arn", operator="ArnLike", key="aws:PrincipalArn",
                  values=["arn:aws:iam::*:role/*"], context={"aws:PrincipalArn": "not-an-arn"},
                  expected=False),
    ConditionCase("arn-not-like-admin", operator="ArnNotLike", key="aws:PrincipalArn",
                  values=["arn:aws:iam::*:role/Admin"], context={"aws:PrincipalArn": ADMIN}, expected=False),
    ConditionCase("arn-not-like-other", operator="ArnNotLike", key="aws:PrincipalArn",
                  values=["arn:aws:iam::*:role/Admin"], context={"aws:PrincipalArn": OTHER}, expected=True),
    ConditionCase("arn-not-equals-absent-true", operator="ArnNotEquals", key="aws:PrincipalArn",
                  values=[ADMIN], context={}, expected=True),
    # Bool and Null
    ConditionCase("bool-true", operator="Bool", key="aws:SecureTransport", values=["true"],
                  context={"aws:SecureTransport": True}, expected=True),
    ConditionCase("bool-false", operator="Bool", key="aws:SecureTransport", values=["true"],
                  context={"aws:SecureTransport": "false"}, expected=False),
    ConditionCase("bool-case", operator="Bool", key="aws:SecureTransport", values=["TRUE"],
                  context={"aws:SecureTransport": "true"}, expected=True),
    ConditionCase("bool-absent", operator="Bool", key="aws:SecureTransport", values=["true"], context={},
                  expected=False),
    ConditionCase("bool-if-exists-absent", operator="BoolIfExists", key="aws:MultiFactorAuthPresent",
                  values=["false"], context={}, expected=True),
    ConditionCase("null-true-absent", operator="Null", key="iam:PermissionsBoundary", values=["true"],
                  context={}, expected=True),
    ConditionCase("null-true-present", operator="Null", key="iam:PermissionsBoundary", values=["true"],
                  context={"iam:PermissionsBoundary": "arn:b"}, expected=False),
    ConditionCase("null-false-present", operator="Null", key="iam:PermissionsBoundary", values=["false"],
                  context={"iam:PermissionsBoundary": "arn:b"}, expected=True),
    ConditionCase("null-false-absent", operator="Null", key="iam:PermissionsBoundary", values=["false"],
                  context={}, expected=False),
    ConditionCase("null-empty-list-is-absent", operator="Null", key="aws:TagKeys", values=["true"],
                  context={"aws:TagKeys": []}, expected=True),
    # Numeric and Date
    ConditionCase("numeric-less-than", operator="NumericLessThan", key="s:n", values=["3600"],
                  context={"s:n": 100}, expected=True),
    ConditionCase("numeric-less-than-not", operator="NumericLessThan", key="s:n", values=["3600"],
                  context={"s:n": 4000}, expected=False),
    ConditionCase("numeric-le", operator="NumericLessThanEquals", key="s:n", values=["10"],
                  context={"s:n": "10"}, expected=True),
    ConditionCase("numeric-gt", operator="NumericGreaterThan", key="s:n", values=["10"],
                  context={"s:n": "10.5"}, expected=True),
    ConditionCase("numeric-ge-not", operator="NumericGreaterThanEquals", key="s:n", values=["10"],
                  context={"s:n": "9"}, expected=False),
    ConditionCase("numeric-equals-as-number", operator="NumericEquals", key="s:n", values=["10"],
                  context={"s:n": "10.0"}, expected=True),
    ConditionCase("numeric-not-equals", operator="NumericNotEquals", key="s:n", values=["10"],
                  context={"s:n": "11"}, expected=True),
    ConditionCase("numeric-unparseable", operator="NumericEquals", key="s:n", values=["ten"],
                  context={"s:n": "10"}, expected=False),
    ConditionCase("date-gt", operator="DateGreaterThan", key="aws:CurrentTime",
                  values=["2020-01-01T00:00:00Z"], context={"aws:CurrentTime": "2024-06-01T00:00:00Z"},
                  expected=True),
    ConditionCase("date-lt-epoch-context", operator="DateLessThan", key="aws:CurrentTime",
                  values=["2020-01-01T00:00:00Z"], context={"aws:CurrentTime": "1700000000"}, expected=False),
    ConditionCase("date-le-naive-is-utc", operator="DateLessThanEquals", key="aws:CurrentTime",
                  values=["2020-01-01"], context={"aws:CurrentTime": "2019-12-31T23:00:00"}, expected=True),
    ConditionCase("date-ge", operator="DateGreaterThanEquals", key="aws:CurrentTime", values=["2020-01-01"],
                  context={"aws:CurrentTime": "2020-01-01"}, expected=True),
    ConditionCase("date-equals", operator="DateEquals", key="aws:CurrentTime",
                  values=["2020-01-01T00:00:00Z"], context={"aws:CurrentTime": "2020-01-01T00:00:00+00:00"},
                  expected=True),
    ConditionCase("date-not-equals-unparseable", operator="DateNotEquals", key="aws:CurrentTime",
                  values=["2020-01-01"], context={"aws:CurrentTime": "yesterday"}, expected=True),
    # IP and binary
    ConditionCase("ip-in", operator="IpAddress", key="aws:SourceIp", values=["10.0.0.0/8"],
                  context={"aws:SourceIp": "10.1.2.3"}, expected=True),
    ConditionCase("ip-ored", operator="IpAddress", key="aws:SourceIp",
                  values=["10.0.0.0/8", "192.168.0.0/16"], context={"aws:SourceIp": "192.168.1.1"},
                  expected=True),
    ConditionCase("ip-out", operator="IpAddress", key="aws:SourceIp", values=["10.0.0.0/8"],
                  context={"aws:SourceIp": "8.8.8.8"}, expected=False),
    ConditionCase("ip-bad", operator="IpAddress", key="aws:SourceIp", values=["10.0.0.0/8"],
                  context={"aws:SourceIp": "not-an-ip"}, expected=False),
    ConditionCase("not-ip", operator="NotIpAddress", key="aws:SourceIp", values=["10.0.0.0/8"],
                  context={"aws:SourceIp": "8.8.8.8"}, expected=True),
    ConditionCase("binary-equals", operator="BinaryEquals", key="s:b", values=["QmluYXJ5"],
                  context={"s:b": "QmluYXJ5"}, expected=True),
    # IfExists
    ConditionCase("if-exists-absent-true", operator="StringEqualsIfExists", key="sts:ExternalId",
                  values=["x1"], context={}, expected=True),
    ConditionCase("if-exists-present-checked", operator="StringEqualsIfExists", key="sts:ExternalId",
                  values=["x1"], context={"sts:ExternalId": "x2"}, expected=False),
    ConditionCase("like-if-exists-present", operator="StringLikeIfExists", key="sts:ExternalId",
                  values=["x*"], context={"sts:ExternalId": "x2"}, expected=True),
    ConditionCase("not-equals-if-exists-absent", operator="StringNotEqualsIfExists",
                  key="iam:PermissionsBoundary", values=["arn:b"], context={}, expected=True),
    # ForAnyValue / ForAllValues
    ConditionCase("any-value-hit", operator="ForAnyValue:StringEquals", key="aws:TagKeys", values=["a"],
                  context={"aws:TagKeys": ["a", "z"]}, expected=True),
    ConditionCase("any-value-miss", operator="ForAnyValue:StringEquals", key="aws:TagKeys", values=["a"],
                  context={"aws:TagKeys": ["y", "z"]}, expected=False),
    ConditionCase("any-value-absent-false", operator="ForAnyValue:StringEquals", key="aws:TagKeys",
                  values=["a"], context={}, expected=False),
    ConditionCase("any-value-empty-false", operator="ForAnyValue:StringEquals", key="aws:TagKeys",
                  values=["a"], context={"aws:TagKeys": []}, expected=False),
    ConditionCase("all-values-subset", operator="ForAllValues:StringEquals", key="aws:TagKeys",
                  values=["a", "b", "c"], context={"aws:TagKeys": ["a", "b"]}, expected=True),
    ConditionCase("all-values-not-subset", operator="ForAllValues:StringEquals", key="aws:TagKeys",
                  values=["a"], context={"aws:TagKeys": ["a", "z"]}, expected=False),
    ConditionCase("all-values-absent-TRUE-pitfall", operator="ForAllValues:StringEquals", key="aws:TagKeys",
                  values=["a"], context={}, expected=True),
    ConditionCase("all-values-empty-TRUE", operator="ForAllValues:StringEquals", key="aws:TagKeys",
                  values=["a"], context={"aws:TagKeys": []}, expected=True),
    ConditionCase("all-values-not-equals", operator="ForAllValues:StringNotEquals", key="aws:TagKeys",
                  values=["a"], context={"aws:TagKeys": ["x", "y"]}, expected=True),
    ConditionCase("all-values-not-equals-hit", operator="ForAllValues:StringNotEquals", key="aws:TagKeys",
                  values=["a"], context={"aws:TagKeys": ["a", "y"]}, expected=False),
    ConditionCase("any-value-not-equals", operator="ForAnyValue:StringNotEquals", key="aws:TagKeys",
                  values=["a"], context={"aws:TagKeys": ["a", "y"]}, expected=True),
    ConditionCase("any-value-not-equals-all-hit", operator="ForAnyValue:StringNotEquals", key="aws:TagKeys",
                  values=["a"], context={"aws:TagKeys": ["a"]}, expected=False),
    ConditionCase("any-value-if-exists-absent", operator="ForAnyValue:StringLikeIfExists", key="aws:TagKeys",
                  values=["a*"], context={}, expected=True),
    ConditionCase("all-values-like", operator="ForAllValues:StringLike", key="aws:PrincipalOrgPaths",
                  values=["o-abc123/*"], context={"aws:PrincipalOrgPaths": ["o-abc123/r"]}, expected=True),
    # Multi-valued context without a qualifier
    ConditionCase("list-context-any", operator="StringEquals", key="aws:TagKeys", values=["b"],
                  context={"aws:TagKeys": ["a", "b"]}, expected=True),
    ConditionCase("list-context-negated", operator="StringNotEquals", key="aws:TagKeys", values=["b"],
                  context={"aws:TagKeys": ["a", "b"]}, expected=False),
    # Case-insensitive keys and operators; None context value
    ConditionCase("key-case-insensitive", operator="StringEquals", key="AWS:UserName", values=["alice"],
                  context={"aws:username": "alice"}, expected=True),
    ConditionCase("operator-case-insensitive", operator="stringequals", key="aws:username", values=["alice"],
                  context={"AWS:USERNAME": "alice"}, expected=True),
    ConditionCase("qualifier-and-suffix-case-insensitive", operator="forallvalues:stringequalsifexists",
                  key="aws:TagKeys", values=["a"], context={"aws:tagkeys": ["z"]}, expected=False),
    ConditionCase("none-context-is-absent", operator="StringEquals", key="aws:username", values=["alice"],
                  context={"aws:username": None}, expected=False),
]


@pytest.mark.parametrize("case", CONDITION_CASES, ids=lambda c: c.name)
def test_evaluate_condition(case: ConditionCase) -> None:
    condition = Condition(case.operator, case.key, tuple(case.values))
    assert evaluate_condition(condition, case.context) is case.expected


class OperatorPartsCase(NamedTuple):
    name: str
    operator: str
    qualifier: str | None
    base: str
    if_exists: bool
    negated: bool


OPERATOR_PARTS = [
    OperatorPartsCase("full", operator="ForAnyValue:StringLikeIfExists", qualifier="ForAnyValue",
                      base="StringLike", if_exists=True, negated=False),
    OperatorPartsCase("lowercase", operator="stringnotequals", qualifier=None, base="StringNotEquals",
                      if_exists=False, negated=True),
    OperatorPartsCase("null", operator="Null", qualifier=None, base="Null", if_exists=False, negated=False),
    OperatorPartsCase("unknown-kept-as-written", operator="Weird:Thing", qualifier="Weird", base="Thing",
                      if_exists=False, negated=False),
]


@pytest.mark.parametrize("case", OPERATOR_PARTS, ids=lambda c: c.name)
def test_operator_parts(case: OperatorPartsCase) -> None:
    c = Condition(case.operator, "k", ("v",))
    assert (c.qualifier, c.base, c.if_exists, c.negated) == (
        case.qualifier, case.base, case.if_exists, case.negated)


def test_unknown_operator_raises_rather_than_guessing() -> None:
    with pytest.raises(ValueError, match="unsupported condition operator"):
        evaluate_condition(Condition("StringSortOf", "k", ("v",)), {"k": "v"})


def test_conditions_hold_is_and_across_operators_and_keys() -> None:
    block = parse_policy(doc(allow("*", condition={
        "StringEquals": {"aws:PrincipalOrgID": ORG_ID, "aws:PrincipalTag/team": "ops"},
        "Bool": {"aws:SecureTransport": True},
    }))).statements[0].conditions
    ok = {"aws:PrincipalOrgID": ORG_ID, "aws:PrincipalTag/team": "ops", "aws:SecureTransport": "true"}
    assert conditions_hold(block, ok)
    assert not conditions_hold(block, {**ok, "aws:SecureTransport": "false"})
    assert not conditions_hold(block, {**ok, "aws:PrincipalTag/team": "dev"})
    assert conditions_hold((), {})


def test_json_boolean_and_number_condition_values_compare_as_iam_text() -> None:
    c = parse_policy(doc(allow("*", condition={"Bool": {"aws:SecureTransport": False},
                                               "NumericLessThan": {"s:n": 5}}))).statements[0].conditions
    assert [x.values for x in c] == [("false",), ("5",)]
    assert str(c[0]) == "Bool aws:SecureTransport ['false']"


# --------------------------------------------------------------------------------------------
# assume_paths
# --------------------------------------------------------------------------------------------

ROLE_EXT = f"arn:aws:iam::{EXT}:role/Vendor"


def paths(document: Any, action: str = "sts:AssumeRole") -> list[tuple[int, str, tuple[int, ...]]]:
    return [(g.statement_index, str(g.principal), g.conditional_denies) for g in assume_paths(document,
                                                                                              action)]


class AssumePathsCase(NamedTuple):
    name: str
    document: Any
    action: str
    expected: list[tuple[int, str, tuple[int, ...]]]


ASSUME_PATHS = [
    AssumePathsCase("one-grant-per-principal", document=doc(allow({"AWS": [EXT, ROLE_EXT]})),
                    action="sts:AssumeRole", expected=[(0, f"AWS:{EXT}", ()), (0, f"AWS:{ROLE_EXT}", ())]),
    AssumePathsCase("sts-star", document=doc(allow({"AWS": EXT}, "sts:*")), action="sts:AssumeRole",
                    expected=[(0, f"AWS:{EXT}", ())]),
    AssumePathsCase("other-action", document=doc(allow({"AWS": EXT}, "sts:TagSession")),
                    action="sts:AssumeRole", expected=[]),
    AssumePathsCase(
        "notaction-grants-unlisted",
        document=doc({"Effect": "Allow", "Principal": {"AWS": EXT}, "NotAction": "sts:AssumeRoleWithSAML"}),
        action="sts:AssumeRole",
        expected=[(0, f"AWS:{EXT}", ())],
    ),
    AssumePathsCase("notaction-excludes-listed",
                    document=doc({"Effect": "Allow", "Principal": {"AWS": EXT}, "NotAction": "sts:Assume*"}),
                    action="sts:AssumeRole", expected=[]),
    AssumePathsCase("deny-never-grants", document=doc(deny({"AWS": EXT})), action="sts:AssumeRole",
                    expected=[]),
    AssumePathsCase("unconditional-deny-on-account-removes-role",
                    document=doc(allow({"AWS": ROLE_EXT}), deny({"AWS": EXT})), action="sts:AssumeRole",
                    expected=[]),
    AssumePathsCase("deny-on-role-leaves-account", document=doc(allow({"AWS": EXT}), deny({"AWS": ROLE_EXT})),
                    action="sts:AssumeRole", expected=[(0, f"AWS:{EXT}", ())]),
    AssumePathsCase(
        "conditional-deny-kept-and-recorded",
        document=doc(
            allow({"AWS": EXT}), deny("*", condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})
        ),
        action="sts:AssumeRole",
        expected=[(0, f"AWS:{EXT}", (1,))],
    ),
    AssumePathsCase("deny-of-other-action", document=doc(allow({"AWS": EXT}), deny("*", "sts:TagSession")),
                    action="sts:AssumeRole", expected=[(0, f"AWS:{EXT}", ())]),
    AssumePathsCase("deny-without-principal-applies-to-all",
                    document=doc(allow({"AWS": EXT}), {"Effect": "Deny", "Action": "sts:AssumeRole"}),
                    action="sts:AssumeRole", expected=[]),
    AssumePathsCase(
        "allow-notprincipal-is-everyone-but",
        document=doc({"Effect": "Allow", "NotPrincipal": {"AWS": EXT}, "Action": "sts:AssumeRole"}),
        action="sts:AssumeRole",
        expected=[(0, "*", ())],
    ),
    AssumePathsCase("allow-notprincipal-star-grants-nobody",
                    document=doc({"Effect": "Allow", "NotPrincipal": "*", "Action": "sts:AssumeRole"}),
                    action="sts:AssumeRole", expected=[]),
    AssumePathsCase("allow-without-principal-grants-nobody",
                    document=doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), action="sts:AssumeRole",
                    expected=[]),
    AssumePathsCase(
        "deny-notprincipal-covers-unlisted",
        document=doc(
            allow({"AWS": ROLE_EXT}),
            {"Effect": "Deny", "NotPrincipal": {"AWS": "111111111111"}, "Action": "sts:*"},
        ),
        action="sts:AssumeRole",
        expected=[],
    ),
    AssumePathsCase(
        "deny-notprincipal-spares-listed",
        document=doc(
            allow({"AWS": ROLE_EXT}), {"Effect": "Deny", "NotPrincipal": {"AWS": EXT}, "Action": "sts:*"}
        ),
        action="sts:AssumeRole",
        expected=[(0, f"AWS:{ROLE_EXT}", ())],
    ),
    AssumePathsCase(
        "deny-notprincipal-never-covers-everyone",
        document=doc(allow("*"), {"Effect": "Deny", "NotPrincipal": {"AWS": EXT}, "Action": "sts:*"}),
        action="sts:AssumeRole",
        expected=[(0, "*", ())],
    ),
    AssumePathsCase("deny-star-removes-federated",
                    document=doc(allow({"Federated": GH}, WEB), deny("*", WEB)), action=WEB, expected=[]),
    AssumePathsCase("service", document=doc(allow({"Service": "ec2.amazonaws.com"})), action="sts:AssumeRole",
                    expected=[(0, "Service:ec2.amazonaws.com", ())]),
]


@pytest.mark.parametrize("case", ASSUME_PATHS, ids=lambda c: c.name)
def test_assume_paths(case: AssumePathsCase) -> None:
    assert paths(case.document, case.action) == case.expected


def test_assume_paths_carry_sid_conditions_and_exclusions() -> None:
    (g,) = assume_paths(doc({"Sid": "All", "Effect": "Allow", "NotPrincipal": {"AWS": EXT},
                             "Action": "sts:AssumeRole",
                             "Condition": {"Bool": {"aws:SecureTransport": "true"}}}))
    assert g.sid == "All" and g.label == "statement 0 (Sid 'All')"
    assert g.excluded == (Principal("AWS", EXT),)
    assert g.conditions == (Condition("Bool", "aws:SecureTransport", ("true",)),)


# --------------------------------------------------------------------------------------------
# RC-4.1: external principals need an External ID
# --------------------------------------------------------------------------------------------

XID = {"StringEquals": {"sts:ExternalId": "a1b2c3"}}
ORG_PIN = {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}


def rc41(document: Any, org_id: str | None = ORG_ID) -> list[tuple[int, str, str]]:
    return [(f.statement_index, f.principal, severity(f))
            for f in external_assume_without_external_id(document, ORG_ACCOUNTS, org_id)]


class ExternalIdCase(NamedTuple):
    name: str
    document: Any
    expected: list[tuple[int, str, str]]


RC_4_1 = [
    ExternalIdCase("org-account-root", document=doc(allow({"AWS": "arn:aws:iam::111111111111:root"})),
                   expected=[]),
    ExternalIdCase("org-account-role", document=doc(allow({"AWS": "arn:aws:iam::222222222222:role/ci"})),
                   expected=[]),
    ExternalIdCase("external-root-no-condition", document=doc(allow({"AWS": f"arn:aws:iam::{EXT}:root"})),
                   expected=[(0, f"AWS:arn:aws:iam::{EXT}:root", "high")]),
    ExternalIdCase("external-bare-account", document=doc(allow({"AWS": EXT})),
                   expected=[(0, f"AWS:{EXT}", "high")]),
    ExternalIdCase("external-role", document=doc(allow({"AWS": ROLE_EXT})),
                   expected=[(0, f"AWS:{ROLE_EXT}", "high")]),
    ExternalIdCase("external-assumed-role",
                   document=doc(allow({"AWS": f"arn:aws:sts::{EXT}:assumed-role/R/s"})),
                   expected=[(0, f"AWS:arn:aws:sts::{EXT}:assumed-role/R/s", "high")]),
    ExternalIdCase("list-mixing-internal-and-external", document=doc(allow({"AWS": ["111111111111", EXT]})),
                   expected=[(0, f"AWS:{EXT}", "high")]),
    ExternalIdCase("unknown-account-treated-as-external", document=doc(allow({"AWS": "AROAEXAMPLEUNIQUEID"})),
                   expected=[(0, "AWS:AROAEXAMPLEUNIQUEID", "high")]),
    ExternalIdCase("external-id-string-equals", document=doc(allow({"AWS": EXT}, condition=XID)),
                   expected=[]),
    ExternalIdCase("external-id-string-like-literal",
                   document=doc(allow({"AWS": EXT}, condition={"StringLike": {"sts:ExternalId": "a1b2c3"}})),
                   expected=[]),
    ExternalIdCase(
        "external-id-several-values",
        document=doc(allow({"AWS": EXT}, condition={"StringEquals": {"sts:ExternalId": ["a1", "b2"]}})),
        expected=[],
    ),
    ExternalIdCase(
        "external-id-key-case-insensitive",
        document=doc(allow({"AWS": EXT}, condition={"StringEquals": {"STS:EXTERNALID": "a1b2c3"}})),
        expected=[],
    ),
    ExternalIdCase(
        "external-id-operator-case-insensitive",
        document=doc(allow({"AWS": EXT}, condition={"stringequals": {"sts:ExternalId": "a1b2c3"}})),
        expected=[],
    ),
    ExternalIdCase(
        "external-id-for-any-value-requires-presence",
        document=doc(allow({"AWS": EXT}, condition={"ForAnyValue:StringEquals": {"sts:ExternalId": "a1"}})),
        expected=[],
    ),
    ExternalIdCase("external-id-string-like-wildcard",
                   document=doc(allow({"AWS": EXT}, condition={"StringLike": {"sts:ExternalId": "a1*"}})),
                   expected=[(0, f"AWS:{EXT}", "high")]),
    ExternalIdCase("external-id-string-like-question-mark",
                   document=doc(allow({"AWS": EXT}, condition={"StringLike": {"sts:ExternalId": "a?"}})),
                   expected=[(0, f"AWS:{EXT}", "high")]),
    ExternalIdCase(
        "external-id-if-exists-absence-passes",
        document=doc(allow({"AWS": EXT}, condition={"StringEqualsIfExists": {"sts:ExternalId": "a1b2c3"}})),
        expected=[(0, f"AWS:{EXT}", "high")],
    ),
    ExternalIdCase(
        "external-id-for-all-values",
        document=doc(allow({"AWS": EXT}, condition={"ForAllValues:StringEquals": {"sts:ExternalId": "a1"}})),
        expected=[(0, f"AWS:{EXT}", "high")],
    ),
    ExternalIdCase(
        "external-id-ignore-case-not-in-control",
        document=doc(allow({"AWS": EXT}, condition={"StringEqualsIgnoreCase": {"sts:ExternalId": "a1"}})),
        expected=[(0, f"AWS:{EXT}", "high")],
    ),
    ExternalIdCase("external-id-negated",
                   document=doc(allow({"AWS": EXT}, condition={"StringNotEquals": {"sts:ExternalId": "a1"}})),
                   expected=[(0, f"AWS:{EXT}", "high")]),
    ExternalIdCase("external-id-empty",
                   document=doc(allow({"AWS": EXT}, condition={"StringEquals": {"sts:ExternalId": ""}})),
                   expected=[(0, f"AWS:{EXT}", "high")]),
    ExternalIdCase("external-id-no-values",
                   document=doc(allow({"AWS": EXT}, condition={"StringEquals": {"sts:ExternalId": []}})),
                   expected=[(0, f"AWS:{EXT}", "high")]),
    ExternalIdCase(
        "external-id-one-blank-value",
        document=doc(allow({"AWS": EXT}, condition={"StringEquals": {"sts:ExternalId": ["a1", " "]}})),
        expected=[(0, f"AWS:{EXT}", "high")],
    ),
    ExternalIdCase(
        "external-id-one-good-condition-suffices",
        document=doc(
            allow({"AWS": EXT}, condition=merge(XID, {"StringLikeIfExists": {"sts:ExternalId": "*"}}))
        ),
        expected=[],
    ),
    ExternalIdCase("star-no-condition-critical", document=doc(allow("*")), expected=[(0, "*", "critical")]),
    ExternalIdCase("aws-star-no-condition-critical", document=doc(allow({"AWS": "*"})),
                   expected=[(0, "*", "critical")]),
    ExternalIdCase("star-with-unrelated-condition-high",
                   document=doc(allow("*", condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
                   expected=[(0, "*", "high")]),
    ExternalIdCase("star-pinned-org-id", document=doc(allow("*", condition=ORG_PIN)), expected=[]),
    ExternalIdCase("star-pinned-org-id-case-insensitive",
                   document=doc(allow("*", condition={"StringEquals": {"aws:principalorgid": "O-ABC123"}})),
                   expected=[]),
    ExternalIdCase("star-other-org",
                   document=doc(allow("*", condition={"StringEquals": {"aws:PrincipalOrgID": "o-other"}})),
                   expected=[(0, "*", "high")]),
    ExternalIdCase(
        "star-org-id-list-with-other-org",
        document=doc(allow("*", condition={"StringEquals": {"aws:PrincipalOrgID": [ORG_ID, "o-other"]}})),
        expected=[(0, "*", "high")],
    ),
    ExternalIdCase("star-org-id-wildcard",
                   document=doc(allow("*", condition={"StringLike": {"aws:PrincipalOrgID": "o-*"}})),
                   expected=[(0, "*", "high")]),
    ExternalIdCase(
        "star-org-id-if-exists",
        document=doc(allow("*", condition={"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG_ID}})),
        expected=[(0, "*", "high")],
    ),
    ExternalIdCase("star-org-id-negated",
                   document=doc(allow("*", condition={"StringNotEquals": {"aws:PrincipalOrgID": ORG_ID}})),
                   expected=[(0, "*", "high")]),
    ExternalIdCase(
        "star-pinned-principal-account",
        document=doc(allow("*", condition={"StringEquals": {"aws:PrincipalAccount": sorted(ORG_ACCOUNTS)}})),
        expected=[],
    ),
    ExternalIdCase(
        "star-principal-account-includes-external",
        document=doc(allow("*", condition={"StringEquals": {"aws:PrincipalAccount": ["111111111111", EXT]}})),
        expected=[(0, "*", "high")],
    ),
    ExternalIdCase(
        "star-pinned-org-paths",
        document=doc(
            allow("*", condition={"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": f"{ORG_ID}/r-1/*"}})
        ),
        expected=[],
    ),
    ExternalIdCase(
        "star-org-paths-for-all-values-absent-passes",
        document=doc(
            allow("*", condition={"ForAllValues:StringLike": {"aws:PrincipalOrgPaths": f"{ORG_ID}/*"}})
        ),
        expected=[(0, "*", "high")],
    ),
    ExternalIdCase(
        "star-org-paths-other-org",
        document=doc(allow("*", condition={"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-*/*"}})),
        expected=[(0, "*", "high")],
    ),
    ExternalIdCase(
        "second-open-statement-defeats-pinned",
        document=doc(
            allow("*", condition={"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}, Sid="X"),
            allow("*", Sid="Y"),
        ),
        expected=[(1, "*", "critical")],
    ),
    # IAM: a condition pinning aws:PrincipalOrgID to the organization is false for every caller of
    # an account outside it, so the grant admits nobody external
    ExternalIdCase("named-external-account-pinned-to-org-admits-no-outsider",
                   document=doc(allow({"AWS": EXT}, condition=ORG_PIN)),
                   expected=[]),
    ExternalIdCase(
        "notprincipal-is-everyone",
        document=doc(
            {"Effect": "Allow", "NotPrincipal": {"AWS": "111111111111"}, "Action": "sts:AssumeRole"}
        ),
        expected=[(0, "*", "critical")],
    ),
    ExternalIdCase("unconditional-deny-removes", document=doc(allow({"AWS": EXT}), deny({"AWS": EXT})),
                   expected=[]),
    ExternalIdCase(
        "deny-guard-string-not-equals-external-id-credited",
        document=doc(
            allow({"AWS": EXT}), deny({"AWS": EXT}, condition={"StringNotEquals": {"sts:ExternalId": "a"}})
        ),
        expected=[],
    ),
    ExternalIdCase(
        "deny-with-two-conditions-not-a-guard",
        document=doc(
            allow({"AWS": EXT}),
            deny(
                {"AWS": EXT},
                condition={
                    "StringNotEquals": {"sts:ExternalId": "a"},
                    "Bool": {"aws:SecureTransport": "true"},
                },
            ),
        ),
        expected=[(0, f"AWS:{EXT}", "high")],
    ),
    ExternalIdCase("service-principal-not-g4", document=doc(allow({"Service": "ec2.amazonaws.com"})),
                   expected=[]),
    ExternalIdCase(
        "federated-not-g4",
        document=doc(
            allow({"Federated": "arn:aws:iam::999999999999:saml-provider/X"}, "sts:AssumeRoleWithSAML")
        ),
        expected=[],
    ),
    ExternalIdCase("other-sts-action", document=doc(allow({"AWS": EXT}, "sts:AssumeRoleWithSAML")),
                   expected=[]),
    ExternalIdCase("notaction-covers-assume-role",
                   document=doc({"Effect": "Allow", "Principal": {"AWS": EXT}, "NotAction": WEB}),
                   expected=[(0, f"AWS:{EXT}", "high")]),
]


@pytest.mark.parametrize("case", RC_4_1, ids=lambda c: c.name)
def test_rc_4_1(case: ExternalIdCase) -> None:
    assert rc41(case.document) == case.expected


@pytest.mark.parametrize("text", [
    pytest.param(quote(json.dumps(TRUST)), id="url-encoded"),
    pytest.param(quote(json.dumps(TRUST)).replace("%20", "+"), id="url-encoded-with-plus-for-space"),
])
def test_url_encoded_text_is_refused_not_decoded_a_second_time(text: str) -> None:
    """Decoding again could change a literal `%` or `+` in a condition value."""
    with pytest.raises(ValueError, match="must be JSON"):
        parse_policy(text)


def test_rc_4_1_org_pins_need_the_org_id() -> None:
    assert rc41(doc(allow("*", condition=ORG_PIN)), org_id=None) == [(0, "*", "high")]
    assert rc41(doc(allow("*", condition={"StringEquals": {"aws:PrincipalAccount": "111111111111"}})),
                org_id=None) == []


def test_rc_4_1_finding_names_statement_sid_principal_and_condition_values() -> None:
    document = doc(allow({"AWS": EXT}, Sid="Vendor",
                         condition={"StringEqualsIfExists": {"sts:ExternalId": "abc-123"}}))
    (f,) = external_assume_without_external_id(document, ORG_ACCOUNTS, ORG_ID)
    assert (control_id(f), f.statement_index, f.sid, f.principal) == ("RC-4.1", 0, "Vendor", f"AWS:{EXT}")
    assert "statement 0 (Sid 'Vendor')" in f.reason
    assert "abc-123" in f.reason and "StringEqualsIfExists" in f.reason and EXT in f.reason
    assert f.facts()["conditions"] == [{"operator": "StringEqualsIfExists", "key": "sts:ExternalId",
                                        "values": ["abc-123"]}]


class ReasonCase(NamedTuple):
    name: str
    document: Any
    fragment: str


RC_4_1_REASONS = [
    ReasonCase("everyone", document=doc(allow("*")), fragment="any AWS principal (*)"),
    ReasonCase(
        "everyone-but",
        document=doc(
            {"Effect": "Allow", "NotPrincipal": {"AWS": "111111111111"}, "Action": "sts:AssumeRole"}
        ),
        fragment="except AWS:111111111111",
    ),
    ReasonCase("unknown-account", document=doc(allow({"AWS": "AROAEXAMPLE"})), fragment="account unknown"),
    ReasonCase("no-external-id", document=doc(allow({"AWS": EXT})), fragment="no sts:ExternalId condition"),
    ReasonCase(
        "for-all-values",
        document=doc(allow({"AWS": EXT}, condition={"ForAllValues:StringEquals": {"sts:ExternalId": "a"}})),
        fragment="true when ExternalId is absent",
    ),
    ReasonCase("wildcard",
               document=doc(allow({"AWS": EXT}, condition={"StringLike": {"sts:ExternalId": "a*"}})),
               fragment="wildcard"),
    ReasonCase("empty", document=doc(allow({"AWS": EXT}, condition={"StringEquals": {"sts:ExternalId": ""}})),
               fragment="empty ExternalId"),
    ReasonCase(
        "operator",
        document=doc(allow({"AWS": EXT}, condition={"StringEqualsIgnoreCase": {"sts:ExternalId": "a"}})),
        fragment="does not require an exact ExternalId",
    ),
]


@pytest.mark.parametrize("case", RC_4_1_REASONS, ids=lambda c: c.name)
def test_rc_4_1_reason_explains(case: ReasonCase) -> None:
    (f,) = external_assume_without_external_id(case.document, ORG_ACCOUNTS, ORG_ID)
    assert case.fragment in f.reason


def test_rc_4_1_population_includes_passing_external_grants() -> None:
    document = doc(allow({"AWS": EXT}, condition=XID), allow({"AWS": "111111111111"}))
    assert [str(g.principal) for g in external_grants(document, ORG_ACCOUNTS, ORG_ID)] == [f"AWS:{EXT}"]
    assert external_assume_without_external_id(document, ORG_ACCOUNTS, ORG_ID) == []


# --------------------------------------------------------------------------------------------
# RC-5.1 / RC-5.2: GitHub Actions OIDC
# --------------------------------------------------------------------------------------------


def gh(sub: Any = None, op: str = "StringLike", extra: dict[str, Any] | None = None,
       principal: str = GH, aud: bool = True, **kw: Any) -> dict[str, Any]:
    condition: dict[str, Any] = {}
    if sub is not None:
        condition = merge(condition, {op: {GH_SUB: sub}})
    if aud:
        condition = merge(condition, GH_AUD)
    if extra:
        condition = merge(condition, extra)
    return allow({"Federated": principal}, WEB, condition or None, **kw)


def rc5(document: Any) -> list[tuple[str, int, str]]:
    return [(control_id(f), f.statement_index, severity(f)) for f in github_oidc_findings(document)]


class GithubCase(NamedTuple):
    name: str
    document: Any
    expected: list[tuple[str, int, str]]


RC_5_1_AND_RC_5_2 = [
    GithubCase("rc-5.1-pinned-equals", document=doc(gh("repo:octo/app:ref:refs/heads/main", "StringEquals")),
               expected=[]),
    GithubCase("rc-5.1-wildcard-after-repo", document=doc(gh("repo:octo/app:*")), expected=[]),
    GithubCase("rc-5.1-wildcard-in-ref", document=doc(gh("repo:octo/app:ref:refs/heads/*")), expected=[]),
    GithubCase("rc-5.1-immutable-ids",
               document=doc(gh("repo:octo@123456/app@456789:ref:refs/heads/main", "StringEquals")),
               expected=[]),
    GithubCase("rc-5.1-list-all-pinned",
               document=doc(gh(["repo:octo/app:*", "repo:octo/lib:environment:prod"])), expected=[]),
    GithubCase("rc-5.1-repo-without-context", document=doc(gh("repo:octo/app", "StringEquals")), expected=[]),
    GithubCase("rc-5.1-ignore-case-counts", document=doc(gh("repo:octo/app:*", "StringEqualsIgnoreCase")),
               expected=[]),
    GithubCase("rc-5.1-one-org-wide-value-fails", document=doc(gh(["repo:octo/app:*", "repo:octo/*"])),
               expected=[("RC-5.1", 0, "high")]),
    GithubCase("rc-5.1-org-wide", document=doc(gh("repo:octo/*")), expected=[("RC-5.1", 0, "high")]),
    GithubCase("rc-5.1-org-wide-ref", document=doc(gh("repo:octo/*:ref:refs/heads/main")),
               expected=[("RC-5.1", 0, "high")]),
    GithubCase("rc-5.1-repo-prefix-wildcard", document=doc(gh("repo:octo/app*")),
               expected=[("RC-5.1", 0, "high")]),
    GithubCase("rc-5.1-repo-question-mark", document=doc(gh("repo:octo/ap?:*")),
               expected=[("RC-5.1", 0, "high")]),
    GithubCase("rc-5.1-star", document=doc(gh("*")), expected=[("RC-5.1", 0, "critical")]),
    GithubCase("rc-5.1-star-under-equals-is-literal-admits-nobody", document=doc(gh("*", "StringEquals")),
               expected=[]),
    GithubCase("rc-5.1-repo-star", document=doc(gh("repo:*")), expected=[("RC-5.1", 0, "critical")]),
    GithubCase("rc-5.1-org-prefix-wildcard", document=doc(gh("repo:octo*")),
               expected=[("RC-5.1", 0, "critical")]),
    GithubCase("rc-5.1-any-org", document=doc(gh("repo:*/app:*")), expected=[("RC-5.1", 0, "critical")]),
    GithubCase("rc-5.1-org-question-mark", document=doc(gh("repo:oct?/app:*")),
               expected=[("RC-5.1", 0, "critical")]),
    GithubCase("rc-5.1-not-a-repo-subject", document=doc(gh("environment:prod", "StringEquals")),
               expected=[("RC-5.1", 0, "critical")]),
    GithubCase("rc-5.1-no-repo-part", document=doc(gh("repo:octo", "StringEquals")),
               expected=[("RC-5.1", 0, "critical")]),
    GithubCase("rc-5.1-no-sub-condition", document=doc(gh(None)), expected=[("RC-5.1", 0, "critical")]),
    GithubCase("rc-5.1-negated-sub-does-not-restrict", document=doc(gh("repo:octo/app:*", "StringNotLike")),
               expected=[("RC-5.1", 0, "critical")]),
    GithubCase(
        "rc-5.1-key-case-insensitive",
        document=doc(
            gh(None, extra={"StringLike": {"token.actions.githubusercontent.com:SUB": "repo:octo/app:*"}})
        ),
        expected=[],
    ),
    GithubCase("rc-5.1-operator-case-insensitive", document=doc(gh("repo:octo/app:*", "stringlike")),
               expected=[]),
    GithubCase(
        "rc-5.1-and-of-sub-conditions-tightest-wins",
        document=doc(
            gh("repo:octo/*", extra={"StringEquals": {GH_SUB: "repo:octo/app:ref:refs/heads/main"}})
        ),
        expected=[],
    ),
    GithubCase("rc-5.1-separate-open-statement-defeats-pinned",
               document=doc(gh("repo:octo/app:*", Sid="Pinned"), gh(None, aud=False, Sid="Open")),
               expected=[("RC-5.1", 1, "critical"), ("RC-5.2", 1, "medium")]),
    GithubCase("rc-5.1-enterprise-issuer-needs-enterprise-keys",
               document=doc(gh("repo:octo/app:*", principal=GHE)),
               expected=[("RC-5.1", 0, "critical"), ("RC-5.2", 0, "medium")]),
    GithubCase(
        "rc-5.1-enterprise-issuer-pinned",
        document=doc(
            allow(
                {"Federated": GHE},
                WEB,
                {
                    "StringLike": {"token.actions.githubusercontent.com/octo-ent:sub": "repo:octo/app:*"},
                    "StringEquals": {"token.actions.githubusercontent.com/octo-ent:aud": "sts.amazonaws.com"},
                },
            )
        ),
        expected=[],
    ),
    GithubCase("rc-5.1-unconditional-deny-removes", document=doc(gh(None, aud=False), deny("*", WEB)),
               expected=[]),
    GithubCase(
        "rc-5.1-notaction-grants-web-identity",
        document=doc({"Effect": "Allow", "Principal": {"Federated": GH}, "NotAction": "sts:AssumeRole"}),
        expected=[("RC-5.1", 0, "critical"), ("RC-5.2", 0, "medium")],
    ),
    GithubCase("rc-5.1-not-web-identity-action", document=doc(allow({"Federated": GH}, "sts:AssumeRole")),
               expected=[]),
    GithubCase("rc-5.1-no-github-trust", document=doc(allow({"AWS": EXT})), expected=[]),
    GithubCase("rc-5.2-aud-missing", document=doc(gh("repo:octo/app:*", aud=False)),
               expected=[("RC-5.2", 0, "medium")]),
    GithubCase(
        "rc-5.2-aud-other-value",
        document=doc(
            gh(
                "repo:octo/app:*",
                aud=False,
                extra={
                    "StringEquals": {"token.actions.githubusercontent.com:aud": "https://github.com/octo"}
                },
            )
        ),
        expected=[("RC-5.2", 0, "medium")],
    ),
    GithubCase(
        "rc-5.2-aud-extra-value",
        document=doc(
            gh(
                "repo:octo/app:*",
                aud=False,
                extra={
                    "StringEquals": {
                        "token.actions.githubusercontent.com:aud": ["sts.amazonaws.com", "other"]
                    }
                },
            )
        ),
        expected=[("RC-5.2", 0, "medium")],
    ),
    GithubCase(
        "rc-5.2-aud-if-exists",
        document=doc(
            gh(
                "repo:octo/app:*",
                aud=False,
                extra={
                    "StringEqualsIfExists": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
                },
            )
        ),
        expected=[("RC-5.2", 0, "medium")],
    ),
    GithubCase(
        "rc-5.2-aud-ignore-case-ok",
        document=doc(
            gh(
                "repo:octo/app:*",
                aud=False,
                extra={
                    "StringEqualsIgnoreCase": {"token.actions.githubusercontent.com:AUD": "STS.amazonaws.com"}
                },
            )
        ),
        expected=[],
    ),
    GithubCase(
        "rc-5.2-aud-for-all-values",
        document=doc(
            gh(
                "repo:octo/app:*",
                aud=False,
                extra={
                    "ForAllValues:StringEquals": {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"
                    }
                },
            )
        ),
        expected=[("RC-5.2", 0, "medium"), ("RC-5.2", 0, "medium")],
    ),
    GithubCase("rc-5.2-sub-for-all-values", document=doc(gh("repo:octo/app:*", "ForAllValues:StringLike")),
               expected=[("RC-5.2", 0, "medium")]),
    GithubCase(
        "rc-5.2-iss-for-all-values",
        document=doc(
            gh(
                "repo:octo/app:*",
                extra={"ForAllValues:StringEquals": {"token.actions.githubusercontent.com:iss": "https://x"}},
            )
        ),
        expected=[("RC-5.2", 0, "medium")],
    ),
]


@pytest.mark.parametrize("case", RC_5_1_AND_RC_5_2, ids=lambda c: c.name)
def test_rc_5_1_and_rc_5_2(case: GithubCase) -> None:
    assert rc5(case.document) == case.expected


def test_rc_5_1_finding_names_the_loose_values() -> None:
    (f,) = github_oidc_findings(doc(gh(["repo:octo/app:*", "repo:octo/*"], Sid="Deploy")))
    assert (f.sid, f.principal) == ("Deploy", f"Federated:{GH}")
    assert "repo:octo/*" in f.reason and "whole organization" in f.reason
    assert "repo:octo/app:*" in f.reason  # the conditions as written are listed too


class SubjectRankCase(NamedTuple):
    name: str
    value: str
    rank: str


SUBJECT_RANKS = [
    SubjectRankCase("branch", value="repo:octo/app:ref:refs/heads/main", rank=PINNED),
    SubjectRankCase("environment", value="repo:octo/app:environment:prod", rank=PINNED),
    SubjectRankCase("pull-request", value="repo:octo/app:pull_request", rank=PINNED),
    SubjectRankCase("immutable", value="repo:octo@1/app@2:*", rank=PINNED),
    SubjectRankCase("org-star", value="repo:octo/*", rank=ORG_WIDE),
    SubjectRankCase("empty-repo", value="repo:octo/:ref", rank=ORG_WIDE),
    SubjectRankCase("repo-star", value="repo:*", rank=OPEN),
    SubjectRankCase("empty-org", value="repo:/app:*", rank=OPEN),
    SubjectRankCase("colon-in-org", value="repo:octo:x/app", rank=OPEN),
    SubjectRankCase("star", value="*", rank=OPEN),
    SubjectRankCase("prefix-case", value="REPO:octo/app:*", rank=OPEN),
]


@pytest.mark.parametrize("case", SUBJECT_RANKS, ids=lambda c: c.name)
def test_rc_5_1_classify_github_subject(case: SubjectRankCase) -> None:
    assert classify_github_subject(case.value) == case.rank


class SubjectsAllowedCase(NamedTuple):
    name: str
    document: Any
    subjects: list[str]


SUBJECTS_ALLOWED = [
    SubjectsAllowedCase("values", document=doc(gh(["repo:octo/app:*", "repo:octo/lib:*"])),
                        subjects=["repo:octo/app:*", "repo:octo/lib:*"]),
    SubjectsAllowedCase("deduplicated", document=doc(gh("repo:octo/app:*"), gh("repo:octo/app:*")),
                        subjects=["repo:octo/app:*"]),
    SubjectsAllowedCase("open-statement-is-star", document=doc(gh("repo:octo/app:*"), gh(None)),
                        subjects=["repo:octo/app:*", "*"]),
    SubjectsAllowedCase(
        "tightest-condition",
        document=doc(
            gh("repo:octo/*", extra={"StringEquals": {GH_SUB: "repo:octo/app:ref:refs/heads/main"}})
        ),
        subjects=["repo:octo/app:ref:refs/heads/main"],
    ),
    SubjectsAllowedCase("no-github-trust", document=doc(allow({"AWS": EXT})), subjects=[]),
]


@pytest.mark.parametrize("case", SUBJECTS_ALLOWED, ids=lambda c: c.name)
def test_rc_5_1_subjects_allowed(case: SubjectsAllowedCase) -> None:
    assert subjects_allowed(case.document) == case.subjects


class IssuerCase(NamedTuple):
    name: str
    federated: str
    issuer: str | None
    github: bool


ISSUERS = [
    IssuerCase("github", federated=GH, issuer="token.actions.githubusercontent.com", github=True),
    IssuerCase("github-enterprise", federated=GHE, issuer="token.actions.githubusercontent.com/octo-ent",
               github=True),
    IssuerCase("host-case", federated="arn:aws:iam::1:oidc-provider/TOKEN.actions.githubusercontent.com",
               issuer=None, github=True),
    IssuerCase("two-segments-not-github",
               federated="arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com/a/b", issuer=None,
               github=False),
    IssuerCase("empty-enterprise-not-github",
               federated="arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com/", issuer=None,
               github=False),
    IssuerCase("lookalike-host",
               federated="arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com.evil.io",
               issuer=None, github=False),
    IssuerCase("gitlab", federated="arn:aws:iam::1:oidc-provider/gitlab.com", issuer="gitlab.com",
               github=False),
]


@pytest.mark.parametrize("case", ISSUERS, ids=lambda c: c.name)
def test_rc_5_1_github_issuer(case: IssuerCase) -> None:
    found = oidc_issuer(case.federated)
    assert found is not None
    if case.issuer is not None:
        assert found == case.issuer
    assert is_github_issuer(found) is case.github


@pytest.mark.parametrize("federated", ["arn:aws:iam::1:saml-provider/Okta", "cognito-identity.amazonaws.com",
                                       "oidc-provider/gitlab.com"])
def test_oidc_issuer_none_for_non_oidc_arns(federated: str) -> None:
    assert oidc_issuer(federated) is None


# --------------------------------------------------------------------------------------------
# RC-5.3: other OIDC providers need a sub condition
# --------------------------------------------------------------------------------------------

OTHER_PROVIDERS = {
    "gitlab": "gitlab.com",
    "terraform": "app.terraform.io",
    "bitbucket": "api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc",
    "circleci": "oidc.circleci.com/org/0f2c5b2e-1111-2222-3333-444455556666",
    "eks": "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
}


def provider(host: str) -> str:
    return f"arn:aws:iam::111111111111:oidc-provider/{host}"


@pytest.mark.parametrize("name", sorted(OTHER_PROVIDERS))
def test_rc_5_3_sub_condition_passes(name: str) -> None:
    host = OTHER_PROVIDERS[name]
    document = doc(allow({"Federated": provider(host)}, WEB,
                         {"StringLike": {f"{host}:sub": "project_path:acme/app:ref_type:branch:ref:main"}}))
    assert other_oidc_findings(document) == []


@pytest.mark.parametrize("name", sorted(OTHER_PROVIDERS))
def test_rc_5_3_no_condition_fails_high(name: str) -> None:
    host = OTHER_PROVIDERS[name]
    (f,) = other_oidc_findings(doc(allow({"Federated": provider(host)}, WEB,
                                         {"StringEquals": {f"{host}:aud": "x"}})))
    assert (control_id(f), severity(f), f.principal) == ("RC-5.3", "high", f"Federated:{provider(host)}")
    assert f"{host}:sub" in f.reason


class SubConditionCase(NamedTuple):
    name: str
    condition: dict[str, Any]
    fails: bool


RC_5_3_CONDITIONS = [
    SubConditionCase(
        "key-case-insensitive",
        condition={"StringEquals": {"GITLAB.COM:SUB": "project_path:acme/app:ref_type:branch:ref:main"}},
        fails=False,
    ),
    SubConditionCase("star-only", condition={"StringLike": {"gitlab.com:sub": "*"}}, fails=True),
    # IAM ORs a condition's values: one `*` beside a pattern admits every subject
    SubConditionCase("star-beside-pattern-admits-every-subject",
                     condition={"StringLike": {"gitlab.com:sub": ["*", "project_path:acme/*"]}}, fails=True),
    SubConditionCase("negated", condition={"StringNotEquals": {"gitlab.com:sub": "project_path:evil/x"}},
                     fails=True),
    SubConditionCase("if-exists", condition={"StringLikeIfExists": {"gitlab.com:sub": "project_path:acme/*"}},
                     fails=True),
    SubConditionCase("for-all-values",
                     condition={"ForAllValues:StringLike": {"gitlab.com:sub": "project_path:acme/*"}},
                     fails=True),
    SubConditionCase("null-only", condition={"Null": {"gitlab.com:sub": "false"}}, fails=True),
    SubConditionCase("other-providers-key",
                     condition={"StringLike": {"app.terraform.io:sub": "organization:acme:*"}}, fails=True),
]


@pytest.mark.parametrize("case", RC_5_3_CONDITIONS, ids=lambda c: c.name)
def test_rc_5_3_condition_forms(case: SubConditionCase) -> None:
    document = doc(allow({"Federated": provider("gitlab.com")}, WEB, case.condition))
    assert bool(other_oidc_findings(document)) is case.fails


@pytest.mark.parametrize("document", [
    pytest.param(doc(gh(None)), id="github-is-rc-5.1"),
    pytest.param(doc(allow({"Federated": "arn:aws:iam::1:saml-provider/Okta"}, "sts:AssumeRoleWithSAML")),
                 id="saml"),
    pytest.param(doc(allow({"Federated": "cognito-identity.amazonaws.com"}, WEB)), id="cognito"),
    pytest.param(doc(allow({"AWS": EXT})), id="aws"),
])
def test_rc_5_3_out_of_scope(document: Any) -> None:
    assert other_oidc_findings(document) == []


def test_rc_5_3_provider_trusted_alongside_github_is_judged_separately() -> None:
    document = doc(allow({"Federated": [GH, provider("gitlab.com")]}, WEB,
                         merge(GH_AUD, {"StringLike": {GH_SUB: "repo:octo/app:*"}})))
    assert github_oidc_findings(document) == []
    assert [control_id(f) for f in other_oidc_findings(document)] == ["RC-5.3"]


# --------------------------------------------------------------------------------------------
# G6: what SCPs deny (RC-6.2, RC-6.3)
# --------------------------------------------------------------------------------------------


def scp(*statements: dict[str, Any]) -> dict[str, Any]:
    return doc(*statements)


def deny_st(action: Any, condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": "Deny", "Action": action, "Resource": "*", **extra}
    if condition is not None:
        st["Condition"] = condition
    return st


ADMIN_EXEMPT = {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Admin"}}


class DenyCoverageCase(NamedTuple):
    name: str
    statement: dict[str, Any]
    denies: bool | None
    kind: str | None


RC_6_2_DENY_COVERAGE = [
    DenyCoverageCase("exact", statement=deny_st("iam:CreateUser"), denies=True, kind="unconditional"),
    DenyCoverageCase("prefix-wildcard", statement=deny_st("iam:Create*"), denies=True, kind="unconditional"),
    DenyCoverageCase("service-wildcard", statement=deny_st("iam:*"), denies=True, kind="unconditional"),
    DenyCoverageCase("everything", statement=deny_st("*"), denies=True, kind="unconditional"),
    DenyCoverageCase("case-insensitive", statement=deny_st("IAM:createuser"), denies=True,
                     kind="unconditional"),
    DenyCoverageCase("notaction-unlisted",
                     statement={"Effect": "Deny", "NotAction": ["s3:*", "sts:*"], "Resource": "*"},
                     denies=True, kind="unconditional"),
    DenyCoverageCase("notaction-listed", statement={"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"},
                     denies=None, kind=None),
    DenyCoverageCase("allow-is-not-deny",
                     statement={"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*"}, denies=None,
                     kind=None),
    DenyCoverageCase("rc-6.2-admin-exemption", statement=deny_st("iam:CreateUser", ADMIN_EXEMPT), denies=True,
                     kind="exempting"),
    DenyCoverageCase(
        "rc-6.2-two-admin-roles-key-case",
        statement=deny_st(
            "iam:CreateUser",
            {
                "StringNotLike": {
                    "AWS:PRINCIPALARN": ["arn:aws:iam::*:role/Admin", "arn:aws:iam::*:role/BreakGlass"]
                }
            },
        ),
        denies=True,
        kind="exempting",
    ),
    DenyCoverageCase(
        "rc-6.2-exemption-if-exists",
        statement=deny_st(
            "iam:CreateUser", {"ArnNotLikeIfExists": {"aws:PrincipalArn": "arn:aws:iam::*:role/Adm"}}
        ),
        denies=True,
        kind="exempting",
    ),
    DenyCoverageCase(
        "rc-6.2-tag-exemption",
        statement=deny_st("iam:CreateUser", {"StringNotEquals": {"aws:PrincipalTag/team": "platform"}}),
        denies=True,
        kind="exempting",
    ),
    DenyCoverageCase("rc-6.2-userid-exemption",
                     statement=deny_st("iam:CreateUser", {"StringNotLike": {"aws:userid": "AROAEXAMPLE:*"}}),
                     denies=True, kind="exempting"),
    DenyCoverageCase(
        "rc-6.2-exemption-of-every-role",
        statement=deny_st("iam:CreateUser", {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}),
        denies=False,
        kind="conditional",
    ),
    DenyCoverageCase("rc-6.2-exemption-of-everyone",
                     statement=deny_st("iam:CreateUser", {"StringNotLike": {"aws:PrincipalArn": "*"}}),
                     denies=False, kind="conditional"),
    DenyCoverageCase("rc-6.2-tag-exemption-of-any-tag",
                     statement=deny_st("iam:CreateUser", {"StringNotLike": {"aws:PrincipalTag/team": "*"}}),
                     denies=False, kind="conditional"),
    DenyCoverageCase(
        "rc-6.2-positive-arn-denies-only-admin",
        statement=deny_st("iam:CreateUser", {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Admin"}}),
        denies=False,
        kind="conditional",
    ),
    DenyCoverageCase(
        "rc-6.2-qualified-exemption",
        statement=deny_st("iam:CreateUser", {"ForAnyValue:StringNotLike": {"aws:PrincipalArn": "x"}}),
        denies=False,
        kind="conditional",
    ),
    DenyCoverageCase(
        "rc-6.2-unrelated-condition",
        statement=deny_st("iam:CreateUser", {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}),
        denies=False,
        kind="conditional",
    ),
    DenyCoverageCase(
        "rc-6.2-exemption-plus-other-condition",
        statement=deny_st(
            "iam:CreateUser", merge(ADMIN_EXEMPT, {"Bool": {"aws:MultiFactorAuthPresent": "false"}})
        ),
        denies=False,
        kind="conditional",
    ),
    DenyCoverageCase("resource-limited",
                     statement=deny_st("iam:CreateUser", Resource="arn:aws:iam::*:user/special/*"),
                     denies=False, kind="unconditional"),
    DenyCoverageCase(
        "resource-arn-wildcards",
        statement=deny_st("iam:CreateUser", Resource=["arn:aws:iam::*:user/x", "arn:aws:iam::*:*"]),
        denies=True,
        kind="unconditional",
    ),
    DenyCoverageCase("no-resource-element", statement={"Effect": "Deny", "Action": "iam:CreateUser"},
                     denies=True, kind="unconditional"),
    DenyCoverageCase(
        "notresource-spares-some",
        statement={"Effect": "Deny", "Action": "iam:CreateUser", "NotResource": "arn:aws:iam::*:user/ok"},
        denies=False,
        kind="unconditional",
    ),
]


@pytest.mark.parametrize("case", RC_6_2_DENY_COVERAGE, ids=lambda c: c.name)
def test_rc_6_2_deny_coverage(case: DenyCoverageCase) -> None:
    coverage = deny_coverage(scp(case.statement), "iam:CreateUser")
    if case.kind is None:
        assert coverage.rules == () and not coverage.denies
    else:
        (rule,) = coverage.rules
        assert (rule.kind, coverage.denies) == (case.kind, case.denies)


def test_rc_6_2_coverage_reports_exemptions() -> None:
    exempting = deny_coverage(scp(deny_st("iam:CreateUser", ADMIN_EXEMPT, Sid="NoUsers")), "iam:CreateUser")
    assert exempting.rules[0].sid == "NoUsers"
    assert [str(c) for c in exempting.exemptions] == [
        "ArnNotLike aws:PrincipalArn ['arn:aws:iam::*:role/Admin']"]
    both = deny_coverage(scp(deny_st("iam:CreateUser", ADMIN_EXEMPT), deny_st("iam:*")), "iam:CreateUser")
    assert both.exemptions == ()  # an unconditional deny leaves no one exempt


class ScpVerdictCase(NamedTuple):
    name: str
    scps: dict[str, Any]
    passed: bool
    fragment: str


RC_6_2_VERDICTS = [
    ScpVerdictCase("one-scp-both",
                   scps={"p-1": scp(deny_st(["iam:CreateUser", "iam:CreateAccessKey"], ADMIN_EXEMPT))},
                   passed=True, fragment="p-1"),
    ScpVerdictCase("two-scps-one-each",
                   scps={"p-1": scp(deny_st("iam:CreateUser")), "p-2": scp(deny_st("iam:CreateAccessKey"))},
                   passed=True, fragment="p-1, p-2"),
    ScpVerdictCase("wildcard-covers-both", scps={"p-1": scp(deny_st("iam:Create*"))}, passed=True,
                   fragment="p-1"),
    ScpVerdictCase("access-key-missing", scps={"p-1": scp(deny_st("iam:CreateUser"))}, passed=False,
                   fragment="iam:CreateAccessKey"),
    ScpVerdictCase("full-aws-access-only",
                   scps={"p-1": json.dumps(scp({"Effect": "Allow", "Action": "*", "Resource": "*"}))},
                   passed=False, fragment="iam:CreateUser or iam:CreateAccessKey"),
    ScpVerdictCase("no-scps", scps={}, passed=False, fragment="iam:CreateUser"),
    ScpVerdictCase(
        "conditional-on-region",
        scps={
            "p-1": scp(
                deny_st(
                    ["iam:CreateUser", "iam:CreateAccessKey"],
                    {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
                )
            )
        },
        passed=False,
        fragment="iam:CreateUser",
    ),
]


@pytest.mark.parametrize("case", RC_6_2_VERDICTS, ids=lambda c: c.name)
def test_rc_6_2_denies_user_creation(case: ScpVerdictCase) -> None:
    verdict = denies_user_creation(case.scps)
    assert verdict.passed == case.passed
    assert case.fragment in verdict.reason


def test_rc_6_2_evidence_names_policy_and_statement() -> None:
    verdict = denies_user_creation({"p-1": scp(deny_st("s3:*"), deny_st("iam:*", Sid="NoIam"))})
    assert [(pid, cov.action, [r.statement_index for r in cov.rules]) for pid, cov in verdict.evidence] == [
        ("p-1", "iam:CreateUser", [1]), ("p-1", "iam:CreateAccessKey", [1])]


BOUNDARY = "iam:PermissionsBoundary"
BOUNDARY_ARN = "arn:aws:iam::111111111111:policy/Boundary"


class BoundaryCoverageCase(NamedTuple):
    name: str
    statement: dict[str, Any]
    denies: bool


RC_6_3_BOUNDARY_COVERAGE = [
    BoundaryCoverageCase("null-true", statement=deny_st("iam:CreateRole", {"Null": {BOUNDARY: "true"}}),
                         denies=True),
    BoundaryCoverageCase("string-not-equals",
                         statement=deny_st("iam:CreateRole", {"StringNotEquals": {BOUNDARY: BOUNDARY_ARN}}),
                         denies=True),
    BoundaryCoverageCase(
        "string-not-equals-if-exists",
        statement=deny_st("iam:CreateRole", {"StringNotEqualsIfExists": {BOUNDARY: BOUNDARY_ARN}}),
        denies=True,
    ),
    BoundaryCoverageCase(
        "arn-not-like-key-case",
        statement=deny_st(
            "iam:CreateRole", {"ArnNotLike": {"IAM:PERMISSIONSBOUNDARY": "arn:aws:iam::*:policy/B*"}}
        ),
        denies=True,
    ),
    BoundaryCoverageCase(
        "with-admin-exemption",
        statement=deny_st("iam:CreateRole", merge({"Null": {BOUNDARY: "true"}}, ADMIN_EXEMPT)),
        denies=True,
    ),
    BoundaryCoverageCase("unconditional-is-stricter", statement=deny_st("iam:CreateRole"), denies=True),
    BoundaryCoverageCase("iam-star",
                         statement=deny_st("iam:*", {"StringNotEquals": {BOUNDARY: BOUNDARY_ARN}}),
                         denies=True),
    BoundaryCoverageCase("positive-denies-only-with-boundary",
                         statement=deny_st("iam:CreateRole", {"StringEquals": {BOUNDARY: BOUNDARY_ARN}}),
                         denies=False),
    BoundaryCoverageCase("null-false", statement=deny_st("iam:CreateRole", {"Null": {BOUNDARY: "false"}}),
                         denies=False),
    BoundaryCoverageCase(
        "plus-unrelated-condition",
        statement=deny_st(
            "iam:CreateRole",
            merge({"Null": {BOUNDARY: "true"}}, {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}),
        ),
        denies=False,
    ),
    BoundaryCoverageCase("unknown-operator",
                         statement=deny_st("iam:CreateRole", {"StringSortOf": {BOUNDARY: BOUNDARY_ARN}}),
                         denies=False),
    BoundaryCoverageCase("other-action", statement=deny_st("iam:CreateUser", {"Null": {BOUNDARY: "true"}}),
                         denies=False),
]


@pytest.mark.parametrize("case", RC_6_3_BOUNDARY_COVERAGE, ids=lambda c: c.name)
def test_rc_6_3_boundary_coverage(case: BoundaryCoverageCase) -> None:
    assert boundary_coverage(scp(case.statement)).denies is case.denies


RC_6_3_VERDICTS = [
    ScpVerdictCase(
        "both",
        scps={
            "p-1": scp(
                deny_st("iam:CreateRole", {"Null": {BOUNDARY: "true"}}),
                deny_st("iam:DeleteRolePermissionsBoundary"),
            )
        },
        passed=True,
        fragment="p-1",
    ),
    ScpVerdictCase(
        "split-across-scps",
        scps={
            "p-1": scp(deny_st("iam:CreateRole", {"Null": {BOUNDARY: "true"}})),
            "p-2": scp(deny_st("iam:DeleteRolePermissions*", ADMIN_EXEMPT)),
        },
        passed=True,
        fragment="p-1, p-2",
    ),
    ScpVerdictCase("delete-missing",
                   scps={"p-1": scp(deny_st("iam:CreateRole", {"Null": {BOUNDARY: "true"}}))}, passed=False,
                   fragment="iam:DeleteRolePermissionsBoundary"),
    ScpVerdictCase("create-missing", scps={"p-1": scp(deny_st("iam:DeleteRolePermissionsBoundary"))},
                   passed=False, fragment="iam:CreateRole without a permissions boundary"),
    ScpVerdictCase(
        "wrong-way-round",
        scps={
            "p-1": scp(
                deny_st("iam:CreateRole", {"StringEquals": {BOUNDARY: BOUNDARY_ARN}}),
                deny_st("iam:DeleteRolePermissionsBoundary"),
            )
        },
        passed=False,
        fragment="iam:CreateRole",
    ),
]


@pytest.mark.parametrize("case", RC_6_3_VERDICTS, ids=lambda c: c.name)
def test_rc_6_3_enforces_permissions_boundary(case: ScpVerdictCase) -> None:
    verdict = enforces_permissions_boundary(case.scps)
    assert verdict.passed == case.passed
    assert case.fragment in verdict.reason
