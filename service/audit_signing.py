"""The checkpoint signing key: where it lives, creating it, rotating it.

KEYLEDGER_AUDIT_SIGNING_KEY_FILE names a PEM file: the current Ed25519
private key, then the public keys of retired ones. It must live apart from
the database: whoever can rewrite the database and also read this file could
re-sign a rewritten history. By default (SQLite only) it is generated, mode
0600, beside the SQLite file; PostgreSQL deployments must set it, so every
instance signs with the same key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from projections.checkpoints import (
    CheckpointSigner,
    SigningKeyError,
    VerificationKeys,
    key_file_text,
    parse_key_pem,
    public_key_pem,
)
from service.config import ConfigurationError, Settings, Store

SIGNING_KEY_FILE_NAME = "keyledger-audit-signing.pem"
SETTING = "KEYLEDGER_AUDIT_SIGNING_KEY_FILE"


@dataclass(frozen=True)
class SigningKeys:
    """The signer for new checkpoints and every key that verifies old ones."""

    signer: CheckpointSigner
    verification: VerificationKeys
    path: Path

    def public_pem(self) -> str:
        """The current public key first, then the retired ones."""
        current = self.signer.key_id
        keys = self.verification.keys
        ordered = [keys[current], *(k for i, k in keys.items() if i != current)]
        return "".join(public_key_pem(key) for key in ordered)


def signing_key_path(settings: Settings, store: Store) -> Path:
    if settings.audit_signing_key_file:
        return Path(settings.audit_signing_key_file)
    if store.sqlite_path is None:
        raise ConfigurationError(
            f"{SETTING} is required with PostgreSQL: every instance must sign "
            "audit checkpoints with the same key, kept apart from the database"
        )
    return store.sqlite_path.parent / SIGNING_KEY_FILE_NAME


def load_signing_keys(settings: Settings, store: Store) -> SigningKeys:
    path = signing_key_path(settings, store)
    if not settings.audit_signing_key_file:
        _create_key_file(path)
    return read_signing_keys(path)


def read_signing_keys(path: Path) -> SigningKeys:
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigurationError(
            f"{SETTING} {str(path)!r} cannot be read: {error.strerror}"
        ) from None
    try:
        private, retired = parse_key_pem(text)
    except SigningKeyError as error:
        raise ConfigurationError(f"{SETTING} {str(path)!r}: {error}") from None
    if private is None:
        raise ConfigurationError(
            f"{SETTING} {str(path)!r} holds no private key "
            "(generate one with: keyledger audit rotate-signing-key)"
        )
    signer = CheckpointSigner(private)
    return SigningKeys(
        signer=signer,
        verification=VerificationKeys([signer.public_key, *retired]),
        path=path,
    )


def rotate_signing_key(path: Path) -> str:
    """Replaces the current key with a new one, keeping every earlier public
    key in the file; returns the new key's id. Creates the file if absent."""
    retired: list[Ed25519PublicKey] = []
    if path.exists():
        private, retired = parse_key_pem(path.read_text())
        if private is not None:
            retired.insert(0, private.public_key())
    key = Ed25519PrivateKey.generate()
    _write_private(path, key_file_text(key, retired), replace=True)
    return CheckpointSigner(key).key_id


def _create_key_file(path: Path) -> None:
    """Creates the default key file once; racing workers agree on the first."""
    if path.exists():
        return
    _write_private(path, key_file_text(Ed25519PrivateKey.generate(), []), replace=False)


def _write_private(path: Path, text: str, *, replace: bool) -> None:
    """Writes aside with mode 0600, then links (first one wins) or renames
    (replace) into place, so nobody ever reads a half-written key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    if replace:
        os.replace(staging, path)
        return
    try:
        os.link(staging, path)
    except FileExistsError:
        pass
    finally:
        staging.unlink()
