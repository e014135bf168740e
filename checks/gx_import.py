"""Great Expectations, imported without the libraries only its unused parts need.

GX imports every built-in expectation and metric when it loads. Three of them (KL divergence,
two Kolmogorov-Smirnov metrics) import scipy.stats and altair at module level: about 640 more
modules, ~80 MB and seconds of CPU in every run, and no rolecall expectation evaluates them.
Here those two modules are loaded lazily (importlib.util.LazyLoader): the import binds the name
at once and the module's code runs on first attribute access, so whatever does use them still
gets the real module.

SQLAlchemy is an optional dependency of GX (its SQL datasources; an extra of its package), and
GX guards every use of it. It is installed here for Prefect's server, and GX would import it
(~150 modules, 0.2 s, ~15 MB) though rolecall's facts go through pandas only
(checks/validate.py). While GX imports, SQLAlchemy is not found, as in an install without the
extra; a process that had already imported it (Prefect's server in the same process) keeps it
for GX as well, with the same results on pandas.

Import Great Expectations through this module (`from checks.gx_import import gx`); a plain
`import great_expectations` first only loses the saving.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from types import ModuleType

# Imported by GX at module level for expectations rolecall does not use (see the docstring).
DEFERRED = frozenset({"scipy.stats", "altair"})
# Optional for GX, used by none of rolecall's validation (see the docstring).
NOT_FOR_GX = frozenset({"sqlalchemy"})


class DeferredImports(importlib.abc.MetaPathFinder):
    """Finds `names` on the ordinary path and hands them to a LazyLoader."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec  # not found, or a loader LazyLoader cannot wrap: the ordinary import
        spec.loader = importlib.util.LazyLoader(spec.loader)  # type: ignore[arg-type]
        return spec


class NotFound(importlib.abc.MetaPathFinder):
    """`names` and their submodules are not found, as if not installed."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


@contextmanager
def not_found(names: frozenset[str]) -> Iterator[None]:
    """For the block, importing `names` fails as if they were not installed (already imported
    modules are unaffected: Python finds them in sys.modules)."""
    finder = NotFound(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def defer_unused_imports() -> None:
    """Install the finder once, before Great Expectations is imported; a no-op after."""
    if not any(isinstance(finder, DeferredImports) for finder in sys.meta_path):
        sys.meta_path.insert(0, DeferredImports(DEFERRED))


defer_unused_imports()
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
with not_found(NOT_FOR_GX):
    import great_expectations as gx  # noqa: E402  (after the finder, on purpose)
    from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
    from great_expectations.expectations.row_conditions import Column  # noqa: E402

__all__ = ["Column", "ProgressBarsConfig", "gx"]
