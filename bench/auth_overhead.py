"""Microseconds that metrics and access lines add to one POST /v1/auth,
measured in-process (no network, no wrk), so that a loaded machine blurs the
figure less than a throughput run does (see bench/README.md, "Metrics and
logs on the auth path").

    .venv/bin/python bench/auth_overhead.py            # 40 rounds of 2,000 calls each
    .venv/bin/python bench/auth_overhead.py --calls 5000 --rounds 3
"""

from __future__ import annotations

import os
import tempfile

# As gunicorn.conf.py does, before anything imports prometheus_client: the
# multiprocess mode (values in memory-mapped files) is the one production
# pays for.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="keyledger-bench-")

import argparse
import base64
import io
import json
import random
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fill_store import (
    BOOTSTRAP_TOKEN,
    CLIENT_IP,
    SECRET_KEY,
    open_store,
    timed_fill,
)

from service import logs
from service.app import create_app

ROOT = Path(__file__).resolve().parents[1]
BODY = json.dumps({"api": "send", "client_ip": CLIENT_IP}).encode()
SCENARIOS: dict[str, dict[str, str]] = {
    "metrics_off": {"KEYLEDGER_METRICS": "off", "level": "WARNING", "format": "text"},
    "metrics_on": {"KEYLEDGER_METRICS": "on", "level": "WARNING", "format": "text"},
    "metrics_on_text_access_log": {
        "KEYLEDGER_METRICS": "on",
        "level": "INFO",
        "format": "text",
    },
    "metrics_on_json_access_log": {
        "KEYLEDGER_METRICS": "on",
        "level": "INFO",
        "format": "json",
    },
}


def caller(app: Any, dev_key: str, dev_secret: str) -> Callable[[], None]:
    header = "Basic " + base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        if not status.startswith("200"):
            raise RuntimeError(status)

    def call() -> None:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/v1/auth",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(BODY)),
            "HTTP_AUTHORIZATION": header,
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(BODY),
        }
        for _ in app(environ, start_response):
            pass

    return call


def recording_alone(calls: int, rounds: int) -> float:
    """Best microseconds of exactly what the auth path records per call:
    two clock reads, one histogram observation, one counter increment."""
    from service import metrics

    counter = metrics.AUTH_DECISIONS.labels("allowed", "none")
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            began = time.perf_counter()
            metrics.AUTH_DURATION.observe(time.perf_counter() - began)
            counter.inc()
        best = min(best, (time.perf_counter() - started) / calls * 1e6)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "auth_overhead.json"
    )
    args = parser.parse_args(argv)
    store = Path(tempfile.mkdtemp(prefix="keyledger-overhead-"))
    url = f"sqlite:///{store / 'keyledger.db'}"
    services = open_store(url)
    try:
        kept, _ = timed_fill(services, 100, keep_every=1)
    finally:
        services.close()
    dev_key, dev_secret = kept[0]
    apps: dict[str, Callable[[], None]] = {}
    for name, scenario in SCENARIOS.items():
        os.environ["KEYLEDGER_METRICS"] = scenario["KEYLEDGER_METRICS"]
        app = create_app(
            {
                "database_url": url,
                "secret_key": SECRET_KEY,
                "bootstrap_token": BOOTSTRAP_TOKEN,
                "log_level": "WARNING",
            }
        )
        apps[name] = caller(app.wsgi_app, dev_key, dev_secret)
    best: dict[str, float] = {name: float("inf") for name in SCENARIOS}
    real_stderr = sys.stderr
    try:
        with open(os.devnull, "w") as sink:
            sys.stderr = sink  # access lines are formatted and written, unseen
            order = list(apps.items())
            shuffler = random.Random(11)
            for _ in range(args.rounds):
                # A new order each round: no scenario always follows another.
                shuffler.shuffle(order)
                for name, call in order:
                    scenario = SCENARIOS[name]
                    logs.configure(scenario["format"], scenario["level"])
                    started = time.perf_counter()
                    for _ in range(args.calls):
                        call()
                    per_call = (time.perf_counter() - started) / args.calls * 1e6
                    best[name] = min(best[name], per_call)
        alone = recording_alone(args.calls, args.rounds)
    finally:
        sys.stderr = real_stderr
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    base = best["metrics_off"]
    report = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "settings": {"calls_per_round": args.calls, "rounds": args.rounds},
        "metrics_recording_alone_microseconds": round(alone, 2),
        "microseconds_per_auth_call_best_round": {
            name: round(value, 2) for name, value in best.items()
        },
        "added_microseconds_vs_metrics_off": {
            name: round(value - base, 2) for name, value in best.items()
        },
        "throughput_ratio_vs_metrics_off": {
            name: round(base / value, 3) for name, value in best.items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
