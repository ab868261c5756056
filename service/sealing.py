"""Sealing DevSecrets at rest, and hashing them for the auth check.

One master key (``KEYLEDGER_SECRET_KEY``) yields, through HKDF, an AES-GCM key
that seals each DevSecret for later reveal and an HMAC key that hashes it
for the auth path. Neither the secret nor a plain hash of it is stored.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.secret_format import ALPHABET, RANDOM_LENGTH, dev_secret_from

MASTER_KEY_BYTES = 32
DEV_KEY_BYTES = 18  # 144 bits, 24 URL-safe characters
_NONCE_BYTES = 12


class SealError(Exception):
    """A sealed secret could not be opened (wrong key or tampered data)."""


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"keyledger " + purpose
    ).derive(master)


def new_dev_key() -> str:
    return secrets.token_urlsafe(DEV_KEY_BYTES)


def new_dev_secret() -> str:
    """A prefixed, checksummed secret (see ``domain.secret_format``)."""
    random_text = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return dev_secret_from(random_text)


def new_master_key() -> bytes:
    return os.urandom(MASTER_KEY_BYTES)


class SecretSealer:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != MASTER_KEY_BYTES:
            msg = f"the secret key must be {MASTER_KEY_BYTES} bytes"
            raise ValueError(msg)
        self._aead = AESGCM(_derive(master_key, b"devsecret seal"))
        self._mac_key = _derive(master_key, b"devsecret hash")

    def seal(self, dev_secret: str, dev_key: str) -> str:
        """AES-GCM, bound to the DevKey so a sealed value cannot be moved."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, dev_secret.encode(), dev_key.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def unseal(self, sealed: str, dev_key: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            plain = self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], dev_key.encode()
            )
        except (InvalidTag, ValueError):
            raise SealError("the sealed DevSecret cannot be opened") from None
        return plain.decode()

    def secret_hash(self, dev_secret: str) -> str:
        # hmac.digest: one call into OpenSSL, the same bytes as hmac.new's.
        return hmac.digest(self._mac_key, dev_secret.encode(), "sha256").hex()

    def matches(self, dev_secret: str, secret_hash: str) -> bool:
        """Constant-time comparison against a stored hash."""
        return hmac.compare_digest(self.secret_hash(dev_secret), secret_hash)
