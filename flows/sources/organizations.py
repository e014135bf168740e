"""AWS Organizations: the organization, its accounts and where each sits in the OU tree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    email: str
    status: str
    ou_path: str
    is_management: bool


@dataclass(frozen=True)
class Organization:
    organization_id: str
    management_account_id: str
    accounts: tuple[Account, ...]


def fetch(org: Any) -> Organization:
    """Walk the tree from the root so every account gets its OU path (calls grow with OUs, not accounts)."""
    description = org.describe_organization()["Organization"]
    management_id = description["MasterAccountId"]
    root = org.list_roots()["Roots"][0]
    details = {
        a["Id"]: a
        for page in org.get_paginator("list_accounts").paginate()
        for a in page["Accounts"]
    }
    paths: dict[str, str] = {}
    pending = [(root["Id"], root.get("Name", "Root"))]
    while pending:
        parent_id, path = pending.pop()
        for page in org.get_paginator("list_accounts_for_parent").paginate(ParentId=parent_id):
            for account in page["Accounts"]:
                paths[account["Id"]] = path
        for page in org.get_paginator("list_organizational_units_for_parent").paginate(
            ParentId=parent_id
        ):
            for ou in page["OrganizationalUnits"]:
                pending.append((ou["Id"], f"{path}/{ou['Name']}"))
    accounts = tuple(
        Account(
            account_id=account_id,
            name=a.get("Name", ""),
            email=a.get("Email", ""),
            status=a.get("Status", "ACTIVE"),
            ou_path=paths.get(account_id, ""),
            is_management=account_id == management_id,
        )
        for account_id, a in sorted(details.items())
    )
    return Organization(description["Id"], management_id, accounts)
