"""checkout_sync over a backlog of stale payments, against the limit of its workers.

Each round leaves N payments that the shop sees awaiting 3-D Secure since an hour ago
and the bank has paid (callbacks and returns all lost), with the sandbox gateway
answering each request after one simulated 50 ms round trip (two more on a new
connection). Measured: ``manage.py checkout_sync --workers 8`` as cron runs it, a process
of its own: payments settled per second from its "N payment(s) to check" line to its last
progress line, the whole run's wall time, its peak resident memory (the kernel's
ru_maxrss). Every payment must end paid.

Limit: workers / latency, the most that many queries in flight can settle. Baseline,
measured in the same rounds: 8 threads on kept-alive connections asking
``getOrderStatusExtended.do`` for the same orders and nothing else, which is what the
limit comes to on this machine, the sandbox's own work included.

    .venv/bin/python -m tests.benchmarks.bench_sync [--n 2] [--backlog 2000] [--workers 8]
        [--latency 50] [--db auto|sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
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

    baseline_rates: list[float] = []
    runs: list[SyncRun] = []
    for i in range(args.warmup + args.n):
        timed = i >= args.warmup
        payments = factory.make(args.backlog if timed else min(args.backlog, 40), created_at=stale)
        for which in ("sync", "baseline") if i % 2 == 0 else ("baseline", "sync"):
            if which == "baseline":
                rate = bare_queries(sandbox, payments, args.workers)
                if timed:
                    baseline_rates.append(rate)
            else:
                run = checkout_sync(harness, sandbox, args.workers)
                expect(run.checked >= len(payments), f"checkout_sync checked {run.checked}")
                if timed:
                    runs.append(run)
        paid = Payment.objects.filter(pk__in=[p.pk for p in payments], status="paid").count()
        expect(paid == len(payments), f"{paid} of {len(payments)} stale payments paid")

    idle_rss = idle_process_rss(harness)
    limit = args.workers / (args.latency / 1000)
    baseline = statistics.median(baseline_rates)
    synced = statistics.median(run.settled_per_second for run in runs)
    wall = statistics.median(run.wall for run in runs)
    peak = max(run.peak_rss_kb for run in runs) / 1024
    print_table(
        f"checkout_sync --workers {args.workers} over {args.backlog} stale payments, the "
        f"gateway {args.latency:g} ms away; {harness.describe()}, {args.n} rounds after "
        f"{args.warmup} warm-up",
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
            "settled/s: medians of the rounds; checkout_sync's from its first to its last "
            "progress line, its wall time from process start to exit",
            f"peak RSS of a process that only loads the project: {idle_rss / 1024:.0f} MB; "
            f"checkout_sync: {peak:.0f} MB ({times(peak * 1024 / idle_rss)})",
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
    log = (harness.tmp / "checkout_sync.log").open("ab")
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1
    )
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
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    log.close()
    expect(process.returncode == 0, f"checkout_sync exited with {process.returncode}")
    expect(summary is not None and first is not None and last is not None, "no progress lines")
    assert summary is not None and first is not None and last is not None
    expect(summary.group(3) == "0", f"checkout_sync: {summary.group(0)}")
    return SyncRun(progress / (last - first), wall, usage.ru_maxrss, int(summary.group(1)))


def idle_process_rss(harness: Harness) -> int:
    """Peak RSS (KB) of a process that loads the project and the sync module, nothing more."""
    code = "import django; django.setup(); import checkout.sync"
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=harness.env(harness.shop_db)
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    expect(process.returncode == 0, "the project could not be loaded")
    return int(usage.ru_maxrss)


if __name__ == "__main__":
    parser = make_parser(__doc__.splitlines()[0], 2, "timed rounds")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--backlog", type=int, default=2000, help="stale payments (2000)")
    parser.add_argument("--workers", type=int, default=8, help="checkout_sync --workers (8)")
    parser.add_argument(
        "--latency", type=float, default=50, help="simulated round trip to the gateway, ms (50)"
    )
    sys.exit(main("tests.benchmarks.bench_sync", parser, bench))
