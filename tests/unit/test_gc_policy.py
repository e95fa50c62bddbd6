"""local.gc_policy: what is alive after start-up and after each full collection is out of the collector's walk,
and what is dropped is still freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from local import gc_policy


@pytest.fixture
def policy() -> Iterator[None]:
    gc_policy.freeze_survivors()
    try:
        yield
    finally:
        gc.callbacks.remove(gc_policy._after)
        gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.peer: Node | None = None


def test_survivors_are_frozen_at_start_and_after_every_full_collection(policy: None) -> None:
    # Given the policy installed: what was alive then is frozen
    at_start = gc.get_freeze_count()
    assert at_start > 0
    kept = [Node() for _ in range(1000)]
    # When a full collection runs, Then what survived it is frozen too, and a second install adds no callback
    gc.collect()
    assert gc.get_freeze_count() >= at_start + len(kept)
    gc_policy.freeze_survivors()
    assert gc.callbacks.count(gc_policy._after) == 1
    # And a younger collection freezes nothing
    frozen = gc.get_freeze_count()
    young = [Node() for _ in range(100)]
    gc.collect(0)
    assert gc.get_freeze_count() == frozen and young


def test_what_is_dropped_after_a_freeze_is_still_freed(policy: None) -> None:
    # Given a plain object frozen by a full collection, and a cycle made after it
    plain = Node()
    gc.collect()
    frozen = weakref.ref(plain)
    a, b = Node(), Node()
    a.peer, b.peer = b, a
    cycle = weakref.ref(a)
    # When both are dropped, Then reference counting frees the frozen one at once, and the next collection the cycle
    del plain
    assert frozen() is None
    del a, b
    gc.collect(0)
    assert cycle() is None
