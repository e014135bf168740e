"""An endpoint without Access Analyzer, Identity Center or IAM's ListOrganizationsFeatures: the
audit finishes, the gaps recorded.

The simulated organization is served here by plain moto (which has no Access Analyzer and no
ListOrganizationsFeatures: it answers 500) behind
a switch that also refuses Identity Center once seeding is done, as an endpoint, a partition or
a permission boundary lacking those services would.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from moto.moto_api import _internal as moto_internal
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from flows.audit import AuditConfig, run_audit
from flows.collect import collect_account, collect_organization, iam_collected
from flows.sources import organizations
from flows.sources.session import base_session
from reports.signing_config import SigningConfig
from simulated import organization as simulated
from simulated.organization import SimulatedOrganization

_SERVICE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


class Refuse:
    """WSGI switch: requests signed for a service in `refused` get a 404, the rest go to moto."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app, self.refused = app, set[str]()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        match = _SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match and match.group(1) in self.refused:
            body = (b'{"__type": "UnknownOperationException", '
                    b'"message": "no such service at this endpoint"}')
            start_response("404 Not Found", [("Content-Type", "application/json"),
                                             ("x-amzn-ErrorType", "UnknownOperationException")])
            return [body]
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def plain_moto() -> Iterator[SimulatedOrganization]:
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto logs its 500s loudly
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    switch = Refuse(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, switch, True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    saved = {k: os.environ.get(k) for k in (*simulated.FAKE_CREDENTIALS, "AWS_ENDPOINT_URL")}
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        moto_internal.moto_api_backend.reset()
        sim = simulated.seed(url)
        switch.refused = {"sso"}  # sso-admin signs as "sso"
        os.environ.update(simulated.FAKE_CREDENTIALS)
        os.environ["AWS_ENDPOINT_URL"] = url
        yield sim
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.shutdown()
        thread.join()


def test_every_account_is_still_collected_with_an_access_analyzer_error(
    plain_moto: SimulatedOrganization,
) -> None:
    session = base_session()
    organization = organizations.fetch(session.client("organizations"))
    started = time.monotonic()
    for account in organization.accounts:
        data, _ = collect_account(session, account, role_name="OrganizationAccountAccessRole",
                                  external_id=None)
        assert [(e["source"], e["operation"]) for e in data.errors] == [
            ("access_analyzer", "ListAnalyzers")], account.name
        assert iam_collected(data)
        assert data.rows["iam_roles"] and "credential_report" in data.rows
        assert "access_analyzers" not in data.rows
    # a missing service (moto answers 500) fails in botocore's 3 attempts, not in the ten
    # backed-off attempts throttling gets: seconds for the whole organization, not minutes
    assert time.monotonic() - started < 30


def test_identity_center_missing_is_an_org_level_error_and_scps_are_still_collected(
    plain_moto: SimulatedOrganization,
) -> None:
    session = base_session()
    organization = organizations.fetch(session.client("organizations"))
    data, _ = collect_organization(session, organization)
    assert [(e["account_id"], e["source"], e["operation"], e["error_code"])
            for e in data.errors] == [
        (simulated.MANAGEMENT_ACCOUNT_ID, "organization_features", "ListOrganizationsFeatures",
         "500"),
        (simulated.MANAGEMENT_ACCOUNT_ID, "identity_center", "ListInstances",
         "UnknownOperationException")]
    assert {r["name"] for r in data.rows["scps"]} >= {s.name for s in simulated.SCPS}
    assert "identity_center_instances" not in data.rows


def test_the_audit_finishes_and_records_what_could_not_be_collected(
    plain_moto: SimulatedOrganization, tmp_path: Path, prefect_server: None,
) -> None:
    config = AuditConfig(out_dir=tmp_path, simulated=True,
                         endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                         signing=SigningConfig(keys_dir=tmp_path / "keys"))
    result = run_audit(config)
    assert result.accounts == result.accounts_collected == len(simulated.ACCOUNTS)
    with duckdb.connect(str(result.run_dir / "snapshot.duckdb"), read_only=True) as con:
        errors = con.execute(
            "SELECT source, count(*) FROM collection_errors GROUP BY 1 ORDER BY 1").fetchall()
        assert errors == [("access_analyzer", len(simulated.ACCOUNTS)), ("identity_center", 1),
                          ("organization_features", 1)]
        rows = con.execute("SELECT collected, error FROM accounts").fetchall()
        assert all(collected and error.startswith("access_analyzer: ")
                   for collected, error in rows)
        (scps,) = con.execute("SELECT count(*) FROM scps").fetchone()
        assert scps == len(simulated.SCPS) + 1  # and moto's FullAWSAccess
    # sources missing in every account: the run is signed, but says first that it is incomplete
    from cli.main import EXIT_INCOMPLETE, print_summary

    assert print_summary(result.run_dir, 0.0) == EXIT_INCOMPLETE
    html = " ".join((result.run_dir / "report.html").read_text().split())
    headline = (f"INCOMPLETE RUN: sources that failed: access_analyzer in {len(simulated.ACCOUNTS)} "
                "accounts, identity_center in 1 account, organization_features in 1 account.")
    assert headline in html
    assert html.index(headline) < html.index("Organization")  # before anything else on the cover
    assert (result.run_dir / "manifest.json.p7s").exists()
