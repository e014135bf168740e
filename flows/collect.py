"""Collect one account: assume the audit role, then each IAM source, each failure recorded.

A source that fails (AccessDenied, throttling beyond the retries, an endpoint that lacks the
service) becomes a `collection_errors` row and the rest of the account is still collected;
an account is never dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from flows.snapshot import AccountData
from flows.sources import account_summary, authorization, credential_report, identity_providers
from flows.sources.organizations import Account
from flows.sources.session import AccountClients, assume_role_session

MAX_CALLS_PER_ACCOUNT = 30


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
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "ClientError")
        message = error.response.get("Error", {}).get("Message", str(error))
    else:
        code, message = type(error).__name__, str(error)
    return {
        "account_id": account_id, "source": source, "operation": operation,
        "error_code": code, "message": message, "occurred_at": datetime.now(UTC),
    }
