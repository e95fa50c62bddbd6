"""SSE fan-out benchmark: the real stream app (hub, sessions, SSE framing, uvicorn) in a process of its
own on a real Redis, driven by raw asyncio sockets in this process.

    python -m bench.sse            # prints the figures as JSON; `run()` returns them

- sse_p50_ms / sse_p99_ms: time from just before a reading is written (XADD, then PUBLISH — what the
  poller does) to its arrival on the client socket, over 1,000 concurrent streams of one inverter.
- sse_max_streams: concurrent streams one server process holds open, every one of them still
  receiving a published reading (tried up to 10,000).
- sse_kb_per_conn: the server's resident memory growth per open stream.
- sse_broadcast_10k_p99_ms: one publish reaching every held stream (10,000), p99 of its arrivals.
- sse_naive_p99_ms / sse_p99_ratio_vs_naive: as many clients and publishes against the naive fan-out
  DESIGN.md measured (`bench.sse_naive`: sse-starlette, one Redis subscription per client) in a server
  process of its own, running beside the hub's; the rounds alternate hub, naive, naive, hub, so that the
  machine's load weighs on both alike. The ratio is the hub's p99 ÷ the naive p99 (target ≤ 0.2).
The publisher and the clients share one clock (perf_counter is CLOCK_MONOTONIC, system-wide).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LATENCY_CLIENTS = 1_000
MAX_STREAMS = 10_000
PUBLISHES = 40
PUBLISH_GAP_S = 0.2
SECRET = "bench-secret"
_SENT = re.compile(rb'"sent":(\d+)')


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# -- server side -----------------------------------------------------------------------------------
def serve(port: int, redis_url: str, inverter_id: str) -> None:
    import uvicorn

    from functions.stream.app import create_app
    from functions.stream.deps import Services
    from shared.streaming.directory import MemoryDirectory
    from shared.streaming.hub import Hub
    from shared.streaming.replay import ReplayLog

    _raise_nofile()
    directory = MemoryDirectory()
    directory.add("bench", {"id": inverter_id, "brand": "sandbox", "serial": "B-1"}, {"pv_power_w": 0})

    def services() -> Services:
        return Services(hub=Hub(redis_url), replay=ReplayLog(redis_url), tenants=None, jobs=None,  # type: ignore[arg-type]
                        inverters=directory, token_secret=SECRET, max_stream_s=3600, tune_gc=True)

    uvicorn.run(create_app(services), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                backlog=16384, timeout_graceful_shutdown=1)


# -- client side -----------------------------------------------------------------------------------
class Client(asyncio.Protocol):
    """One EventSource, reduced to what the measurement needs: time stamps of arriving readings."""

    def __init__(self, request: bytes, samples: list[int], ready: asyncio.Future[None]) -> None:
        self.request, self.samples, self.ready = request, samples, ready
        self.transport: asyncio.Transport | None = None
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        if not self.ready.done():
            if b"retry:" in data:
                self.ready.set_result(None)
            elif data.startswith(b"HTTP/1.1") and b" 200 " not in data[:16]:
                self.ready.set_exception(RuntimeError(data[:200].decode(errors="replace")))
        for m in _SENT.finditer(data):
            self.samples.append(now - int(m.group(1)))
            self.received += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before the stream started"))


async def _open(port: int, inverter_id: str, token: str, n: int, samples: list[int]) -> list[Client]:
    loop = asyncio.get_running_loop()
    request = (f"GET /v1/inverters/{inverter_id}/events?access_token={token} HTTP/1.1\r\n"
               f"Host: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n").encode()
    gate = asyncio.Semaphore(200)

    async def one() -> Client | None:
        async with gate:
            ready: asyncio.Future[None] = loop.create_future()
            try:
                _, client = await loop.create_connection(lambda: Client(request, samples, ready), "127.0.0.1", port)
                await asyncio.wait_for(ready, 30)
                return client
            except (OSError, RuntimeError, TimeoutError, ConnectionError):
                return None

    opened = await asyncio.gather(*(one() for _ in range(n)))
    return [c for c in opened if c is not None]


async def _publish(redis_url: str, inverter_id: str, count: int, gap_s: float) -> None:
    from redis.asyncio import Redis

    from shared.channels import UNPREFIXED as channels
    from shared.streaming.fanout import envelope
    r = Redis.from_url(redis_url)
    try:
        for i in range(count):
            data = json.dumps({"inverter_id": inverter_id, "n": i, "pv_power_w": 1000 + i,
                               "sent": time.perf_counter_ns()})
            entry = await r.xadd(channels.inverter_log(inverter_id), {"data": data}, maxlen=1000, approximate=True)
            await r.publish(channels.inverter_channel(inverter_id), envelope(entry, data))
            await asyncio.sleep(gap_s)
        await r.delete(channels.inverter_log(inverter_id))
    finally:
        await r.aclose()


def _pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6 if ordered else float("nan")


def _close(clients: list[Client]) -> None:
    for c in clients:
        if c.transport is not None:
            c.transport.close()


async def _bench(redis_url: str, hub: tuple[int, int], naive_port: int, inverter_id: str, latency_clients: int,
                 max_streams: int) -> dict[str, Any]:
    from shared import stream_tokens
    port, server_pid = hub
    token, _ = stream_tokens.issue(SECRET, "bench", inverter_id)
    naive_id = f"{inverter_id}_naive"  # its own channel: a publish to one server costs the other nothing
    # Warm-up: imports, the hub's subscription, the replay pool; the memory baseline is taken after.
    warm: list[int] = []
    first = await _open(port, inverter_id, token, 10, warm)
    naive_first = await _open(naive_port, naive_id, "-", 10, [])
    await _publish(redis_url, inverter_id, 2, 0.05)
    await _publish(redis_url, naive_id, 2, 0.05)
    await asyncio.sleep(0.5)
    base_rss = _rss_kb(server_pid)

    # The same clients on both servers, measured in alternating rounds (hub, naive, naive, hub) so that a
    # change of the machine's load during the run weighs on both alike: the ratio is what the run compares.
    samples: list[int] = []
    naive_samples: list[int] = []
    clients = await _open(port, inverter_id, token, latency_clients - len(first), samples)
    naive_held = await _open(naive_port, naive_id, "-", latency_clients - len(naive_first), naive_samples)
    await asyncio.sleep(0.5)
    hub_round = (inverter_id, samples, len(clients))
    naive_round = (naive_id, naive_samples, len(naive_held))
    for round_id, round_samples, n in (hub_round, naive_round, naive_round, hub_round):
        await _latency_round(redis_url, round_id, round_samples, n)
    _close(naive_held + naive_first)
    details: dict[str, Any] = {
        "latency_clients": len(clients) + len(first), "latency_samples": len(samples),
        "latency_expected": PUBLISHES * len(clients),
        # The distribution for the report's plot: the latency at every percentile, 0 to 100.
        "latency_percentiles_ms": [round(_pct(samples, q / 100), 2) for q in range(101)] if samples else [],
    }
    result: dict[str, Any] = {
        "sse_p50_ms": round(_pct(samples, 0.50), 2), "sse_p99_ms": round(_pct(samples, 0.99), 2),
        "sse_naive_p50_ms": round(_pct(naive_samples, 0.50), 2),
        "sse_naive_p99_ms": round(_pct(naive_samples, 0.99), 2),
        "sse_details": details,
        "sse_naive_details": {"clients": len(naive_held) + len(naive_first), "samples": len(naive_samples),
                              "expected": PUBLISHES * len(naive_held), "server": "bench.sse_naive (sse-starlette)",
                              "rounds": "hub, naive, naive, hub; each PUBLISHES/2 readings to the same clients"},
    }

    more: list[int] = []
    clients += await _open(port, inverter_id, token, max_streams - len(clients) - len(first), more)
    held = clients + first
    await asyncio.sleep(1.0)
    rss = _rss_kb(server_pid)
    before = {id(c): c.received for c in held}
    marks = (len(warm), len(samples), len(more))
    await _publish(redis_url, inverter_id, 1, 2.0)
    live = sum(1 for c in held if c.received > before[id(c)])
    broadcast = warm[marks[0]:] + samples[marks[1]:] + more[marks[2]:]
    result.update({
        "sse_max_streams": live,
        "sse_kb_per_conn": round((rss - base_rss) / max(1, len(held) - len(first)), 2),
        # One publish reaching every one of the held streams: how the tail grows with the audience.
        "sse_broadcast_10k_p99_ms": round(_pct(broadcast, 0.99), 2) if live >= 10_000 else None,
    })
    details.update({
        "streams_attempted": max_streams, "server_rss_mb": round(rss / 1024, 1),
        "broadcast_streams": live, "broadcast_p50_ms": round(_pct(broadcast, 0.5), 2) if broadcast else None,
        "broadcast_p99_ms": round(_pct(broadcast, 0.99), 2) if broadcast else None,
        "http": _server_stack(),
    })
    _close(held)
    return result


async def _latency_round(redis_url: str, inverter_id: str, samples: list[int], clients: int) -> None:
    """PUBLISHES/2 readings PUBLISH_GAP_S apart to `clients` open streams, then until every stream has
    every one of them (the naive fan-out drains seconds late), 20 s at most."""
    expected = len(samples) + PUBLISHES // 2 * clients
    await _publish(redis_url, inverter_id, PUBLISHES // 2, PUBLISH_GAP_S)
    deadline = time.monotonic() + 20
    while len(samples) < expected and time.monotonic() < deadline:  # noqa: ASYNC110 - samples is a list
        await asyncio.sleep(0.1)


def _server_stack() -> str:
    """What uvicorn picks in the server process ("auto"): uvloop and httptools when installed."""
    import importlib.util
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"uvicorn {loop} {http}"


def run(redis_url: str | None = None, latency_clients: int = LATENCY_CLIENTS,
        max_streams: int = MAX_STREAMS) -> dict[str, Any]:
    redis_url = redis_url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    import redis
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        # No figure rather than an invented one: this benchmark needs a real Redis.
        return {k: None for k in ("sse_p50_ms", "sse_p99_ms", "sse_max_streams", "sse_kb_per_conn")} | {
            "sse_details": {"error": f"no Redis at {redis_url}: {exc}"}}
    _raise_nofile()
    inverter_id = f"inv_bench_{uuid.uuid4().hex[:10]}"
    with _server(["bench.sse", "--serve", "--redis", redis_url, "--inverter", inverter_id]) as hub_server, \
            _server(["bench.sse_naive", "--redis", redis_url]) as (naive_port, _):
        result = asyncio.run(_bench(redis_url, hub_server, naive_port, inverter_id, latency_clients, max_streams))
    hub, naive = result.get("sse_p99_ms"), result.get("sse_naive_p99_ms")
    result["sse_p99_ratio_vs_naive"] = round(hub / naive, 3) if hub and naive else None
    return result


@contextmanager
def _server(argv: list[str]) -> Iterator[tuple[int, int]]:
    """`python -m <argv> --port P` in a process of its own, once it accepts connections: (port, pid)."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", *argv, "--port", str(port)],
                              cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{argv[0]} did not start") from None
                time.sleep(0.1)
        yield port, server.pid
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.sse")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--redis", default=None)
    parser.add_argument("--inverter", default="")
    parser.add_argument("--clients", type=int, default=LATENCY_CLIENTS)
    parser.add_argument("--streams", type=int, default=MAX_STREAMS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.redis, args.inverter)
    else:
        print(json.dumps(run(args.redis, args.clients, args.streams), indent=2))


if __name__ == "__main__":
    main()
