"""SSRF guard: internal addresses are refused in every notation, at submit and after DNS resolution."""

from __future__ import annotations

import httpx
import pytest

from shared.errors import BlockedTarget
from shared.jobs.delivery import make_client
from shared.netguard import check_host, check_resolved

BLOCKED = ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1", "localhost",
           "LOCALHOST.", "10.0.0.5", "172.16.3.4", "192.168.1.1", "100.64.0.1", "169.254.169.254",
           "[::1]", "::", "0.0.0.0", "0", "[::ffff:127.0.0.1]", "[::ffff:a9fe:a9fe]", "[fd00:ec2::254]",
           "[fe80::1]", "224.0.0.1", "[64:ff9b::a00:1]", "metadata.google.internal", "foo.internal",
           "[2002:7f00:1::]"]


@pytest.mark.parametrize("host", BLOCKED)
def test_internal_literals_are_blocked(host: str) -> None:
    with pytest.raises(BlockedTarget):
        check_host(host)


@pytest.mark.parametrize("host", ["api.example.com", "93.184.216.34", "[2606:4700::1111]", "1.1.1.1"])
def test_public_hosts_pass(host: str) -> None:
    check_host(host)


def test_a_name_resolving_to_any_internal_address_is_blocked() -> None:
    with pytest.raises(BlockedTarget):
        check_resolved("rebind.example.com", ["93.184.216.34", "127.0.0.1"])
    assert check_resolved("ok.example.com", ["93.184.216.34"]) == "93.184.216.34"


async def test_the_guarded_client_refuses_loopback_at_connect_time() -> None:
    # Given a server on loopback that would answer, and the production client
    async with make_client(allow_private_targets=False) as client:
        # When a job's URL names it through a host name that resolves to loopback
        with pytest.raises(BlockedTarget):
            await client.get("http://localhost.:9/")
        with pytest.raises(BlockedTarget):
            await client.get("http://127.0.0.1:9/")


async def test_the_local_client_may_reach_loopback() -> None:
    async with make_client(allow_private_targets=True) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://127.0.0.1:9/", timeout=2)
