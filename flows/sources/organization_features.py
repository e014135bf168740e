"""IAM centralized root access: which of its features the organization has enabled.

One iam:ListOrganizationsFeatures call, once per run, from the management (or IAM delegated
administrator) account. With RootCredentialsManagement on, the management account removes the
root credentials (password, access keys, MFA devices) of member accounts, so a member's root user
without any of them is managed centrally rather than left unprotected.

Two refusals answer the question rather than fail it: without trusted access for IAM in AWS
Organizations (ServiceAccessNotEnabled) or without all features (OrganizationNotInAllFeaturesMode)
no feature can be enabled, so both are recorded as "every feature off", with the refusal as the
basis. Any other error (AccessDenied, an endpoint without the API) is this source's failure,
recorded by flows/collect.py like any other source's.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

SOURCE = "organization_features"
OPERATION = "ListOrganizationsFeatures"
FEATURES = ("RootCredentialsManagement", "RootSessions")
# Refusals that mean no feature can be on (botocore names the modeled ones ...Exception; AWS's
# API reference lists them without the suffix, so both spellings are accepted).
OFF_BECAUSE = {
    "ServiceAccessNotEnabled": "trusted access for IAM is not enabled in AWS Organizations",
    "OrganizationNotInAllFeaturesMode": "the organization does not have all features enabled",
}


def fetch(iam: Any, organization_id: str) -> list[dict[str, Any]]:
    """Rows of organization_features: every known feature, enabled or not, and how it is known."""
    try:
        response = iam.list_organizations_features()
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code") or "")
        why = OFF_BECAUSE.get(code.removesuffix("Exception"))
        if why is None:
            raise
        return _rows(organization_id, set(), f"{code}: {why}")
    enabled = set(response.get("EnabledFeatures") or ())
    return _rows(response.get("OrganizationId") or organization_id, enabled,
                 f"listed by iam:{OPERATION}")


def _rows(organization_id: str, enabled: set[str], basis: str) -> list[dict[str, Any]]:
    return [
        {"organization_id": organization_id, "feature": feature, "enabled": feature in enabled,
         "basis": basis}
        for feature in sorted(set(FEATURES) | enabled)
    ]
