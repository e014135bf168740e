"""OIDC and SAML identity providers of an account: one list call each, no per-provider calls.

The OIDC issuer is the ARN's resource part (oidc-provider/<issuer>), so the per-provider
GetOpenIDConnectProvider call is not needed to know which issuer a role trusts.
"""

from __future__ import annotations

from typing import Any


def oidc_providers(iam: Any, account_id: str) -> list[dict[str, Any]]:
    providers = iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", [])
    return [
        {"account_id": account_id, "arn": p["Arn"], "url": p["Arn"].split("oidc-provider/", 1)[-1]}
        for p in providers
    ]


def saml_providers(iam: Any, account_id: str) -> list[dict[str, Any]]:
    providers = iam.list_saml_providers().get("SAMLProviderList", [])
    return [
        {
            "account_id": account_id,
            "arn": p["Arn"],
            "valid_until": p.get("ValidUntil"),
            "create_date": p.get("CreateDate"),
        }
        for p in providers
    ]
