"""The cost bench's bodies are the sizes it says, valid JSON, and compress like real JSON (neither to
nothing, as a padded letter would, nor not at all, as random bytes would)."""

import json
import zlib

import pytest

from bench.payloads import api_answer, event_body


@pytest.mark.parametrize("size", [1024, 2048, 4096])
def test_bodies_are_exactly_their_size_and_json(size: int) -> None:
    for body in (event_body(7, size), api_answer("key-7", size)):
        assert len(body) == size
        assert isinstance(json.loads(body), dict)


def test_bodies_compress_like_json_with_random_ids() -> None:
    ratios = [len(zlib.compress(b.encode(), 6)) / len(b)
              for i in range(20) for b in (event_body(i, 1024), api_answer(f"k{i}", 2048))]
    assert min(ratios) >= 0.3 and max(ratios) <= 0.6, ratios


def test_bodies_differ_from_job_to_job_and_repeat_for_the_same_one() -> None:
    assert event_body(1, 1024) != event_body(2, 1024)
    assert event_body(1, 1024) == event_body(1, 1024)
    assert json.loads(event_body(1, 1024))["id"] != json.loads(event_body(2, 1024))["id"]
