"""IAM Access Analyzer: the analyzers an account has, their findings, and details where needed.

One list_analyzers call per account tells whether the account is covered (an ACCOUNT
analyzer in it, or an ORGANIZATION analyzer listed in the management or delegated admin
account). list_findings_v2 already says type, resource, owner account and status of every
finding, which is all the finding controls decide on; get_finding_v2 (one call per finding, one
more per further page of details) is only made for ACTIVE external-access findings on roles, whose
principal and condition the report shows as evidence, then for ACTIVE UnusedPermission findings
on IAM users, whose services and actions the migration plan leaves out of the user's replacement
(reports/migration/unused.py), and only as far as the per-account call budget allows.
"""

from __future__ import annotations

from typing import Any

EXTERNAL_ACCESS = "ExternalAccess"
UNUSED_PERMISSION = "UnusedPermission"


def analyzers(aa: Any, account_id: str) -> list[dict[str, Any]]:
    """Every analyzer of the account in the client's region, all types (one page per 100)."""
    region = aa.meta.region_name
    return [
        {
            "account_id": account_id, "arn": a["arn"], "name": a["name"], "type": a["type"],
            "status": a["status"], "region": region,
        }
        for page in aa.get_paginator("list_analyzers").paginate()
        for a in page["analyzers"]
    ]


def findings(aa: Any, analyzer_arn: str, account_id: str) -> list[dict[str, Any]]:
    """Every finding of one analyzer, whatever its status (ARCHIVED ones are members too)."""
    return [
        {
            "account_id": account_id, "analyzer_arn": analyzer_arn, "finding_id": f["id"],
            "finding_type": f.get("findingType"), "resource": f.get("resource"),
            "resource_type": f.get("resourceType"),
            "resource_owner_account": f.get("resourceOwnerAccount"), "status": f.get("status"),
            "created_at": f.get("createdAt"), "updated_at": f.get("updatedAt"), "details": None,
        }
        for page in aa.get_paginator("list_findings_v2").paginate(analyzerArn=analyzer_arn)
        for f in page["findings"]
    ]


def needs_details(finding: dict[str, Any]) -> bool:
    """ACTIVE external access to a role (the evidence names its principal and condition) and
    ACTIVE unused permissions of a user (the plan narrows its replacement's policies)."""
    return finding["status"] == "ACTIVE" and (
        (finding["finding_type"], finding["resource_type"]) in DETAILED
    )


# Findings whose details are fetched, in the order they get the budget: the controls' evidence
# first, the migration plan's narrowing after it.
DETAILED = (
    (EXTERNAL_ACCESS, "AWS::IAM::Role"),
    (UNUSED_PERMISSION, "AWS::IAM::User"),
)


def details_priority(finding: dict[str, Any]) -> int:
    return DETAILED.index((finding["finding_type"], finding["resource_type"]))


def details(aa: Any, analyzer_arn: str, finding_id: str) -> list[dict[str, Any]]:
    """get_finding_v2's findingDetails (one page unless a finding has very many details)."""
    return [
        detail
        for page in aa.get_paginator("get_finding_v2").paginate(
            analyzerArn=analyzer_arn, id=finding_id
        )
        for detail in page.get("findingDetails", [])
    ]
