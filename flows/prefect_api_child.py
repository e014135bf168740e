"""The local Prefect API server process: uvicorn that stops when the process that started it dies.

`python -m flows.prefect_api_child PARENT-PID UVICORN-ARGS...`, started by `prefect_api()` with
its stdin a pipe whose only writer is the parent. However the parent ends (return, exception,
Ctrl-C, SIGKILL), the kernel closes the parent's end and a read here returns EOF; the server
then shuts down as on SIGTERM. A pipe-EOF watchdog was chosen over prctl(PR_SET_PDEATHSIG):
PDEATHSIG fires when the parent *thread* that forked exits (not the process), needs a
preexec_fn (unsafe once the CLI has threads), and is Linux-only. The parent's pid is checked
as well, once a second, in case a forked copy of the parent kept the pipe open after it died.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading

from reports.garbage_collection import collect_less_often

CHECK_SECONDS = 1.0
GRACE_SECONDS = 5.0  # then exit without waiting for uvicorn's graceful shutdown


def parent_gone(stdin_fd: int, parent_pid: int) -> None:
    """Block until the parent's end of the pipe closes or the parent is no longer our parent."""
    while os.getppid() == parent_pid:
        try:
            readable, _, _ = select.select([stdin_fd], [], [], CHECK_SECONDS)
            if readable and not os.read(stdin_fd, 4096):
                return  # EOF: every writer, the parent first, has gone
        except OSError:
            return  # stdin closed or unusable: no way left to hear from the parent


def _stop_when_parent_gone(parent_pid: int) -> None:
    parent_gone(sys.stdin.fileno(), parent_pid)
    # uvicorn's own SIGTERM handler stops it gracefully (before it is installed: default exit)
    os.kill(os.getpid(), signal.SIGTERM)
    exit_anyway = threading.Timer(GRACE_SECONDS, os._exit, args=(0,))
    exit_anyway.daemon = True
    exit_anyway.start()


def main(argv: list[str]) -> None:
    """Start the watchdog first, then uvicorn with the remaining arguments."""
    parent_pid = int(argv[0])
    threading.Thread(target=_stop_when_parent_gone, args=(parent_pid,), daemon=True,
                     name="parent-watchdog").start()
    collect_less_often()  # 0.3 s of the server's boot: reports/garbage_collection.py
    import uvicorn.main

    uvicorn.main.main(args=argv[1:], prog_name="uvicorn")


if __name__ == "__main__":
    main(sys.argv[1:])
