"""The audit hash chain: what each link covers and how it is computed.

Every recorded event, in recording order, gets a link

    hash_n = SHA-256(bytes(hash_{n-1}) || canonical(entry_n))

where ``entry_n`` is the event's audit item as the API shows it, plus its
``position`` (the event's notification id) and ``event_sha256`` (a digest of
the stored event row itself: id, version, topic and raw state bytes). So a
link commits both to what auditors read and to what the store holds, and an
export, which carries every covered field, can be checked without the store.
``canonical`` is RFC 8785 (JSON Canonicalization Scheme) in UTF-8; for the
values an entry holds (strings, integers, null, lists, objects) Python's
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
writes exactly that. docs/tamper-evidence.md is the full specification.

Pure: no database, no framework; both verifiers (store and export) and the
recorders share it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from domain.times import format_time

CHAIN_VERSION = "keyledger audit chain v1"
GENESIS_HASH = hashlib.sha256(CHAIN_VERSION.encode()).hexdigest()

# The audit item's fields a link covers, besides position and event_sha256;
# any other field an item may carry is not covered.
ITEM_FIELDS = (
    "key_id",
    "version",
    "type",
    "occurred_at",
    "actor",
    "source_ip",
    "request_id",
    "changes",
)
ENTRY_FIELDS = ("position", *ITEM_FIELDS, "event_sha256")


def time_text(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds: the spelling of a time that items
    and checkpoints carry (a link depends on it: never change it)."""
    return format_time(moment, "micros")


def micros_text(micros: int) -> str:
    """``time_text`` of a time stored as microseconds since the epoch (the
    store verifier renders a million of them: the second is cached)."""
    seconds, fraction = divmod(micros, 1_000_000)
    return f"{_second_text(seconds)}.{fraction:06d}Z"


@functools.lru_cache(maxsize=1024)
def _second_text(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def event_sha256(
    originator_id: UUID | str, originator_version: int, topic: str, state: bytes
) -> str:
    """Digest of one stored event row, exactly as the store holds it (the
    ``state`` bytes possibly compressed or encrypted: they are not decoded)."""
    digest = hashlib.sha256(
        f"{str(originator_id).lower()}\n{originator_version}\n{topic}\n".encode()
    )
    digest.update(state)
    return digest.hexdigest()


def canonical(value: Any) -> bytes:
    # orjson writes RFC 8785 for these values (a test holds it to the
    # standard library's spelling) about twenty times faster.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def link(previous: str, entry: Mapping[str, Any]) -> str:
    """The hash of ``entry`` chained to the link before it (hex)."""
    return hashlib.sha256(bytes.fromhex(previous) + canonical(entry)).hexdigest()


def chain_entry(
    position: int, item: Mapping[str, Any], event_digest: str
) -> dict[str, Any]:
    """The object a link covers: the item's covered fields, in any order
    (canonical form sorts them), with position and the event digest."""
    entry = {name: item[name] for name in ITEM_FIELDS}
    entry["position"] = position
    entry["event_sha256"] = event_digest
    return entry


@dataclass(frozen=True)
class Link:
    position: int
    hash: str
