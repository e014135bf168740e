"""The Prefect flow of one audit run: discover → collect (concurrently) → snapshot → validate → report.

Tasks are thin: each calls plain functions that the tests also call directly.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import boto3
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, ConfigDict

from checks.exceptions import Register
from checks.validate import ValidationSummary, evaluate
from flows import snapshot
from flows.collect import collect_account
from flows.run_folder import RunFolder
from flows.sources import organizations
from flows.sources.organizations import Account, Organization
from flows.sources.session import AccountClients, base_session
from reports.render import render_report


class AuditConfig(BaseModel):
    """What a run was asked to do; stored in the snapshot (it holds no secrets)."""

    model_config = ConfigDict(frozen=True)

    out_dir: Path
    role_name: str = "OrganizationAccountAccessRole"
    external_id: str | None = None
    exceptions_path: Path | None = None
    profile: str | None = None
    region: str | None = None
    max_workers: int = 8
    simulated: bool = False
    endpoint_url: str | None = None

    def public(self) -> dict[str, Any]:
        values = self.model_dump(mode="json")
        values["external_id"] = "(set)" if self.external_id else None
        return values


@dataclass(frozen=True)
class AuditResult:
    run_dir: Path
    run_id: str
    summary: ValidationSummary
    accounts: int
    accounts_collected: int


def tool_version() -> str:
    return version("rolecall")


@task(cache_policy=NO_CACHE)
def discover(session: boto3.Session) -> Organization:
    return organizations.fetch(session.client("organizations"))


@task(cache_policy=NO_CACHE, task_run_name="collect-{account.account_id}")
def collect(
    session: boto3.Session, account: Account, config: AuditConfig
) -> tuple[snapshot.AccountData, AccountClients | None]:
    return collect_account(
        session, account, role_name=config.role_name, external_id=config.external_id
    )


def write_collection(
    con: Any,
    run_row: dict[str, Any],
    organization: Organization,
    collected: list[tuple[snapshot.AccountData, AccountClients | None]],
    evidence: Path,
) -> None:
    """The collected data as snapshot tables, and the downloads as evidence files."""
    snapshot.insert_rows(con, "run", [run_row])
    by_id = {data.account_id: (data, clients) for data, clients in collected}
    account_rows = []
    for account in organization.accounts:
        data, clients = by_id[account.account_id]
        errors = "; ".join(f"{e['source']}: {e['error_code']}: {e['message']}" for e in data.errors)
        account_rows.append(
            {
                "account_id": account.account_id, "name": account.name, "email": account.email,
                "status": account.status, "ou_path": account.ou_path,
                "is_management": account.is_management, "collected": not data.errors,
                "error": errors or None, "api_calls": data.api_calls,
            }
        )
        if data.credential_report_csv is not None:
            folder = evidence / "credential_reports"
            folder.mkdir(exist_ok=True)
            (folder / f"{account.account_id}.csv").write_text(data.credential_report_csv)
    snapshot.insert_rows(con, "accounts", account_rows)
    snapshot.store_accounts(
        con, [(data, clients.payloads if clients else ()) for data, clients in collected]
    )
    raw = evidence / "raw_payloads.jsonl"
    con.execute(
        f"COPY (SELECT * FROM raw_payloads ORDER BY account_id, operation, page) "
        f"TO '{raw}' (FORMAT json)"
    )


def write_control_csvs(con: Any, folder: Path) -> None:
    """Every control's full population with verdicts, one CSV each (the report shows a cap)."""
    folder.mkdir(parents=True, exist_ok=True)
    for (control_id,) in con.execute(
        "SELECT DISTINCT control_id FROM control_results ORDER BY 1"
    ).fetchall():
        target = folder / f"{control_id}.csv"
        con.execute(
            "COPY (SELECT * EXCLUDE (evidence) FROM control_results WHERE control_id = ? "
            f"ORDER BY status, account_id, resource_id) TO '{target}' (HEADER)",
            [control_id],
        )


def run_audit(
    config: AuditConfig,
    register: Register | None,
    on_account: Callable[[str, int], None] | None = None,
) -> AuditResult:
    """Run the flow with as many collection threads as the configuration asks for."""
    runner = ThreadPoolTaskRunner(max_workers=config.max_workers)
    return audit.with_options(task_runner=runner)(config, register, on_account)


@flow(name="rolecall-audit", validate_parameters=False, log_prints=False)
def audit(
    config: AuditConfig,
    register: Register | None,
    on_account: Callable[[str, int], None] | None = None,
) -> AuditResult:
    started_at = datetime.now(UTC)
    folder = RunFolder.create(config.out_dir, started_at)
    session = base_session(config.profile, config.region)
    organization = discover(session)
    if on_account:
        on_account("", len(organization.accounts))

    futures = [collect.submit(session, account, config) for account in organization.accounts]
    collected = []
    for future in as_completed(futures):
        collected.append(future.result())
        if on_account:
            on_account(collected[-1][0].account_id, len(organization.accounts))

    run_row = {
        "run_id": folder.run_id, "started_at": started_at, "tool_version": tool_version(),
        "organization_id": organization.organization_id,
        "management_account_id": organization.management_account_id,
        "endpoint_url": config.endpoint_url, "simulated": config.simulated,
        "config": config.public(),
    }
    con = snapshot.create(folder.path / "snapshot.duckdb")
    try:
        write_collection(con, run_row, organization, collected, folder.evidence)
        if config.exceptions_path:
            shutil.copyfile(config.exceptions_path, folder.evidence / "exceptions.yaml")
        summary = evaluate(con, register, folder.evidence / "gx")
        write_control_csvs(con, folder.evidence / "controls")
        con.execute("UPDATE run SET finished_at = ?", [datetime.now(UTC)])
        con.execute("CHECKPOINT")
        render_report(con, folder.path)
    finally:
        con.close()
    (folder.evidence / "run.json").write_text(json.dumps(run_row, default=str, indent=2))
    final = folder.finish()
    return AuditResult(
        run_dir=final, run_id=folder.run_id, summary=summary,
        accounts=len(organization.accounts),
        accounts_collected=sum(1 for data, _ in collected if not data.errors),
    )


def warm_up_prefect() -> threading.Thread | None:
    """Start Prefect's temporary API server in the background while other work goes on.

    Without PREFECT_API_URL Prefect starts a local server on first use, which costs 10-20 s;
    started here it overlaps with seeding the simulated organization.
    """
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return None
    from prefect.server.api.server import SubprocessASGIServer

    thread = threading.Thread(target=SubprocessASGIServer().start, daemon=True)
    thread.start()
    return thread
