"""Collectors: parsing what AWS returns, waiting for the credential report, recording failures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from flows.collect import collect_account
from flows.sources import authorization, credential_report
from flows.sources.organizations import Account

# The header and a root row exactly as AWS writes them, plus two users.
# ruff: noqa: E501
REPORT = """user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated
<root_account>,arn:aws:iam::111122223333:root,2019-01-01T00:00:00+00:00,not_supported,2026-11-01T10:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
ci,arn:aws:iam::111122223333:user/ci,2024-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2024-01-01T00:00:00+00:00,2026-11-20T08:00:00+00:00,us-east-1,s3,false,2025-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A
ana,arn:aws:iam::111122223333:user/ana,2024-01-01T00:00:00+00:00,true,no_information,2024-02-01T00:00:00+00:00,N/A,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
"""
GENERATED = datetime(2026, 11, 28, tzinfo=UTC)


def test_report_rows_are_typed_and_keep_the_root_row() -> None:
    rows = {r["user"]: r for r in credential_report.parse(REPORT, "111122223333", GENERATED)}
    assert set(rows) == {"<root_account>", "ci", "ana"}
    assert rows["<root_account>"]["mfa_active"] is True
    assert rows["<root_account>"]["password_enabled"] is None  # not_supported
    assert rows["ana"]["password_enabled"] is True and rows["ana"]["password_last_used"] is None
    assert rows["ci"]["access_key_1_last_used_date"] == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert rows["ci"]["access_key_1_last_used_service"] == "s3"
    assert rows["ci"]["generated_time"] == GENERATED


def test_every_slot_with_a_rotation_date_is_a_key_active_or_not() -> None:
    keys = credential_report.access_keys(credential_report.parse(REPORT, "111122223333", None))
    assert [(k["user_name"], k["key_slot"], k["active"]) for k in keys] == [
        ("ci", 1, True), ("ci", 2, False)
    ]
    assert keys[1]["resource_id"] == "arn:aws:iam::111122223333:user/ci/access_key_2"
    assert keys[1]["last_used_date"] is None


class _ReportStates:
    """The two IAM calls of the report, answering with a scripted sequence of states."""

    def __init__(self, states: list[str]) -> None:
        self.states, self.generated = list(states), 0

    def generate_credential_report(self) -> dict[str, Any]:
        self.generated += 1
        return {"State": self.states.pop(0)}

    def get_credential_report(self) -> dict[str, Any]:
        return {"Content": REPORT.encode(), "GeneratedTime": GENERATED}


def test_report_is_fetched_once_generation_completes() -> None:
    iam, slept = _ReportStates(["STARTED", "INPROGRESS", "COMPLETE"]), []
    text, generated = credential_report.fetch(iam, sleep=slept.append)
    assert text == REPORT and generated == GENERATED
    assert iam.generated == 3 and slept == [0.5, 1.0]


def test_report_that_never_completes_is_an_error_not_a_hang() -> None:
    iam = _ReportStates(["INPROGRESS"] * 3)
    with pytest.raises(credential_report.ReportNotReady):
        credential_report.fetch(iam, max_polls=3, sleep=lambda _: None)


@pytest.mark.parametrize(
    "document",
    [
        {"Version": "2012-10-17", "Statement": []},
        '{"Version": "2012-10-17", "Statement": []}',
        "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%5D%7D",
    ],
)
def test_policy_documents_decode_in_every_form_iam_returns(document: Any) -> None:
    assert authorization.policy_document(document) == {"Version": "2012-10-17", "Statement": []}


def _deny(operation: str, only_if: str = "") -> Any:
    def handler(params: dict[str, Any], **_: Any) -> None:
        if only_if in str(params):
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": f"not allowed: {operation}"}},
                operation,
            )
    return handler


def test_a_denied_source_is_recorded_and_the_rest_of_the_account_is_collected(
    simulated_org: Any,
) -> None:
    session, organization = simulated_org
    management = next(a for a in organization.accounts if a.is_management)
    session.events.register(
        "before-call.iam.GetAccountAuthorizationDetails", _deny("GetAccountAuthorizationDetails")
    )
    data, _ = collect_account(session, management, role_name="OrganizationAccountAccessRole",
                              external_id=None)
    assert [(e["source"], e["error_code"]) for e in data.errors] == [
        ("authorization", "AccessDenied")
    ]
    assert data.rows["credential_report"] and data.rows["account_summary"]
    assert "iam_users" not in data.rows


def test_an_account_whose_role_cannot_be_assumed_is_kept_with_its_error(
    simulated_org: Any,
) -> None:
    session, organization = simulated_org
    member: Account = next(a for a in organization.accounts if a.name == "dev")
    session.events.register("before-call.sts.AssumeRole", _deny("AssumeRole", member.account_id))
    data, clients = collect_account(session, member, role_name="OrganizationAccountAccessRole",
                                    external_id="ext-123")
    assert clients is None and data.rows == {}
    assert data.errors[0]["operation"] == "AssumeRole"
    assert data.errors[0]["error_code"] == "AccessDenied"
