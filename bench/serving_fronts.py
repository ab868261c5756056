"""The shipped buffering nginx (deploy/nginx-keyledger.conf) in front of
gunicorns the serving benchmark started: one nginx process, one server
block per gunicorn, each on a port of its own (bench/serving_bench.py)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "deploy" / "nginx-keyledger.conf"
SHIPPED_UPSTREAM = "server keyledger.internal:8000;"
SHIPPED_LISTEN = "listen 80;"
SHIPPED_NAME = "keyledger_api"
UPSTREAM_KEEPALIVE = ("    keepalive 32;\n", "    keepalive_timeout 4s;\n")


@dataclass(frozen=True)
class Front:
    """One server block: nginx's ``port`` in front of gunicorn's."""

    name: str
    port: int
    upstream_port: int
    upstream_keepalive: bool


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_block(front: Front, index: int) -> str:
    """The shipped configuration, pointed at ``front``'s ports; without
    upstream keep-alive, its two keepalive lines are left out."""
    text = SHIPPED.read_text()
    for old, new in (
        (SHIPPED_UPSTREAM, f"server 127.0.0.1:{front.upstream_port};"),
        (SHIPPED_LISTEN, f"listen 127.0.0.1:{front.port};"),
        (SHIPPED_NAME, f"{SHIPPED_NAME}_{index}"),
    ):
        if old not in text:
            raise RuntimeError(f"{SHIPPED} no longer says {old!r}")
        text = text.replace(old, new)
    if not front.upstream_keepalive:
        for line in UPSTREAM_KEEPALIVE:
            if line not in text:
                raise RuntimeError(f"{SHIPPED} no longer says {line.strip()!r}")
            text = text.replace(line, "")
    return text


class NginxFronts:
    """Debian's nginx, one worker process, as a child of this script."""

    def __init__(self, prefix: Path, fronts: list[Front]) -> None:
        self.prefix = prefix
        self.fronts = fronts
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        temp = self.prefix / "temp"
        temp.mkdir(parents=True, exist_ok=True)
        blocks = "\n".join(server_block(f, i) for i, f in enumerate(self.fronts))
        (self.prefix / "fronts.conf").write_text(blocks)
        main = self.prefix / "nginx.conf"
        main.write_text(
            "daemon off;\nworker_processes 1;\n"
            f"pid {self.prefix}/nginx.pid;\nerror_log {self.prefix}/error.log warn;\n"
            "worker_rlimit_nofile 8192;\nevents { worker_connections 4096; }\n"
            "http {\n    access_log off;\n"
            + "".join(
                f"    {kind}_temp_path {temp}/{kind};\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            )
            + f"    include {self.prefix}/fronts.conf;\n}}\n"
        )
        command = [binary, "-p", str(self.prefix), "-c", str(main)]
        command += ["-e", str(self.prefix / "error.log")]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        for front in self.fronts:
            while True:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    error = (self.prefix / "error.log").read_text()
                    raise RuntimeError(f"nginx did not start: {error}")
                try:
                    socket.create_connection(("127.0.0.1", front.port), 1).close()
                    break
                except OSError:
                    time.sleep(0.05)  # a process starting: bounded by the deadline

    def pids(self) -> list[int]:
        """The master and its worker, for their CPU time."""
        if self.process is None:
            return []
        out = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return [self.process.pid, *(int(pid) for pid in out.split())]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None
