"""iam:GetAccountSummary: root MFA and root access keys when the credential report lacks the root row."""

from __future__ import annotations

from typing import Any


def fetch(iam: Any, account_id: str) -> dict[str, Any]:
    summary = iam.get_account_summary()["SummaryMap"]
    return {
        "account_id": account_id,
        "root_mfa_enabled": bool(summary.get("AccountMFAEnabled")),
        "root_access_keys_present": bool(summary.get("AccountAccessKeysPresent")),
        "users": summary.get("Users"),
        "roles": summary.get("Roles"),
    }
