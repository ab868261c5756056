"""A rebuild killed half-way (SIGKILL: no cleanup of any kind) leaves the old
read model serving, unchanged, on both stores; the next write and the next
rebuild work as if nothing had happened."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from domain import AuditContext, recording_as
from service.ledger import KeyChanges
from service.wiring import Services
from tests.integration.test_read_model import (
    event_count,
    recorder_of,
    snapshot,
    varied_lifecycle,
)

# Runs a rebuild in batches of 5 events that kills its own process once
# ``at`` events are written into the fresh tables: with the planning process
# at work and the fresh tables half filled.
KILLED_REBUILD = """
import json, os, signal, sys
from projections import projecting_recorder
from tests.conftest import open_services
config, batch, at = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
projecting_recorder.REBUILD_BATCH = batch
services = open_services(config)
def progress(done, total):
    print(done, flush=True)
    if done >= at:
        os.kill(os.getpid(), signal.SIGKILL)
services.ledger.ledger_recorder.rebuild(progress)
print("finished", flush=True)
"""


@pytest.fixture(autouse=True)
def as_operator() -> Any:
    with recording_as(AuditContext("alice", "192.0.2.10", "req-killed")):
        yield


def test_a_rebuild_killed_half_way_leaves_the_old_read_model_serving(
    services: Services, config: dict[str, Any]
) -> None:
    key_ids = varied_lifecycle(services.ledger, count=12)
    recorder = recorder_of(services)
    before = snapshot(recorder)
    total = event_count(recorder)

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_REBUILD, json.dumps(config), "5", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=os.getcwd(),
    )

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "finished" not in killed.stdout
    assert 20 <= int(killed.stdout.split()[-1]) < total
    assert snapshot(recorder) == before
    assert recorder.view_lag() == 0
    services.ledger.update_key(key_ids[1], KeyChanges({"description": "after"}))
    assert services.ledger.read_model.key(key_ids[1]).description == "after"  # type: ignore[union-attr]
    caught_up = snapshot(recorder)
    assert recorder.rebuild() == event_count(recorder)
    assert snapshot(recorder) == caught_up
