"""flows/prefect_api.py: the local Prefect API server never outlives the CLI that started it.

Issue 9: every SIGKILLed audit left its uvicorn server running (~200 MB each).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flows.prefect_api_child import parent_gone
from tests.ports import port_open

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
ROOT = Path(__file__).resolve().parent.parent


async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """A minimal ASGI app, so the watchdog can be tested without Prefect's 10-20 s boot."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _state(pid: int) -> str | None:
    """The process's state letter, or None once it is gone (a zombie holds nothing: 'Z')."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def _alive(pid: int) -> bool:
    return _state(pid) not in (None, "Z", "X")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* gives them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kill_parent_and_check_server_goes(parent: subprocess.Popen[str], server_pid: int,
                                        port: int, timeout: float) -> None:
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=5)
    assert _wait(lambda: not _alive(server_pid), timeout), \
        f"server {server_pid} still running {timeout} s after its parent was SIGKILLed"
    assert not port_open(port)


def test_watchdog_returns_when_the_pipe_closes() -> None:
    read_end, write_end = os.pipe()
    done = threading.Event()
    threading.Thread(target=lambda: (parent_gone(read_end, os.getppid()), done.set()),
                     daemon=True).start()
    os.write(write_end, b"data is not the end")
    assert not done.wait(0.3)
    os.close(write_end)
    assert done.wait(3)
    os.close(read_end)


def test_watchdog_returns_when_the_parent_changed() -> None:
    read_end, write_end = os.pipe()
    started = time.monotonic()
    parent_gone(read_end, parent_pid=os.getppid() + 1)  # not our parent: gone already
    assert time.monotonic() - started < 5  # returns at once; a watchdog that waited would hang
    os.close(read_end)
    os.close(write_end)


def _child_command(port: int) -> list[str]:
    return [sys.executable, "-m", "flows.prefect_api_child", "{parent}", "--app-dir", str(ROOT),
            "tests.test_prefect_api:app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "error"]


def test_server_stops_when_its_parent_is_sigkilled(tmp_path: Path) -> None:
    """The watchdog itself, around a tiny app: fast, so every run of the suite checks it."""
    port = _free_port()
    script = textwrap.dedent(f"""
        import os, subprocess, sys, time
        command = [a.replace("{{parent}}", str(os.getpid())) for a in {_child_command(port)!r}]
        child = subprocess.Popen(command, stdin=subprocess.PIPE)
        print(child.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=tmp_path)
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        assert _wait(lambda: port_open(port), 30), "the tiny server never listened"
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
        _kill_parent_and_check_server_goes(parent, server_pid, port, timeout=5)
    finally:
        parent.kill()
        parent.wait()


def test_server_stops_when_its_parent_closes_the_pipe() -> None:
    from flows.prefect_api import stop_server

    port = _free_port()
    command = [a.replace("{parent}", str(os.getpid())) for a in _child_command(port)]
    server = subprocess.Popen(command, stdin=subprocess.PIPE)
    try:
        assert _wait(lambda: port_open(port), 30)
        started = time.monotonic()
        stop_server(server, timeout=10)
        # uvicorn's graceful stop re-raises the SIGTERM the watchdog sent: not stop_server's kill
        assert server.returncode == -signal.SIGTERM
        assert time.monotonic() - started < 5
        assert not port_open(port)
    finally:
        server.kill()
        server.wait()


def test_prefect_api_server_dies_with_a_sigkilled_cli(tmp_path: Path) -> None:
    """The real thing: a process in `prefect_api()` (as `rolecall audit` is) is SIGKILLed."""
    script = textwrap.dedent("""
        import time
        from flows.prefect_api import prefect_api, wait_until_healthy

        with prefect_api() as url:
            wait_until_healthy(url, 170)
            print(url, flush=True)
            time.sleep(600)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env=env, cwd=tmp_path)
    try:
        assert parent.stdout is not None
        url = parent.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), f"no healthy server (exit {parent.poll()})"
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        (server_pid,) = _children(parent.pid)
        assert "flows.prefect_api_child" in Path(f"/proc/{server_pid}/cmdline").read_text()
        assert _listening_addresses(port) == {"0100007F"}
        its_children = _children(server_pid)
        _kill_parent_and_check_server_goes(parent, server_pid, port, timeout=10)
        assert not [pid for pid in its_children if _alive(pid)]
    finally:
        parent.kill()
        parent.wait()


def test_flow_runs_in_a_block_without_heartbeats_send_none_and_others_still_do(
        prefect_server: None) -> None:
    """A temporary API watches for no crashed runs: the CLI's runs skip the heartbeat thread,
    whose 1 s sleeps held each run's end; the setting is back once the block ends."""
    from prefect import flow
    from prefect.settings import get_current_settings

    from flows.audit import flow_heartbeats

    @flow
    def heartbeat_frequency() -> int | None:
        return get_current_settings().flows.heartbeat_frequency

    default = heartbeat_frequency()
    assert default is not None
    with flow_heartbeats(False):
        assert heartbeat_frequency() is None
    assert heartbeat_frequency() == default
    with flow_heartbeats(True):
        assert heartbeat_frequency() == default
