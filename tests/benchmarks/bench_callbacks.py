"""What handling a gateway callback costs on top of the status query it causes.

Each notification is about a payment whose shopper passed 3-D Secure at the bank and
never came back to the shop, so the callback is what settles it. Baseline: the bare
getOrderStatusExtended.do of that payment with the gateway client. Measured, with
Django's test client: the signed notification GET to the callback view (stored,
checksum verified, status query, checked against the payment, AWAITING_3DS -> PAID,
history row, signals), then the same notification delivered again (a duplicate: stored,
verified, queried, nothing changes). The sandbox gateway answers over real HTTP.

    .venv/bin/python -m tests.benchmarks.bench_callbacks [--n 150] [--db auto|sqlite|postgres]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tests.benchmarks.harness import (
    QUERY_LEGEND,
    GatewayClock,
    Stopwatch,
    backend_name,
    count_queries,
    describe_queries,
    expect,
    main,
    print_table,
    ratio,
    run_rounds,
    served_project,
)

THREEDS = "4111111111111111"  # sandbox test card: 3-D Secure 2 frictionless, then approved
URL = "/checkout/callback/"

STATUS = "gateway client: status query"
FIRST = "callback view: first delivery"
REPEAT = "callback view: duplicate"
COUNTED_ROUNDS = 5


def bench(args: argparse.Namespace) -> None:
    from django.test import Client
    from django.urls import reverse

    from checkout.checksum import sign_hmac
    from checkout.conf import checkout_settings
    from checkout.gateway import CardData, get_client
    from checkout.models import Payment, PaymentStatus, StatusChange
    from checkout.sandbox.models import Order as BankOrder
    from checkout.sandbox.processing import start_acs
    from checkout.services import create_order, start_payment, submit_payment

    with served_project():
        client = get_client()
        clock = GatewayClock(client)
        secret = checkout_settings.CALLBACK_SECRETS[0]
        back_url = "http://testserver" + reverse("jcc_checkout:return")
        card = CardData(pan=THREEDS, cvc="123", expiry="203412", cardholder_name="Bench Shopper")
        http = Client(raise_request_exception=True)

        def waiting_payment() -> tuple[Payment, dict[str, str]]:
            """A payment paid at the bank that the shop still sees as AWAITING_3DS."""
            order = create_order(amount=1999, currency="EUR", description="Benchmark order")
            payment, _ = submit_payment(
                start_payment(order), back_url=back_url, fail_url=back_url, card=card
            )
            expect(payment.status == PaymentStatus.AWAITING_3DS, f"setup: {payment.status}")
            bank = start_acs(BankOrder.objects.get(pk=str(payment.gateway_order_id)))
            expect(bank.status == 2, f"setup: the bank's order is in status {bank.status}")
            params = {
                "mdOrder": str(payment.gateway_order_id),
                "orderNumber": payment.order_number,
                "operation": "deposited",
                "status": "1",
            }
            return payment, {**params, "checksum": sign_hmac(params, secret)}

        total = args.warmup + args.n + COUNTED_ROUNDS
        print(f"setting up {total} payments awaiting their callback...", flush=True)
        ready = [waiting_payment() for _ in range(total)]

        def status_query(payment: Payment) -> None:
            status = client.order_status(order_id=payment.gateway_order_id)
            expect(status.order_status == 2, f"status query: orderStatus {status.order_status}")

        def deliver(payment: Payment, params: dict[str, str]) -> None:
            response = http.get(URL, params)
            expect(response.status_code == 200, f"callback answered {response.status_code}")

        def check_paid(payment: Payment) -> None:
            payment.refresh_from_db()
            expect(payment.status == PaymentStatus.PAID, f"after the callback: {payment.status}")
            paid = StatusChange.objects.filter(payment=payment, to_status=PaymentStatus.PAID)
            expect(paid.count() == 1, f"{paid.count()} transitions to PAID")

        def one_round(i: int, watches: dict[str, Stopwatch]) -> None:
            payment, params = ready.pop()
            if i % 2:
                with watches[STATUS]:
                    status_query(payment)
            with watches[FIRST]:
                deliver(payment, params)
            check_paid(payment)
            with watches[REPEAT]:
                deliver(payment, params)
            check_paid(payment)
            if not i % 2:
                with watches[STATUS]:
                    status_query(payment)

        watches = run_rounds([STATUS, FIRST, REPEAT], args.n, args.warmup, one_round, clock)

        counts: dict[str, list[Any]] = {STATUS: [], FIRST: [], REPEAT: []}
        while ready:
            payment, params = ready.pop()
            counts[STATUS].append(count_queries(lambda: status_query(payment)))
            counts[FIRST].append(count_queries(lambda: deliver(payment, params)))
            counts[REPEAT].append(count_queries(lambda: deliver(payment, params)))
            check_paid(payment)
        for label, samples in counts.items():
            watches[label].queries = describe_queries(samples)

    status, first, repeat = watches[STATUS], watches[FIRST], watches[REPEAT]
    own = {label: (w.own_median or 0.0) * 1000 for label, w in watches.items()}
    print_table(
        f"Callback notifications, signed GET ({backend_name()}, {args.n} rounds after "
        f"{args.warmup} warm-up; own = time not spent waiting for the gateway)",
        [status, first, repeat],
        [
            f"first delivery / status query: {ratio(first, status)}",
            f"duplicate / status query:      {ratio(repeat, status)}",
            f"throughput, one client: {first.per_second:.0f} first deliveries/s, "
            f"{repeat.per_second:.0f} duplicates/s, {status.per_second:.0f} status queries/s",
            f"own time, first / duplicate / status query: {own[FIRST]:.2f} / "
            f"{own[REPEAT]:.2f} / {own[STATUS]:.2f} ms",
            QUERY_LEGEND,
        ],
    )


if __name__ == "__main__":
    sys.exit(main("tests.benchmarks.bench_callbacks", __doc__.splitlines()[0], 150, bench))
