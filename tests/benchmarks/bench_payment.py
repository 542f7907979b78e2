"""What the checkout costs on top of the gateway's round trips, per approved card payment.

Baseline: the gateway client alone does what an approved payment needs at the gateway,
instantPayment.do then the confirming getOrderStatusExtended.do, once with the card
fields and once with a seToken (which is what the app sends when the gateway publishes
a key, as the sandbox does). Measured: the same payment through the app with Django's
test client: ``create_order()``, then the card form POSTed to the order's signed link,
which runs the access check, form validation, the attempt limits, the claim
transaction, instantPayment.do, the status query, the transitions with their history
rows and the signals. The sandbox gateway answers both over real HTTP from this process.

    .venv/bin/python -m tests.benchmarks.bench_payment [--n 80] [--db auto|sqlite|postgres]
"""

from __future__ import annotations

import argparse
import itertools
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

APPROVES = "4444555511113333"  # sandbox test card: approved without 3-D Secure
CVC = "123"
EXPIRY = "203412"
HOLDER = "Bench Shopper"
EMAIL = "shopper@example.com"
AMOUNT = 1999
DESCRIPTION = "Benchmark order"
FORM = {"cardholder_name": HOLDER, "pan": APPROVES, "expiry": "12/34", "cvc": CVC}

CARD_FIELDS = "gateway client, card fields"
SETOKEN = "gateway client, seToken"
APP = "app: create_order + card POST"
#: Query counts come from a few extra rounds after the timed ones.
COUNTED_ROUNDS = 5


def bench(args: argparse.Namespace) -> None:
    from django.test import Client
    from django.urls import reverse

    from checkout.access import signed_url
    from checkout.conf import checkout_settings
    from checkout.gateway import CardData, get_client
    from checkout.models import Exchange, Order, PaymentStatus
    from checkout.services import create_order, new_order_number
    from checkout.setoken import build_setoken, current_public_key

    with served_project():
        client = get_client()
        clock = GatewayClock(client)
        # The app builds its return URL from the request: the test client's host.
        back_url = "http://testserver" + reverse("jcc_checkout:return")
        key = current_public_key()
        expect(bool(key), "the sandbox published no seToken key")
        http = Client(raise_request_exception=True)
        # A new client address per payment keeps the attempt limits counting without
        # ever refusing one.
        addresses = (f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in itertools.count(1))

        def direct(*, token: bool) -> Any:
            card = CardData(pan=APPROVES, cvc=CVC, expiry=EXPIRY, cardholder_name=HOLDER)
            result = client.instant_payment(
                order_number=new_order_number(),
                amount=AMOUNT,
                currency="EUR",
                description=DESCRIPTION,
                language="en",
                back_url=back_url,
                fail_url=back_url + "?failed=1",
                card=None if token else card,
                se_token=build_setoken(card, str(key)) if token else None,
                cardholder_name=HOLDER,
                email=EMAIL,
                ip="10.0.0.1",
                session_timeout=checkout_settings.SESSION_TIMEOUT,
            )
            return client.order_status(order_id=result.order_id)

        def new_order(address: str) -> Order:
            return create_order(
                amount=AMOUNT,
                currency="EUR",
                description=DESCRIPTION,
                email=EMAIL,
                ip=address,
                language="en",
            )

        def card_post(order: Order, address: str) -> Any:
            return http.post(signed_url(order), FORM, REMOTE_ADDR=address)

        def check_direct(status: Any) -> None:
            expect(status.order_status == 2, f"gateway client: orderStatus {status.order_status}")

        def check_app(order: Order, response: Any) -> None:
            payment = order.payments.get()
            expect(response.status_code == 303, f"card POST answered {response.status_code}")
            expect(payment.status == PaymentStatus.PAID, f"app: payment {payment.status}")

        def one_round(i: int, watches: dict[str, Stopwatch]) -> None:
            cases = [CARD_FIELDS, SETOKEN, APP]
            shift = i % len(cases)
            for label in cases[shift:] + cases[:shift]:
                if label == APP:
                    address = next(addresses)
                    with watches[APP]:
                        order = new_order(address)
                        response = card_post(order, address)
                    check_app(order, response)
                else:
                    with watches[label]:
                        status = direct(token=label == SETOKEN)
                    check_direct(status)

        watches = run_rounds([CARD_FIELDS, SETOKEN, APP], args.n, args.warmup, one_round, clock)

        counts: dict[str, list[Any]] = {CARD_FIELDS: [], SETOKEN: [], APP: [], "post": []}
        exchanges: list[int] = []
        for _ in range(COUNTED_ROUNDS):
            counts[CARD_FIELDS].append(count_queries(lambda: direct(token=False)))
            counts[SETOKEN].append(count_queries(lambda: direct(token=True)))
            address = next(addresses)
            box: list[Any] = []
            counts[APP].append(count_queries(lambda: box.append(new_order(address))))
            order = box[0]
            counts["post"].append(count_queries(lambda: box.append(card_post(order, address))))
            counts[APP][-1].update(counts["post"][-1])
            check_app(order, box[1])
            exchanges.append(Exchange.objects.filter(payment__order=order).count())
        for label in (CARD_FIELDS, SETOKEN, APP):
            watches[label].queries = describe_queries(counts[label])

    app, token, fields = watches[APP], watches[SETOKEN], watches[CARD_FIELDS]
    app_own, token_own = app.own_median or 0.0, token.own_median or 0.0
    calls = sorted(set(exchanges))
    print_table(
        f"Approved card payment, no 3-D Secure ({backend_name()}, {args.n} rounds "
        f"after {args.warmup} warm-up; own = time not spent waiting for the gateway)",
        [fields, token, app],
        [
            f"app / client with seToken (the same gateway work): {ratio(app, token)}",
            f"app / client with card fields:                     {ratio(app, fields)}",
            f"own time, app / client with seToken: {app_own * 1000:.2f} / "
            f"{token_own * 1000:.2f} ms = {app_own / token_own:.1f}x; "
            f"app's own share of its payment: {app_own / app.median:.0%}",
            f"SQL statements of the card POST alone: {describe_queries(counts['post'])}",
            f"gateway calls per payment: app {'-'.join(map(str, calls))}, client 2",
            QUERY_LEGEND,
        ],
    )


if __name__ == "__main__":
    sys.exit(main("tests.benchmarks.bench_payment", __doc__.splitlines()[0], 80, bench))
