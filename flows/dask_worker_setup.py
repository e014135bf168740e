"""Run by each Dask worker of rolecall's local cluster as it starts (distributed's `preload`):
its process collects garbage like the CLI's (reports/garbage_collection.py)."""

from __future__ import annotations

from typing import Any

from reports.garbage_collection import collect_less_often


def dask_setup(worker: Any) -> None:
    """distributed calls this in the worker process before it takes tasks."""
    collect_less_often()
