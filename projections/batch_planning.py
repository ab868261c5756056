"""Working out a rebuild's batches in a second process while this one writes.

Decoding stored events and running the projections costs more CPU than the
statements that write their rows, and both are Python, so threads would take
turns on one core. A forked process plans batches (``plan_batch``: plain
values) while this process writes the ones before: on two cores the replay
runs at the pace of the slower half instead of the sum of both.

Planning costs more than writing, so the halves would not be even if the
second process planned every batch: whenever this process finds the next
plan not ready, it plans a later batch itself rather than wait. A batch's
plan depends on its own events only (what earlier batches stored is reached
by statements, run when the batch is written), so any process can plan any
batch; the plans are still written in the log's order.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from uuid import UUID

from domain import ApiKey
from projections.writer import BatchPlan, ReadModelWriter

# (notification id, originator id, originator version, topic, state); the
# id as the store returns it, or as text
StoredRow = tuple[int, UUID | str, int, str, bytes]
Decoder = Callable[[UUID | str, int, str, bytes], ApiKey.Event]

# What the forked process plans with: set before the fork, inherited by it.
_planning: tuple[Decoder, ReadModelWriter] | None = None
# Batches handed to the second process and not yet taken back: enough that
# it never waits for the next one.
IN_FLIGHT = 3
# Plans made here while the next one from the second process was not ready,
# at most: bounds the memory if the second process falls far behind.
PLANNED_AHEAD = 4


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


@dataclass
class _Pending:
    """A batch on its way: planned here (``plan``), or else by the second
    process (``future``)."""

    rows: list[StoredRow]
    future: Future[BatchPlan]
    plan: BatchPlan | None = None


def plan_rows(
    decode: Decoder, writer: ReadModelWriter, rows: list[StoredRow]
) -> BatchPlan:
    return writer.plan_batch([(n, decode(o, v, t, s)) for n, o, v, t, s in rows])


def _plan(rows: list[StoredRow]) -> BatchPlan:
    if _planning is None:
        msg = "no planner was set before the fork"
        raise RuntimeError(msg)
    return plan_rows(*_planning, rows)


def planned_batches(
    batches: Iterable[list[StoredRow]],
    decode: Decoder,
    writer: ReadModelWriter,
    *,
    second_process: bool,
) -> Generator[tuple[int, BatchPlan], None, None]:
    """Each batch's last notification id and plan, in order. With
    ``second_process`` (and more than one CPU) later batches are planned in
    a forked process, and here when it falls behind, while the caller
    writes this one."""
    if not second_process or (os.cpu_count() or 1) < 2:
        for rows in batches:
            yield rows[-1][0], plan_rows(decode, writer, rows)
        return
    global _planning
    _planning = (decode, writer)
    # fork: the child inherits the decoder (the application's mapper) and
    # the writer; it touches no connection, file or lock of this process.
    context = multiprocessing.get_context("fork")
    unread = iter(batches)
    try:
        with ProcessPoolExecutor(
            1,
            mp_context=context,
            initializer=_leave_with_parent,
            initargs=(os.getpid(),),
        ) as planner:
            # In the log's order.
            pending: deque[_Pending] = deque()
            in_flight = planned_here = 0
            while True:
                while in_flight < IN_FLIGHT:
                    if (sent := next(unread, None)) is None:
                        break
                    pending.append(_Pending(sent, planner.submit(_plan, sent)))
                    in_flight += 1
                if not pending:
                    return
                head = pending[0]
                if (
                    head.plan is None
                    and not head.future.done()
                    and planned_here < PLANNED_AHEAD
                ):
                    # Plan a later batch here: one not read yet, or else the
                    # last one handed over, if the second process has not
                    # started it.
                    if (kept := next(unread, None)) is not None:
                        later = _Pending(kept, Future())
                        pending.append(later)
                    else:
                        later = pending[-1]
                        if later is head or not later.future.cancel():
                            later = None
                        else:
                            in_flight -= 1
                    if later is not None:
                        later.plan = plan_rows(decode, writer, later.rows)
                        planned_here += 1
                        continue
                pending.popleft()
                if head.plan is None:
                    in_flight -= 1
                    plan = head.future.result()
                else:
                    planned_here -= 1
                    plan = head.plan
                yield head.rows[-1][0], plan
    finally:
        _planning = None
