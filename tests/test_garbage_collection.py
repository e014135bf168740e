"""reports/garbage_collection.py: the PDF render's collector settings never outlive the render."""

from __future__ import annotations

import gc
import weakref

import pytest

from reports.garbage_collection import YOUNG_THRESHOLD, fewer_collections


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_existing_objects_are_frozen_and_defaults_come_back() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_garbage_made_inside_is_still_collected() -> None:
    with fewer_collections():
        a, b = _Node(), _Node()
        a.other, b.other = b, a  # a cycle: only the collector frees it
        watch = weakref.ref(a)
        del a, b
        gc.collect()
        assert watch() is None


def test_nested_blocks_share_one_freeze_and_an_error_restores() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        with fewer_collections():
            pass
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD  # the outer block still holds
        raise RuntimeError("render failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("code", [
    # the CLI: set on import, before its libraries load
    "import gc, cli.main; print(*gc.get_threshold())",
    # the Prefect API's process: set by the time uvicorn starts
    "import gc, os, uvicorn.main as u; u.main = lambda **_: print(*gc.get_threshold()); "
    "import flows.prefect_api_child as child; child.main([str(os.getppid())])",
])
def test_the_cli_and_its_prefect_api_collect_the_young_generation_less_often(code: str) -> None:
    import subprocess
    import sys
    from pathlib import Path

    # stdin stays open until the child has answered: the API's watchdog stops it at EOF
    with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True,
                          cwd=Path(__file__).resolve().parents[1]) as child:
        assert child.stdout is not None
        young, middle, old = map(int, child.stdout.readline().split())
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait(timeout=60) == 0
    assert young == YOUNG_THRESHOLD
    assert (middle, old) == (10, 10)  # Python's own: only the young generation's changes
