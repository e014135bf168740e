"""Organization-level collectors against botocore's Stubber: paging, SCP documents, ancestor chains.

The Stubber checks each request's parameters and validates each canned response against the
service model, so these are the calls and shapes AWS itself would see and send.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from flows.sources import access_analyzer, identity_center, organizations

ROOT, OU_A, OU_B = "r-ab12", "ou-ab12-11111111", "ou-ab12-22222222"
MANAGEMENT, MEMBER, OTHER = "111111111111", "222222222222", "333333333333"
DENY_USERS = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Deny", "Action": ["iam:CreateUser", "iam:CreateAccessKey"], "Resource": "*",
    "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/BreakGlassAdmin"}},
}]}


def _client(service: str) -> Any:
    return boto3.Session(region_name="us-east-1").client(
        service, endpoint_url="http://127.0.0.1:9"  # never reached: the Stubber answers
    )


@pytest.fixture
def org() -> Iterator[tuple[Any, Stubber]]:
    client = _client("organizations")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _account(account_id: str, name: str) -> dict[str, Any]:
    return {"Id": account_id, "Name": name, "Email": f"{name}@example.com", "Status": "ACTIVE",
            "Arn": f"arn:aws:organizations::{MANAGEMENT}:account/o-abc/{account_id}"}


def _ou(ou_id: str, name: str) -> dict[str, Any]:
    return {"Id": ou_id, "Name": name,
            "Arn": f"arn:aws:organizations::{MANAGEMENT}:ou/o-abc/{ou_id}"}


def _policy_summary(policy_id: str, name: str, managed: bool = False) -> dict[str, Any]:
    return {"Id": policy_id, "Name": name, "Type": "SERVICE_CONTROL_POLICY",
            "AwsManaged": managed, "Description": f"{name} policy",
            "Arn": f"arn:aws:organizations::{MANAGEMENT}:policy/o-abc/service_control_policy/"
                   f"{policy_id}"}


def test_tree_walk_gives_paths_ancestor_chains_and_survives_empty_pages(org: Any) -> None:
    client, stub = org
    stub.add_response("describe_organization", {"Organization": {
        "Id": "o-abcdefghij", "MasterAccountId": MANAGEMENT}})
    stub.add_response("list_roots", {"Roots": [{
        "Id": ROOT, "Name": "Root", "Arn": f"arn:aws:organizations::{MANAGEMENT}:root/o-abc/r-ab12",
        "PolicyTypes": [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]}]})
    stub.add_response("list_accounts", {"Accounts": [_account(MANAGEMENT, "management")],
                                        "NextToken": "a1"})
    stub.add_response("list_accounts", {"Accounts": [], "NextToken": "a2"},  # empty, token left
                      {"NextToken": "a1"})
    stub.add_response("list_accounts", {"Accounts": [_account(MEMBER, "prod"),
                                                     _account(OTHER, "shared")]},
                      {"NextToken": "a2"})
    # the walk: root, then (last in, first out) OU A, then OU B inside it
    stub.add_response("list_accounts_for_parent", {"Accounts": [_account(MANAGEMENT, "m")]},
                      {"ParentId": ROOT})
    stub.add_response("list_organizational_units_for_parent",
                      {"OrganizationalUnits": [_ou(OU_A, "Workloads")]}, {"ParentId": ROOT})
    stub.add_response("list_accounts_for_parent", {"Accounts": [], "NextToken": "p1"},
                      {"ParentId": OU_A})
    stub.add_response("list_accounts_for_parent", {"Accounts": [_account(OTHER, "shared")]},
                      {"ParentId": OU_A, "NextToken": "p1"})
    stub.add_response("list_organizational_units_for_parent",
                      {"OrganizationalUnits": [_ou(OU_B, "Prod")]}, {"ParentId": OU_A})
    stub.add_response("list_accounts_for_parent", {"Accounts": [_account(MEMBER, "prod")]},
                      {"ParentId": OU_B})
    stub.add_response("list_organizational_units_for_parent", {"OrganizationalUnits": []},
                      {"ParentId": OU_B})

    organization = organizations.fetch(client)

    accounts = {a.account_id: a for a in organization.accounts}
    assert set(accounts) == {MANAGEMENT, MEMBER, OTHER}
    assert accounts[MEMBER].ou_path == "Root/Workloads/Prod"
    assert accounts[MEMBER].parent_ids == (OU_B, OU_A, ROOT)
    assert accounts[OTHER].parent_ids == (OU_A, ROOT)
    assert accounts[MANAGEMENT].is_management and accounts[MANAGEMENT].parent_ids == (ROOT,)
    rows = organizations.tree_rows(organization)
    assert rows["org_roots"] == [{"root_id": ROOT, "name": "Root", "scp_enabled": True,
                                  "policy_types": [{"Type": "SERVICE_CONTROL_POLICY",
                                                    "Status": "ENABLED"}]}]
    assert {(u["ou_id"], u["parent_id"], u["path"]) for u in rows["org_units"]} == {
        (OU_A, ROOT, "Root/Workloads"), (OU_B, OU_A, "Root/Workloads/Prod")}
    assert sorted((p["account_id"], p["depth"], p["parent_id"])
                  for p in rows["account_parents"] if p["account_id"] == MEMBER) == [
        (MEMBER, 1, OU_B), (MEMBER, 2, OU_A), (MEMBER, 3, ROOT)]


@pytest.mark.parametrize(
    ("policy_types", "enabled"),
    [
        ([], False),
        ([{"Type": "SERVICE_CONTROL_POLICY", "Status": "PENDING_ENABLE"}], False),
        ([{"Type": "TAG_POLICY", "Status": "ENABLED"}], False),
        ([{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}], True),
    ],
)
def test_scps_count_as_enabled_only_when_the_root_says_enabled(
    policy_types: list[dict[str, str]], enabled: bool
) -> None:
    organization = organizations.Organization(
        "o-abc", MANAGEMENT, (), {"Id": ROOT, "Name": "Root", "PolicyTypes": policy_types}
    )
    assert organizations.tree_rows(organization)["org_roots"][0]["scp_enabled"] is enabled


def test_every_scp_is_described_decoded_and_its_targets_paged_through_empty_pages(
    org: Any,
) -> None:
    client, stub = org
    full = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                     "Resource": "*"}]}
    scp_filter = {"Filter": "SERVICE_CONTROL_POLICY"}
    stub.add_response("list_policies", {"Policies": [], "NextToken": "t1"}, scp_filter)
    stub.add_response("list_policies", {"Policies": [_policy_summary("p-FullAWSAccess",
                                                                     "FullAWSAccess", True)],
                                        "NextToken": "t2"}, {**scp_filter, "NextToken": "t1"})
    stub.add_response("list_policies", {"Policies": [_policy_summary("p-12345678", "DenyUsers")]},
                      {**scp_filter, "NextToken": "t2"})
    stub.add_response("describe_policy", {"Policy": {
        "PolicySummary": _policy_summary("p-FullAWSAccess", "FullAWSAccess", True),
        "Content": json.dumps(full)}}, {"PolicyId": "p-FullAWSAccess"})
    stub.add_response("list_targets_for_policy", {"Targets": [
        {"TargetId": ROOT, "Name": "Root", "Type": "ROOT", "Arn": "arn:aws:organizations::1:r"}]},
        {"PolicyId": "p-FullAWSAccess"})
    stub.add_response("describe_policy", {"Policy": {
        "PolicySummary": _policy_summary("p-12345678", "DenyUsers"),
        "Content": json.dumps(DENY_USERS, indent=2)}}, {"PolicyId": "p-12345678"})
    stub.add_response("list_targets_for_policy", {"Targets": [], "NextToken": "x"},
                      {"PolicyId": "p-12345678"})
    stub.add_response("list_targets_for_policy", {"Targets": [
        {"TargetId": OU_A, "Name": "Workloads", "Type": "ORGANIZATIONAL_UNIT",
         "Arn": "arn:aws:organizations::1:ou"},
        {"TargetId": MEMBER, "Name": "prod", "Type": "ACCOUNT",
         "Arn": "arn:aws:organizations::1:account"}]}, {"PolicyId": "p-12345678", "NextToken": "x"})

    rows = organizations.scps(client)

    assert rows["scps"] == [
        {"policy_id": "p-FullAWSAccess", "name": "FullAWSAccess",
         "description": "FullAWSAccess policy", "aws_managed": True, "document": full},
        {"policy_id": "p-12345678", "name": "DenyUsers", "description": "DenyUsers policy",
         "aws_managed": False, "document": DENY_USERS},
    ]
    assert [(t["policy_id"], t["target_id"], t["target_type"]) for t in rows["scp_targets"]] == [
        ("p-FullAWSAccess", ROOT, "ROOT"),
        ("p-12345678", OU_A, "ORGANIZATIONAL_UNIT"),
        ("p-12345678", MEMBER, "ACCOUNT"),
    ]


@pytest.mark.parametrize(
    ("content", "document"),
    [
        (json.dumps(DENY_USERS), DENY_USERS),
        (DENY_USERS, DENY_USERS),
        ("{not json", {"unparsed": "{not json"}),
    ],
)
def test_scp_content_is_decoded_and_a_broken_one_kept_as_text(content: Any, document: Any) -> None:
    assert organizations.policy_content(content) == document


def test_identity_center_instances_permission_sets_and_provisioned_accounts() -> None:
    client = _client("sso-admin")
    instance = "arn:aws:sso:::instance/ssoins-1234567890abcdef"
    ps = f"{instance}/ps-1234567890abcdef"
    with Stubber(client) as stub:
        stub.add_response("list_instances", {"Instances": [], "NextToken": "i1"})
        stub.add_response("list_instances", {"Instances": [{
            "InstanceArn": instance, "IdentityStoreId": "d-1234567890",
            "OwnerAccountId": MANAGEMENT, "Status": "ACTIVE"}]}, {"NextToken": "i1"})
        stub.add_response("list_permission_sets", {"PermissionSets": [ps]},
                          {"InstanceArn": instance})
        stub.add_response("describe_permission_set", {"PermissionSet": {
            "Name": "ReadOnly", "PermissionSetArn": ps, "SessionDuration": "PT4H"}},
            {"InstanceArn": instance, "PermissionSetArn": ps})
        stub.add_response("list_accounts_for_provisioned_permission_set",
                          {"AccountIds": [], "NextToken": "n"},
                          {"InstanceArn": instance, "PermissionSetArn": ps})
        stub.add_response("list_accounts_for_provisioned_permission_set",
                          {"AccountIds": [MEMBER, OTHER]},
                          {"InstanceArn": instance, "PermissionSetArn": ps, "NextToken": "n"})
        rows = identity_center.fetch(client)
        stub.assert_no_pending_responses()
    assert rows["identity_center_instances"] == [{
        "instance_arn": instance, "identity_store_id": "d-1234567890",
        "owner_account_id": MANAGEMENT, "status": "ACTIVE"}]
    assert rows["permission_sets"] == [{"instance_arn": instance, "permission_set_arn": ps,
                                        "name": "ReadOnly", "session_duration": "PT4H"}]
    assert [a["account_id"] for a in rows["account_assignments"]] == [MEMBER, OTHER]


def test_access_analyzer_findings_are_paged_through_empty_pages_and_typed() -> None:
    client = _client("accessanalyzer")
    analyzer = f"arn:aws:access-analyzer:us-east-1:{MANAGEMENT}:analyzer/org-unused"
    finding = {
        "id": "f-1", "findingType": "UnusedIAMUserAccessKey",
        "resource": f"arn:aws:iam::{MEMBER}:user/ci", "resourceType": "AWS::IAM::User",
        "resourceOwnerAccount": MEMBER, "status": "ACTIVE", "analyzedAt": "2026-11-28T00:00:00Z",
        "createdAt": "2026-11-01T00:00:00Z", "updatedAt": "2026-11-02T00:00:00Z",
    }
    with Stubber(client) as stub:
        stub.add_response("list_analyzers", {"analyzers": [{
            "arn": analyzer, "name": "org-unused", "type": "ORGANIZATION_UNUSED_ACCESS",
            "createdAt": "2026-01-01T00:00:00Z", "status": "ACTIVE"}]})
        stub.add_response("list_findings_v2", {"findings": [], "nextToken": "f"},
                          {"analyzerArn": analyzer})
        stub.add_response("list_findings_v2", {"findings": [finding]},
                          {"analyzerArn": analyzer, "nextToken": "f"})
        listed = access_analyzer.analyzers(client, MANAGEMENT)
        found = access_analyzer.findings(client, analyzer, MANAGEMENT)
        stub.assert_no_pending_responses()
    assert listed == [{"account_id": MANAGEMENT, "arn": analyzer, "name": "org-unused",
                       "type": "ORGANIZATION_UNUSED_ACCESS", "status": "ACTIVE",
                       "region": "us-east-1"}]
    assert [(f["finding_id"], f["resource_owner_account"], f["status"]) for f in found] == [
        ("f-1", MEMBER, "ACTIVE")]
    assert not access_analyzer.needs_details(found[0])  # unused access: the list says enough
    # unused permissions: the details say which services and actions (the migration plan)
    assert access_analyzer.needs_details({**found[0], "finding_type": "UnusedPermission"})
    assert not access_analyzer.needs_details(
        {**found[0], "finding_type": "UnusedPermission", "status": "ARCHIVED"})
