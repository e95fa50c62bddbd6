"""The worker's network backend: the connect-time half of the SSRF check (`shared.netguard`).

A module of its own because it subclasses httpcore's backend, so that importing `shared.netguard` (every
URL field checked at submit) does not import httpcore.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import Any

import httpcore

from shared.errors import BlockedTarget
from shared.netguard import check_host, check_resolved


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves, checks and then connects to the checked address.

    TLS still verifies the original host name: httpcore passes it as server_hostname on start_tls."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        check_host(host)
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        except (socket.gaierror, TimeoutError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addr = check_resolved(host, [str(info[4][0]) for info in infos])
        return await self._inner.connect_tcp(addr, port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise BlockedTarget("unix sockets are not a job target")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
