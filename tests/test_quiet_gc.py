"""quiet_gc: pre-existing objects are frozen for a run and given back afterwards, even on errors."""
from __future__ import annotations

import gc

import pytest

from lessonkit.panels.quiet_gc import quiet_gc


def test_objects_made_before_the_run_are_frozen_during_it_and_unfrozen_after() -> None:
    assert gc.get_freeze_count() == 0
    tracked_before = len(gc.get_objects())
    with quiet_gc():
        assert gc.get_freeze_count() >= tracked_before * 0.9  # a full collection skips them now
    assert gc.get_freeze_count() == 0


def test_overlapping_runs_share_one_freeze_and_an_error_still_unfreezes() -> None:
    outer = quiet_gc()
    outer.__enter__()
    with pytest.raises(RuntimeError):
        with quiet_gc():
            raise RuntimeError("a run failed")
    assert gc.get_freeze_count() > 0  # the other run is still streaming
    outer.__exit__(None, None, None)
    assert gc.get_freeze_count() == 0


def test_someone_elses_freeze_is_left_alone() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        # A frozen object can still be freed (its count only falls), so: nothing added, nothing thawed.
        with quiet_gc():
            assert 0 < gc.get_freeze_count() <= frozen
        assert 0 < gc.get_freeze_count() <= frozen  # not undone by us
    finally:
        gc.unfreeze()
