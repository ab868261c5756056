"""Auth throughput: keyledger's POST /v1/auth against a constant-JSON Flask
app and a raw WSGI constant, each under the same gunicorn settings, driven by
wrk from 127.0.0.1 (see bench/README.md, "Auth throughput"). Each worker
class named (sync, gthread with keep-alive) gets its own three servers; all
take turns in every round.

    .venv/bin/python bench/auth_bench.py            # 100,000 keys, 3 x 10 s each
    .venv/bin/python bench/auth_bench.py --keys 1000 --duration 3 --runs 1
    .venv/bin/python bench/auth_bench.py --worker-classes sync
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fill_store import BOOTSTRAP_TOKEN, CLIENT_IP, SECRET_KEY, open_store, timed_fill
from served_app import Target, run_wrk, start, stop, write_gunicorn_config

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
GUNICORN_SETTINGS = {
    "workers": 4,
    "worker_class": "sync",
    "keepalive": 5,
    "timeout": 30,
    "graceful_timeout": 10,
    "backlog": 2048,
    "control_socket_disable": True,
    "loglevel": "warning",
}
# gthread: the same, with threads per worker; wrk keeps its connections
# open, which gthread honours (keepalive) and sync workers do not.
GTHREAD_THREADS = 4


def basic_header(dev_key: str, dev_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()


def prepare_store(store: Path, keys: int, sample: int, fresh: bool) -> Path:
    """A SQLite store with ``keys`` keys and a Lua table of ``sample`` of them."""
    credentials = store / "credentials.lua"
    marker = store / "keys.txt"
    if not fresh and credentials.exists() and marker.read_text() == str(keys):
        print(f"reusing the store in {store} ({keys:,} keys)")
        return credentials
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    services = open_store(f"sqlite:///{store / 'keyledger.db'}")
    try:
        kept, elapsed = timed_fill(services, keys, keep_every=max(1, keys // sample))
    finally:
        services.close()
    print(f"filled {keys:,} keys in {elapsed:.1f}s ({keys / elapsed:,.0f} keys/s)")
    lines = ",\n".join(f'  "{basic_header(k, s)}"' for k, s in kept)
    credentials.write_text(f"return {{\n{lines}\n}}\n")
    marker.write_text(str(keys))
    return credentials


def check_allowed(target: Target, header: str) -> None:
    """One real request first: the bench must measure allowed answers."""
    connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=5)
    body = json.dumps({"api": "send", "client_ip": CLIENT_IP})
    headers = {"Authorization": header, "Content-Type": "application/json"}
    connection.request("POST", "/v1/auth", body=body, headers=headers)
    response = connection.getresponse()
    answer = response.read()
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"{target.name}: auth answered {response.status} {answer!r}")


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians per target and, per worker class, keyledger over the others."""
    summary = {
        name: {
            "requests_per_s_median": statistics.median(r["requests_per_s"] for r in rs),
            "p50_ms_median": statistics.median(r["p50_ms"] for r in rs),
            "p99_ms_median": statistics.median(r["p99_ms"] for r in rs),
            "p99_ms_worst": max(r["p99_ms"] for r in rs),
            "server_cpu_ms_per_request_median": statistics.median(
                r["server_cpu_ms_per_request"] for r in rs
            ),
            "load_average_1min_range": [
                min(r["load_average_1min"] for r in rs),
                max(r["load_average_1min"] for r in rs),
            ],
        }
        for name, rs in runs.items()
        if rs
    }
    ratios: dict[str, dict[str, Any]] = {}
    for worker_class in sorted({name.split("/")[1] for name in summary}):
        auth = summary[f"keyledger/{worker_class}"]
        ratios[worker_class] = {}
        raw = summary.get(f"raw_wsgi/{worker_class}")
        for name, measured in summary.items():
            if name.startswith("floor") and name.endswith(f"/{worker_class}") and raw:
                ratios[worker_class][f"{name.split('/')[0]}_over_raw_wsgi"] = round(
                    measured["requests_per_s_median"] / raw["requests_per_s_median"],
                    3,
                )
        for other in ("raw_wsgi", "flask"):
            reference = summary.get(f"{other}/{worker_class}")
            if reference is None:
                continue
            ratios[worker_class][f"auth_over_{other}"] = round(
                auth["requests_per_s_median"] / reference["requests_per_s_median"], 3
            )
            # Requests per server CPU-second, relative: the capacity ratio.
            ratios[worker_class][f"auth_over_{other}_by_cpu"] = round(
                reference["server_cpu_ms_per_request_median"]
                / auth["server_cpu_ms_per_request_median"],
                3,
            )
            per_round = [
                a["requests_per_s"] / b["requests_per_s"]
                for a, b in zip(
                    runs[f"keyledger/{worker_class}"],
                    runs[f"{other}/{worker_class}"],
                    strict=True,
                )
            ]
            ratios[worker_class][f"auth_over_{other}_per_round"] = [
                round(r, 3) for r in per_round
            ]
    return {"per_target": summary, "ratios": ratios}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=4000, help="keys wrk draws")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds/run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--store", type=Path, default=Path("/tmp/keyledger-auth-bench"))
    parser.add_argument("--fresh", action="store_true", help="refill the store")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "auth.json")
    parser.add_argument(
        "--worker-classes",
        default="sync,gthread",
        help="comma-separated: sync, gthread (threads and keep-alive)",
    )
    parser.add_argument("--gunicorn-threads", type=int, default=GTHREAD_THREADS)
    parser.add_argument("--workers", type=int, default=GUNICORN_SETTINGS["workers"])
    parser.add_argument(
        "--no-flask", action="store_true", help="only keyledger and raw WSGI"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also the floor apps (bench/auth_floor_app.py), steps 1-4",
    )
    args = parser.parse_args(argv)
    classes = [c.strip() for c in args.worker_classes.split(",") if c.strip()]
    settings = {
        worker_class: {
            **GUNICORN_SETTINGS,
            "workers": args.workers,
            "worker_class": worker_class,
            "threads": 1 if worker_class == "sync" else args.gunicorn_threads,
        }
        for worker_class in classes
    }

    credentials = prepare_store(args.store, args.keys, args.sample, args.fresh)
    first_pair = re.search(r'"(Basic [^"]+)"', credentials.read_text())
    assert first_pair is not None
    keyledger_env = {
        "KEYLEDGER_DATABASE_URL": f"sqlite:///{args.store / 'keyledger.db'}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": BOOTSTRAP_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
    }
    apps = [
        ("keyledger", "wsgi:app", keyledger_env),
        ("flask", "bench.constant_flask:create_app()", {}),
        ("raw_wsgi", "bench.constant_wsgi:app", {}),
    ]
    if args.no_flask:
        apps = [app for app in apps if app[0] != "flask"]
    if args.floor:
        store_file = str(args.store / "keyledger.db")
        apps += [
            (
                f"floor{step}",
                "bench.auth_floor_app:app",
                {
                    "KEYLEDGER_FLOOR_STEP": str(step),
                    "KEYLEDGER_FLOOR_STORE": store_file,
                },
            )
            for step in (1, 2, 3, 4)
        ]
    targets: list[tuple[Target, Path]] = [
        (
            Target(f"{name}/{worker_class}", uri, env),
            write_gunicorn_config(args.store, settings[worker_class], worker_class),
        )
        for worker_class in classes
        for name, uri, env in apps
    ]
    runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t, _ in targets}
    try:
        for target, config in targets:
            log = args.store / f"{target.name.replace('/', '-')}.log"
            start(target, config, log)
            check_allowed(target, first_pair.group(1))
            run_wrk(target, credentials, args, args.warmup)
        for round_ in range(args.runs):
            # Each round starts with another target: none always runs first.
            shift = round_ % len(targets)
            for target, _ in targets[shift:] + targets[:shift]:
                result = run_wrk(target, credentials, args, args.duration)
                runs[target.name].append(result)
                print(
                    f"run {round_ + 1} {target.name:17} "
                    f"{result['requests_per_s']:9,.0f} req/s  "
                    f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms  "
                    f"cpu/req {result['server_cpu_ms_per_request']:.3f} ms  "
                    f"load {result['load_average_1min']:.1f}  "
                    f"non-2xx {result['non_2xx']}  socket errors: "
                    f"{result['socket_errors']}"
                )
    finally:
        for target, _ in targets:
            stop(target)

    summary = summarize(runs)
    report = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {
            "keys": args.keys,
            "credentials_drawn_from": args.sample,
            "runs": args.runs,
            "seconds_per_run": args.duration,
            "connections": args.connections,
            "wrk_threads": args.threads,
            "gunicorn": settings,
            "order": "every target once per round, each round starting with the next",
        },
        "runs": runs,
        "summary": summary,
        "targets": {"auth_over_raw_min": 0.8, "p99_ms_max": 10.0},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for worker_class, ratios in summary["ratios"].items():
        keyledger = summary["per_target"][f"keyledger/{worker_class}"]
        print(
            f"{worker_class}: "
            + "  ".join(
                f"{name} {value:.2f}"
                for name, value in ratios.items()
                if not isinstance(value, list)
            )
            + f"  keyledger p99 (median) {keyledger['p99_ms_median']:.2f} ms"
        )
    print(f"written to {args.out}")
    failed = sum(
        r["non_2xx"]
        for name, rs in runs.items()
        if name.startswith("keyledger")
        for r in rs
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
