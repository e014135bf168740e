"""Rules on role trust policies: RC-4.1 and RC-4.4 (G4), RC-5.1, RC-5.2 and RC-5.3 (G5).

Trust policies are judged by checks/policy.py, in Python, once per distinct document: roles
of one organization share few documents (a deployment role template, the service roles), so
250,000 roles with a hundred distinct trust policies cost a hundred evaluations. The facts of
each document go into the temp table `trust_facts` (one bulk insert); each rule's query joins
it to iam_roles and decides its outcome in SQL, and checks/results.py turns that into
control_results rows like every other rule. GX restates each verdict on other facts of the
same row (e.g. RC-4.1: grants to external principals vs. grants that require an ExternalId).

Decisions where CONTROLS.md is silent:
- The organization's accounts are the `accounts` table; its id is run.organization_id.
- A role whose trust policy is missing or cannot be evaluated is `error` in every control of
  this module (it might belong to any of their populations).
- RC-4.4 leaves out service-linked roles (path /aws-service-role/): AWS owns their trust
  policies and nobody can add a condition to them. Only aws:SourceAccount and aws:SourceArn
  count (CONTROLS.md), not aws:SourceOrgID.
- Severity of a failing role is its worst finding's (RC-4.1: critical for `*` without any
  condition; RC-5.1: critical or high).
- Every count reads a grant's effective conditions (its Allow's, and the inverse of each Deny
  guard that covers it, see checks/policy.py), so the GX restatements agree with the verdicts.
- RC-5.1: a sub value that StringEquals compares literally (`repo:acme/*`) admits no token; it
  is not counted as a subject and the role passes with a note in its reason (`sub_notes`):
  CONTROLS.md calls it a misconfiguration with its own reason, and RC-5.1 fails only roles
  that let a token in loosely (its severities, critical and high, are for exposure).
- Exceptions never apply: the register names IAM users (and roles for RC-6.4 only).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import duckdb

from checks import policy
from checks.results import Rule, load_facts

TRUST_FACT_TYPES: dict[str, str] = {
    "doc": "VARCHAR",
    "parse_error": "VARCHAR",
    # RC-4.1
    "external_principals": "VARCHAR[]",
    "external_grants": "INTEGER",
    "protected_grants": "INTEGER",
    "unprotected_grants": "INTEGER",
    "external_findings": "JSON",
    "external_severity": "VARCHAR",
    "external_reason": "VARCHAR",
    # RC-4.4
    "service_principals": "VARCHAR[]",
    "service_grants": "INTEGER",
    "source_pinned_grants": "INTEGER",
    "service_findings": "JSON",
    "service_reason": "VARCHAR",
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
}
_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _worst(findings: list[policy.Finding]) -> str | None:
    return min((f.severity for f in findings), key=_SEVERITY_RANK.__getitem__, default=None)


def _why(findings: list[policy.Finding]) -> str:
    return " | ".join(f.reason for f in findings)


def _sub_reason(findings: list[policy.Finding], subjects: list[str], notes: list[str]) -> str:
    """RC-5.1's reason: the findings, or the subjects allowed; then any note on literal values."""
    if findings:
        why = _why(findings)
    elif subjects:
        why = f"GitHub subjects allowed: {', '.join(subjects)}; each pins one repository"
    else:
        why = "no GitHub subject can assume the role"
    return " | ".join([why, *notes])


def trust_facts(doc: str, org_account_ids: Collection[str], org_id: str | None) -> dict[str, Any]:
    """Every fact of this module's rules about one trust policy document (JSON text)."""
    facts: dict[str, Any] = {"doc": doc}
    if not doc:
        return {**facts, "parse_error": "the trust policy was not collected"}
    try:
        parsed = policy.parse_policy(doc)
        external = policy.external_grants(parsed, org_account_ids, org_id)
        external_findings = policy.external_assume_without_external_id(
            parsed, org_account_ids, org_id)
        services = policy.service_grants(parsed)
        service_findings = policy.service_without_source_findings(parsed)
        github = policy.oidc_grants(parsed, github=True)
        github_findings = policy.github_oidc_findings(parsed)
        subjects = policy.subjects_allowed(parsed)
        sub_notes = policy.github_subject_notes(parsed)
        others = policy.oidc_grants(parsed, github=False)
        other_findings = policy.other_oidc_findings(parsed)
    except (ValueError, TypeError, AttributeError) as error:
        return {**facts, "parse_error": f"the trust policy could not be evaluated: {error}"}
    sub_findings = [f for f in github_findings if f.control_id == "RC-5.1"]
    aud_findings = [f for f in github_findings if f.control_id == "RC-5.2"]
    external_names = _unique([str(g.principal) for g in external])
    service_names = _unique([g.principal.value for g in services])
    github_names = _unique([g.principal.value for g, _ in github])
    other_names = _unique([g.principal.value for g, _ in others])
    return {
        **facts,
        "parse_error": None,
        "external_principals": external_names,
        "external_grants": len(external),
        "protected_grants": sum(
            policy.requires_external_id(g.effective_conditions) for g in external),
        "unprotected_grants": len(external_findings),
        "external_findings": [f.facts() for f in external_findings],
        "external_severity": _worst(external_findings),
        "external_reason": (
            _why(external_findings) if external_findings else
            f"every external principal ({', '.join(external_names)}) must supply an "
            "sts:ExternalId"),
        "service_principals": service_names,
        "service_grants": len(services),
        "source_pinned_grants": sum(
            policy.pins_source(g.effective_conditions) for g in services),
        "service_findings": [f.facts() for f in service_findings],
        "service_reason": (
            _why(service_findings) if service_findings else
            f"service principal(s) {', '.join(service_names)} trusted only with "
            "aws:SourceAccount or aws:SourceArn"),
        "github_providers": github_names,
        "github_grants": len(github),
        "subjects_allowed": subjects,
        "unpinned_subjects": sum(
            policy.classify_github_subject(s) != policy.PINNED for s in subjects),
        "sub_findings": [f.facts() for f in sub_findings],
        "sub_severity": _worst(sub_findings),
        "sub_reason": _sub_reason(sub_findings, subjects, sub_notes),
        "sub_notes": sub_notes,
        "grants_without_audience": sum(
            not policy.requires_github_audience(g, issuer) for g, issuer in github),
        "for_all_values_conditions": sum(
            len(policy.for_all_values_claims(g, issuer)) for g, issuer in github),
        "aud_findings": [f.facts() for f in aud_findings],
        "aud_reason": (
            _why(aud_findings) if aud_findings else
            f"every statement trusting GitHub requires aud = {policy.GITHUB_AUDIENCE} and no "
            "claim is tested with ForAllValues"),
        "other_providers": other_names,
        "other_grants": len(others),
        "restricted_grants": len(others) - len(other_findings),
        "other_findings": [f.facts() for f in other_findings],
        "other_reason": (
            _why(other_findings) if other_findings else
            f"provider(s) {', '.join(other_names)}: every statement restricts the subject claim"),
    }


def load_trust_facts(con: duckdb.DuckDBPyConnection) -> None:
    """Judge every distinct trust policy of the snapshot once, into temp table `trust_facts`."""
    org_accounts = {a for (a,) in con.execute("SELECT account_id FROM accounts").fetchall()}
    org_id = con.execute("SELECT any_value(organization_id) FROM run").fetchone()
    docs = [d for (d,) in con.execute(
        f"SELECT DISTINCT {_DOC} FROM iam_roles").fetchall()]
    rows = [trust_facts(doc, org_accounts, org_id[0] if org_id else None) for doc in docs]
    load_facts(con, "trust_facts", rows, TRUST_FACT_TYPES)


# The key a role's facts are found under: its trust policy as stored ('' when missing).
_DOC = "coalesce(CAST(trust_policy AS VARCHAR), '')"
_SERVICE_LINKED = "starts_with(coalesce(r.path, ''), '/aws-service-role/')"


def _role_query(population: str, outcome: str, severity: str, reason: str,
                facts: tuple[str, ...], extra_where: str = "") -> str:
    """SQL listing the roles of one control with their trust facts."""
    selected = ", ".join(f"t.{f}" if f != "role_name" else "r.role_name" for f in facts)
    return f"""
        SELECT r.account_id, r.arn AS resource_id, r.arn AS principal_arn,
               CASE WHEN t.parse_error IS NOT NULL THEN 'error' ELSE {outcome} END AS outcome,
               {severity} AS severity, NULL::VARCHAR AS exception_id,
               format('role {{}}: {{}}', r.role_name,
                      coalesce(t.parse_error, {reason})) AS reason,
               {selected}
        FROM iam_roles r JOIN trust_facts t ON t.doc = {_DOC.replace('trust_policy', 'r.trust_policy')}
        WHERE (t.parse_error IS NOT NULL OR {population}) {extra_where}
    """


def _role_rule(control_id: str, facts: tuple[str, ...], population: str, failing: str,
               severity: str, reason: str, extra_where: str = "") -> Rule:
    """A trust control: roles whose judged trust policy puts them in `population`."""
    return Rule(
        control_id=control_id,
        resource_type="iam_role",
        sources=("authorization",),
        facts=facts,
        query=_role_query(population, f"CASE WHEN {failing} THEN 'fail' ELSE 'pass' END",
                          severity, reason, facts, extra_where=extra_where),
    )


RC_4_1 = _role_rule(
    "RC-4.1",
    ("role_name", "external_principals", "external_grants", "protected_grants",
     "unprotected_grants", "external_findings"),
    "t.external_grants > 0", "t.unprotected_grants > 0", "t.external_severity",
    "t.external_reason",
)
RC_4_4 = _role_rule(
    "RC-4.4",
    ("role_name", "service_principals", "service_grants", "source_pinned_grants",
     "service_findings"),
    "t.service_grants > 0", "json_array_length(t.service_findings) > 0", "NULL::VARCHAR",
    "t.service_reason", extra_where=f"AND NOT {_SERVICE_LINKED}",
)
RC_5_1 = _role_rule(
    "RC-5.1",
    ("role_name", "github_providers", "github_grants", "subjects_allowed", "unpinned_subjects",
     "sub_findings", "sub_notes"),
    "t.github_grants > 0", "json_array_length(t.sub_findings) > 0", "t.sub_severity",
    "t.sub_reason",
)
RC_5_2 = _role_rule(
    "RC-5.2",
    ("role_name", "github_providers", "github_grants", "grants_without_audience",
     "for_all_values_conditions", "aud_findings"),
    "t.github_grants > 0", "json_array_length(t.aud_findings) > 0", "NULL::VARCHAR",
    "t.aud_reason",
)
RC_5_3 = _role_rule(
    "RC-5.3",
    ("role_name", "other_providers", "other_grants", "restricted_grants", "other_findings"),
    "t.other_grants > 0", "json_array_length(t.other_findings) > 0", "NULL::VARCHAR",
    "t.other_reason",
)

RULES: tuple[Rule, ...] = (RC_4_1, RC_4_4, RC_5_1, RC_5_2, RC_5_3)
