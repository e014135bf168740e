"""A Prefect API for one CLI run: the configured one, or a temporary local server we start early.

Without PREFECT_API_URL, Prefect starts a temporary server on first use, after importing its
whole server stack into this process: 15-20 s before the first task runs. Started here as a
plain subprocess before anything heavy is imported, the server boots on the second core while
this process imports its libraries and seeds the simulated organization. It listens on
127.0.0.1 only and is stopped when the command ends, or when this process dies in any way,
SIGKILL included: see flows/prefect_api_child.py.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# An audit run needs flow and task runs recorded, nothing else: no background services, and no
# block types registered at start. Registration imports every installed Prefect collection
# (prefect-dask pulls in Dask and distributed) and hashes the block registry: 0.3 s of the
# server's ~3.5 s boot, on the path of every run. The audit flow uses no block; `rolecall serve`
# (services=True) keeps Prefect's defaults, registration included.
AUDIT_ONLY_SERVER = {
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
    "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def prefect_api(*, services: bool = False) -> Iterator[str | None]:
    """Yield the API URL in force; start (and later stop) a local server when none is set.

    services: run the server's background services too (its scheduler above all), as
    `rolecall serve` needs; an audit run only needs the API, which starts faster."""
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    spec = importlib.util.find_spec("prefect")
    assert spec is not None and spec.origin is not None
    port = _free_port()
    # stdin is a pipe only this process writes to: when it closes, however this process ends
    # (even SIGKILL), the server stops (flows/prefect_api_child.py says why not PDEATHSIG).
    process = subprocess.Popen(
        [
            sys.executable, "-m", "flows.prefect_api_child", str(os.getpid()),
            "--app-dir", str(Path(spec.origin).parent.parent),
            "--factory", "prefect.server.api.server:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on",
        ],
        env={**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
             **({} if services else AUDIT_ONLY_SERVER)},
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    os.environ["PREFECT_API_URL"] = url
    try:
        yield url
    finally:
        _drain_prefect_clients()
        os.environ.pop("PREFECT_API_URL", None)
        stop_server(process)


def stop_server(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Close the server's stdin, which stops it as a dead parent would; kill it if it lingers."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _drain_prefect_clients(timeout: float = 10) -> None:
    """Let Prefect ship its queued logs and events while the server still answers.

    Stopped first, the server would leave Prefect's exit handlers retrying against a closed
    port for more than a minute.
    """
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout)


def wait_until_healthy(url: str, timeout: float) -> None:
    """Block until the API answers /health; a clear error if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the Prefect API at {url} did not answer within {timeout:.0f} s")
