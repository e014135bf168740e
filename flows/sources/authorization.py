"""IAM account authorization details: every user, group, role and local policy in a few pages.

get_account_authorization_details returns what would otherwise take several calls per
principal (the peer scanner's 6,106 calls for 500 users and 500 roles), which is why rolecall
uses it and nothing per-entity. The same pages hold the users' effective policies (inline user
policies, groups with their inline and attached policies, the documents of the account's own
managed policies) that a migration plan turns into permission sets, so they are kept too.
AWS managed policies stay out of FILTER: their documents are public, the plan keeps them as
ARNs, and fetching them would add pages (over a thousand policies) to every account.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

FILTER = ["User", "Role", "Group", "LocalManagedPolicy"]
AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy/"


def fetch(iam: Any) -> list[dict[str, Any]]:
    """All pages, through boto3's paginator."""
    paginator = iam.get_paginator("get_account_authorization_details")
    return list(paginator.paginate(Filter=FILTER, PaginationConfig={"PageSize": 1000}))


def policy_document(value: Any) -> dict[str, Any] | None:
    """A policy document as a dict, whether botocore decoded it already or IAM sent it URL-encoded."""
    if value is None or isinstance(value, dict):
        return value
    text = str(value)
    if text.lstrip().startswith("%7B") or text.lstrip().startswith("%7b"):
        text = unquote(text)
    return json.loads(text)


def users(pages: list[dict[str, Any]], account_id: str) -> list[dict[str, Any]]:
    return [
        {
            "account_id": account_id,
            "user_name": u["UserName"],
            "user_id": u.get("UserId"),
            "arn": u["Arn"],
            "path": u.get("Path"),
            "create_date": u.get("CreateDate"),
            "permissions_boundary_arn": (u.get("PermissionsBoundary") or {}).get(
                "PermissionsBoundaryArn"
            ),
            "groups": u.get("GroupList", []),
            "attached_policies": [p["PolicyArn"] for p in u.get("AttachedManagedPolicies", [])],
            "inline_policy_names": [p["PolicyName"] for p in u.get("UserPolicyList", [])],
            "tags": {t["Key"]: t["Value"] for t in u.get("Tags", [])},
        }
        for page in pages
        for u in page.get("UserDetailList", [])
    ]


def roles(pages: list[dict[str, Any]], account_id: str) -> list[dict[str, Any]]:
    return [
        {
            "account_id": account_id,
            "role_name": r["RoleName"],
            "role_id": r.get("RoleId"),
            "arn": r["Arn"],
            "path": r.get("Path"),
            "create_date": r.get("CreateDate"),
            "trust_policy": policy_document(r.get("AssumeRolePolicyDocument")),
            "permissions_boundary_arn": (r.get("PermissionsBoundary") or {}).get(
                "PermissionsBoundaryArn"
            ),
            "last_used_date": (r.get("RoleLastUsed") or {}).get("LastUsedDate"),
            "attached_policies": [p["PolicyArn"] for p in r.get("AttachedManagedPolicies", [])],
            "tags": {t["Key"]: t["Value"] for t in r.get("Tags", [])},
        }
        for page in pages
        for r in page.get("RoleDetailList", [])
    ]


def user_policies(pages: list[dict[str, Any]], account_id: str) -> list[dict[str, Any]]:
    """Inline policies embedded in users (UserDetailList[].UserPolicyList)."""
    return [
        {
            "account_id": account_id, "user_name": u["UserName"], "user_arn": u["Arn"],
            "policy_name": p["PolicyName"], "document": policy_document(p.get("PolicyDocument")),
        }
        for page in pages
        for u in page.get("UserDetailList", [])
        for p in u.get("UserPolicyList", [])
    ]


def groups(pages: list[dict[str, Any]], account_id: str) -> list[dict[str, Any]]:
    return [
        {
            "account_id": account_id, "group_name": g["GroupName"], "group_id": g.get("GroupId"),
            "arn": g["Arn"], "path": g.get("Path"), "create_date": g.get("CreateDate"),
            "attached_policies": [p["PolicyArn"] for p in g.get("AttachedManagedPolicies", [])],
        }
        for page in pages
        for g in page.get("GroupDetailList", [])
    ]


def group_policies(pages: list[dict[str, Any]], account_id: str) -> list[dict[str, Any]]:
    """Inline policies embedded in groups (GroupDetailList[].GroupPolicyList)."""
    return [
        {
            "account_id": account_id, "group_name": g["GroupName"], "group_arn": g["Arn"],
            "policy_name": p["PolicyName"], "document": policy_document(p.get("PolicyDocument")),
        }
        for page in pages
        for g in page.get("GroupDetailList", [])
        for p in g.get("GroupPolicyList", [])
    ]


def managed_policies(pages: list[dict[str, Any]], account_id: str) -> list[dict[str, Any]]:
    """The account's customer managed policies, each with its default version's document.

    An AWS managed policy in the pages (FILTER does not ask for them; moto sends them anyway)
    is left out: its document is public and the same everywhere."""
    return [
        {
            "account_id": account_id, "policy_arn": p["Arn"],
            "policy_name": p.get("PolicyName") or p["Arn"].rsplit("/", 1)[-1],
            "path": p.get("Path"), "default_version_id": p.get("DefaultVersionId"),
            "attachment_count": p.get("AttachmentCount"), "is_attachable": p.get("IsAttachable"),
            "document": _default_document(p),
        }
        for page in pages
        for p in page.get("Policies", [])
        if not p["Arn"].startswith(AWS_MANAGED_PREFIX)
    ]


def _default_document(policy: dict[str, Any]) -> dict[str, Any] | None:
    """The document of the version in force: IsDefaultVersion, else DefaultVersionId's."""
    versions = policy.get("PolicyVersionList", [])
    chosen = next((v for v in versions if v.get("IsDefaultVersion")), None) or next(
        (v for v in versions if v.get("VersionId") == policy.get("DefaultVersionId")), None)
    return policy_document(chosen.get("Document")) if chosen else None
