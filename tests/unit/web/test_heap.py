"""sild.web.heap: a server's start-up objects leave the collector's later passes."""

from __future__ import annotations

import gc
import weakref

from sild.web.heap import settle_after_start


def test_start_up_objects_are_frozen_and_garbage_is_collected_first() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    gc.unfreeze()
    garbage = Cycle()
    gone = weakref.ref(garbage)
    kept = [object() for _ in range(100)]
    del garbage
    try:
        settle_after_start()
        frozen = gc.get_freeze_count()
        assert frozen > len(kept)  # the live objects are in the permanent generation
        assert gone() is None  # start-up's garbage was collected before the freeze
    finally:
        gc.unfreeze()  # this test process goes on making and dropping objects
    assert gc.get_freeze_count() == 0
