"""Collect one account (assume the audit role, then each source) and the organization-level data.

A source that fails (AccessDenied, throttling beyond the retries, an endpoint that lacks the
service) becomes a `collection_errors` row and the rest of the account is still collected;
an account is never dropped silently. IAM sources come first, Access Analyzer last: when the
30-call budget runs short it is the analyzer details that are left out, never IAM data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from flows.snapshot import AccountData
from flows.sources import (
    access_analyzer,
    account_summary,
    authorization,
    credential_report,
    identity_center,
    identity_providers,
    organizations,
)
from flows.sources.organizations import Account, Organization
from flows.sources.session import AccountClients, assume_role_session

MAX_CALLS_PER_ACCOUNT = 30
# get_finding_v2 calls per account at most, whatever budget is left: details are evidence only.
MAX_FINDING_DETAILS = 20
# Attempts for Access Analyzer and Identity Center: evidence beside IAM data, and where the
# service is missing every call fails; ten backed-off attempts would add ~20 s per account.
OPTIONAL_SOURCE_ATTEMPTS = 3
# Sources whose failure means the account's IAM data is incomplete (accounts.collected = false).
IAM_SOURCES = ("session", "credential_report", "authorization", "account_summary")


def collect_account(
    base: boto3.Session,
    account: Account,
    *,
    role_name: str,
    external_id: str | None,
) -> tuple[AccountData, AccountClients | None]:
    data = AccountData(account.account_id)
    if account.is_management:
        clients = AccountClients(base, account.account_id)
    else:
        try:
            session, response = assume_role_session(
                base, account.account_id, role_name, external_id
            )
        except (ClientError, BotoCoreError) as error:
            data.errors.append(_error(account.account_id, "session", "AssumeRole", error))
            data.api_calls = 1
            return data, None
        clients = AccountClients(session, account.account_id)
        clients.count_external_call("session", "AssumeRole", response)
    iam = clients.client("iam", source="iam")

    def run(source: str, operation: str, step: Callable[[], None]) -> None:
        try:
            step()
        except (ClientError, BotoCoreError, credential_report.ReportNotReady) as error:
            data.errors.append(_error(account.account_id, source, operation, error))

    report_rows: list[dict[str, Any]] = []

    def report() -> None:
        text, generated = credential_report.fetch(iam)
        report_rows.extend(credential_report.parse(text, account.account_id, generated))
        data.credential_report_csv = text
        data.add("credential_report", report_rows)
        data.add("iam_access_keys", credential_report.access_keys(report_rows))

    pages: list[dict[str, Any]] = []

    def details() -> None:
        pages.extend(authorization.fetch(iam))
        data.add("iam_users", authorization.users(pages, account.account_id))
        data.add("iam_roles", authorization.roles(pages, account.account_id))

    run("credential_report", "GetCredentialReport", report)
    run("authorization", "GetAccountAuthorizationDetails", details)
    aid = account.account_id
    run("identity_providers", "ListOpenIDConnectProviders",
        lambda: data.add("oidc_providers", identity_providers.oidc_providers(iam, aid)))
    run("identity_providers", "ListSAMLProviders",
        lambda: data.add("saml_providers", identity_providers.saml_providers(iam, aid)))
    run("account_summary", "GetAccountSummary",
        lambda: data.add("account_summary", [account_summary.fetch(iam, aid)]))
    run("access_keys", "ListAccessKeys",
        lambda: data.add("iam_access_keys", _keys_missing_from_report(iam, clients, data)))
    _collect_access_analyzer(clients, data)
    data.api_calls = clients.calls
    return data, clients


def iam_collected(data: AccountData) -> bool:
    """Every IAM source of the account was collected; other sources' failures do not count."""
    return not any(e["source"] in IAM_SOURCES for e in data.errors)


def _collect_access_analyzer(clients: AccountClients, data: AccountData) -> None:
    """Analyzers, then each ACTIVE analyzer's findings, then details within the budget."""
    aid = data.account_id
    try:
        aa = clients.client("accessanalyzer", source="access_analyzer",
                            max_attempts=OPTIONAL_SOURCE_ATTEMPTS)
        listed = access_analyzer.analyzers(aa, aid)
    except (ClientError, BotoCoreError) as error:
        data.errors.append(_error(aid, "access_analyzer", "ListAnalyzers", error))
        return
    data.add("access_analyzers", listed)
    found: list[dict[str, Any]] = []
    for analyzer in listed:
        if analyzer["status"] != "ACTIVE":
            continue
        try:
            found.extend(access_analyzer.findings(aa, analyzer["arn"], aid))
        except (ClientError, BotoCoreError) as error:
            data.errors.append(_error(aid, "access_analyzer", "ListFindingsV2", error))
    wanted = [f for f in found if access_analyzer.needs_details(f)]
    skipped: list[str] = []
    for finding in wanted:
        fetched = sum(1 for f in wanted if f["details"] is not None)
        if clients.calls >= MAX_CALLS_PER_ACCOUNT or fetched >= MAX_FINDING_DETAILS:
            skipped.append(finding["finding_id"])
            continue
        try:
            finding["details"] = access_analyzer.details(
                aa, finding["analyzer_arn"], finding["finding_id"]
            )
        except (ClientError, BotoCoreError) as error:
            data.errors.append(_error(aid, "access_analyzer", "GetFindingV2", error))
    if skipped:
        data.errors.append({
            "account_id": aid, "source": "access_analyzer", "operation": "GetFindingV2",
            "error_code": "CallBudget",
            "message": f"details of {len(skipped)} external-access finding(s) not fetched: "
                       f"call budget reached (first: {', '.join(skipped[:5])})",
            "occurred_at": datetime.now(UTC),
        })
    data.add("access_analyzer_findings", found)


def collect_organization(base: boto3.Session, organization: Organization) -> tuple[
    AccountData, AccountClients
]:
    """Organization-level data from the management account: OU tree, SCPs, Identity Center.

    Rows and errors are recorded under the management account (sources "organizations" and
    "identity_center"); their calls are counted apart from the account's own budget.
    """
    management = organization.management_account_id
    data = AccountData(management)
    clients = AccountClients(base, management)
    for table, rows in organizations.tree_rows(organization).items():
        data.add(table, rows)

    def run(source: str, operation: str, step: Callable[[], dict[str, list[dict[str, Any]]]]
            ) -> None:
        try:
            for table, rows in step().items():
                data.add(table, rows)
        except (ClientError, BotoCoreError) as error:
            data.errors.append(_error(management, source, operation, error))

    run("organizations", "ListPolicies",
        lambda: organizations.scps(clients.client("organizations", source="organizations")))
    run("identity_center", "ListInstances",
        lambda: identity_center.fetch(clients.client(
            "sso-admin", source="identity_center", max_attempts=OPTIONAL_SOURCE_ATTEMPTS)))
    data.api_calls = clients.calls
    return data, clients


def _keys_missing_from_report(
    iam: Any, clients: AccountClients, data: AccountData
) -> list[dict[str, Any]]:
    """Users created after the report was generated: only list_access_keys can describe their keys.

    Bounded by the per-account call budget; users past it are reported as collection errors.
    """
    in_report = {row["arn"] for row in data.rows.get("credential_report", [])}
    missing = [u for u in data.rows.get("iam_users", []) if u["arn"] not in in_report]
    if not data.rows.get("credential_report"):
        return []  # the report itself failed: that error already says the keys are unknown
    keys: list[dict[str, Any]] = []
    for user in missing:
        if clients.calls >= MAX_CALLS_PER_ACCOUNT:
            data.errors.append(
                {
                    "account_id": data.account_id, "source": "access_keys",
                    "operation": "ListAccessKeys", "error_code": "CallBudget",
                    "message": f"keys of {user['arn']} not listed: call budget reached",
                    "occurred_at": datetime.now(UTC),
                }
            )
            continue
        metadata = iam.list_access_keys(UserName=user["user_name"])["AccessKeyMetadata"]
        for slot, key in enumerate(sorted(metadata, key=lambda k: k["CreateDate"]), start=1):
            keys.append(
                {
                    "account_id": data.account_id, "user_name": user["user_name"],
                    "user_arn": user["arn"], "key_slot": slot,
                    "access_key_id": key["AccessKeyId"], "active": key["Status"] == "Active",
                    "last_rotated": key["CreateDate"], "last_used_date": None,
                    "last_used_service": None,
                    "resource_id": f"{user['arn']}/access_key_{slot}",
                }
            )
    return keys


def _error(account_id: str, source: str, operation: str, error: Exception) -> dict[str, Any]:
    operation = getattr(error, "operation_name", None) or operation  # the call that failed
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "ClientError")
        message = error.response.get("Error", {}).get("Message", str(error))
    else:
        code, message = type(error).__name__, str(error)
    return {
        "account_id": account_id, "source": source, "operation": operation,
        "error_code": code, "message": message, "occurred_at": datetime.now(UTC),
    }
