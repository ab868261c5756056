"""Running work on several threads released at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
JOIN_TIMEOUT_SECONDS = 120.0


def run_together(tasks: list[Callable[[], T]]) -> list[T]:
    """Starts every task on its own thread at the same moment; returns their
    results in completion order, or raises the first failure in the caller's
    thread (a failure is never lost in a thread)."""
    together = threading.Barrier(len(tasks))
    results: list[T] = []
    failures: list[BaseException] = []

    def run(task: Callable[[], T]) -> None:
        together.wait()
        try:
            results.append(task())
        except BaseException as error:  # re-raised below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT_SECONDS)
    stuck = sum(thread.is_alive() for thread in threads)
    assert stuck == 0, f"{stuck} of {len(tasks)} tasks still running"
    if failures:
        raise failures[0]
    return results
