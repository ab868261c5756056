"""Debian's nginx, started by a test on a free port with its own prefix and
the documented gateway configuration (docs/gateway.md), plus a tiny upstream
service that reports what reached it.

Only the listening port and the two upstream addresses of the documented
block are replaced; everything else runs as written.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.support.gunicorn import ROOT, free_port

GATEWAY_DOC = ROOT / "docs" / "gateway.md"
REQUIRE_NGINX = os.environ.get("KEYLEDGER_REQUIRE_NGINX", "") not in ("", "0")
DOCUMENTED_KEYLEDGER = "keyledger.internal:8000"
DOCUMENTED_UPSTREAM = "otp-service.internal:9000"
DOCUMENTED_LISTEN = "listen 80;"


def nginx_binary() -> str:
    """The nginx executable, or a skip (a failure under KEYLEDGER_REQUIRE_NGINX)."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        reason = (
            "nginx is not installed; install it (apt-get install nginx) to run "
            "the gateway tests"
        )
        if REQUIRE_NGINX:
            pytest.fail(f"KEYLEDGER_REQUIRE_NGINX is set but {reason}")
        pytest.skip(reason)
    return found


def documented_configuration() -> str:
    """The first ```nginx block of docs/gateway.md, as written."""
    blocks = re.findall(r"```nginx\n(.*?)```", GATEWAY_DOC.read_text(), re.DOTALL)
    assert blocks, "docs/gateway.md has no ```nginx block"
    return str(blocks[0])


def _substitute(text: str, old: str, new: str) -> str:
    assert old in text, f"the documented configuration no longer says {old!r}"
    return text.replace(old, new)


class Nginx:
    def __init__(self, prefix: Path, keyledger_port: int, upstream_port: int) -> None:
        self.binary = nginx_binary()
        self.prefix = prefix
        self.port = free_port()
        self.keyledger_port = keyledger_port
        self.upstream_port = upstream_port
        self.process: subprocess.Popen[bytes] | None = None

    def write_configuration(self) -> Path:
        gateway = documented_configuration()
        gateway = _substitute(
            gateway, DOCUMENTED_KEYLEDGER, f"127.0.0.1:{self.keyledger_port}"
        )
        gateway = _substitute(
            gateway, DOCUMENTED_UPSTREAM, f"127.0.0.1:{self.upstream_port}"
        )
        gateway = _substitute(
            gateway, DOCUMENTED_LISTEN, f"listen 127.0.0.1:{self.port};"
        )
        temp = self.prefix / "temp"
        temp.mkdir(parents=True, exist_ok=True)
        (self.prefix / "gateway.conf").write_text(gateway)
        # The main context the http-level block lives in: what Debian's
        # /etc/nginx/nginx.conf provides, pointed at this prefix.
        main = self.prefix / "nginx.conf"
        main.write_text(
            "daemon off;\n"
            "worker_processes 1;\n"
            f"pid {self.prefix}/nginx.pid;\n"
            f"error_log {self.prefix}/error.log warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    access_log {self.prefix}/access.log;\n"
            f"    client_body_temp_path {temp}/body;\n"
            f"    proxy_temp_path {temp}/proxy;\n"
            f"    fastcgi_temp_path {temp}/fastcgi;\n"
            f"    uwsgi_temp_path {temp}/uwsgi;\n"
            f"    scgi_temp_path {temp}/scgi;\n"
            f"    include {self.prefix}/gateway.conf;\n"
            "}\n"
        )
        return main

    def start(self, timeout: float = 15.0) -> Nginx:
        main = self.write_configuration()
        command = [self.binary, "-p", str(self.prefix), "-c", str(main)]
        checked = subprocess.run(
            [*command, "-t", "-e", str(self.prefix / "error.log")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(
            [*command, "-e", str(self.prefix / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "nginx exited: " + (self.prefix / "error.log").read_text()
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not listen in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers every request with what it received."""

    protocol_version = "HTTP/1.1"
    received: ClassVar[list[dict[str, Any]]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        self.received.append(seen)
        raw = json.dumps({"upstream": "otp", **seen}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, *args: object) -> None:
        pass


class Upstream:
    """The OTP service behind the gateway: a real HTTP server in a thread."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        handler = type("Echo", (_Echo,), {"received": self.received})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Upstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
