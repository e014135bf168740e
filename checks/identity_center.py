"""RC-2.3 (G2): the organization uses IAM Identity Center, as SQL over the snapshot.

One member: the organization (resource_id = run.organization_id, account_id = the management
account, where Identity Center is collected). A failed Identity Center collection makes it
`error` (checks/results.py, org_sources).

Decisions where CONTROLS.md is silent:
- Only instances with status ACTIVE (or no status reported) count as existing.
- "Assigned to an account" means an account_assignments row of an ACTIVE instance; permission
  sets that are only defined, never assigned, do not count.
"""

from __future__ import annotations

from checks.results import Rule

RC_2_3 = Rule(
    control_id="RC-2.3",
    resource_type="organization",
    per_account=False,
    org_sources=("identity_center",),
    facts=("instances", "instance_arns", "permission_sets", "assigned_permission_sets",
           "assigned_accounts"),
    query="""
        WITH instance AS (
            SELECT DISTINCT instance_arn FROM identity_center_instances
            WHERE coalesce(upper(status), 'ACTIVE') = 'ACTIVE'),
        assigned AS (
            SELECT DISTINCT a.account_id, a.permission_set_arn
            FROM account_assignments a JOIN instance USING (instance_arn)),
        facts AS (
            SELECT (SELECT count(*) FROM instance) AS instances,
                   (SELECT coalesce(list(instance_arn ORDER BY instance_arn), [])
                    FROM instance) AS instance_arns,
                   (SELECT count(DISTINCT permission_set_arn)
                    FROM permission_sets JOIN instance USING (instance_arn)) AS permission_sets,
                   (SELECT count(DISTINCT permission_set_arn) FROM assigned)
                       AS assigned_permission_sets,
                   (SELECT count(DISTINCT account_id) FROM assigned) AS assigned_accounts)
        SELECT (SELECT min(account_id) FROM management) AS account_id,
               coalesce((SELECT any_value(organization_id) FROM run),
                        (SELECT min(account_id) FROM management), 'organization')
                   AS resource_id,
               NULL::VARCHAR AS principal_arn,
               CASE WHEN instances = 0 OR assigned_accounts = 0 THEN 'fail' ELSE 'pass' END
                   AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN instances = 0 THEN 'no IAM Identity Center instance exists'
                    WHEN assigned_accounts = 0
                        THEN format('IAM Identity Center instance {} has {} permission set(s), '
                                    'none assigned to any account',
                                    array_to_string(instance_arns, ', '), permission_sets)
                    ELSE format('IAM Identity Center in use: {} permission set(s) assigned '
                                'to {} account(s)', assigned_permission_sets, assigned_accounts)
               END AS reason,
               instances, instance_arns, permission_sets, assigned_permission_sets,
               assigned_accounts
        FROM facts
    """,
)

RULES: tuple[Rule, ...] = (RC_2_3,)
