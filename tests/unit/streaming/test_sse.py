"""SSE framing: what a browser's EventSource parses from the bytes the stream app writes."""

from shared.streaming import sse


def test_event_with_id_and_json_data() -> None:
    assert sse.encode_event("reading", '{"a":1}', "17-0") == b'event: reading\nid: 17-0\ndata: {"a":1}\n\n'


def test_multiline_data_becomes_several_data_fields() -> None:
    # A bare newline inside `data:` would end the field early and corrupt the event.
    assert sse.encode_event("x", "one\ntwo") == b"event: x\ndata: one\ndata: two\n\n"


def test_retry_and_comment() -> None:
    assert sse.retry() == b"retry: 3000\n\n"
    assert sse.comment("keep-alive") == b": keep-alive\n\n"
