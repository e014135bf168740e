-- Example questions for `rolecall sql`, one statement each; the first comment line names it.
-- Queries marked [history] need `rolecall sql --history`; the others read one run
-- (`--run latest` by default). Run one by pasting it, or all of them:
--   .venv/bin/rolecall sql < docs/queries.sql              (the [history] ones fail on one run)
-- Each query runs in tests/test_sql.py against the simulated organization's snapshots.

-- 01. Failures per control, most severe first: the report's summary in SQL
SELECT c.guidance_item, r.control_id, c.title, c.severity,
       count(*) FILTER (r.status = 'fail')     AS failing,
       count(*) FILTER (r.status = 'excepted') AS excepted,
       count(*) FILTER (r.status = 'error')    AS errors,
       count(*)                                AS population
FROM control_results r JOIN controls c USING (control_id)
GROUP BY c.guidance_item, r.control_id, c.title, c.severity
HAVING failing + errors > 0
ORDER BY list_position(['critical', 'high', 'medium', 'low', 'info'], c.severity), r.control_id;

-- 02. Every IAM user with its account, OU, credentials and exception
SELECT a.name AS account, a.ou_path, cr.user, cr.password_enabled, cr.mfa_active,
       cr.access_key_1_active OR cr.access_key_2_active AS has_active_key,
       greatest(cr.password_last_used, cr.access_key_1_last_used_date,
                cr.access_key_2_last_used_date)::DATE AS last_activity,
       r.status AS rc_1_1, r.exception_id
FROM credential_report cr
JOIN accounts a USING (account_id)
LEFT JOIN control_results r ON r.control_id = 'RC-1.1' AND r.resource_id = cr.arn
WHERE cr.user <> '<root_account>'
ORDER BY account, cr.user;

-- 03. Active access keys older than 90 days, oldest first, with their last use
SELECT k.account_id, k.user_name, k.key_slot,
       date_diff('day', k.last_rotated, run.started_at) AS age_days,
       k.last_used_date::DATE AS last_used, k.last_used_service
FROM iam_access_keys k, run
WHERE k.active AND k.last_rotated < run.started_at - INTERVAL 90 DAY
ORDER BY age_days DESC;

-- 04. Which roles trust an AWS account outside the organization, and do they require an External ID?
WITH statements AS (
    SELECT account_id, role_name, unnest(json_extract(trust_policy, '$.Statement[*]')) AS s
    FROM iam_roles
), principals AS (
    SELECT account_id, role_name, s,
           unnest(CASE json_type(s, '$.Principal.AWS')
                  WHEN 'ARRAY' THEN json_extract_string(s, '$.Principal.AWS[*]')
                  ELSE [json_extract_string(s, '$.Principal.AWS')] END) AS principal
    FROM statements
    WHERE json_extract_string(s, '$.Effect') = 'Allow' AND json_exists(s, '$.Principal.AWS')
)
SELECT p.account_id, p.role_name, p.principal,
       coalesce(nullif(regexp_extract(p.principal, '^(?:arn:aws[\w-]*:iam::)?(\d{12})', 1), ''),
                'any account') AS trusted_account,
       r.status AS rc_4_1, r.severity, r.reason
FROM principals p
LEFT JOIN control_results r
       ON r.control_id = 'RC-4.1' AND r.resource_id = format('arn:aws:iam::{}:role/{}', p.account_id, p.role_name)
WHERE trusted_account NOT IN (SELECT account_id FROM accounts)
ORDER BY trusted_account, p.account_id, p.role_name;

-- 05. OIDC deployment roles and the subjects (repositories) their trust admits
SELECT account_id, role_name,
       regexp_extract(json_extract_string(s, '$.Principal.Federated'), 'oidc-provider/(.*)$', 1) AS provider,
       coalesce(list_distinct(flatten(list_transform(
           json_keys(s, '$.Condition'),
           lambda op: list_transform(
               list_filter(json_keys(s, format('$.Condition."{}"', op)), lambda k: lower(k) LIKE '%:sub'),
               lambda k: format('{}: {}', op, json_extract(s, format('$.Condition."{}"."{}"', op, k))::VARCHAR))
       ))), []) AS subject_conditions
FROM (SELECT account_id, role_name, unnest(json_extract(trust_policy, '$.Statement[*]')) AS s FROM iam_roles)
WHERE json_exists(s, '$.Principal.Federated') AND json_extract_string(s, '$.Principal.Federated') LIKE '%oidc-provider/%'
ORDER BY account_id, role_name;

-- 06. Deployment roles that fail an OIDC control, with the reason
SELECT r.account_id, regexp_extract(r.resource_id, 'role/(.*)$', 1) AS role_name,
       list(r.control_id ORDER BY r.control_id) AS failing_controls,
       max(r.severity) FILTER (r.severity = 'critical') IS NOT NULL AS any_critical,
       string_agg(r.control_id || ': ' || r.reason, ' | ' ORDER BY r.control_id) AS reasons
FROM control_results r
WHERE r.guidance_item = 'G5' AND r.status = 'fail'
GROUP BY ALL
ORDER BY any_critical DESC, r.account_id, role_name;

-- 07. Exceptions register: what expires within 60 days of the run, what is already invalid
SELECT e.exception_id, e.principal, e.kind, e.owner, e.expires,
       date_diff('day', run.started_at::DATE, e.expires) AS days_left, e.valid,
       list_transform(CAST(e.problems AS JSON[]), lambda p: json_extract_string(p, '$.message')) AS problems
FROM exceptions e, run
WHERE NOT e.valid OR e.expires <= run.started_at::DATE + INTERVAL 60 DAY
   OR json_array_length(e.problems) > 0
ORDER BY e.valid, days_left;

-- 08. Accounts an SCP does not protect from new IAM users or unbounded roles (G6)
SELECT a.account_id, a.name, a.ou_path, r.control_id, r.reason
FROM control_results r JOIN accounts a USING (account_id)
WHERE r.control_id IN ('RC-6.2', 'RC-6.3') AND r.status <> 'pass'
ORDER BY a.ou_path, a.name, r.control_id;

-- 09. Roles without a permissions boundary, per account (RC-6.4)
SELECT a.name AS account, count(*) FILTER (r.status = 'fail') AS unbounded_roles,
       count(*) FILTER (r.status = 'excepted') AS excepted, count(*) AS roles,
       round(100.0 * count(*) FILTER (r.status = 'pass') / count(*), 1) AS bounded_pct
FROM control_results r JOIN accounts a USING (account_id)
WHERE r.control_id = 'RC-6.4'
GROUP BY ALL
ORDER BY unbounded_roles DESC;

-- 10. What was not collected, and which controls it leaves unproven
SELECT e.account_id, a.name, e.source, e.operation, e.error_code, e.message,
       (SELECT list(DISTINCT r.control_id ORDER BY r.control_id) FROM control_results r
        WHERE r.status = 'error' AND r.account_id = e.account_id) AS controls_in_error
FROM collection_errors e LEFT JOIN accounts a USING (account_id)
ORDER BY e.account_id, e.source;

-- 11. Active IAM Access Analyzer findings about IAM users and roles
SELECT f.resource_owner_account AS account_id, f.resource_type, f.resource, f.finding_type,
       f.status, f.created_at::DATE AS created
FROM access_analyzer_findings f
WHERE f.status = 'ACTIVE' AND f.resource_type IN ('AWS::IAM::Role', 'AWS::IAM::User')
ORDER BY account_id, f.resource;

-- 12. People signing in with IAM users in accounts that IAM Identity Center already serves
SELECT a.name AS account, cr.user, cr.mfa_active, cr.password_last_used::DATE AS last_sign_in,
       list(DISTINCT ps.name) AS permission_sets_assigned
FROM credential_report cr
JOIN accounts a USING (account_id)
JOIN account_assignments aa USING (account_id)
JOIN permission_sets ps USING (permission_set_arn)
WHERE cr.password_enabled AND cr.user <> '<root_account>'
GROUP BY ALL
ORDER BY account, cr.user;

-- 13. API calls per account: the evidence for the 30-call budget
SELECT a.name, a.account_id, a.api_calls, a.collected,
       count(p.operation) AS payloads_kept, list(DISTINCT p.operation ORDER BY p.operation) AS operations
FROM accounts a LEFT JOIN raw_payloads p USING (account_id)
GROUP BY ALL
ORDER BY a.api_calls DESC;

-- 14. [history] IAM users per account in every run: the trend behind the report's chart
SELECT r.run_id, r.started_at::DATE AS run_date, a.name AS account, count(u.user_name) AS iam_users
FROM run r
JOIN accounts a ON a.run_id = r.run_id
LEFT JOIN iam_users u ON u.run_id = r.run_id AND u.account_id = a.account_id
GROUP BY ALL
ORDER BY account, r.run_id;

-- 15. [history] Accounts that gained IAM users since the first run
WITH counts AS (
    SELECT a.run_id, a.account_id, any_value(a.name) AS name, count(u.user_name) AS users
    FROM accounts a LEFT JOIN iam_users u USING (run_id, account_id)
    GROUP BY ALL
), ends AS (
    SELECT account_id, any_value(name) AS name,
           arg_min(users, run_id) AS first_users, arg_max(users, run_id) AS latest_users,
           min(run_id) AS first_run, max(run_id) AS latest_run
    FROM counts GROUP BY account_id
)
SELECT *, latest_users - first_users AS gained
FROM ends
WHERE latest_users > first_users
ORDER BY gained DESC;

-- 16. [history] Findings that appeared or were resolved between the last two runs
WITH last_two AS (SELECT run_id FROM run ORDER BY run_id DESC LIMIT 2),
failing AS (
    SELECT run_id, control_id, resource_id FROM control_results
    WHERE status IN ('fail', 'error') AND run_id IN (SELECT run_id FROM last_two)
),
latest AS (SELECT * FROM failing WHERE run_id = (SELECT max(run_id) FROM last_two)),
previous AS (SELECT * FROM failing WHERE run_id = (SELECT min(run_id) FROM last_two))
SELECT 'new' AS change, * FROM (SELECT control_id, resource_id FROM latest
                                EXCEPT SELECT control_id, resource_id FROM previous)
UNION ALL
SELECT 'resolved', * FROM (SELECT control_id, resource_id FROM previous
                           EXCEPT SELECT control_id, resource_id FROM latest)
ORDER BY change, control_id, resource_id;

-- 17. [history] Burn-down by month (each period's latest run) and OU: the report's Migration plan chart
WITH runs AS (
    SELECT run_id, period FROM run WHERE period IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY period ORDER BY run_id DESC) = 1
), users AS (
    SELECT run_id, account_id, count(*) AS n FROM iam_users GROUP BY ALL
), credentials AS (
    SELECT run_id, account_id,
           count(*) FILTER (access_key_1_active OR access_key_2_active) AS active_keys,
           count(*) FILTER (password_enabled) AS console_users
    FROM credential_report WHERE "user" <> '<root_account>' GROUP BY ALL
)
SELECT r.period, r.run_id,
       CASE WHEN grouping(a.ou_path) = 1 THEN '(all OUs)'
            ELSE coalesce(nullif(a.ou_path, ''), '(root)') END AS ou_path,
       sum(coalesce(u.n, 0))::INT AS iam_users,
       sum(coalesce(c.active_keys, 0))::INT AS active_keys,
       sum(coalesce(c.console_users, 0))::INT AS console_users
FROM runs r
JOIN accounts a USING (run_id)
LEFT JOIN users u USING (run_id, account_id)
LEFT JOIN credentials c USING (run_id, account_id)
GROUP BY GROUPING SETS ((r.period, r.run_id), (r.period, r.run_id, a.ou_path))
ORDER BY r.period, grouping(a.ou_path) DESC, ou_path;

-- 18. [history] IAM users that came back after being removed (absent while their account was collected)
WITH runs AS (
    SELECT run_id, period FROM run WHERE period IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY period ORDER BY run_id DESC) = 1
), seen AS (
    SELECT DISTINCT r.period, u.arn, u.account_id FROM iam_users u JOIN runs r USING (run_id)
), collected AS (
    SELECT r.period, a.account_id FROM accounts a JOIN runs r USING (run_id) WHERE a.collected
), absences AS (
    SELECT x.arn, x.account_id, c.period
    FROM (SELECT DISTINCT arn, account_id FROM seen) x JOIN collected c USING (account_id)
    WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.arn = x.arn AND s.period = c.period)
      AND EXISTS (SELECT 1 FROM seen s WHERE s.arn = x.arn AND s.period < c.period)
), returns AS (
    SELECT a.arn, a.account_id, a.period AS absent_in,
           (SELECT min(s.period) FROM seen s WHERE s.arn = a.arn AND s.period > a.period) AS back_in
    FROM absences a
)
SELECT arn, account_id, min(absent_in) AS removed_in, back_in
FROM returns WHERE back_in IS NOT NULL
GROUP BY arn, account_id, back_in
ORDER BY arn, back_in;
