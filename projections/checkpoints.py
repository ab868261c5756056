"""Signed checkpoints of the audit chain (Ed25519).

A checkpoint says "the chain's link at ``position`` is ``hash``", signed with
a key that lives outside the database: whoever can write the database can
recompute every link, but cannot sign. The signed message is

    b"keyledger audit checkpoint v1\\n"
    + f"{position}\\n{hash}\\n{signed_at}\\n{signing_key_id}".encode()

with ``hash`` lowercase hex, ``signed_at`` RFC 3339 UTC text exactly as the
checkpoint carries it, and ``signing_key_id`` the lowercase hex SHA-256 of
the raw 32-byte public key. The signature travels base64-encoded.

A key file is PEM: the current private key first, then the public keys of
retired signing keys, so checkpoints signed before a rotation still verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from projections.chain import time_text

SIGNATURE_CONTEXT = b"keyledger audit checkpoint v1\n"
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_HEX64 = re.compile(r"[0-9a-f]{64}")


class SigningKeyError(Exception):
    """A key file or PEM text cannot be used; the message says why."""


class CheckpointFormatError(Exception):
    """A checkpoint document is malformed; the message names the field."""


def signed_message(position: int, hash: str, signed_at: str, key_id: str) -> bytes:
    return SIGNATURE_CONTEXT + f"{position}\n{hash}\n{signed_at}\n{key_id}".encode()


def public_key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class Checkpoint:
    position: int
    hash: str
    signed_at: str
    signing_key_id: str
    signature: str

    def message(self) -> bytes:
        return signed_message(
            self.position, self.hash, self.signed_at, self.signing_key_id
        )

    def as_item(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "hash": self.hash,
            "signed_at": self.signed_at,
            "signing_key_id": self.signing_key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_item(cls, item: object) -> Checkpoint:
        """A checkpoint as ``GET /v1/audit/checkpoints`` serves it."""
        if not isinstance(item, Mapping):
            raise CheckpointFormatError("a checkpoint must be a JSON object")
        position = item.get("position")
        if not isinstance(position, int) or isinstance(position, bool):
            raise CheckpointFormatError("position must be an integer")
        texts = {}
        for name in ("hash", "signed_at", "signing_key_id", "signature"):
            value = item.get(name)
            if not isinstance(value, str):
                raise CheckpointFormatError(f"{name} must be a string")
            texts[name] = value
        return cls(position=position, **texts)


class CheckpointSigner:
    """Signs checkpoints with the current private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = public_key_id(self.public_key)

    def sign(self, position: int, hash: str, moment: datetime) -> Checkpoint:
        signed_at = time_text(moment)
        message = signed_message(position, hash, signed_at, self.key_id)
        signature = base64.b64encode(self._key.sign(message)).decode()
        return Checkpoint(position, hash, signed_at, self.key_id, signature)


class VerificationKeys:
    """The public keys a verifier accepts, by key id."""

    def __init__(self, keys: Iterable[Ed25519PublicKey]) -> None:
        self.keys = {public_key_id(key): key for key in keys}
        if not self.keys:
            raise SigningKeyError("no Ed25519 public key given")

    @classmethod
    def from_pem(cls, text: str) -> VerificationKeys:
        private, public = parse_key_pem(text)
        return cls([*([private.public_key()] if private else []), *public])

    def problem(self, checkpoint: Checkpoint) -> str | None:
        """Why the checkpoint's signature does not verify, or None."""
        key = self.keys.get(checkpoint.signing_key_id)
        if key is None:
            return f"checkpoint signed by unknown key {checkpoint.signing_key_id[:16]}…"
        try:
            signature = base64.b64decode(checkpoint.signature, validate=True)
            key.verify(signature, checkpoint.message())
        except (InvalidSignature, binascii.Error, ValueError):
            return "checkpoint signature does not verify"
        return None


def parse_key_pem(text: str) -> tuple[Ed25519PrivateKey | None, list[Ed25519PublicKey]]:
    """Every PEM block of ``text``: at most one private key, any public keys."""
    private: Ed25519PrivateKey | None = None
    public: list[Ed25519PublicKey] = []
    for match in _PEM_BLOCK.finditer(text):
        block = match.group(0).encode()
        try:
            if match.group(1) == "PRIVATE KEY":
                key: Any = serialization.load_pem_private_key(block, password=None)
            elif match.group(1) == "PUBLIC KEY":
                key = serialization.load_pem_public_key(block)
            else:
                raise SigningKeyError(f"unexpected PEM block {match.group(1)!r}")
        except (ValueError, TypeError):
            raise SigningKeyError(f"a {match.group(1)} block does not parse") from None
        if isinstance(key, Ed25519PrivateKey):
            if private is not None:
                raise SigningKeyError("more than one private key")
            private = key
        elif isinstance(key, Ed25519PublicKey):
            public.append(key)
        else:
            raise SigningKeyError("only Ed25519 keys are accepted")
    if private is None and not public:
        raise SigningKeyError("no PEM key found")
    return private, public


def key_file_text(
    current: Ed25519PrivateKey, retired: Iterable[Ed25519PublicKey]
) -> str:
    private_pem = current.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return private_pem + "".join(public_key_pem(key) for key in retired)


def is_hash(text: object) -> bool:
    return isinstance(text, str) and _HEX64.fullmatch(text) is not None
