"""A fast simulated AWS endpoint for collection benchmarks: generated data, real latency, throttling.

Benchmark-only (bench/collect.py starts it as a child process; no product code imports it).
moto stores every user and role it is given and answers from Python objects, which is too slow
and too large for 10,000 accounts; this server stores nothing. It answers the read calls rolecall
makes during `rolecall audit` (STS, Organizations, IAM, Access Analyzer, IAM Identity Center)
from data generated on each request, deterministically from a seed: N accounts, each with U users
and R roles, in a few OUs under one root.

- Which account a request is for: AssumeRole returns an access key id "ASIA" + the account id,
  which botocore puts in the SigV4 Authorization header (Credential=<key>/…); any other key is
  the management account's.
- Which service and operation: the credential scope's service, then Action= (query protocol:
  IAM, STS), X-Amz-Target (JSON 1.1: Organizations, SSO admin) or method and path (REST-JSON:
  Access Analyzer); bodies in the protocol botocore parses.
- Latency: every answer waits --latency-ms (asyncio.sleep: many waits overlap, no CPU burnt).
- Throttling: above --rate-per-account calls/s (a token bucket per account, a burst of one
  second's worth) the service's own throttling error is returned (IAM/STS 400 Throttling,
  Organizations/SSO 400 TooManyRequestsException, Access Analyzer 429 ThrottlingException), so
  botocore's retry handles it as it would AWS's.
- Counters: calls and throttled calls per operation and per account, at GET /_stats (JSON), and
  written to --stats-file on SIGTERM.

Usage: .venv/bin/python bench/fast_endpoint.py --accounts 1000 [--users 100 --roles 100]
       [--seed 1] [--latency-ms 50] [--rate-per-account 20] [--port 0] [--stats-file PATH]
The first line on stdout is the URL it listens on (127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import signal
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote
from xml.sax.saxutils import escape

from aiohttp import web

FIRST_ACCOUNT = 100000000000  # account i is FIRST_ACCOUNT + i; account 0 is the management account
ORGANIZATION_ID = "o-bench000001"
ROOT_ID = "r-bnch"
ROLE_SESSION = "rolecall-audit"
EXTERNAL_ACCOUNT = "999999999999"  # trusted by role-0000 of every account, found by Access Analyzer
PAGE_ORGANIZATIONS = 20  # AWS's maximum page of ListAccounts & co.
PAGE_SSO = 100
_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_NAMESPACES = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/",
               "sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
_JSON_TYPE = "application/x-amz-json-1.1"
REPORT_HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated"
)


class AwsError(Exception):
    """An error answer: HTTP status and the service's error code, in the protocol's format."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class XmlMap(dict):  # type: ignore[type-arg]
    """A query-protocol map (<entry><key/><value/></entry>), as IAM's SummaryMap."""


@dataclass(frozen=True)
class Shape:
    """What the endpoint generates: every figure a test or bench compares the snapshot with."""

    accounts: int
    users: int = 100
    roles: int = 100
    seed: int = 1
    ous: int = 10
    report_started_first: bool = True  # GenerateCredentialReport says STARTED once, as AWS does

    @property
    def management_account_id(self) -> str:
        return account_id(0)

    def account_ids(self) -> list[str]:
        return [account_id(i) for i in range(self.accounts)]

    def has_account(self, account: str) -> bool:
        return account.isdigit() and 0 <= int(account) - FIRST_ACCOUNT < self.accounts

    def ou_count(self) -> int:
        return max(1, min(self.ous, self.accounts - 1))

    def user_names(self) -> list[str]:
        return [f"user-{u:04d}" for u in range(self.users)]

    def role_names(self) -> list[str]:
        return [f"role-{r:04d}" for r in range(self.roles)]

    def flags(self, account: str, index: int) -> int:
        """Deterministic pseudo-random bits of one principal (crc32: cheap, no state)."""
        return zlib.crc32(f"{self.seed}:{account}:{index}".encode())


def account_id(index: int) -> str:
    return f"{FIRST_ACCOUNT + index:012d}"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# Dates are relative to the day the endpoint started, so ages are stable within a run.
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _days_ago(days: int) -> str:
    return _iso(TODAY - timedelta(days=days))


# ---------------------------------------------------------------- generated IAM data

def credential_report(shape: Shape, account: str) -> str:
    """The account's credential report CSV: the root user, then every user."""
    lines = [REPORT_HEADER,
             f"<root_account>,arn:aws:iam::{account}:root,{_days_ago(2000)},not_supported,"
             f"{_days_ago(400)},not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,"
             "false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"]
    for u, name in enumerate(shape.user_names()):
        bits = shape.flags(account, u)
        console, mfa, key = bits & 3 == 0, bits & 4 != 0, bits & 8 == 0
        rotated = _days_ago(20 + bits % 400) if key else "N/A"
        used = _days_ago((bits >> 9) % 200) if key and bits & 16 else "N/A"
        lines.append(
            f"{name},arn:aws:iam::{account}:user/{name},{_days_ago(900)},{str(console).lower()},"
            f"{_days_ago((bits >> 4) % 300) if console else 'N/A'},"
            f"{_days_ago(100) if console else 'N/A'},N/A,{str(console and mfa).lower()},"
            f"{str(key).lower()},{rotated},{used},{'us-east-1' if used != 'N/A' else 'N/A'},"
            f"{'s3' if used != 'N/A' else 'N/A'},false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        )
    return "\n".join(lines) + "\n"


def trust_policy(account: str, index: int) -> str:
    """role-0000 trusts an outside account (Access Analyzer's finding), every 10th role another
    account of the organization with an External ID, the rest a service."""
    if index == 0:
        principal, condition = {"AWS": f"arn:aws:iam::{EXTERNAL_ACCOUNT}:root"}, None
    elif index % 10 == 0:
        principal = {"AWS": f"arn:aws:iam::{account_id(0)}:root"}
        condition = {"StringEquals": {"sts:ExternalId": "bench-external-id"}}
    else:
        principal, condition = {"Service": "ec2.amazonaws.com"}, None
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal,
                                 "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def principal_details(shape: Shape, account: str, start: int, count: int
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Users and roles number `start` to `start + count` (users first), as GAAD lists them."""
    users, roles = [], []
    for position in range(start, min(start + count, shape.users + shape.roles)):
        if position < shape.users:
            name = f"user-{position:04d}"
            users.append({
                "Path": "/", "UserName": name, "UserId": f"AIDA{account}{position:04d}",
                "Arn": f"arn:aws:iam::{account}:user/{name}", "CreateDate": _days_ago(900),
                "UserPolicyList": [], "GroupList": [],
                "AttachedManagedPolicies": [{
                    "PolicyName": "ReadOnlyAccess",
                    "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
                "Tags": [],
            })
        else:
            r = position - shape.users
            name, bits = f"role-{r:04d}", shape.flags(account, 100000 + r)
            role: dict[str, Any] = {
                "Path": "/", "RoleName": name, "RoleId": f"AROA{account}{r:04d}",
                "Arn": f"arn:aws:iam::{account}:role/{name}", "CreateDate": _days_ago(800),
                "AssumeRolePolicyDocument": quote(trust_policy(account, r), safe=""),
                "InstanceProfileList": [], "RolePolicyList": [], "Tags": [],
                "AttachedManagedPolicies": [{
                    "PolicyName": "PowerUserAccess",
                    "PolicyArn": "arn:aws:iam::aws:policy/PowerUserAccess"}],
                "RoleLastUsed": ({"LastUsedDate": _days_ago(bits % 200), "Region": "us-east-1"}
                                 if bits & 1 else {}),
            }
            roles.append(role)
    return users, roles


# ---------------------------------------------------------------- protocol rendering

def to_xml(value: Any) -> str:
    """The query protocol's XML of a value: dict → elements, list → <member>, map → <entry>."""
    if isinstance(value, XmlMap):
        return "".join(f"<entry><key>{k}</key><value>{to_xml(v)}</value></entry>"
                       for k, v in value.items())
    if isinstance(value, dict):
        return "".join(f"<{k}>{to_xml(v)}</{k}>" for k, v in value.items())
    if isinstance(value, list):
        return "".join(f"<member>{to_xml(v)}</member>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def query_body(service: str, operation: str, result: dict[str, Any], request_id: str) -> str:
    return (f'<{operation}Response xmlns="{_NAMESPACES[service]}"><{operation}Result>'
            f"{to_xml(result)}</{operation}Result><ResponseMetadata><RequestId>{request_id}"
            f"</RequestId></ResponseMetadata></{operation}Response>")


def error_response(protocol: str, error: AwsError, request_id: str) -> web.Response:
    """The error as botocore's parser of that protocol reads it (code → retry decisions)."""
    headers = {"x-amzn-RequestId": request_id}
    if protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{error.code}</Code>"
                f"<Message>{escape(error.message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        return web.Response(status=error.status, text=body, content_type="text/xml",
                            headers=headers)
    if protocol == "json":
        return web.Response(status=error.status, content_type=_JSON_TYPE, headers=headers,
                            text=json.dumps({"__type": error.code, "message": error.message}))
    headers["x-amzn-ErrorType"] = error.code
    return web.Response(status=error.status, content_type="application/json", headers=headers,
                        text=json.dumps({"message": error.message}))


def _page(items: list[Any], token: str | None, size: int, key: str) -> dict[str, Any]:
    """One page of `items` from offset `token`, with NextToken when more remain."""
    start = int(token or 0)
    page: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        page["NextToken"] = str(start + size)
    return page


# ---------------------------------------------------------------- the services

@dataclass
class Caller:
    account: str
    assumed: bool  # through AssumeRole (a member account's audit role)
    region: str


class Services:
    """Answers of every supported operation: (service, operation) → a function of the request."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.report_asked: set[str] = set()  # accounts whose report generation has begun

    # --- STS (query) ---
    def sts_AssumeRole(self, caller: Caller, params: dict[str, str]) -> dict[str, Any]:
        arn = params.get("RoleArn", "")
        target = arn.split(":")[4] if arn.count(":") >= 5 else ""
        if not self.shape.has_account(target):
            raise AwsError(403, "AccessDenied", f"not authorized to assume {arn}")
        role = arn.rsplit("/", 1)[-1]
        return {
            "Credentials": {"AccessKeyId": f"ASIA{target}",
                            "SecretAccessKey": "bench-secret", "SessionToken": f"bench-{target}",
                            "Expiration": _iso(datetime.now(UTC) + timedelta(hours=1))},
            "AssumedRoleUser": {
                "AssumedRoleId": f"AROA{target}:{params.get('RoleSessionName', ROLE_SESSION)}",
                "Arn": f"arn:aws:sts::{target}:assumed-role/{role}/"
                       f"{params.get('RoleSessionName', ROLE_SESSION)}"},
        }

    def sts_GetCallerIdentity(self, caller: Caller, params: dict[str, str]) -> dict[str, Any]:
        arn = (f"arn:aws:sts::{caller.account}:assumed-role/rolecall-audit/{ROLE_SESSION}"
               if caller.assumed else f"arn:aws:iam::{caller.account}:user/bench")
        return {"UserId": f"AIDA{caller.account}", "Account": caller.account, "Arn": arn}

    # --- IAM (query) ---
    def iam_GenerateCredentialReport(self, caller: Caller, params: dict[str, str]
                                     ) -> dict[str, Any]:
        if self.shape.report_started_first and caller.account not in self.report_asked:
            self.report_asked.add(caller.account)
            return {"State": "STARTED", "Description": "No report exists. Starting a new report."}
        return {"State": "COMPLETE"}

    def iam_GetCredentialReport(self, caller: Caller, params: dict[str, str]) -> dict[str, Any]:
        content = credential_report(self.shape, caller.account).encode()
        return {"Content": base64.b64encode(content).decode(), "ReportFormat": "text/csv",
                "GeneratedTime": _iso(datetime.now(UTC))}

    def iam_GetAccountAuthorizationDetails(self, caller: Caller, params: dict[str, str]
                                           ) -> dict[str, Any]:
        start, size = int(params.get("Marker") or 0), int(params.get("MaxItems") or 100)
        users, roles = principal_details(self.shape, caller.account, start, size)
        result: dict[str, Any] = {"UserDetailList": users, "GroupDetailList": [],
                                  "RoleDetailList": roles, "Policies": []}
        more = start + size < self.shape.users + self.shape.roles
        result["IsTruncated"] = more
        if more:
            result["Marker"] = str(start + size)
        return result

    def iam_GetAccountSummary(self, caller: Caller, params: dict[str, str]) -> dict[str, Any]:
        return {"SummaryMap": XmlMap({
            "Users": self.shape.users, "Roles": self.shape.roles, "Groups": 0,
            "AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0, "AccountPasswordPresent": 1,
            "Policies": 0, "MFADevices": 1, "MFADevicesInUse": 1})}

    def iam_ListOpenIDConnectProviders(self, caller: Caller, params: dict[str, str]
                                       ) -> dict[str, Any]:
        return {"OpenIDConnectProviderList": [
            {"Arn": f"arn:aws:iam::{caller.account}:oidc-provider/"
                    "token.actions.githubusercontent.com"}]}

    def iam_ListSAMLProviders(self, caller: Caller, params: dict[str, str]) -> dict[str, Any]:
        return {"SAMLProviderList": []}

    def iam_ListAccessKeys(self, caller: Caller, params: dict[str, str]) -> dict[str, Any]:
        return {"AccessKeyMetadata": [], "IsTruncated": False}

    def iam_ListOrganizationsFeatures(self, caller: Caller, params: dict[str, str]
                                      ) -> dict[str, Any]:
        return {"OrganizationId": ORGANIZATION_ID,
                "EnabledFeatures": ["RootCredentialsManagement"]}

    # --- Organizations (JSON 1.1) ---
    def _account(self, index: int) -> dict[str, Any]:
        account = account_id(index)
        return {"Id": account, "Arn": f"arn:aws:organizations::{account_id(0)}:account/"
                                      f"{ORGANIZATION_ID}/{account}",
                "Email": f"aws+{account}@example.com", "Name": f"bench-{index:05d}",
                "Status": "ACTIVE", "JoinedMethod": "CREATED",
                "JoinedTimestamp": (TODAY - timedelta(days=700)).timestamp()}

    def _ou_id(self, index: int) -> str:
        return f"ou-bnch-{index:08d}"

    def organizations_DescribeOrganization(self, caller: Caller, params: dict[str, Any]
                                           ) -> dict[str, Any]:
        management = account_id(0)
        return {"Organization": {
            "Id": ORGANIZATION_ID,
            "Arn": f"arn:aws:organizations::{management}:organization/{ORGANIZATION_ID}",
            "FeatureSet": "ALL", "MasterAccountId": management,
            "MasterAccountArn": f"arn:aws:organizations::{management}:account/"
                                f"{ORGANIZATION_ID}/{management}",
            "MasterAccountEmail": f"aws+{management}@example.com",
            "AvailablePolicyTypes": [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]}}

    def organizations_ListRoots(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return {"Roots": [{
            "Id": ROOT_ID, "Name": "Root",
            "Arn": f"arn:aws:organizations::{account_id(0)}:root/{ORGANIZATION_ID}/{ROOT_ID}",
            "PolicyTypes": [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]}]}

    def organizations_ListAccounts(self, caller: Caller, params: dict[str, Any]
                                   ) -> dict[str, Any]:
        start = int(params.get("NextToken") or 0)
        size = min(int(params.get("MaxResults") or PAGE_ORGANIZATIONS), PAGE_ORGANIZATIONS)
        page: dict[str, Any] = {"Accounts": [self._account(i) for i in
                                             range(start, min(start + size, self.shape.accounts))]}
        if start + size < self.shape.accounts:
            page["NextToken"] = str(start + size)
        return page

    def organizations_ListAccountsForParent(self, caller: Caller, params: dict[str, Any]
                                            ) -> dict[str, Any]:
        """The management account sits at the root, account i (i ≥ 1) in OU (i - 1) % ous."""
        parent, ous = params.get("ParentId"), self.shape.ou_count()
        if parent == ROOT_ID:
            members = [0]
        elif parent and parent.startswith("ou-bnch-"):
            ou = int(parent.rsplit("-", 1)[-1])
            members = list(range(1 + ou, self.shape.accounts, ous))
        else:
            raise AwsError(400, "ParentNotFoundException", f"no parent {parent}")
        page = _page(members, params.get("NextToken"), PAGE_ORGANIZATIONS, "Accounts")
        page["Accounts"] = [self._account(i) for i in page["Accounts"]]
        return page

    def organizations_ListOrganizationalUnitsForParent(self, caller: Caller,
                                                       params: dict[str, Any]) -> dict[str, Any]:
        units = ([] if params.get("ParentId") != ROOT_ID or self.shape.accounts < 2 else
                 [{"Id": self._ou_id(i), "Name": f"unit-{i:02d}",
                   "Arn": f"arn:aws:organizations::{account_id(0)}:ou/{ORGANIZATION_ID}/"
                          f"{self._ou_id(i)}"} for i in range(self.shape.ou_count())])
        return _page(units, params.get("NextToken"), PAGE_ORGANIZATIONS, "OrganizationalUnits")

    def _policies(self) -> list[dict[str, Any]]:
        return [{"Id": policy_id, "Name": name, "Description": name, "AwsManaged": managed,
                 "Type": "SERVICE_CONTROL_POLICY",
                 "Arn": f"arn:aws:organizations::aws:policy/service_control_policy/{policy_id}"}
                for policy_id, name, managed in (("p-FullAWSAccess", "FullAWSAccess", True),
                                                 ("p-bnchdenyleave", "DenyLeaveOrg", False))]

    def organizations_ListPolicies(self, caller: Caller, params: dict[str, Any]
                                   ) -> dict[str, Any]:
        return {"Policies": self._policies()}

    def organizations_DescribePolicy(self, caller: Caller, params: dict[str, Any]
                                     ) -> dict[str, Any]:
        found = [p for p in self._policies() if p["Id"] == params.get("PolicyId")]
        if not found:
            raise AwsError(400, "PolicyNotFoundException", "no such policy")
        statement = ({"Effect": "Allow", "Action": "*", "Resource": "*"}
                     if found[0]["AwsManaged"] else
                     {"Effect": "Deny", "Action": "organizations:LeaveOrganization",
                      "Resource": "*"})
        return {"Policy": {"PolicySummary": found[0], "Content": json.dumps(
            {"Version": "2012-10-17", "Statement": [statement]})}}

    def organizations_ListTargetsForPolicy(self, caller: Caller, params: dict[str, Any]
                                           ) -> dict[str, Any]:
        return {"Targets": [{"TargetId": ROOT_ID, "Type": "ROOT", "Name": "Root",
                             "Arn": f"arn:aws:organizations::{account_id(0)}:root/"
                                    f"{ORGANIZATION_ID}/{ROOT_ID}"}]}

    # --- IAM Identity Center admin (JSON 1.1, signing name "sso") ---
    _INSTANCE = "arn:aws:sso:::instance/ssoins-bench00000001"

    def _permission_sets(self) -> list[str]:
        return [f"arn:aws:sso:::permissionSet/ssoins-bench00000001/ps-bench{i:08d}"
                for i in range(2)]

    def sso_ListInstances(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return {"Instances": [{"InstanceArn": self._INSTANCE, "IdentityStoreId": "d-bench00001",
                               "OwnerAccountId": account_id(0), "Status": "ACTIVE",
                               "Name": "bench"}]}

    def sso_ListPermissionSets(self, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
        return {"PermissionSets": self._permission_sets()}

    def sso_DescribePermissionSet(self, caller: Caller, params: dict[str, Any]
                                  ) -> dict[str, Any]:
        arn = params.get("PermissionSetArn", "")
        return {"PermissionSet": {"PermissionSetArn": arn, "Name": arn.rsplit("/", 1)[-1],
                                  "SessionDuration": "PT1H",
                                  "CreatedDate": (TODAY - timedelta(days=300)).timestamp()}}

    def sso_ListAccountsForProvisionedPermissionSet(self, caller: Caller,
                                                    params: dict[str, Any]) -> dict[str, Any]:
        """The first permission set is provisioned to every account, the second to none."""
        everyone = params.get("PermissionSetArn") == self._permission_sets()[0]
        accounts = self.shape.account_ids() if everyone else []
        size = min(int(params.get("MaxResults") or PAGE_SSO), PAGE_SSO)
        return _page(accounts, params.get("NextToken"), size, "AccountIds")

    # --- IAM Access Analyzer (REST-JSON) ---
    def _analyzer_arn(self, caller: Caller) -> str:
        return f"arn:aws:access-analyzer:{caller.region}:{caller.account}:analyzer/bench"

    def _findings(self, caller: Caller) -> list[dict[str, Any]]:
        """role-0000's external access (ACTIVE: its details are fetched), an archived one, and
        a bucket shared outside (ACTIVE, not a role: no details)."""
        account, when = caller.account, _days_ago(30)
        base = {"analyzedAt": when, "createdAt": when, "updatedAt": when,
                "resourceOwnerAccount": account, "findingType": "ExternalAccess"}
        return [
            {**base, "id": f"{account}-0", "resource": f"arn:aws:iam::{account}:role/role-0000",
             "resourceType": "AWS::IAM::Role", "status": "ACTIVE"},
            {**base, "id": f"{account}-1", "resource": f"arn:aws:iam::{account}:role/role-0001",
             "resourceType": "AWS::IAM::Role", "status": "ARCHIVED"},
            {**base, "id": f"{account}-2", "resource": f"arn:aws:s3:::bench-{account}",
             "resourceType": "AWS::S3::Bucket", "status": "ACTIVE"},
        ][: 3 if self.shape.roles >= 2 else 1]

    def accessanalyzer_ListAnalyzers(self, caller: Caller, params: dict[str, Any]
                                     ) -> dict[str, Any]:
        return {"analyzers": [{"arn": self._analyzer_arn(caller), "name": "bench",
                               "type": "ACCOUNT", "status": "ACTIVE",
                               "createdAt": _days_ago(365)}]}

    def accessanalyzer_ListFindingsV2(self, caller: Caller, params: dict[str, Any]
                                      ) -> dict[str, Any]:
        return {"findings": self._findings(caller) if self.shape.roles else []}

    def accessanalyzer_GetFindingV2(self, caller: Caller, params: dict[str, Any]
                                    ) -> dict[str, Any]:
        found = [f for f in self._findings(caller) if f["id"] == params.get("id")]
        if not found:
            raise AwsError(404, "ResourceNotFoundException", "no such finding")
        return {**found[0], "findingDetails": [{"externalAccessDetails": {
            "action": ["sts:AssumeRole"], "condition": {}, "isPublic": False,
            "principal": {"AWS": f"arn:aws:iam::{EXTERNAL_ACCOUNT}:root"}}}]}


# ---------------------------------------------------------------- throttling and counting

@dataclass
class Bucket:
    tokens: float
    updated: float


@dataclass
class Stats:
    """Calls and throttled calls per operation and per account."""

    started: float = field(default_factory=time.monotonic)
    calls: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    per_account: Counter[str] = field(default_factory=Counter)
    throttled_per_account: Counter[str] = field(default_factory=Counter)

    def summary(self, shape: Shape) -> dict[str, Any]:
        management = shape.management_account_id
        members = [n for a, n in self.per_account.items() if a != management]
        return {
            "calls": sum(self.calls.values()), "throttled": sum(self.throttled.values()),
            "by_operation": dict(sorted(self.calls.items())),
            "throttled_by_operation": dict(sorted(self.throttled.items())),
            "accounts_seen": len(self.per_account),
            "management_calls": self.per_account.get(management, 0),
            "member_calls_min": min(members, default=0),
            "member_calls_max": max(members, default=0),
            "member_calls_mean": sum(members) / len(members) if members else 0.0,
            "accounts_throttled": len(self.throttled_per_account),
            "seconds_up": time.monotonic() - self.started,
        }


class Throttle:
    """A token bucket per account: `rate` calls/s, a burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.buckets: dict[str, Bucket] = {}

    def allow(self, account: str, now: float) -> bool:
        if self.rate <= 0:
            return True
        bucket = self.buckets.get(account)
        if bucket is None:
            bucket = self.buckets[account] = Bucket(self.rate, now)
        bucket.tokens = min(self.rate, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True


_THROTTLING = {"query": AwsError(400, "Throttling", "Rate exceeded"),
               "json": AwsError(400, "TooManyRequestsException", "Rate exceeded"),
               "rest-json": AwsError(429, "ThrottlingException", "Rate exceeded")}
_PROTOCOLS = {"iam": "query", "sts": "query", "organizations": "json", "sso": "json",
              "access-analyzer": "rest-json"}
_PREFIX = {"access-analyzer": "accessanalyzer"}


class Endpoint:
    """The aiohttp application: route, throttle, wait, answer, count."""

    def __init__(self, shape: Shape, latency: float, rate: float) -> None:
        self.shape, self.latency = shape, latency
        self.services = Services(shape)
        self.throttle = Throttle(rate)
        self.stats = Stats()
        self.requests = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/_stats", self.stats_view)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def stats_view(self, request: web.Request) -> web.Response:
        summary = self.stats.summary(self.shape)
        if request.query.get("accounts"):
            summary["per_account"] = dict(self.stats.per_account)
        return web.json_response(summary)

    def caller(self, request: web.Request) -> tuple[Caller, str]:
        match = _SCOPE.search(request.headers.get("Authorization", ""))
        if not match:
            raise AwsError(403, "MissingAuthenticationToken", "request is not signed")
        key, region, service = match.groups()
        account = key[4:] if key.startswith("ASIA") and key[4:].isdigit() else account_id(0)
        return Caller(account, key.startswith("ASIA"), region), service

    async def operation(self, request: web.Request, service: str
                        ) -> tuple[str, dict[str, Any]]:
        protocol = _PROTOCOLS.get(service)
        if protocol == "query":
            params = {k: v[0] for k, v in parse_qs(await request.text()).items()}
            return params.get("Action", ""), params
        if protocol == "json":
            target = request.headers.get("X-Amz-Target", "")
            body = await request.read()
            return target.rsplit(".", 1)[-1], json.loads(body) if body else {}
        if protocol == "rest-json":
            return self.rest_operation(request, await request.read())
        raise AwsError(400, "UnknownService", f"service {service} is not simulated")

    @staticmethod
    def rest_operation(request: web.Request, body: bytes) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = dict(request.query)
        path = request.path
        if request.method == "GET" and path == "/analyzer":
            return "ListAnalyzers", params
        if request.method == "POST" and path == "/findingv2":
            return "ListFindingsV2", {**params, **(json.loads(body) if body else {})}
        if request.method == "GET" and path.startswith("/findingv2/"):
            return "GetFindingV2", {**params, "id": unquote(path.split("/", 2)[2])}
        return f"{request.method} {path}", params

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        request_id = f"bench-{self.requests}"
        service = "unknown"
        try:
            caller, service = self.caller(request)
            name, params = await self.operation(request, service)
        except AwsError as error:
            self.stats.calls[f"unsupported {service}"] += 1  # unsigned, or a service not simulated
            return error_response(_PROTOCOLS.get(service, "query"), error, request_id)
        protocol = _PROTOCOLS[service]
        label = f"{_PREFIX.get(service, service)}:{name}"
        self.stats.calls[label] += 1
        self.stats.per_account[caller.account] += 1
        allowed = self.throttle.allow(caller.account, time.monotonic())
        if self.latency:
            await asyncio.sleep(self.latency)
        if not allowed:
            self.stats.throttled[label] += 1
            self.stats.throttled_per_account[caller.account] += 1
            return error_response(protocol, _THROTTLING[protocol], request_id)
        answer = getattr(self.services, f"{_PREFIX.get(service, service)}_{name}", None)
        try:
            if not self.shape.has_account(caller.account):
                raise AwsError(403, "InvalidClientTokenId", "unknown access key")
            if answer is None:
                self.stats.calls[f"unsupported {label}"] += 1
                raise AwsError(400, "InvalidAction", f"{label} is not simulated")
            result = answer(caller, params)
        except AwsError as error:
            return error_response(protocol, error, request_id)
        headers = {"x-amzn-RequestId": request_id}
        if protocol == "query":
            return web.Response(text=query_body(service, name, result, request_id),
                                content_type="text/xml", headers=headers)
        if protocol == "json":
            return web.Response(text=json.dumps(result), content_type=_JSON_TYPE,
                                headers=headers)
        return web.json_response(result, headers=headers)


# ---------------------------------------------------------------- running it

async def serve(endpoint: Endpoint, port: int, stats_file: str | None) -> None:
    """Listen on 127.0.0.1, print the URL, run until SIGTERM/SIGINT, then write the counters."""
    runner = web.AppRunner(endpoint.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"http://127.0.0.1:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    if stats_file:
        with open(stats_file, "w") as out:
            json.dump(endpoint.stats.summary(endpoint.shape), out, indent=2)
    await runner.cleanup()


@contextmanager
def in_thread(shape: Shape, latency: float = 0.0, rate: float = 0.0
              ) -> Iterator[tuple[str, Endpoint]]:
    """The endpoint in a thread of this process, on a free port (tests): its URL, its counters."""
    loop = asyncio.new_event_loop()
    endpoint = Endpoint(shape, latency, rate)
    runner = web.AppRunner(endpoint.app(), access_log=None, handle_signals=False)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    thread = threading.Thread(target=loop.run_forever, name="fast-endpoint", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", endpoint
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--roles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ous", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--rate-per-account", type=float, default=20.0,
                        help="calls/s per account before throttling (0: never throttle)")
    parser.add_argument("--report-complete", action="store_true",
                        help="GenerateCredentialReport says COMPLETE at once (a report less "
                             "than 4 hours old); default: STARTED first, as for a monthly run")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stats-file")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    shape = Shape(args.accounts, args.users, args.roles, args.seed, args.ous,
                  report_started_first=not args.report_complete)
    endpoint = Endpoint(shape, args.latency_ms / 1000, args.rate_per_account)
    asyncio.run(serve(endpoint, args.port, args.stats_file))


if __name__ == "__main__":
    main(sys.argv[1:])
