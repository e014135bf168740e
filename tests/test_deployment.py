"""The monthly Prefect deployment: prefect.yaml, `rolecall serve`, and a served run's name, log
and artifact on a real (temporary) Prefect server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from flows.audit import (
    AuditConfig,
    TransientCollectionError,
    _worth_retrying,
    period_of,
    summary_markdown,
    transient_failures,
)
from flows.deployment import DeploymentError, load_deployment
from store.snapshot import AccountData

ROLECALL = str(Path(sys.executable).parent / "rolecall")


def test_prefect_yaml_declares_the_monthly_audit() -> None:
    monthly = load_deployment()
    assert (monthly.name, monthly.cron, monthly.timezone) == ("monthly", "0 6 1 * *", "UTC")
    assert monthly.config.out_dir == Path("data/runs")
    # the flow's one parameter survives JSON both ways (what Prefect stores and hands back)
    as_json = json.loads(json.dumps(monthly.config.model_dump(mode="json")))
    assert AuditConfig.model_validate(as_json) == monthly.config


def test_the_command_line_overrides_schedule_and_parameters() -> None:
    served = load_deployment(cron="30 7 2 * *", timezone="Europe/Berlin",
                             overrides={"out_dir": "/srv/evidence", "max_workers": 2})
    assert (served.cron, served.timezone) == ("30 7 2 * *", "Europe/Berlin")
    assert (served.config.out_dir, served.config.max_workers) == (Path("/srv/evidence"), 2)


class BadDeployment(NamedTuple):
    name: str
    yaml: str
    says: str


BAD = [
    BadDeployment("no-such-deployment", "deployments: [{name: weekly}]",
                  "no single deployment named 'monthly'"),
    BadDeployment("cron-of-four-fields", "deployments: [{name: monthly, schedules: [{cron: '0 6 1 *'}],"
                  " parameters: {config: {out_dir: runs}}}]", "five-field cron"),
    BadDeployment("cron-fields-that-are-not-cron", "deployments: [{name: monthly, schedules: [{cron: "
                  "'a b c d e'}], parameters: {config: {out_dir: runs}}}]",
                  "not a cron schedule Prefect accepts"),
    BadDeployment("unknown-time-zone", "deployments: [{name: monthly, schedules: [{cron: '0 6 1 * *', "
                  "timezone: Mars/Olympus}], parameters: {config: {out_dir: runs}}}]", "unknown time zone"),
    BadDeployment("misspelt-parameter", "deployments: [{name: monthly, schedules: [{cron: '0 6 1 * *'}], "
                  "parameters: {config: {out_dir: runs, max_worker: 2}}}]", "max_worker: Extra inputs"),
    BadDeployment("missing-out-dir", "deployments: [{name: monthly, schedules: [{cron: '0 6 1 * *'}]}]",
                  "out_dir: Field required"),
    BadDeployment("not-yaml", "deployments: [", "prefect.yaml"),
]


@pytest.mark.parametrize("case", BAD, ids=lambda c: c.name)
def test_a_deployment_that_cannot_be_served_is_one_clear_error(case: BadDeployment, tmp_path: Path) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_text(case.yaml)
    with pytest.raises(DeploymentError, match=re.escape(case.says)):
        load_deployment(path)


def test_serve_refuses_a_bad_deployment_before_serving(tmp_path: Path) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_text(BAD[1].yaml)
    result = subprocess.run([ROLECALL, "serve", "--prefect-yaml", str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert "five-field cron" in result.stderr + result.stdout


class Transient(NamedTuple):
    name: str
    errors: list[tuple[str, str]]  # (source, error code)
    retried: bool


TRANSIENT = [
    Transient("clean-account", [], retried=False),
    Transient("throttled-past-botocore", [("credential_report", "Throttling")], retried=True),
    Transient("bare-503", [("authorization", "503")], retried=True),
    Transient("connection-dropped", [("account_summary", "EndpointConnectionError")], retried=True),
    Transient("access-denied-is-for-good", [("session", "AccessDenied")], retried=False),
    Transient("mixed-fails-again-anyway", [("credential_report", "Throttling"),
                                           ("session", "AccessDenied")], retried=False),
    Transient("finding-details-only", [("access_analyzer_details", "503")], retried=False),
]


@pytest.mark.parametrize("case", TRANSIENT, ids=lambda c: c.name)
def test_only_transient_failures_collect_an_account_again(case: Transient) -> None:
    data = AccountData("222222222222", errors=[
        {"source": source, "error_code": code} for source, code in case.errors])
    assert bool(transient_failures(data)) is case.retried


class RetryCase(NamedTuple):
    name: str
    error: Exception
    retried: bool


def _client_error(code: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "m"}}, "ListAccounts")


RETRY = [
    RetryCase("collection-task-asks-again", TransientCollectionError("account 1: transient"), retried=True),
    RetryCase("organizations-throttled", _client_error("TooManyRequestsException"), retried=True),
    RetryCase("organizations-503", _client_error("ServiceUnavailable"), retried=True),
    RetryCase("organizations-denied", _client_error("AccessDeniedException"), retried=False),
    RetryCase("not-in-an-organization", _client_error("AWSOrganizationsNotInUseException"), retried=False),
    RetryCase("a-bug", KeyError("Accounts"), retried=False),
]


@pytest.mark.parametrize("case", RETRY, ids=lambda c: c.name)
def test_prefect_retries_a_task_only_for_a_transient_failure(case: RetryCase) -> None:
    from prefect.states import Failed

    assert _worth_retrying(None, None, Failed(data=case.error)) is case.retried


def _wait_for(what: str, probe, timeout: float = 180):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_served_deployment_runs_a_named_audit_with_its_log_and_artifact(
    tmp_path: Path, prefect_server: None,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    secret = "ext-id-must-not-leak-7f3a"
    out = tmp_path / "runs"
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "ROLECALL_EXTERNAL_ID": secret}
    server = subprocess.Popen([ROLECALL, "serve", "--demo", "--out", str(out), "--cron", "0 6 1 * *",
                               "--timezone", "Europe/Berlin"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with get_client(sync_client=True) as client:
            def deployment() -> object:
                try:
                    return client.read_deployment_by_name("rolecall-audit/monthly")
                except ObjectNotFound:
                    assert server.poll() is None, server.stdout.read() if server.stdout else ""
                    return None

            served = _wait_for("the deployment", deployment)
            assert served.schedules[0].schedule.cron == "0 6 1 * *"  # type: ignore[attr-defined]
            assert served.schedules[0].schedule.timezone == "Europe/Berlin"  # type: ignore[attr-defined]
            run = run_deployment("rolecall-audit/monthly", timeout=600, poll_interval=2, as_subflow=False)
            assert run.state is not None and run.state.is_completed(), run.state
            (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
            run_json = json.loads((run_dir / "evidence" / "run.json").read_text())
            # a served monthly run stands for the month before it (the run of 1 December is November's)
            assert run_json["period"] == period_of(run.start_time or run.created)  # type: ignore[arg-type]
            assert run.name == f"audit-{run_json['organization_id']}-{run_json['period']}"

            def logs() -> list[str]:
                found = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
                messages = [log.message for log in found]
                return messages if any(m.startswith("signed run") for m in messages) else []

            messages = _wait_for("the run's log", logs, timeout=60)
            assert "organization listed: 5 accounts to collect" in messages
            assert sum(m.startswith("collected account ") for m in messages) == 5
            assert not any(secret in m for m in messages)
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
            (summary,) = [a for a in artifacts if a.key == "rolecall-audit-summary"]
            assert f"rolecall audit {run_dir.name}: non-compliant (exit 1)" in str(summary.data)
            assert str(run_dir) in str(summary.data) and "| RC-5.1 |" in str(summary.data)
            assert secret not in json.dumps(client.read_flow_run(run.id).parameters)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    verified = subprocess.run([ROLECALL, "verify", str(run_dir)], capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_summary_markdown_says_incomplete_first() -> None:
    from checks.counts import Counts
    from store.coverage import Coverage

    seen = Coverage("o-abc123", accounts=5, accounts_collected=4, source_gaps=())
    text = summary_markdown(Path("/runs/x"), "x", {"RC-1.1": Counts(passed=1)}, seen)
    assert text.startswith("# rolecall audit x: incomplete (exit 3)")
    assert "INCOMPLETE RUN: 1 of 5 accounts not collected" in text
    assert "| RC-1.1 | " in text and "| 1 | 1 | 0 | 0 | 0 |" in text


@pytest.mark.slow
def test_serve_without_a_prefect_server_schedules_monthly_runs_and_leaves_nothing_when_killed(
    tmp_path: Path,
) -> None:
    """Without $PREFECT_API_URL, `rolecall serve` starts its own server with the scheduler
    running (an ephemeral one has none), and that server dies with it, even by SIGKILL."""
    import urllib.request

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    server = subprocess.Popen([ROLECALL, "serve", "--demo", "--out", str(tmp_path / "runs")],
                              env=env, cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        match = re.search(r"Prefect API (http://127\.0\.0\.1:\d+/api)", first)
        assert match, first
        children = [int(p) for p in Path(f"/proc/{server.pid}/task/{server.pid}/children")
                    .read_text().split()]

        def scheduled() -> list[str]:
            request = urllib.request.Request(
                f"{match.group(1)}/flow_runs/filter", method="POST",
                data=json.dumps({"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                return sorted(run["expected_start_time"] for run in json.load(answer))

        starts = _wait_for("scheduled runs", scheduled, timeout=120)
        assert all(re.fullmatch(r"\d{4}-\d{2}-01T06:00:00Z", s) for s in starts), starts
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    time.sleep(10)  # the children see their pipe close and stop
    assert children and not [pid for pid in children if Path(f"/proc/{pid}").exists()]
