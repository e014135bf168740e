"""The simulated organization in its own process, for the demo.

In a separate process the moto server (seeding and answering) runs on the second core instead
of competing for this process's interpreter lock while it imports its libraries, runs the flow
and validates. The child stops when its parent closes its stdin, even if the parent dies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from simulated.credentials import FAKE_CREDENTIALS as FAKE_CREDENTIALS  # re-exported


@dataclass(frozen=True)
class SimulatedEndpoint:
    endpoint_url: str
    organization_id: str
    register: Path


@contextmanager
def simulated_subprocess(register: Path, port: int = 0) -> Iterator[SimulatedEndpoint]:
    """Start the simulated organization on 127.0.0.1 in a child process; stop it on exit."""
    child = subprocess.Popen(
        [sys.executable, "-m", "simulated.process", str(port), str(register)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulated organization did not start (exit {child.wait()})")
        ready = json.loads(line)
        yield SimulatedEndpoint(ready["endpoint_url"], ready["organization_id"], register)
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(port: int, register: Path) -> None:
    from simulated import organization  # moto: only in the child

    with organization.serve(port) as sim:
        register.write_text(organization.demo_register(sim))
        print(json.dumps({"endpoint_url": sim.endpoint_url,
                          "organization_id": sim.organization_id}), flush=True)
        sys.stdin.read()  # until the parent closes it
        # The organization lives only in this process's memory: nothing to save or flush, and a
        # graceful stop (the server's 0.5 s poll, then tearing down moto) kept the demo's parent
        # waiting ~0.8 s. Exiting closes the listening socket all the same.
        os._exit(0)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
