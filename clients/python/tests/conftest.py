"""A real keyledger (gunicorn, SQLite file) for the client's tests, plus an
operator's view of it through plain HTTP (standard library only).

The client tests need the keyledger server installed in the same
environment (``make install`` in the repository does both); they start it
from the repository root that holds this directory.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]
ADMIN_TOKEN = "klo_client-tests-admin-0123456789abcdefghijklmn"
SECRET_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def basic(dev_key: str, dev_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()


class Keyledger:
    """A gunicorn serving keyledger on a free port, and an admin's calls."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GUNICORN")},
            "KEYLEDGER_DATABASE_URL": f"sqlite:///{directory / 'keyledger.db'}",
            "KEYLEDGER_SECRET_KEY": SECRET_KEY,
            "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
            "KEYLEDGER_LOG_LEVEL": "WARNING",
            "KEYLEDGER_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": "2",
            # Threaded workers keep connections alive, as a client expects.
            "GUNICORN_CMD_ARGS": "--worker-class gthread --threads 4",
        }
        self.log = directory / "gunicorn.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Keyledger:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "gunicorn.conf.py",
                    "wsgi:app",
                ],
                cwd=REPOSITORY,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log}")
            try:
                if self.call("GET", "/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("keyledger did not become healthy in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        sent = {"Authorization": f"Bearer {ADMIN_TOKEN}", **(headers or {})}
        if data is not None:
            sent["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers=sent
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None

    # An admin's actions; each asserts that keyledger acknowledged it.

    def create_key(self, **body: Any) -> dict[str, Any]:
        body.setdefault("permissions", ["send", "verify"])
        status, key = self.call("POST", "/v1/keys", body)
        assert status == 201, key
        return dict(key)

    def act(self, key_id: str, action: str, body: Any = None) -> dict[str, Any]:
        status, answer = self.call("POST", f"/v1/keys/{key_id}/{action}", body)
        assert status == 200, answer
        return dict(answer)

    def patch(self, key_id: str, **changes: Any) -> dict[str, Any]:
        status, answer = self.call("PATCH", f"/v1/keys/{key_id}", changes)
        assert status == 200, answer
        return dict(answer)

    def delete(self, key_id: str) -> None:
        status, answer = self.call("DELETE", f"/v1/keys/{key_id}")
        assert status == 204, answer

    def cli(self, *args: str) -> str:
        """The keyledger command line on this server's store."""
        command = Path(sys.executable).with_name("keyledger")
        done = subprocess.run(
            [str(command), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout

    def service_operator(self) -> tuple[str, str]:
        """A new operator of role ``service``: (name, token)."""
        name = f"cache-{uuid.uuid4().hex[:8]}"
        token = self.cli("operators", "create", name, "--role", "service").split()[-1]
        return name, token


@pytest.fixture(scope="session")
def keyledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyledger]:
    if shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("the client tests need keyledger installed: run `make install`")
    server = Keyledger(tmp_path_factory.mktemp("keyledger")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def service_token(keyledger: Keyledger) -> str:
    return keyledger.service_operator()[1]


def soon(seconds: int) -> str:
    """An expiry ``seconds`` from now, to the second (RFC 3339)."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_until(condition: Any, timeout: float = 10.0, step: float = 0.02) -> bool:
    """Polls ``condition()`` until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())
