"""Unused permissions left out of the migration plan's policies: the evidence (Access Analyzer
UnusedPermission findings, IAM service last-accessed details) and the narrowing, never wider."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from checks_fixtures import ACCOUNT, add_user, new_snapshot

from reports.migration import facts
from reports.migration.facts import EffectivePolicies, PolicyDocument
from reports.migration.permissions import merge, narrow
from reports.migration.unused import NOT_KNOWN, UnusedAccess, from_findings, from_last_accessed
from store import snapshot

S3_UNUSED = UnusedAccess(("Access Analyzer finding f-1",), frozenset({"ec2"}),
                         frozenset({"s3:deletebucket", "s3:getobjectacl"}))


def allow(*actions: str, effect: str = "Allow") -> dict[str, Any]:
    return {"Effect": effect, "Action": list(actions), "Resource": "*"}


# (case, statement, what stays of its actions (None: the statement goes), left out)
NARROWING = [
    ("unused action left out", allow("s3:GetObject", "s3:DeleteBucket"), ["s3:GetObject"],
     ["s3:DeleteBucket"]),
    ("case of the policy does not matter", allow("S3:deleteBucket", "s3:PutObject"),
     ["s3:PutObject"], ["S3:deleteBucket"]),
    ("whole unused service, wildcards too", allow("ec2:*", "ec2:Describe*", "s3:PutObject"),
     ["s3:PutObject"], ["ec2:*", "ec2:Describe*"]),
    ("nothing left: the statement goes", allow("ec2:RunInstances"), None, ["ec2:RunInstances"]),
    ("a wildcard covering unused actions stays", allow("s3:Get*"), ["s3:Get*"], []),
    ("everything stays everything", allow("*"), ["*"], []),
    ("a Deny never loses an action", allow("ec2:*", "s3:DeleteBucket", effect="Deny"),
     ["ec2:*", "s3:DeleteBucket"], []),
]


@pytest.mark.parametrize(("case", "statement", "stays", "left_out"), NARROWING,
                         ids=[n[0] for n in NARROWING])
def test_narrowing_leaves_out_only_what_is_named_unused(
        case: str, statement: dict[str, Any], stays: list[str] | None,
        left_out: list[str]) -> None:
    narrowed = narrow(statement, S3_UNUSED)
    assert list(narrowed.left_out) == left_out
    if stays is None:
        assert narrowed.statement is None
    else:
        assert narrowed.statement is not None and narrowed.statement["Action"] == stays
        assert {k: v for k, v in narrowed.statement.items() if k != "Action"} == {
            k: v for k, v in statement.items() if k != "Action"}


def test_not_action_and_string_actions() -> None:
    not_action = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    assert narrow(not_action, S3_UNUSED).statement == not_action
    assert narrow(not_action, S3_UNUSED).kept
    assert narrow({**allow(), "Action": "s3:DeleteBucket"}, S3_UNUSED).statement is None
    kept = narrow({**allow(), "Action": "s3:PutObject"}, S3_UNUSED)
    assert kept.statement == {**allow(), "Action": "s3:PutObject"} and not kept.left_out


def test_nothing_known_changes_nothing_and_says_so() -> None:
    statement = allow("ec2:*", "s3:DeleteBucket")
    assert narrow(statement, NOT_KNOWN).statement is statement
    permissions = merge(EffectivePolicies((), (PolicyDocument("inline policy x", {
        "Version": "2012-10-17", "Statement": [statement]}),)))
    assert permissions.inline_policy["Statement"][0]["Action"] == ["ec2:*", "s3:DeleteBucket"]
    assert any("unused permissions not known" in n for n in permissions.notes)


def test_merge_says_what_was_left_out_and_on_what_evidence() -> None:
    managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    permissions = merge(EffectivePolicies((managed,), (
        PolicyDocument("inline policy a", {"Statement": allow("ec2:RunInstances")}),
        PolicyDocument("inline policy b", {"Statement": [allow("s3:DeleteBucket", "s3:Get*")]}),
    )), S3_UNUSED)
    assert permissions.left_out == ("ec2:RunInstances", "s3:DeleteBucket")
    statements = permissions.inline_policy["Statement"]
    assert [s["Action"] for s in statements] == [["s3:Get*"]]
    assert statements[0]["Sid"].startswith("P2S1")  # Sids still name the source
    text = " ".join(permissions.notes)
    assert "finding f-1: ec2:RunInstances, s3:DeleteBucket" in text
    assert "s3:Get* is a wildcard covering unused actions" in text
    assert "AWS managed policies are attached as they are" in text
    assert permissions.managed_policy_arns == (managed,)


# A get_finding_v2 findingDetails list as Access Analyzer returns it for an UnusedPermission
# finding (botocore's UnusedPermissionDetails): a service unused as a whole, and one used but
# for two actions.
FINDING_DETAILS = [
    {"unusedPermissionDetails": {"serviceNamespace": "ec2",
                                 "lastAccessed": datetime(2026, 1, 2, tzinfo=UTC)}},
    {"unusedPermissionDetails": {"serviceNamespace": "s3", "actions": [
        {"action": "s3:DeleteBucket"},
        {"action": "GetObjectAcl", "lastAccessed": datetime(2026, 2, 1, tzinfo=UTC)}]}},
]


def test_finding_details_become_unused_services_and_actions() -> None:
    unused = from_findings([("f-1", FINDING_DETAILS)])
    assert unused.evidence == ("Access Analyzer finding f-1",)
    assert unused.services == {"ec2"}
    assert unused.actions == {"s3:deletebucket", "s3:getobjectacl"}  # s3 is not unused as a whole
    assert from_findings([]) == NOT_KNOWN
    missing = from_findings([("f-2", None)])
    assert not missing.known and "f-2 were not fetched" in missing.unknown_because


# GetServiceLastAccessedDetails (Granularity ACTION_LEVEL), the ServicesLastAccessed part of a
# COMPLETED job as IAM documents it.
SINCE = datetime(2026, 9, 1, tzinfo=UTC)
SERVICES_LAST_ACCESSED = [
    {"ServiceName": "Amazon EC2", "ServiceNamespace": "ec2", "TotalAuthenticatedEntities": 0},
    {"ServiceName": "AWS Lambda", "ServiceNamespace": "lambda",
     "LastAuthenticated": datetime(2026, 3, 1, tzinfo=UTC), "TotalAuthenticatedEntities": 1},
    {"ServiceName": "Amazon S3", "ServiceNamespace": "s3",
     "LastAuthenticated": datetime(2026, 11, 20, tzinfo=UTC), "TotalAuthenticatedEntities": 1,
     "TrackedActionsLastAccessed": [
         {"ActionName": "GetObject", "LastAccessedTime": datetime(2026, 11, 20, tzinfo=UTC)},
         {"ActionName": "DeleteBucket"}]},
]


def test_last_accessed_details_become_unused_services_and_actions() -> None:
    unused = from_last_accessed("job-1", SERVICES_LAST_ACCESSED, SINCE)
    assert unused.services == {"ec2", "lambda"}
    assert unused.actions == {"s3:deletebucket"}
    assert unused.evidence == ("IAM service last accessed details (job job-1, not used since "
                               "2026-09-01)",)


def test_facts_read_active_unused_permission_findings(tmp_path: Path) -> None:
    con = new_snapshot(tmp_path / "s.duckdb")
    arn = add_user(con, "ana")
    add_user(con, "bo")
    snapshot.insert_rows(con, "access_analyzer_findings", [
        {"account_id": ACCOUNT, "finding_id": finding_id, "finding_type": "UnusedPermission",
         "resource": arn, "resource_type": "AWS::IAM::User", "status": status,
         "details": json.loads(json.dumps(FINDING_DETAILS, default=str))}
        for finding_id, status in (("f-1", "ACTIVE"), ("f-old", "ARCHIVED"))])
    ana, bo = facts.load(con).users
    assert ana.unused.evidence == ("Access Analyzer finding f-1",)
    assert ana.unused.services == {"ec2"}
    assert not bo.unused.known


# --- plan --deep: the calls, with IAM's recorded response shapes (moto has no
# GenerateServiceLastAccessedDetails: botocore's Stubber stands in for IAM here) ------------------

MANAGEMENT = "111111111111"
J_ANA = "aaaaaaaa-0000-4000-8000-000000000001"  # job ids are UUIDs (36 characters)
J_CY = "cccccccc-0000-4000-8000-000000000003"


class _StubbedSession:
    """A base session whose IAM client is the stubbed one (AccountClients adds its hooks)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def client(self, service: str, **_: Any) -> Any:
        assert service == "iam"
        return self._client


def _iam_stub() -> tuple[Any, Any]:
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x", endpoint_url="http://127.0.0.1:9")
    return client, Stubber(client)


def _user(name: str) -> tuple[str, str]:
    return MANAGEMENT, f"arn:aws:iam::{MANAGEMENT}:user/{name}"


def _job(job_id: str, status: str = "COMPLETED") -> dict[str, Any]:
    body: dict[str, Any] = {"JobStatus": status, "JobCreationDate": SINCE,
                            "JobCompletionDate": SINCE, "ServicesLastAccessed": []}
    if status == "COMPLETED":  # botocore's model requires the completion date either way
        body |= {"JobType": "ACTION_LEVEL", "ServicesLastAccessed": SERVICES_LAST_ACCESSED,
                 "IsTruncated": False}
    return body


def test_deep_starts_every_job_then_polls_and_one_denied_user_costs_only_its_own_data() -> None:
    from flows.last_accessed import fetch_last_accessed

    client, stub = _iam_stub()
    ana, bo, cy = _user("ana"), _user("bo"), _user("cy")
    stub.add_response("generate_service_last_accessed_details", {"JobId": J_ANA},
                      {"Arn": ana[1], "Granularity": "ACTION_LEVEL"})
    stub.add_client_error("generate_service_last_accessed_details", "AccessDenied",
                          expected_params={"Arn": bo[1], "Granularity": "ACTION_LEVEL"})
    stub.add_response("generate_service_last_accessed_details", {"JobId": J_CY},
                      {"Arn": cy[1], "Granularity": "ACTION_LEVEL"})
    stub.add_response("get_service_last_accessed_details", _job(J_ANA, "IN_PROGRESS"),
                      {"JobId": J_ANA, "MaxItems": 1000})
    stub.add_response("get_service_last_accessed_details", _job(J_CY),
                      {"JobId": J_CY, "MaxItems": 1000})
    stub.add_response("get_service_last_accessed_details", _job(J_ANA),
                      {"JobId": J_ANA, "MaxItems": 1000})
    waits: list[float] = []
    with stub:
        result = fetch_last_accessed(_StubbedSession(client), [ana, bo, cy],  # type: ignore[arg-type]
                                     management_account_id=MANAGEMENT, role_name="audit",
                                     external_id=None, budget=20, sleep=waits.append)
        stub.assert_no_pending_responses()
    assert set(result.found) == {ana[1], cy[1]} and result.found[cy[1]].job_id == J_CY
    assert result.lacking == {bo[1]: "GenerateServiceLastAccessedDetails: AccessDenied"}
    assert result.calls == 6 and len(waits) == 1 and not result.skipped


def test_deep_stays_within_its_budget_and_names_who_it_skipped() -> None:
    from flows.last_accessed import fetch_last_accessed

    client, stub = _iam_stub()
    users = [_user(n) for n in ("ana", "bo", "cy")]
    stub.add_response("generate_service_last_accessed_details", {"JobId": J_ANA})
    stub.add_response("get_service_last_accessed_details", _job(J_ANA))
    with stub:
        result = fetch_last_accessed(_StubbedSession(client), users,  # type: ignore[arg-type]
                                     management_account_id=MANAGEMENT, role_name="audit",
                                     external_id=None, budget=3, sleep=lambda _: None)
        stub.assert_no_pending_responses()
    assert list(result.found) == [users[0][1]] and result.calls == 2 <= 3
    assert result.skipped == [users[1][1], users[2][1]]


def test_deep_evidence_replaces_the_findings_and_lacking_deep_data_is_said() -> None:
    from reports.migration.unused import with_deep

    finding = from_findings([("f-1", FINDING_DETAILS)])
    deep = from_last_accessed("job-1", SERVICES_LAST_ACCESSED, SINCE)
    assert with_deep(finding, deep, None) is deep
    assert with_deep(finding, None, None) is finding
    lacking = with_deep(NOT_KNOWN, None, "GenerateServiceLastAccessedDetails: AccessDenied")
    notes = merge(EffectivePolicies(), lacking).notes
    assert any("--deep got no last-accessed details (GenerateServiceLastAccessedDetails: "
               "AccessDenied)" in n for n in notes)
    assert any("unused permissions not known" in n for n in notes)
