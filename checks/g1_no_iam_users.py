"""G1: no IAM users or long-lived credentials, unless an external dependency relies on them.

RC-1.1 .. RC-1.5, each with its catalogue entry, its rule (SQL over the snapshot that lists the
whole population with an outcome, a reason and the facts that decided it; checks/results.py
turns that into control_results rows) and its Great Expectations restatement.

Days are calendar days in UTC between a date and the run date (the UTC date of
run.started_at), so they match the dates quoted in the reason: a key rotated on 2025-06-01 is
92 days old on 2025-09-01. "Older than 90 days" means more than 90 such days.

Decisions where CONTROLS.md is silent:
- RC-1.2: a key whose state or rotation date is unknown is `error`, not pass.
- RC-1.3: a never-used active key fails however new it is (CONTROLS.md: "never used"); a
  register entry listing RC-1.3 (either kind) can except it.
- RC-1.4: the credential report's root row decides; the account summary fills what it lacks
  (AccountAccessKeysPresent counts keys, active or not; AccountPasswordPresent is the only
  source of the root password, the report says `not_supported`). No data: `error`.
- RC-1.4 and centralized root access (iam:ListOrganizationsFeatures, table
  organization_features): when RootCredentialsManagement is enabled, a member account's root
  user passes with the reason "centralized root access: root credentials removed" only when it
  is known to have no password, no access key (active or not) and no MFA device; one unknown
  fact and the rule above applies. The management account is never covered (AWS: the feature
  manages member accounts' roots), so its root still needs MFA. A failing member root that has
  credentials left says so; the management account's says the feature does not cover it.
  When the features call failed (AccessDenied, an endpoint without the API) the rule above
  applies and the rows are not `error`: the missing fact can only turn a fail into a pass, so
  the stricter verdict is sound, and the gap is shown twice: the source's collection error
  makes the run incomplete, and every failing member root that would pass with the feature on
  (no password, no key, no MFA) names the failure in its reason. The refusals that mean the
  feature cannot be on (no trusted access for IAM, no all-features organization) are "off".
- RC-1.5: the register is judged entry by entry by checks/exceptions.py (`judge_register`, the
  temp table register_facts); an entry whose account was not collected (authorization source
  failed) cannot be judged stale, and when it has no other problem its row is `error`, not
  pass. Role entries are stale when the role is not in iam_roles. "Runs longer than
  12 months": expires - approved_on > exception_max_days (default MAX_TERM_DAYS); without
  `approved_on`, from the run date. With require_exception_ticket, an entry without a `ticket`
  (the approval's reference) fails and excepts nothing.
"""

from __future__ import annotations

from typing import Any

from checks.control import Check, Control, GuidanceItem, Rule
from checks.expectation import FALSE, TRUE, Expect
from checks.frameworks import cis, iso, nist, pci, soc2
from checks.snapshot_sql import day, text
from store.snapshot import ROOT_USER

ITEM = GuidanceItem(
    "G1",
    "No IAM users, unless an external dependency relies on them",
    "Unless there is an external dependency that relies on IAM Users and long lived "
    "credentials, move away from their use.",
)
MAX_TERM_DAYS = 366  # "runs longer than 12 months" (RC-1.5)

# RC-1.1 --------------------------------------------------------------------------------------------

RC_1_1 = Control(
    "RC-1.1", "G1", "No IAM users without a documented exception", "high",
    "every IAM user (not the root user) in every account",
    "the user exists and no valid exception names it",
    "Move the workload to an IAM role or the person to IAM Identity Center, then delete the "
    "user; or record an expiring exception naming the external dependency.",
    requirements=(
        cis("1.21", "partial", "CIS asks for no IAM users representing individuals outside the "
            "central account; RC-1.1 fails every IAM user that no valid exception names"),
        nist("AC-2", "partial", "accounts exist only as authorized: IAM users need an approved "
             "exception"),
        soc2("CC6.2", "partial", "IAM users are registered and authorized in the exceptions "
             "register"),
        iso("A.5.16", "partial", "the IAM-user part of the identity lifecycle"),
    ),
)

RULE_1_1 = Rule(
    control=RC_1_1,
    resource_type="iam_user",
    sources=("authorization",),
    exception_kinds=("external-dependency", "break-glass"),
    facts=("user_name", "created_on"),
    query=f"""
        SELECT account_id, arn AS resource_id, arn AS principal_arn, 'fail' AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               format('IAM user {{}} exists (created {{}})', user_name, {text("created_on")})
                   AS reason,
               user_name, created_on
        FROM (SELECT *, {day("create_date")} AS created_on FROM iam_users)
    """,
)


def _expect_1_1(x: Expect) -> list[Any]:
    return [x.check(x.e.ExpectColumnValuesToBeInSet, "fail", "every IAM user is named by a valid exception",
                    column="covered_by_valid_exception", value_set=[TRUE])]


CHECK_1_1 = Check(RULE_1_1, _expect_1_1, ("covered_by_valid_exception",),
                  population_count="SELECT count(*) FROM iam_users")

# RC-1.2 --------------------------------------------------------------------------------------------

RC_1_2 = Control(
    "RC-1.2", "G1", "Access keys rotated within 90 days", "high",
    "every access key of every IAM user",
    "the key is active and older than key_age_days (default 90) days since creation or last "
    "rotation "
    "(exceptions do not cover this: excepted users still rotate)",
    "Create a new key, move the dependency to it, deactivate and delete the old key.",
    never_excepted="excepted users still rotate their keys",
    settings=("key_age_days",),
    requirements=(
        cis("1.14", "full"),
        nist("IA-5", "partial", "item f, refreshing authenticators after a set period: IAM access "
             "keys only"),
        pci("8.6.3", "partial", "periodic change of system-account credentials (access keys); PCI "
            "sets the period by targeted risk analysis (key_age_days)"),
        iso("A.5.17", "partial", "the rotation of IAM access keys"),
    ),
)

_KEYS = f"""
    SELECT k.*, c.today,
           {day("k.last_rotated")} AS rotated_on,
           date_diff('day', {day("k.last_rotated")}, c.today) AS key_age_days,
           {day("k.last_used_date")} AS used_on,
           date_diff('day', {day("k.last_used_date")}, c.today) AS days_since_use,
           getvariable('key_age_days') AS key_age_limit,
           getvariable('unused_credential_days') AS unused_limit
    FROM iam_access_keys k CROSS JOIN clock c
"""

RULE_1_2 = Rule(
    control=RC_1_2,
    resource_type="access_key",
    sources=("credential_report", "access_keys"),
    facts=("user_name", "key_slot", "access_key_id", "active", "rotated_on", "key_age_days",
           "limit_days"),
    query=f"""
        SELECT account_id, resource_id, user_arn AS principal_arn,
               CASE WHEN active IS NULL OR (active AND rotated_on IS NULL) THEN 'error'
                    WHEN NOT active THEN 'pass'
                    WHEN rotated_on < today - key_age_limit THEN 'fail'
                    ELSE 'pass' END AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN active IS NULL
                        THEN format('access key {{}}: not known whether it is active', key_slot)
                    WHEN NOT active THEN format('access key {{}} is inactive', key_slot)
                    WHEN rotated_on IS NULL
                        THEN format('access key {{}} is active; its creation or rotation date '
                                    'is unknown', key_slot)
                    ELSE format('access key {{}} last rotated {{}}, {{}} days before the snapshot '
                                '(limit {{}})', key_slot, rotated_on, key_age_days, key_age_limit)
               END AS reason,
               user_name, key_slot, access_key_id, active, rotated_on, key_age_days,
               key_age_limit AS limit_days
        FROM ({_KEYS})
    """,
)


def _expect_1_2(x: Expect) -> list[Any]:
    return [x.check(x.e.ExpectColumnValuesToBeBetween, "fail",
                    f"active keys are at most {x.settings.key_age_days} days old", x.flag("active"),
                    column="key_age_days", max_value=x.settings.key_age_days)]


CHECK_1_2 = Check(RULE_1_2, _expect_1_2, ("active", "key_age_days"),
                  population_count="SELECT count(*) FROM iam_access_keys")

# RC-1.3 --------------------------------------------------------------------------------------------

RC_1_3 = Control(
    "RC-1.3", "G1", "Active access keys are in use", "medium",
    "every active access key",
    "never used, or last used more than unused_credential_days (default 90) days before the "
    "snapshot",
    "Deactivate and delete keys nobody uses.",
    settings=("unused_credential_days",),
    requirements=(
        cis("1.12", "partial", "access keys only (unused console passwords: G3's Access Analyzer "
            "unused-access control); CIS's 45 days with the cis-aws-3.0 profile"),
        nist("AC-2(3)", "partial", "item d, inactive for an organization-defined period: IAM "
             "access keys rather than whole accounts"),
        pci("8.2.6", "partial", "inactive IAM access keys, at unused_credential_days (90 by "
            "default, as PCI asks)"),
    ),
)

RULE_1_3 = Rule(
    control=RC_1_3,
    resource_type="access_key",
    sources=("credential_report", "access_keys"),
    exception_kinds=("external-dependency", "break-glass"),
    facts=("user_name", "key_slot", "access_key_id", "active", "never_used", "used_on",
           "days_since_use", "last_used_service", "limit_days"),
    query=f"""
        SELECT account_id, resource_id, user_arn AS principal_arn,
               CASE WHEN active IS NULL THEN 'error'
                    WHEN used_on IS NULL OR used_on < today - unused_limit THEN 'fail'
                    ELSE 'pass' END AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN active IS NULL
                        THEN format('access key {{}}: not known whether it is active', key_slot)
                    WHEN used_on IS NULL
                        THEN format('access key {{}} is active and has never been used '
                                    '(created or rotated {{}})', key_slot, {text("rotated_on")})
                    ELSE format('access key {{}} last used {{}} ({{}}), {{}} days before the '
                                'snapshot (limit {{}})', key_slot, used_on,
                                coalesce(last_used_service, 'service unknown'), days_since_use,
                                unused_limit)
               END AS reason,
               user_name, key_slot, access_key_id, active, used_on IS NULL AS never_used,
               used_on, days_since_use, last_used_service, unused_limit AS limit_days
        FROM ({_KEYS})
        WHERE active IS DISTINCT FROM false
    """,
)


def _expect_1_3(x: Expect) -> list[Any]:
    active, uncovered = x.flag("active"), x.unflagged("covered_by_valid_exception")
    between, not_null = x.e.ExpectColumnValuesToBeBetween, x.e.ExpectColumnValuesToNotBeNull
    limit = x.settings.unused_credential_days
    return [
        x.check(not_null, "fail+excepted", "active keys have been used", active, column="days_since_use"),
        x.check(between, "fail+excepted", f"active keys used within {limit} days", active,
                column="days_since_use", max_value=limit),
        x.check(not_null, "fail", "unexcepted active keys have been used", active, uncovered,
                column="days_since_use"),
        x.check(between, "fail", f"unexcepted keys used within {limit} days", active, uncovered,
                column="days_since_use", max_value=limit),
    ]


CHECK_1_3 = Check(RULE_1_3, _expect_1_3, ("covered_by_valid_exception", "active", "days_since_use"),
                  population_count="SELECT count(*) FROM iam_access_keys WHERE active")

# RC-1.4 --------------------------------------------------------------------------------------------

RC_1_4 = Control(
    "RC-1.4", "G1", "Root user has no access key and has MFA", "critical",
    "the root user of every account",
    "the root user has an active access key, or has no MFA (a member account's root with no "
    "password, no access key and no MFA device passes when centralized root access is enabled)",
    "Delete root access keys; enable MFA (or centralize root access and remove root "
    "credentials from member accounts).",
    never_excepted="the root user is not an IAM user",
    requirements=(
        cis("1.4", "full"),
        cis("1.5", "partial", "a member account's root with no credentials passes without MFA when "
            "centralized root access is enabled; CIS 3.0 predates that feature"),
        nist("IA-2(1)", "partial", "the root user, the most privileged account"),
        iso("A.8.5", "partial", "root user MFA and no root access keys"),
    ),
)

_ROOT_FACTS = f"""
    WITH account AS (
        SELECT account_id FROM accounts
        UNION SELECT account_id FROM credential_report WHERE "user" = '{ROOT_USER}'
        UNION SELECT account_id FROM account_summary),
    report AS (
        SELECT account_id, any_value(mfa_active) AS mfa,
               any_value(access_key_1_active OR access_key_2_active) AS active_key,
               -- a slot holds a key when it is active or has a rotation date
               any_value(CASE WHEN access_key_1_active OR access_key_2_active
                                   OR access_key_1_last_rotated IS NOT NULL
                                   OR access_key_2_last_rotated IS NOT NULL THEN true
                              WHEN NOT access_key_1_active AND NOT access_key_2_active THEN false
                         END) AS any_key,
               any_value(password_enabled) AS password
        FROM credential_report WHERE "user" = '{ROOT_USER}' GROUP BY account_id),
    summary AS (
        SELECT account_id, any_value(root_mfa_enabled) AS mfa,
               any_value(root_access_keys_present) AS active_key,
               any_value(root_access_keys_present) AS any_key,
               any_value(root_password_present) AS password
        FROM account_summary GROUP BY account_id),
    central AS (  -- NULL when the features were not collected
        SELECT bool_or(enabled) FILTER (WHERE feature = 'RootCredentialsManagement') AS enabled
        FROM organization_features)
    SELECT a.account_id,
           CASE WHEN r.account_id IS NOT NULL THEN 'credential_report'
                WHEN s.account_id IS NOT NULL THEN 'account_summary' END AS root_data_source,
           coalesce(r.active_key, s.active_key) AS root_active_key,
           coalesce(r.mfa, s.mfa) AS root_mfa_active,
           coalesce(r.password, s.password) AS root_password_present,
           coalesce(r.any_key, s.any_key) AS root_key_present,
           EXISTS (SELECT 1 FROM management m WHERE m.account_id = a.account_id) AS is_management,
           c.enabled AS centralized_root_access
    FROM account a CROSS JOIN central c
    LEFT JOIN report r USING (account_id) LEFT JOIN summary s USING (account_id)
"""


def _state(fact: str) -> str:
    return f"CASE WHEN {fact} THEN 'present' WHEN NOT {fact} THEN 'absent' ELSE 'unknown' END"


RULE_1_4 = Rule(
    control=RC_1_4,
    resource_type="root_user",
    sources=(),  # either the credential report or the account summary will do
    facts=("root_data_source", "root_active_key", "root_mfa_active", "root_password_present",
           "root_key_present", "centralized_root_access", "root_centrally_managed"),
    query=f"""
        WITH facts AS ({_ROOT_FACTS}),
        judged AS (
            SELECT *,
                   -- the feature covers member accounts only (false for the management account)
                   NOT is_management AND centralized_root_access AS root_centrally_managed,
                   NOT is_management AND centralized_root_access AND NOT root_password_present
                       AND NOT root_key_present AND NOT root_mfa_active AS credentials_removed,
                   root_active_key OR NOT root_mfa_active AS failing,
                   ' (from the ' || replace(root_data_source, '_', ' ') || ')' AS source_note
            FROM facts),
        features_gap AS (
            SELECT string_agg(DISTINCT format('{{}} {{}}: {{}}', coalesce(operation, '?'),
                                              coalesce(error_code, '?'), coalesce(message, '')),
                              '; ') AS why
            FROM collection_errors WHERE source = 'organization_features')
        SELECT account_id, 'arn:aws:iam::' || account_id || ':root' AS resource_id,
               NULL::VARCHAR AS principal_arn,
               CASE WHEN credentials_removed THEN 'pass'
                    WHEN failing THEN 'fail'
                    WHEN root_active_key IS NULL OR root_mfa_active IS NULL THEN 'error'
                    ELSE 'pass' END AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN credentials_removed
                        THEN 'centralized root access: root credentials removed (no password, '
                             || 'no access key, no MFA device)'
                    WHEN root_data_source IS NULL
                        THEN 'no root user data: neither a credential report root row nor an '
                             'account summary was collected'
                    WHEN failing
                        THEN concat_ws('; ',
                            CASE WHEN root_active_key THEN 'root user has an active access key'
                            END,
                            CASE WHEN NOT root_mfa_active THEN 'root user has no MFA' END)
                             || source_note
                             || CASE
                                WHEN root_centrally_managed
                                    THEN '; centralized root access is enabled, but this root '
                                         || 'user''s credentials are not all known to be removed '
                                         || '(password ' || {_state("root_password_present")}
                                         || ', access key ' || {_state("root_key_present")} || ')'
                                WHEN is_management AND centralized_root_access
                                    THEN '; centralized root access does not cover the '
                                         || 'management account'
                                WHEN centralized_root_access IS NULL AND NOT is_management
                                     AND NOT root_password_present AND NOT root_key_present
                                     AND NOT root_mfa_active
                                    THEN '; with no password, access key or MFA device it '
                                         || 'would pass if centralized root access is enabled, '
                                         || 'which is not known ('
                                         || coalesce('organization_features collection failed: '
                                                     || (SELECT why FROM features_gap),
                                                     'no organization_features data')
                                         || ')'
                                ELSE '' END
                    WHEN root_active_key IS NULL OR root_mfa_active IS NULL
                        THEN 'root user access keys or MFA state unknown' || source_note
                    ELSE 'root user has MFA and no active access key' || source_note
               END AS reason,
               root_data_source, root_active_key, root_mfa_active, root_password_present,
               root_key_present, centralized_root_access, root_centrally_managed
        FROM judged
    """,
)


def _expect_1_4(x: Expect) -> list[Any]:
    """Keys, then MFA outside centralized root access, then, for centrally managed roots without
    MFA, the password and then any key (each known, and absent)."""
    col, in_set, not_null = x.Column, x.e.ExpectColumnValuesToBeInSet, x.e.ExpectColumnValuesToNotBeNull
    no_active_key = col("root_active_key") != TRUE
    managed_without_mfa = (x.flag("root_centrally_managed"), x.unflagged("root_mfa_active"))
    no_password = x.unflagged("root_password_present")
    return [
        x.check(in_set, "fail", "the root user has no active access key", column="root_active_key",
                value_set=[FALSE]),
        x.check(in_set, "fail", "the root user (without keys, not centrally managed) has MFA",
                no_active_key, col("root_centrally_managed") != TRUE,
                column="root_mfa_active", value_set=[TRUE]),
        x.check(not_null, "fail", "a centrally managed root without MFA: its password is known",
                no_active_key, *managed_without_mfa, column="root_password_present"),
        x.check(in_set, "fail", "a centrally managed root without MFA has no password",
                no_active_key, *managed_without_mfa, column="root_password_present", value_set=[FALSE]),
        x.check(not_null, "fail", "a centrally managed root without MFA or password: its keys are known",
                no_active_key, *managed_without_mfa, no_password, column="root_key_present"),
        x.check(in_set, "fail", "a centrally managed root without MFA or password has no access key",
                no_active_key, *managed_without_mfa, no_password, column="root_key_present",
                value_set=[FALSE]),
    ]


CHECK_1_4 = Check(RULE_1_4, _expect_1_4,
                  ("root_active_key", "root_mfa_active", "root_password_present", "root_key_present",
                   "root_centrally_managed"),
                  population_count="SELECT count(*) FROM account_summary")

# RC-1.5 --------------------------------------------------------------------------------------------

RC_1_5 = Control(
    "RC-1.5", "G1", "Exceptions are complete, current and not stale", "medium",
    "every entry of the exceptions register",
    "the entry has expired, lacks an owner, a reason or the external dependency, runs "
    "longer than exception_max_days (default 366) days, lacks a ticket when "
    "require_exception_ticket is set, or names a user that no longer exists (stale: low)",
    "Renew, complete or remove the entry in the exceptions register.",
    never_excepted="the register cannot except its own entries",
    severity_when={"stale": "low"},
    requirements=(
        nist("AC-2", "partial", "items c and j: approval of the IAM users the register allows and "
             "periodic review (expiry, owner, stale entries)"),
        soc2("CC6.2", "partial", "the register's approvals, owners and expiry for IAM users"),
    ),
)

RULE_1_5 = Rule(
    control=RC_1_5,
    resource_type="exception",
    per_account=False,
    facts=("kind", "controls", "expires", "approved_on", "days_to_expiry", "term_days",
           "term_from", "has_owner", "has_reason", "has_dependency", "dependency_required",
           "has_required_dependency", "principal_exists", "problems", "term_limit_days",
           "ticket", "has_ticket", "ticket_required"),
    query="SELECT * FROM register_facts",
)


def _expect_1_5(x: Expect) -> list[Any]:
    """One problem after another, each on the entries without the earlier ones, so the
    unexpected counts add up to the entries that fail."""
    col, in_set = x.Column, x.e.ExpectColumnValuesToBeInSet
    max_days = x.settings.exception_max_days
    not_expired, in_term = col("days_to_expiry") >= 0, col("term_days") <= max_days
    owned, reasoned = x.flag("has_owner"), x.flag("has_reason")
    complete = x.flag("has_required_dependency")
    # with require_exception_ticket, a ticket is one more problem before staleness
    ticketed = (x.flag("has_ticket"),) if x.settings.require_exception_ticket else ()
    ticket_checks = [
        x.check(in_set, "fail", "entries carry their approval ticket (require_exception_ticket)",
                not_expired, in_term, owned, reasoned, complete, column="has_ticket",
                value_set=[TRUE]),
    ] if ticketed else []
    return [
        x.check(x.e.ExpectColumnValuesToBeBetween, "fail", "entries have not expired",
                column="days_to_expiry", min_value=0),
        x.check(x.e.ExpectColumnValuesToBeBetween, "fail", f"entries run at most {max_days} days",
                not_expired, column="term_days", max_value=max_days),
        x.check(in_set, "fail", "entries name an owner", not_expired, in_term,
                column="has_owner", value_set=[TRUE]),
        x.check(in_set, "fail", "entries give a reason", not_expired, in_term, owned,
                column="has_reason", value_set=[TRUE]),
        x.check(in_set, "fail", "external-dependency entries name the dependency",
                not_expired, in_term, owned, reasoned, column="has_required_dependency", value_set=[TRUE]),
        *ticket_checks,
        x.check(in_set, "fail", "entries name a user that exists (else stale)",
                not_expired, in_term, owned, reasoned, complete, *ticketed, column="principal_exists",
                value_set=[TRUE]),
    ]


CHECK_1_5 = Check(RULE_1_5, _expect_1_5,
                  ("days_to_expiry", "term_days", "has_owner", "has_reason", "has_required_dependency",
                   "has_ticket", "principal_exists"),
                  population_count="SELECT count(*) FROM exceptions")

CHECKS: tuple[Check, ...] = (CHECK_1_1, CHECK_1_2, CHECK_1_3, CHECK_1_4, CHECK_1_5)
FACT_LOADERS = ()  # RC-1.5's facts come from the register (checks/exceptions.py judge_register)
