"""Envelope encryption (shared.envelope) with the local key: round trips, context binding, tampering,
and the data-key cache that keeps KMS out of every seal and open."""

from __future__ import annotations

import pytest

from shared.config import Env
from shared.envelope import DATA_KEY_MAX_AGE_S, LocalKey, SealedValueInvalid, Sealer, kek_for
from shared.errors import Unavailable

CTX = {"tenant": "acme", "purpose": "job-header"}


class CountingKey(LocalKey):
    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.generated = 0
        self.unwrapped = 0

    def generate(self) -> tuple[bytes, bytes]:
        self.generated += 1
        return super().generate()

    def unwrap(self, wrapped: bytes) -> bytes:
        self.unwrapped += 1
        return super().unwrap(wrapped)


def test_round_trip_and_no_plaintext_in_sealed_form() -> None:
    sealer = Sealer(LocalKey("k1"))
    sealed = sealer.seal("Bearer sk_live_123", CTX)
    assert Sealer.is_sealed(sealed)
    assert "sk_live_123" not in sealed
    assert sealer.open(sealed, CTX) == "Bearer sk_live_123"
    assert sealer.seal("same", CTX) != sealer.seal("same", CTX)  # fresh nonce every time


def test_another_context_or_key_does_not_open() -> None:
    sealed = Sealer(LocalKey("k1")).seal("secret", CTX)
    with pytest.raises(SealedValueInvalid):
        Sealer(LocalKey("k1")).open(sealed, {**CTX, "tenant": "other"})
    with pytest.raises(SealedValueInvalid):
        Sealer(LocalKey("k2")).open(sealed, CTX)


@pytest.mark.parametrize("mutate", [
    lambda s: s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1],  # ciphertext/tag bit flip
    lambda s: s[:20],  # truncated
    lambda s: "sf1.!!!",  # not base64
    lambda s: "plain text",  # not sealed at all
    lambda s: s.replace("sf1.", "sf1.AAAA", 1),  # shifted header
])
def test_tampered_values_are_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    sealer = Sealer(LocalKey("k1"))
    sealed = sealer.seal("secret value", CTX)
    with pytest.raises(SealedValueInvalid):
        sealer.open(mutate(sealed), CTX)


def test_data_keys_are_cached_for_sealing_and_opening() -> None:
    now = [0.0]
    key = CountingKey("k1")
    sealer = Sealer(key, clock=lambda: now[0])
    sealed = [sealer.seal(f"v{i}", CTX) for i in range(50)]
    assert key.generated == 1
    assert [sealer.open(s, CTX) for s in sealed] == [f"v{i}" for i in range(50)]
    assert key.unwrapped == 0  # its own data key is remembered
    now[0] = DATA_KEY_MAX_AGE_S + 1
    sealer.seal("later", CTX)
    assert key.generated == 2
    # Another execution environment opens with one unwrap per data key, not per value.
    reader_key = CountingKey("k1")
    reader = Sealer(reader_key)
    assert [reader.open(s, CTX) for s in sealed] == [f"v{i}" for i in range(50)]
    assert reader_key.unwrapped == 1


def test_deployed_stage_without_kms_key_refuses_to_seal() -> None:
    with pytest.raises(Unavailable):
        kek_for(Env.model_validate({"STEADFAST_STAGE": "prod"}))
    assert isinstance(kek_for(Env.model_validate({"STEADFAST_STAGE": "local"})), LocalKey)
