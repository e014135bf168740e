"""G2: people sign in through IAM Identity Center with short-term credentials (federated SSO).

RC-2.1 .. RC-2.3, each with its catalogue entry, its rule and its Great Expectations
restatement.

Decisions where CONTROLS.md is silent:
- RC-2.1/2.2: users are those of iam_users; a user missing from the credential report (created
  after it was generated) is `error` in both. RC-2.2 is never excepted.
- RC-2.3: one member, the organization (resource_id = run.organization_id, account_id = the
  management account, where Identity Center is collected); a failed Identity Center collection
  makes it `error` (checks/results.py, org_sources). Only instances with status ACTIVE (or no
  status reported) count as existing. "Assigned to an account" means an account_assignments
  row of an ACTIVE instance; permission sets only defined, never assigned, do not count.
"""

from __future__ import annotations

from typing import Any

from checks.control import Check, Control, GuidanceItem, Rule
from checks.expectation import FALSE, TRUE, Expect
from checks.frameworks import cis, iso, nist, soc2
from checks.snapshot_sql import day, text
from store.snapshot import ROOT_USER

ITEM = GuidanceItem(
    "G2",
    "People use IAM Identity Center with short-term credentials",
    "People sign in through IAM Identity Center with short-term credentials (federated SSO).",
)

_USERS = f"""
    SELECT u.account_id, u.arn, u.user_name, r."user" IS NOT NULL AS in_credential_report,
           r.password_enabled, r.mfa_active,
           {day("r.password_last_used")} AS password_last_used_on
    FROM iam_users u
    LEFT JOIN credential_report r ON r.account_id = u.account_id AND r."user" = u.user_name
"""

_NOT_IN_REPORT = (
    "format('user {} is not in the credential report (created after it was generated?)', "
    "user_name)"
)

# RC-2.1 --------------------------------------------------------------------------------------------

RC_2_1 = Control(
    "RC-2.1", "G2", "No console passwords for IAM users", "high",
    "every IAM user",
    "it has a console password, unless an exception of kind break-glass names it",
    "Give people access through IAM Identity Center; remove the login profile.",
    requirements=(
        cis("1.21", "partial", "console passwords mark IAM users used by people; federation "
            "itself is RC-2.3"),
        nist("AC-2", "partial", "people's accounts are managed centrally, not as IAM users"),
        soc2("CC6.1", "partial", "identification and authentication of people through the "
             "central identity service"),
        iso("A.5.16", "partial", "people's identities live in one managed store"),
    ),
)

RULE_2_1 = Rule(
    control=RC_2_1,
    resource_type="iam_user",
    sources=("authorization", "credential_report"),
    exception_kinds=("break-glass",),
    facts=("user_name", "in_credential_report", "password_enabled", "password_last_used_on"),
    query=f"""
        SELECT account_id, arn AS resource_id, arn AS principal_arn,
               CASE WHEN password_enabled IS NULL THEN 'error'
                    WHEN password_enabled THEN 'fail' ELSE 'pass' END AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN NOT in_credential_report THEN {_NOT_IN_REPORT}
                    WHEN password_enabled IS NULL
                        THEN format('user {{}}: console password state unknown', user_name)
                    WHEN password_enabled
                        THEN format('user {{}} has a console password (last sign-in {{}})',
                                    user_name, {text("password_last_used_on", "never")})
                    ELSE format('user {{}} has no console password', user_name)
               END AS reason,
               user_name, in_credential_report, password_enabled, password_last_used_on
        FROM ({_USERS})
    """,
)


def _expect_2_1(x: Expect) -> list[Any]:
    in_set = x.e.ExpectColumnValuesToBeInSet
    return [
        x.check(in_set, "fail+excepted", "IAM users have no console password", column="password_enabled",
                value_set=[FALSE]),
        x.check(in_set, "fail", "only break-glass users have a console password",
                x.unflagged("covered_by_valid_exception"), column="password_enabled", value_set=[FALSE]),
    ]


CHECK_2_1 = Check(RULE_2_1, _expect_2_1, ("covered_by_valid_exception", "password_enabled"),
                  population_count="SELECT count(*) FROM iam_users")

# RC-2.2 --------------------------------------------------------------------------------------------

RC_2_2 = Control(
    "RC-2.2", "G2", "Console users have MFA", "critical",
    "every IAM user with a console password",
    "MFA is not active",
    "Enable MFA for the user now; then remove the console password.",
    never_excepted="a console password without MFA is never acceptable",
    requirements=(
        cis("1.10", "full"),
        nist("IA-2(1)", "partial", "IAM users with a console password; Identity Center users are "
             "not checked"),
        nist("IA-2(2)", "partial", "IAM users with a console password; Identity Center users are "
             "not checked"),
        iso("A.8.5", "partial", "MFA for IAM console users"),
    ),
)

RULE_2_2 = Rule(
    control=RC_2_2,
    resource_type="iam_user",
    sources=("authorization", "credential_report"),
    facts=("user_name", "in_credential_report", "password_enabled", "mfa_active"),
    query=f"""
        SELECT account_id, arn AS resource_id, arn AS principal_arn,
               CASE WHEN password_enabled IS NULL OR mfa_active IS NULL THEN 'error'
                    WHEN NOT mfa_active THEN 'fail' ELSE 'pass' END AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN NOT in_credential_report THEN {_NOT_IN_REPORT}
                    WHEN password_enabled IS NULL
                        THEN format('user {{}}: console password state unknown', user_name)
                    WHEN mfa_active IS NULL
                        THEN format('user {{}} has a console password; MFA state unknown',
                                    user_name)
                    WHEN NOT mfa_active
                        THEN format('user {{}} has a console password and no active MFA device',
                                    user_name)
                    ELSE format('user {{}} has a console password and active MFA', user_name)
               END AS reason,
               user_name, in_credential_report, password_enabled, mfa_active
        FROM ({_USERS})
        WHERE password_enabled IS DISTINCT FROM false
    """,
)


def _expect_2_2(x: Expect) -> list[Any]:
    return [x.check(x.e.ExpectColumnValuesToBeInSet, "fail", "users with a console password have MFA",
                    x.flag("password_enabled"), column="mfa_active", value_set=[TRUE])]


CHECK_2_2 = Check(RULE_2_2, _expect_2_2, ("password_enabled", "mfa_active"),
                  population_count=f"SELECT count(*) FROM credential_report "
                                   f"WHERE password_enabled AND \"user\" <> '{ROOT_USER}'")

# RC-2.3 --------------------------------------------------------------------------------------------

RC_2_3 = Control(
    "RC-2.3", "G2", "IAM Identity Center is in use", "high",
    "the organization",
    "no IAM Identity Center instance exists, or it has no permission set assigned to any "
    "account",
    "Enable IAM Identity Center and assign permission sets to accounts.",
    requirements=(
        cis("1.21", "partial", "identity federation exists and is assigned to accounts"),
        nist("AC-2(1)", "partial", "a central, automated account service exists; how it is "
             "operated is not checked"),
        iso("A.5.16", "partial", "a central identity store is in use"),
    ),
)

RULE_2_3 = Rule(
    control=RC_2_3,
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


def _expect_2_3(x: Expect) -> list[Any]:
    between = x.e.ExpectColumnValuesToBeBetween
    return [
        x.check(between, "fail", "an IAM Identity Center instance exists", column="instances", min_value=1),
        x.check(between, "fail", "permission sets are assigned to some account", x.Column("instances") >= 1,
                column="assigned_accounts", min_value=1),
    ]


CHECK_2_3 = Check(RULE_2_3, _expect_2_3, ("instances", "assigned_accounts"),
                  population_count="SELECT count(*) FROM run")

CHECKS: tuple[Check, ...] = (CHECK_2_1, CHECK_2_2, CHECK_2_3)
FACT_LOADERS = ()
