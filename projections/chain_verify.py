"""Checks a stream of chain entries against their recorded links and the
signed checkpoints, one entry at a time, so memory stays flat however long
the chain. The store verifier and the export verifier both feed it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from projections.chain import GENESIS_HASH, ITEM_FIELDS, chain_entry, link
from projections.checkpoints import (
    Checkpoint,
    CheckpointFormatError,
    VerificationKeys,
)


@dataclass(frozen=True)
class Problem:
    position: int
    what: str


@dataclass(frozen=True)
class Verdict:
    events: int
    head_position: int
    head_hash: str
    signed_through: int
    problem: Problem | None

    @property
    def verified(self) -> bool:
        return self.problem is None

    def as_body(self) -> dict[str, Any]:
        """The body of ``GET /v1/audit/verify``."""
        problem = self.problem
        return {
            "verified": self.verified,
            "events": self.events,
            "head": {"position": self.head_position, "hash": self.head_hash},
            "signed_through": self.signed_through,
            "problem": None
            if problem is None
            else {"position": problem.position, "what": problem.what},
        }


EDITED = (
    "event does not match its link: it was edited, or an event before it "
    "was deleted, inserted or reordered"
)
UNLINKED = "event has no link: it was inserted, or its link was removed"
OUT_OF_ORDER = "event is out of recording order"
MISSING = "a checkpoint names this position but no event has it: it was deleted"
BEYOND = "a checkpoint names a position after the last event: events were removed"
REWRITTEN = (
    "the chain does not match the signed checkpoint here: an event at or "
    "before this position (after the previous checkpoint) was changed and "
    "the links recomputed"
)


class ChainVerifier:
    """Feed entries in position order with ``add``; read ``verdict()``."""

    def __init__(
        self, checkpoints: Iterable[Checkpoint], keys: VerificationKeys
    ) -> None:
        self._pending: Iterator[Checkpoint] = iter(checkpoints)
        self._keys = keys
        self._next = next(self._pending, None)
        self.events = 0
        self.position = 0
        self.hash = GENESIS_HASH
        self.signed_through = 0
        self.problem: Problem | None = None

    def add(self, entry: Mapping[str, Any], recorded: str | None) -> bool:
        """Checks one entry against its recorded link (None: it has none).

        Returns False once a problem was found; later entries are ignored.
        """
        if self.problem is not None:
            return False
        position = int(entry["position"])
        if position <= self.position:
            return self._fail(position, OUT_OF_ORDER)
        if self._next is not None and self._next.position < position:
            return self._fail(self._next.position, MISSING)
        expected = link(self.hash, entry)
        if recorded is None:
            return self._fail(position, UNLINKED)
        if recorded != expected:
            return self._fail(position, EDITED)
        checkpoint = self._next
        if (
            checkpoint is not None
            and checkpoint.position == position
            and not self._verify_checkpoint(checkpoint, expected)
        ):
            return False
        self.events += 1
        self.position = position
        self.hash = expected
        return True

    def _verify_checkpoint(self, checkpoint: Checkpoint, chained: str) -> bool:
        why = self._keys.problem(checkpoint)
        if why is not None:
            return self._fail(checkpoint.position, why)
        if checkpoint.hash != chained:
            return self._fail(checkpoint.position, REWRITTEN)
        self.signed_through = checkpoint.position
        following = next(self._pending, None)
        if following is not None and following.position <= checkpoint.position:
            return self._fail(following.position, "checkpoints out of order")
        self._next = following
        return True

    def _fail(self, position: int, what: str) -> bool:
        self.problem = Problem(position, what)
        return False

    def verdict(self) -> Verdict:
        if self.problem is None and self._next is not None:
            self._fail(self._next.position, BEYOND)
        return Verdict(
            events=self.events,
            head_position=self.position,
            head_hash=self.hash,
            signed_through=self.signed_through,
            problem=self.problem,
        )


def checkpoints_from_body(body: object) -> list[Checkpoint]:
    """The checkpoints of a ``GET /v1/audit/checkpoints`` body, in order."""
    if not isinstance(body, Mapping) or not isinstance(body.get("items"), list):
        raise CheckpointFormatError('the checkpoints document needs an "items" list')
    checkpoints = [Checkpoint.from_item(item) for item in body["items"]]
    return sorted(checkpoints, key=lambda checkpoint: checkpoint.position)


def verify_export(
    lines: Iterable[str], checkpoints: Iterable[Checkpoint], keys: VerificationKeys
) -> Verdict:
    """Checks an exported JSONL audit log (the whole log, unfiltered) line by
    line; every line must carry the covered fields and its ``hash``."""
    verifier = ChainVerifier(checkpoints, keys)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        entry, recorded = _export_entry(line)
        if entry is None:
            verifier.problem = Problem(
                verifier.position + 1, f"line {number}: {recorded}"
            )
            break
        if not verifier.add(entry, recorded):
            break
    return verifier.verdict()


def _export_entry(line: str) -> tuple[dict[str, Any] | None, str | None]:
    """(entry, recorded hash), or (None, why the line cannot be read)."""
    try:
        item = json.loads(line)
    except ValueError:
        return None, "not JSON"
    if not isinstance(item, dict):
        return None, "not a JSON object"
    missing = [
        name
        for name in ("position", "hash", "event_sha256", *ITEM_FIELDS)
        if name not in item
    ]
    if missing:
        return None, f"missing {', '.join(missing)}"
    position = item["position"]
    if not isinstance(position, int) or isinstance(position, bool) or position < 1:
        return None, "position must be a positive integer"
    recorded = item["hash"]
    return chain_entry(position, item, item["event_sha256"]), (
        recorded if isinstance(recorded, str) else None
    )
