"""Tables for checks/iam: parsing, principals, actions, conditions, and the G4-G6 questions.

Each table row is one case with a readable id; rows for a control are named by its id (RC-x.y).
"""

from __future__ import annotations

import json
from typing import Any
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

@pytest.mark.parametrize(("principal", "expected"), [
    pytest.param("*", [EVERYONE], id="star-string"),
    pytest.param({"AWS": "*"}, [EVERYONE], id="aws-star"),
    pytest.param({"AWS": "123456789012"}, [Principal("AWS", "123456789012")], id="bare-account"),
    pytest.param({"aws": " arn:aws:iam::123456789012:root "}, [Principal("AWS",
                                                                         "arn:aws:iam::123456789012:root")],
                 id="root-arn-kind-case-and-spaces"),
    pytest.param({"AWS": ["arn:aws:iam::1:role/a", "arn:aws:sts::1:assumed-role/a/s"]},
                 [Principal("AWS", "arn:aws:iam::1:role/a"), Principal("AWS",
                                                                       "arn:aws:sts::1:assumed-role/a/s")],
                 id="list"),
    pytest.param({"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]},
                 [Principal("Service", "ec2.amazonaws.com"), Principal("Service", "lambda.amazonaws.com")],
                 id="services"),
    pytest.param({"Federated": GH}, [Principal("Federated", GH)], id="federated-oidc"),
    pytest.param({"Federated": "arn:aws:iam::1:saml-provider/Okta"},
                 [Principal("Federated", "arn:aws:iam::1:saml-provider/Okta")], id="federated-saml"),
    pytest.param({"Federated": "cognito-identity.amazonaws.com"},
                 [Principal("Federated", "cognito-identity.amazonaws.com")], id="federated-cognito"),
    pytest.param({"CanonicalUser": "79a59df9"}, [Principal("CanonicalUser", "79a59df9")],
                 id="canonical-user"),
    pytest.param({"AWS": EXT, "Service": "ec2.amazonaws.com"},
                 [Principal("AWS", EXT), Principal("Service", "ec2.amazonaws.com")], id="mixed-kinds"),
])
def test_principal_forms(principal: Any, expected: list[Principal]) -> None:
    assert list(parse_policy(doc(allow(principal))).statements[0].principals or ()) == expected


@pytest.mark.parametrize(("value", "account"), [
    pytest.param("123456789012", "123456789012", id="bare-account"),
    pytest.param("arn:aws:iam::123456789012:root", "123456789012", id="root"),
    pytest.param("arn:aws:iam::123456789012:role/path/Deploy", "123456789012", id="role"),
    pytest.param("arn:aws:iam::123456789012:user/alice", "123456789012", id="user"),
    pytest.param("arn:aws:sts::123456789012:assumed-role/Deploy/session", "123456789012", id="assumed-role"),
    pytest.param("arn:aws-us-gov:iam::123456789012:root", "123456789012", id="other-partition"),
    pytest.param("*", None, id="star"),
    pytest.param("AROAEXAMPLEUNIQUEID", None, id="deleted-principal-unique-id"),
    pytest.param("ec2.amazonaws.com", None, id="service"),
    pytest.param("12345678901", None, id="eleven-digits"),
    pytest.param("arn:aws:iam::*:root", None, id="wildcard-account"),
])
def test_principal_account(value: str, account: str | None) -> None:
    assert principal_account(value) == account


def test_principal_str_and_account_property() -> None:
    assert str(EVERYONE) == "*"
    assert str(Principal("Service", "ec2.amazonaws.com")) == "Service:ec2.amazonaws.com"
    assert Principal("Service", "ec2.amazonaws.com").account is None
    assert Principal("AWS", "arn:aws:iam::123456789012:role/x").account == "123456789012"


@pytest.mark.parametrize(("pattern", "target", "covers"), [
    pytest.param(EVERYONE, Principal("Federated", GH), True, id="star-covers-every-kind"),
    pytest.param(Principal("AWS", EXT), Principal("AWS", f"arn:aws:iam::{EXT}:role/r"), True,
                 id="account-covers-its-role"),
    pytest.param(Principal("AWS", f"arn:aws:iam::{EXT}:root"), Principal("AWS", EXT), True,
                 id="root-covers-bare-account"),
    pytest.param(Principal("AWS", f"arn:aws:iam::{EXT}:role/r"), Principal("AWS", EXT), False,
                 id="role-does-not-cover-account"),
    pytest.param(Principal("AWS", "123456789012"), Principal("AWS", f"arn:aws:iam::{EXT}:role/r"), False,
                 id="other-account"),
    pytest.param(Principal("AWS", EXT), EVERYONE, False, id="account-does-not-cover-everyone"),
    pytest.param(Principal("Service", "EC2.amazonaws.com"), Principal("Service", "ec2.amazonaws.com"), True,
                 id="service-case-insensitive"),
    pytest.param(Principal("Service", "ec2.amazonaws.com"), Principal("AWS", EXT), False, id="kind-differs"),
])
def test_principal_covers(pattern: Principal, target: Principal, covers: bool) -> None:
    assert principal_covers(pattern, target) is covers


# --------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "action", "matches"), [
    pytest.param("*", "iam:CreateUser", True, id="star-matches-all"),
    pytest.param("iam:*", "iam:CreateUser", True, id="service-star"),
    pytest.param("iam:Create*", "iam:CreateUser", True, id="prefix-star"),
    pytest.param("iam:Create*", "iam:DeleteUser", False, id="prefix-star-other"),
    pytest.param("iam:*User", "iam:CreateUser", True, id="suffix-star"),
    pytest.param("IAM:createuser", "iam:CreateUser", True, id="case-insensitive"),
    pytest.param("iam:CreateUse?", "iam:CreateUser", True, id="question-mark"),
    pytest.param("iam:CreateUse?", "iam:CreateUsers", False, id="question-mark-one-char-only"),
    pytest.param("i*:Create*", "iam:CreateUser", True, id="wildcard-spans-service"),
    pytest.param("*:CreateUser", "iam:CreateUser", True, id="any-service"),
    pytest.param("iam:CreateUser", "iam:CreateUserX", False, id="full-match-required"),
    pytest.param("iam:Create.ser", "iam:CreateUser", False, id="dot-is-literal"),
    pytest.param("sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", False, id="no-implicit-prefix"),
    pytest.param("sts:AssumeRole*", "sts:AssumeRoleWithSAML", True, id="assume-role-star"),
])
def test_action_matches(pattern: str, action: str, matches: bool) -> None:
    assert action_matches(pattern, action) is matches


@pytest.mark.parametrize(("statement", "action", "applies"), [
    pytest.param({"Action": ["s3:Get*", "iam:Create*"]}, "iam:CreateRole", True, id="action-list"),
    pytest.param({"Action": "s3:*"}, "iam:CreateRole", False, id="action-other-service"),
    pytest.param({"NotAction": "s3:*"}, "iam:CreateRole", True, id="notaction-applies-to-unlisted"),
    pytest.param({"NotAction": ["iam:*"]}, "iam:CreateRole", False, id="notaction-excludes-listed"),
    pytest.param({}, "iam:CreateRole", False, id="neither-element"),
])
def test_statement_applies_to_action(statement: dict[str, Any], action: str, applies: bool) -> None:
    st = parse_policy(doc({"Effect": "Deny", **statement})).statements[0]
    assert st.applies_to_action(action) is applies


# --------------------------------------------------------------------------------------------
# Conditions
# --------------------------------------------------------------------------------------------

ADMIN = "arn:aws:iam::123456789012:role/Admin"
OTHER = "arn:aws:iam::123456789012:role/Other"

CONDITION_CASES = [
    # String operators
    ("StringEquals", "aws:username", ["alice"], {"aws:username": "alice"}, True, "string-equals-match"),
    ("StringEquals", "aws:username", ["alice"], {"aws:username": "bob"}, False, "string-equals-other"),
    ("StringEquals", "aws:username", ["bob", "alice"], {"aws:username": "alice"}, True, "values-are-ored"),
    ("StringEquals", "aws:username", ["alice"], {"aws:username": "Alice"}, False,
     "string-equals-case-sensitive"),
    ("StringEquals", "aws:username", ["alice"], {}, False, "string-equals-absent-false"),
    ("StringEquals", "aws:username", ["a*"], {"aws:username": "alice"}, False,
     "string-equals-star-is-literal"),
    ("StringNotEquals", "aws:username", ["alice"], {"aws:username": "bob"}, True, "not-equals-other"),
    ("StringNotEquals", "aws:username", ["alice"], {"aws:username": "alice"}, False, "not-equals-same"),
    ("StringNotEquals", "aws:username", ["a", "b"], {"aws:username": "a"}, False, "not-equals-is-nor-hit"),
    ("StringNotEquals", "aws:username", ["a", "b"], {"aws:username": "c"}, True, "not-equals-is-nor-miss"),
    ("StringNotEquals", "aws:username", ["alice"], {}, True, "not-equals-absent-true"),
    ("StringEqualsIgnoreCase", "aws:username", ["ALICE"], {"aws:username": "alice"}, True, "ignore-case"),
    ("StringNotEqualsIgnoreCase", "aws:username", ["ALICE"], {"aws:username": "alice"}, False,
     "not-equals-ignore-case-same"),
    ("StringNotEqualsIgnoreCase", "aws:username", ["ALICE"], {}, True, "not-equals-ignore-case-absent"),
    ("StringLike", "s:sub", ["repo:org/*"], {"s:sub": "repo:org/app:ref:main"}, True, "like-star"),
    ("StringLike", "s:sub", ["repo:org/ap?"], {"s:sub": "repo:org/app"}, True, "like-question"),
    ("StringLike", "s:sub", ["repo:org/ap?"], {"s:sub": "repo:org/appp"}, False, "like-question-one-char"),
    ("StringLike", "s:sub", ["repo:org/*"], {"s:sub": "repo:ORG/app"}, False, "like-case-sensitive"),
    ("StringLike", "s:sub", ["repo:org/*"], {}, False, "like-absent"),
    ("StringNotLike", "s:sub", ["repo:org/*"], {"s:sub": "repo:org/app"}, False, "not-like-hit"),
    ("StringNotLike", "s:sub", ["repo:org/*"], {"s:sub": "repo:evil/app"}, True, "not-like-miss"),
    ("StringNotLike", "s:sub", ["repo:org/*"], {}, True, "not-like-absent-true"),
    # ARN operators
    ("ArnLike", "aws:PrincipalArn", ["arn:aws:iam::*:role/Admin"], {"aws:PrincipalArn": ADMIN}, True,
     "arn-like"),
    ("ArnLike", "aws:PrincipalArn", ["arn:aws:iam::*:role/Admin"], {"aws:PrincipalArn": OTHER}, False,
     "arn-like-other"),
    ("ArnEquals", "aws:PrincipalArn", ["arn:aws:iam::*:role/Admin"], {"aws:PrincipalArn": ADMIN}, True,
     "arn-equals-also-globs"),
    ("ArnLike", "aws:PrincipalArn", ["arn:aws:iam::*"], {"aws:PrincipalArn": ADMIN}, False,
     "arn-like-star-does-not-cross-fields"),
    ("ArnLike", "aws:PrincipalArn", ["arn:aws:iam::*:role/*"], {"aws:PrincipalArn": "not-an-arn"}, False,
     "arn-like-context-not-arn"),
    ("ArnNotLike", "aws:PrincipalArn", ["arn:aws:iam::*:role/Admin"], {"aws:PrincipalArn": ADMIN}, False,
     "arn-not-like-admin"),
    ("ArnNotLike", "aws:PrincipalArn", ["arn:aws:iam::*:role/Admin"], {"aws:PrincipalArn": OTHER}, True,
     "arn-not-like-other"),
    ("ArnNotEquals", "aws:PrincipalArn", [ADMIN], {}, True, "arn-not-equals-absent-true"),
    # Bool and Null
    ("Bool", "aws:SecureTransport", ["true"], {"aws:SecureTransport": True}, True, "bool-true"),
    ("Bool", "aws:SecureTransport", ["true"], {"aws:SecureTransport": "false"}, False, "bool-false"),
    ("Bool", "aws:SecureTransport", ["TRUE"], {"aws:SecureTransport": "true"}, True, "bool-case"),
    ("Bool", "aws:SecureTransport", ["true"], {}, False, "bool-absent"),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", ["false"], {}, True, "bool-if-exists-absent"),
    ("Null", "iam:PermissionsBoundary", ["true"], {}, True, "null-true-absent"),
    ("Null", "iam:PermissionsBoundary", ["true"], {"iam:PermissionsBoundary": "arn:b"}, False,
     "null-true-present"),
    ("Null", "iam:PermissionsBoundary", ["false"], {"iam:PermissionsBoundary": "arn:b"}, True,
     "null-false-present"),
    ("Null", "iam:PermissionsBoundary", ["false"], {}, False, "null-false-absent"),
    ("Null", "aws:TagKeys", ["true"], {"aws:TagKeys": []}, True, "null-empty-list-is-absent"),
    # Numeric and Date
    ("NumericLessThan", "s:n", ["3600"], {"s:n": 100}, True, "numeric-less-than"),
    ("NumericLessThan", "s:n", ["3600"], {"s:n": 4000}, False, "numeric-less-than-not"),
    ("NumericLessThanEquals", "s:n", ["10"], {"s:n": "10"}, True, "numeric-le"),
    ("NumericGreaterThan", "s:n", ["10"], {"s:n": "10.5"}, True, "numeric-gt"),
    ("NumericGreaterThanEquals", "s:n", ["10"], {"s:n": "9"}, False, "numeric-ge-not"),
    ("NumericEquals", "s:n", ["10"], {"s:n": "10.0"}, True, "numeric-equals-as-number"),
    ("NumericNotEquals", "s:n", ["10"], {"s:n": "11"}, True, "numeric-not-equals"),
    ("NumericEquals", "s:n", ["ten"], {"s:n": "10"}, False, "numeric-unparseable"),
    ("DateGreaterThan", "aws:CurrentTime", ["2020-01-01T00:00:00Z"],
     {"aws:CurrentTime": "2024-06-01T00:00:00Z"},
     True, "date-gt"),
    ("DateLessThan", "aws:CurrentTime", ["2020-01-01T00:00:00Z"], {"aws:CurrentTime": "1700000000"}, False,
     "date-lt-epoch-context"),
    ("DateLessThanEquals", "aws:CurrentTime", ["2020-01-01"], {"aws:CurrentTime": "2019-12-31T23:00:00"},
     True,
     "date-le-naive-is-utc"),
    ("DateGreaterThanEquals", "aws:CurrentTime", ["2020-01-01"], {"aws:CurrentTime": "2020-01-01"}, True,
     "date-ge"),
    ("DateEquals", "aws:CurrentTime", ["2020-01-01T00:00:00Z"],
     {"aws:CurrentTime": "2020-01-01T00:00:00+00:00"},
     True, "date-equals"),
    ("DateNotEquals", "aws:CurrentTime", ["2020-01-01"], {"aws:CurrentTime": "yesterday"}, True,
     "date-not-equals-unparseable"),
    # IP and binary
    ("IpAddress", "aws:SourceIp", ["10.0.0.0/8"], {"aws:SourceIp": "10.1.2.3"}, True, "ip-in"),
    ("IpAddress", "aws:SourceIp", ["10.0.0.0/8", "192.168.0.0/16"], {"aws:SourceIp": "192.168.1.1"}, True,
     "ip-ored"),
    ("IpAddress", "aws:SourceIp", ["10.0.0.0/8"], {"aws:SourceIp": "8.8.8.8"}, False, "ip-out"),
    ("IpAddress", "aws:SourceIp", ["10.0.0.0/8"], {"aws:SourceIp": "not-an-ip"}, False, "ip-bad"),
    ("NotIpAddress", "aws:SourceIp", ["10.0.0.0/8"], {"aws:SourceIp": "8.8.8.8"}, True, "not-ip"),
    ("BinaryEquals", "s:b", ["QmluYXJ5"], {"s:b": "QmluYXJ5"}, True, "binary-equals"),
    # IfExists
    ("StringEqualsIfExists", "sts:ExternalId", ["x1"], {}, True, "if-exists-absent-true"),
    ("StringEqualsIfExists", "sts:ExternalId", ["x1"], {"sts:ExternalId": "x2"}, False,
     "if-exists-present-checked"),
    ("StringLikeIfExists", "sts:ExternalId", ["x*"], {"sts:ExternalId": "x2"}, True,
     "like-if-exists-present"),
    ("StringNotEqualsIfExists", "iam:PermissionsBoundary", ["arn:b"], {}, True,
     "not-equals-if-exists-absent"),
    # ForAnyValue / ForAllValues
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["a"], {"aws:TagKeys": ["a", "z"]}, True, "any-value-hit"),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["a"], {"aws:TagKeys": ["y", "z"]}, False, "any-value-miss"),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["a"], {}, False, "any-value-absent-false"),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["a"], {"aws:TagKeys": []}, False, "any-value-empty-false"),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b", "c"], {"aws:TagKeys": ["a", "b"]}, True,
     "all-values-subset"),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a"], {"aws:TagKeys": ["a", "z"]}, False,
     "all-values-not-subset"),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a"], {}, True, "all-values-absent-TRUE-pitfall"),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a"], {"aws:TagKeys": []}, True, "all-values-empty-TRUE"),
    ("ForAllValues:StringNotEquals", "aws:TagKeys", ["a"], {"aws:TagKeys": ["x", "y"]}, True,
     "all-values-not-equals"),
    ("ForAllValues:StringNotEquals", "aws:TagKeys", ["a"], {"aws:TagKeys": ["a", "y"]}, False,
     "all-values-not-equals-hit"),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["a"], {"aws:TagKeys": ["a", "y"]}, True,
     "any-value-not-equals"),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["a"], {"aws:TagKeys": ["a"]}, False,
     "any-value-not-equals-all-hit"),
    ("ForAnyValue:StringLikeIfExists", "aws:TagKeys", ["a*"], {}, True, "any-value-if-exists-absent"),
    ("ForAllValues:StringLike", "aws:PrincipalOrgPaths", ["o-abc123/*"],
     {"aws:PrincipalOrgPaths": ["o-abc123/r"]},
     True, "all-values-like"),
    # Multi-valued context without a qualifier
    ("StringEquals", "aws:TagKeys", ["b"], {"aws:TagKeys": ["a", "b"]}, True, "list-context-any"),
    ("StringNotEquals", "aws:TagKeys", ["b"], {"aws:TagKeys": ["a", "b"]}, False, "list-context-negated"),
    # Case-insensitive keys and operators; None context value
    ("StringEquals", "AWS:UserName", ["alice"], {"aws:username": "alice"}, True, "key-case-insensitive"),
    ("stringequals", "aws:username", ["alice"], {"AWS:USERNAME": "alice"}, True, "operator-case-insensitive"),
    ("forallvalues:stringequalsifexists", "aws:TagKeys", ["a"], {"aws:tagkeys": ["z"]}, False,
     "qualifier-and-suffix-case-insensitive"),
    ("StringEquals", "aws:username", ["alice"], {"aws:username": None}, False, "none-context-is-absent"),
]


@pytest.mark.parametrize(("operator", "key", "values", "context", "expected"),
                         [pytest.param(*c[:5], id=c[5]) for c in CONDITION_CASES])
def test_evaluate_condition(operator: str, key: str, values: list[str], context: dict[str, Any],
                            expected: bool) -> None:
    assert evaluate_condition(Condition(operator, key, tuple(values)), context) is expected


@pytest.mark.parametrize(("operator", "qualifier", "base", "if_exists", "negated"), [
    pytest.param("ForAnyValue:StringLikeIfExists", "ForAnyValue", "StringLike", True, False, id="full"),
    pytest.param("stringnotequals", None, "StringNotEquals", False, True, id="lowercase"),
    pytest.param("Null", None, "Null", False, False, id="null"),
    pytest.param("Weird:Thing", "Weird", "Thing", False, False, id="unknown-kept-as-written"),
])
def test_operator_parts(operator: str, qualifier: str | None, base: str, if_exists: bool,
                        negated: bool) -> None:
    c = Condition(operator, "k", ("v",))
    assert (c.qualifier, c.base, c.if_exists, c.negated) == (qualifier, base, if_exists, negated)


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


@pytest.mark.parametrize(("document", "action", "expected"), [
    pytest.param(doc(allow({"AWS": [EXT, ROLE_EXT]})), "sts:AssumeRole",
                 [(0, f"AWS:{EXT}", ()), (0, f"AWS:{ROLE_EXT}", ())], id="one-grant-per-principal"),
    pytest.param(doc(allow({"AWS": EXT}, "sts:*")), "sts:AssumeRole", [(0, f"AWS:{EXT}", ())], id="sts-star"),
    pytest.param(doc(allow({"AWS": EXT}, "sts:TagSession")), "sts:AssumeRole", [], id="other-action"),
    pytest.param(doc({"Effect": "Allow", "Principal": {"AWS": EXT}, "NotAction": "sts:AssumeRoleWithSAML"}),
                 "sts:AssumeRole", [(0, f"AWS:{EXT}", ())], id="notaction-grants-unlisted"),
    pytest.param(doc({"Effect": "Allow", "Principal": {"AWS": EXT}, "NotAction": "sts:Assume*"}),
                 "sts:AssumeRole", [], id="notaction-excludes-listed"),
    pytest.param(doc(deny({"AWS": EXT})), "sts:AssumeRole", [], id="deny-never-grants"),
    pytest.param(doc(allow({"AWS": ROLE_EXT}), deny({"AWS": EXT})), "sts:AssumeRole", [],
                 id="unconditional-deny-on-account-removes-role"),
    pytest.param(doc(allow({"AWS": EXT}), deny({"AWS": ROLE_EXT})), "sts:AssumeRole",
                 [(0, f"AWS:{EXT}", ())], id="deny-on-role-leaves-account"),
    pytest.param(doc(allow({"AWS": EXT}), deny("*",
                                               condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})),
                 "sts:AssumeRole", [(0, f"AWS:{EXT}", (1,))], id="conditional-deny-kept-and-recorded"),
    pytest.param(doc(allow({"AWS": EXT}), deny("*", "sts:TagSession")), "sts:AssumeRole",
                 [(0, f"AWS:{EXT}", ())], id="deny-of-other-action"),
    pytest.param(doc(allow({"AWS": EXT}), {"Effect": "Deny", "Action": "sts:AssumeRole"}), "sts:AssumeRole",
                 [],
                 id="deny-without-principal-applies-to-all"),
    pytest.param(doc({"Effect": "Allow", "NotPrincipal": {"AWS": EXT}, "Action": "sts:AssumeRole"}),
                 "sts:AssumeRole", [(0, "*", ())], id="allow-notprincipal-is-everyone-but"),
    pytest.param(doc({"Effect": "Allow", "NotPrincipal": "*", "Action": "sts:AssumeRole"}), "sts:AssumeRole",
                 [],
                 id="allow-notprincipal-star-grants-nobody"),
    pytest.param(doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), "sts:AssumeRole", [],
                 id="allow-without-principal-grants-nobody"),
    pytest.param(doc(allow({"AWS": ROLE_EXT}), {"Effect": "Deny", "NotPrincipal": {"AWS": "111111111111"},
                                                "Action": "sts:*"}), "sts:AssumeRole", [],
                 id="deny-notprincipal-covers-unlisted"),
    pytest.param(doc(allow({"AWS": ROLE_EXT}), {"Effect": "Deny", "NotPrincipal": {"AWS": EXT},
                                                "Action": "sts:*"}),
                 "sts:AssumeRole", [(0, f"AWS:{ROLE_EXT}", ())], id="deny-notprincipal-spares-listed"),
    pytest.param(doc(allow("*"), {"Effect": "Deny", "NotPrincipal": {"AWS": EXT}, "Action": "sts:*"}),
                 "sts:AssumeRole", [(0, "*", ())], id="deny-notprincipal-never-covers-everyone"),
    pytest.param(doc(allow({"Federated": GH}, WEB), deny("*", WEB)), WEB, [],
                 id="deny-star-removes-federated"),
    pytest.param(doc(allow({"Service": "ec2.amazonaws.com"})), "sts:AssumeRole",
                 [(0, "Service:ec2.amazonaws.com", ())], id="service"),
])
def test_assume_paths(document: Any, action: str, expected: list[tuple[int, str, tuple[int, ...]]]) -> None:
    assert paths(document, action) == expected


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


@pytest.mark.parametrize(("document", "expected"), [
    pytest.param(doc(allow({"AWS": "arn:aws:iam::111111111111:root"})), [], id="org-account-root"),
    pytest.param(doc(allow({"AWS": "arn:aws:iam::222222222222:role/ci"})), [], id="org-account-role"),
    pytest.param(doc(allow({"AWS": f"arn:aws:iam::{EXT}:root"})), [(0, f"AWS:arn:aws:iam::{EXT}:root",
                                                                    "high")],
                 id="external-root-no-condition"),
    pytest.param(doc(allow({"AWS": EXT})), [(0, f"AWS:{EXT}", "high")], id="external-bare-account"),
    pytest.param(doc(allow({"AWS": ROLE_EXT})), [(0, f"AWS:{ROLE_EXT}", "high")], id="external-role"),
    pytest.param(doc(allow({"AWS": f"arn:aws:sts::{EXT}:assumed-role/R/s"})),
                 [(0, f"AWS:arn:aws:sts::{EXT}:assumed-role/R/s", "high")], id="external-assumed-role"),
    pytest.param(doc(allow({"AWS": ["111111111111", EXT]})), [(0, f"AWS:{EXT}", "high")],
                 id="list-mixing-internal-and-external"),
    pytest.param(doc(allow({"AWS": "AROAEXAMPLEUNIQUEID"})), [(0, "AWS:AROAEXAMPLEUNIQUEID", "high")],
                 id="unknown-account-treated-as-external"),
    pytest.param(doc(allow({"AWS": EXT}, condition=XID)), [], id="external-id-string-equals"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringLike": {"sts:ExternalId": "a1b2c3"}})), [],
                 id="external-id-string-like-literal"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringEquals": {"sts:ExternalId": ["a1", "b2"]}})), [],
                 id="external-id-several-values"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringEquals": {"STS:EXTERNALID": "a1b2c3"}})), [],
                 id="external-id-key-case-insensitive"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"stringequals": {"sts:ExternalId": "a1b2c3"}})), [],
                 id="external-id-operator-case-insensitive"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"ForAnyValue:StringEquals": {"sts:ExternalId": "a1"}})),
                 [],
                 id="external-id-for-any-value-requires-presence"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringLike": {"sts:ExternalId": "a1*"}})),
                 [(0, f"AWS:{EXT}", "high")], id="external-id-string-like-wildcard"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringLike": {"sts:ExternalId": "a?"}})),
                 [(0, f"AWS:{EXT}", "high")], id="external-id-string-like-question-mark"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringEqualsIfExists": {"sts:ExternalId": "a1b2c3"}})),
                 [(0, f"AWS:{EXT}", "high")], id="external-id-if-exists-absence-passes"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"ForAllValues:StringEquals": {"sts:ExternalId": "a1"}})),
                 [(0, f"AWS:{EXT}", "high")], id="external-id-for-all-values"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringEqualsIgnoreCase": {"sts:ExternalId": "a1"}})),
                 [(0, f"AWS:{EXT}", "high")], id="external-id-ignore-case-not-in-control"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringNotEquals": {"sts:ExternalId": "a1"}})),
                 [(0, f"AWS:{EXT}", "high")], id="external-id-negated"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringEquals": {"sts:ExternalId": ""}})),
                 [(0, f"AWS:{EXT}", "high")], id="external-id-empty"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringEquals": {"sts:ExternalId": []}})),
                 [(0, f"AWS:{EXT}", "high")], id="external-id-no-values"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringEquals": {"sts:ExternalId": ["a1", " "]}})),
                 [(0, f"AWS:{EXT}", "high")], id="external-id-one-blank-value"),
    pytest.param(doc(allow({"AWS": EXT}, condition=merge(XID,
                                                         {"StringLikeIfExists": {"sts:ExternalId": "*"}}))),
                 [], id="external-id-one-good-condition-suffices"),
    pytest.param(doc(allow("*")), [(0, "*", "critical")], id="star-no-condition-critical"),
    pytest.param(doc(allow({"AWS": "*"})), [(0, "*", "critical")], id="aws-star-no-condition-critical"),
    pytest.param(doc(allow("*", condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})), [(0, "*", "high")],
                 id="star-with-unrelated-condition-high"),
    pytest.param(doc(allow("*", condition=ORG_PIN)), [], id="star-pinned-org-id"),
    pytest.param(doc(allow("*", condition={"StringEquals": {"aws:principalorgid": "O-ABC123"}})), [],
                 id="star-pinned-org-id-case-insensitive"),
    pytest.param(doc(allow("*", condition={"StringEquals": {"aws:PrincipalOrgID": "o-other"}})),
                 [(0, "*", "high")], id="star-other-org"),
    pytest.param(doc(allow("*", condition={"StringEquals": {"aws:PrincipalOrgID": [ORG_ID, "o-other"]}})),
                 [(0, "*", "high")], id="star-org-id-list-with-other-org"),
    pytest.param(doc(allow("*", condition={"StringLike": {"aws:PrincipalOrgID": "o-*"}})), [(0, "*", "high")],
                 id="star-org-id-wildcard"),
    pytest.param(doc(allow("*", condition={"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG_ID}})),
                 [(0, "*", "high")], id="star-org-id-if-exists"),
    pytest.param(doc(allow("*", condition={"StringNotEquals": {"aws:PrincipalOrgID": ORG_ID}})),
                 [(0, "*", "high")], id="star-org-id-negated"),
    pytest.param(doc(allow("*", condition={"StringEquals": {"aws:PrincipalAccount": sorted(ORG_ACCOUNTS)}})),
                 [],
                 id="star-pinned-principal-account"),
    pytest.param(doc(allow("*", condition={"StringEquals": {"aws:PrincipalAccount": ["111111111111", EXT]}})),
                 [(0, "*", "high")], id="star-principal-account-includes-external"),
    pytest.param(doc(allow("*",
                           condition={"ForAnyValue:StringLike":
                                      {"aws:PrincipalOrgPaths": f"{ORG_ID}/r-1/*"}})),
                 [], id="star-pinned-org-paths"),
    pytest.param(doc(allow("*",
                           condition={"ForAllValues:StringLike": {"aws:PrincipalOrgPaths": f"{ORG_ID}/*"}})),
                 [(0, "*", "high")], id="star-org-paths-for-all-values-absent-passes"),
    pytest.param(doc(allow("*", condition={"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-*/*"}})),
                 [(0, "*", "high")], id="star-org-paths-other-org"),
    pytest.param(doc(allow("*", condition={"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}, Sid="X"),
                     allow("*", Sid="Y")), [(1, "*", "critical")], id="second-open-statement-defeats-pinned"),
    pytest.param(doc(allow({"AWS": EXT}, condition=ORG_PIN)), [(0, f"AWS:{EXT}", "high")],
                 id="named-external-account-stays-external-despite-pin"),
    pytest.param(doc({"Effect": "Allow", "NotPrincipal": {"AWS": "111111111111"},
                      "Action": "sts:AssumeRole"}),
                 [(0, "*", "critical")], id="notprincipal-is-everyone"),
    pytest.param(doc(allow({"AWS": EXT}), deny({"AWS": EXT})), [], id="unconditional-deny-removes"),
    pytest.param(doc(allow({"AWS": EXT}), deny({"AWS": EXT},
                                               condition={"StringNotEquals": {"sts:ExternalId": "a"}})),
                 [], id="deny-guard-string-not-equals-external-id-credited"),
    pytest.param(doc(allow({"AWS": EXT}), deny({"AWS": EXT}, condition={
        "StringNotEquals": {"sts:ExternalId": "a"}, "Bool": {"aws:SecureTransport": "true"}})),
                 [(0, f"AWS:{EXT}", "high")], id="deny-with-two-conditions-not-a-guard"),
    pytest.param(doc(allow({"Service": "ec2.amazonaws.com"})), [], id="service-principal-not-g4"),
    pytest.param(doc(allow({"Federated": "arn:aws:iam::999999999999:saml-provider/X"},
                           "sts:AssumeRoleWithSAML")),
                 [], id="federated-not-g4"),
    pytest.param(doc(allow({"AWS": EXT}, "sts:AssumeRoleWithSAML")), [], id="other-sts-action"),
    pytest.param(doc({"Effect": "Allow", "Principal": {"AWS": EXT}, "NotAction": WEB}), [(0, f"AWS:{EXT}",
                                                                                          "high")],
                 id="notaction-covers-assume-role"),
])
def test_rc_4_1(document: Any, expected: list[tuple[int, str, str]]) -> None:
    assert rc41(document) == expected


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


@pytest.mark.parametrize(("document", "fragment"), [
    pytest.param(doc(allow("*")), "any AWS principal (*)", id="everyone"),
    pytest.param(doc({"Effect": "Allow", "NotPrincipal": {"AWS": "111111111111"},
                      "Action": "sts:AssumeRole"}),
                 "except AWS:111111111111", id="everyone-but"),
    pytest.param(doc(allow({"AWS": "AROAEXAMPLE"})), "account unknown", id="unknown-account"),
    pytest.param(doc(allow({"AWS": EXT})), "no sts:ExternalId condition", id="no-external-id"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"ForAllValues:StringEquals": {"sts:ExternalId": "a"}})),
                 "true when ExternalId is absent", id="for-all-values"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringLike": {"sts:ExternalId": "a*"}})),
                 "wildcard", id="wildcard"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringEquals": {"sts:ExternalId": ""}})),
                 "empty ExternalId", id="empty"),
    pytest.param(doc(allow({"AWS": EXT}, condition={"StringEqualsIgnoreCase": {"sts:ExternalId": "a"}})),
                 "does not require an exact ExternalId", id="operator"),
])
def test_rc_4_1_reason_explains(document: Any, fragment: str) -> None:
    (f,) = external_assume_without_external_id(document, ORG_ACCOUNTS, ORG_ID)
    assert fragment in f.reason


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


@pytest.mark.parametrize(("document", "expected"), [
    pytest.param(doc(gh("repo:octo/app:ref:refs/heads/main", "StringEquals")), [], id="rc-5.1-pinned-equals"),
    pytest.param(doc(gh("repo:octo/app:*")), [], id="rc-5.1-wildcard-after-repo"),
    pytest.param(doc(gh("repo:octo/app:ref:refs/heads/*")), [], id="rc-5.1-wildcard-in-ref"),
    pytest.param(doc(gh("repo:octo@123456/app@456789:ref:refs/heads/main", "StringEquals")), [],
                 id="rc-5.1-immutable-ids"),
    pytest.param(doc(gh(["repo:octo/app:*", "repo:octo/lib:environment:prod"])), [],
                 id="rc-5.1-list-all-pinned"),
    pytest.param(doc(gh("repo:octo/app", "StringEquals")), [], id="rc-5.1-repo-without-context"),
    pytest.param(doc(gh("repo:octo/app:*", "StringEqualsIgnoreCase")), [], id="rc-5.1-ignore-case-counts"),
    pytest.param(doc(gh(["repo:octo/app:*", "repo:octo/*"])), [("RC-5.1", 0, "high")],
                 id="rc-5.1-one-org-wide-value-fails"),
    pytest.param(doc(gh("repo:octo/*")), [("RC-5.1", 0, "high")], id="rc-5.1-org-wide"),
    pytest.param(doc(gh("repo:octo/*:ref:refs/heads/main")), [("RC-5.1", 0, "high")],
                 id="rc-5.1-org-wide-ref"),
    pytest.param(doc(gh("repo:octo/app*")), [("RC-5.1", 0, "high")], id="rc-5.1-repo-prefix-wildcard"),
    pytest.param(doc(gh("repo:octo/ap?:*")), [("RC-5.1", 0, "high")], id="rc-5.1-repo-question-mark"),
    pytest.param(doc(gh("*")), [("RC-5.1", 0, "critical")], id="rc-5.1-star"),
    pytest.param(doc(gh("*", "StringEquals")), [], id="rc-5.1-star-under-equals-is-literal-admits-nobody"),
    pytest.param(doc(gh("repo:*")), [("RC-5.1", 0, "critical")], id="rc-5.1-repo-star"),
    pytest.param(doc(gh("repo:octo*")), [("RC-5.1", 0, "critical")], id="rc-5.1-org-prefix-wildcard"),
    pytest.param(doc(gh("repo:*/app:*")), [("RC-5.1", 0, "critical")], id="rc-5.1-any-org"),
    pytest.param(doc(gh("repo:oct?/app:*")), [("RC-5.1", 0, "critical")], id="rc-5.1-org-question-mark"),
    pytest.param(doc(gh("environment:prod", "StringEquals")), [("RC-5.1", 0, "critical")],
                 id="rc-5.1-not-a-repo-subject"),
    pytest.param(doc(gh("repo:octo", "StringEquals")), [("RC-5.1", 0, "critical")], id="rc-5.1-no-repo-part"),
    pytest.param(doc(gh(None)), [("RC-5.1", 0, "critical")], id="rc-5.1-no-sub-condition"),
    pytest.param(doc(gh("repo:octo/app:*", "StringNotLike")), [("RC-5.1", 0, "critical")],
                 id="rc-5.1-negated-sub-does-not-restrict"),
    pytest.param(doc(gh(None,
                        extra={"StringLike":
                               {"token.actions.githubusercontent.com:SUB": "repo:octo/app:*"}})),
                 [], id="rc-5.1-key-case-insensitive"),
    pytest.param(doc(gh("repo:octo/app:*", "stringlike")), [], id="rc-5.1-operator-case-insensitive"),
    pytest.param(doc(gh("repo:octo/*",
                        extra={"StringEquals": {GH_SUB: "repo:octo/app:ref:refs/heads/main"}})), [],
                 id="rc-5.1-and-of-sub-conditions-tightest-wins"),
    pytest.param(doc(gh("repo:octo/app:*", Sid="Pinned"), gh(None, aud=False, Sid="Open")),
                 [("RC-5.1", 1, "critical"), ("RC-5.2", 1, "medium")],
                 id="rc-5.1-separate-open-statement-defeats-pinned"),
    pytest.param(doc(gh("repo:octo/app:*", principal=GHE)), [("RC-5.1", 0, "critical"), ("RC-5.2", 0,
                                                                                         "medium")],
                 id="rc-5.1-enterprise-issuer-needs-enterprise-keys"),
    pytest.param(doc(allow({"Federated": GHE}, WEB, {
        "StringLike": {"token.actions.githubusercontent.com/octo-ent:sub": "repo:octo/app:*"},
        "StringEquals": {"token.actions.githubusercontent.com/octo-ent:aud": "sts.amazonaws.com"}})), [],
                 id="rc-5.1-enterprise-issuer-pinned"),
    pytest.param(doc(gh(None, aud=False), deny("*", WEB)), [], id="rc-5.1-unconditional-deny-removes"),
    pytest.param(doc({"Effect": "Allow", "Principal": {"Federated": GH}, "NotAction": "sts:AssumeRole"}),
                 [("RC-5.1", 0, "critical"), ("RC-5.2", 0,
                                              "medium")], id="rc-5.1-notaction-grants-web-identity"),
    pytest.param(doc(allow({"Federated": GH}, "sts:AssumeRole")), [], id="rc-5.1-not-web-identity-action"),
    pytest.param(doc(allow({"AWS": EXT})), [], id="rc-5.1-no-github-trust"),
    pytest.param(doc(gh("repo:octo/app:*", aud=False)), [("RC-5.2", 0, "medium")], id="rc-5.2-aud-missing"),
    pytest.param(doc(gh("repo:octo/app:*", aud=False, extra={
        "StringEquals": {"token.actions.githubusercontent.com:aud": "https://github.com/octo"}})),
                 [("RC-5.2", 0, "medium")], id="rc-5.2-aud-other-value"),
    pytest.param(doc(gh("repo:octo/app:*", aud=False, extra={
        "StringEquals": {"token.actions.githubusercontent.com:aud": ["sts.amazonaws.com", "other"]}})),
                 [("RC-5.2", 0, "medium")], id="rc-5.2-aud-extra-value"),
    pytest.param(doc(gh("repo:octo/app:*", aud=False, extra={
        "StringEqualsIfExists": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}})),
                 [("RC-5.2", 0, "medium")], id="rc-5.2-aud-if-exists"),
    pytest.param(doc(gh("repo:octo/app:*", aud=False, extra={
        "StringEqualsIgnoreCase": {"token.actions.githubusercontent.com:AUD": "STS.amazonaws.com"}})), [],
                 id="rc-5.2-aud-ignore-case-ok"),
    pytest.param(doc(gh("repo:octo/app:*", aud=False, extra={
        "ForAllValues:StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}})),
                 [("RC-5.2", 0, "medium"), ("RC-5.2", 0, "medium")], id="rc-5.2-aud-for-all-values"),
    pytest.param(doc(gh("repo:octo/app:*", "ForAllValues:StringLike")), [("RC-5.2", 0, "medium")],
                 id="rc-5.2-sub-for-all-values"),
    pytest.param(doc(gh("repo:octo/app:*", extra={
        "ForAllValues:StringEquals": {"token.actions.githubusercontent.com:iss": "https://x"}})),
                 [("RC-5.2", 0, "medium")], id="rc-5.2-iss-for-all-values"),
])
def test_rc_5_1_and_rc_5_2(document: Any, expected: list[tuple[str, int, str]]) -> None:
    assert rc5(document) == expected


def test_rc_5_1_finding_names_the_loose_values() -> None:
    (f,) = github_oidc_findings(doc(gh(["repo:octo/app:*", "repo:octo/*"], Sid="Deploy")))
    assert (f.sid, f.principal) == ("Deploy", f"Federated:{GH}")
    assert "repo:octo/*" in f.reason and "whole organization" in f.reason
    assert "repo:octo/app:*" in f.reason  # the conditions as written are listed too


@pytest.mark.parametrize(("value", "rank"), [
    pytest.param("repo:octo/app:ref:refs/heads/main", PINNED, id="branch"),
    pytest.param("repo:octo/app:environment:prod", PINNED, id="environment"),
    pytest.param("repo:octo/app:pull_request", PINNED, id="pull-request"),
    pytest.param("repo:octo@1/app@2:*", PINNED, id="immutable"),
    pytest.param("repo:octo/*", ORG_WIDE, id="org-star"),
    pytest.param("repo:octo/:ref", ORG_WIDE, id="empty-repo"),
    pytest.param("repo:*", OPEN, id="repo-star"),
    pytest.param("repo:/app:*", OPEN, id="empty-org"),
    pytest.param("repo:octo:x/app", OPEN, id="colon-in-org"),
    pytest.param("*", OPEN, id="star"),
    pytest.param("REPO:octo/app:*", OPEN, id="prefix-case"),
])
def test_rc_5_1_classify_github_subject(value: str, rank: str) -> None:
    assert classify_github_subject(value) == rank


@pytest.mark.parametrize(("document", "subjects"), [
    pytest.param(doc(gh(["repo:octo/app:*", "repo:octo/lib:*"])), ["repo:octo/app:*", "repo:octo/lib:*"],
                 id="values"),
    pytest.param(doc(gh("repo:octo/app:*"), gh("repo:octo/app:*")), ["repo:octo/app:*"], id="deduplicated"),
    pytest.param(doc(gh("repo:octo/app:*"), gh(None)), ["repo:octo/app:*", "*"], id="open-statement-is-star"),
    pytest.param(doc(gh("repo:octo/*",
                        extra={"StringEquals": {GH_SUB: "repo:octo/app:ref:refs/heads/main"}})),
                 ["repo:octo/app:ref:refs/heads/main"], id="tightest-condition"),
    pytest.param(doc(allow({"AWS": EXT})), [], id="no-github-trust"),
])
def test_rc_5_1_subjects_allowed(document: Any, subjects: list[str]) -> None:
    assert subjects_allowed(document) == subjects


@pytest.mark.parametrize(("federated", "issuer", "github"), [
    pytest.param(GH, "token.actions.githubusercontent.com", True, id="github"),
    pytest.param(GHE, "token.actions.githubusercontent.com/octo-ent", True, id="github-enterprise"),
    pytest.param("arn:aws:iam::1:oidc-provider/TOKEN.actions.githubusercontent.com", None, True,
                 id="host-case"),
    pytest.param("arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com/a/b", None, False,
                 id="two-segments-not-github"),
    pytest.param("arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com/", None, False,
                 id="empty-enterprise-not-github"),
    pytest.param("arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com.evil.io", None, False,
                 id="lookalike-host"),
    pytest.param("arn:aws:iam::1:oidc-provider/gitlab.com", "gitlab.com", False, id="gitlab"),
])
def test_rc_5_1_github_issuer(federated: str, issuer: str | None, github: bool) -> None:
    found = oidc_issuer(federated)
    assert found is not None
    if issuer is not None:
        assert found == issuer
    assert is_github_issuer(found) is github


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


@pytest.mark.parametrize(("condition", "fails"), [
    pytest.param({"StringEquals": {"GITLAB.COM:SUB": "project_path:acme/app:ref_type:branch:ref:main"}},
                 False,
                 id="key-case-insensitive"),
    pytest.param({"StringLike": {"gitlab.com:sub": "*"}}, True, id="star-only"),
    pytest.param({"StringLike": {"gitlab.com:sub": ["*", "project_path:acme/*"]}}, False,
                 id="star-and-pattern"),
    pytest.param({"StringNotEquals": {"gitlab.com:sub": "project_path:evil/x"}}, True, id="negated"),
    pytest.param({"StringLikeIfExists": {"gitlab.com:sub": "project_path:acme/*"}}, True, id="if-exists"),
    pytest.param({"ForAllValues:StringLike": {"gitlab.com:sub": "project_path:acme/*"}}, True,
                 id="for-all-values"),
    pytest.param({"Null": {"gitlab.com:sub": "false"}}, True, id="null-only"),
    pytest.param({"StringLike": {"app.terraform.io:sub": "organization:acme:*"}}, True,
                 id="other-providers-key"),
])
def test_rc_5_3_condition_forms(condition: dict[str, Any], fails: bool) -> None:
    document = doc(allow({"Federated": provider("gitlab.com")}, WEB, condition))
    assert bool(other_oidc_findings(document)) is fails


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


@pytest.mark.parametrize(("statement", "denies", "kind"), [
    pytest.param(deny_st("iam:CreateUser"), True, "unconditional", id="exact"),
    pytest.param(deny_st("iam:Create*"), True, "unconditional", id="prefix-wildcard"),
    pytest.param(deny_st("iam:*"), True, "unconditional", id="service-wildcard"),
    pytest.param(deny_st("*"), True, "unconditional", id="everything"),
    pytest.param(deny_st("IAM:createuser"), True, "unconditional", id="case-insensitive"),
    pytest.param({"Effect": "Deny", "NotAction": ["s3:*", "sts:*"], "Resource": "*"}, True, "unconditional",
                 id="notaction-unlisted"),
    pytest.param({"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"}, None, None,
                 id="notaction-listed"),
    pytest.param({"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*"}, None, None,
                 id="allow-is-not-deny"),
    pytest.param(deny_st("iam:CreateUser", ADMIN_EXEMPT), True, "exempting", id="rc-6.2-admin-exemption"),
    pytest.param(deny_st("iam:CreateUser",
                         {"StringNotLike": {"AWS:PRINCIPALARN": ["arn:aws:iam::*:role/Admin",
                                                                                   "arn:aws:iam::*:role/BreakGlass"]}}),
                 True, "exempting", id="rc-6.2-two-admin-roles-key-case"),
    pytest.param(deny_st("iam:CreateUser",
                         {"ArnNotLikeIfExists": {"aws:PrincipalArn": "arn:aws:iam::*:role/Adm"}}),
                 True, "exempting", id="rc-6.2-exemption-if-exists"),
    pytest.param(deny_st("iam:CreateUser", {"StringNotEquals": {"aws:PrincipalTag/team": "platform"}}), True,
                 "exempting", id="rc-6.2-tag-exemption"),
    pytest.param(deny_st("iam:CreateUser", {"StringNotLike": {"aws:userid": "AROAEXAMPLE:*"}}), True,
                 "exempting",
                 id="rc-6.2-userid-exemption"),
    pytest.param(deny_st("iam:CreateUser", {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}),
                 False,
                 "conditional", id="rc-6.2-exemption-of-every-role"),
    pytest.param(deny_st("iam:CreateUser", {"StringNotLike": {"aws:PrincipalArn": "*"}}), False,
                 "conditional",
                 id="rc-6.2-exemption-of-everyone"),
    pytest.param(deny_st("iam:CreateUser", {"StringNotLike": {"aws:PrincipalTag/team": "*"}}), False,
                 "conditional",
                 id="rc-6.2-tag-exemption-of-any-tag"),
    pytest.param(deny_st("iam:CreateUser", {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Admin"}}),
                 False,
                 "conditional", id="rc-6.2-positive-arn-denies-only-admin"),
    pytest.param(deny_st("iam:CreateUser", {"ForAnyValue:StringNotLike": {"aws:PrincipalArn": "x"}}), False,
                 "conditional", id="rc-6.2-qualified-exemption"),
    pytest.param(deny_st("iam:CreateUser", {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}), False,
                 "conditional", id="rc-6.2-unrelated-condition"),
    pytest.param(deny_st("iam:CreateUser", merge(ADMIN_EXEMPT,
                                                 {"Bool": {"aws:MultiFactorAuthPresent": "false"}})),
                 False, "conditional", id="rc-6.2-exemption-plus-other-condition"),
    pytest.param(deny_st("iam:CreateUser", Resource="arn:aws:iam::*:user/special/*"), False, "unconditional",
                 id="resource-limited"),
    pytest.param(deny_st("iam:CreateUser", Resource=["arn:aws:iam::*:user/x", "arn:aws:iam::*:*"]), True,
                 "unconditional", id="resource-arn-wildcards"),
    pytest.param({"Effect": "Deny", "Action": "iam:CreateUser"}, True, "unconditional",
                 id="no-resource-element"),
    pytest.param({"Effect": "Deny", "Action": "iam:CreateUser", "NotResource": "arn:aws:iam::*:user/ok"},
                 False,
                 "unconditional", id="notresource-spares-some"),
])
def test_rc_6_2_deny_coverage(statement: dict[str, Any], denies: bool | None, kind: str | None) -> None:
    coverage = deny_coverage(scp(statement), "iam:CreateUser")
    if kind is None:
        assert coverage.rules == () and not coverage.denies
    else:
        (rule,) = coverage.rules
        assert (rule.kind, coverage.denies) == (kind, denies)


def test_rc_6_2_coverage_reports_exemptions() -> None:
    exempting = deny_coverage(scp(deny_st("iam:CreateUser", ADMIN_EXEMPT, Sid="NoUsers")), "iam:CreateUser")
    assert exempting.rules[0].sid == "NoUsers"
    assert [str(c) for c in exempting.exemptions] == [
        "ArnNotLike aws:PrincipalArn ['arn:aws:iam::*:role/Admin']"]
    both = deny_coverage(scp(deny_st("iam:CreateUser", ADMIN_EXEMPT), deny_st("iam:*")), "iam:CreateUser")
    assert both.exemptions == ()  # an unconditional deny leaves no one exempt


@pytest.mark.parametrize(("scps", "passed", "fragment"), [
    pytest.param({"p-1": scp(deny_st(["iam:CreateUser", "iam:CreateAccessKey"], ADMIN_EXEMPT))}, True, "p-1",
                 id="one-scp-both"),
    pytest.param({"p-1": scp(deny_st("iam:CreateUser")), "p-2": scp(deny_st("iam:CreateAccessKey"))}, True,
                 "p-1, p-2", id="two-scps-one-each"),
    pytest.param({"p-1": scp(deny_st("iam:Create*"))}, True, "p-1", id="wildcard-covers-both"),
    pytest.param({"p-1": scp(deny_st("iam:CreateUser"))}, False, "iam:CreateAccessKey",
                 id="access-key-missing"),
    pytest.param({"p-1": json.dumps(scp({"Effect": "Allow", "Action": "*", "Resource": "*"}))}, False,
                 "iam:CreateUser or iam:CreateAccessKey", id="full-aws-access-only"),
    pytest.param({}, False, "iam:CreateUser", id="no-scps"),
    pytest.param({"p-1": scp(deny_st(["iam:CreateUser", "iam:CreateAccessKey"],
                                     {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}))}, False,
                 "iam:CreateUser", id="conditional-on-region"),
])
def test_rc_6_2_denies_user_creation(scps: dict[str, Any], passed: bool, fragment: str) -> None:
    verdict = denies_user_creation(scps)
    assert verdict.passed == passed
    assert fragment in verdict.reason


def test_rc_6_2_evidence_names_policy_and_statement() -> None:
    verdict = denies_user_creation({"p-1": scp(deny_st("s3:*"), deny_st("iam:*", Sid="NoIam"))})
    assert [(pid, cov.action, [r.statement_index for r in cov.rules]) for pid, cov in verdict.evidence] == [
        ("p-1", "iam:CreateUser", [1]), ("p-1", "iam:CreateAccessKey", [1])]


BOUNDARY = "iam:PermissionsBoundary"
BOUNDARY_ARN = "arn:aws:iam::111111111111:policy/Boundary"


@pytest.mark.parametrize(("statement", "denies"), [
    pytest.param(deny_st("iam:CreateRole", {"Null": {BOUNDARY: "true"}}), True, id="null-true"),
    pytest.param(deny_st("iam:CreateRole", {"StringNotEquals": {BOUNDARY: BOUNDARY_ARN}}), True,
                 id="string-not-equals"),
    pytest.param(deny_st("iam:CreateRole", {"StringNotEqualsIfExists": {BOUNDARY: BOUNDARY_ARN}}), True,
                 id="string-not-equals-if-exists"),
    pytest.param(deny_st("iam:CreateRole",
                         {"ArnNotLike": {"IAM:PERMISSIONSBOUNDARY": "arn:aws:iam::*:policy/B*"}}),
                 True, id="arn-not-like-key-case"),
    pytest.param(deny_st("iam:CreateRole", merge({"Null": {BOUNDARY: "true"}}, ADMIN_EXEMPT)), True,
                 id="with-admin-exemption"),
    pytest.param(deny_st("iam:CreateRole"), True, id="unconditional-is-stricter"),
    pytest.param(deny_st("iam:*", {"StringNotEquals": {BOUNDARY: BOUNDARY_ARN}}), True, id="iam-star"),
    pytest.param(deny_st("iam:CreateRole", {"StringEquals": {BOUNDARY: BOUNDARY_ARN}}), False,
                 id="positive-denies-only-with-boundary"),
    pytest.param(deny_st("iam:CreateRole", {"Null": {BOUNDARY: "false"}}), False, id="null-false"),
    pytest.param(deny_st("iam:CreateRole", merge({"Null": {BOUNDARY: "true"}},
                                                  {"StringEquals": {"aws:RequestedRegion": "us-east-1"}})),
                 False, id="plus-unrelated-condition"),
    pytest.param(deny_st("iam:CreateRole", {"StringSortOf": {BOUNDARY: BOUNDARY_ARN}}), False,
                 id="unknown-operator"),
    pytest.param(deny_st("iam:CreateUser", {"Null": {BOUNDARY: "true"}}), False, id="other-action"),
])
def test_rc_6_3_boundary_coverage(statement: dict[str, Any], denies: bool) -> None:
    assert boundary_coverage(scp(statement)).denies is denies


@pytest.mark.parametrize(("scps", "passed", "fragment"), [
    pytest.param({"p-1": scp(deny_st("iam:CreateRole", {"Null": {BOUNDARY: "true"}}),
                             deny_st("iam:DeleteRolePermissionsBoundary"))}, True, "p-1", id="both"),
    pytest.param({"p-1": scp(deny_st("iam:CreateRole", {"Null": {BOUNDARY: "true"}})),
                  "p-2": scp(deny_st("iam:DeleteRolePermissions*", ADMIN_EXEMPT))}, True, "p-1, p-2",
                 id="split-across-scps"),
    pytest.param({"p-1": scp(deny_st("iam:CreateRole", {"Null": {BOUNDARY: "true"}}))}, False,
                 "iam:DeleteRolePermissionsBoundary", id="delete-missing"),
    pytest.param({"p-1": scp(deny_st("iam:DeleteRolePermissionsBoundary"))}, False,
                 "iam:CreateRole without a permissions boundary", id="create-missing"),
    pytest.param({"p-1": scp(deny_st("iam:CreateRole", {"StringEquals": {BOUNDARY: BOUNDARY_ARN}}),
                             deny_st("iam:DeleteRolePermissionsBoundary"))}, False, "iam:CreateRole",
                 id="wrong-way-round"),
])
def test_rc_6_3_enforces_permissions_boundary(scps: dict[str, Any], passed: bool, fragment: str) -> None:
    verdict = enforces_permissions_boundary(scps)
    assert verdict.passed == passed
    assert fragment in verdict.reason
