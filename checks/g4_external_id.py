"""G4: external parties assume roles only with an External ID in the trust policy.

RC-4.1 .. RC-4.4, each with its catalogue entry, its rule and its Great Expectations
restatement. RC-4.1 and RC-4.4 judge trust policies (checks/iam answers, checks/role_trust runs
it once per distinct document into the temp table g4_trust_facts); RC-4.2 and RC-4.3 read IAM
Access Analyzer.

Decisions where CONTROLS.md is silent:
- RC-4.1: an external principal is an AWS principal whose account is not in the organization
  (an unreadable account, such as a deleted principal's unique ID, counts as external), or `*`
  unless the grant pins aws:PrincipalOrgID / PrincipalAccount / PrincipalOrgPaths to the
  organization. "Critical: `*` with no condition at all" means no Allow condition and no guard.
- RC-4.2: only external-access findings on roles (AWS::IAM::Role). "Fails RC-4.1" is read from
  RC-4.1's facts (an external grant without a required ExternalId). An ACTIVE finding on a role
  missing from the snapshot, or whose trust policy could not be evaluated, is `error`.
- RC-4.3: only external-access analyzers (types ORGANIZATION and ACCOUNT) with status ACTIVE
  count, in any region; unused-access analyzers do not. The management account is in the
  population (an organization analyzer covers it too).
- RC-4.4 leaves out service-linked roles (path /aws-service-role/): AWS owns their trust
  policies and nobody can add a condition to them. Only aws:SourceAccount and aws:SourceArn
  count (CONTROLS.md), not aws:SourceOrgID.
- Exceptions never apply: the register names IAM users (and roles, for the
  permissions-boundary control only).

The GX restatements of RC-4.1 and RC-4.4 do not reread these verdicts: they count what
checks/iam/requests.py, a separate request evaluator, finds when it puts concrete requests to
the whole policy (a caller from an outside account with no, an empty or a guessed ExternalId; a
service with no source, or from strangers' sources).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import duckdb

from checks.control import Check, Control, GuidanceItem, Rule
from checks.expectation import FALSE, Expect
from checks.frameworks import cis, iso, nist, soc2
from checks.iam import requests, trust
from checks.iam.document import Policy
from checks.role_trust import (
    SERVICE_LINKED,
    evidence,
    load_trust_facts,
    reasons,
    role_rule,
    unique,
    worst_severity,
)
from checks.snapshot_sql import ACCESS_ANALYZER_FINDINGS

ITEM = GuidanceItem(
    "G4",
    "External parties reach roles with an External ID",
    "External parties assume roles only with an External ID in the trust policy.",
)
TRUST_FACTS = "g4_trust_facts"

RC_4_1 = Control(
    "RC-4.1", "G4", "External principals must supply an External ID", "high",
    "every role whose trust policy lets a principal outside the organization call "
    "sts:AssumeRole",
    "an Allow statement for that principal has no sts:ExternalId condition with "
    "StringEquals (or StringLike without wildcards) and a non-empty value; critical when "
    "the principal is * with no condition at all",
    "Add \"Condition\": {\"StringEquals\": {\"sts:ExternalId\": \"<secret agreed with the "
    "third party>\"}} to every statement that trusts an external account; for * pin "
    "aws:PrincipalOrgID to the organization, or name the account.",
    severity_when={trust.OPEN_TO_EVERYONE: "critical"},
    requirements=(
        nist("AC-3", "partial", "role trust policies enforce an External ID for principals outside "
             "the organization"),
        soc2("CC6.6", "partial", "access from outside the system boundary needs an additional "
             "credential (the External ID)"),
    ),
)

RC_4_4 = Control(
    "RC-4.4", "G4", "Service trust names the source account or resource", "low",
    "every role (not service-linked) trusted by an AWS service principal",
    "info only: the service may assume the role without an aws:SourceAccount or "
    "aws:SourceArn condition (confused deputy)",
    "Add \"Condition\": {\"StringEquals\": {\"aws:SourceAccount\": \"<account id>\"}} or "
    "ArnLike aws:SourceArn naming the resource that uses the role.",
    requirements=(
        nist("AC-3", "partial", "service trust is confined to the source account or resource"),
    ),
)

# Which control each kind of finding of checks/iam/trust.py fails.
KIND_CONTROLS: dict[str, Control] = {
    trust.OPEN_TO_EVERYONE: RC_4_1, trust.EXTERNAL: RC_4_1, trust.SERVICE_UNCONFINED: RC_4_4}

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
    # what the request evaluator finds (for the GX restatements)
    "callers_admitted_without_external_id": "INTEGER",
    "services_admitted_from_any_source": "INTEGER",
}


def trust_facts(parsed: Policy, org_account_ids: Collection[str], org_id: str | None) -> dict[str, Any]:
    """RC-4.1's and RC-4.4's facts about one parsed trust policy."""
    # checks/role_trust.py turns a ValueError, TypeError or AttributeError into `parse_error`
    external = trust.external_grants(parsed, org_account_ids, org_id)
    external_findings = trust.external_assume_without_external_id(parsed, org_account_ids, org_id)
    services = trust.service_grants(parsed)
    service_findings = trust.service_without_source_findings(parsed)
    external_names = unique([str(g.principal) for g in external])
    service_names = unique([g.principal.value for g in services])
    return {
        "external_principals": external_names,
        "external_grants": len(external),
        "protected_grants": sum(trust.requires_external_id(g.effective_conditions) for g in external),
        "unprotected_grants": len(external_findings),
        "external_findings": evidence(RC_4_1, external_findings),
        "external_severity": worst_severity(RC_4_1, external_findings),
        "external_reason": (
            reasons(external_findings) if external_findings else
            f"every external principal ({', '.join(external_names)}) must supply an "
            "sts:ExternalId"),
        "service_principals": service_names,
        "service_grants": len(services),
        "source_pinned_grants": sum(trust.pins_source(g.effective_conditions) for g in services),
        "service_findings": evidence(RC_4_4, service_findings),
        "service_reason": (
            reasons(service_findings) if service_findings else
            f"service principal(s) {', '.join(service_names)} trusted only with "
            "aws:SourceAccount or aws:SourceArn"),
    }


def request_facts(doc: str, org_account_ids: Collection[str], org_id: str | None) -> dict[str, Any]:
    """Concrete answers about one trust policy, from checks/iam/requests.py."""
    return {
        "callers_admitted_without_external_id":
            requests.external_callers_admitted_without_external_id(doc, org_account_ids, org_id),
        "services_admitted_from_any_source": requests.services_admitted_from_any_source(doc),
    }


def load_g4_trust_facts(con: duckdb.DuckDBPyConnection) -> None:
    load_trust_facts(con, TRUST_FACTS, trust_facts, request_facts, TRUST_FACT_TYPES)


# RC-4.1 --------------------------------------------------------------------------------------------

RULE_4_1 = role_rule(
    RC_4_1, TRUST_FACTS,
    ("role_name", "external_principals", "external_grants", "protected_grants",
     "unprotected_grants", "external_findings", "callers_admitted_without_external_id"),
    "t.external_grants > 0", "t.unprotected_grants > 0", "t.external_severity",
    "t.external_reason",
)


def _expect_4_1(x: Expect) -> list[Any]:
    return [x.check(x.e.ExpectColumnValuesToBeBetween, "fail",
                    "no caller from outside the organization gets in without the ExternalId",
                    column="callers_admitted_without_external_id", max_value=0)]


CHECK_4_1 = Check(RULE_4_1, _expect_4_1, ("callers_admitted_without_external_id",),
                  requests_cross_check=True)

# RC-4.2 --------------------------------------------------------------------------------------------

RC_4_2 = Control(
    "RC-4.2", "G4", "Access Analyzer external access comes with an External ID", "high",
    "IAM Access Analyzer external-access findings on roles",
    "the finding is ACTIVE and the role fails RC-4.1",
    "Require sts:ExternalId in the role's trust policy (see RC-4.1), or remove the external "
    "principal; archive the finding only once the access is intended and protected.",
    requirements=(
        nist("AC-3", "partial", "external access that Access Analyzer finds is protected by an "
             "External ID"),
        soc2("CC6.6", "partial", "external access found by Access Analyzer is protected"),
    ),
)

RULE_4_2 = Rule(
    control=RC_4_2,
    resource_type="access_analyzer_finding",
    sources=("access_analyzer", "authorization"),
    org_sources=("access_analyzer",),
    facts=("resource", "finding_status", "finding_active", "analyzer_arn", "role_in_snapshot",
           "role_fails_rc_4_1", "external_principals"),
    query=f"""
        WITH finding AS ({ACCESS_ANALYZER_FINDINGS}),
        role AS (
            SELECT lower(r.arn) AS role_key, r.role_name, t.parse_error, t.unprotected_grants,
                   t.external_principals
            FROM iam_roles r
            JOIN g4_trust_facts t ON t.doc = coalesce(CAST(r.trust_policy AS VARCHAR), '')),
        facts AS (
            SELECT f.*, r.role_key IS NOT NULL AS role_in_snapshot, r.parse_error,
                   r.unprotected_grants > 0 AS role_fails_rc_4_1, r.external_principals
            FROM finding f LEFT JOIN role r ON r.role_key = lower(f.resource)
            WHERE f.finding_type = 'ExternalAccess'
              AND (f.resource_type = 'AWS::IAM::Role' OR f.resource LIKE 'arn:%:iam::%:role/%'))
        SELECT account_id, finding_id AS resource_id, resource AS principal_arn,
               CASE WHEN finding_active IS NULL THEN 'error'
                    WHEN NOT finding_active THEN 'pass'
                    WHEN role_fails_rc_4_1 IS NULL THEN 'error'
                    WHEN role_fails_rc_4_1 THEN 'fail' ELSE 'pass' END AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN finding_active IS NULL
                        THEN format('external-access finding on {{}} has an unknown status {{}}',
                                    resource, coalesce(finding_status, '(none)'))
                    WHEN NOT finding_active
                        THEN format('external-access finding on {{}} is {{}}', resource,
                                    finding_status)
                    WHEN NOT role_in_snapshot
                        THEN format('ACTIVE external-access finding on {{}}, a role not in the '
                                    'snapshot: RC-4.1 verdict unknown', resource)
                    WHEN role_fails_rc_4_1 IS NULL
                        THEN format('ACTIVE external-access finding on {{}}; RC-4.1 verdict '
                                    'unknown: {{}}', resource, parse_error)
                    WHEN role_fails_rc_4_1
                        THEN format('ACTIVE external-access finding on {{}}, and the role fails '
                                    'RC-4.1: an external principal ({{}}) may assume it without '
                                    'an ExternalId', resource,
                                    array_to_string(external_principals, ', '))
                    ELSE format('ACTIVE external-access finding on {{}}; the role passes RC-4.1 '
                                '(every external principal must supply an ExternalId, or none '
                                'is external to the organization)', resource)
               END AS reason,
               resource, finding_status, finding_active, analyzer_arn, role_in_snapshot,
               role_fails_rc_4_1, external_principals
        FROM facts
    """,
)


def _expect_4_2(x: Expect) -> list[Any]:
    return [x.check(x.e.ExpectColumnValuesToBeInSet, "fail",
                    "roles with ACTIVE external-access findings pass RC-4.1", x.flag("finding_active"),
                    column="role_fails_rc_4_1", value_set=[FALSE])]


CHECK_4_2 = Check(RULE_4_2, _expect_4_2, ("finding_active", "role_fails_rc_4_1"))

# RC-4.3 --------------------------------------------------------------------------------------------

RC_4_3 = Control(
    "RC-4.3", "G4", "Every account is covered by IAM Access Analyzer", "medium",
    "every account in the organization",
    "no ACTIVE external-access analyzer covers it: neither an ORGANIZATION analyzer nor an "
    "ACCOUNT analyzer in the account",
    "Create an organization analyzer in the management or delegated administrator account "
    "(aws accessanalyzer create-analyzer --type ORGANIZATION), or an account analyzer.",
    requirements=(
        cis("1.20", "partial", "every account is covered by an active analyzer; CIS asks for one "
            "in every region, which RC-4.3 does not check"),
        iso("A.8.3", "partial", "external access to roles is monitored in every account"),
    ),
)

RULE_4_3 = Rule(
    control=RC_4_3,
    resource_type="account",
    sources=("access_analyzer",),
    org_sources=("access_analyzer",),
    facts=("organization_analyzers", "account_analyzers", "covering_analyzers"),
    query="""
        WITH analyzer AS (
            SELECT account_id, arn, upper(type) AS type FROM access_analyzers
            WHERE upper(status) = 'ACTIVE' AND upper(type) IN ('ORGANIZATION', 'ACCOUNT')),
        org AS (
            SELECT count(*) AS n, coalesce(list(arn ORDER BY arn), []) AS arns
            FROM analyzer WHERE type = 'ORGANIZATION'),
        own AS (
            SELECT account_id, count(*) AS n, list(arn ORDER BY arn) AS arns
            FROM analyzer WHERE type = 'ACCOUNT' GROUP BY account_id),
        facts AS (
            SELECT a.account_id, org.n AS organization_analyzers,
                   coalesce(own.n, 0) AS account_analyzers,
                   list_concat(org.arns, coalesce(own.arns, [])) AS covering_analyzers
            FROM (SELECT DISTINCT account_id FROM accounts) a CROSS JOIN org
            LEFT JOIN own USING (account_id))
        SELECT account_id, account_id AS resource_id, NULL::VARCHAR AS principal_arn,
               CASE WHEN organization_analyzers + account_analyzers > 0 THEN 'pass'
                    ELSE 'fail' END AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN organization_analyzers + account_analyzers > 0
                        THEN format('covered by {}', array_to_string(covering_analyzers, ', '))
                    ELSE 'no ACTIVE external-access analyzer: neither an ORGANIZATION analyzer '
                         'nor an ACCOUNT analyzer in the account'
               END AS reason,
               organization_analyzers, account_analyzers, covering_analyzers
        FROM facts
    """,
)


def _expect_4_3(x: Expect) -> list[Any]:
    return [x.check(x.e.ExpectColumnValuesToBeBetween, "fail",
                    "without an organization analyzer, every account has its own",
                    x.Column("organization_analyzers") == 0, column="account_analyzers", min_value=1)]


CHECK_4_3 = Check(RULE_4_3, _expect_4_3, ("organization_analyzers", "account_analyzers"),
                  population_count="SELECT count(*) FROM accounts")

# RC-4.4 --------------------------------------------------------------------------------------------

RULE_4_4 = role_rule(
    RC_4_4, TRUST_FACTS,
    ("role_name", "service_principals", "service_grants", "source_pinned_grants",
     "service_findings", "services_admitted_from_any_source"),
    "t.service_grants > 0", "json_array_length(t.service_findings) > 0", "NULL::VARCHAR",
    "t.service_reason", extra_where=f"AND NOT {SERVICE_LINKED}",
)


def _expect_4_4(x: Expect) -> list[Any]:
    return [x.check(x.e.ExpectColumnValuesToBeBetween, "fail",
                    "no service gets in without a source, or from any source",
                    column="services_admitted_from_any_source", max_value=0)]


CHECK_4_4 = Check(RULE_4_4, _expect_4_4, ("services_admitted_from_any_source",),
                  requests_cross_check=True)

CHECKS: tuple[Check, ...] = (CHECK_4_1, CHECK_4_2, CHECK_4_3, CHECK_4_4)
FACT_LOADERS = (load_g4_trust_facts,)
