"""Signs a quiet store's unsigned events.

Writers sign a checkpoint when their event crosses a threshold, but a store
that stops writing has nobody to cross the ten-minute one. Each service
process therefore looks once a minute; the check runs under the store's
writer lock, so however many processes look, each checkpoint is made once.
"""

from __future__ import annotations

import logging
import threading

from projections.projecting_recorder import ProjectingRecorder

log = logging.getLogger("keyledger.audit")
SWEEP_INTERVAL = 60.0


class CheckpointSweep:
    def __init__(
        self, recorder: ProjectingRecorder, interval: float = SWEEP_INTERVAL
    ) -> None:
        self._recorder = recorder
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="keyledger-checkpoint-sweep", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                if self._recorder.checkpoint_if_due():
                    log.info("signed an audit checkpoint for a quiet store")
            except Exception as error:  # the store may be briefly unreachable
                log.warning("audit checkpoint sweep failed: %s", type(error).__name__)
