"""Keep-alive on the hot path: POST /v1/auth and the raw WSGI constant, served
by gunicorn.conf.py under each worker class and through the shipped
buffering nginx, driven by wrk with keep-alive clients and with a new
connection per request, at 32 and 256 connections (bench/README.md,
"Serving: worker classes and keep-alive").

    .venv/bin/python bench/serving_bench.py       # ~15 min after filling its store
    .venv/bin/python bench/serving_bench.py --keys 2000 --duration 2 --runs 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auth_bench import check_allowed, prepare_store
from fill_store import BOOTSTRAP_TOKEN, SECRET_KEY
from served_app import ROOT, Target, start, stop, wrk
from serving_fronts import Front, NginxFronts, free_port
from serving_report import SERVINGS, markdown_table, summarize

BENCH = ROOT / "bench"
# gunicorn.conf.py as shipped, its worker class chosen by the environment.
CLASSES: dict[str, dict[str, str]] = {
    "sync": {"KEYLEDGER_WORKER_CLASS": "sync"},
    "gthread4": {"KEYLEDGER_WORKER_CLASS": "gthread", "KEYLEDGER_THREADS": "4"},
    "gthread8": {"KEYLEDGER_WORKER_CLASS": "gthread", "KEYLEDGER_THREADS": "8"},
    "gevent": {"KEYLEDGER_WORKER_CLASS": "gevent"},
}
# nginx (deploy/nginx-keyledger.conf) in front of: (class, upstream keep-alive).
FRONTS: dict[str, tuple[str, bool]] = {
    "nginx>sync": ("sync", True),
    "nginx>sync, no upstream keepalive": ("sync", False),
    "nginx>gthread4": ("gthread4", True),
    "nginx>gthread4, no upstream keepalive": ("gthread4", False),
}
assert tuple(CLASSES) + tuple(FRONTS) == SERVINGS
APPS = {"keyledger": "wsgi:app", "raw_wsgi": "bench.constant_wsgi:app"}
CLIENTS = {"keepalive": [], "close": ["-H", "Connection: close"]}


@dataclass
class Served:
    """One thing wrk drives: a gunicorn, or an nginx server block before one."""

    serving: str
    app: str
    port: int
    gunicorn: Target
    nginx_pids: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.serving}/{self.app}"


def cpu_seconds(roots: list[int]) -> float:
    """User + system CPU of these processes and their children so far."""
    pids = list(roots)
    for root in roots:
        out = subprocess.run(
            ["pgrep", "-P", str(root)], capture_output=True, text=True, check=False
        ).stdout
        pids += [int(pid) for pid in out.split()]
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def drive(
    served: Served, credentials: Path, client: str, connections: int, seconds: float
) -> dict[str, Any]:
    command = [
        "wrk",
        *("-t", "2", "-c", str(connections), "-d", f"{max(1, round(seconds))}s"),
        *("--timeout", "5s", "--latency", "-s", str(BENCH / "auth.lua")),
        *CLIENTS[client],
        f"http://127.0.0.1:{served.port}/v1/auth",
    ]
    env = {**os.environ, "KEYLEDGER_BENCH_CREDENTIALS": str(credentials)}
    assert served.gunicorn.process is not None
    roots = [served.gunicorn.process.pid, *served.nginx_pids]
    before = cpu_seconds(roots)
    report = wrk(command, env, seconds)
    cpu = cpu_seconds(roots) - before
    return {
        "serving": served.serving,
        "app": served.app,
        "client": client,
        "connections": connections,
        "requests_per_s": report.requests_per_s,
        "requests": report.requests,
        "p50_ms": round(report.latency_ms["50"], 3),
        "p99_ms": round(report.latency_ms["99"], 3),
        "server_cpu_ms_per_request": round(cpu * 1000 / max(report.requests, 1), 4),
        "non_2xx": report.non_2xx,
        "socket_errors": report.socket_errors,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def start_all(
    args: argparse.Namespace,
    keyledger_env: dict[str, str],
    gunicorns: dict[tuple[str, str], Target],
    nginx: NginxFronts,
) -> list[Served]:
    """Every gunicorn (into ``gunicorns``), then nginx with a server block
    per front."""
    wanted = set(args.servings)
    needed = wanted | {FRONTS[f][0] for f in wanted if f in FRONTS}
    for serving, settings in CLASSES.items():
        if serving not in needed:
            continue
        for app, uri in APPS.items():
            target = Target(f"{serving}-{app}", uri, {**keyledger_env, **settings})
            gunicorns[(serving, app)] = target
            start(target, Path("gunicorn.conf.py"), args.store / f"{target.name}.log")
    served = [Served(s, a, t.port, t) for (s, a), t in gunicorns.items() if s in wanted]
    fronted = []
    for serving, (behind, upstream_keepalive) in FRONTS.items():
        if serving not in wanted:
            continue
        for app in APPS:
            target = gunicorns[(behind, app)]
            front = Front(
                f"{serving}/{app}", free_port(), target.port, upstream_keepalive
            )
            nginx.fronts.append(front)
            fronted.append(Served(serving, app, front.port, target))
    if nginx.fronts:
        nginx.start()
    for s in fronted:
        s.nginx_pids = nginx.pids()
    return served + fronted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=4000, help="keys wrk draws")
    parser.add_argument("--runs", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds/run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, nargs="+", default=[32, 256])
    parser.add_argument(
        "--store", type=Path, default=Path("/tmp/keyledger-serving-bench")
    )
    parser.add_argument("--fresh", action="store_true", help="refill the store")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "serving.json")
    parser.add_argument(
        "--servings",
        nargs="+",
        choices=SERVINGS,
        default=list(SERVINGS),
        help="measure only these (a focused comparison)",
    )
    parser.add_argument(
        "--table-from", type=Path, help="print a results file's table, run nothing"
    )
    args = parser.parse_args(argv)
    if args.table_from is not None:
        print(markdown_table(json.loads(args.table_from.read_text())["summary"]))
        return 0

    credentials = prepare_store(args.store, args.keys, args.sample, args.fresh)
    first = re.search(r'"(Basic [^"]+)"', credentials.read_text())
    assert first is not None
    keyledger_env = {
        "KEYLEDGER_DATABASE_URL": f"sqlite:///{args.store / 'keyledger.db'}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": BOOTSTRAP_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
    }
    runs: list[dict[str, Any]] = []
    gunicorns: dict[tuple[str, str], Target] = {}
    nginx = NginxFronts(args.store / "nginx", [])
    cells = [(c, n) for c in CLIENTS for n in args.connections]
    try:
        served = start_all(args, keyledger_env, gunicorns, nginx)
        for s in served:
            if s.app == "keyledger":
                check_allowed(Target(s.name, "", port=s.port), first.group(1))
            drive(s, credentials, "keepalive", args.connections[0], args.warmup)
        for round_ in range(args.runs):
            for client, connections in cells:
                # Each round and cell starts at a different target.
                shift = (
                    round_ * len(cells) + cells.index((client, connections))
                ) % len(served)
                for s in served[shift:] + served[:shift]:
                    result = drive(s, credentials, client, connections, args.duration)
                    runs.append(result)
                    print(
                        f"round {round_ + 1} {client:9} c={connections:<3} "
                        f"{s.name:48} {result['requests_per_s']:8,.0f} req/s  "
                        f"p50 {result['p50_ms']:7.2f}  p99 {result['p99_ms']:7.2f} ms  "
                        f"load {result['load_average_1min']:.1f}  "
                        f"non-2xx {result['non_2xx']}  "
                        f"errors: {result['socket_errors']}",
                        flush=True,
                    )
    finally:
        nginx.stop()
        for target in gunicorns.values():
            stop(target)

    summary: list[dict[str, Any]] = summarize(runs)
    report = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            "keys": args.keys,
            "credentials_drawn_from": args.sample,
            "rounds": args.runs,
            "seconds_per_run": args.duration,
            "wrk_threads": 2,
            "gunicorn": "gunicorn.conf.py, WEB_CONCURRENCY=4, keepalive 5 s",
            "servings": args.servings,
            "classes": CLASSES,
            "fronts": {
                k: {"behind": b, "upstream_keepalive": u}
                for k, (b, u) in FRONTS.items()
            },
            "nginx": "deploy/nginx-keyledger.conf, 1 worker process",
            "order": "per round and cell, every target in turn, the first rotating",
        },
        "load_average_seen": [
            min(r["load_average_1min"] for r in runs),
            max(r["load_average_1min"] for r in runs),
        ]
        if runs
        else [],
        "summary": summary,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown_table(summary))
    print(f"written to {args.out}")
    failed = sum(r["non_2xx"] for r in runs if r["app"] == "keyledger")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
