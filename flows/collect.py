"""Collect one account (assume the audit role, then each source) and the organization-level data.

One odd response costs at most that source of that account, never the run: any exception of a
source (AccessDenied, throttling beyond the retries, an endpoint that lacks the service, a body
botocore cannot parse, a timeout, the account's deadline) becomes a `collection_errors` row
with its type and message, and the rest of the account is still collected. An exception outside
every source leaves the account not collected, with the reason; an account is never dropped
silently. IAM sources come first, Access Analyzer last: when the 30-call budget or the deadline
runs short it is the analyzer that is left out, never IAM data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from flows.sources import (
    access_analyzer,
    account_summary,
    authorization,
    credential_report,
    identity_center,
    identity_providers,
    organization_features,
    organizations,
)
from flows.sources.organizations import Account, Organization
from flows.sources.session import (
    ACCOUNT_DEADLINE,
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    AccountClients,
    DeadlineExceeded,
    Limits,
    assume_role_session,
    error_code,
)
from store.coverage import CALLER_SOURCE, DETAILS_SOURCE
from store.snapshot import AccountData

MAX_CALLS_PER_ACCOUNT = 30
# get_finding_v2 calls per account at most, whatever budget is left: details are evidence only
# (external access) or narrow the migration plan (unused permissions), no control reads them.
# The ~10 calls before them (AssumeRole, credential report, authorization details, providers,
# summary, analyzers, findings) leave about 20 of the 30: external-access details get them
# first, UnusedPermission details on users the rest, one call each (a finding with more than
# one page of details costs a call per page).
MAX_FINDING_DETAILS = 20
# Sources whose failure means the account's IAM data is incomplete (accounts.collected = false).
IAM_SOURCES = ("session", "credential_report", "authorization", "account_summary")
# get_finding_v2 failures are recorded under their own source (store.coverage.DETAILS_SOURCE): the
# details are evidence shown beside the external-access findings, no rule reads them, so their
# loss must not block the Access Analyzer controls nor make the run incomplete.


def collect_account(
    base: boto3.Session,
    account: Account,
    *,
    role_name: str,
    external_id: str | None,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    account_deadline: float | None = ACCOUNT_DEADLINE,
    endpoint_url: str | None = None,
) -> tuple[AccountData, AccountClients | None]:
    """The account's rows and errors; never raises (see the module docstring).

    `account_deadline` seconds after the start no request is sent any more: every source not
    collected by then has a `Deadline` error. Timeouts apply to each attempt. `endpoint_url`:
    every client's endpoint, when it must not be left to boto3's chain (Limits).
    """
    limits = Limits.starting_now(connect_timeout, read_timeout, account_deadline, endpoint_url)
    try:
        return _collect_account(base, account, role_name, external_id, limits)
    except Exception as error:  # a bug or an odd response outside every source
        data = AccountData(account.account_id)
        data.errors.append(_error(account.account_id, "session", "CollectAccount", error))
        return data, None


def _collect_account(
    base: boto3.Session, account: Account, role_name: str, external_id: str | None,
    limits: Limits,
) -> tuple[AccountData, AccountClients | None]:
    data = AccountData(account.account_id)
    if account.is_management:
        clients = AccountClients(base, account.account_id, limits)
    else:
        try:
            session, response = assume_role_session(
                base, account.account_id, role_name, external_id, limits
            )
        except Exception as error:
            data.errors.append(_error(account.account_id, "session", "AssumeRole", error))
            data.api_calls = 1
            return data, None
        clients = AccountClients(session, account.account_id, limits)
        clients.count_external_call("session", "AssumeRole", response)
    iam = clients.client("iam", source="iam")

    def run(source: str, operation: str, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as error:
            data.errors.append(_error(account.account_id, source, operation, error))

    # AWS generates the credential report (0.5 s or more, unless one is under 4 hours old) while
    # the IAM sources below are read; it is downloaded after them, before the keys of users it
    # does not show (which need it) and Access Analyzer (which keeps the call budget's order).
    # A refused request is recorded where the report is read.
    try:
        started: credential_report.Started | Exception = credential_report.start(iam)
    except Exception as error:
        started = error
    report_rows: list[dict[str, Any]] = []

    def report() -> None:
        if isinstance(started, Exception):
            raise started
        text, generated = credential_report.fetch(iam, started=started)
        report_rows.extend(credential_report.parse(text, account.account_id, generated))
        data.credential_report_csv = text
        data.add("credential_report", report_rows)
        data.add("iam_access_keys", credential_report.access_keys(report_rows))

    pages: list[dict[str, Any]] = []

    def details() -> None:
        pages.extend(authorization.fetch(iam))
        data.add("iam_users", authorization.users(pages, account.account_id))
        data.add("iam_roles", authorization.roles(pages, account.account_id))
        data.add("iam_user_policies", authorization.user_policies(pages, account.account_id))
        data.add("iam_groups", authorization.groups(pages, account.account_id))
        data.add("iam_group_policies", authorization.group_policies(pages, account.account_id))
        data.add("iam_managed_policies", authorization.managed_policies(pages, account.account_id))

    run("authorization", "GetAccountAuthorizationDetails", details)
    aid = account.account_id
    run("identity_providers", "ListOpenIDConnectProviders",
        lambda: data.add("oidc_providers", identity_providers.oidc_providers(iam, aid)))
    run("identity_providers", "ListSAMLProviders",
        lambda: data.add("saml_providers", identity_providers.saml_providers(iam, aid)))
    run("account_summary", "GetAccountSummary",
        lambda: data.add("account_summary", [account_summary.fetch(iam, aid)]))
    run("credential_report", "GetCredentialReport", report)
    run("access_keys", "ListAccessKeys",
        lambda: data.add("iam_access_keys", _keys_missing_from_report(iam, clients, data)))
    _collect_access_analyzer(clients, data)
    if not account.is_management:  # the base session's identity is recorded with the organization
        run(CALLER_SOURCE, "GetCallerIdentity", lambda: data.add(
            "caller_identities", [caller_identity(clients, aid, "assumed-role")]))
    data.api_calls = clients.calls
    return data, clients


def iam_collected(data: AccountData) -> bool:
    """Every IAM source of the account was collected; other sources' failures do not count."""
    return not any(e["source"] in IAM_SOURCES for e in data.errors)


def _collect_access_analyzer(clients: AccountClients, data: AccountData) -> None:
    """Analyzers, then each ACTIVE analyzer's findings, then details within the budget."""
    aid = data.account_id
    try:
        aa = clients.client("accessanalyzer", source="access_analyzer")
        listed = access_analyzer.analyzers(aa, aid)
    except Exception as error:
        data.errors.append(_error(aid, "access_analyzer", "ListAnalyzers", error))
        return
    data.add("access_analyzers", listed)
    found: list[dict[str, Any]] = []
    for analyzer in listed:
        if analyzer["status"] != "ACTIVE":
            continue
        try:
            found.extend(access_analyzer.findings(aa, analyzer["arn"], aid))
        except Exception as error:
            data.errors.append(_error(aid, "access_analyzer", "ListFindingsV2", error))
    wanted = sorted((f for f in found if access_analyzer.needs_details(f)),
                    key=access_analyzer.details_priority)
    skipped: list[str] = []
    stopped: DeadlineExceeded | None = None
    for finding in wanted:
        fetched = sum(1 for f in wanted if f["details"] is not None)
        if stopped or clients.calls >= MAX_CALLS_PER_ACCOUNT or fetched >= MAX_FINDING_DETAILS:
            skipped.append(finding["finding_id"])
            continue
        try:
            finding["details"] = access_analyzer.details(
                aa, finding["analyzer_arn"], finding["finding_id"]
            )
        except DeadlineExceeded as error:
            stopped = error
            skipped.append(finding["finding_id"])
        except Exception as error:
            data.errors.append(_error(aid, DETAILS_SOURCE, "GetFindingV2", error))
    if skipped:
        code, why = ("Deadline", str(stopped)) if stopped else ("CallBudget",
                                                                 "call budget reached")
        data.errors.append({
            "account_id": aid, "source": DETAILS_SOURCE, "operation": "GetFindingV2",
            "error_code": code,
            "message": f"details of {len(skipped)} finding(s) not fetched: "
                       f"{why} (first: {', '.join(skipped[:5])})",
            "occurred_at": datetime.now(UTC),
        })
    data.add("access_analyzer_findings", found)


def collect_organization(
    base: boto3.Session,
    organization: Organization,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    account_deadline: float | None = ACCOUNT_DEADLINE,
    endpoint_url: str | None = None,
) -> tuple[AccountData, AccountClients]:
    """Organization-level data from the management account: OU tree, SCPs, the centralized root
    access features, Identity Center.

    Rows and errors are recorded under the management account (sources "organizations",
    "organization_features" and "identity_center"); their calls are counted apart from the
    account's own budget, and they have a deadline of their own. Never raises: a failure is that
    source's error.
    """
    management = organization.management_account_id
    data = AccountData(management)
    limits = Limits.starting_now(connect_timeout, read_timeout, account_deadline, endpoint_url)
    clients = AccountClients(base, management, limits)

    def run(source: str, operation: str, step: Callable[[], dict[str, list[dict[str, Any]]]]
            ) -> None:
        try:
            for table, rows in step().items():
                data.add(table, rows)
        except Exception as error:
            data.errors.append(_error(management, source, operation, error))

    run(CALLER_SOURCE, "GetCallerIdentity",
        lambda: {"caller_identities": [caller_identity(clients, management, "base")]})
    run("organizations", "ListRoots", lambda: organizations.tree_rows(organization))
    run("organizations", "ListPolicies",
        lambda: organizations.scps(clients.client("organizations", source="organizations")))
    run(organization_features.SOURCE, organization_features.OPERATION,
        lambda: {"organization_features": organization_features.fetch(
            clients.client("iam", source=organization_features.SOURCE),
            organization.organization_id)})
    run("identity_center", "ListInstances",
        lambda: identity_center.fetch(clients.client("sso-admin", source="identity_center")))
    data.api_calls = clients.calls
    return data, clients


def caller_identity(clients: AccountClients, account_id: str, session: str) -> dict[str, Any]:
    """Who is collecting in this account (sts:GetCallerIdentity): the scope section's evidence
    that the audit role, not some other principal, read the data."""
    found = clients.client("sts", source=CALLER_SOURCE).get_caller_identity()
    return {"account_id": account_id, "session": session, "arn": found.get("Arn"),
            "principal_id": found.get("UserId"), "identity_account": found.get("Account")}


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
    """A collection_errors row: the service's code and message, else the exception's type and text."""
    operation = getattr(error, "operation_name", None) or operation  # the call that failed
    code = error_code(error)
    if isinstance(error, ClientError):
        message = error.response.get("Error", {}).get("Message") or str(error)
    else:
        message = str(error) or repr(error)
    return {
        "account_id": account_id, "source": source, "operation": operation,
        "error_code": code, "message": message, "occurred_at": datetime.now(UTC),
    }
