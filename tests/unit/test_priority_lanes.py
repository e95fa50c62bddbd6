"""Priority lanes on SQS: the topology's weighted shares of the worker fleet (what the CDK app gives each
event-source mapping), and the local cloud's stand-in, smooth weighted round-robin over the lanes that hold
a batch (an idle lane's turn goes to the others)."""

from __future__ import annotations

from collections import Counter

from local.sources import LaneSource, lane_sources, pick
from shared.topology import JOBS_QUEUE, QueueSource, function


def _lanes() -> list[LaneSource]:
    return [LaneSource(lane.priority, f"q-{lane.priority}", lane.weight) for lane in JOBS_QUEUE.lanes]


def test_the_fleet_is_split_by_weight_and_no_lane_gets_less_than_aws_allows() -> None:
    trigger = function("worker").trigger
    assert isinstance(trigger, QueueSource)
    assert trigger.lane_concurrency(JOBS_QUEUE.lanes) == {"high": 25, "normal": 17, "low": 8}
    tiny = QueueSource(queue="jobs", max_concurrency=4)
    assert min(tiny.lane_concurrency(JOBS_QUEUE.lanes).values()) == 2  # SQS event sources take at least 2


def test_every_lane_busy_gets_its_weights_share_of_turns() -> None:
    lanes = _lanes()
    turns: Counter[str] = Counter()
    for _ in range(600):
        for lane in lanes:
            lane.batch = lane.batch or ["m"]
        chosen = pick(lanes)
        assert chosen is not None
        turns[chosen.name] += 1
        chosen.batch = []
    assert turns == {"high": 300, "normal": 200, "low": 100}


def test_an_idle_lane_lends_its_turn_and_none_waits_behind_it() -> None:
    lanes = _lanes()
    low = next(lane for lane in lanes if lane.name == "low")
    low.batch = ["m"]
    chosen = pick(lanes)
    assert chosen is low  # alone, the low lane is served at once
    assert pick([LaneSource("x", "u", 1)]) is None  # nothing to serve


def test_lane_urls_come_from_the_environment_named_in_the_topology() -> None:
    env = {"JOBS_QUEUE_URL": "n", "JOBS_HIGH_QUEUE_URL": "h", "JOBS_LOW_QUEUE_URL": "l"}
    assert [(s.name, s.url, s.weight) for s in lane_sources(JOBS_QUEUE, env)] == [
        ("high", "h", 3), ("normal", "n", 2), ("low", "l", 1)]
