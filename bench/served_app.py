"""A WSGI app served by a real gunicorn on 127.0.0.1, and wrk driving it:
the machinery of the auth benchmark (auth_bench.py)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # bench/ shares the tests' gunicorn starter
from tests.support.gunicorn import GunicornServer  # noqa: E402

LATENCY = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Target:
    """One app to measure: what gunicorn serves, and the process serving it."""

    name: str
    app_uri: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None


def write_gunicorn_config(
    store: Path, settings: dict[str, Any], name: str = "bench"
) -> Path:
    """One settings file, used by all the targets it names alike."""
    path = store / f"gunicorn.{name}.conf.py"
    path.write_text("".join(f"{k} = {v!r}\n" for k, v in settings.items()))
    return path


def start(target: Target, config: Path, log: Path, timeout: float = 60.0) -> None:
    """Serves ``target`` under ``config`` with the tests' gunicorn starter;
    any HTTP answer on / counts as started (the constant apps have no
    /healthz)."""
    server = GunicornServer(
        target.env,
        workers=None,  # the bench config's
        log_path=log,
        app=target.app_uri,
        config=str(config),
        ready_path="/",
        ready_status=None,
    )
    try:
        server.start(timeout)
    except RuntimeError as error:
        raise RuntimeError(f"{target.name}: {error}; see {log}") from None
    target.port, target.process = server.port, server.process


class Served(Protocol):
    """Anything started with a gunicorn process of its own."""

    process: subprocess.Popen[bytes] | None


def stop(target: Served) -> None:
    if target.process is not None and target.process.poll() is None:
        os.killpg(target.process.pid, signal.SIGTERM)
        try:
            target.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(target.process.pid, signal.SIGKILL)
            target.process.wait(timeout=5)


def server_cpu_seconds(target: Target) -> float:
    """User + system CPU of the master and its workers so far.

    CPU per request barely moves when other processes compete for the
    machine, unlike requests per second, so it is the steadier comparison.
    """
    assert target.process is not None
    children = subprocess.run(
        ["pgrep", "-P", str(target.process.pid)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    ticks = 0
    for pid in [str(target.process.pid), *children]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class WrkReport:
    requests_per_s: float
    requests: int
    latency_ms: dict[str, float]  # percentile ("50", "75", "90", "99") -> ms
    non_2xx: int
    socket_errors: str


def wrk(command: list[str], env: dict[str, str], seconds: float) -> WrkReport:
    """Runs wrk (with --latency) and reads its report."""
    out = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    latency = {p: float(v) * UNIT_MS[u] for p, v, u in LATENCY.findall(out)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if rps is None or total is None or set(latency) != {"50", "75", "90", "99"}:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return WrkReport(
        requests_per_s=float(rps.group(1)),
        requests=int(total.group(1)),
        latency_ms=latency,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=errors.group(1) if errors else "none",
    )


def run_wrk(
    target: Target, credentials: Path, args: argparse.Namespace, seconds: float
) -> dict[str, Any]:
    command = [
        "wrk",
        *("-t", str(args.threads), "-c", str(args.connections)),
        *("-d", f"{seconds:g}s", "--timeout", "5s", "--latency"),
        *("-s", str(ROOT / "bench" / "auth.lua")),
        f"http://127.0.0.1:{target.port}/v1/auth",
    ]
    env = {**os.environ, "KEYLEDGER_BENCH_CREDENTIALS": str(credentials)}
    cpu_before = server_cpu_seconds(target)
    report = wrk(command, env, seconds)
    cpu = server_cpu_seconds(target) - cpu_before
    latency = report.latency_ms
    return {
        "requests_per_s": report.requests_per_s,
        "requests": report.requests,
        "server_cpu_ms_per_request": round(cpu * 1000 / report.requests, 4),
        "p50_ms": round(latency["50"], 3),
        "p90_ms": round(latency["90"], 3),
        "p99_ms": round(latency["99"], 3),
        "non_2xx": report.non_2xx,
        "socket_errors": report.socket_errors,
        # Other processes on the machine skew a run; this says how busy it was.
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
