"""bench/fast_endpoint.py: rolecall's own collection code reads back exactly what it generated.

The collection benchmark (bench/collect.py) is only worth its figures if the endpoint answers
the way AWS does, so that botocore parses every call and the snapshot holds the generated
principals; and if its throttling is AWS's, so that botocore's retries carry a throttled
collection to completion.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from flows.collect import collect_account, collect_organization
from flows.sources import organizations
from flows.sources.session import AccountClients, base_session
from store import snapshot

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


fast_endpoint = _load("fast_endpoint")
SHAPE = fast_endpoint.Shape(accounts=2, users=3, roles=3, seed=7)


def _aim(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "AKIABENCHMANAGEMENT",
                        "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                        "NO_PROXY": "127.0.0.1,localhost"}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    with fast_endpoint.in_thread(SHAPE, latency=0.005) as (url, running):
        _aim(monkeypatch, url)
        yield running


def _collect_everything(tmp_path: Path) -> tuple[object, list[snapshot.AccountData], int]:
    """discover, the organization's sources and every account, as the flow does, into a
    snapshot; returns the connection, the accounts' data and the calls rolecall counted."""
    session = base_session()
    listing = AccountClients(session, "")
    organization = organizations.fetch(listing.client("organizations", source="organizations"))
    org_data, org_clients = collect_organization(session, organization)
    accounts = [collect_account(session, account, role_name="rolecall-audit",
                                external_id="bench-external-id")[0]
                for account in organization.accounts]
    con = snapshot.create(tmp_path / "snapshot.duckdb")
    writer = snapshot.SnapshotWriter(con)
    writer.add_account(org_data, org_clients.payloads)
    for data in accounts:
        writer.add_account(data)
    writer.flush()
    counted = listing.calls + org_data.api_calls + sum(d.api_calls for d in accounts)
    return con, accounts, counted


def test_snapshot_holds_what_the_endpoint_generated(endpoint: object, tmp_path: Path) -> None:
    con, accounts, counted = _collect_everything(tmp_path)
    assert [d.account_id for d in accounts] == SHAPE.account_ids()
    assert [e for d in accounts for e in d.errors] == []
    for account in SHAPE.account_ids():
        users = [r[0] for r in con.execute(
            "SELECT user_name FROM iam_users WHERE account_id = ? ORDER BY 1", [account]
        ).fetchall()]
        roles = [r[0] for r in con.execute(
            "SELECT role_name FROM iam_roles WHERE account_id = ? ORDER BY 1", [account]
        ).fetchall()]
        assert users == SHAPE.user_names()
        assert roles == SHAPE.role_names()
        assert con.execute(
            "SELECT users, roles FROM account_summary WHERE account_id = ?", [account]
        ).fetchall() == [(SHAPE.users, SHAPE.roles)]
        # the report: one row per user plus the root user, flags as generated
        generated = fast_endpoint.credential_report(SHAPE, account).splitlines()[1:]
        mfa = {line.split(",")[0] for line in generated if line.split(",")[7] == "true"}
        assert {r[0] for r in con.execute(
            "SELECT \"user\" FROM credential_report WHERE account_id = ? AND mfa_active",
            [account]).fetchall()} == mfa
        assert con.execute("SELECT count(*) FROM credential_report WHERE account_id = ?",
                           [account]).fetchone() == (SHAPE.users + 1,)
    data = {d.account_id: d for d in accounts}[SHAPE.account_ids()[1]]
    assert data.credential_report_csv == fast_endpoint.credential_report(
        SHAPE, SHAPE.account_ids()[1])
    trust = {r["role_name"]: r["trust_policy"] for r in data.rows["iam_roles"]}
    assert trust["role-0000"]["Statement"][0]["Principal"] == {
        "AWS": f"arn:aws:iam::{fast_endpoint.EXTERNAL_ACCOUNT}:root"}
    # every call rolecall counted reached the endpoint, and nothing else did
    stats = endpoint.stats.summary(SHAPE)
    assert stats["throttled"] == 0
    assert not [op for op in stats["by_operation"] if op.startswith("unsupported")]
    assert stats["calls"] == counted


def test_throttled_collection_is_retried_to_completion(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    """At 4 calls/s per account (a burst of 4) a member account's 11 calls are throttled, and
    botocore's retries, on AWS's own throttling error, still collect all of it."""
    shape = fast_endpoint.Shape(accounts=2, users=3, roles=3, seed=7, report_started_first=False)
    member = organizations.Account(shape.account_ids()[1], "member", "", "ACTIVE", "Root", False)
    with fast_endpoint.in_thread(shape, rate=4) as (url, running):
        _aim(monkeypatch, url)
        data, _ = collect_account(base_session(), member, role_name="rolecall-audit",
                                  external_id="bench-external-id")
        stats = running.stats.summary(shape)
    assert data.errors == []
    assert stats["throttled"] > 0
    assert [u["user_name"] for u in data.rows["iam_users"]] == shape.user_names()
    assert stats["calls"] == data.api_calls + stats["throttled"]
