"""--task-runner dask: the demo collected by the worker processes of a Dask cluster gives the
same control results as the default thread pool (issue 14, item 3), and what the flow sends
to the workers holds no secret and no boto3 session."""

from __future__ import annotations

import gc
import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, LocalCluster, get_task_stream

from flows.audit import EXTERNAL_ID_ENV, AuditConfig, CollectionPlan, local_cluster
from reports.garbage_collection import YOUNG_THRESHOLD
from tests.demo_run import DemoRun, run_demo

# Every column of control_results, compared as a set of rows (their order is the order the
# accounts arrived in). One value is run-specific: an Access Analyzer finding's evidence holds
# its `updated_at`, which the simulated organization stamps when each demo seeds it.
RESULT_COLUMNS = ("control_id, guidance_item, account_id, resource_id, resource_type, status, "
                  "severity, reason, exception_id, evidence")
RUN_SPECIFIC_EVIDENCE = ("updated_at",)


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """Two Dask worker processes on 127.0.0.1 with the local cluster's own settings, as `dask
    scheduler` + `dask worker` would run elsewhere; they inherit this process's AWS environment
    (the closed port of conftest.py), not the demo's endpoint, which must reach them through
    the run."""
    with LocalCluster(**{**local_cluster(4), "n_workers": 2, "threads_per_worker": 2}) as local:
        yield local


def control_results(run: DemoRun) -> set[tuple]:
    rows = set()
    for *columns, evidence in run.query(f"SELECT {RESULT_COLUMNS} FROM control_results"):
        facts = json.loads(evidence) if evidence else {}
        for key in RUN_SPECIFIC_EVIDENCE:
            facts.pop(key, None)
        rows.add((*columns, json.dumps(facts, sort_keys=True)))
    return rows


@pytest.mark.slow
def test_the_demo_collected_on_dask_workers_has_the_default_runners_results(
    demo: DemoRun, cluster: LocalCluster, tmp_path: Path,
) -> None:
    with Client(cluster) as client, get_task_stream(client) as stream:
        on_dask = run_demo(tmp_path, "--task-runner", "dask",
                           "--dask-address", cluster.scheduler_address)
        workers = set(client.scheduler_info()["workers"])
        profiling = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
        young = client.run(lambda: gc.get_threshold()[0])
    assert profiling and not any(profiling.values())  # WORKER_CONFIG reached the workers
    assert set(young.values()) == {YOUNG_THRESHOLD}  # its preload too: the CLI's collector
    assert on_dask.exit_code == demo.exit_code, on_dask.output
    # the collection tasks, and only they, ran on the cluster: one per account, one for the
    # organization (a Prefect retry runs inside its task)
    accounts = len(demo.account_ids())
    assert len(stream.data) == accounts + 1
    assert {task["worker"] for task in stream.data} <= workers and len(workers) == 2
    expected, found = control_results(demo), control_results(on_dask)
    assert expected, "the demo has control results"
    assert sorted(found - expected) == [] and sorted(expected - found) == []
    # every account collected, with the same calls: the workers saw the same organization
    by_account = "SELECT account_id, collected, api_calls FROM accounts ORDER BY account_id"
    assert on_dask.query(by_account) == demo.query(by_account)


def test_what_travels_to_a_worker_is_small_and_holds_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(EXTERNAL_ID_ENV, "s3cr3t-external-id")
    monkeypatch.setenv("ROLECALL_P12_PASSWORD", "s3cr3t-password")
    plan = CollectionPlan.of(AuditConfig(out_dir=tmp_path, profile="audit"), "eu-west-1")
    sent = pickle.dumps(plan)
    assert b"s3cr3t" not in sent and os.environ["AWS_SECRET_ACCESS_KEY"].encode() not in sent
    assert plan.external_id_sent and plan.profile == "audit" and plan.region == "eu-west-1"
    assert len(sent) < 1000


def test_a_worker_without_the_external_id_fails_instead_of_reporting_access_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.audit import WorkerMisconfigured, _external_id

    monkeypatch.setenv(EXTERNAL_ID_ENV, "on-the-flow-machine")
    plan = CollectionPlan.of(AuditConfig(out_dir=tmp_path))
    assert _external_id(plan) == "on-the-flow-machine"
    monkeypatch.delenv(EXTERNAL_ID_ENV)  # as on a worker whose environment lacks it
    with pytest.raises(WorkerMisconfigured, match=EXTERNAL_ID_ENV):
        _external_id(plan)
    # a run that sends none sends none, whatever a worker's environment holds
    sends_none = CollectionPlan.of(AuditConfig(out_dir=tmp_path))
    monkeypatch.setenv(EXTERNAL_ID_ENV, "only-on-the-worker")
    assert _external_id(sends_none) is None


def test_a_dask_address_goes_with_the_dask_runner(tmp_path: Path) -> None:
    from tests.demo_run import run_cli

    code, output = run_cli("audit", "--demo", "--out", str(tmp_path),
                           "--dask-address", "tcp://127.0.0.1:8786")
    assert code == 2 and "--dask-address goes with --task-runner dask" in " ".join(output.split())
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("api_url", "dask_address", "refused"), [
    ("http://127.0.0.1:4200/api", "tcp://10.0.0.5:8786", True),   # the temporary local API
    ("http://localhost:4200/api", "scheduler.internal:8786", True),
    ("http://127.0.0.1:4200/api", "tcp://127.0.0.1:8786", False),  # workers on this machine
    ("https://prefect.internal/api", "tcp://10.0.0.5:8786", False),
    ("http://127.0.0.1:4200/api", None, False),
])
def test_remote_workers_need_a_prefect_api_they_can_reach(
    api_url: str, dask_address: str | None, refused: bool,
) -> None:
    import typer

    from cli.main import _check_workers_reach

    if refused:
        with pytest.raises(typer.Exit):
            _check_workers_reach(api_url, dask_address)
    else:
        _check_workers_reach(api_url, dask_address)


def test_the_local_cluster_listens_on_this_machine_only_with_max_workers_threads() -> None:
    from flows.audit import local_cluster, task_runner

    kwargs = local_cluster(8)
    assert kwargs["host"] == "127.0.0.1" and kwargs["dashboard_address"] is None
    assert kwargs["n_workers"] * kwargs["threads_per_worker"] >= 8
    assert type(task_runner("dask", 8)).__name__ == "DaskTaskRunner"
    with pytest.raises(ValueError, match="goes with"):
        task_runner("threads", 8, "tcp://127.0.0.1:8786")
