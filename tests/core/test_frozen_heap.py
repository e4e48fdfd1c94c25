"""The heap a stage starts with is left out of full collections while the stage runs."""

from __future__ import annotations

import gc
import weakref

import pytest

from connector.pipeline.heap import frozen_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_objects_alive_at_entry_are_frozen_and_thawed_after() -> None:
    kept = [{"n": i} for i in range(1000)]
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        assert gc.get_freeze_count() >= len(kept)
    assert gc.get_freeze_count() == 0


def test_cycles_made_during_the_stage_are_still_collected() -> None:
    with frozen_heap():
        ref = _cycle()
        gc.collect()
        assert ref() is None


def test_a_cycle_frozen_with_the_heap_is_collected_after_the_stage() -> None:
    ref = _cycle()
    with frozen_heap():
        gc.collect()
        assert ref() is not None  # frozen: no pass looks at it
    gc.collect()
    assert ref() is None


def test_the_heap_is_thawed_when_the_stage_fails() -> None:
    with pytest.raises(RuntimeError), frozen_heap():
        raise RuntimeError("stage failed")
    assert gc.get_freeze_count() == 0
