"""checkout_sync over a backlog of stale payments, against the limit of its workers.

The backlog is N payments that the shop sees awaiting 3-D Secure since an hour ago
and the bank has paid (callbacks and returns all lost), with the sandbox gateway
answering each request after one simulated 50 ms round trip (two more on a new
connection). Measured: ``manage.py checkout_sync --workers 8`` as cron runs it, a process
of its own: payments settled per second from its "N payment(s) to check" line to its last
progress line, the whole run's wall time, its peak resident memory (the kernel's
ru_maxrss). Every payment must end paid.

Limit: workers / latency, the most that many queries in flight can settle. Baseline,
measured just before and just after the run: 8 threads on kept-alive connections asking
``getOrderStatusExtended.do`` for the same orders and nothing else, which is what the
limit comes to on this machine, the sandbox's own work included.

    .venv/bin/python -m tests.benchmarks.bench_sync [--n 2000] [--workers 8] [--latency 50]
        [--db auto|sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from tests.benchmarks.harness import (
    MERCHANT_LOGIN,
    MERCHANT_PASSWORD,
    ROOT,
    ClientTransport,
    Harness,
    PaymentFactory,
    Server,
    Waiting,
    expect,
    fire,
    main,
    make_parser,
    print_table,
    shopper_address,
    times,
)

#: Orders of the backlog each baseline run queries.
BASELINE_SAMPLE = 400
_SUMMARY = re.compile(r"checked (\d+), changed (\d+), failed (\d+)")


@dataclass
class SyncRun:
    settled_per_second: float
    wall: float
    peak_rss_kb: int
    checked: int


def bench(args: argparse.Namespace, harness: Harness) -> None:
    from django.utils import timezone

    from checkout.models import Payment

    sandbox = harness.sandbox(args.latency / 1000)
    harness.start(sandbox)
    harness.use_gateway(sandbox)
    factory = PaymentFactory(ClientTransport(shopper_address()), sandbox)
    # Payments the return view, callbacks and checkout_sync have not settled for an hour.
    stale = timezone.now() - timedelta(hours=1)

    # Warm-up: the sandbox's workers and connections, a first cron run.
    warm = factory.make(min(args.n, 40), created_at=stale)
    bare_queries(sandbox, warm, args.workers)
    checkout_sync(harness, sandbox, args.workers)

    payments = factory.make(args.n, created_at=stale)
    # The baseline brackets the run, once before it and once after, on a sample of the
    # same orders (the rate of 8 threads does not depend on how many there are).
    sample = payments[: min(len(payments), BASELINE_SAMPLE)]
    baseline_rates = [bare_queries(sandbox, sample, args.workers)]
    run = checkout_sync(harness, sandbox, args.workers)
    baseline_rates.append(bare_queries(sandbox, sample, args.workers))
    expect(run.checked >= len(payments), f"checkout_sync checked {run.checked}")
    paid = Payment.objects.filter(pk__in=[p.pk for p in payments], status="paid").count()
    expect(paid == len(payments), f"{paid} of {len(payments)} stale payments paid")

    idle_rss = idle_process_rss(harness)
    limit = args.workers / (args.latency / 1000)
    baseline = statistics.mean(baseline_rates)
    synced, wall, peak = run.settled_per_second, run.wall, run.peak_rss_kb / 1024
    print_table(
        f"checkout_sync --workers {args.workers} over {args.n} stale payments, the "
        f"gateway {args.latency:g} ms away; {harness.describe()}, after a warm-up run",
        ("", "settled/s", "/ limit", "/ baseline", "wall s", "peak RSS MB"),
        [
            (f"limit: {args.workers} workers / {args.latency:g} ms", f"{limit:.0f}", "1.00x")
            + ("",) * 3,
            (
                f"baseline: {args.workers} threads, bare status queries",
                f"{baseline:.0f}",
                times(baseline / limit),
                "1.00x",
                "",
                "",
            ),
            (
                f"checkout_sync --workers {args.workers}",
                f"{synced:.0f}",
                times(synced / limit),
                times(synced / baseline),
                f"{wall:.1f}",
                f"{peak:.0f}",
            ),
        ],
        [
            "settled/s: checkout_sync's from its first to its last progress line (its wall "
            "time from process start to exit); the baseline's the mean of the runs just "
            f"before and after it, over {len(sample)} of the orders",
            f"peak RSS (VmHWM) of a process that only loads the project: "
            f"{idle_rss / 1024:.0f} MB; checkout_sync: {peak:.0f} MB "
            f"({times(peak * 1024 / idle_rss)})",
        ],
    )


def bare_queries(sandbox: Server, payments: list[Waiting], workers: int) -> float:
    """Status queries for ``payments`` from ``workers`` threads; queries per second."""
    path = "/payment/rest/getOrderStatusExtended.do"
    bodies = [
        urlencode(
            {
                "userName": MERCHANT_LOGIN,
                "password": MERCHANT_PASSWORD,
                "orderId": p.gateway_order_id,
            }
        ).encode()
        for p in payments
    ]

    def paid(content: bytes) -> bool:
        answer = json.loads(content)
        return bool(answer.get("errorCode") == "0" and answer.get("orderStatus") == 2)

    seconds, statuses, _ = fire(
        sandbox.origin, [path] * len(bodies), workers, bodies=bodies, check=paid
    )
    expect(set(statuses) == {200}, f"bare status queries: {dict(statuses)}")
    return len(bodies) / seconds


def checkout_sync(harness: Harness, sandbox: Server, workers: int) -> SyncRun:
    """One cron run of checkout_sync, its progress lines timed as they come."""
    env = harness.shop_env(sandbox, "http://127.0.0.1")
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "manage.py", "checkout_sync", "--workers", str(workers)]
    with (harness.tmp / "checkout_sync.log").open("ab") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
        with PeakMemory(process.pid) as memory:
            first = last = None
            progress = 0
            summary = None
            assert process.stdout is not None
            for line in process.stdout:
                now = time.perf_counter()
                if first is None and "to check" in line:
                    first = now
                elif line.startswith("["):
                    last, progress = now, progress + 1
                summary = _SUMMARY.search(line) or summary
            process.wait()
        wall = time.perf_counter() - started
        process.stdout.close()
    expect(process.returncode == 0, f"checkout_sync exited with {process.returncode}")
    expect(summary is not None and first is not None and last is not None, "no progress lines")
    assert summary is not None and first is not None and last is not None
    expect(summary.group(3) == "0", f"checkout_sync: {summary.group(0)}")
    rate = progress / (last - first) if last > first else float("nan")
    return SyncRun(rate, wall, memory.peak_kb, int(summary.group(1)))


class PeakMemory:
    """The high-water mark of a process's resident memory (VmHWM), sampled until it ends.

    Not the kernel's ru_maxrss of the child: on Linux that starts from the parent's
    resident memory at fork, here the harness's, which holds thousands of payments.
    """

    def __init__(self, pid: int) -> None:
        self.path = f"/proc/{pid}/status"
        self.peak_kb = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            try:
                with open(self.path) as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except (OSError, ValueError):
                return
            if self._done.wait(0.02):
                return

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def idle_process_rss(harness: Harness) -> int:
    """Peak RSS (KB) of a process that loads the project and the sync module, nothing more."""
    code = "import django, time; django.setup(); import checkout.sync; time.sleep(0.3)"
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=harness.env(harness.shop_db)
    )
    with PeakMemory(process.pid) as memory:
        process.wait()
    expect(process.returncode == 0, "the project could not be loaded")
    return memory.peak_kb


if __name__ == "__main__":
    parser = make_parser(__doc__.splitlines()[0], 2000, "stale payments in the backlog")
    parser.add_argument("--workers", type=int, default=8, help="checkout_sync --workers (8)")
    parser.add_argument(
        "--latency", type=float, default=50, help="simulated round trip to the gateway, ms (50)"
    )
    sys.exit(main("tests.benchmarks.bench_sync", parser, bench))
