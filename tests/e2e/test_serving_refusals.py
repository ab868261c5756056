"""Serving settings that cannot work are refused when gunicorn starts, with
a line naming the setting, before any worker is forked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY
from tests.support.gunicorn import GunicornServer


def test_gevent_on_postgresql_is_refused_at_start(tmp_path: Path) -> None:
    log_path = tmp_path / "gunicorn.log"
    env = {
        # Refused before the store is opened: no server is needed here.
        "KEYLEDGER_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_WORKER_CLASS": "gevent",
    }
    server = GunicornServer(env, log_path=log_path)
    with pytest.raises(RuntimeError, match="gunicorn exited"):
        server.start()
    log = log_path.read_text()
    assert "KEYLEDGER_WORKER_CLASS=gevent is not supported on PostgreSQL" in log
    assert "Traceback" not in log
    assert "Booting worker" not in log
