"""boto3 sessions and clients: the standard credential chain, retries, timeouts, one log per account.

Every client rolecall makes goes through `AccountClients` (or `Limits.client`), so every API call
of an account is counted (the budget is 30 per account), every response is kept as evidence, and
every request obeys the same limits, in one place:

- retries: botocore's standard mode (TRANSIENT_ATTEMPTS attempts for 5xx, timeouts and
  connection errors), and throttling alone gets THROTTLE_ATTEMPTS with botocore's own
  throttling backoff. A throttled call is worth waiting for; an endpoint that lacks a service,
  or is down, fails in seconds instead of ten backed-off attempts. Not adaptive mode: each
  account's calls are sequential already, and its client-side token bucket falls to 0.5
  requests/s after a throttle at a low measured rate (30 % throttling took 10x as long).
- timeouts: connect and read timeouts on every attempt (a hung call costs one read timeout
  per attempt, not botocore's 60 s).
- deadline: a `before-send` hook refuses every attempt once the account's deadline has
  passed, so a slow account stops, retries included, and what it did not collect is recorded
  as `DeadlineExceeded` errors instead of holding up the run.
- bodies: a 5xx whose body is not in the protocol's format (a proxy's plain-text "Service
  Unavailable") is handed to botocore's generic-5xx path, so it is retried like any 5xx; a
  success body that is not valid JSON fails the call with ResponseParserError instead of
  parsing as an empty page.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

import boto3
import orjson
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError
from botocore.retries import standard
from botocore.utils import parse_timestamp as botocore_timestamp
from dateutil.tz import tzutc

# Attempts (first one included) for 5xx, timeouts and connection errors: botocore's default.
TRANSIENT_ATTEMPTS = 3
# Attempts for throttling errors: at 30 % throttled calls, ten throttles in a row are 6 in a
# million; botocore's throttling backoff (up to 20 s each) spreads them out.
THROTTLE_ATTEMPTS = 10
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
ACCOUNT_DEADLINE = 300.0  # seconds one account's collection may take
_XML_PROTOCOLS = ("query", "ec2", "rest-xml")
_JSON_PROTOCOLS = ("json", "rest-json")


def _names(*bases: type) -> frozenset[str]:
    """Names of botocore exception classes and all their subclasses (their error_code in
    collection_errors, flows/collect.py)."""
    found, todo = set(), list(bases)
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return frozenset(found)


# Errors a later try may not meet again: throttling past THROTTLE_ATTEMPTS, a service's 5xx
# (its code, or the bare status botocore reports for an empty 5xx body), a connection that
# failed or timed out. botocore's own lists, so the two layers of retry agree on what is
# transient; AccessDenied, a missing service or a malformed body would fail the same way again.
TRANSIENT_CODES = frozenset({
    *standard.ThrottledRetryableChecker._THROTTLED_ERROR_CODES,
    *standard.TransientRetryableChecker._TRANSIENT_ERROR_CODES,
    *(str(s) for s in standard.TransientRetryableChecker._TRANSIENT_STATUS_CODES),
    "InternalError", "InternalFailure", "InternalServerError", "InternalServerException",
    "ServiceUnavailable", "ServiceUnavailableException",
    *_names(*standard.TransientRetryableChecker._TRANSIENT_EXCEPTION_CLS),
})


def transient(error_code: str | None) -> bool:
    return error_code in TRANSIENT_CODES


def error_code(error: BaseException) -> str:
    """The service's error code of a ClientError, else the exception's type name (as
    collection_errors records it)."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") or "ClientError"
    if isinstance(error, DeadlineExceeded):
        return error.code
    return type(error).__name__


class DeadlineExceeded(RuntimeError):
    """The account's collection deadline passed before this request could be sent."""

    code = "Deadline"


@dataclass(frozen=True)
class Limits:
    """Timeouts of every attempt, the moment (time.monotonic()) no attempt may start after, and
    the endpoint."""

    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    deadline: float | None = None
    budget: float | None = None  # the deadline's length in seconds, for its error message
    # The run's endpoint when it must be explicit (a Dask worker does not share the flow
    # machine's $AWS_ENDPOINT_URL); None: whatever boto3's own chain says.
    endpoint_url: str | None = None

    @classmethod
    def starting_now(cls, connect_timeout: float = CONNECT_TIMEOUT,
                     read_timeout: float = READ_TIMEOUT,
                     account_deadline: float | None = ACCOUNT_DEADLINE,
                     endpoint_url: str | None = None) -> Limits:
        """Limits whose deadline is `account_deadline` seconds from now (None: no deadline)."""
        deadline = None if account_deadline is None else time.monotonic() + account_deadline
        return cls(connect_timeout, read_timeout, deadline, account_deadline, endpoint_url)

    def config(self) -> Config:
        return Config(
            retries={"mode": "standard", "total_max_attempts": TRANSIENT_ATTEMPTS},
            connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
        )

    def passed(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def check(self, what: str) -> None:
        """Raise DeadlineExceeded if the deadline has passed (before `what` is started)."""
        if self.passed():
            raise DeadlineExceeded(
                f"account deadline of {self.budget:g} s passed before {what}"
            )

    def client(self, session: boto3.Session | AssumedSession, service: str) -> Any:
        """A client of `session` with these timeouts, retries, deadline and body checks."""
        client = session.client(service, config=self.config(), endpoint_url=self.endpoint_url)
        events = client.meta.events
        service_id = client.meta.service_model.service_id.hyphenize()
        protocol = client.meta.service_model.resolved_protocol
        # Registered after botocore's own handler on the same event: botocore decides up to
        # TRANSIENT_ATTEMPTS; past them, this one keeps retrying throttling errors only.
        events.register(f"needs-retry.{service_id}", ThrottleRetries(THROTTLE_ATTEMPTS))
        events.register(f"before-send.{service_id}", self._before_send)
        events.register(f"before-parse.{service_id}",
                        lambda **kwargs: _check_body(protocol, **kwargs))
        return client

    def _before_send(self, event_name: str = "", **_: Any) -> None:
        """Fires per attempt (retries too): past the deadline no request leaves."""
        self.check(event_name.rsplit(".", 1)[-1] or "a request")  # before-send.<service>.<op>


class ThrottleRetries:
    """needs-retry handler: retry throttling errors up to `attempts`, with botocore's backoff.

    botocore's standard handler answers first (the first answer that is not None wins); this
    one only matters once it has said "no more", and then only for errors botocore's own
    ThrottlingErrorDetector calls throttling.
    """

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        self._adapter = standard.RetryEventAdapter()
        self._detector = standard.ThrottlingErrorDetector(self._adapter)
        self._backoff = standard.ExponentialBackoff(throttling_detector=self._detector)

    def __call__(self, **kwargs: Any) -> float | None:
        context = self._adapter.create_retry_context(**kwargs)
        if context.attempt_number >= self.attempts:
            return None
        if not self._detector.is_throttling_error_from_context(context):
            return None
        return self._backoff.delay_amount(context)


def _check_body(protocol: str, response_dict: dict[str, Any], operation_model: Any,
                **_: Any) -> None:
    """before-parse hook: see the module docstring ("bodies")."""
    status, body = response_dict.get("status_code", 0), response_dict.get("body")
    if not isinstance(body, bytes) or not body.strip():
        return
    if status >= 500 and not _well_formed(protocol, body):
        response_dict["body"] = b""  # botocore's generic 5xx error: retried as transient
    elif (status < 300 and protocol in _JSON_PROTOCOLS and _json_document(operation_model)
          and not _well_formed(protocol, body)):
        raise ResponseParserError(
            f"{operation_model.name}: response is not valid JSON "
            f"({len(body)} bytes, ends {body[-40:]!r})"
        )


def _json_document(operation_model: Any) -> bool:
    """The operation's success body is a JSON document (not a streamed or raw payload)."""
    shape = operation_model.output_shape
    return not (operation_model.has_streaming_output
                or (shape is not None and shape.serialization.get("payload")))


def _well_formed(protocol: str, body: bytes) -> bool:
    try:
        if protocol in _XML_PROTOCOLS:
            ElementTree.fromstring(body)
        elif protocol in _JSON_PROTOCOLS:
            json.loads(body)
    except (ElementTree.ParseError, ValueError):
        return False
    return True


def base_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """The caller's own session: credentials, region, profile and AWS_ENDPOINT_URL as boto3 finds them."""
    session = boto3.Session(profile_name=profile, region_name=region or None)
    session._session.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=_timestamp)
    return session


def _timestamp(value: Any) -> datetime:
    """ISO 8601 by datetime.fromisoformat (microseconds), else botocore's own (dateutil: about
    a millisecond each, a GetAccountAuthorizationDetails page holds hundreds)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return botocore_timestamp(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tzutc())
    return botocore_timestamp(value)


def assume_role_session(
    base: boto3.Session, account_id: str, role_name: str, external_id: str | None,
    limits: Limits | None = None,
) -> tuple[AssumedSession, dict[str, Any]]:
    """A session in a member account through the audit role (with an External ID when given)."""
    partition = base.get_partition_for_region(base.region_name or "us-east-1")
    params: dict[str, Any] = {
        "RoleArn": f"arn:{partition}:iam::{account_id}:role/{role_name}",
        "RoleSessionName": "rolecall-audit",
        "DurationSeconds": 3600,
    }
    if external_id:
        params["ExternalId"] = external_id
    response = (limits or Limits()).client(base, "sts").assume_role(**params)
    creds = response["Credentials"]
    session = AssumedSession(base, creds["AccessKeyId"], creds["SecretAccessKey"],
                             creds["SessionToken"])
    return session, response


@dataclass(frozen=True)
class AssumedSession:
    """An assumed role's clients, made by the base session: its loaded service models and
    endpoint data are shared, where a boto3.Session per account loads and parses them again."""

    base: boto3.Session
    access_key_id: str
    secret_access_key: str = field(repr=False)  # never in a log line or a traceback
    session_token: str = field(repr=False)

    @property
    def region_name(self) -> str | None:
        return self.base.region_name

    def client(self, service: str, **kwargs: Any) -> Any:
        return self.base.client(service, aws_access_key_id=self.access_key_id,
                                aws_secret_access_key=self.secret_access_key,
                                aws_session_token=self.session_token, **kwargs)


@dataclass
class Payload:
    source: str
    operation: str
    page: int
    received_at: datetime
    body: bytes | dict[str, Any]  # JSON text (evidence_json), or what orjson refused as values


@dataclass
class AccountClients:
    """Clients for one account that count calls, keep every response and share its limits."""

    session: boto3.Session | AssumedSession
    account_id: str
    limits: Limits = field(default_factory=Limits)
    calls: int = 0
    payloads: list[Payload] = field(default_factory=list)
    _pages: Counter[str] = field(default_factory=Counter)

    def client(self, service: str, source: str) -> Any:
        """A counted client with the account's timeouts, retries and deadline."""
        self.limits.check(f"the {source} source")
        client = self.limits.client(self.session, service)
        client.meta.events.register(
            "after-call.*.*", lambda **kwargs: self._record(source, **kwargs)
        )
        return client

    def count_external_call(self, source: str, operation: str, body: dict[str, Any]) -> None:
        """For the one call made outside these clients: the assume-role into the account."""
        self._record(source, model=_Named(operation), parsed=body)

    def _record(self, source: str, *, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        self.calls += 1
        operation = model.name
        body = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
        if "Credentials" in body:
            body["Credentials"] = {"redacted": True}  # never keep secrets as evidence
        self.payloads.append(Payload(source, operation, self._pages[operation],
                                     datetime.now().astimezone(), evidence_json(body)))
        self._pages[operation] += 1


@dataclass(frozen=True)
class _Named:
    name: str


# Datetimes as isoformat() writes them (orjson's own RFC 3339 form is the same text).
_EVIDENCE_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS


def evidence_json(body: dict[str, Any]) -> bytes | dict[str, Any]:
    """A response as the JSON text kept in raw_payloads, encoded once, where it was received
    (on a Dask worker: bytes travel back cheaper than nested dicts). What orjson refuses (a lone
    surrogate, an integer past 64 bits) is returned as plain values for the snapshot writer's
    encoder, which handles both."""
    try:
        return orjson.dumps(body, default=_text, option=_EVIDENCE_OPTIONS)
    except orjson.JSONEncodeError:
        return _jsonable(body)


def _text(value: Any) -> str:
    """orjson's fallback: bytes (a credential report) as UTF-8 or base64, the rest as str()."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return _text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
