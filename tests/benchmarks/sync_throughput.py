"""How fast ``checkout_sync`` settles a backlog when each status query takes its time.

Sets up N stale payments, each registered at the sandbox gateway by the real card flow
and then left alone for an hour: half paid at the bank (3-D Secure passed, the shopper
never came back), a quarter still waiting for 3-D Secure, a quarter with an unknown
outcome (the sandbox carried the payment out and dropped the connection). Every
getOrderStatusExtended.do is then held ``--latency`` seconds, and ``checkout.sync.run()``
settles the backlog with ``--workers`` threads. Where the gateway runs (``--gateway``):

- ``process`` (default): the sandbox over real HTTP from a process of its own, holding the
  status queries with its "latency" fault (switched on for that method only). Its CPU
  time does not compete with the sync's for this process's interpreter lock, but it
  does for the machine's cores: the sandbox opens a database connection per request.
- ``thread``: the same sandbox from a thread of this process.
- ``replay``: a process of its own that answers from memory after ``--latency`` seconds,
  with each order's answer built once by the sandbox's own ``status_payload()`` after the
  backlog is set up: next to no CPU time per query, like a gateway on another machine.

The sandbox shares the throwaway database with the app in every mode.

Figures, all from this run: payments settled per second against the ceiling
``workers / latency``, and against a baseline measured before and after the timed run:
the same number of ``--workers`` threads doing nothing but status queries with the
gateway client, so what the gateway and the machine allow shows. This process's CPU time
per payment and per bare query. Peak memory: the growth of the process's resident set
over the run (VmHWM, reset before it) and the peak of Python allocations (tracemalloc) in
a second, smaller run: tracing slows Python down, so it is not part of the timed one.

    .venv/bin/python -m tests.benchmarks.sync_throughput [--payments 2000] [--workers 8]
        [--latency 0.05] [--gateway process|thread|replay] [--db auto|sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
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
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

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
        choices=("process", "thread", "replay"),
        default="process",
        help="process (default): the sandbox in a process of its own; thread: in this "
        "process; replay: its status answers, built once, replayed by a process of its own",
    )
    parser.add_argument("--serve-gateway", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-replay", type=int, metavar="PORT", help=argparse.SUPPRESS)
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


def serve_replay(port: int, latency: float) -> None:
    """The child of ``--gateway replay``: the sandbox's status answers, replayed.

    Each order's getOrderStatusExtended.do answer is built once, by the sandbox's own
    ``status_payload()``, when the process starts (the backlog is set up by then and the
    bank's side of it does not change during the run); each query is then answered from
    memory after ``latency`` seconds. The gateway's CPU time per query is next to none.
    """
    import signal

    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.db import connection

    from checkout.sandbox.api import status_payload
    from checkout.sandbox.models import Order

    answers: dict[tuple[str, str], bytes] = {}
    for order in Order.objects.prefetch_related("operations"):
        body = json.dumps(status_payload(order)).encode()
        answers["orderId", str(order.id)] = body
        answers["orderNumber", order.order_number] = body
    connection.close()
    unknown = json.dumps({"errorCode": "6", "errorMessage": "Unknown order id"}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            if not self.path.endswith("/getOrderStatusExtended.do"):
                self.send_error(404)
                return
            if form.get("orderId"):
                body = answers.get(("orderId", form["orderId"]), unknown)
            else:
                body = answers.get(("orderNumber", form.get("orderNumber", "")), unknown)
            time.sleep(latency)
            self.send_response(200)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever(poll_interval=0.05)
    server.server_close()


@contextmanager
def child_server(option: str, latency: float) -> Iterator[int]:
    """This module in a process of its own with ``option PORT``; yields the port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": _database_url(), "SANDBOX_FAULT_LATENCY": str(latency)}
    command = [sys.executable, "-m", MODULE, option, str(port), "--latency", str(latency)]
    child = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 300
        while True:
            expect(child.poll() is None, "the gateway process exited")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                expect(time.monotonic() < deadline, "the gateway process is not listening")
                time.sleep(0.05)
        yield port
    finally:
        child.terminate()
        child.wait(30)


@contextmanager
def client_at(port: int) -> Iterator[None]:
    """The app's gateway client pointed at 127.0.0.1:``port``."""
    from django.conf import settings
    from django.test.utils import override_settings

    from checkout.gateway import reset_client
    from checkout.sandbox import defaults

    checkout = {
        **settings.CHECKOUT,
        "GATEWAY_URL": f"http://127.0.0.1:{port}/payment/",
        "USERNAME": defaults.MERCHANT_LOGIN,
        "PASSWORD": defaults.MERCHANT_PASSWORD,
    }
    reset_client()
    try:
        with override_settings(CHECKOUT=checkout):
            yield
    finally:
        reset_client()


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
    from django.test.utils import override_settings

    sandbox = {"CALLBACK_DELIVERY": "off", "FAULT_LATENCY": args.latency}
    with served_project(), override_settings(CHECKOUT_SANDBOX=sandbox), ExitStack() as stack:
        if args.gateway == "process":
            stack.enter_context(
                client_at(stack.enter_context(child_server("--serve-gateway", args.latency)))
            )
        started = time.perf_counter()
        pks = make_backlog(args.payments)
        traced_pks = make_backlog(TRACED_PAYMENTS)
        setup = time.perf_counter() - started
        if args.gateway == "replay":
            port = stack.enter_context(child_server("--serve-replay", args.latency))
            stack.enter_context(client_at(port))
        else:
            slow_status_queries(args.latency)
        ceiling = args.workers / args.latency
        # Before and after the timed run, so that a change in the machine's load shows.
        baselines = [gateway_alone(pks, args.workers)]
        timed = settle_backlog(pks, args.workers, aside=traced_pks)
        baselines.append(gateway_alone(pks, args.workers))
        traced = settle_backlog(traced_pks, args.workers, aside=pks, traced=True)
    baseline = statistics.mean(rate for rate, _ in baselines)
    baseline_cpu = statistics.mean(cpu for _, cpu in baselines)
    where = {
        "process": "the sandbox in a process of its own",
        "thread": "the sandbox in a thread of this process",
        "replay": "the sandbox's answers replayed by a process of its own",
    }[args.gateway]

    print(
        f"\ncheckout_sync on {backend_name()}: {args.payments} stale payments, "
        f"--workers {args.workers}, status queries held {args.latency * 1000:.0f} ms "
        f"by {where} (backlog set up in {setup:.0f} s)"
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
    if args.serve_replay is not None:
        serve_replay(args.serve_replay, args.latency)
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
