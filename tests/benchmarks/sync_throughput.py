"""How fast ``checkout_sync`` settles a backlog when each status query takes its time.

Sets up N stale payments, each registered at the sandbox gateway by the real card flow
and then left alone for an hour: half paid at the bank (3-D Secure passed, the shopper
never came back), a quarter still waiting for 3-D Secure, a quarter with an unknown
outcome (the sandbox carried the payment out and dropped the connection). The sandbox,
served over real HTTP from a thread of this process, then holds every
getOrderStatusExtended.do for ``--latency`` seconds (its "latency" fault, switched on
for that method only), and ``checkout.sync.run()`` settles the backlog with ``--workers``
threads.

The sandbox answers from a process of its own by default (``--gateway process``), as the
real gateway does from another machine: its CPU time then does not compete with the
sync's for this process's interpreter lock. ``--gateway thread`` serves it from a thread
of this process instead. Both share the throwaway database.

Figures, all from this run: payments settled per second against the ceiling
``workers / latency``, and against a baseline measured first: the same number of
``--workers`` threads doing nothing but status queries with the gateway client (the
sandbox answering from this process costs CPU time too). Peak memory is the growth of the
process's resident set over the run (VmHWM, reset before it) and the peak of Python
allocations (tracemalloc) in a second, smaller run: tracing slows Python down, so it is
not part of the timed one.

    .venv/bin/python -m tests.benchmarks.sync_throughput [--payments 2000] [--workers 8]
        [--latency 0.05] [--db auto|sqlite|postgres]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.benchmarks.harness import BACKENDS, backend_name, expect, served_project

PAID_AT_BANK = "4111111111111111"  # 3-D Secure 2 frictionless, then approved
APPROVES = "4444555511113333"  # approved without 3-D Secure
DROPPED_AFTER = 9999  # sandbox: carried out, then the connection is dropped
AGE = timedelta(hours=1)
MODULE = "tests.benchmarks.sync_throughput"
ROOT = Path(__file__).resolve().parents[2]
#: The smaller backlog of the traced (tracemalloc) run.
TRACED_PAYMENTS = 200


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=2000, help="backlog (default 2000)")
    parser.add_argument("--workers", type=int, default=8, help="sync workers (default 8)")
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds per status query (default 0.05)"
    )
    parser.add_argument(
        "--db",
        choices=("auto", *BACKENDS),
        default="auto",
        help="auto (default): SQLite, then PostgreSQL as well when DATABASE_URL names one",
    )
    parser.add_argument(
        "--gateway",
        choices=("process", "thread"),
        default="process",
        help="where the sandbox runs (default: a process of its own)",
    )
    parser.add_argument("--serve-gateway", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.payments < 4 or args.workers < 1 or args.latency <= 0:
        parser.error("needs --payments >= 4, --workers >= 1 and --latency > 0")
    return args


def _postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.split(":", 1)[0] in ("postgres", "postgresql", "pgsql") else ""


def _setup_django(backend: str) -> None:
    if backend == "postgres":
        if not _postgres_url():
            sys.exit("--db postgres needs DATABASE_URL=postgres://user@host:port/name")
    else:
        path = os.path.join(tempfile.gettempdir(), f"checkout-sync-bench-{os.getpid()}.sqlite3")
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}"


def serve_gateway(port: int) -> None:
    """The child of ``--gateway process``: the sandbox alone, until terminated."""
    import signal

    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    from checkout.sandbox.server import SandboxWSGIHandler

    class QuietHandler(WSGIRequestHandler):
        # As in the harness: without it the body of each answer waits for a delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", port), QuietHandler, allow_reuse_address=False)
    server.set_app(SandboxWSGIHandler())
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever(poll_interval=0.05)
    server.server_close()


@contextmanager
def gateway(kind: str, latency: float) -> Iterator[None]:
    """The client pointed at the sandbox, served from a thread or from a process."""
    from django.conf import settings
    from django.test.utils import override_settings

    from checkout.gateway import reset_client
    from checkout.sandbox import defaults

    sandbox = {"CALLBACK_DELIVERY": "off", "FAULT_LATENCY": latency}
    if kind == "thread":
        with override_settings(CHECKOUT_SANDBOX=sandbox):
            yield
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": _database_url(), "SANDBOX_FAULT_LATENCY": str(latency)}
    command = [sys.executable, "-m", MODULE, "--serve-gateway", str(port)]
    child = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            expect(child.poll() is None, "the sandbox process exited")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                expect(time.monotonic() < deadline, "the sandbox process is not listening")
                time.sleep(0.05)
        checkout = {
            **settings.CHECKOUT,
            "GATEWAY_URL": f"http://127.0.0.1:{port}/payment/",
            "USERNAME": defaults.MERCHANT_LOGIN,
            "PASSWORD": defaults.MERCHANT_PASSWORD,
        }
        reset_client()
        try:
            with override_settings(CHECKOUT=checkout, CHECKOUT_SANDBOX=sandbox):
                yield
        finally:
            reset_client()
    finally:
        child.terminate()
        child.wait(30)


def _peak_rss_kib() -> int:
    with open("/proc/self/status") as status:
        match = re.search(r"VmHWM:\s+(\d+)", status.read())
    return int(match.group(1)) if match else 0


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def make_backlog(count: int) -> list[int]:
    """``count`` payments the shop last saw an hour ago; their pks."""
    from django.urls import reverse
    from django.utils import timezone

    from checkout.cards import CardData
    from checkout.models import Payment, PaymentStatus
    from checkout.sandbox.models import Order as BankOrder
    from checkout.sandbox.processing import start_acs
    from checkout.services import create_order, start_payment, submit_payment

    S = PaymentStatus
    back = "http://testserver" + reverse("jcc_checkout:return")
    pks = []
    for i in range(count):
        kind = i % 4
        if kind == 3:
            card = CardData(pan=APPROVES, cvc="123", expiry="203412")
            amount, expected = DROPPED_AFTER, S.OUTCOME_UNKNOWN
        else:
            card = CardData(pan=PAID_AT_BANK, cvc="123", expiry="203412")
            amount, expected = 1999, S.AWAITING_3DS
        order = create_order(amount=amount, currency="EUR", description="Sync benchmark")
        payment, _ = submit_payment(start_payment(order), back_url=back, fail_url=back, card=card)
        expect(payment.status == expected, f"setup: payment {payment.pk} is {payment.status}")
        if kind in (0, 1):
            start_acs(BankOrder.objects.get(pk=str(payment.gateway_order_id)))
        pks.append(payment.pk)
    Payment.objects.filter(pk__in=pks).update(created_at=timezone.now() - AGE)
    return pks


def slow_status_queries(latency: float) -> None:
    """The sandbox holds every getOrderStatusExtended.do ``latency`` seconds from now on."""
    from checkout.sandbox.models import Fault, Merchant

    Merchant.objects.filter(pk=Merchant.objects.default().pk).update(
        fault=Fault.LATENCY, fault_endpoints="getOrderStatusExtended.do", fault_remaining=None
    )


def gateway_alone(pks: list[int], workers: int) -> tuple[float, float]:
    """Status queries per second of ``workers`` threads with the gateway client, no sync,
    and this process's CPU milliseconds per query."""
    from django.db import connection

    from checkout.gateway import get_client
    from checkout.models import Payment

    # By the gateway's order id where the shop learnt it, else by order number, as the sync.
    keys = list(Payment.objects.filter(pk__in=pks).values_list("gateway_order_id", "order_number"))
    client = get_client()
    lock = threading.Lock()
    todo = iter(keys)
    answered: list[int] = []

    def worker() -> None:
        try:
            while True:
                with lock:
                    key = next(todo, None)
                if key is None:
                    return
                order_id, order_number = key
                if order_id:
                    status = client.order_status(order_id=str(order_id))
                else:
                    status = client.order_status(order_number=order_number)
                with lock:
                    answered.append(status.order_status)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    expect(len(answered) == len(keys), f"{len(answered)} of {len(keys)} answered")
    return len(keys) / elapsed, cpu * 1000 / len(keys)


def settle_backlog(
    pks: list[int], workers: int, *, aside: list[int], traced: bool = False
) -> dict[str, Any]:
    """One sync run over ``pks``; the payments ``aside`` are leased away meanwhile."""
    from django.utils import timezone

    from checkout import sync
    from checkout.models import Payment, PaymentStatus

    S = PaymentStatus
    options = sync.Options(older_than=timedelta(minutes=10), workers=workers, report=False)
    Payment.objects.filter(pk__in=aside).update(lease_until=timezone.now() + timedelta(days=1))
    rss_reset = _reset_peak_rss()
    rss_before = _peak_rss_kib()
    if traced:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    summary = sync.run(options)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    traced_peak = tracemalloc.get_traced_memory()[1] if traced else 0
    if traced:
        tracemalloc.stop()
    rss_growth = _peak_rss_kib() - rss_before if rss_reset else -1
    Payment.objects.filter(pk__in=aside).update(lease_until=None)
    expect(summary.checked == len(pks), f"checked {summary.checked} of {len(pks)}")
    expect(summary.failed == 0, f"{summary.failed} payment(s) failed")
    statuses = dict.fromkeys(Payment.objects.filter(pk__in=pks).values_list("status", flat=True))
    expect(set(statuses) == {S.PAID, S.AWAITING_3DS}, f"settled into {sorted(statuses)}")
    return {
        "checked": summary.checked,
        "changed": summary.changed,
        "seconds": elapsed,
        "rate": summary.checked / elapsed,
        "cpu_ms": cpu * 1000 / summary.checked,
        "rss_kib": rss_growth,
        "traced_kib": traced_peak // 1024,
    }


def bench(args: argparse.Namespace) -> None:
    with served_project(), gateway(args.gateway, args.latency):
        started = time.perf_counter()
        pks = make_backlog(args.payments)
        traced_pks = make_backlog(TRACED_PAYMENTS)
        setup = time.perf_counter() - started
        slow_status_queries(args.latency)
        ceiling = args.workers / args.latency
        # Before and after the timed run, so that a change in the machine's load shows.
        baselines = [gateway_alone(pks, args.workers)]
        timed = settle_backlog(pks, args.workers, aside=traced_pks)
        baselines.append(gateway_alone(pks, args.workers))
        traced = settle_backlog(traced_pks, args.workers, aside=pks, traced=True)
    baseline = statistics.mean(rate for rate, _ in baselines)
    baseline_cpu = statistics.mean(cpu for _, cpu in baselines)

    print(
        f"\ncheckout_sync on {backend_name()}: {args.payments} stale payments, "
        f"--workers {args.workers}, status queries held {args.latency * 1000:.0f} ms "
        f"by the sandbox in a {args.gateway} of its own (backlog set up in {setup:.0f} s)"
    )
    print(
        f"  settled: {timed['checked']} in {timed['seconds']:.2f} s "
        f"({timed['changed']} changed) = {timed['rate']:.1f}/s"
    )
    print(f"  ceiling workers/latency: {ceiling:.0f}/s  -> ratio {timed['rate'] / ceiling:.2f}")
    print(
        f"  baseline, {args.workers} threads of bare status queries: {baseline:.1f}/s "
        f"({baselines[0][0]:.1f} before, {baselines[1][0]:.1f} after) "
        f"-> ratio {timed['rate'] / baseline:.2f}"
    )
    print(
        f"  CPU time of this process: {timed['cpu_ms']:.1f} ms per payment settled, "
        f"{baseline_cpu:.1f} ms per bare status query"
    )
    rss = "n/a" if timed["rss_kib"] < 0 else f"{timed['rss_kib'] / 1024:.1f} MiB"
    print(f"  peak resident-set growth over the run: {rss}")
    print(
        f"  peak Python allocations (tracemalloc, {TRACED_PAYMENTS} payments, untimed): "
        f"{traced['traced_kib'] / 1024:.1f} MiB"
    )
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_gateway is not None:
        serve_gateway(args.serve_gateway)
        return 0
    if args.db != "auto":
        _setup_django(args.db)
        bench(args)
        return 0
    status = 0
    for backend in ["sqlite", "postgres"] if _postgres_url() else ["sqlite"]:
        # One process per database: Django reads DATABASES once, when it starts.
        command = [sys.executable, "-m", MODULE, "--db", backend]
        command += ["--payments", str(args.payments), "--workers", str(args.workers)]
        command += ["--latency", str(args.latency), "--gateway", args.gateway]
        sys.stdout.flush()
        status = subprocess.run(command, check=False, cwd=ROOT).returncode or status
    return status


if __name__ == "__main__":
    sys.exit(main())
