"""A task run every few seconds by a background thread of the serving
process, and once more when it stops: gunicorn's ``worker_exit`` and
``atexit`` call :func:`stop_all` (a SIGTERM reaches both through gunicorn's
graceful shutdown). Usage counts (service/usage.py) and the auth metrics
tally (service/auth_tally.py) are written out this way.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Callable


class PeriodicTask:
    def __init__(self, task: Callable[[], object], interval: float, name: str) -> None:
        self._task = task
        self._interval = interval
        self._name = name
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Starts the thread; call it in the process that serves requests
        (after gunicorn forked), never in a parent."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        _running.add(self)

    def stop(self) -> None:
        """Stops the thread and runs the task a last time."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self._interval + 5)
        _running.discard(self)
        self._task()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            self._task()


# Tasks started in this process, for the shutdown hooks.
_running: weakref.WeakSet[PeriodicTask] = weakref.WeakSet()


def stop_all() -> None:
    """The last run of every started task (gunicorn ``worker_exit``, atexit)."""
    for task in list(_running):
        task.stop()


atexit.register(stop_all)
