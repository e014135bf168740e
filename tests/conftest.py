"""Test-wide settings: no real AWS, a private Prefect home, one Prefect server per session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

# Set before anything imports boto3 or Prefect. No test may reach real AWS: every client that
# is not pointed at a simulated organization goes to a closed port on 127.0.0.1.
_PREFECT_HOME = tempfile.mkdtemp(prefix="rolecall-prefect-")
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)  # one per session and worker
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "PREFECT_HOME": _PREFECT_HOME,
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "GX_ANALYTICS_ENABLED": "false",
        # the demo signing key of test runs, never the checkout's data/keys
        "ROLECALL_KEYS_DIR": os.path.join(_PREFECT_HOME, "keys"),
    }
)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session", autouse=True)
def organization_key() -> object:
    """The organization key `rolecall keys init` would create, once per session in
    $ROLECALL_KEYS_DIR: a real (non-demo) run signs with it when no key is given."""
    from reports.keys import create_organization_key, organization_signer

    return organization_signer() or create_organization_key(subject="CN=rolecall test organization")


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect API for the whole session (starting one costs 10-20 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def simulated_org() -> Iterator[tuple]:
    """A freshly seeded simulated organization and a session pointed at it."""
    from flows.sources import organizations
    from flows.sources.session import base_session
    from simulated import organization as simulated

    with simulated.serve() as sim:
        saved = os.environ["AWS_ENDPOINT_URL"]
        os.environ["AWS_ENDPOINT_URL"] = sim.endpoint_url
        try:
            session = base_session()
            yield session, organizations.fetch(session.client("organizations"))
        finally:
            os.environ["AWS_ENDPOINT_URL"] = saved


@pytest.fixture(scope="module")
def sim() -> Iterator[object]:
    """One simulated organization for the module, with AWS_ENDPOINT_URL pointing at it."""
    from simulated import organization as simulated

    with simulated.serve() as organization:
        saved = os.environ["AWS_ENDPOINT_URL"]
        os.environ["AWS_ENDPOINT_URL"] = organization.endpoint_url
        try:
            yield organization
        finally:
            os.environ["AWS_ENDPOINT_URL"] = saved


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory, prefect_server: None) -> object:
    """The demo as a user runs it, storing the run in the simulated organization's Object Lock
    bucket as `rolecall audit --upload` does (the upload changes nothing in the run folder).
    Shared by the test modules that read a real run; nothing may write to it."""
    from simulated.organization import EVIDENCE_BUCKET
    from tests.demo_run import run_demo

    return run_demo(tmp_path_factory.mktemp("runs"), "--upload", f"s3://{EVIDENCE_BUCKET}/runs")


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory, prefect_server: None) -> object:
    """Three real audits of the simulated organization, changed between runs (shared by the
    sql and export tests; nothing may write to them)."""
    from tests.simulated_history import audit_three_times

    return audit_three_times(tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="session")
def monthly_history(tmp_path_factory: pytest.TempPathFactory, prefect_server: None) -> object:
    """Three real audits standing for three consecutive months, users removed and one brought
    back between them (the burn-down tests; nothing may write to them)."""
    from tests.simulated_history import audit_three_months

    return audit_three_months(tmp_path_factory.mktemp("months"))
