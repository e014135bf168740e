"""AWS Organizations: the organization, its accounts, the OU tree and the service control policies.

`fetch` walks the tree once from the root, so every account gets its OU path and its chain of
ancestors from the same calls (they grow with OUs, not accounts). `scps` lists the service
control policies with their documents and targets: SCPs are inherited along that chain, which
is what the SCP coverage controls (G6) evaluate. Every list call goes through a boto3 paginator, which keeps
asking while NextToken is set, even after a page that came back empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SCP = "SERVICE_CONTROL_POLICY"


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    email: str
    status: str
    ou_path: str
    is_management: bool
    parent_ids: tuple[str, ...] = ()  # direct parent first, the root last


@dataclass(frozen=True)
class OrgUnit:
    ou_id: str
    name: str
    parent_id: str
    path: str


@dataclass(frozen=True)
class Organization:
    organization_id: str
    management_account_id: str
    accounts: tuple[Account, ...]
    root: dict[str, Any] | None = None  # list_roots' Root, PolicyTypes included
    units: tuple[OrgUnit, ...] = ()


def _paginate(org: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    return [item for page in org.get_paginator(operation).paginate(**params) for item in page[key]]


def fetch(org: Any) -> Organization:
    """Walk the tree from the root: OU paths, ancestor chains and OUs from the same calls."""
    description = org.describe_organization()["Organization"]
    management_id = description["MasterAccountId"]
    root = _paginate(org, "list_roots", "Roots")[0]
    details = {a["Id"]: a for a in _paginate(org, "list_accounts", "Accounts")}
    root_name = root.get("Name", "Root")
    paths: dict[str, str] = {}
    chains: dict[str, tuple[str, ...]] = {}
    units: list[OrgUnit] = []
    # (parent id, its path of names, its ancestors: itself first, the root last)
    pending: list[tuple[str, str, tuple[str, ...]]] = [(root["Id"], root_name, (root["Id"],))]
    while pending:
        parent_id, path, chain = pending.pop()
        for account in _paginate(org, "list_accounts_for_parent", "Accounts", ParentId=parent_id):
            paths[account["Id"]] = path
            chains[account["Id"]] = chain
        for ou in _paginate(org, "list_organizational_units_for_parent", "OrganizationalUnits",
                            ParentId=parent_id):
            ou_path = f"{path}/{ou['Name']}"
            units.append(OrgUnit(ou["Id"], ou["Name"], parent_id, ou_path))
            pending.append((ou["Id"], ou_path, (ou["Id"], *chain)))
    accounts = tuple(
        Account(
            account_id=account_id,
            name=a.get("Name", ""),
            email=a.get("Email", ""),
            status=a.get("Status", "ACTIVE"),
            ou_path=paths.get(account_id, ""),
            is_management=account_id == management_id,
            parent_ids=chains.get(account_id, ()),
        )
        for account_id, a in sorted(details.items())
    )
    units.sort(key=lambda u: u.path)
    return Organization(description["Id"], management_id, accounts, root, tuple(units))


def tree_rows(organization: Organization) -> dict[str, list[dict[str, Any]]]:
    """org_roots, org_units and account_parents rows of what `fetch` walked (no more calls)."""
    root = organization.root or {}
    policy_types = root.get("PolicyTypes", [])
    roots = [{
        "root_id": root.get("Id"), "name": root.get("Name"),
        "scp_enabled": any(t.get("Type") == SCP and t.get("Status") == "ENABLED"
                           for t in policy_types),
        "policy_types": policy_types,
    }] if root else []
    units = [
        {"ou_id": u.ou_id, "name": u.name, "parent_id": u.parent_id, "path": u.path}
        for u in organization.units
    ]
    parents = [
        {"account_id": a.account_id, "parent_id": parent_id, "depth": depth}
        for a in organization.accounts
        for depth, parent_id in enumerate(a.parent_ids, start=1)
    ]
    return {"org_roots": roots, "org_units": units, "account_parents": parents}


def policy_content(content: Any) -> Any:
    """describe_policy returns the document as a JSON string; a bad one is kept as text."""
    if not isinstance(content, str):
        return content
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        return {"unparsed": content}


def scps(org: Any) -> dict[str, list[dict[str, Any]]]:
    """Every SCP with its document and every target it is attached to (rows of scps, scp_targets).

    Calls: one list_policies page per 20 policies, then per policy one describe_policy and one
    list_targets_for_policy page per 20 targets.
    """
    policies, targets = [], []
    for summary in _paginate(org, "list_policies", "Policies", Filter=SCP):
        described = org.describe_policy(PolicyId=summary["Id"])["Policy"]
        summary = {**summary, **described.get("PolicySummary", {})}
        policies.append({
            "policy_id": summary["Id"], "name": summary.get("Name"),
            "description": summary.get("Description"),
            "aws_managed": bool(summary.get("AwsManaged")),
            "document": policy_content(described.get("Content")),
        })
        for target in _paginate(org, "list_targets_for_policy", "Targets",
                                PolicyId=summary["Id"]):
            targets.append({
                "policy_id": summary["Id"], "target_id": target["TargetId"],
                "target_type": target.get("Type"), "target_name": target.get("Name"),
            })
    return {"scps": policies, "scp_targets": targets}
