"""The served process's heap: what is alive when the model is loaded is frozen out of the
collector's reach, and garbage made afterwards is still collected."""

import gc
import weakref

from lakeside.serving.base import YOUNG_COLLECTION_THRESHOLD, settle_heap


class Node:
    def __init__(self):
        self.other = None


def a_cycle() -> weakref.ref:
    first, second = Node(), Node()
    first.other, second.other = second, first
    return weakref.ref(first)


def test_settling_freezes_the_living_and_still_collects_new_cycles():
    threshold = gc.get_threshold()
    loaded = a_cycle()
    try:
        settle_heap()
        assert loaded() is None, "garbage alive before settling is collected, not frozen"
        assert gc.get_freeze_count() > 1_000
        assert gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD
        later = a_cycle()
        gc.collect()
        assert later() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_settling_again_lets_go_of_what_was_frozen_and_has_since_died():
    threshold = gc.get_threshold()
    first, second = Node(), Node()
    first.other, second.other = second, first
    retired = weakref.ref(first)
    try:
        settle_heap()
        del first, second
        gc.collect()
        assert retired() is not None, "a frozen cycle is out of the collector's reach"
        settle_heap()
        assert retired() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
