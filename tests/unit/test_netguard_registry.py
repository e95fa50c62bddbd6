"""The SSRF guard against the IANA special-purpose registries it ships: every block's verdict follows its
"Globally Reachable" column (most specific entry first), embedded-IPv4 forms follow their IPv4 address,
and every notation of an address gets the verdict of the address (hypothesis property tests)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.errors import BlockedTarget
from shared.netguard import REGISTRY_FILE, blocked_reason, check_host, check_resolved, check_url

DATA: dict[str, Any] = json.loads(REGISTRY_FILE.read_text())
EMBEDDING = {"2001::/32", "2002::/16", "64:ff9b::/96"}  # the IPv4 address inside decides
ROWS = [(r["block"], r["globally_reachable"]) for t in ("ipv4_special", "ipv6_special") for r in DATA[t]["entries"]]
NETS = [ipaddress.ip_network(b) for b, _ in ROWS]
ALL_BLOCKS = NETS + [ipaddress.ip_network(r["block"]) for t in ("ipv4_address_space", "ipv6_address_space")
                     for r in DATA[t]["entries"]]


def _is_inside_a_more_specific_entry(ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                                     net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return any(n.version == net.version and n.prefixlen > net.prefixlen and ip in n for n in NETS)


def test_the_transcription_holds_every_registry_entry_once() -> None:
    assert len(DATA["ipv4_special"]["entries"]) == 26
    assert len(DATA["ipv6_special"]["entries"]) == 25
    assert len(set(ROWS)) == len(ROWS)
    blocks = {b for b, _ in ROWS}
    for must in ("192.0.0.0/24", "192.0.0.170/32", "198.18.0.0/15", "240.0.0.0/4", "64:ff9b:1::/48", "2001::/23",
                 "2001:db8::/32", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "::ffff:0:0/96"):
        assert must in blocks


@settings(max_examples=150, deadline=None)
@given(row=st.sampled_from([r for r in ROWS if r[0] not in EMBEDDING]), offset=st.integers(min_value=0))
def test_an_address_of_a_block_gets_the_blocks_globally_reachable_verdict(row: tuple[str, bool | None],
                                                                            offset: int) -> None:
    block, reachable = row
    net = ipaddress.ip_network(block)
    ip = net[offset % net.num_addresses]
    assume(not _is_inside_a_more_specific_entry(ip, net))
    assert (blocked_reason(ip) is None) == (reachable is True), (ip, block, blocked_reason(ip))


ipv4s = st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address)
V4_RANGES = [(int(n.network_address), int(n.broadcast_address)) for n in ALL_BLOCKS if n.version == 4]
public_v4 = ipv4s.filter(lambda ip: not any(lo <= int(ip) <= hi for lo, hi in V4_RANGES))


@settings(max_examples=100, deadline=None)
@given(ip=public_v4)
def test_an_ipv4_address_in_no_block_is_allowed(ip: ipaddress.IPv4Address) -> None:
    assert blocked_reason(ip) is None
    check_host(str(ip))


@settings(max_examples=150, deadline=None)
@given(ip=ipv4s, teredo_server=ipv4s, flags=st.integers(0, 0xFFFF), port=st.integers(0, 0xFFFF))
def test_embedded_ipv4_forms_follow_their_ipv4_address(ip: ipaddress.IPv4Address, teredo_server: ipaddress.IPv4Address,
                                                       flags: int, port: int) -> None:
    v4_blocked = blocked_reason(ip) is not None
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(ip))
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80))
    teredo = ipaddress.IPv6Address((0x20010000 << 96) | (int(teredo_server) << 64) | (flags << 48) | (port << 32)
                                   | (int(ip) ^ 0xFFFFFFFF))
    assert (blocked_reason(nat64) is not None) == v4_blocked
    assert (blocked_reason(sixtofour) is not None) == v4_blocked
    assert (blocked_reason(teredo) is not None) == (v4_blocked or blocked_reason(teredo_server) is not None)
    # Mapped and compatible forms are never a public destination, whatever they carry.
    assert blocked_reason(ipaddress.IPv6Address(f"::ffff:{ip}")) is not None
    assert blocked_reason(ipaddress.IPv6Address(int(ip))) is not None


def _notations(ip: ipaddress.IPv4Address) -> list[str]:
    a, b, c, d = ip.packed
    n = int(ip)
    return [str(ip), f"{ip}.", f"{ip}..", str(n), hex(n), f"0{n:o}", f"0{a:o}.0{b:o}.0{c:o}.0{d:o}",
            f"{a:#x}.{b}.{c}.{d}", f"{a}.{(b << 16) | (c << 8) | d}", f"{a}.{b}.{(c << 8) | d}",
            f"[64:ff9b::{ip}]", f"[2002:{a:02x}{b:02x}:{c:02x}{d:02x}::1]"]


@settings(max_examples=100, deadline=None)
@given(ip=ipv4s)
def test_every_notation_of_an_address_gets_its_verdict(ip: ipaddress.IPv4Address) -> None:
    blocked = blocked_reason(ip) is not None
    for host in _notations(ip):
        try:
            check_host(host)
            verdict = False
        except BlockedTarget:
            verdict = True
        assert verdict == blocked, (host, ip)


@pytest.mark.parametrize("host", [
    "[::7f00:1]", "[::a9fe:a9fe]", "[fec0::1]", "[fec0:1234::5]", "[64:ff9b:1::a00:1]", "[64:ff9b:1::808:808]",
    "192.0.0.1", "192.0.0.8", "192.0.0.170", "192.0.2.10", "198.18.0.1", "198.51.100.7", "203.0.113.9",
    "192.88.99.1", "240.0.0.1", "255.255.255.255", "[2001:4::1]", "[2001:2::1]", "[2001:db8::1]", "[3fff::1]",
    "[5f00::1]", "[100::1]", "[100:0:0:1::1]", "[ff02::1]", "[ff0e::1]", "[::ffff:8.8.8.8]", "[fe80::1%25eth0]",
    "[fe80::1%eth0]", "[2001:0:7f00:1::]", "[2001:0:808:808::80ff:fffe]", "[2002:a9fe:a9fe::]", "[4000::1]",
    "0x7f.0x0.0x0.0x1", "0300.0250.0.1", "3232235777", "127.0.0.1.", "[::]", "[0::1]", "[::0.0.0.1]",
    "10.0.0.1..", "%31%32%37.0.0.1", "foo.home.arpa", "svc.default.svc.cluster.local", "ip6-localhost",
])
def test_registry_blocks_beyond_is_global_are_refused(host: str) -> None:
    with pytest.raises(BlockedTarget):
        check_host(host)


@pytest.mark.parametrize("host", [
    "8.8.8.8", "[2606:4700::1111]", "192.0.0.9", "192.0.0.10", "192.31.196.1", "192.175.48.1", "[2001:1::1]",
    "[2001:4:112::1]", "[2620:4f:8000::1]", "[64:ff9b::8.8.8.8]", "[2002:808:808::1]",
    "[2001:0:4136:e378:8000:63bf:f7f7:f7f7]",
    "api.example.com", "example.com.",
])
def test_globally_reachable_addresses_pass(host: str) -> None:
    check_host(host)


@pytest.mark.parametrize("url", [
    "http://evil.example\\@127.0.0.1/", "http://127.0.0.1#@evil.example/", "http://[::1]:80/", "ftp://example.com/",
    "http://ＬＯＣＡＬＨＯＳＴ/", "http://①②⑦.0.0.1/", "http://0x7f.1/", "https://[fd00:ec2::254]/latest",
    "http://localhost./", "http://a.localhost/", "http://foo.internal/",
])
def test_check_url_reads_the_host_as_the_client_does(url: str) -> None:
    with pytest.raises(BlockedTarget):
        check_url(url)


def test_a_public_url_passes() -> None:
    check_url("https://api.example.com:8443/hook?x=1")
    check_url("https://bücher.example/hook")


def test_connect_time_check_covers_resolved_forms() -> None:
    for addr in ("::7f00:1", "fec0::1", "64:ff9b:1::1", "::ffff:10.0.0.1", "192.0.0.1", "fe80::1%2"):
        with pytest.raises(BlockedTarget):
            check_resolved("rebind.example", ["8.8.8.8", addr])
