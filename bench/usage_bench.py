"""What usage counting costs /v1/auth: the same store served twice, by the
same gunicorn settings, with KEYLEDGER_USAGE_COUNTING on and off, measured
in the same run with wrk, the two taking turns (see bench/README.md,
"Usage counting").

    .venv/bin/python bench/usage_bench.py                 # 3 rounds x 10 s each
    .venv/bin/python bench/usage_bench.py --keys 1000 --duration 3 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auth_bench import GUNICORN_SETTINGS, check_allowed, prepare_store
from fill_store import BOOTSTRAP_TOKEN, SECRET_KEY
from served_app import Target, run_wrk, start, stop, write_gunicorn_config

BENCH = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=2000, help="keys wrk draws")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds/run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--store", type=Path, default=Path("/tmp/keyledger-usage-bench")
    )
    parser.add_argument("--fresh", action="store_true", help="refill the store")
    parser.add_argument(
        "--flush-seconds", type=int, default=5, help="KEYLEDGER_USAGE_FLUSH_SECONDS"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "usage.json")
    args = parser.parse_args(argv)

    credentials = prepare_store(args.store, args.keys, args.sample, args.fresh)
    config = write_gunicorn_config(args.store, GUNICORN_SETTINGS)
    first_pair = re.search(r'"(Basic [^"]+)"', credentials.read_text())
    if first_pair is None:
        raise RuntimeError(f"no credentials in {credentials}")
    env = {
        "KEYLEDGER_DATABASE_URL": f"sqlite:///{args.store / 'keyledger.db'}",
        "KEYLEDGER_SECRET_KEY": SECRET_KEY,
        "KEYLEDGER_BOOTSTRAP_TOKEN": BOOTSTRAP_TOKEN,
        "KEYLEDGER_LOG_LEVEL": "WARNING",
        "KEYLEDGER_USAGE_FLUSH_SECONDS": str(args.flush_seconds),
    }
    targets = [
        Target("counting_on", "wsgi:app", {**env, "KEYLEDGER_USAGE_COUNTING": "on"}),
        Target("counting_off", "wsgi:app", {**env, "KEYLEDGER_USAGE_COUNTING": "off"}),
    ]
    runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
    try:
        for target in targets:
            start(target, config, args.store / f"{target.name}.log")
            check_allowed(target, first_pair.group(1))
            run_wrk(target, credentials, args, args.warmup)
        for round_ in range(args.runs):
            # Alternate who goes first, so drift in the machine's load
            # favours neither.
            order = targets if round_ % 2 == 0 else targets[::-1]
            for target in order:
                result = run_wrk(target, credentials, args, args.duration)
                runs[target.name].append(result)
                print(
                    f"run {round_ + 1} {target.name:12} "
                    f"{result['requests_per_s']:9,.0f} req/s  "
                    f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms  "
                    f"cpu/req {result['server_cpu_ms_per_request']:.3f} ms  "
                    f"load {result['load_average_1min']:.1f}  "
                    f"non-2xx {result['non_2xx']}"
                )
    finally:
        for target in targets:
            stop(target)

    def median(name: str, field: str) -> float:
        return float(statistics.median(r[field] for r in runs[name]))

    ratios = [
        on["requests_per_s"] / off["requests_per_s"]
        for on, off in zip(runs["counting_on"], runs["counting_off"], strict=True)
    ]
    summary = {
        "on_requests_per_s_median": median("counting_on", "requests_per_s"),
        "off_requests_per_s_median": median("counting_off", "requests_per_s"),
        "on_over_off_per_round": [round(r, 3) for r in ratios],
        "on_over_off_median": round(statistics.median(ratios), 3),
        "on_over_off_by_cpu": round(
            median("counting_off", "server_cpu_ms_per_request")
            / median("counting_on", "server_cpu_ms_per_request"),
            3,
        ),
        "goal_on_over_off_min": 0.95,
    }
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
            "gunicorn": GUNICORN_SETTINGS,
            "usage_flush_seconds": args.flush_seconds,
        },
        "runs": runs,
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"counting on/off: {summary['on_over_off_median']:.3f} (median of rounds), "
        f"{summary['on_over_off_by_cpu']:.3f} by server CPU per request; "
        f"written to {args.out}"
    )
    failed = sum(r["non_2xx"] for rs in runs.values() for r in rs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
