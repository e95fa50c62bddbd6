"""What the HTTP server itself refuses is problem JSON too: the local stack's API and stream app under real
uvicorn, raw sockets as the client. A 40 KiB request head that arrives in two reads passes h11's 16 KiB
buffer (431), a request line that is not HTTP gets 400; the same 40 KiB head in one write is served."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest

from local.stack import StackState

pytestmark = pytest.mark.integration


def exchange(url: str, *parts: bytes) -> tuple[int, dict[str, str], bytes]:
    where = urlsplit(url)
    with socket.create_connection((where.hostname or "127.0.0.1", where.port or 80), timeout=15) as s:
        for i, part in enumerate(parts):
            if i:
                time.sleep(0.2)  # a separate read on the server's side
            s.sendall(part)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def long_head(host: str) -> bytes:
    return (f"GET /v1/health?x={'a' * 40_000} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").encode()


@pytest.mark.parametrize("which", ["api_url", "stream_url"])
def test_a_head_over_the_buffer_in_pieces_is_a_431_problem(stack: StackState, which: str) -> None:
    url = getattr(stack, which)
    head = long_head(urlsplit(url).netloc)
    status, headers, body = exchange(url, head[:20_000], head[20_000:])
    assert status == 431 and headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 431 and problem["type"].endswith("/head-too-large") and "16384" in problem["detail"]


@pytest.mark.parametrize("which", ["api_url", "stream_url"])
def test_a_request_line_that_is_not_http_is_a_400_problem(stack: StackState, which: str) -> None:
    status, headers, body = exchange(getattr(stack, which), b"GET / HTTP/1.1 extra\r\n\r\n")
    assert status == 400 and headers["content-type"] == "application/problem+json"
    assert json.loads(body)["title"] == "Bad Request"


def test_the_same_head_in_one_write_reaches_the_app(stack: StackState) -> None:
    status, _, body = exchange(stack.stream_url, long_head(urlsplit(stack.stream_url).netloc))
    assert status == 200 and json.loads(body)["status"] == "ok"
