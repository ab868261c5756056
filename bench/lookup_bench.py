"""Leaked-secret lookup time as the store grows: stores of 1,000 and 100,000
keys, each key with 4 secrets (created, reset, rolled twice: 3 rotations),
filled through the real application, then POST /v1/secrets/lookup timed
through the Flask app (schema, auth of the operator, HMAC, index read, key
row read), for current, previous, retired and unknown secrets (see
bench/README.md, "Secret lookup").

    .venv/bin/python bench/lookup_bench.py                  # ~2 minutes
    .venv/bin/python bench/lookup_bench.py --sizes 1000 10000 --lookups 200
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fill_store import BENCH_ACTOR, BOOTSTRAP_TOKEN, SECRET_KEY, open_store

from domain import ApiKey, recording_as
from service.app import create_app
from service.sealing import new_dev_key, new_dev_secret
from service.wiring import Services

BENCH = Path(__file__).resolve().parent
KINDS = ("current", "previous", "retired", "unknown")


def fill(
    services: Services, count: int, keep: int, batch: int = 500
) -> dict[str, list[str]]:
    """``count`` keys with 3 rotations each; returns sample secrets by kind."""
    ledger = services.ledger
    sealer = ledger.sealer
    now = datetime.now(UTC)
    every = max(1, count // keep)
    samples: dict[str, list[str]] = {kind: [] for kind in KINDS}
    with recording_as(BENCH_ACTOR):
        for start in range(0, count, batch):
            keys: list[ApiKey] = []
            for n in range(start, min(start + batch, count)):
                dev_key = new_dev_key()
                secrets = [new_dev_secret() for _ in range(4)]
                key = ApiKey.create(
                    dev_key=dev_key,
                    secret_hash=sealer.secret_hash(secrets[0]),
                    sealed_secret=sealer.seal(secrets[0], dev_key),
                    now=now,
                    permissions=["send"],
                )
                key.reset_secret(
                    secret_hash=sealer.secret_hash(secrets[1]),
                    sealed_secret=sealer.seal(secrets[1], dev_key),
                )
                for secret in secrets[2:]:
                    key.roll_secret(
                        secret_hash=sealer.secret_hash(secret),
                        sealed_secret=sealer.seal(secret, dev_key),
                        grace_seconds=86_400,
                        now=now,
                    )
                keys.append(key)
                if n % every == 0:
                    samples["retired"].append(secrets[0])
                    samples["previous"].append(secrets[2])
                    samples["current"].append(secrets[3])
                    samples["unknown"].append(new_dev_secret())
            ledger.save(*keys)
    return samples


def measure(store: Path, size: int, lookups: int) -> dict[str, Any]:
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    url = f"sqlite:///{store / 'keyledger.db'}"
    services = open_store(url)
    started = time.perf_counter()
    try:
        samples = fill(services, size, lookups)
    finally:
        services.close()
    filled = time.perf_counter() - started
    print(f"{size:,} keys x 4 secrets filled in {filled:.0f}s")
    app = create_app(
        {
            "database_url": url,
            "secret_key": SECRET_KEY,
            "bootstrap_token": BOOTSTRAP_TOKEN,
            "log_level": "WARNING",
        }
    )
    client = app.test_client()
    headers = {"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"}
    result: dict[str, Any] = {
        "keys": size,
        "secrets": size * 4,
        "fill_s": round(filled, 1),
    }
    try:
        for kind in KINDS:
            secrets = samples[kind][:lookups]
            random.shuffle(secrets)
            for secret in secrets[:20]:  # warm caches and connections
                client.post(
                    "/v1/secrets/lookup", json={"dev_secret": secret}, headers=headers
                )
            times = []
            for secret in secrets:
                begin = time.perf_counter()
                response = client.post(
                    "/v1/secrets/lookup", json={"dev_secret": secret}, headers=headers
                )
                times.append((time.perf_counter() - begin) * 1000)
                want = 404 if kind == "unknown" else 200
                if response.status_code != want or (
                    want == 200 and response.get_json()["secret"] != kind
                ):
                    raise RuntimeError(
                        f"{kind}: {response.status_code} {response.get_json()}"
                    )
            times.sort()
            result[kind] = {
                "lookups": len(times),
                "median_ms": round(statistics.median(times), 3),
                "p99_ms": round(times[int(len(times) * 0.99) - 1], 3),
            }
            print(
                f"  {kind:9} median {result[kind]['median_ms']:.3f} ms  "
                f"p99 {result[kind]['p99_ms']:.3f} ms"
            )
    finally:
        app.extensions["keyledger"].close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--lookups", type=int, default=500, help="per kind and size")
    parser.add_argument(
        "--store", type=Path, default=Path("/tmp/keyledger-lookup-bench")
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "lookup.json")
    args = parser.parse_args(argv)
    results = [
        measure(args.store / str(size), size, args.lookups) for size in args.sizes
    ]
    small, large = results[0], results[-1]
    report = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
        "store": "sqlite",
        "results": results,
        "summary": {
            "largest_median_ms": max(large[k]["median_ms"] for k in KINDS),
            "largest_over_smallest_median": round(
                statistics.median(large[k]["median_ms"] for k in KINDS)
                / statistics.median(small[k]["median_ms"] for k in KINDS),
                3,
            ),
            "goal": "flat, median under 5 ms",
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
