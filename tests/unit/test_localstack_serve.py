"""`make localstack` (`python -m local.localstack_lane --serve [PORT]`): a bad port is one readable line,
never a traceback, and the default stays off the embedded moto's port."""

from __future__ import annotations

import pytest

from local import localstack_lane
from local.stack import Ports


@pytest.mark.parametrize("port", ["x", "0", "65536", "-1", "45 66"])
def test_a_bad_port_is_refused_in_one_line(port: str) -> None:
    with pytest.raises(SystemExit) as refused:
        localstack_lane.main(["--serve", port])
    assert str(refused.value) == f"localstack: --serve takes a port number, not {port!r}"


def test_the_default_port_is_not_the_embedded_moto_port(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[int] = []
    monkeypatch.setattr(localstack_lane, "serve", lambda port: served.append(port) or 0)
    assert localstack_lane.main(["--serve"]) == 0
    assert served and served[0] != Ports().aws
