"""Small runs end to end: the warm demo, and one account of 500 users + 500 roles.

Each run is the real CLI (`.venv/bin/rolecall -q audit ...`) in a child process; its whole
process tree (the CLI, its Prefect API server, the demo's simulated organization) is sampled
from /proc every 0.1 s for the peak of the summed RSS and the largest single process.
The one-account run audits a moto server on 127.0.0.1 that this script starts and seeds (an
organization whose management account holds USERS users, every other one with an access key,
and ROLES roles); the server lives in this script's process, outside the measured tree, as it
would for a peer scanner measured against the same data.
Goals (issue 14): the demo warm under 20 s; one account of 500 + 500 at most 0.3x Prowler's
wall time, with a process tree no larger than Prowler's (610 MB in the issue).
Usage: .venv/bin/python bench/small_run.py [demo|account|both] [--runs N] [--users U --roles R]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CLI = Path(sys.executable).with_name("rolecall")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Measured:
    seconds: float
    exit_code: int
    tree_peak_mb: float
    largest_mb: float
    processes: int


def _children(pid: int) -> list[int]:
    try:
        found: list[int] = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found.extend(int(c) for c in text)
        return found
    except OSError:
        return []


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(_children(current))
    return pids


def _rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def measure(argv: list[str], env: dict[str, str]) -> Measured:
    """Run the command; sample its process tree until it exits."""
    peak = largest = 0.0
    seen: set[int] = set()
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, largest
        while not done.is_set():
            pids = _tree(process.pid)
            seen.update(pids)
            sizes = [_rss_mb(p) for p in pids]
            peak, largest = max(peak, sum(sizes)), max(largest, *sizes, 0.0)
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode not in (0, 1):  # 1: failing controls, as the data has on purpose
        print(output, file=sys.stderr)
    return Measured(seconds, process.returncode, peak, largest, len(seen))


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PREFECT_API"))}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", **extra)
    return env


def demo(runs: int, out: Path) -> list[Measured]:
    env = _environment()
    measure([str(CLI), "-q", "audit", "--demo", "--out", str(out)], env)  # warm-up, not counted
    return [measure([str(CLI), "-q", "audit", "--demo", "--out", str(out)], env)
            for _ in range(runs)]


def one_account(runs: int, users: int, roles: int, out: Path) -> list[Measured]:
    import boto3
    from api_calls import seed_account  # bench/, this script's folder, is on sys.path
    from moto.moto_api import _internal as moto_internal

    from simulated.access_analyzer import LayeredMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = LayeredMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
        moto_internal.moto_api_backend.reset()
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                region_name="us-east-1")
        endpoint = aws["AWS_ENDPOINT_URL"]
        session.client("organizations", endpoint_url=endpoint).create_organization(FeatureSet="ALL")
        seed_account(session.client("iam", endpoint_url=endpoint), users, roles)
        keys = out / "keys"
        env = _environment(**aws, ROLECALL_KEYS_DIR=str(keys))
        subprocess.run([str(CLI), "keys", "init", "--keys-dir", str(keys)], env=env, check=True,
                       capture_output=True)
        # no exceptions register (none in data/ either): every user is a finding
        argv = [str(CLI), "-q", "audit", "--out", str(out / "runs")]
        measure(argv, env)  # warm-up, not counted
        return [measure(argv, env) for _ in range(runs)]
    finally:
        server.stop()


def report(title: str, results: list[Measured]) -> None:
    print(title)
    for i, m in enumerate(results, 1):
        print(f"  run {i}: {m.seconds:6.1f} s  exit {m.exit_code}  process tree peak "
              f"{m.tree_peak_mb:6.0f} MB (largest process {m.largest_mb:4.0f} MB, "
              f"{m.processes} processes)")
    if results:
        walls = sorted(m.seconds for m in results)
        print(f"  median {walls[len(walls) // 2]:.1f} s, best {walls[0]:.1f} s; "
              f"peak tree {max(m.tree_peak_mb for m in results):.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=("demo", "account", "both"), default="both")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--roles", type=int, default=500)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="rolecall-bench-") as folder:
        out = Path(folder)
        if args.what in ("demo", "both"):
            report("rolecall -q audit --demo (warm; the first run is not counted)",
                   demo(args.runs, out / "demo"))
        if args.what in ("account", "both"):
            report(f"rolecall -q audit, one account of {args.users} users + {args.roles} roles "
                   "(moto on 127.0.0.1)", one_account(args.runs, args.users, args.roles, out))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
