"""G5: deployment roles use OIDC (e.g. GitHub Actions), restricted to specific repositories.

RC-5.1 .. RC-5.3, each with its catalogue entry, its rule and its Great Expectations
restatement. All three judge trust policies: checks/iam answers, checks/role_trust runs it once
per distinct document into the temp table g5_trust_facts.

Decisions where CONTROLS.md is silent:
- RC-5.1: a sub value that StringEquals compares literally (`repo:acme/*`) admits no token; it
  is not counted as a subject and the role passes with a note in its reason (`sub_notes`):
  CONTROLS.md calls it a misconfiguration with its own reason, and RC-5.1 fails only roles
  that let a token in loosely (its severities, critical and high, are for exposure).
- RC-5.2 also fails a GitHub claim (aud, sub, iss) tested with ForAllValues, which is true
  when the claim is absent.
- RC-5.3: only `oidc-provider/` ARNs are in scope (not Cognito, SAML, or the built-in Google,
  Facebook or Amazon providers).
- Exceptions never apply: the register names IAM users (and roles, for the
  permissions-boundary control only).

The GX restatements do not reread these verdicts: they count what checks/iam/requests.py, a
separate request evaluator, finds when it presents concrete tokens to the whole policy (from a
repository the trust does not name, another organization, with no or another audience; for
other providers with no subject or strangers' subjects). One part of RC-5.2 stays textual:
ForAllValues on a GitHub claim changes no real request (GitHub always sends sub, aud and iss),
so that expectation reads the count of such conditions.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import duckdb

from checks.control import Check, Control, GuidanceItem
from checks.expectation import Expect
from checks.frameworks import nist, soc2
from checks.iam import requests, trust
from checks.iam.document import Policy
from checks.iam.grants import Finding
from checks.role_trust import (
    evidence,
    load_trust_facts,
    reasons,
    role_rule,
    unique,
    worst_severity,
)

ITEM = GuidanceItem(
    "G5",
    "Deployment roles use OIDC, restricted to specific repositories",
    "Deployment roles use OIDC (e.g. GitHub Actions), restricted to specific repositories.",
)
TRUST_FACTS = "g5_trust_facts"

RC_5_1 = Control(
    "RC-5.1", "G5", "GitHub OIDC roles are pinned to one repository", "critical",
    "every role that trusts the GitHub Actions OIDC provider "
    "(token.actions.githubusercontent.com, also an enterprise issuer)",
    "some Allow statement lets a token in without a sub condition whose every value pins "
    "one organization and one repository (repo:ORG/REPO:...); critical when there is no sub "
    "condition or a value like *, high for an org-wide wildcard (repo:ORG/*)",
    "Add StringEquals/StringLike on token.actions.githubusercontent.com:sub with values like "
    "repo:my-org/my-repo:ref:refs/heads/main or repo:my-org/my-repo:environment:prod, in "
    "every statement that trusts the provider.",
    severity_when={trust.SUBJECT_ORG_WIDE: "high"},
    requirements=(
        nist("AC-3", "partial", "GitHub OIDC trust is enforced down to one repository"),
        soc2("CC6.1", "partial", "point of focus: points of access by outside entities (CI "
             "workflows) are identified and managed"),
    ),
)

RC_5_2 = Control(
    "RC-5.2", "G5", "GitHub OIDC roles require the STS audience", "medium",
    "every role that trusts the GitHub Actions OIDC provider",
    "the aud condition is missing or is not sts.amazonaws.com, or aud/sub/iss are tested "
    "with ForAllValues (true when the claim is absent)",
    "Add StringEquals token.actions.githubusercontent.com:aud = sts.amazonaws.com and test "
    "claims with plain StringEquals/StringLike, not ForAllValues.",
    requirements=(
        nist("AC-3", "partial", "GitHub OIDC trust requires the STS audience"),
    ),
)

RC_5_3 = Control(
    "RC-5.3", "G5", "Other OIDC roles restrict the subject", "high",
    "every role that trusts another OIDC provider (GitLab, Terraform Cloud, Bitbucket, "
    "CircleCI, EKS, ...)",
    "the trust has no condition restricting that provider's subject claim (PROVIDER:sub)",
    "Add a StringEquals/StringLike condition on <provider>:sub naming the project, "
    "workspace or service account allowed to assume the role.",
    requirements=(
        nist("AC-3", "partial", "trust of other OIDC providers restricts the subject"),
        soc2("CC6.1", "partial", "point of focus: points of access by outside entities are "
             "identified and managed"),
    ),
)

# Which control each kind of finding of checks/iam/trust.py fails.
KIND_CONTROLS: dict[str, Control] = {
    **{kind: RC_5_1 for kind in (trust.NO_SUBJECT, trust.SUBJECT_OPEN, trust.SUBJECT_ORG_WIDE)},
    **{kind: RC_5_2 for kind in (trust.NO_AUDIENCE, trust.FOR_ALL_VALUES)},
    trust.OTHER_NO_SUBJECT: RC_5_3,
}

TRUST_FACT_TYPES: dict[str, str] = {
    "doc": "VARCHAR",
    "parse_error": "VARCHAR",
    # RC-5.1, RC-5.2
    "github_providers": "VARCHAR[]",
    "github_grants": "INTEGER",
    "subjects_allowed": "VARCHAR[]",
    "unpinned_subjects": "INTEGER",
    "sub_findings": "JSON",
    "sub_severity": "VARCHAR",
    "sub_reason": "VARCHAR",
    "sub_notes": "VARCHAR[]",
    "grants_without_audience": "INTEGER",
    "for_all_values_conditions": "INTEGER",
    "aud_findings": "JSON",
    "aud_reason": "VARCHAR",
    # RC-5.3
    "other_providers": "VARCHAR[]",
    "other_grants": "INTEGER",
    "restricted_grants": "INTEGER",
    "other_findings": "JSON",
    "other_reason": "VARCHAR",
    # what the request evaluator finds (for the GX restatements)
    "github_admitting_other_repositories": "INTEGER",
    "github_admitting_other_audiences": "INTEGER",
    "other_admitting_any_subject": "INTEGER",
}


def _sub_reason(findings: list[Finding], subjects: list[str], notes: list[str]) -> str:
    """RC-5.1's reason: the findings, or the subjects allowed; then any note on literal values."""
    if findings:
        why = reasons(findings)
    elif subjects:
        why = f"GitHub subjects allowed: {', '.join(subjects)}; each pins one repository"
    else:
        why = "no GitHub subject can assume the role"
    return " | ".join([why, *notes])


def trust_facts(parsed: Policy, org_account_ids: Collection[str], org_id: str | None) -> dict[str, Any]:
    """RC-5.1's, RC-5.2's and RC-5.3's facts about one parsed trust policy."""
    # checks/role_trust.py turns a ValueError, TypeError or AttributeError into `parse_error`
    github = trust.oidc_grants(parsed, github=True)
    github_findings = trust.github_oidc_findings(parsed)
    subjects = trust.subjects_allowed(parsed)
    sub_notes = trust.github_subject_notes(parsed)
    others = trust.oidc_grants(parsed, github=False)
    other_findings = trust.other_oidc_findings(parsed)
    sub_findings = [f for f in github_findings if KIND_CONTROLS[f.kind] is RC_5_1]
    aud_findings = [f for f in github_findings if KIND_CONTROLS[f.kind] is RC_5_2]
    github_names = unique([g.principal.value for g, _ in github])
    other_names = unique([g.principal.value for g, _ in others])
    return {
        "github_providers": github_names,
        "github_grants": len(github),
        "subjects_allowed": subjects,
        "unpinned_subjects": sum(trust.classify_github_subject(s) != trust.PINNED for s in subjects),
        "sub_findings": evidence(RC_5_1, sub_findings),
        "sub_severity": worst_severity(RC_5_1, sub_findings),
        "sub_reason": _sub_reason(sub_findings, subjects, sub_notes),
        "sub_notes": sub_notes,
        "grants_without_audience": sum(
            not trust.requires_github_audience(g, issuer) for g, issuer in github),
        "for_all_values_conditions": sum(
            len(trust.for_all_values_claims(g, issuer)) for g, issuer in github),
        "aud_findings": evidence(RC_5_2, aud_findings),
        "aud_reason": (
            reasons(aud_findings) if aud_findings else
            f"every statement trusting GitHub requires aud = {trust.GITHUB_AUDIENCE} and no "
            "claim is tested with ForAllValues"),
        "other_providers": other_names,
        "other_grants": len(others),
        "restricted_grants": len(others) - len(other_findings),
        "other_findings": evidence(RC_5_3, other_findings),
        "other_reason": (
            reasons(other_findings) if other_findings else
            f"provider(s) {', '.join(other_names)}: every statement restricts the subject claim"),
    }


def request_facts(doc: str, org_account_ids: Collection[str], org_id: str | None) -> dict[str, Any]:
    """Concrete answers about one trust policy, from checks/iam/requests.py."""
    return {
        "github_admitting_other_repositories":
            requests.github_providers_admitting_other_repositories(doc),
        "github_admitting_other_audiences": requests.github_providers_admitting_other_audiences(doc),
        "other_admitting_any_subject": requests.other_providers_admitting_any_subject(doc),
    }


def load_g5_trust_facts(con: duckdb.DuckDBPyConnection) -> None:
    load_trust_facts(con, TRUST_FACTS, trust_facts, request_facts, TRUST_FACT_TYPES)


# RC-5.1 --------------------------------------------------------------------------------------------

RULE_5_1 = role_rule(
    RC_5_1, TRUST_FACTS,
    ("role_name", "github_providers", "github_grants", "subjects_allowed", "unpinned_subjects",
     "sub_findings", "sub_notes", "github_admitting_other_repositories"),
    "t.github_grants > 0", "json_array_length(t.sub_findings) > 0", "t.sub_severity",
    "t.sub_reason",
)


def _expect_5_1(x: Expect) -> list[Any]:
    return [x.check(x.e.ExpectColumnValuesToBeBetween, "fail",
                    "no token from a repository the trust does not name gets in",
                    column="github_admitting_other_repositories", max_value=0)]


CHECK_5_1 = Check(RULE_5_1, _expect_5_1, ("github_admitting_other_repositories",),
                  requests_cross_check=True)

# RC-5.2 --------------------------------------------------------------------------------------------

RULE_5_2 = role_rule(
    RC_5_2, TRUST_FACTS,
    ("role_name", "github_providers", "github_grants", "grants_without_audience",
     "for_all_values_conditions", "aud_findings", "github_admitting_other_audiences"),
    "t.github_grants > 0", "json_array_length(t.aud_findings) > 0", "NULL::VARCHAR",
    "t.aud_reason",
)


def _expect_5_2(x: Expect) -> list[Any]:
    between = x.e.ExpectColumnValuesToBeBetween
    return [
        x.check(between, "fail", "no token without aud = sts.amazonaws.com gets in",
                column="github_admitting_other_audiences", max_value=0),
        x.check(between, "fail", "no GitHub claim is tested with ForAllValues (read from the text)",
                x.Column("github_admitting_other_audiences") == 0,
                column="for_all_values_conditions", max_value=0),
    ]


CHECK_5_2 = Check(RULE_5_2, _expect_5_2,
                  ("github_admitting_other_audiences", "for_all_values_conditions"),
                  requests_cross_check=True)

# RC-5.3 --------------------------------------------------------------------------------------------

RULE_5_3 = role_rule(
    RC_5_3, TRUST_FACTS,
    ("role_name", "other_providers", "other_grants", "restricted_grants", "other_findings",
     "other_admitting_any_subject"),
    "t.other_grants > 0", "json_array_length(t.other_findings) > 0", "NULL::VARCHAR",
    "t.other_reason",
)


def _expect_5_3(x: Expect) -> list[Any]:
    return [x.check(x.e.ExpectColumnValuesToBeBetween, "fail",
                    "no token without a subject, or with any subject, gets in",
                    column="other_admitting_any_subject", max_value=0)]


CHECK_5_3 = Check(RULE_5_3, _expect_5_3, ("other_admitting_any_subject",),
                  requests_cross_check=True)

CHECKS: tuple[Check, ...] = (CHECK_5_1, CHECK_5_2, CHECK_5_3)
FACT_LOADERS = (load_g5_trust_facts,)
