"""iam:GetAccountSummary: root MFA, keys and password when the credential report lacks the root row.

The credential report says `not_supported` for the root user's password, so whether the root has
one (AccountPasswordPresent) comes from here only; an endpoint that does not report it leaves it
unknown (NULL), never "no password".
"""

from __future__ import annotations

from typing import Any


def fetch(iam: Any, account_id: str) -> dict[str, Any]:
    summary = iam.get_account_summary()["SummaryMap"]
    password = summary.get("AccountPasswordPresent")
    return {
        "account_id": account_id,
        "root_mfa_enabled": bool(summary.get("AccountMFAEnabled")),
        "root_access_keys_present": bool(summary.get("AccountAccessKeysPresent")),
        "root_password_present": None if password is None else bool(password),
        "users": summary.get("Users"),
        "roles": summary.get("Roles"),
    }
