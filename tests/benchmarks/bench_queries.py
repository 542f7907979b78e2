"""SQL statements per request of the payment flow, data and transaction control apart.

Each request runs in this process through Django's test client, on the shop's code and
settings, with CaptureQueriesContext counting what it sends on its connection; the
sandbox gateway answers from its own gunicorn process, so none of its statements count;
the gateway requests each one made are counted on its thread too.

Then the approved seToken card POST again, ``--split`` times, one at a time, each split
by where its time goes: the claim, the attempt limits, the gateway call (the sandbox's
answer over loopback, which a naive integration waits for too), applying the answer, and
the rest (Django's request handling, the session, the form, the middleware). Medians,
in this process: what the shop's own work is made of, not a figure to compare across
runs (bench_payment measures the card POST under gunicorn against a baseline).

Requests: the card POST (seToken; and the card fields a page without JavaScript posts),
both approved without 3-D Secure; the return view after 3-D Secure (the shopper's own
return settles the payment); a callback's first delivery (it settles a payment whose
shopper never returned), a duplicate delivered at once, and one delivered after
CALLBACK_QUERY_INTERVAL.

    .venv/bin/python -m tests.benchmarks.bench_queries [--n 3] [--split 40]
        [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from tests.benchmarks.harness import (
    APPROVES,
    FRICTIONLESS,
    Answer,
    ClientTransport,
    Harness,
    Waiting,
    card_fields_form,
    complete_3ds_at_the_bank,
    expect,
    main,
    make_parser,
    ms,
    open_card_page,
    payment_public_id,
    print_table,
    setoken_form,
    shopper_address,
)

DATA = ("SELECT", "INSERT", "UPDATE", "DELETE")
TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
GATEWAY = {
    "instantPayment.do": "instantPayment",
    "getOrderStatusExtended.do": "status",
    "se/keys.do": "keys",
}

CARD_TOKEN = "card POST, seToken (approved, no 3-D Secure)"
CARD_FIELDS = "card POST, card fields (no JavaScript)"
RETURN = "return view after 3-D Secure (settles it)"
FIRST = "callback, first delivery (settles it)"
DUPLICATE = "callback, duplicate at once"
LATER = "callback, duplicate after the query interval"
LABELS = (CARD_TOKEN, CARD_FIELDS, RETURN, FIRST, DUPLICATE, LATER)

CLAIM = "the claim: start_payment() (1 transaction)"
LIMITS = "the attempt limits (cache)"
CALL = "instantPayment.do: the sandbox's answer over loopback"
APPLY = "applying the answer (1 transaction), the exchange row"
REST = "the rest: request handling, session, form, middleware"
WHOLE = "the whole card POST"
PHASES = (CLAIM, LIMITS, CALL, APPLY, REST, WHOLE)


_calls = threading.local()


def _counting_send(send: Callable[..., Any]) -> Callable[..., Any]:
    """HTTPAdapter.send, noting the gateway methods this thread's requests call."""

    def counted_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        seen = getattr(_calls, "seen", None)
        if seen is not None:
            path = urlsplit(request.url).path
            for method, short in GATEWAY.items():
                if path.endswith("/" + method):
                    seen[f"gw:{short}"] += 1
        return send(self, request, *args, **kwargs)

    return counted_send


def counted(operation: Callable[[], Answer]) -> tuple[Counter[str], Answer]:
    """SQL statements by first keyword, and the gateway requests (``gw:`` keys), of one
    request on this thread (not those of the app's background threads)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    kinds: Counter[str] = Counter()
    _calls.seen = kinds
    try:
        with CaptureQueriesContext(connection) as captured:
            answer = operation()
    finally:
        _calls.seen = None
    for query in captured.captured_queries:
        words = query["sql"].split(None, 1)
        word = words[0].upper() if words else ""
        kinds[word if word in DATA or word in TRANSACTION else "other"] += 1
    return kinds, answer


def bench(args: argparse.Namespace, harness: Harness) -> None:
    import requests.adapters

    from checkout.conf import checkout_settings
    from checkout.models import Payment

    sandbox = harness.sandbox(0)
    harness.start(sandbox)
    harness.use_gateway(sandbox)
    adapter = requests.adapters.HTTPAdapter
    adapter.send = _counting_send(adapter.send)  # type: ignore[method-assign]
    samples: dict[str, list[Counter[str]]] = {label: [] for label in LABELS}

    def status_of(answer: Answer) -> Any:
        return Payment.objects.get(public_id=payment_public_id(answer.location)).status

    def card_post(label: str, pan: str, form: Callable[[str], dict[str, str]]) -> Answer:
        browser, path, data = on_the_card_page(form)
        kinds, answer = counted(lambda: browser.post(path, data))
        expect(answer.status == 303, f"{label}: {answer.status}")
        if label:
            samples[label].append(kinds)
        return answer

    def after_3ds() -> tuple[ClientTransport, Payment]:
        browser, path, data = on_the_card_page(lambda key: setoken_form(FRICTIONLESS, key))
        answer = browser.post(path, data)
        expect(answer.status == 303 and "/3ds/" in answer.location, f"3-D Secure: {answer}")
        payment = Payment.objects.get(public_id=payment_public_id(answer.location))
        complete_3ds_at_the_bank(sandbox, str(payment.gateway_order_id))
        return browser, payment

    interval = float(checkout_settings.CALLBACK_QUERY_INTERVAL)
    # One payment first, untimed and uncounted: the seToken key is fetched and cached.
    card_post("", APPROVES, lambda key: setoken_form(APPROVES, key))
    for _ in range(args.n):
        answer = card_post(CARD_TOKEN, APPROVES, lambda key: setoken_form(APPROVES, key))
        expect(status_of(answer) == "paid", f"{CARD_TOKEN}: {status_of(answer)}")
        answer = card_post(CARD_FIELDS, APPROVES, lambda key: card_fields_form(APPROVES))
        expect(status_of(answer) == "paid", f"{CARD_FIELDS}: {status_of(answer)}")

        browser, payment = after_3ds()
        url = f"/checkout/return/?orderId={payment.gateway_order_id}&lang=en"
        kinds, answer = counted(lambda: browser.get(url))
        expect(answer.status == 303 and status_of(answer) == "paid", f"{RETURN}: {answer}")
        samples[RETURN].append(kinds)

        _, payment = after_3ds()
        waiting = Waiting(payment.pk, payment.order_number, str(payment.gateway_order_id))
        gateway = ClientTransport("127.0.0.1")
        callback = "/checkout/callback/?" + waiting.callback_query()
        for label in (FIRST, DUPLICATE, LATER):
            if label == LATER:
                # Past the interval, and past the follow-up the duplicate may have caused.
                time.sleep(interval + 1)
            kinds, answer = counted(lambda: gateway.get(callback))
            expect(answer.status == 200, f"{label}: {answer.status}")
            samples[label].append(kinds)
            payment.refresh_from_db()
            expect(payment.status == "paid", f"{label}: payment {payment.status}")
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.join(interval + 10)  # a follow-up still due, before the database goes

    split = split_card_post(args.split)
    print_table(
        f"SQL statements per request ({harness.describe()}, {args.n} of each; "
        f"CALLBACK_QUERY_INTERVAL {interval:g} s)",
        ("", "data statements", "transaction statements", "gateway requests"),
        [(label, *describe(samples[label])) for label in LABELS],
        [
            "data: S select, I insert, U update, D delete; transaction: BEGIN, COMMIT, "
            "ROLLBACK, SAVEPOINT, RELEASE (SAVEPOINT) as sent by Django; a range when the "
            "requests differed",
        ],
    )
    whole = statistics.median(split[WHOLE])
    own = statistics.median(w - c for w, c in zip(split[WHOLE], split[CALL], strict=True))
    print_table(
        f"Where the time of an approved card POST goes ({harness.describe()}, this process, "
        f"one at a time, median of {args.split})",
        ("", "ms", "share"),
        [
            (
                phase,
                ms(statistics.median(split[phase])),
                f"{statistics.median(split[phase]) / whole:.0%}",
            )
            for phase in PHASES
        ],
        [
            f"the shop's own work, the whole less the gateway call: {ms(own)} ms (the rest "
            "includes the test client building the request)",
        ],
    )


def on_the_card_page(
    form: Callable[[str], dict[str, str]],
) -> tuple[ClientTransport, str, dict[str, str]]:
    """A new shopper on the card page of a new order: the browser, the page's path and what
    it posts (``form`` given the page's seToken key)."""
    browser = ClientTransport(shopper_address())
    page = open_card_page(browser)
    return browser, page.path, {"csrfmiddlewaretoken": page.csrf, **form(page.setoken_key)}


def split_card_post(n: int) -> dict[str, list[float]]:
    """``n`` approved seToken card POSTs, each one's seconds by phase (``PHASES``)."""
    from checkout import paying
    from checkout.gateway.transport import GatewayClient
    from checkout.models import Payment

    spent: dict[str, float] = defaultdict(float)

    def timed(owner: Any, name: str, phase: str) -> Callable[[], None]:
        original = getattr(owner, name)

        def measured(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[phase] += time.perf_counter() - started

        setattr(owner, name, measured)
        return lambda: setattr(owner, name, original)

    restore = [
        timed(paying, "start_payment", CLAIM),
        timed(paying, "check_payment_attempt", LIMITS),
        timed(paying, "submit_payment", APPLY),
        timed(GatewayClient, "_exchange", CALL),
    ]
    phases: dict[str, list[float]] = defaultdict(list)
    try:
        for _ in range(n):
            browser, path, data = on_the_card_page(lambda key: setoken_form(APPROVES, key))
            spent.clear()
            started = time.perf_counter()
            answer = browser.post(path, data)
            whole = time.perf_counter() - started
            paid = Payment.objects.filter(public_id=payment_public_id(answer.location))
            expect(paid.filter(status="paid").exists(), f"split card POST: {answer}")
            # submit_payment() holds the call: what is left of it is applying the answer.
            spent[APPLY] -= spent[CALL]
            spent[REST] = whole - spent[CLAIM] - spent[LIMITS] - spent[CALL] - spent[APPLY]
            spent[WHOLE] = whole
            for phase in PHASES:
                phases[phase].append(spent[phase])
    finally:
        for undo in restore:
            undo()
    return phases


def describe(samples: Sequence[Counter[str]]) -> tuple[str, str, str]:
    def total(keys: Sequence[str], kinds: Counter[str]) -> int:
        return sum(kinds[k] for k in keys)

    def column(keys: Sequence[str], short: Callable[[str], str]) -> str:
        totals = sorted(total(keys, kinds) for kinds in samples)
        first = samples[0]
        parts = [f"{first[k]} {short(k)}" for k in keys if first[k]]
        value = str(totals[0]) if totals[0] == totals[-1] else f"{totals[0]}-{totals[-1]}"
        return f"{value} ({', '.join(parts)})" if parts else value

    gateway = [f"gw:{short}" for short in GATEWAY.values()]
    data = column(DATA, lambda k: k[0])
    if samples[0]["other"]:
        data += f" +{samples[0]['other']} other"
    return data, column(TRANSACTION, str), column(gateway, lambda k: k[3:])


if __name__ == "__main__":
    parser = make_parser(__doc__.splitlines()[0], 3, "requests of each kind")
    parser.add_argument(
        "--split", type=int, default=40, help="card POSTs split by where their time goes (40)"
    )
    sys.exit(main("tests.benchmarks.bench_queries", parser, bench, auto_backends=("sqlite",)))
