"""Which key a leaked DevSecret belongs to, and which of its secrets it was."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.values import is_expired
from projections.queries import ReadModelQueries
from projections.secret_index import SecretIndexQueries
from projections.sql import TransactionFactory
from service.sealing import SecretSealer


@dataclass(frozen=True)
class SecretFound:
    key_id: UUID
    dev_key: str
    status: str  # enabled, disabled, expired or deleted
    secret: str  # current, previous or retired
    rotation: int
    retired_at: datetime | None


class SecretLookup:
    def __init__(
        self,
        sealer: SecretSealer,
        index: SecretIndexQueries,
        read_model: ReadModelQueries,
        transaction: TransactionFactory,
        clock: Callable[[], datetime],
    ) -> None:
        self._sealer = sealer
        self._index = index
        self._read_model = read_model
        self._transaction = transaction
        self._clock = clock

    def find(self, dev_secret: str) -> SecretFound | None:
        secret_hash = self._sealer.secret_hash(dev_secret)
        with self._transaction() as cursor:
            indexed = self._index.find(cursor, secret_hash)
        if indexed is None:
            return None
        now = self._clock()
        view = self._read_model.key(indexed.key_id)
        if view is None:
            status = "deleted"
        elif not view.enabled:
            status = "disabled"
        else:
            status = "expired" if is_expired(view.expires_at, now) else "enabled"
        return SecretFound(
            key_id=indexed.key_id,
            dev_key=indexed.dev_key,
            status=status,
            secret=indexed.kind(now),
            rotation=indexed.rotation,
            retired_at=indexed.retired_at,
        )
