"""Fewer, cheaper garbage collections while WeasyPrint lays out a PDF.

By the time a run renders its report, the process holds Prefect, Great Expectations, pandas and
DuckDB: ~400,000 objects that every full collection walks again. WeasyPrint allocates millions of
small objects, which trigger ~1,000 collections per report, a dozen of them full: ~1 s of a
36-page PDF's ~5 s (measured with those libraries imported, bench-free: 5.3 s as is, 4.5 s here).
Objects that exist before the render are frozen (skipped by every collection) and the young
generation's threshold is raised; both are put back afterwards, so the render's own garbage is
still collected, only in larger batches, and a long-lived process (`rolecall serve`) keeps
Python's defaults between runs.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Allocations between young collections (Python's default: 700). The middle and old
# generations' thresholds stay as they are, counted in young and middle collections.
YOUNG_THRESHOLD = 50_000

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Freeze what exists and collect the young generation less often, for the block.

    Nested or concurrent blocks share one freeze: the last to leave restores the defaults."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(YOUNG_THRESHOLD, *_saved[1:])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                gc.unfreeze()
