"""boto3 sessions and clients: the standard credential chain, adaptive retries, one log per account.

Every client rolecall makes goes through `AccountClients`, so every API call of an account is
counted (the budget is 30 per account) and every response is kept as evidence, in one place.
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config

# Adaptive mode adds client-side rate limiting on top of standard retries: throttling in one
# account slows that account's calls instead of failing them.
RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 10}, connect_timeout=10)


def base_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """The caller's own session: credentials, region, profile and AWS_ENDPOINT_URL as boto3 finds them."""
    return boto3.Session(profile_name=profile, region_name=region or None)


def assume_role_session(
    base: boto3.Session, account_id: str, role_name: str, external_id: str | None
) -> tuple[boto3.Session, dict[str, Any]]:
    """A session in a member account through the audit role (with an External ID when given)."""
    partition = base.get_partition_for_region(base.region_name or "us-east-1")
    params: dict[str, Any] = {
        "RoleArn": f"arn:{partition}:iam::{account_id}:role/{role_name}",
        "RoleSessionName": "rolecall-audit",
        "DurationSeconds": 3600,
    }
    if external_id:
        params["ExternalId"] = external_id
    response = base.client("sts", config=RETRY_CONFIG).assume_role(**params)
    creds = response["Credentials"]
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=base.region_name,
    )
    return session, response


@dataclass
class Payload:
    source: str
    operation: str
    page: int
    received_at: datetime
    body: dict[str, Any]


@dataclass
class AccountClients:
    """Clients for one account that count calls and keep every response."""

    session: boto3.Session
    account_id: str
    calls: int = 0
    payloads: list[Payload] = field(default_factory=list)
    _pages: Counter[str] = field(default_factory=Counter)

    def client(self, service: str, source: str, max_attempts: int | None = None) -> Any:
        """A counted client; `max_attempts` lowers retries for optional sources, so that an
        endpoint without the service fails in seconds instead of ten backed-off attempts."""
        config = RETRY_CONFIG
        if max_attempts is not None:
            config = RETRY_CONFIG.merge(
                Config(retries={"mode": "adaptive", "max_attempts": max_attempts})
            )
        client = self.session.client(service, config=config)
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
        body = {k: _jsonable(v) for k, v in parsed.items() if k != "ResponseMetadata"}
        if "Credentials" in body:
            body["Credentials"] = {"redacted": True}  # never keep secrets as evidence
        self.payloads.append(
            Payload(source, operation, self._pages[operation], datetime.now().astimezone(), body)
        )
        self._pages[operation] += 1


@dataclass(frozen=True)
class _Named:
    name: str


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
