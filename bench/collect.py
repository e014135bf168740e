"""Collection of N accounts × (100 users + 100 roles) against the fast simulated endpoint.

Starts bench/fast_endpoint.py (127.0.0.1, 50 ms per call, throttling above 20 calls/s per
account), points rolecall at it through the standard chain only (AWS_ENDPOINT_URL, fake keys,
AWS_DEFAULT_REGION; never real AWS) and runs the collection part of the audit flow through the
product's own tasks: `discover` (the organization's tree), then `collect_all` (every account as
a Prefect task on the flow's task runner, written to a DuckDB snapshot as it arrives), as
flows/audit.py does before validating. Prints the wall time, the calls per account (counted
by the endpoint), the throttled calls, the concurrency, and the ratio to the limit:
wall ÷ (calls × latency ÷ concurrency), goal ≤ 2.

Concurrency (--max-workers, AuditConfig.max_workers, default 8 in the product; 32 here): an
account holds its thread about 1.1 s (12 calls one after another at 50 ms, plus the product's
0.5 s wait for the credential report) and spends 0.1-0.2 s of CPU in it, so 32 threads keep more
accounts in flight than one process's CPU can finish on this 2-core machine; more threads only
shrink the "limit" without shortening the wall (the run is CPU-bound, see bench/README.md).
The limit counts calls only: the credential report's wait is not a call (--report-complete
drops it, as for a report generated within the last 4 hours).

Usage: .venv/bin/python bench/collect.py ACCOUNTS [--users 100] [--roles 100]
       [--latency-ms 50] [--rate-per-account 20] [--max-workers 32]
       [--task-runner threads|dask] [--dask-address tcp://…] [--report-complete] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
EXTERNAL_ID = "bench-external-id"


@dataclass(frozen=True)
class Endpoint:
    url: str
    process: subprocess.Popen[str]

    def stats(self) -> dict[str, Any]:
        """The endpoint's counters (GET /_stats), bypassing any proxy."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{self.url}/_stats", timeout=30) as response:
            return json.load(response)


@contextmanager
def fast_endpoint(accounts: int, users: int, roles: int, latency_ms: float, rate: float,
                  report_complete: bool = False, seed: int = 1) -> Iterator[Endpoint]:
    """bench/fast_endpoint.py as a child process on a free port; stopped on the way out."""
    command = [sys.executable, str(BENCH_DIR / "fast_endpoint.py"), "--accounts", str(accounts),
               "--users", str(users), "--roles", str(roles), "--latency-ms", str(latency_ms),
               "--rate-per-account", str(rate), "--seed", str(seed), "--port", "0"]
    if report_complete:
        command.append("--report-complete")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the fast endpoint did not start (said {url!r})")
        yield Endpoint(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def point_at(url: str) -> None:
    """The standard credential chain, aimed at the endpoint: fake keys, never a profile."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(name, None)
    os.environ.update({
        "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "AKIABENCHMANAGEMENT",
        "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1,localhost",
        "ROLECALL_EXTERNAL_ID": EXTERNAL_ID, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    })


def task_runner(kind: str, max_workers: int, dask_address: str | None) -> Any:
    """The flow's own task runner (flows/audit.py: `rolecall audit --task-runner`)."""
    try:
        from flows.audit import task_runner as product_runner
    except ImportError:  # a flow from before the Dask runner: threads only
        if kind != "threads":
            raise SystemExit("this checkout's flow has no Dask runner") from None
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=max_workers)
    return product_runner(kind, max_workers, dask_address)


def quiet_console() -> None:
    """One progress line per account is the run log's business, not the console's (as the CLI)."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.WARNING)


def run_collection(max_workers: int, runner: Any, work_dir: Path
                   ) -> dict[str, Any]:
    """The audit flow's collection part, through its own tasks, in a flow of its own."""
    from prefect import flow

    from flows import progress
    from flows.audit import AuditConfig, collect_all, discover
    from flows.sources.session import base_session
    from store import snapshot

    @flow(name="rolecall-bench-collect", validate_parameters=False, log_prints=False)
    def bench_collect(config: AuditConfig) -> dict[str, Any]:
        log = progress.run_logger()
        session = base_session(config.profile, config.region)
        started = time.perf_counter()
        organization, tree_payloads = discover(session)
        listed = time.perf_counter()
        evidence = work_dir / "evidence"
        evidence.mkdir(parents=True, exist_ok=True)
        con = snapshot.create(work_dir / "snapshot.duckdb")
        try:
            writer = snapshot.SnapshotWriter(con)
            writer.add_account(snapshot.AccountData(organization.management_account_id),
                               tree_payloads)
            rows = collect_all(session, organization, config, writer, evidence, log)
            writer.flush()
            collected = time.perf_counter()
            users, roles = con.execute(
                "SELECT (SELECT count(*) FROM iam_users), (SELECT count(*) FROM iam_roles)"
            ).fetchone() or (0, 0)
        finally:
            con.close()
        return {
            "discover_s": listed - started, "collect_s": collected - listed,
            "wall_s": collected - started, "accounts": len(rows),
            "accounts_collected": sum(1 for r in rows if r["collected"]),
            "first_error": next((r["error"] for r in rows if r["error"]), None),
            "api_calls_counted": sum(r["api_calls"] for r in rows),
            "users": users, "roles": roles,
        }

    quiet_console()
    config = AuditConfig(out_dir=work_dir, max_workers=max_workers,
                         endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    return bench_collect.with_options(task_runner=runner)(config)


def report(args: argparse.Namespace, result: dict[str, Any], stats: dict[str, Any]) -> str:
    latency = args.latency_ms / 1000
    calls = stats["calls"]
    limit = calls * latency / args.max_workers
    lines = [
        f"collection of {args.accounts:,} accounts × ({args.users} users + {args.roles} roles), "
        f"task runner {args.task_runner}, max_workers {args.max_workers}",
        f"  endpoint: {args.latency_ms:g} ms per call, throttling above "
        f"{args.rate_per_account:g} calls/s per account",
        f"  accounts collected:   {result['accounts_collected']:,} of {result['accounts']:,}"
        + (f" (first error: {result['first_error'][:200]})" if result["first_error"] else ""),
        f"  users / roles in the snapshot: {result['users']:,} / {result['roles']:,}",
        f"  wall (discover + collect): {result['wall_s']:.1f} s "
        f"(discover {result['discover_s']:.1f} s, collect {result['collect_s']:.1f} s)",
        f"  calls at the endpoint: {calls:,} ({calls / args.accounts:.1f} per account; "
        f"members {stats['member_calls_mean']:.1f}, management {stats['management_calls']})",
        f"  throttled calls:      {stats['throttled']:,} "
        f"(in {stats['accounts_throttled']} accounts)",
        f"  limit = calls × latency ÷ concurrency = {calls:,} × {latency:g} s ÷ "
        f"{args.max_workers} = {limit:.1f} s",
        f"  ratio wall ÷ limit:   {result['wall_s'] / limit:.2f} (goal ≤ 2)",
        f"  peak RSS of this process: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB",
        "  calls by operation: " + ", ".join(
            f"{op} {n}" for op, n in stats["by_operation"].items()),
    ]
    if stats["throttled_by_operation"]:
        lines.append("  throttled by operation: " + ", ".join(
            f"{op} {n}" for op, n in stats["throttled_by_operation"].items()))
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("accounts", type=int)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--roles", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--rate-per-account", type=float, default=20.0)
    parser.add_argument("--max-workers", type=int, default=32)
    parser.add_argument("--task-runner", choices=("threads", "dask"), default="threads",
                        help="as rolecall audit --task-runner")
    parser.add_argument("--dask-address")
    parser.add_argument("--report-complete", action="store_true",
                        help="credential reports are fresh (no STARTED, no 0.5 s wait)")
    parser.add_argument("--keep", type=Path, help="keep the snapshot and evidence here")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    from reports.garbage_collection import collect_less_often

    collect_less_often()  # as the CLI's process does (cli/main.py)
    with fast_endpoint(args.accounts, args.users, args.roles, args.latency_ms,
                       args.rate_per_account, args.report_complete) as endpoint:
        point_at(endpoint.url)
        from flows.prefect_api import prefect_api, wait_until_healthy

        with prefect_api() as api_url, tempfile.TemporaryDirectory(prefix="rolecall-bench-") as tmp:
            work_dir = args.keep or Path(tmp)
            if api_url:
                wait_until_healthy(api_url, 120)
            runner = task_runner(args.task_runner, args.max_workers, args.dask_address)
            result = run_collection(args.max_workers, runner, work_dir)
        stats = endpoint.stats()
    print(report(args, result, stats))
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "result": result, "endpoint": stats}, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
