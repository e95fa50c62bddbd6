"""What Steadfast knows of each vendor beyond polling: how to list an account's devices (discovery), how
to build an adapter from a connection's credentials, and where the stage's shared credentials are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, cast

# The sandbox's adapter is built at every cycle (its shared token always resolves); the others are imported
# at a vendor's first use (Vendor), so that a stage with none of their connections never imports them.
from shared.telemetry.adapters import sandbox
from shared.telemetry.adapters.base import Adapter
from shared.telemetry.connections import Device
from shared.telemetry.credentials import Credentials
from shared.telemetry.models import Brand
from shared.telemetry.settings import TelemetryEnv

if TYPE_CHECKING:
    import httpx

    # (http, base url, credentials, serial wanted or None, timeout) -> devices; raises VendorRefused or
    # VendorUnreachable (shared.telemetry.adapters.base).
    Discover = Callable[[httpx.AsyncClient, str, Mapping[str, str], str | None, float], Awaitable[list[Device]]]
    MakeAdapter = Callable[[str, Mapping[str, str]], Adapter]



@dataclass(frozen=True)
class Vendor:
    """A vendor's discovery and adapter factory, found in its module `shared.telemetry.adapters.<module>`,
    which is imported when either is first asked for."""

    brand: Brand
    module: str
    factory: str

    @property
    def discover(self) -> Discover:
        return cast("Discover", import_module(f"shared.telemetry.adapters.{self.module}").discover)

    @property
    def adapter(self) -> MakeAdapter:
        return cast("MakeAdapter", getattr(import_module(f"shared.telemetry.adapters.{self.module}"), self.factory))


VENDORS: dict[Brand, Vendor] = {
    Brand.sandbox: Vendor(Brand.sandbox, "sandbox", "sandbox_adapter"),
    Brand.growatt: Vendor(Brand.growatt, "growatt", "growatt_adapter"),
    Brand.enphase: Vendor(Brand.enphase, "enphase", "enphase_adapter"),
    Brand.solaredge: Vendor(Brand.solaredge, "solaredge", "solaredge_adapter"),
}


def base_url(brand: Brand, tenv: TelemetryEnv) -> str:
    return {Brand.sandbox: tenv.sandbox_url, Brand.growatt: tenv.growatt_url, Brand.enphase: tenv.enphase_url,
            Brand.solaredge: tenv.solaredge_url}[brand]


def shared_credentials(brand: Brand, tenv: TelemetryEnv, credentials: Credentials) -> dict[str, str] | None:
    """The stage's shared connection for `brand`, None where the stage has none configured."""
    if brand == Brand.sandbox:
        return {"token": credentials.resolve(tenv.sandbox_token_ref) or sandbox.DEV_SANDBOX_TOKEN}
    if brand == Brand.growatt:
        token = credentials.resolve(tenv.growatt_token_ref)
        return {"token": token} if token else None
    if brand == Brand.enphase:
        key, access = credentials.resolve(tenv.enphase_api_key_ref), credentials.resolve(tenv.enphase_token_ref)
        return {"api_key": key, "access_token": access} if key and access else None
    key = credentials.resolve(tenv.solaredge_api_key_ref)
    return {"api_key": key} if key else None


def shared_adapters(tenv: TelemetryEnv, credentials: Credentials) -> dict[Brand, Adapter]:
    """An adapter per vendor whose shared credentials resolve; a vendor left out is not called at all."""
    out: dict[Brand, Adapter] = {}
    for brand, vendor in VENDORS.items():
        creds = shared_credentials(brand, tenv, credentials)
        if creds is not None:
            out[brand] = vendor.adapter(base_url(brand, tenv), creds)
    return out
