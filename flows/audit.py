"""The Prefect flow of one audit run: discover → collect (concurrently) → snapshot → validate → report.

Tasks are thin: each calls plain functions that the tests also call directly.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import queue
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.runtime import flow_run
from prefect.runtime import task_run as current_task
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff
from pydantic import BaseModel, ConfigDict, Field, field_validator

from checks.counts import Counts, verdict
from checks.exceptions import Register, load_register
from checks.settings import Settings
from flows import progress
from flows.collect import collect_account, collect_organization, iam_collected
from flows.sources import organizations
from flows.sources.organizations import Account, Organization
from flows.sources.session import (
    ACCOUNT_DEADLINE,
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    AccountClients,
    Payload,
    base_session,
    error_code,
    transient,
)
from flows.warm_imports import import_in_background
from reports.signing_config import SigningConfig
from store import snapshot
from store.coverage import EVIDENCE_ONLY_SOURCES, Coverage, coverage
from store.run_folder import RunFolder, remove_stale_partials

if TYPE_CHECKING:
    from checks.validate import ValidationSummary
    from reports.keys import SigningIdentity

# Imported where they are used, not with this module: a Dask worker imports this module to run
# the collection tasks and needs none of them (WeasyPrint, matplotlib and pandas are most of
# its import time). The flow imports them in a thread while the accounts are collected.
_AFTER_COLLECTION = ("checks.validate", "reports.render", "reports.sign",
                     "reports.management_response")

# The External ID is a shared secret: it is read from the environment inside the collection task
# and never travels as a flow parameter, which Prefect would store in its database.
EXTERNAL_ID_ENV = "ROLECALL_EXTERNAL_ID"


class AuditConfig(BaseModel):
    """What a run was asked to do: the flow's one parameter, stored in the snapshot and in Prefect's
    database, so it holds no secret (the External ID comes from $ROLECALL_EXTERNAL_ID, the
    exceptions register and the signing key travel by path)."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # a misspelt field is an error, not a default

    out_dir: Path
    role_name: str = "rolecall-audit"  # the deployment kit's audit role (deploy/)
    exceptions_path: Path | None = None
    signing: SigningConfig = Field(default_factory=SigningConfig)  # keys folder read per run
    profile: str | None = None
    region: str | None = None
    max_workers: int = 8
    simulated: bool = False
    endpoint_url: str | None = None
    baseline: Path | None = None
    # Per attempt of every AWS call, and per account: past the deadline an account's remaining
    # sources are recorded as `Deadline` errors instead of holding up the run.
    connect_timeout: float = Field(default=CONNECT_TIMEOUT, gt=0)
    read_timeout: float = Field(default=READ_TIMEOUT, gt=0)
    account_deadline: float = Field(default=ACCOUNT_DEADLINE, gt=0)
    # A collection task whose account failed only on transient errors (throttling past
    # botocore's retries, 5xx, broken connections) runs again this many times, the first after
    # collect_retry_delay seconds, each next one after twice as long; the last try's result stands.
    collect_retries: int = Field(default=2, ge=0, le=5)
    collect_retry_delay: float = Field(default=10.0, ge=0)
    # Thresholds, the controls to run and the framework profile (rolecall.toml, options).
    settings: Settings = Settings()
    # Management responses to failing controls (YAML, reports/management_response.py), by path.
    responses_path: Path | None = None
    # The month the run stands as evidence for; None: the calendar month before the run (UTC).
    period: str | None = Field(default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")

    @field_validator("period")
    @classmethod
    def _not_future(cls, value: str | None) -> str | None:
        if value is not None and value > datetime.now(UTC).strftime("%Y-%m"):
            raise ValueError(f"period {value} has not begun yet: a run can only stand for a "
                             "month that has started")
        return value

    def signing_identity(self) -> SigningIdentity:
        """The run's signer: a simulated organization is a demo, which may use the demo key."""
        signing = self.signing.model_copy(update={"demo": True}) if self.simulated else self.signing
        return signing.identity()

    def public(self) -> dict[str, Any]:
        """The configuration as recorded in the run: whether an External ID was sent, never its value."""
        values = self.model_dump(mode="json")
        values["external_id"] = f"(set, from ${EXTERNAL_ID_ENV})" if external_id() else None
        return values


def external_id() -> str | None:
    return os.environ.get(EXTERNAL_ID_ENV) or None


@dataclass(frozen=True)
class CollectionPlan:
    """What a collection task needs and nothing more: names and numbers, small and picklable, so
    it can travel in a Dask task graph. It holds no credential and no External ID: a Dask worker
    opens its base session from its own boto3 chain (`profile`, `region`) and reads the External
    ID from its own environment; `external_id_sent` only says whether one is sent (as the run
    records it)."""

    role_name: str
    profile: str | None
    region: str | None
    endpoint_url: str | None  # the run's recorded endpoint, so every worker calls the same one
    connect_timeout: float
    read_timeout: float
    account_deadline: float
    collect_retries: int
    external_id_sent: bool

    @classmethod
    def of(cls, config: AuditConfig, region: str | None = None) -> CollectionPlan:
        """The plan of a run; `region`: the one the flow's session resolved, so workers agree."""
        return cls(role_name=config.role_name, profile=config.profile,
                   region=region or config.region, endpoint_url=config.endpoint_url,
                   connect_timeout=config.connect_timeout, read_timeout=config.read_timeout,
                   account_deadline=config.account_deadline,
                   collect_retries=config.collect_retries,
                   external_id_sent=external_id() is not None)


class WorkerMisconfigured(RuntimeError):
    """A Dask worker lacks what the run needs from its own environment."""


def _external_id(plan: CollectionPlan) -> str | None:
    """This machine's External ID when the run sends one. A worker without it would meet
    AccessDenied in every member account, which reads as an audit finding: it fails instead."""
    if not plan.external_id_sent:
        return None
    found = external_id()
    if found is None:
        raise WorkerMisconfigured(
            f"the run sends an External ID but ${EXTERNAL_ID_ENV} is not set on "
            f"{socket.gethostname()}: set it in every Dask worker's environment")
    return found


def _base_session(session: boto3.Session | None, plan: CollectionPlan) -> boto3.Session:
    """The flow's session when the task runs in the flow's process, else this worker's own."""
    return session if session is not None else _worker_session(plan.profile, plan.region)


@functools.cache
def _worker_session(profile: str | None, region: str | None) -> boto3.Session:
    """One base session per worker process, as the flow shares one among its threads: its
    clients reuse the loaded service models and the resolved credentials."""
    return base_session(profile, region)


class NothingCollected(RuntimeError):
    """No account could be collected: there is nothing to audit, so nothing is signed."""

    def __init__(self, folder: Path, reason: str) -> None:
        super().__init__(f"no account could be collected ({reason}); nothing was validated or "
                         f"signed, and the partial run is kept for diagnosis in {folder}")
        self.folder = folder


@dataclass(frozen=True)
class AuditResult:
    run_dir: Path
    run_id: str
    summary: ValidationSummary
    accounts: int
    accounts_collected: int


def tool_version() -> str:
    return version("rolecall")


class TransientCollectionError(RuntimeError):
    """Raised by a collection task that may try again: Prefect retries it with back-off."""


def transient_failures(data: snapshot.AccountData) -> list[str]:
    """'source: code' of each error that costs a verdict, when all of them are transient: an
    account that also failed for good would only fail again, slower, and evidence-only sources
    (finding details) are not worth collecting a whole account again."""
    counted = [e for e in data.errors if e["source"] not in EVIDENCE_ONLY_SOURCES]
    if not counted or not all(transient(e["error_code"]) for e in counted):
        return []
    return [f"{e['source']}: {e['error_code']}" for e in counted]


def _retry_or_keep(data: snapshot.AccountData, plan: CollectionPlan) -> None:
    failures = transient_failures(data)
    # run_count: 1 on a task run's first try, 0 when the function is called outside a task run
    if failures and 0 < current_task.run_count <= plan.collect_retries:
        raise TransientCollectionError(
            f"account {data.account_id or '(organization)'}: transient errors ({'; '.join(failures)}); "
            "collecting it again")


def _worth_retrying(_task: Any, _task_run: Any, state: Any) -> bool:
    """Prefect's retry condition: a collection task asked for another try, or the listing of
    the organization failed on a transient error (AccessDenied would only fail again, slower)."""
    error = state.data
    return isinstance(error, TransientCollectionError) or (
        isinstance(error, Exception) and transient(error_code(error)))


def _retrying(config: AuditConfig) -> dict[str, Any]:
    return {"retries": config.collect_retries, "retry_condition_fn": _worth_retrying,
            "retry_delay_seconds": exponential_backoff(config.collect_retry_delay)
            if config.collect_retries else 0}


@task(cache_policy=NO_CACHE)
def discover(session: boto3.Session) -> tuple[Organization, list[Payload]]:
    """The organization and its tree, with the responses kept as evidence (SCP inheritance)."""
    clients = AccountClients(session, "")
    organization = organizations.fetch(clients.client("organizations", source="organizations"))
    return organization, clients.payloads


# The collection tasks take the flow's session when they run in its process (thread pool), and
# None on a Dask worker, which opens its own (CollectionPlan). They return rows and evidence
# only: an account's clients hold its assumed-role session, which stays where it was made.
@task(cache_policy=NO_CACHE)
def collect_org(
    session: boto3.Session | None, organization: Organization, plan: CollectionPlan
) -> tuple[snapshot.AccountData, list[Payload]]:
    data, clients = collect_organization(
        _base_session(session, plan), organization, connect_timeout=plan.connect_timeout,
        read_timeout=plan.read_timeout, account_deadline=plan.account_deadline,
        endpoint_url=plan.endpoint_url,
    )
    _retry_or_keep(data, plan)
    return data, clients.payloads


@task(cache_policy=NO_CACHE, task_run_name="collect-{account.account_id}")
def collect(
    session: boto3.Session | None, account: Account, plan: CollectionPlan
) -> tuple[snapshot.AccountData, list[Payload]]:
    data, clients = collect_account(
        _base_session(session, plan), account, role_name=plan.role_name,
        external_id=_external_id(plan), connect_timeout=plan.connect_timeout,
        read_timeout=plan.read_timeout, account_deadline=plan.account_deadline,
        endpoint_url=plan.endpoint_url,
    )
    _retry_or_keep(data, plan)
    return data, clients.payloads if clients else []


def account_row(account: Account, data: snapshot.AccountData) -> dict[str, Any]:
    errors = "; ".join(f"{e['source']}: {e['error_code']}: {e['message']}" for e in data.errors)
    return {
        "account_id": account.account_id, "name": account.name, "email": account.email,
        "status": account.status, "ou_path": account.ou_path,
        "is_management": account.is_management, "collected": iam_collected(data),
        "error": errors or None, "api_calls": data.api_calls,
    }


def keep_download(data: snapshot.AccountData, evidence: Path) -> None:
    """The credential report exactly as downloaded, as evidence of what the rows came from."""
    if data.credential_report_csv is not None:
        folder = evidence / "credential_reports"
        folder.mkdir(exist_ok=True)
        (folder / f"{data.account_id}.csv").write_text(data.credential_report_csv)


def write_control_csvs(con: Any, folder: Path) -> None:
    """Every control's full population with verdicts, one CSV each (the report shows a cap),
    and every account with its collection status beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY (SELECT * FROM accounts ORDER BY account_id) TO '{folder.parent / 'accounts.csv'}' "
                "(HEADER)")
    for (control_id,) in con.execute(
        "SELECT DISTINCT control_id FROM control_results ORDER BY 1"
    ).fetchall():
        target = folder / f"{control_id}.csv"
        con.execute(
            "COPY (SELECT * EXCLUDE (evidence) FROM control_results WHERE control_id = ? "
            f"ORDER BY status, account_id, resource_id) TO '{target}' (HEADER)",
            [control_id],
        )


TASK_RUNNERS = ("threads", "dask")


def task_runner(kind: str, max_workers: int, dask_address: str | None = None) -> TaskRunner:
    """Where the collection tasks run: a pool of `max_workers` threads in this process, or a
    Dask cluster (the scheduler at `dask_address`, else a local one of worker processes with
    `max_workers` threads in all). Only submitted tasks go there: the flow calls its other
    tasks (discover, validate, report, sign) directly, which Prefect runs in the flow's thread."""
    if kind not in TASK_RUNNERS:
        raise ValueError(f"task runner {kind!r}: expected one of {', '.join(TASK_RUNNERS)}")
    if kind == "threads":
        if dask_address:
            raise ValueError("a Dask address goes with the dask task runner")
        return ThreadPoolTaskRunner(max_workers=max_workers)
    from prefect_dask import DaskTaskRunner  # imports distributed: only when asked for

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_kwargs=local_cluster(max_workers))


# Dask workers sample their own stacks every 10 ms and keep an hour of those profiles by default.
# Collecting 10,000 accounts, each worker's RSS grew ~35 MB a minute, most of it profile trees of
# botocore's call stacks, and the sampling took CPU from the collection: off for rolecall's
# workers (the README says how to turn it off on workers started elsewhere).
WORKER_CONFIG: dict[str, Any] = {"distributed": {"worker": {
    "profile": {"enabled": False},
    "preload": ["flows.dask_worker_setup"],  # the CLI's garbage collection settings
}}}


def local_cluster(max_workers: int) -> dict[str, Any]:
    """distributed.LocalCluster's arguments: one worker process per core (at most
    `max_workers`), `max_workers` threads in all, listening on 127.0.0.1 only, no dashboard,
    workers not profiling themselves (WORKER_CONFIG)."""
    import dask.config

    processes = max(1, min(os.cpu_count() or 1, max_workers))
    return {"n_workers": processes, "threads_per_worker": math.ceil(max_workers / processes),
            "processes": True, "host": "127.0.0.1", "dashboard_address": None,
            # the whole configuration: a Nanny merges its `config` over its own one level deep
            "config": dask.config.merge(dask.config.config, WORKER_CONFIG)}


def run_audit(config: AuditConfig, *, runner: str = "threads",
              dask_address: str | None = None, heartbeats: bool = True) -> AuditResult:
    """Run the flow, its collection on the task runner asked for (threads by default);
    heartbeats: as flow_heartbeats."""
    chosen = audit.with_options(task_runner=task_runner(runner, config.max_workers, dask_address))
    with flow_heartbeats(heartbeats):
        return chosen(config)


@contextlib.contextmanager
def flow_heartbeats(enabled: bool) -> Iterator[None]:
    """Flow runs started in the block send Prefect's heartbeats, or not (enabled=False).

    Off for a temporary Prefect API that lives and dies with this process: nothing there
    watches for crashed runs, and the heartbeat thread's 1 s sleeps kept each run waiting up to
    a second at its end. A configured server keeps them (it may detect crashed runs by them).
    """
    if enabled:
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


@task(cache_policy=NO_CACHE)
def validate(con: Any, register: Register | None, folder: RunFolder,
             settings: Settings) -> ValidationSummary:
    from checks.validate import evaluate

    summary = evaluate(con, register, folder.evidence / "gx", settings)
    write_control_csvs(con, folder.evidence / "controls")
    return summary


@task(cache_policy=NO_CACHE)
def report(con: Any, folder: RunFolder, config: AuditConfig, identity: SigningIdentity,
           summary: ValidationSummary) -> None:
    """HTML and PDF; compared with config.baseline, else the newest earlier run in the folder."""
    from reports.management_response import load_responses
    from reports.render import render_report

    responses = load_responses(config.responses_path) if config.responses_path else None
    render_report(con, folder.path, baseline=config.baseline, signing=identity,
                  completeness=summary.completeness, responses=responses)


@task(cache_policy=NO_CACHE)
def sign(folder: RunFolder, identity: SigningIdentity, config: AuditConfig,
         accounts: list[str]) -> None:
    """Sign the PDF, then list and hash every file in manifest.json and sign that too.

    Runs last, on a closed snapshot: anything written afterwards would not be in the manifest.
    """
    from reports.sign import sign_run

    sign_run(folder.path, identity, run_id=folder.run_id, tool_version=tool_version(),
             configuration=config.public(), accounts=accounts,
             timestamper=config.signing.timestamper())


def _first_error(account_rows: list[dict[str, Any]]) -> str:
    failed = [row for row in account_rows if row["error"]]
    if not account_rows:
        return "the organization lists no account"
    first = f"first: {failed[0]['account_id']}: {failed[0]['error']}" if failed else "no error recorded"
    return f"{len(account_rows) - sum(r['collected'] for r in account_rows)} of {len(account_rows)} " \
        f"accounts failed; {first}"


def collect_all(
    session: boto3.Session,
    organization: Organization,
    config: AuditConfig,
    writer: snapshot.SnapshotWriter,
    evidence: Path,
    log: Any,
) -> list[dict[str, Any]]:
    """Collect accounts concurrently, writing each to the snapshot as it arrives."""
    accounts = {a.account_id: a for a in organization.accounts}
    account_rows = []
    plan = CollectionPlan.of(config, session.region_name)
    shared = session if _tasks_run_here() else None  # a boto3 session never leaves this process
    org_future = collect_org.with_options(**_retrying(config)).submit(shared, organization, plan)
    collect_account_task = collect.with_options(**_retrying(config))
    # At most `window` accounts submitted and not yet written: a finished account's rows and
    # payloads are dropped once written, so memory stays flat whatever the organization's size.
    window = 4 * max(1, config.max_workers)
    waiting = iter(organization.accounts)
    finished: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def submit_next() -> None:
        account = next(waiting, None)
        if account is not None:
            collect_account_task.submit(shared, account, plan).add_done_callback(finished.put)

    for _ in range(window):
        submit_next()
    org_data, org_payloads = org_future.result()
    writer.add_account(org_data, org_payloads)
    for done in range(1, len(accounts) + 1):
        future = finished.get()
        submit_next()
        data, payloads = future.result()
        writer.add_account(data, payloads)
        row = account_row(accounts[data.account_id], data)
        account_rows.append(row)
        keep_download(data, evidence)
        progress.accounts(log, progress.AccountsProgress(done, len(accounts), data.account_id),
                          f"{data.api_calls} API calls" + (f"; not collected: {row['error']}"
                                                           if row["error"] else ""))
    account_rows.sort(key=lambda r: r["account_id"])
    writer.add("accounts", account_rows)
    return account_rows


def _tasks_run_here() -> bool:
    """Submitted tasks run in this process (the thread pool), not on a Dask worker."""
    context = FlowRunContext.get()
    return context is None or isinstance(context.task_runner, ThreadPoolTaskRunner)


def period_of(moment: datetime, period: str | None = None) -> str:
    """The month a run stands as evidence for: `period` when given, else the calendar month
    before `moment` (UTC): the run of 1 December is November's evidence."""
    if period:
        return period
    moment = moment.astimezone(UTC)
    return (date(moment.year, moment.month, 1) - timedelta(days=1)).strftime("%Y-%m")


def _initial_run_name() -> str:
    return f"audit-{period_of(datetime.now(UTC))}"


def _name_run(organization_id: str | None, period: str) -> None:
    """audit-<organization>-<period>: known only once the organization is listed."""
    if flow_run.id is None:
        return
    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, name=f"audit-{organization_id or 'unknown'}-{period}")


def summary_markdown(run_dir: Path, run_id: str, counts: dict[str, Counts], seen: Coverage) -> str:
    """The Prefect artifact of a run: its verdict, the summary table and where the evidence is."""
    from checks.catalogue import CONTROLS_BY_ID

    said = verdict(counts, complete=seen.complete)
    lines = [f"# rolecall audit {run_id}: {said.word} (exit {said.exit_code})", ""]
    if not seen.complete:
        lines += [f"**{seen.headline()}**", ""]
    lines += [f"Accounts collected: {seen.accounts_collected} of {seen.accounts}.", "",
              "| control | title | population | pass | fail | excepted | error |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for control_id, c in sorted(counts.items()):
        title = CONTROLS_BY_ID[control_id].title if control_id in CONTROLS_BY_ID else ""
        lines.append(f"| {control_id} | {title} | {c.population} | {c.passed} | {c.failed} | "
                     f"{c.excepted} | {c.error} |")
    lines += ["", f"Run folder (signed evidence pack): `{run_dir}`",
              f"Verify it: `rolecall verify {run_dir}`"]
    return "\n".join(lines)


# validate_parameters=False: Prefect's own validation builds a model of the signature, which
# fails on this module's postponed annotations in a served run; AuditConfig validates itself.
@flow(name="rolecall-audit", flow_run_name=_initial_run_name, log_prints=False,
      validate_parameters=False)
def audit(config: AuditConfig | dict[str, Any]) -> AuditResult:
    """One audit run. Its one parameter is JSON, so a deployment can carry it (a served run
    gets it as a dict); secrets travel by environment (the External ID) or by path (the
    register, the signing key)."""
    config = AuditConfig.model_validate(config)
    log = progress.run_logger()
    register = load_register(config.exceptions_path) if config.exceptions_path else None
    identity = config.signing_identity()
    if config.signing.tsa_url:  # an unreachable time-stamping service stops the run now, not at signing
        from reports.timestamps import probe

        probe(config.signing.tsa_url)
    import_in_background(*_AFTER_COLLECTION)
    started_at = datetime.now(UTC)
    session = base_session(config.profile, config.region)
    organization, tree_payloads = discover.with_options(**_retrying(config))(session)
    period = period_of(started_at, config.period)
    _name_run(organization.organization_id, period)
    progress.accounts(log, progress.AccountsProgress(0, len(organization.accounts)))
    remove_stale_partials(config.out_dir)  # killed runs of more than a day ago: never evidence
    folder = RunFolder.create(config.out_dir, started_at)
    log.info("run %s of organization %s: collecting into %s", folder.run_id,
             organization.organization_id, folder.path)
    run_row = {
        "run_id": folder.run_id, "started_at": started_at, "tool_version": tool_version(),
        "organization_id": organization.organization_id,
        "management_account_id": organization.management_account_id,
        "endpoint_url": config.endpoint_url, "simulated": config.simulated,
        "config": config.public(), "period": period, "region": session.region_name,
    }
    if config.exceptions_path:
        shutil.copyfile(config.exceptions_path, folder.evidence / "exceptions.yaml")
    if config.responses_path:
        shutil.copyfile(config.responses_path, folder.evidence / "responses.yaml")
    con = snapshot.create(folder.path / "snapshot.duckdb")
    try:
        writer = snapshot.SnapshotWriter(con)
        writer.add_account(snapshot.AccountData(organization.management_account_id),
                           tree_payloads)
        account_rows = collect_all(session, organization, config, writer, folder.evidence, log)
        writer.add("run", [run_row])
        writer.flush()
        if not any(row["collected"] for row in account_rows):
            raise NothingCollected(folder.path, _first_error(account_rows))
        con.execute(
            "COPY (SELECT * FROM raw_payloads ORDER BY account_id, operation, page) "
            f"TO '{folder.evidence / 'raw_payloads.jsonl.gz'}' (FORMAT json, COMPRESSION gzip)"
        )
        summary = validate(con, register, folder, config.settings)
        log.info("validated: %s", "every control cross-checked by Great Expectations"
                 if summary.cross_checked else f"cross-check failed for {'; '.join(summary.errors)}")
        run_row["finished_at"] = datetime.now(UTC)
        con.execute("UPDATE run SET finished_at = ?", [run_row["finished_at"]])
        report(con, folder, config, identity, summary)
        seen = coverage(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    (folder.evidence / "run.json").write_text(json.dumps(run_row, default=str, indent=2))
    sign(folder, identity, config, [row["account_id"] for row in account_rows])
    run_dir = folder.finish()
    counts = {c: s.counts for c, s in summary.controls.items()}
    said = verdict(counts, complete=seen.complete)
    log.info("signed run %s: %s (exit %d); evidence pack in %s", folder.run_id, said.word,
             said.exit_code, run_dir)
    create_markdown_artifact(key="rolecall-audit-summary",
                             markdown=summary_markdown(run_dir, folder.run_id, counts, seen),
                             description=f"rolecall audit {folder.run_id}: {said.word}")
    return AuditResult(
        run_dir=run_dir, run_id=folder.run_id, summary=summary,
        accounts=len(organization.accounts),
        accounts_collected=sum(1 for row in account_rows if row["collected"]),
    )
