"""IAM Identity Center: instances, permission sets, and the accounts each set is provisioned to.

G2 asks whether people reach accounts through Identity Center at all: an instance with at
least one permission set assigned to an account. A permission set is provisioned to exactly the
accounts that have an assignment of it, so list_accounts_for_provisioned_permission_set answers
"which accounts" with one call per permission set instead of one per account and set.
Identity Center lives in one region: the client must be made for that region.
"""

from __future__ import annotations

from typing import Any


def _paginate(sso: Any, operation: str, key: str, **params: Any) -> list[Any]:
    return [item for page in sso.get_paginator(operation).paginate(**params) for item in page[key]]


def fetch(sso: Any) -> dict[str, list[dict[str, Any]]]:
    """Rows of identity_center_instances, permission_sets and account_assignments."""
    instances, permission_sets, assignments = [], [], []
    for instance in _paginate(sso, "list_instances", "Instances"):
        arn = instance["InstanceArn"]
        instances.append({
            "instance_arn": arn, "identity_store_id": instance.get("IdentityStoreId"),
            "owner_account_id": instance.get("OwnerAccountId"),
            "status": instance.get("Status"),
        })
        for ps_arn in _paginate(sso, "list_permission_sets", "PermissionSets", InstanceArn=arn):
            described = sso.describe_permission_set(
                InstanceArn=arn, PermissionSetArn=ps_arn
            )["PermissionSet"]
            permission_sets.append({
                "instance_arn": arn, "permission_set_arn": ps_arn,
                "name": described.get("Name"),
                "session_duration": described.get("SessionDuration"),
            })
            for account_id in _paginate(sso, "list_accounts_for_provisioned_permission_set",
                                        "AccountIds", InstanceArn=arn, PermissionSetArn=ps_arn):
                assignments.append({
                    "instance_arn": arn, "permission_set_arn": ps_arn, "account_id": account_id,
                })
    return {
        "identity_center_instances": instances,
        "permission_sets": permission_sets,
        "account_assignments": assignments,
    }
