"""SSRF protection for every URL the platform calls on a tenant's behalf.

Which addresses may be called is read from the IANA Special-Purpose Address Registries themselves
(`iana_special_registries.json`, each entry with its "Globally Reachable" column), not from
`ipaddress.is_global`, which misses entries (IPv4-compatible, NAT64 local-use, protocol assignments, …):

- the most specific registry entry that holds an address decides; `globally_reachable: true` (e.g. the
  PCP anycast 192.0.0.9 inside the protocol-assignment 192.0.0.0/24) is allowed, anything else refused;
- forms that carry an IPv4 address (NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo 2001::/32) are judged by
  the IPv4 address they lead to; IPv4-mapped ::ffff:0:0/96 is refused outright, as the registry says;
- outside the special registries, IPv4 multicast and every IPv6 block outside 2000::/3 (site-local
  fec0::/10, IPv4-compatible ::/96, multicast, reserved) are refused, from the address-space registries.

Two checks, because either alone is bypassable: `check_url` at submit refuses a literal address in any
notation (`127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`, `[::ffff:127.0.0.1]`, trailing dots, IPv6
zone ids) and internal names, reading the URL with the same parser the worker's client uses; at connect
time (`shared.guarded_backend`, the worker's network backend) the host is resolved once, every resolved
address is checked, and the connection goes to the checked address, so a DNS answer that changes between
check and connect (rebinding) cannot slip through. Redirects are not followed, so every hop is a checked connect.
Every URL field (job targets, fallbacks, callbacks, source destinations, alert `notify_url`) calls
`check_url` (or `check_urls`) at submit.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shared.errors import BlockedTarget

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
REGISTRY_FILE = Path(__file__).with_name("iana_special_registries.json")

_BLOCKED_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback",
                            "metadata", "metadata.google.internal", "instance-data", "kubernetes.default"})
_BLOCKED_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa", ".svc.cluster.local")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_INET_ATON_CHARS = frozenset("0123456789abcdefx.")


@dataclass(frozen=True)
class Entry:
    """One registry row: a block, its name and RFC, and whether its addresses are globally reachable
    (None where the registry says N/A)."""

    network: IPNetwork
    name: str
    rfc: str
    globally_reachable: bool | None
    version: int = 0
    first: int = 0
    last: int = 0

    def __post_init__(self) -> None:
        # Integer bounds: `ip in network` costs microseconds, and every check walks the whole table.
        object.__setattr__(self, "version", self.network.version)
        object.__setattr__(self, "first", int(self.network.network_address))
        object.__setattr__(self, "last", int(self.network.broadcast_address))

    def holds(self, version: int, value: int) -> bool:
        return version == self.version and self.first <= value <= self.last

    def describe(self) -> str:
        return f"{self.name} address ({self.network}, {self.rfc})"


@dataclass(frozen=True)
class Registries:
    special: tuple[Entry, ...]  # both families, most specific first
    space: tuple[Entry, ...]  # address-space blocks that are no public unicast destination

    def special_entry(self, ip: IPAddress) -> Entry | None:
        version, value = ip.version, int(ip)
        return next((e for e in self.special if e.holds(version, value)), None)

    def space_entry(self, ip: IPAddress) -> Entry | None:
        version, value = ip.version, int(ip)
        return next((e for e in self.space if e.holds(version, value)), None)


def _entries(rows: Iterable[dict[str, Any]]) -> list[Entry]:
    return [Entry(ipaddress.ip_network(r["block"]), r["name"], r["rfc"], r.get("globally_reachable"))
            for r in rows]


@cache
def registries() -> Registries:
    data = json.loads(REGISTRY_FILE.read_text())
    special = _entries(data["ipv4_special"]["entries"]) + _entries(data["ipv6_special"]["entries"])
    space = _entries(data["ipv4_address_space"]["entries"]) + _entries(data["ipv6_address_space"]["entries"])

    def specific_first(e: Entry) -> int:
        return -e.network.prefixlen

    return Registries(tuple(sorted(special, key=specific_first)), tuple(sorted(space, key=specific_first)))


def blocked_reason(ip: IPAddress) -> str | None:
    """Why `ip` may not be called, or None when it is a globally reachable unicast address."""
    reg = registries()
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:
            for form, v4 in embedded:
                if reason := blocked_reason(v4):
                    return f"{form} of a {reason}"
            return None
    entry = reg.special_entry(ip)
    if entry is not None:
        return None if entry.globally_reachable is True else entry.describe()
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _GLOBAL_UNICAST:
        space = reg.space_entry(ip)
        return space.describe() if space else f"non-global-unicast address ({ip}, outside 2000::/3)"
    if (space := reg.space_entry(ip)) is not None:
        return space.describe()
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 form leads to, where the registry says the IPv4 decides."""
    if ip in _NAT64:
        return [("NAT64 form (64:ff9b::/96)", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))]
    if ip in _SIXTOFOUR and ip.sixtofour is not None:
        return [("6to4 form (2002::/16)", ip.sixtofour)]
    if ip in _TEREDO and ip.teredo is not None:
        server, client = ip.teredo
        return [("Teredo server", server), ("Teredo client", client)]
    return []


def parse_literal(host: str) -> IPAddress | None:
    """The address a host string denotes when it is a literal, in any notation inet_aton accepts, with
    brackets, trailing dots and an IPv6 zone id (`%eth0`, `%25eth0`) removed."""
    h = host.strip().strip("[]").rstrip(".").lower()
    try:
        return ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        pass
    if not h or not set(h) <= _INET_ATON_CHARS:
        return None
    try:
        # inet_aton reads the legacy forms browsers and curl still honour: 127.1, 0x7f.1, 2130706433, 0177.0.0.1.
        return ipaddress.IPv4Address(socket.inet_aton(h))
    except OSError:
        return None


def check_host(host: str) -> None:
    """Refuse a literal address or well-known internal name (no DNS lookup here)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name:
        raise BlockedTarget("the URL has no host")
    if name in _BLOCKED_NAMES or name.endswith(_BLOCKED_SUFFIXES):
        raise BlockedTarget(f"{host} is an internal host name")
    ip = parse_literal(name)
    if ip is not None:
        if reason := blocked_reason(ip):
            raise BlockedTarget(f"{host} is a {reason}")
        return
    if "%" in name:
        raise BlockedTarget(f"{host}: percent-encoded host names are not accepted")


def check_url(url: str) -> None:
    """The one SSRF check for a URL field at submit: the host as the worker's HTTP client reads it (and
    as urllib reads it: a URL two parsers read differently is refused), literal or internal name."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise BlockedTarget(f"the URL cannot be read: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise BlockedTarget("only http and https URLs are called")
    host = parsed.host
    try:
        other = urlsplit(url).hostname or ""
    except ValueError as exc:
        raise BlockedTarget(f"the URL cannot be read: {exc}") from exc
    if other.rstrip(".").lower() != host.rstrip(".").lower():
        raise BlockedTarget(f"the URL's host is ambiguous ({host!r} or {other!r})")
    check_host(host)


def check_urls(urls: Iterable[str | None]) -> None:
    for url in urls:
        if url:
            check_url(url)


def check_resolved(host: str, addresses: Iterable[str]) -> str:
    """The first resolved address, provided every one of them is globally reachable (no mixed answers)."""
    chosen: str | None = None
    for addr in addresses:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
        if reason := blocked_reason(ip):
            raise BlockedTarget(f"{host} resolves to a {reason}")
        chosen = chosen or addr
    if chosen is None:
        raise BlockedTarget(f"{host} does not resolve")
    return chosen
