"""Collectors: parsing what AWS returns, waiting for the credential report, recording failures,
and the retries, timeouts and deadline every client has."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.retries import standard

from flows.collect import collect_account, collect_organization, iam_collected
from flows.sources import authorization, credential_report
from flows.sources.organizations import Account
from flows.sources.session import (
    THROTTLE_ATTEMPTS,
    TRANSIENT_ATTEMPTS,
    AccountClients,
    DeadlineExceeded,
    Limits,
    base_session,
)

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
    assert rows["ci"]["access_key_1_last_used_region"] == "us-east-1"
    assert rows["ci"]["access_key_2_last_used_region"] is None  # N/A: never used
    assert rows["ci"]["generated_time"] == GENERATED


def test_every_slot_with_a_rotation_date_is_a_key_active_or_not() -> None:
    keys = credential_report.access_keys(credential_report.parse(REPORT, "111122223333", None))
    assert [(k["user_name"], k["key_slot"], k["active"]) for k in keys] == [
        ("ci", 1, True), ("ci", 2, False)
    ]
    assert keys[1]["resource_id"] == "arn:aws:iam::111122223333:user/ci/access_key_2"
    assert keys[1]["last_used_date"] is None
    assert (keys[0]["last_used_service"], keys[0]["last_used_region"]) == ("s3", "us-east-1")


ENCODED = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D"
DETAILS_PAGE: dict[str, Any] = {
    "UserDetailList": [{
        "UserName": "ana", "Arn": "arn:aws:iam::111122223333:user/ana", "GroupList": ["ops"],
        "UserPolicyList": [{"PolicyName": "own", "PolicyDocument": ENCODED}],
    }],
    "GroupDetailList": [{
        "GroupName": "ops", "GroupId": "AGPAOPS", "Arn": "arn:aws:iam::111122223333:group/ops",
        "GroupPolicyList": [{"PolicyName": "ops-inline", "PolicyDocument": ENCODED}],
        "AttachedManagedPolicies": [{"PolicyName": "ReadOnlyAccess",
                                     "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
    }],
    "Policies": [{
        "PolicyName": "deploy", "Arn": "arn:aws:iam::111122223333:policy/deploy",
        "DefaultVersionId": "v2", "AttachmentCount": 1, "IsAttachable": True,
        "PolicyVersionList": [
            {"VersionId": "v1", "IsDefaultVersion": False, "Document": {"Version": "old"}},
            {"VersionId": "v2", "IsDefaultVersion": True, "Document": ENCODED},
        ],
    }],
}


def test_effective_policy_rows_come_from_the_same_authorization_pages() -> None:
    """What a migration plan needs is in the pages already fetched: no call per user."""
    empty = {"Version": "2012-10-17", "Statement": []}
    pages, account = [DETAILS_PAGE], "111122223333"
    [inline] = authorization.user_policies(pages, account)
    assert (inline["user_name"], inline["policy_name"], inline["document"]) == ("ana", "own", empty)
    [group] = authorization.groups(pages, account)
    assert group["attached_policies"] == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    [group_inline] = authorization.group_policies(pages, account)
    assert (group_inline["group_name"], group_inline["document"]) == ("ops", empty)
    [managed] = authorization.managed_policies(pages, account)
    assert managed["default_version_id"] == "v2" and managed["document"] == empty  # the default


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


def test_a_report_started_earlier_is_waited_for_only_what_is_left() -> None:
    now = [100.0]
    iam, slept = _ReportStates(["STARTED", "COMPLETE"]), []
    started = credential_report.start(iam, clock=lambda: now[0])
    now[0] += 0.3  # the account's other sources took 0.3 s
    text, _ = credential_report.fetch(iam, started=started, sleep=slept.append, clock=lambda: now[0])
    assert text == REPORT and iam.generated == 2 and slept == [pytest.approx(0.2)]

    iam, slept = _ReportStates(["COMPLETE"]), []  # one under 4 hours old: no wait, no second ask
    started = credential_report.start(iam)
    assert credential_report.fetch(iam, started=started, sleep=slept.append)[0] == REPORT
    assert iam.generated == 1 and slept == []

    iam, slept = _ReportStates(["STARTED", "INPROGRESS", "COMPLETE"]), []
    started = credential_report.start(iam, clock=lambda: 0.0)  # 0.5 s or more ago: no first wait
    credential_report.fetch(iam, started=started, sleep=slept.append, clock=lambda: 0.7)
    assert iam.generated == 3 and slept == [1.0]


def test_the_report_is_asked_for_first_and_read_after_the_other_iam_sources(
    simulated_org: Any,
) -> None:
    session, organization = simulated_org
    management = next(a for a in organization.accounts if a.is_management)
    calls: list[str] = []
    session.events.register("before-call.iam.*",
                            lambda model, **_: calls.append(model.name))
    data, _ = collect_account(session, management, role_name="OrganizationAccountAccessRole",
                              external_id=None)
    assert not data.errors and data.rows["credential_report"]
    assert calls[0] == "GenerateCredentialReport"
    read = calls.index("GetCredentialReport")
    assert {"GetAccountAuthorizationDetails", "ListOpenIDConnectProviders", "ListSAMLProviders",
            "GetAccountSummary"} <= set(calls[:read])


def test_a_refused_report_request_is_the_reports_error_and_the_rest_is_collected(
    simulated_org: Any,
) -> None:
    session, organization = simulated_org
    management = next(a for a in organization.accounts if a.is_management)
    session.events.register("before-call.iam.GenerateCredentialReport",
                            _deny("GenerateCredentialReport"))
    data, _ = collect_account(session, management, role_name="OrganizationAccountAccessRole",
                              external_id=None)
    assert [(e["source"], e["operation"], e["error_code"]) for e in data.errors] == [
        ("credential_report", "GenerateCredentialReport", "AccessDenied")]
    assert data.rows["iam_users"] and data.rows["account_summary"]
    assert "credential_report" not in data.rows


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


# --- names with every character IAM allows, in reports that quote them or not -------------------

_TAIL = REPORT.splitlines()[2].split(",", 2)[2]  # ci's 20 columns after user and arn
HEADER = REPORT.splitlines()[0]


@pytest.mark.parametrize(("name", "path"), [
    ("a+b=c,d.e@f_g-h", "/"),
    (",lead", "/p,a:th/x/"),
    ("trail,", "/"),
    ("arn", "/arn:x,arn:y/"),
    ("+=,.@_-", "/!\"#$%&'()*+,-.:;<=>?@[\\]^_`{|}~/"),
])
def test_user_names_and_paths_with_commas_parse_quoted_or_not(name: str, path: str) -> None:
    arn = f"arn:aws:iam::111122223333:user{path}{name}"
    unquoted = f"{HEADER}\n{name},{arn},{_TAIL}\n"
    quoted = f'{HEADER}\n"{name}","{arn.replace(chr(34), chr(34) * 2)}",{_TAIL}\n'
    for text in (unquoted, quoted):
        [row] = credential_report.parse(text, "111122223333", None)
        assert (row["user"], row["arn"]) == (name, arn)
        assert row["access_key_1_last_used_service"] == "s3"


def test_a_report_line_that_cannot_be_split_names_the_line() -> None:
    with pytest.raises(ValueError, match="cannot tell user from ARN"):
        credential_report.parse(f"{HEADER}\na,b,not-an-arn,{_TAIL}\n", "1", None)
    with pytest.raises(ValueError, match="fields, its header"):
        credential_report.parse(f"{HEADER}\nshort,line\n", "1", None)


# --- any exception of a source is that source's error, never the run's ---------------------------


def _raise(error: Exception) -> Any:
    def handler(*_: Any, **__: Any) -> None:
        raise error
    return handler


def test_an_exception_botocore_does_not_wrap_is_that_sources_error(simulated_org: Any) -> None:
    from botocore.parsers import ResponseParserError

    session, organization = simulated_org
    management = next(a for a in organization.accounts if a.is_management)
    session.events.register("before-call.iam.GetAccountSummary",
                            _raise(ResponseParserError("Unable to parse response")))
    session.events.register("before-call.iam.ListSAMLProviders", _raise(ValueError("odd")))
    data, _ = collect_account(session, management, role_name="OrganizationAccountAccessRole",
                              external_id=None)
    assert sorted((e["source"], e["operation"], e["error_code"], e["message"])
                  for e in data.errors) == [
        ("account_summary", "GetAccountSummary", "ResponseParserError", "Unable to parse response"),
        ("identity_providers", "ListSAMLProviders", "ValueError", "odd")]
    assert data.rows["iam_users"] and data.rows["credential_report"]


def test_an_exception_outside_every_source_is_the_account_not_collected(
    simulated_org: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows import collect

    session, organization = simulated_org
    monkeypatch.setattr(collect, "_collect_access_analyzer", _raise(KeyError("analyzers")))
    monkeypatch.setattr(collect.organizations, "tree_rows", _raise(TypeError("tree")))
    member = next(a for a in organization.accounts if not a.is_management)
    data, clients = collect_account(session, member, role_name="OrganizationAccountAccessRole",
                                    external_id=None)
    assert clients is None and data.rows == {}
    assert [(e["source"], e["operation"], e["error_code"]) for e in data.errors] == [
        ("session", "CollectAccount", "KeyError")]
    assert not iam_collected(data)
    org_data, _ = collect_organization(session, organization)
    assert [(e["source"], e["error_code"]) for e in org_data.errors] == [
        ("organizations", "TypeError")]
    assert org_data.rows["scps"]  # the other organization sources were still collected


# --- retries, timeouts, deadline: botocore's mechanisms, answered without a server ---------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def _answering(status: int, body: bytes, content_type: str = "text/xml") -> Any:
    """before-send handler that answers every attempt itself (and counts the attempts)."""
    def handler(request: Any, **_: Any) -> Any:
        handler.attempts += 1  # type: ignore[attr-defined]
        return AWSResponse(request.url, status, {"Content-Type": content_type}, _Raw(body))
    handler.attempts = 0  # type: ignore[attr-defined]
    return handler


def _iam_error(code: str) -> bytes:
    return (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m</Message>"
            f"</Error><RequestId>r</RequestId></ErrorResponse>").encode()


@pytest.mark.parametrize(("status", "body", "attempts", "code"), [
    (400, _iam_error("Throttling"), THROTTLE_ATTEMPTS, "Throttling"),
    (503, _iam_error("ServiceUnavailable"), TRANSIENT_ATTEMPTS, "ServiceUnavailable"),
    (503, b"Service Unavailable", TRANSIENT_ATTEMPTS, "503"),  # plain text: a retried 5xx
    (403, _iam_error("AccessDenied"), 1, "AccessDenied"),
])
def test_throttling_has_its_own_retry_budget(
    status: int, body: bytes, attempts: int, code: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(standard.ExponentialBackoff._DEFAULT_BACKOFF_CONFIG,
                        "throttling_base_scale", 0.001)
    iam = Limits().client(base_session(), "iam")
    answer = _answering(status, body)
    iam.meta.events.register_first("before-send.iam", answer)
    with pytest.raises(ClientError) as raised:
        iam.get_account_summary()
    assert raised.value.response["Error"]["Code"] == code
    assert answer.attempts == attempts


def test_a_malformed_json_page_is_an_error_not_an_empty_page() -> None:
    from botocore.parsers import ResponseParserError

    org = Limits().client(base_session(), "organizations")
    org.meta.events.register_first("before-send.organizations", _answering(
        200, b'{"Policies": [{"Id": "p-1"', "application/x-amz-json-1.1"))
    with pytest.raises(ResponseParserError, match="not valid JSON"):
        org.list_policies(Filter="SERVICE_CONTROL_POLICY")


def test_past_the_deadline_no_attempt_is_sent() -> None:
    limits = Limits(deadline=time.monotonic() - 1, budget=5)
    iam = limits.client(base_session(), "iam")
    answer = _answering(400, _iam_error("Throttling"))
    iam.meta.events.register("before-send.iam", answer)  # after the deadline's hook
    with pytest.raises(DeadlineExceeded, match="deadline of 5 s passed before GetAccountSummary"):
        iam.get_account_summary()
    assert answer.attempts == 0
    with pytest.raises(DeadlineExceeded):
        AccountClients(base_session(), "1", limits).client("iam", source="iam")
