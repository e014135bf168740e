"""IAM account authorization details: every user, group, role and local policy in a few pages.

get_account_authorization_details returns what would otherwise take several calls per
principal (the peer scanner's 6,106 calls for 500 users and 500 roles), which is why rolecall
uses it and nothing per-entity.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

FILTER = ["User", "Role", "Group", "LocalManagedPolicy"]


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
