"""What metrics (and access lines) cost POST /v1/auth: the same keyledger,
served by the real ``gunicorn.conf.py`` (so metrics run in multiprocess
mode, as in production), with ``KEYLEDGER_METRICS`` on and off, and once
more with JSON access lines at INFO; wrk drives each in turn
(see bench/README.md, "Metrics and logs on the auth path").

    .venv/bin/python bench/metrics_cost.py            # 10,000 keys, 3 x 10 s each
    .venv/bin/python bench/metrics_cost.py --keys 1000 --duration 3 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auth_bench import check_allowed, prepare_store
from fill_store import BOOTSTRAP_TOKEN, SECRET_KEY
from served_app import Target, run_wrk, start, stop

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def targets(store: Path, workers: int) -> list[Target]:
    base = {
        "KEYLEDGER_DATABASE_URL": f"sqlite:///{store / 'keyledger.db'}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": BOOTSTRAP_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": str(workers),
        # The figures in bench/README.md were taken with sync workers.
        "KEYLEDGER_WORKER_CLASS": "sync",
    }
    return [
        Target("metrics_off", "wsgi:app", {**base, "KEYLEDGER_METRICS": "off"}),
        Target("metrics_on", "wsgi:app", {**base, "KEYLEDGER_METRICS": "on"}),
        Target(
            "metrics_on_json_access_log",
            "wsgi:app",
            {
                **base,
                "KEYLEDGER_METRICS": "on",
                "KEYLEDGER_LOG_LEVEL": "INFO",
                "KEYLEDGER_LOG_FORMAT": "json",
            },
        ),
    ]


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    per_target = {
        name: {
            "requests_per_s_median": statistics.median(r["requests_per_s"] for r in rs),
            "server_cpu_ms_per_request_median": statistics.median(
                r["server_cpu_ms_per_request"] for r in rs
            ),
            "p99_ms_median": statistics.median(r["p99_ms"] for r in rs),
        }
        for name, rs in runs.items()
    }
    off = per_target["metrics_off"]

    def relative(name: str) -> dict[str, float]:
        on = per_target[name]
        return {
            "throughput_ratio": round(
                on["requests_per_s_median"] / off["requests_per_s_median"], 3
            ),
            "cpu_per_request_ratio": round(
                on["server_cpu_ms_per_request_median"]
                / off["server_cpu_ms_per_request_median"],
                3,
            ),
        }

    return {
        "per_target": per_target,
        "metrics_on_vs_off": relative("metrics_on"),
        "metrics_and_json_access_log_vs_off": relative("metrics_on_json_access_log"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=2000, help="keys wrk draws")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds/run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--store", type=Path, default=Path("/tmp/keyledger-metrics-bench")
    )
    parser.add_argument("--fresh", action="store_true", help="refill the store")
    parser.add_argument(
        "--out", type=Path, default=BENCH / "results" / "metrics_cost.json"
    )
    args = parser.parse_args(argv)

    credentials = prepare_store(args.store, args.keys, args.sample, args.fresh)
    first_pair = re.search(r'"(Basic [^"]+)"', credentials.read_text())
    assert first_pair is not None
    served = targets(args.store, args.workers)
    runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in served}
    config = ROOT / "gunicorn.conf.py"
    try:
        for target in served:
            start(target, config, args.store / f"{target.name}.log")
            check_allowed(target, first_pair.group(1))
            run_wrk(target, credentials, args, args.warmup)
        for round_ in range(args.runs):
            # Rotate who goes first, so a drift in machine load is shared.
            order = served[round_ % len(served) :] + served[: round_ % len(served)]
            for target in order:
                result = run_wrk(target, credentials, args, args.duration)
                runs[target.name].append(result)
                print(
                    f"run {round_ + 1} {target.name:27} "
                    f"{result['requests_per_s']:9,.0f} req/s  "
                    f"cpu/req {result['server_cpu_ms_per_request']:.4f} ms  "
                    f"p99 {result['p99_ms']:6.2f} ms  "
                    f"load {result['load_average_1min']:.1f}  "
                    f"non-2xx {result['non_2xx']}"
                )
    finally:
        for target in served:
            stop(target)

    summary = summarize(runs)
    report = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count()},
        "settings": {
            "keys": args.keys,
            "credentials_drawn_from": args.sample,
            "runs": args.runs,
            "seconds_per_run": args.duration,
            "connections": args.connections,
            "wrk_threads": args.threads,
            "workers": args.workers,
            "gunicorn_config": "gunicorn.conf.py",
        },
        "runs": runs,
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    failed = sum(r["non_2xx"] for rs in runs.values() for r in rs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
