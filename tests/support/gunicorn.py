"""A real gunicorn serving keyledger on a free port (``gunicorn -c
gunicorn.conf.py wsgi:app``, as operators run it), started and stopped by
the test that needs it, plus a tiny HTTP client for it (standard library)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.concurrency import run_together
from tests.support.credentials import ADMIN_TOKEN, SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
# Each access log line starts with the pid of the worker that answered.
_ACCESS_FORMAT = "served-by=%(p)s %(m)s %(U)s %(s)s"
_SERVED_BY = re.compile(r"^served-by=<(\d+)> ", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(database_url: str, **settings: str) -> dict[str, str]:
    """The KEYLEDGER_* environment of a served test instance.

    ``settings`` override by setting name (``trusted_proxy_hops="1"``)."""
    env = {
        "KEYLEDGER_DATABASE_URL": database_url,
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
        # Other suites share the PostgreSQL server: stay well inside
        # max_connections.
        "KEYLEDGER_POSTGRES_POOL_SIZE": "2",
        "KEYLEDGER_POSTGRES_MAX_OVERFLOW": "3",
    }
    env.update({f"KEYLEDGER_{name.upper()}": value for name, value in settings.items()})
    return env


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class GunicornServer:
    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int | None = 2,
        log_path: Path | None = None,
        access_log: bool = False,
        app: str = "wsgi:app",
        config: str = "gunicorn.conf.py",
        ready_path: str = "/healthz",
        ready_status: int | None = 200,
        args: tuple[str, ...] = (),
    ) -> None:
        """``workers`` None leaves the count to ``config``; ``ready_status``
        None counts any HTTP answer on ``ready_path`` as started."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = env
        self.log_path = log_path
        self.access_log = access_log
        self.app = app
        self.config = config
        self.ready_path = ready_path
        self.ready_status = ready_status
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> GunicornServer:
        env = {**os.environ, **self.env}
        env.pop("GUNICORN_CMD_ARGS", None)
        env.pop("WEB_CONCURRENCY", None)
        if self.workers is not None:
            env["WEB_CONCURRENCY"] = str(self.workers)
        command = [sys.executable, "-m", "gunicorn", "-c", self.config]
        command += ["--bind", f"127.0.0.1:{self.port}"]
        command += list(self.args)
        if self.access_log:
            assert self.log_path is not None, "the access log goes to log_path"
            command += ["--access-logfile", "-", "--access-logformat", _ACCESS_FORMAT]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [*command, *self.args, self.app],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                status = self.request("GET", self.ready_path).status
                if self.ready_status in (None, status):
                    return self
            except OSError:
                pass
            time.sleep(0.1)  # a process starting: bounded by the deadline
        self.stop()
        raise RuntimeError("gunicorn did not become healthy in time")

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        out = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return [int(pid) for pid in out.split()]

    def answers_by_worker(self) -> Counter[int]:
        """How many requests each worker pid answered, from the access log."""
        assert self.access_log
        assert self.log_path is not None
        return Counter(
            int(pid) for pid in _SERVED_BY.findall(self.log_path.read_text())
        )

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None

    def kill(self) -> None:
        """SIGKILL the whole process group: no graceful shutdown."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> GunicornServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Response:
        data = None if body is None else json.dumps(body).encode()
        all_headers = dict(headers or {})
        if data is not None:
            all_headers.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(
            self.base + path, data=data, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Response(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), error.read())


def start_together(servers: list[GunicornServer]) -> None:
    """Starts the servers at the same moment (a concurrent start-up on one
    store); stops them all if any fails."""
    try:
        run_together([server.start for server in servers])
    except BaseException:
        for server in servers:
            server.stop()
        raise
