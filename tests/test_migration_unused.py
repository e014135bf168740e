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
