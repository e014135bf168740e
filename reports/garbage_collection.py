"""Fewer, cheaper garbage collections: in a batch process, and while WeasyPrint lays out a PDF.

Python collects its young generation every 700 allocations, and every tenth collection of
each generation collects the next one. Importing what a run needs (Prefect, Great Expectations,
pandas, WeasyPrint, pyHanko) builds ~400,000 objects that live as long as the process; with
Python's thresholds that import alone sets off about seven full collections, each walking
everything made so far: 0.7 s of the CLI's 3.6 s of imports, 0.3 s of the Prefect API's
2.1 s. `collect_less_often()`, called first thing by the CLI, its API and its Dask workers, raises
the young generation's threshold for good: the same garbage is collected, in larger batches.

While WeasyPrint lays out a PDF (millions of small objects; with Python's thresholds ~1,000
collections per report, a dozen of them full: 5.3 s against 4.5 s for a 36-page PDF with those
libraries imported), `fewer_collections()` also freezes the objects that exist before the render,
so that no collection walks them again; it puts the freeze and the thresholds back afterwards,
and the render's own garbage is still collected, only in larger batches.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Allocations between young collections (Python's default: 700). The middle and old
# generations' thresholds stay as they are, counted in young and middle collections. At most
# this many young objects wait for a collection: a few MB.
YOUNG_THRESHOLD = 50_000


def collect_less_often() -> None:
    """Collect the young generation every YOUNG_THRESHOLD allocations from now on, for a
    process that imports heavy libraries and then runs one batch (see the module docstring)."""
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Freeze what exists and collect the young generation less often, for the block.

    Nested or concurrent blocks share one freeze: the last to leave restores the thresholds."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.freeze()
            collect_less_often()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                gc.unfreeze()
