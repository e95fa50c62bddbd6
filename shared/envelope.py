"""Envelope encryption for secrets at rest: job credential headers, vendor credentials, webhook secrets.

A value is sealed with AES-256-GCM under a *data key*; the data key travels beside it, wrapped by a
*key-encryption key*. In AWS that is a KMS key (`GenerateDataKey` / `Decrypt`); in the local stack, and
only there (`STEADFAST_STAGE=local`), a key derived from `STEADFAST_LOCAL_DATA_KEY` wraps it the same way.

    sealed = "sf1." + base64url(kek_kind(1) | len(wrapped)(2) | wrapped | nonce(12) | ciphertext+tag)

Costs: a sealer generates one data key and seals with it for DATA_KEY_MAX_AGE_S or DATA_KEY_MAX_USES
values, whichever comes first (AWS's Encryption SDK caches data keys for the same reason); opening keeps
the last UNWRAP_CACHE unwrapped keys, so a poller that reads the same credentials every minute calls KMS
once per execution environment, not once per poll.

The caller's `context` (tenant, purpose, object id) is the AES-GCM associated data: a sealed value copied
into another tenant's record, or another field, does not open (SealedValueInvalid). KMS's own encryption
context is fixed per stage, since one data key serves many tenants. Plaintext never enters a log line, an
exception message or a response.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from shared.config import Env
from shared.errors import SteadfastError, Unavailable

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sf1."
DATA_KEY_MAX_AGE_S = 300.0
DATA_KEY_MAX_USES = 10_000
UNWRAP_CACHE = 256
_KIND_LOCAL, _KIND_KMS = 1, 2
LOCAL_STAGE = "local"


class SealedValueInvalid(SteadfastError):
    """A sealed value that does not open: tampered, truncated, sealed for another context or key."""


class KeyEncryptionKey(Protocol):
    kind: int

    def generate(self) -> tuple[bytes, bytes]:
        """A fresh 32-byte data key and its wrapped form."""

    def unwrap(self, wrapped: bytes) -> bytes:
        """The data key inside `wrapped`."""


def _aesgcm(key: bytes) -> AESGCM:
    # Imported on first use: `cryptography` costs a cold start only to functions that seal or open.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _aad(context: Mapping[str, str]) -> bytes:
    return json.dumps(dict(context), sort_keys=True, separators=(",", ":")).encode()


@dataclass
class LocalKey:
    """The local stack's key-encryption key: AES-GCM under a key derived from a configured string."""

    secret: str
    kind: int = _KIND_LOCAL

    def _kek(self) -> AESGCM:
        return _aesgcm(hashlib.sha256(b"steadfast-local-kek\0" + self.secret.encode()).digest())

    def generate(self) -> tuple[bytes, bytes]:
        key, nonce = secrets.token_bytes(32), secrets.token_bytes(12)
        return key, nonce + self._kek().encrypt(nonce, key, b"data-key")

    def unwrap(self, wrapped: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        try:
            return self._kek().decrypt(wrapped[:12], wrapped[12:], b"data-key")
        except (InvalidTag, ValueError):
            raise SealedValueInvalid("the sealed value's data key does not open with this stage's key") from None


@dataclass
class KmsKey:
    """A KMS key wraps the data keys; `client` is a boto3 KMS client."""

    key_id: str
    stage: str
    client: Any
    kind: int = _KIND_KMS

    def _context(self) -> dict[str, str]:
        return {"app": "steadfast", "stage": self.stage}

    def generate(self) -> tuple[bytes, bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            out = self.client.generate_data_key(KeyId=self.key_id, KeySpec="AES_256",
                                                EncryptionContext=self._context())
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"KMS is unavailable: {type(exc).__name__}") from exc
        return bytes(out["Plaintext"]), bytes(out["CiphertextBlob"])

    def unwrap(self, wrapped: bytes) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            out = self.client.decrypt(CiphertextBlob=wrapped, KeyId=self.key_id, EncryptionContext=self._context())
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("InvalidCiphertextException", "IncorrectKeyException"):
                raise SealedValueInvalid("the sealed value's data key does not open with this stage's key") from None
            raise Unavailable(f"KMS is unavailable: {exc.response['Error']['Code']}") from exc
        except BotoCoreError as exc:
            raise Unavailable(f"KMS is unavailable: {type(exc).__name__}") from exc
        return bytes(out["Plaintext"])


@dataclass
class Sealer:
    kek: KeyEncryptionKey
    clock: Any = time.monotonic
    _current: tuple[bytes, bytes, float, int] | None = field(default=None, repr=False)
    _unwrapped: OrderedDict[bytes, bytes] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def seal(self, plaintext: str, context: Mapping[str, str]) -> str:
        key, wrapped = self._data_key()
        nonce = secrets.token_bytes(12)
        ciphertext = _aesgcm(key).encrypt(nonce, plaintext.encode(), _aad(context))
        blob = struct.pack(">BH", self.kek.kind, len(wrapped)) + wrapped + nonce + ciphertext
        return PREFIX + base64.urlsafe_b64encode(blob).decode().rstrip("=")

    def open(self, sealed: str, context: Mapping[str, str]) -> str:
        from cryptography.exceptions import InvalidTag

        kind, wrapped, nonce, ciphertext = self._parse(sealed)
        if kind != self.kek.kind:
            raise SealedValueInvalid("the value was sealed under another kind of key")
        key = self._unwrap(wrapped)
        try:
            return _aesgcm(key).decrypt(nonce, ciphertext, _aad(context)).decode()
        except (InvalidTag, ValueError, UnicodeDecodeError):
            raise SealedValueInvalid("the sealed value does not open in this context") from None

    @staticmethod
    def is_sealed(value: str) -> bool:
        return value.startswith(PREFIX)

    def _data_key(self) -> tuple[bytes, bytes]:
        with self._lock:
            now = self.clock()
            current = self._current
            if current is None or now - current[2] > DATA_KEY_MAX_AGE_S or current[3] >= DATA_KEY_MAX_USES:
                key, wrapped = self.kek.generate()
                current = (key, wrapped, now, 0)
                self._remember(wrapped, key)
            self._current = (current[0], current[1], current[2], current[3] + 1)
            return current[0], current[1]

    def _unwrap(self, wrapped: bytes) -> bytes:
        with self._lock:
            key = self._unwrapped.get(wrapped)
            if key is not None:
                self._unwrapped.move_to_end(wrapped)
                return key
        key = self.kek.unwrap(wrapped)
        with self._lock:
            self._remember(wrapped, key)
        return key

    def _remember(self, wrapped: bytes, key: bytes) -> None:
        self._unwrapped[wrapped] = key
        while len(self._unwrapped) > UNWRAP_CACHE:
            self._unwrapped.popitem(last=False)

    @staticmethod
    def _parse(sealed: str) -> tuple[int, bytes, bytes, bytes]:
        if not sealed.startswith(PREFIX):
            raise SealedValueInvalid("not a sealed value")
        try:
            text = sealed[len(PREFIX):]
            blob = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            kind, length = struct.unpack(">BH", blob[:3])
        except (ValueError, struct.error):
            raise SealedValueInvalid("the sealed value is malformed") from None
        wrapped, rest = blob[3:3 + length], blob[3 + length:]
        if len(wrapped) != length or len(rest) < 12 + 16:
            raise SealedValueInvalid("the sealed value is truncated")
        return kind, wrapped, rest[:12], rest[12:]


def kek_for(e: Env) -> KeyEncryptionKey:
    """KMS where the stage has a key; the local key in the local stage only (never a guessable key in AWS)."""
    if e.kms_key_id:
        import boto3

        return KmsKey(key_id=e.kms_key_id, stage=e.stage, client=boto3.client("kms"))
    if e.stage != LOCAL_STAGE:
        raise Unavailable(f"STEADFAST_KMS_KEY_ID is not set in stage {e.stage!r}")
    return LocalKey(e.local_data_key)


@cache
def sealer(e: Env) -> Sealer:
    """The process's sealer for this environment (one data key cache per execution environment)."""
    return Sealer(kek_for(e))
