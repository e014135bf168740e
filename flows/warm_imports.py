"""Import modules on a daemon thread, so that a later `import` finds them loaded.

The heavy libraries (Great Expectations, WeasyPrint, Prefect, pyHanko) take seconds each to
import. Started early, their imports overlap with waiting: for the simulated organization to
seed, for AWS to answer. A later `import` of a module still loading waits on the module's
import lock, so it is never seen half-made.
"""

from __future__ import annotations

import importlib
import threading


def import_in_background(*names: str) -> threading.Thread:
    """Start importing the modules, in order, on a daemon thread; return the thread."""

    def run() -> None:
        for name in names:
            importlib.import_module(name)

    thread = threading.Thread(target=run, name="warm-imports", daemon=True)
    thread.start()
    return thread
