"""G3: services, internal and external, get access through IAM roles.

RC-3.1 and RC-3.2, each with its catalogue entry, its rule and its Great Expectations
restatement.

Decisions where CONTROLS.md is silent:
- RC-3.1: only an `external-dependency` entry (which must name its dependency) excepts.
- RC-3.2: a finding is one member, whatever account listed it; its account is the account
  owning the resource (resource_owner_account), its resource_id the finding id. A finding
  listed twice (same analyzer and id) counts once, its latest state wins. ARCHIVED and RESOLVED
  findings pass, an unknown status is `error`. A valid register entry of either kind naming the
  user or role excepts it (an unused break-glass password is the point of break-glass).
  Findings come from every account and from the organization-level analyzers of the management
  (or delegated administrator) account: a failed listing in one account blocks that account, a
  failure in the management account leaves every member `error`.
"""

from __future__ import annotations

from typing import Any

from checks.control import Check, Control, GuidanceItem, Rule
from checks.expectation import FALSE, Expect
from checks.frameworks import cis, iso, nist, pci, soc2
from checks.snapshot_sql import ACCESS_ANALYZER_FINDINGS

ITEM = GuidanceItem(
    "G3",
    "Services use IAM roles",
    "Services, internal and external, get access through IAM roles.",
)

# RC-3.1 --------------------------------------------------------------------------------------------

RC_3_1 = Control(
    "RC-3.1", "G3", "No long-lived keys without a named external dependency", "high",
    "every IAM user",
    "it has an active access key and no valid exception naming the external dependency "
    "that needs the key",
    "Give the service an IAM role (instance profile, IRSA, Roles Anywhere, OIDC) and delete "
    "the key.",
    requirements=(
        nist("AC-2", "partial", "system accounts with long-lived keys are authorized by a named "
             "external dependency"),
        pci("7.2.5", "partial", "IAM users acting as application or system accounts are assigned "
            "and managed (named dependency)"),
        soc2("CC6.1", "partial", "point of focus: credentials for infrastructure and software are "
             "authorized and documented"),
        iso("A.5.17", "partial", "allocation of long-lived keys is controlled"),
    ),
)

RULE_3_1 = Rule(
    control=RC_3_1,
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


def _expect_3_1(x: Expect) -> list[Any]:
    in_set = x.e.ExpectColumnValuesToBeInSet
    return [
        x.check(in_set, "fail+excepted", "IAM users have no active access key", column="has_active_key",
                value_set=[FALSE]),
        x.check(in_set, "fail", "only users with a named dependency have keys",
                x.unflagged("covered_by_valid_exception"), column="has_active_key", value_set=[FALSE]),
    ]


CHECK_3_1 = Check(RULE_3_1, _expect_3_1, ("covered_by_valid_exception", "has_active_key"),
                  population_count="SELECT count(*) FROM iam_users")

# RC-3.2 --------------------------------------------------------------------------------------------

RC_3_2 = Control(
    "RC-3.2", "G3", "No unused access (Access Analyzer)", "medium",
    "IAM Access Analyzer unused-access findings (UnusedIAMUserAccessKey, "
    "UnusedIAMUserPassword, UnusedIAMRole)",
    "the finding is ACTIVE",
    "Remove the unused credential or role (or archive the finding with a documented "
    "reason when it is expected, e.g. a break-glass password).",
    requirements=(
        cis("1.12", "partial", "unused keys and passwords as IAM Access Analyzer reports them, "
            "with the analyzer's own unused-access age"),
        nist("AC-2(3)", "partial", "item d, inactive credentials and roles"),
        pci("8.2.6", "partial", "inactive credentials and roles, by Access Analyzer's age"),
    ),
)

UNUSED_ACCESS_TYPES = ("UnusedIAMUserAccessKey", "UnusedIAMUserPassword", "UnusedIAMRole")

RULE_3_2 = Rule(
    control=RC_3_2,
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
        FROM ({ACCESS_ANALYZER_FINDINGS})
        WHERE list_contains({list(UNUSED_ACCESS_TYPES)}, finding_type)
    """,
)


def _expect_3_2(x: Expect) -> list[Any]:
    in_set = x.e.ExpectColumnValuesToBeInSet
    return [
        x.check(in_set, "fail+excepted", "no unused-access finding is ACTIVE", column="finding_active",
                value_set=[FALSE]),
        x.check(in_set, "fail", "only excepted principals have ACTIVE unused access",
                x.unflagged("covered_by_valid_exception"), column="finding_active", value_set=[FALSE]),
    ]


CHECK_3_2 = Check(RULE_3_2, _expect_3_2, ("covered_by_valid_exception", "finding_active"),
                  population_count="SELECT count(*) FROM access_analyzer_findings "
                                   "WHERE finding_type LIKE 'Unused%'")

CHECKS: tuple[Check, ...] = (CHECK_3_1, CHECK_3_2)
FACT_LOADERS = ()
