"""SSRF protection for outbound job calls.

Two checks, because either alone is bypassable: at submit, a literal address in any notation
(`127.1`, `2130706433`, `0x7f000001`, `[::ffff:127.0.0.1]`) is refused; at connect time the host is
resolved once, every resolved address is checked, and the connection goes to the checked address, so a
DNS answer that changes between check and connect (rebinding) cannot slip through. Redirects are not
followed by the worker, so every hop is a checked connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore

from shared.errors import BlockedTarget

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_BLOCKED_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback",
                            "metadata", "metadata.google.internal", "instance-data"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def parse_literal(host: str) -> IPAddress | None:
    """The address a host string denotes when it is a literal, in any notation inet_aton accepts."""
    h = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        pass
    try:
        # inet_aton reads the legacy forms browsers and curl still honour: 127.1, 0x7f.1, 2130706433.
        return ipaddress.IPv4Address(socket.inet_aton(h))
    except OSError:
        return None


def blocked_reason(ip: IPAddress) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return blocked_reason(ip.ipv4_mapped)
        if ip in _NAT64:
            return blocked_reason(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None:
            return blocked_reason(ip.sixtofour)
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local or cloud metadata address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_unspecified:
        return "unspecified address"
    if not ip.is_global:
        return "private or reserved address"
    return None


def check_host(host: str) -> None:
    """Refuse a literal address or well-known internal name at submit time (no DNS lookup here)."""
    name = host.strip("[]").rstrip(".").lower()
    if name in _BLOCKED_NAMES or name.endswith((".localhost", ".internal", ".local")):
        raise BlockedTarget(f"{host} is an internal host name")
    ip = parse_literal(name)
    if ip is not None and (reason := blocked_reason(ip)):
        raise BlockedTarget(f"{host} is a {reason}")


def check_resolved(host: str, addresses: Iterable[str]) -> str:
    """The first resolved address, provided every one of them is public (no mixed answers)."""
    chosen: str | None = None
    for addr in addresses:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
        if reason := blocked_reason(ip):
            raise BlockedTarget(f"{host} resolves to a {reason}")
        chosen = chosen or addr
    if chosen is None:
        raise BlockedTarget(f"{host} does not resolve")
    return chosen


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
        except (socket.gaierror, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addr = check_resolved(host, [str(info[4][0]) for info in infos])
        return await self._inner.connect_tcp(addr, port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise BlockedTarget("unix sockets are not a job target")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
