"""The KeyLedger application: commands and queries over ApiKey aggregates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.postgres import PostgresFactory
from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment

from domain import EVENT_TYPE_NAMES, ApiKey
from domain.errors import check_all
from projections.chain_store import CHECKPOINT_EVERY
from projections.key_search import sqlite_functions
from projections.library_internals import (
    check_library_contract,
    event_decoder,
    prepare_pool,
    prepare_sqlite_pool,
)
from projections.postgres_recorder import PostgresLedgerRecorder
from projections.projecting_recorder import ProjectingRecorder
from projections.queries import ReadModelQueries
from projections.sqlite_recorder import SQLiteLedgerRecorder
from service import metrics
from service.audit_signing import SigningKeys
from service.config import APPLICATION_NAME_SETTING
from service.sealing import SecretSealer, new_dev_key, new_dev_secret

Clock = Callable[[], datetime]
# Draws of a new DevKey before giving up; a drawn one existing already is
# astronomically rare.
MAX_ATTEMPTS = 20
# Without If-Match a change is re-applied on the newest state after a
# conflict. Each commit makes the key's other writers retry, so with w busy
# writers a change loses a round with odds (w-1)/w: twenty rounds were all
# lost once with four workers; a hundred keep even eight workers' odds of
# giving up (a 503) near 1e-6 per change.
MAX_CHANGE_ATTEMPTS = 100


def utc_now() -> datetime:
    return datetime.now(UTC)


class KeyNotFound(Exception):
    """No such key, or it was deleted."""


class KeyBusy(Exception):
    """A change lost every race for the key's next version; retry later."""


class VersionMismatch(Exception):
    """The caller's If-Match does not match the key's current version."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the key is at version {current}")
        self.current = current


@dataclass(frozen=True)
class IssuedSecret:
    """A key together with its DevSecret in plain text, for one response."""

    key: ApiKey
    dev_secret: str


@dataclass(frozen=True)
class KeyChanges:
    """The fields a PATCH names; fields it leaves out stay as they are."""

    values: dict[str, object]


class KeyLedger(Application[UUID]):
    name = "KeyLedger"

    def __init__(
        self,
        env: dict[str, str],
        sealer: SecretSealer,
        clock: Clock = utc_now,
        signing_keys: SigningKeys | None = None,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        self.sealer = sealer
        self.clock = clock
        self.signing_keys = signing_keys
        self.checkpoint_every = checkpoint_every
        super().__init__(env)
        self.read_model = ReadModelQueries(
            self.ledger_recorder.dialect, self.ledger_recorder.read_transaction
        )

    # Wiring.

    def construct_env(self, name: str, env: Any = None) -> Environment:
        # Only what the service configured: a stray PERSISTENCE_MODULE in the
        # process environment must not redirect the store.
        return Environment(name, dict(env or {}))

    def construct_recorder(self) -> Any:
        check_library_contract()
        factory = self.factory
        recorder: SQLiteLedgerRecorder | PostgresLedgerRecorder
        if isinstance(factory, SQLiteFactory):
            prepare_sqlite_pool(factory.datastore, sqlite_functions())
            recorder = SQLiteLedgerRecorder(factory.datastore)
        elif isinstance(factory, PostgresFactory):
            prepare_pool(factory.datastore, factory.env.get(APPLICATION_NAME_SETTING))
            recorder = PostgresLedgerRecorder(factory.datastore)
        else:
            msg = f"unsupported store {type(factory).__name__}"
            raise TypeError(msg)
        recorder.decode = event_decoder(self.mapper)
        recorder.chain.signer = self.signing_keys.signer if self.signing_keys else None
        recorder.chain.clock = self.clock
        recorder.chain.checkpoint_every = self.checkpoint_every
        if factory.env_create_table():
            recorder.create_table()
        return recorder

    @property
    def ledger_recorder(self) -> ProjectingRecorder:
        assert isinstance(self.recorder, ProjectingRecorder)
        return self.recorder

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        # Hand the domain events to the recorder, which projects them in the
        # same transaction without decoding them again (eventsourcing passes
        # save()'s keyword arguments through to insert_events).
        if all(isinstance(obj, ApiKey) for obj in objs):
            kwargs["projected_events"] = [
                event for obj in objs for event in obj.pending_events
            ]
        recordings = super().save(*objs, **kwargs)
        names: dict[type, str] = EVENT_TYPE_NAMES
        metrics.count_events(
            names.get(type(r.domain_event), "other") for r in recordings
        )
        return recordings

    # Commands.

    def create_key(
        self,
        *,
        description: object = None,
        expires_at: object = None,
        ip_whitelist: object = None,
        permissions: object = None,
    ) -> IssuedSecret:
        for _ in range(MAX_ATTEMPTS):
            dev_key, dev_secret = new_dev_key(), new_dev_secret()
            key = ApiKey.create(
                dev_key=dev_key,
                secret_hash=self.sealer.secret_hash(dev_secret),
                sealed_secret=self.sealer.seal(dev_secret, dev_key),
                now=self.clock(),
                description=description,
                expires_at=expires_at,
                ip_whitelist=ip_whitelist,
                permissions=permissions,
            )
            try:
                self.save(key)
            except IntegrityError:
                continue  # the DevKey exists already: draw another
            return IssuedSecret(key, dev_secret)
        msg = "could not draw an unused DevKey"
        raise RuntimeError(msg)

    def update_key(
        self, key_id: UUID, changes: KeyChanges, expected_version: int | None = None
    ) -> ApiKey:
        def change(key: ApiKey) -> None:
            values = changes.values
            now = self.clock()
            commands: dict[str, Callable[[], bool]] = {
                "description": lambda: key.change_description(values["description"]),
                "expires_at": lambda: key.change_expiry(values["expires_at"], now),
                "ip_whitelist": lambda: key.change_ip_whitelist(values["ip_whitelist"]),
                "permissions": lambda: key.change_permissions(values["permissions"]),
            }
            # Every invalid field is reported at once; nothing is saved then.
            check_all({name: run for name, run in commands.items() if name in values})

        return self._change(key_id, expected_version, change)

    def reset_secret(
        self, key_id: UUID, expected_version: int | None = None
    ) -> IssuedSecret:
        dev_secret = new_dev_secret()

        def reset(key: ApiKey) -> None:
            key.reset_secret(
                secret_hash=self.sealer.secret_hash(dev_secret),
                sealed_secret=self.sealer.seal(dev_secret, key.dev_key),
            )

        return IssuedSecret(self._change(key_id, expected_version, reset), dev_secret)

    def roll_secret(
        self, key_id: UUID, grace_seconds: object, expected_version: int | None = None
    ) -> IssuedSecret:
        dev_secret = new_dev_secret()

        def roll(key: ApiKey) -> None:
            key.roll_secret(
                secret_hash=self.sealer.secret_hash(dev_secret),
                sealed_secret=self.sealer.seal(dev_secret, key.dev_key),
                grace_seconds=grace_seconds,
                now=self.clock(),
            )

        return IssuedSecret(self._change(key_id, expected_version, roll), dev_secret)

    def restore_key(self, key_id: UUID, expected_version: int | None = None) -> ApiKey:
        """Brings a deleted key back, disabled (KeyNotDeleted if it is not)."""
        return self._change(
            key_id, expected_version, ApiKey.restore, include_deleted=True
        )

    def reveal_secret(self, key_id: UUID) -> IssuedSecret:
        revealed: list[str] = []

        def reveal(key: ApiKey) -> None:
            # Opened before the reveal is recorded: a seal that cannot be
            # opened (another master key, altered data) raises SealError and
            # records nothing, since nothing was shown.
            secret = self.sealer.unseal(key.sealed_secret, key.dev_key)
            key.reveal_secret()
            revealed.append(secret)

        key = self._change(key_id, None, reveal)
        return IssuedSecret(key, revealed[-1])

    def disable_key(self, key_id: UUID, expected_version: int | None = None) -> ApiKey:
        return self._change(key_id, expected_version, ApiKey.disable)

    def enable_key(self, key_id: UUID, expected_version: int | None = None) -> ApiKey:
        return self._change(key_id, expected_version, ApiKey.enable)

    def delete_key(self, key_id: UUID, expected_version: int | None = None) -> None:
        self._change(key_id, expected_version, ApiKey.delete)

    def _change(
        self,
        key_id: UUID,
        expected_version: int | None,
        change: Callable[[ApiKey], object],
        *,
        include_deleted: bool = False,
    ) -> ApiKey:
        """Loads, changes and saves a key; retries on a concurrent write
        unless the caller pinned the version it saw."""
        for _ in range(MAX_CHANGE_ATTEMPTS):
            key = (
                self._load(key_id, include_deleted=True)
                if include_deleted
                else self.get_key(key_id)
            )
            if expected_version is not None and key.version != expected_version:
                raise VersionMismatch(key.version)
            change(key)
            try:
                self.save(key)
            except IntegrityError:
                if expected_version is not None:
                    raise VersionMismatch(self.get_key(key_id).version) from None
                continue
            return key
        raise KeyBusy

    # Queries.

    def get_key(self, key_id: UUID, version: int | None = None) -> ApiKey:
        return self._load(key_id, version)

    def _load(
        self, key_id: UUID, version: int | None = None, *, include_deleted: bool = False
    ) -> ApiKey:
        try:
            key: object = self.repository.get(key_id, version=version)
        except AggregateNotFoundError:
            raise KeyNotFound from None
        if not isinstance(key, ApiKey) or (key.deleted and not include_deleted):
            raise KeyNotFound
        return key

    def get_key_as_of(self, key_id: UUID, moment: datetime) -> ApiKey:
        """The key as it stood at ``moment``, counting events recorded then."""
        version = self.read_model.version_at(key_id, moment)
        if version is None:
            raise KeyNotFound
        return self.get_key(key_id, version=version)
