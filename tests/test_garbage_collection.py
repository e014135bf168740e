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
