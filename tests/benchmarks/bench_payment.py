"""The card POST of an approved payment: the shop against a naive gateway integration.

Measured: a shopper's card POST to the shop's real card page, served by gunicorn (the
order placed before through the demo's cart, the seToken built from the key on the page
as the page's script builds it), up to the shop's 303 answer: access check, form,
attempt limits, the claim, ``instantPayment.do``, whatever the shop then does to be sure
of the payment, the transitions and their history. The payment must end PAID.

Baseline: the naive integration RBS-family plugins amount to (tests/benchmarks/
naive_app.py): one view, one ``requests.post`` to ``instantPayment.do`` on a new
connection, nothing stored, the shopper redirected where the answer says. Limit: the
same view over a kept-alive connection, one round trip on a warm connection, which no
integration that calls the gateway once per payment can beat.

Each simulated round trip has its own sandbox, shop and baseline servers; all run at
once, and every round pays once through each of them in a rotating order.

    .venv/bin/python -m tests.benchmarks.bench_payment [--n 40] [--round-trips 0,30]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from tests.benchmarks.harness import (
    APPROVES,
    PRODUCT_AMOUNT,
    Harness,
    HttpTransport,
    Samples,
    Server,
    cache_name,
    expect,
    main,
    make_parser,
    ms,
    open_card_page,
    payment_public_id,
    plural,
    print_table,
    rotated,
    served_count,
    setoken_form,
    shopper_address,
    times,
)

NAIVE = "naive integration: one call, new connection"
LIMIT = "limit: one call on a warm connection"
SHOP = "shop: card POST (seToken)"


@dataclass
class Stack:
    round_trip: float
    sandbox: Server
    shop: Server
    naive: Server
    key: str = ""

    def __post_init__(self) -> None:
        self.samples = {label: Samples(label) for label in (NAIVE, LIMIT, SHOP)}


def bench(args: argparse.Namespace, harness: Harness) -> None:
    from checkout.models import Payment

    stacks = []
    for round_trip in args.round_trips:
        sandbox = harness.sandbox(round_trip)
        stacks.append(Stack(round_trip, sandbox, harness.shop(sandbox), harness.naive(sandbox)))
    harness.start(*(s for stack in stacks for s in (stack.sandbox, stack.shop, stack.naive)))

    def shop_payment(stack: Stack, samples: Samples) -> None:
        browser = HttpTransport(stack.shop.origin, shopper_address())
        page = open_card_page(browser)
        stack.key = page.setoken_key
        form = {"csrfmiddlewaretoken": page.csrf, **setoken_form(APPROVES, page.setoken_key)}
        answer = samples.time(lambda: browser.post(page.path, form))
        browser.close()
        expect(answer.status == 303, f"card POST answered {answer.status}")
        status = (
            Payment.objects.filter(public_id=payment_public_id(answer.location))
            .values_list("status", flat=True)
            .first()
        )
        expect(status == "paid", f"shop: payment {status}")

    def naive_payment(stack: Stack, path: str, samples: Samples) -> None:
        browser = HttpTransport(stack.naive.origin, shopper_address())
        # The browser's connection is open, as it is on the shop's card page.
        browser.get("/ok/")
        form = {**setoken_form(APPROVES, stack.key), "amount": str(PRODUCT_AMOUNT)}
        answer = samples.time(lambda: browser.post(path, form))
        browser.close()
        expect(answer.status == 302, f"naive integration answered {answer.status}")
        expect("orderId=" in answer.location, f"naive integration: {answer.location!r}")

    cases = [(stack, label) for stack in stacks for label in (SHOP, NAIVE, LIMIT)]

    def one_round(i: int, timed: bool) -> None:
        for stack, label in rotated(cases, i):
            samples = stack.samples[label] if timed else Samples(label)
            if label == SHOP:
                shop_payment(stack, samples)
            elif label == NAIVE:
                naive_payment(stack, "/pay/", samples)
            else:
                naive_payment(stack, "/pay-warm/", samples)

    warmup = args.warmup if args.warmup is not None else max(3, args.n // 10)
    for stack in stacks:
        # A first payment learns the seToken key from the card page, as the page's script.
        shop_payment(stack, Samples(""))
    for i in range(warmup):
        one_round(i, timed=False)
    for i in range(args.n):
        one_round(i, timed=True)
    for stack in stacks:
        report(args, harness, stack, warmup)


def report(args: argparse.Namespace, harness: Harness, stack: Stack, warmup: int) -> None:
    naive, limit, shop = (stack.samples[label] for label in (NAIVE, LIMIT, SHOP))
    rows = [
        (
            s.label,
            ms(s.median),
            ms(s.p95),
            times(s.median / naive.median),
            times(s.p95 / naive.p95),
        )
        for s in (naive, limit, shop)
    ]
    # The naive views make exactly one instantPayment.do each; the rest is the shop's.
    shop_payments = args.n + warmup + 1
    instant = served_count(stack.sandbox, "instantPayment.do") - 2 * (args.n + warmup)
    status = served_count(stack.sandbox, "getOrderStatusExtended.do", wait=0)
    rt = stack.round_trip * 1000
    print_table(
        f"Card payment, approved without 3-D Secure: simulated round trip {rt:g} ms "
        f"(+2 on a new connection); {harness.describe()}, {cache_name()}, "
        f"{plural(args.n, 'round')} after {warmup} warm-up",
        ("", "median ms", "p95 ms", "median ratio", "p95 ratio"),
        rows,
        [
            f"shop / naive: {times(shop.median / naive.median)} median, "
            f"{times(shop.p95 / naive.p95)} p95; "
            f"limit / naive: {times(limit.median / naive.median)}",
            f"gateway requests per shop card payment: instantPayment.do "
            f"{instant / shop_payments:.2f}, getOrderStatusExtended.do "
            f"{status / shop_payments:.2f}",
        ],
    )


def parse_round_trips(text: str) -> list[float]:
    values = [float(part) / 1000 for part in text.split(",") if part.strip()]
    if not values or any(value < 0 for value in values):
        raise argparse.ArgumentTypeError("round trips in ms, e.g. 0,30")
    return values


if __name__ == "__main__":
    parser = make_parser(__doc__.splitlines()[0], 40, "timed rounds")
    parser.add_argument("--warmup", type=int, default=None, help="untimed rounds first")
    parser.add_argument(
        "--round-trips",
        type=parse_round_trips,
        default=parse_round_trips("0,30"),
        metavar="MS,MS",
        help="simulated round trips to the gateway in ms (default 0,30)",
    )
    sys.exit(main("tests.benchmarks.bench_payment", parser, bench))
