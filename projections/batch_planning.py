"""Working out a rebuild's batches in a second process while this one writes.

Decoding stored events and running the projections costs more CPU than the
statements that write their rows, and both are Python, so threads would take
turns on one core. A forked process plans batch n+1 (``plan_batch``: plain
values) while this process writes batch n: on two cores the replay runs at
the pace of the slower half instead of the sum of both.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any
from uuid import UUID

from domain import ApiKey
from projections.writer import BatchPlan, ReadModelWriter

# (notification id, originator id, originator version, topic, state); the
# id as the store returns it, or as text
StoredRow = tuple[int, UUID | str, int, str, bytes]
Decoder = Callable[[UUID | str, int, str, bytes], ApiKey.Event]

# What the forked process plans with: set before the fork, inherited by it.
_planning: tuple[Decoder, ReadModelWriter] | None = None


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """A replay allocates millions of short-lived objects that form no
    cycles; the collector's full passes over the process's long-lived objects
    then cost over a tenth of a rebuild and free nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _leave_with_parent(parent: int) -> None:
    """The planner ends when the process it plans for is gone (killed in
    the middle of a rebuild): it would otherwise wait for work forever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="planner-watch", daemon=True).start()


def _plan(rows: list[StoredRow]) -> BatchPlan:
    if _planning is None:
        msg = "no planner was set before the fork"
        raise RuntimeError(msg)
    decode, writer = _planning
    return writer.plan_batch([(n, decode(o, v, t, s)) for n, o, v, t, s in rows])


def planned_batches(
    batches: Iterable[list[StoredRow]],
    decode: Decoder,
    writer: ReadModelWriter,
    *,
    second_process: bool,
) -> Generator[tuple[int, BatchPlan], None, None]:
    """Each batch's last notification id and plan, in order. With
    ``second_process`` (and more than one CPU) the next batch is planned in
    a forked process while the caller writes this one."""
    if not second_process or (os.cpu_count() or 1) < 2:
        for rows in batches:
            events = [(n, decode(o, v, t, s)) for n, o, v, t, s in rows]
            yield rows[-1][0], writer.plan_batch(events)
        return
    global _planning
    _planning = (decode, writer)
    # fork: the child inherits the decoder (the application's mapper) and
    # the writer; it touches no connection, file or lock of this process.
    context = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(
            1,
            mp_context=context,
            initializer=_leave_with_parent,
            initargs=(os.getpid(),),
        ) as planner:
            pending: tuple[int, Future[Any]] | None = None
            for rows in batches:
                future = planner.submit(_plan, rows)
                if pending is not None:
                    yield pending[0], pending[1].result()
                pending = (rows[-1][0], future)
            if pending is not None:
                yield pending[0], pending[1].result()
    finally:
        _planning = None
