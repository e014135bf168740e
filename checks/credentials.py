"""Rules of G1-G3 on IAM users, access keys and root credentials, as SQL over the snapshot.

Each rule lists its control's whole population with an outcome, a reason an auditor can read,
and the facts that decided it; checks/results.py turns that into control_results rows (blocked
accounts, exceptions, evidence). Set-based SQL keeps 500,000 principals within seconds.

Days are calendar days in UTC between a date and the run date (the UTC date of
run.started_at), so they match the dates quoted in the reason: a key rotated on 2025-06-01 is
92 days old on 2025-09-01. "Older than 90 days" means more than 90 such days.

Decisions where CONTROLS.md is silent:
- RC-1.2: a key whose state or rotation date is unknown is `error`, not pass.
- RC-1.3: a never-used active key fails however new it is (CONTROLS.md: "never used"); a
  register entry listing RC-1.3 (either kind) can except it.
- RC-1.4: the credential report's root row decides; the account summary fills what it lacks
  (AccountAccessKeysPresent counts keys, active or not). No data: `error`.
- RC-2.1/2.2: users are those of iam_users; a user missing from the credential report (created
  after it was generated) is `error` in both. RC-2.2 is never excepted.
- RC-3.1: only an `external-dependency` entry (which must name its dependency) excepts.
"""

from __future__ import annotations

from checks.results import Rule

LIMIT_DAYS = 90
ROOT_USER = "<root_account>"


def _day(column: str) -> str:
    """SQL for the UTC calendar date of a TIMESTAMPTZ column.

    Through the epoch rather than AT TIME ZONE: independent of the session's TimeZone, and
    ten times faster (no ICU calendar per row).
    """
    return f"CAST(make_timestamp(epoch_us({column})) AS DATE)"


def _text(expr: str, unknown: str = "an unknown date") -> str:
    return f"coalesce(CAST({expr} AS VARCHAR), '{unknown}')"


RC_1_1 = Rule(
    control_id="RC-1.1",
    resource_type="iam_user",
    sources=("authorization",),
    exception_kinds=("external-dependency", "break-glass"),
    facts=("user_name", "created_on"),
    query=f"""
        SELECT account_id, arn AS resource_id, arn AS principal_arn, 'fail' AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               format('IAM user {{}} exists (created {{}})', user_name, {_text("created_on")})
                   AS reason,
               user_name, created_on
        FROM (SELECT *, {_day("create_date")} AS created_on FROM iam_users)
    """,
)

_KEYS = f"""
    SELECT k.*, c.today,
           {_day("k.last_rotated")} AS rotated_on,
           date_diff('day', {_day("k.last_rotated")}, c.today) AS key_age_days,
           {_day("k.last_used_date")} AS used_on,
           date_diff('day', {_day("k.last_used_date")}, c.today) AS days_since_use,
           {LIMIT_DAYS} AS limit_days
    FROM iam_access_keys k CROSS JOIN clock c
"""

RC_1_2 = Rule(
    control_id="RC-1.2",
    resource_type="access_key",
    sources=("credential_report", "access_keys"),
    facts=("user_name", "key_slot", "access_key_id", "active", "rotated_on", "key_age_days",
           "limit_days"),
    query=f"""
        SELECT account_id, resource_id, user_arn AS principal_arn,
               CASE WHEN active IS NULL OR (active AND rotated_on IS NULL) THEN 'error'
                    WHEN NOT active THEN 'pass'
                    WHEN rotated_on < today - {LIMIT_DAYS} THEN 'fail'
                    ELSE 'pass' END AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN active IS NULL
                        THEN format('access key {{}}: not known whether it is active', key_slot)
                    WHEN NOT active THEN format('access key {{}} is inactive', key_slot)
                    WHEN rotated_on IS NULL
                        THEN format('access key {{}} is active; its creation or rotation date '
                                    'is unknown', key_slot)
                    ELSE format('access key {{}} last rotated {{}}, {{}} days before the snapshot '
                                '(limit {LIMIT_DAYS})', key_slot, rotated_on, key_age_days)
               END AS reason,
               user_name, key_slot, access_key_id, active, rotated_on, key_age_days, limit_days
        FROM ({_KEYS})
    """,
)

RC_1_3 = Rule(
    control_id="RC-1.3",
    resource_type="access_key",
    sources=("credential_report", "access_keys"),
    exception_kinds=("external-dependency", "break-glass"),
    facts=("user_name", "key_slot", "access_key_id", "active", "never_used", "used_on",
           "days_since_use", "last_used_service", "limit_days"),
    query=f"""
        SELECT account_id, resource_id, user_arn AS principal_arn,
               CASE WHEN active IS NULL THEN 'error'
                    WHEN used_on IS NULL OR used_on < today - {LIMIT_DAYS} THEN 'fail'
                    ELSE 'pass' END AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN active IS NULL
                        THEN format('access key {{}}: not known whether it is active', key_slot)
                    WHEN used_on IS NULL
                        THEN format('access key {{}} is active and has never been used '
                                    '(created or rotated {{}})', key_slot, {_text("rotated_on")})
                    ELSE format('access key {{}} last used {{}} ({{}}), {{}} days before the '
                                'snapshot (limit {LIMIT_DAYS})', key_slot, used_on,
                                coalesce(last_used_service, 'service unknown'), days_since_use)
               END AS reason,
               user_name, key_slot, access_key_id, active, used_on IS NULL AS never_used,
               used_on, days_since_use, last_used_service, limit_days
        FROM ({_KEYS})
        WHERE active IS DISTINCT FROM false
    """,
)

RC_1_4 = Rule(
    control_id="RC-1.4",
    resource_type="root_user",
    sources=(),  # either the credential report or the account summary will do
    facts=("root_data_source", "root_active_key", "root_mfa_active"),
    query=f"""
        WITH account AS (
            SELECT account_id FROM accounts
            UNION SELECT account_id FROM credential_report WHERE "user" = '{ROOT_USER}'
            UNION SELECT account_id FROM account_summary),
        report AS (
            SELECT account_id, any_value(mfa_active) AS mfa,
                   any_value(access_key_1_active OR access_key_2_active) AS active_key
            FROM credential_report WHERE "user" = '{ROOT_USER}' GROUP BY account_id),
        summary AS (
            SELECT account_id, any_value(root_mfa_enabled) AS mfa,
                   any_value(root_access_keys_present) AS active_key
            FROM account_summary GROUP BY account_id),
        facts AS (
            SELECT a.account_id,
                   CASE WHEN r.account_id IS NOT NULL THEN 'credential_report'
                        WHEN s.account_id IS NOT NULL THEN 'account_summary' END
                       AS root_data_source,
                   coalesce(r.active_key, s.active_key) AS root_active_key,
                   coalesce(r.mfa, s.mfa) AS root_mfa_active
            FROM account a
            LEFT JOIN report r USING (account_id) LEFT JOIN summary s USING (account_id))
        SELECT account_id, 'arn:aws:iam::' || account_id || ':root' AS resource_id,
               NULL::VARCHAR AS principal_arn,
               CASE WHEN root_active_key OR NOT root_mfa_active THEN 'fail'
                    WHEN root_active_key IS NULL OR root_mfa_active IS NULL THEN 'error'
                    ELSE 'pass' END AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN root_data_source IS NULL
                        THEN 'no root user data: neither a credential report root row nor an '
                             'account summary was collected'
                    WHEN root_active_key OR NOT root_mfa_active
                        THEN concat_ws('; ',
                            CASE WHEN root_active_key THEN 'root user has an active access key'
                            END,
                            CASE WHEN NOT root_mfa_active THEN 'root user has no MFA' END)
                             || ' (from the ' || replace(root_data_source, '_', ' ') || ')'
                    WHEN root_active_key IS NULL OR root_mfa_active IS NULL
                        THEN 'root user access keys or MFA state unknown (from the '
                             || replace(root_data_source, '_', ' ') || ')'
                    ELSE 'root user has MFA and no active access key (from the '
                         || replace(root_data_source, '_', ' ') || ')'
               END AS reason,
               root_data_source, root_active_key, root_mfa_active
        FROM facts
    """,
)

_USERS = f"""
    SELECT u.account_id, u.arn, u.user_name, r."user" IS NOT NULL AS in_credential_report,
           r.password_enabled, r.mfa_active,
           {_day("r.password_last_used")} AS password_last_used_on
    FROM iam_users u
    LEFT JOIN credential_report r ON r.account_id = u.account_id AND r."user" = u.user_name
"""

_NOT_IN_REPORT = (
    "format('user {} is not in the credential report (created after it was generated?)', "
    "user_name)"
)

RC_2_1 = Rule(
    control_id="RC-2.1",
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
                                    user_name, {_text("password_last_used_on", "never")})
                    ELSE format('user {{}} has no console password', user_name)
               END AS reason,
               user_name, in_credential_report, password_enabled, password_last_used_on
        FROM ({_USERS})
    """,
)

RC_2_2 = Rule(
    control_id="RC-2.2",
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

RC_3_1 = Rule(
    control_id="RC-3.1",
    resource_type="iam_user",
    sources=("authorization", "credential_report", "access_keys"),
    exception_kinds=("external-dependency",),
    facts=("user_name", "has_active_key", "active_keys", "active_key_slots"),
    query="""
        WITH keys AS (
            SELECT user_arn,
                   count(*) FILTER (WHERE active) AS active_keys,
                   count(*) FILTER (WHERE active IS NULL) AS unknown_keys,
                   list(key_slot ORDER BY key_slot) FILTER (WHERE active) AS active_key_slots
            FROM iam_access_keys GROUP BY user_arn),
        facts AS (
            SELECT u.account_id, u.arn, u.user_name,
                   coalesce(k.active_keys, 0) AS active_keys, k.active_key_slots,
                   CASE WHEN k.active_keys > 0 THEN true
                        WHEN k.unknown_keys > 0 THEN NULL ELSE false END AS has_active_key
            FROM iam_users u LEFT JOIN keys k ON k.user_arn = u.arn)
        SELECT account_id, arn AS resource_id, arn AS principal_arn,
               CASE WHEN has_active_key IS NULL THEN 'error'
                    WHEN has_active_key THEN 'fail' ELSE 'pass' END AS outcome,
               NULL::VARCHAR AS severity, NULL::VARCHAR AS exception_id,
               CASE WHEN has_active_key IS NULL
                        THEN format('user {} has access keys whose state is unknown', user_name)
                    WHEN has_active_key
                        THEN format('user {} has {} active access key(s) (slot {})', user_name,
                                    active_keys, array_to_string(active_key_slots, ', '))
                    ELSE format('user {} has no active access key', user_name)
               END AS reason,
               user_name, has_active_key, active_keys, active_key_slots
        FROM facts
    """,
)

RULES: tuple[Rule, ...] = (RC_1_1, RC_1_2, RC_1_3, RC_1_4, RC_2_1, RC_2_2, RC_3_1)
