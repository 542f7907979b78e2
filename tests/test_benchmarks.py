"""Smoke test of the benchmarks: each runs at its smallest size, so the scripts cannot rot.

Only that they run to the end and print their tables is checked, never a figure: the
benchmarks themselves stop when a payment ends in the wrong state. The four run side by
side, each with its own throwaway SQLite databases and gunicorn servers on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks.harness import gunicorn_path

ROOT = Path(__file__).resolve().parent.parent

SMALLEST = {
    "bench_payment": ["--n", "2", "--warmup", "1", "--round-trips", "0,30"],
    "bench_callbacks": [
        *("--n", "1", "--warmup", "0", "--payments", "2", "--duplicates", "3"),
        *("--clients", "2"),
    ],
    "bench_sync": ["--n", "6", "--latency", "5"],
    "bench_queries": ["--n", "1", "--split", "2"],
}
TITLES = {
    "bench_payment": ["simulated round trip 0 ms", "simulated round trip 30 ms"],
    "bench_callbacks": ["Callbacks: 2 payments x 3 deliveries"],
    "bench_sync": ["checkout_sync --workers 8 over 6 stale payments"],
    "bench_queries": ["SQL statements per request", "Where the time of an approved card POST goes"],
}

pytestmark = pytest.mark.skipif(
    gunicorn_path() is None, reason="gunicorn is not installed (it is in the dev dependency group)"
)


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess[str]]:
    env = {key: value for key, value in os.environ.items() if key != "BENCH_CACHE_URL"}
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", f"tests.benchmarks.{name}", *args, "--db", "sqlite"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, args in SMALLEST.items()
    }
    finished = {}
    for name, process in started.items():
        try:
            output, _ = process.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        finished[name] = subprocess.CompletedProcess(process.args, process.returncode, output)
    return finished


@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_benchmark_runs_at_its_smallest_size(runs, name):
    run = runs[name]
    assert run.returncode == 0, run.stdout
    for title in TITLES[name]:
        assert title in run.stdout, run.stdout
    assert "benchmark stopped" not in run.stdout
