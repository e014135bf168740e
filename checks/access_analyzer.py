"""Rules on IAM Access Analyzer: RC-3.2 (G3), RC-4.2 and RC-4.3 (G4), as SQL over the snapshot.

Findings and analyzers come from every account and from the organization-level analyzers of
the management (or delegated administrator) account. A failed listing in one account blocks
that account (`error` row); a failure in the management account leaves every member `error`,
because organization-level analyzers and their findings cover every account.

Decisions where CONTROLS.md is silent:
- A finding is one member, whatever account listed it; its account is the account owning the
  resource (resource_owner_account), and its resource_id the finding id. A finding listed
  twice (same analyzer and id) counts once, its latest state wins.
- RC-3.2: ARCHIVED and RESOLVED findings pass, an unknown status is `error`. A valid register
  entry of either kind naming the user or role excepts it (an unused break-glass password is
  the point of break-glass), as for RC-1.3.
- RC-4.2: only external-access findings on roles (AWS::IAM::Role). "Fails RC-4.1" is read from
  RC-4.1's facts (an external grant without a required ExternalId). An ACTIVE finding on a role
  missing from the snapshot, or whose trust policy could not be evaluated, is `error`.
- RC-4.3: only external-access analyzers (types ORGANIZATION and ACCOUNT) with status ACTIVE
  count, in any region; unused-access analyzers do not. The management account is in the
  population (an organization analyzer covers it too).
"""

from __future__ import annotations

from checks.results import Rule

UNUSED_ACCESS_TYPES = ("UnusedIAMUserAccessKey", "UnusedIAMUserPassword", "UnusedIAMRole")

_FINDINGS = """
    SELECT coalesce(resource_owner_account, account_id) AS account_id, finding_id,
           analyzer_arn, finding_type, resource, resource_type, upper(status) AS finding_status,
           CASE upper(status) WHEN 'ACTIVE' THEN true WHEN 'ARCHIVED' THEN false
                WHEN 'RESOLVED' THEN false END AS finding_active,
           CAST(updated_at AS VARCHAR) AS updated_at
    FROM access_analyzer_findings
    QUALIFY row_number() OVER (
        PARTITION BY analyzer_arn, finding_id ORDER BY updated_at DESC NULLS LAST) = 1
"""

RC_3_2 = Rule(
    control_id="RC-3.2",
    resource_type="access_analyzer_finding",
    sources=("access_analyzer",),
    org_sources=("access_analyzer",),
    exception_kinds=("external-dependency", "break-glass"),
    facts=("finding_type", "resource", "finding_status", "finding_active", "analyzer_arn",
           "updated_at"),
    query=f"""
        SELECT account_id, finding_id AS resource_id, resource AS principal_arn,
               CASE WHEN finding_active THEN 'fail' WHEN NOT finding_active THEN 'pass'
                    ELSE 'error' END AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN finding_active IS NULL
                        THEN format('{{}} finding on {{}} has an unknown status {{}}',
                                    finding_type, resource, coalesce(finding_status, '(none)'))
                    ELSE format('{{}} finding on {{}} is {{}}', finding_type, resource,
                                finding_status)
               END AS reason,
               finding_type, resource, finding_status, finding_active, analyzer_arn, updated_at
        FROM ({_FINDINGS})
        WHERE list_contains({list(UNUSED_ACCESS_TYPES)}, finding_type)
    """,
)

RC_4_2 = Rule(
    control_id="RC-4.2",
    resource_type="access_analyzer_finding",
    sources=("access_analyzer", "authorization"),
    org_sources=("access_analyzer",),
    facts=("resource", "finding_status", "finding_active", "analyzer_arn", "role_in_snapshot",
           "role_fails_rc_4_1", "external_principals"),
    query=f"""
        WITH finding AS ({_FINDINGS}),
        role AS (
            SELECT lower(r.arn) AS role_key, r.role_name, t.parse_error, t.unprotected_grants,
                   t.external_principals
            FROM iam_roles r
            JOIN trust_facts t ON t.doc = coalesce(CAST(r.trust_policy AS VARCHAR), '')),
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

RC_4_3 = Rule(
    control_id="RC-4.3",
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

RULES: tuple[Rule, ...] = (RC_3_2, RC_4_2, RC_4_3)
