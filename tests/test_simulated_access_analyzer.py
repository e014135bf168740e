"""The simulated Access Analyzer: model-valid responses, computed from moto's IAM state.

The layer is reached over HTTP through boto3, like the collector reaches it, so these tests
also show that botocore parses what the layer sends.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from flows.collect import collect_account
from flows.sources import organizations
from flows.sources.session import base_session
from simulated import access_analyzer as simulated_access_analyzer
from simulated import organization as simulated
from simulated.access_analyzer import InvalidSimulatedResponse, render
from simulated.organization import SimulatedOrganization


def _analyzer_client(sim: SimulatedOrganization, account: str) -> Any:
    """An Access Analyzer client in `account`, through its OrganizationAccountAccessRole."""
    session = base_session()
    if account != "management":
        creds = session.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{sim.account_ids[account]}:role/OrganizationAccountAccessRole",
            RoleSessionName="test",
        )["Credentials"]
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"], region_name=simulated.REGION,
        )
    return session.client("accessanalyzer")


def _findings(client: Any, analyzer_arn: str, page_size: int = 100) -> list[dict[str, Any]]:
    pages = client.get_paginator("list_findings_v2").paginate(
        analyzerArn=analyzer_arn, PaginationConfig={"PageSize": page_size})
    return [f for page in pages for f in page["findings"]]


def test_a_valid_response_is_serialized_and_an_invalid_one_is_refused() -> None:
    analyzer = {"arn": "arn:aws:access-analyzer:us-east-1:123456789012:analyzer/a",
                "name": "a", "type": "ACCOUNT", "status": "ACTIVE",
                "createdAt": datetime(2026, 11, 28, tzinfo=UTC)}
    body = json.loads(render("ListAnalyzers", {"analyzers": [analyzer]}))
    assert body["analyzers"][0]["createdAt"] == "2026-11-28T00:00:00.000000Z"
    missing_status = {k: v for k, v in analyzer.items() if k != "status"}
    with pytest.raises(InvalidSimulatedResponse, match="status"):
        render("ListAnalyzers", {"analyzers": [missing_status]})
    with pytest.raises(InvalidSimulatedResponse, match="findingDetails"):
        render("GetFindingV2", {"id": "x", "resourceType": "AWS::IAM::Role",
                                "resourceOwnerAccount": "1", "status": "ACTIVE",
                                "analyzedAt": analyzer["createdAt"],
                                "createdAt": analyzer["createdAt"],
                                "updatedAt": analyzer["createdAt"]})
    with pytest.raises(InvalidSimulatedResponse, match="findings"):
        render("ListFindingsV2", {"findings": [{"id": 7}]})


def test_each_account_lists_only_its_own_analyzers(sim: SimulatedOrganization) -> None:
    listed = {
        account: sorted((a["name"], a["type"]) for a in
                        _analyzer_client(sim, account).list_analyzers()["analyzers"])
        for account in sim.account_ids
    }
    assert listed == {
        "management": [("mgmt-external-access", "ACCOUNT"),
                       ("org-unused-access", "ORGANIZATION_UNUSED_ACCESS")],
        "prod": [("prod-external-access", "ACCOUNT")],
        "dev": [],
        "partner-integrations": [("partner-external-access", "ACCOUNT")],
        "security": [("security-unused-access", "ACCOUNT_UNUSED_ACCESS")],
    }


def test_external_access_findings_follow_the_trust_policies(sim: SimulatedOrganization) -> None:
    client = _analyzer_client(sim, "partner-integrations")
    analyzer = sim.analyzer_arn("partner-external-access")
    found = {f["resource"].split("/")[-1]: f["status"] for f in _findings(client, analyzer)}
    assert found == {
        "OrganizationAccountAccessRole": "ACTIVE", "rolecall-audit": "ACTIVE",
        "vendor-acme-externalid": "ACTIVE", "vendor-globex-no-externalid": "ACTIVE",
        "public-any-principal": "ACTIVE", "org-any-principal-pinned": "ACTIVE",
        "vendor-bare-account-id": "ARCHIVED", "vendor-externalid-wildcard": "ACTIVE",
        "vendor-externalid-ifexists": "ACTIVE", "vendor-externalid-stringlike-exact": "ACTIVE",
        "cross-account-from-prod": "ACTIVE",
    }
    # service roles and the account's own principals are not external access
    assert "ec2-no-source-account" not in found


def test_finding_details_name_the_principal_and_condition(sim: SimulatedOrganization) -> None:
    client = _analyzer_client(sim, "partner-integrations")
    analyzer = sim.analyzer_arn("partner-external-access")
    by_role = {f["resource"].split("/")[-1]: f for f in _findings(client, analyzer)}
    vendor = client.get_finding_v2(analyzerArn=analyzer, id=by_role["vendor-acme-externalid"]["id"])
    details = vendor["findingDetails"][0]["externalAccessDetails"]
    assert details["principal"] == {"AWS": f"arn:aws:iam::{simulated.EXTERNAL_ACCOUNT_ID}:root"}
    assert details["condition"] == {"sts:ExternalId": simulated.EXTERNAL_ID}
    assert details["isPublic"] is False
    public = client.get_finding_v2(analyzerArn=analyzer, id=by_role["public-any-principal"]["id"])
    assert public["findingDetails"][0]["externalAccessDetails"]["isPublic"] is True


def test_unused_access_findings_cover_every_account_of_the_organization(
    sim: SimulatedOrganization,
) -> None:
    client = _analyzer_client(sim, "management")
    found = {
        (f["findingType"], f["resource"].split(":", 4)[4], f["status"])
        for f in _findings(client, sim.analyzer_arn("org-unused-access"), page_size=2)
    }
    ids = {v: k for k, v in sim.account_ids.items()}
    named = {(kind, ids[resource.split(":")[0]], resource.split(":")[1], status)
             for kind, resource, status in found}
    assert named == {
        ("UnusedIAMUserAccessKey", "prod", "user/svc-backup", "ACTIVE"),
        ("UnusedIAMUserAccessKey", "dev", "user/svc-legacy-etl", "ACTIVE"),
        ("UnusedIAMUserAccessKey", "dev", "user/svc-unused", "ACTIVE"),
        ("UnusedIAMUserPassword", "management", "user/break-glass-admin", "ARCHIVED"),
        ("UnusedIAMUserPassword", "prod", "user/alice", "ACTIVE"),
        ("UnusedIAMUserPassword", "prod", "user/bob", "ACTIVE"),
        ("UnusedIAMRole", "dev", "role/legacy-batch", "ACTIVE"),
        ("UnusedIAMRole", "prod", "role/old-reporting", "ARCHIVED"),
    }


def test_findings_are_computed_from_the_current_iam_state(sim: SimulatedOrganization) -> None:
    """A role created after seeding is reported on the next call, as the service would."""
    session = base_session()
    creds = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{sim.account_ids['prod']}:role/OrganizationAccountAccessRole",
        RoleSessionName="test")["Credentials"]
    iam = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"],
                        region_name=simulated.REGION).client("iam")
    iam.create_role(RoleName="late-vendor", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "sts:AssumeRole"}]}))
    try:
        found = _findings(_analyzer_client(sim, "prod"), sim.analyzer_arn("prod-external-access"))
        assert any(f["resource"].endswith(":role/late-vendor") for f in found)
    finally:
        iam.delete_role(RoleName="late-vendor")


def test_unknown_findings_and_other_accounts_analyzers_are_not_found(
    sim: SimulatedOrganization,
) -> None:
    client = _analyzer_client(sim, "prod")
    with pytest.raises(ClientError) as raised:
        client.get_finding_v2(analyzerArn=sim.analyzer_arn("prod-external-access"), id="nope")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as raised:
        client.list_findings_v2(analyzerArn=sim.analyzer_arn("partner-external-access"))
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_response_the_model_refuses_reaches_the_client_as_an_error(
    sim: SimulatedOrganization, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any) -> list[dict[str, Any]]:
        return [{"id": "f", "status": "ACTIVE", "_details": {}}]  # required members missing

    monkeypatch.setattr(simulated_access_analyzer, "findings_of", broken)
    client = _analyzer_client(sim, "prod")
    with pytest.raises(ClientError) as raised:
        client.list_findings_v2(analyzerArn=sim.analyzer_arn("prod-external-access"))
    assert raised.value.response["Error"]["Code"] == "InvalidSimulatedResponse"


def test_finding_details_beyond_the_cap_are_a_call_budget_error(
    sim: SimulatedOrganization, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("flows.collect.MAX_FINDING_DETAILS", 3)
    session = base_session()
    partner = next(a for a in organizations.fetch(session.client("organizations")).accounts
                   if a.name == "partner-integrations")
    data, _ = collect_account(session, partner, role_name="OrganizationAccountAccessRole",
                              external_id=None)
    details = [f for f in data.rows["access_analyzer_findings"] if f["details"] is not None]
    assert len(details) == 3
    assert [(e["source"], e["operation"], e["error_code"]) for e in data.errors] == [
        ("access_analyzer_details", "GetFindingV2", "CallBudget")]
    assert "7 finding(s)" in data.errors[0]["message"]


def test_unused_permission_details_are_collected_for_the_migration_plan(
    sim: SimulatedOrganization, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The seeding code says what bob has not used; the management account's organization
    unused-access analyzer reports it, and the collector fetches the details within the budget,
    after the external-access ones."""
    from reports.migration.unused import from_findings

    assert sim.analyzer_setup is not None
    bob = sim.user_arn("prod", "bob")
    monkeypatch.setitem(sim.analyzer_setup.unused_permissions, bob, (
        {"serviceNamespace": "support"},
        {"serviceNamespace": "ce", "actions": [{"action": "ce:GetReservationCoverage"}]},
    ))
    session = base_session()
    management = next(a for a in organizations.fetch(session.client("organizations")).accounts
                      if a.is_management)
    data, clients = collect_account(session, management, role_name="OrganizationAccountAccessRole",
                                    external_id=None)
    assert clients is not None and clients.calls <= 30
    found = [f for f in data.rows["access_analyzer_findings"]
             if f["finding_type"] == "UnusedPermission"]
    assert [(f["resource"], f["status"]) for f in found] == [(bob, "ACTIVE")]
    unused = from_findings([(found[0]["finding_id"], found[0]["details"])])
    assert unused.evidence == (f"Access Analyzer finding {found[0]['finding_id']}",)
    assert unused.services == {"support"}
    assert unused.actions == {"ce:getreservationcoverage"}
