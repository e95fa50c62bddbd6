"""A tenant's name becomes part of DynamoDB keys, Redis channels and log fields: a name that could read as a
separator there is refused before anything is written."""

from __future__ import annotations

from typing import Any

import pytest

from shared.tenants import TenantStore, tenant_name


class RecordingClient:
    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self.puts.append(kwargs)
        return {}


@pytest.mark.parametrize("name", ["dev", "acme", "tenant-a", "t_1", "Acme.EU", "a" * 64])
def test_names_of_letters_digits_dots_dashes_and_underscores_are_tenants(name: str) -> None:
    assert tenant_name(name) == name


@pytest.mark.parametrize("name", ["", "bad tenant!", "a#b", "-lead", ".hidden", "a/b", "a:b", "ü", "a" * 65])
def test_anything_else_is_refused_with_what_a_name_may_be(name: str) -> None:
    with pytest.raises(ValueError, match="1-64 letters, digits"):
        tenant_name(name)


def test_a_key_for_a_bad_name_writes_nothing() -> None:
    client = RecordingClient()
    store = TenantStore("tenants", client)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid tenant name"):
        store.add_key("bad tenant!", "sk_live_x")
    with pytest.raises(ValueError, match="invalid tenant name"):
        store.set_signing_secret("a#TENANT", "whsec_x")
    assert client.puts == []
    store.add_key("acme", "sk_live_x")
    assert client.puts[0]["Item"]["tenant"] == {"S": "acme"}
