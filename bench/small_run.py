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

--prowler PROWLER (account only) runs that Prowler executable after each rolecall run, on the same
server and data: `prowler aws --service iam organizations accessanalyzer` (the services rolecall
reads; --prowler-args replaces that), measured the same way, and prints the ratios. Prowler is
third-party code that may call other hosts (its version check calls GitHub): the script refuses
to run it unless the network namespace has no interface but loopback, e.g.
    unshare -n sh -c 'ip link set lo up && .venv/bin/python bench/small_run.py account \
        --prowler /path/to/venv/bin/prowler'
Usage: .venv/bin/python bench/small_run.py [demo|account|both] [--runs N] [--users U --roles R]
       [--prowler PROWLER [--prowler-args ARGS]]
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

CLI = Path(sys.executable).with_name("rolecall")
PAGE = os.sysconf("SC_PAGE_SIZE")
PROWLER_ARGS = "aws --service iam organizations accessanalyzer --no-banner"


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
    # 1 (rolecall) and 3 (Prowler): failing checks, as the data has on purpose
    if process.returncode not in (0, 1, 3):
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


def one_account(runs: int, users: int, roles: int, out: Path, prowler: list[str] | None = None,
                prefect_api_url: str | None = None) -> tuple[list[Measured], list[Measured]]:
    """rolecall's runs, and Prowler's (after each of rolecall's) when its argv is given;
    prefect_api_url: a running Prefect API the runs use (none: each starts its own)."""
    import boto3
    from api_calls import seed_account  # bench/, this script's folder, is on sys.path
    from moto.moto_api import _internal as moto_internal

    from simulated.access_analyzer import LayeredMotoServer

    # ERROR too: moto answers calls it lacks (Prowler's GenerateServiceLastAccessedDetails, one
    # per user) with a 501 and werkzeug logs a traceback for each; the clients see the 501
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
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
        peer_env = dict(env)
        if prefect_api_url:
            env["PREFECT_API_URL"] = prefect_api_url
        subprocess.run([str(CLI), "keys", "init", "--keys-dir", str(keys)], env=env, check=True,
                       capture_output=True)
        # no exceptions register (none in data/ either): every user is a finding
        argv = [str(CLI), "-q", "audit", "--out", str(out / "runs")]
        measure(argv, env)  # warm-up, not counted
        peer_argv = [*prowler, "--output-directory", str(out / "prowler")] if prowler else None
        if peer_argv:
            measure(peer_argv, peer_env)
        ours, theirs = [], []
        for _ in range(runs):  # interleaved: both see the same machine, run after run
            ours.append(measure(argv, env))
            if peer_argv:
                theirs.append(measure(peer_argv, peer_env))
        return ours, theirs
    finally:
        server.stop()


@contextmanager
def running_prefect_api() -> Iterator[str]:
    """A Prefect API on 127.0.0.1 for the runs to share, stopped when the block ends."""
    from flows.prefect_api import prefect_api, wait_until_healthy

    saved = os.environ.pop("PREFECT_API_URL", None)  # prefect_api() would use it
    try:
        with prefect_api() as url:
            assert url is not None
            wait_until_healthy(url, 120)
            yield url
    finally:
        if saved is not None:
            os.environ["PREFECT_API_URL"] = saved


def loopback_only() -> bool:
    """No network interface but loopback is up in this network namespace (IPv4 and IPv6)."""
    routes = Path("/proc/net/route").read_text().splitlines()[1:]
    interfaces = {line.split()[0] for line in routes if line.strip()}
    if Path("/proc/net/if_inet6").exists():
        interfaces |= {line.split()[-1] for line in
                       Path("/proc/net/if_inet6").read_text().splitlines() if line.strip()}
    return interfaces <= {"lo"}


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


def compare(ours: list[Measured], theirs: list[Measured]) -> None:
    print("rolecall / Prowler, run by run:")
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True), 1):
        print(f"  run {i}: wall {a.seconds:.1f} / {b.seconds:.1f} s = {a.seconds / b.seconds:.2f}x;"
              f" tree {a.tree_peak_mb:.0f} / {b.tree_peak_mb:.0f} MB")
    ratios = sorted(a.seconds / b.seconds for a, b in zip(ours, theirs, strict=True))
    print(f"  median wall ratio {ratios[len(ratios) // 2]:.2f}x (goal <= 0.3x); peak tree "
          f"{max(a.tree_peak_mb for a in ours):.0f} MB against Prowler's "
          f"{max(b.tree_peak_mb for b in theirs):.0f} MB (goal: no larger)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=("demo", "account", "both"), default="both")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--roles", type=int, default=500)
    parser.add_argument("--prowler", help="a Prowler executable, run beside the account runs")
    parser.add_argument("--prefect-server", action="store_true",
                        help="account runs use a Prefect API this script starts first, outside "
                             "the measured tree, as a configured $PREFECT_API_URL would be")
    parser.add_argument("--prowler-args", default=PROWLER_ARGS,
                        help=f"Prowler's arguments (default: {PROWLER_ARGS!r})")
    args = parser.parse_args()
    if args.prowler and not shutil.which(args.prowler):
        parser.error(f"--prowler {args.prowler}: no such executable")
    prowler = [args.prowler, *shlex.split(args.prowler_args)] if args.prowler else None
    if prowler and not loopback_only():
        parser.error("--prowler runs third-party code that may call other hosts: run this "
                     "script where only loopback is up, e.g. `unshare -n sh -c 'ip link set lo "
                     "up && .venv/bin/python bench/small_run.py account --prowler ...'`")
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="rolecall-bench-") as folder:
        out = Path(folder)
        if args.what in ("demo", "both"):
            report("rolecall -q audit --demo (warm; the first run is not counted)",
                   demo(args.runs, out / "demo"))
        if args.what in ("account", "both"):
            with running_prefect_api() if args.prefect_server else nullcontext() as api_url:
                ours, theirs = one_account(args.runs, args.users, args.roles, out, prowler, api_url)
            report(f"rolecall -q audit, one account of {args.users} users + {args.roles} roles "
                   f"(moto on 127.0.0.1; {'a running' if api_url else 'its own'} Prefect API)",
                   ours)
            if prowler:
                report(f"{shlex.join(prowler)} (same server and data; the first run is not "
                       "counted)", theirs)
                compare(ours, theirs)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
