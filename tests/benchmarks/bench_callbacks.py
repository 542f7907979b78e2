"""Callbacks under load: signed notifications fired at the gunicorn-served shop at once.

Each round makes 40 payments that the shop sees awaiting 3-D Secure and the bank has
paid (the shopper never came back), then fires 25 signed notifications for each, 1,000
in all, shuffled, from 16 concurrent clients on kept-alive connections, at the shop's
callback URL. Two baselines, each fired just before and just after the shop's batch with
the same 1,000 requests: a view that only answers 200 in a bare Django project (no
middleware, no database) served with the same gunicorn settings, and the demo's own view
that only answers 200 (its liveness check, ``/healthz/``), served by the same shop
processes with the same settings and middleware as the callback view.

Reported: callbacks per second and their ratio to each baseline; and correctness: every
payment paid with exactly one transition into paid, no answer other than 200, and how
many status queries the sandbox received for them (its access log), follow-ups included.

    .venv/bin/python -m tests.benchmarks.bench_callbacks [--n 1] [--payments 40]
        [--duplicates 25] [--clients 16] [--round-trip 0] [--db auto|sqlite|postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter

from tests.benchmarks.harness import (
    Harness,
    HttpTransport,
    PaymentFactory,
    Samples,
    Server,
    Waiting,
    cache_name,
    expect,
    fire,
    main,
    make_parser,
    ms,
    plural,
    print_table,
    served_count,
    shopper_address,
    times,
)

SHOP = "shop: callback view"
BASELINE = "baseline: view answering 200, bare project"
IN_SHOP = "baseline: view answering 200 in the shop"
#: Where each is fired: (which server, path before the notification's query string).
TARGETS = {
    BASELINE: ("naive", "/ok/?"),
    IN_SHOP: ("shop", "/healthz/?"),
    SHOP: ("shop", "/checkout/callback/?"),
}
STATUS = "getOrderStatusExtended.do"
#: Longest wait for deferred status queries (follow-ups) to be made after a round.
SETTLE_TIMEOUT = 60


def bench(args: argparse.Namespace, harness: Harness) -> None:
    sandbox = harness.sandbox(args.round_trip / 1000)
    shop = harness.shop(sandbox)
    naive = harness.naive(sandbox)
    harness.start(sandbox, shop, naive)
    factory = PaymentFactory(HttpTransport(shop.origin, shopper_address()), sandbox)
    shuffle = random.Random(20261203).shuffle

    servers = {"naive": naive, "shop": shop}
    rates: dict[str, list[float]] = {label: [] for label in TARGETS}
    latency = {label: Samples(label) for label in TARGETS}
    answers: dict[str, Counter[int]] = {label: Counter() for label in TARGETS}
    checked = Counter[str]()
    for i in range(args.warmup + args.n):
        timed = i >= args.warmup
        payments = factory.make(args.payments if timed else min(args.payments, 4))
        queries = [p.callback_query() for p in payments for _ in range(args.duplicates)]
        shuffle(queries)
        queried_before = served_count(sandbox, STATUS, wait=0)
        # The baselines bracket the shop's batch: once just before it, once just after.
        for label in (BASELINE, IN_SHOP, SHOP, IN_SHOP, BASELINE):
            server, path = TARGETS[label]
            origin = servers[server].origin
            seconds, statuses, each = fire(origin, [path + q for q in queries], args.clients)
            if timed:
                rates[label].append(len(queries) / seconds)
                latency[label].seconds.extend(each)
                answers[label].update(statuses)
            expect(set(statuses) == {200}, f"{label}: answers {dict(statuses)}")
        settle(payments, sandbox)
        if timed:
            checked["payments"] += len(payments)
            checked["status queries"] += served_count(sandbox, STATUS, wait=0) - queried_before
            checked.update(check(payments))

    report(args, harness, rates, latency, answers, checked)


def settle(payments: list[Waiting], sandbox: Server) -> None:
    """Wait for every payment to be paid and the status queries to stop (follow-ups)."""
    from checkout.models import Payment

    pks = [p.pk for p in payments]
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        if not Payment.objects.filter(pk__in=pks).exclude(status="paid").exists():
            break
        time.sleep(0.2)
    # Deferred queries come at the end of their interval: wait until none came for 3 s.
    last, quiet_since = served_count(sandbox, STATUS, wait=0), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < 3:
        time.sleep(0.25)
        now = served_count(sandbox, STATUS, wait=0)
        if now != last:
            last, quiet_since = now, time.monotonic()


def check(payments: list[Waiting]) -> Counter[str]:
    from django.db.models import Count, Q

    from checkout.models import Payment

    rows = (
        Payment.objects.filter(pk__in=[p.pk for p in payments])
        .annotate(into_paid=Count("history", filter=Q(history__to_status="paid")))
        .values_list("status", "into_paid")
    )
    counted: Counter[str] = Counter()
    for status, into_paid in rows:
        counted["paid"] += status == "paid"
        counted["exactly one transition into paid"] += into_paid == 1
    return counted


def report(
    args: argparse.Namespace,
    harness: Harness,
    rates: dict[str, list[float]],
    latency: dict[str, Samples],
    answers: dict[str, Counter[int]],
    checked: Counter[str],
) -> None:
    base = statistics.median(rates[BASELINE])
    in_shop = statistics.median(rates[IN_SHOP])
    rows = []
    for label in (BASELINE, IN_SHOP, SHOP):
        rate = statistics.median(rates[label])
        non_200 = sum(n for status, n in answers[label].items() if status != 200)
        rows.append(
            (
                label,
                f"{rate:.0f}",
                times(rate / base),
                times(rate / in_shop),
                ms(latency[label].median),
                ms(latency[label].p95),
                str(non_200),
            )
        )
    total = args.payments * args.duplicates
    payments = checked["payments"]
    queries = checked["status queries"]
    print_table(
        f"Callbacks: {args.payments} payments x {args.duplicates} deliveries = {total} signed "
        f"GETs from {args.clients} clients, simulated round trip {args.round_trip:g} ms; "
        f"{harness.describe()}, {cache_name()}, {plural(args.n, 'round')} after "
        f"{args.warmup} warm-up",
        ("", "callbacks/s", "/ bare", "/ in shop", "median ms", "p95 ms", "non-200"),
        rows,
        [
            f"shop / bare project's view: {times(statistics.median(rates[SHOP]) / base)}; "
            f"shop / the shop's own view: {times(statistics.median(rates[SHOP]) / in_shop)} "
            "(callbacks/s: median of the batches; latency: each request of all batches)",
            f"correctness over {payments} payments: {checked['paid']} paid, "
            f"{checked['exactly one transition into paid']} with exactly one transition into "
            f"paid; status queries the sandbox received: {queries} "
            f"({queries / payments:.2f} per payment, {queries / (payments * args.duplicates):.3f}"
            " per callback)",
        ],
    )
    expect(checked["paid"] == payments, "not every payment was paid")
    expect(checked["exactly one transition into paid"] == payments, "a payment was paid twice")


if __name__ == "__main__":
    parser = make_parser(__doc__.splitlines()[0], 1, "timed rounds")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--payments", type=int, default=40, help="payments per round (40)")
    parser.add_argument("--duplicates", type=int, default=25, help="deliveries per payment (25)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument(
        "--round-trip", type=float, default=0, help="simulated round trip to the gateway, ms (0)"
    )
    sys.exit(main("tests.benchmarks.bench_callbacks", parser, bench))
