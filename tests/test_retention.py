"""Retention: what checkout_prune deletes, what it clears, and everything it must keep."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.forms.models import model_to_dict
from django.test import override_settings
from django.utils import timezone

from checkout import retention
from checkout.conf import checkout_settings
from checkout.exchanges import record_exchange
from checkout.gateway import ExchangeRecord
from checkout.models import Exchange, Notification, Order, Payment, PaymentStatus, StatusChange
from checkout.redaction import scrub_personal
from checkout.signals import order_anonymised
from merchant_site.shop.models import Purchase
from tests.factories import (
    ExchangeFactory,
    NotificationFactory,
    OrderFactory,
    PaymentFactory,
    StatusChangeFactory,
)

pytestmark = pytest.mark.django_db

S = PaymentStatus
NOW = timezone.now()
OPEN_STATUSES = [S.CREATED, S.PROCESSING, S.AWAITING_3DS, S.OUTCOME_UNKNOWN, S.HELD]
CLOSED = [S.PAID, S.PARTLY_REFUNDED, S.REFUNDED, S.DECLINED, S.FAILED, S.EXPIRED, S.VOIDED]


def ago(days: float):
    return NOW - timedelta(days=days)


def prune(**kwargs) -> retention.RetentionSummary:
    return retention.prune(now=NOW, **kwargs)


#: What the gateway was told and answered about a shopper, as the exchange log keeps it.
PAYMENT_REQUEST = {
    "userName": "shop-api",
    "password": "[redacted]",
    "orderNumber": "SHOP-1",
    "amount": "1999",
    "email": "ada@example.com",
    "ip": "203.0.113.7",
    "cardHolderName": "ADA LOVELACE",
    "jsonParams": json.dumps({"email": "ada@example.com", "phone": "+35799000000"}),
}
STATUS_RESPONSE = {
    "orderNumber": "SHOP-1",
    "orderStatus": 2,
    "amount": 1999,
    "ip": "203.0.113.7",
    "cardAuthInfo": {"maskedPan": "411111**1111", "cardholderName": "ADA LOVELACE"},
    "payerData": {"email": "ada@example.com"},
}


def paid_order(*, days: float, fulfilled: bool = True, status: str = S.PAID, **payment) -> Order:
    """An order paid ``days`` ago with its history and one exchange row of each kind."""
    order = OrderFactory(
        created_at=ago(days),
        email="ada@example.com",
        ip_address="203.0.113.7",
        fulfilled_at=ago(days - 1) if fulfilled else None,
    )
    attempt = PaymentFactory(
        order=order,
        status=status,
        gateway_order_id=f"gw-{order.pk}",
        captured_amount=order.amount,
        masked_pan="411111**1111",
        created_at=ago(days),
        **payment,
    )
    StatusChangeFactory(payment=attempt, from_status=S.PROCESSING, to_status=status)
    ExchangeFactory(payment=attempt, request=PAYMENT_REQUEST, created_at=ago(days))
    # A status query of late: young enough for the exchange retention.
    ExchangeFactory(payment=attempt, response=STATUS_RESPONSE, created_at=ago(10))
    return order


def snapshot() -> dict[str, list]:
    """Every row the app keeps, as plain values."""
    return {
        model.__name__: [model_to_dict(row) for row in model.objects.order_by("pk")]
        for model in (Order, Payment, StatusChange, Exchange, Notification)
    }


# --- JSON API client secrets ----------------------------------------------------------------


def test_client_secrets_go_a_day_after_they_expire_with_their_answers():
    from checkout.api import issue_client_secret
    from checkout.models import ApiSubmission, ClientSecret

    order = OrderFactory()
    issue_client_secret(order)
    issue_client_secret(order)
    old, young = ClientSecret.objects.order_by("pk")
    ClientSecret.objects.filter(pk=old.pk).update(expires_at=ago(1.1))
    ClientSecret.objects.filter(pk=young.pk).update(expires_at=ago(0.9))
    payment = PaymentFactory(order=order, status=S.DECLINED)
    ApiSubmission.objects.create(secret=old, fingerprint="f" * 64, payment=payment)

    assert prune(dry_run=True).client_secrets_deleted == 1
    assert ClientSecret.objects.count() == 2
    summary = prune()

    assert summary.client_secrets_deleted == 1
    assert list(ClientSecret.objects.values_list("pk", flat=True)) == [young.pk]
    assert not ApiSubmission.objects.exists()
    assert Payment.objects.filter(pk=payment.pk).exists() and Order.objects.filter(pk=order.pk)


# --- the exchange log ---------------------------------------------------------------------


def test_old_exchange_rows_go_and_young_ones_stay():
    payment = PaymentFactory(status=S.DECLINED)
    old = ExchangeFactory(payment=payment, created_at=ago(181))
    orphan = ExchangeFactory(payment=None, operation="se/keys.do", created_at=ago(400))
    young = ExchangeFactory(payment=payment, created_at=ago(179))

    summary = prune()

    assert summary.exchanges_deleted == 2
    assert set(Exchange.objects.values_list("pk", flat=True)) == {young.pk}
    assert not Exchange.objects.filter(pk__in=[old.pk, orphan.pk]).exists()
    assert Payment.objects.filter(pk=payment.pk).exists()


@pytest.mark.parametrize("status", OPEN_STATUSES)
def test_the_exchange_log_of_an_open_payment_is_kept(status):
    payment = PaymentFactory(status=status)
    row = ExchangeFactory(payment=payment, created_at=ago(1000))

    assert prune().exchanges_deleted == 0
    assert Exchange.objects.filter(pk=row.pk).exists()


def test_a_pending_back_office_operation_keeps_the_exchange_log():
    payment = PaymentFactory(
        status=S.PAID, pending_operation="refund", pending_amount=100, pending_since=ago(1)
    )
    row = ExchangeFactory(payment=payment, created_at=ago(1000))

    prune()
    assert Exchange.objects.filter(pk=row.pk).exists()

    Payment.objects.filter(pk=payment.pk).update(pending_operation="", pending_amount=0)
    assert prune().exchanges_deleted == 1


@pytest.mark.parametrize("status", [*CLOSED, S.NEEDS_REVIEW])
def test_the_exchange_log_of_a_closed_payment_goes(status):
    ExchangeFactory(payment=PaymentFactory(status=status), created_at=ago(1000))
    assert prune().exchanges_deleted == 1
    assert not Exchange.objects.exists()


def test_deleting_works_in_batches_through_every_row():
    payment = PaymentFactory(status=S.EXPIRED)
    ExchangeFactory.create_batch(7, payment=payment, created_at=ago(200))
    kept = ExchangeFactory(payment=PaymentFactory(status=S.HELD), created_at=ago(200))

    assert prune(dry_run=True, batch_size=2).exchanges_deleted == 7
    assert prune(batch_size=2).exchanges_deleted == 7
    assert list(Exchange.objects.values_list("pk", flat=True)) == [kept.pk]


# --- notifications --------------------------------------------------------------------------


def test_processed_and_refused_notifications_go_once_old():
    processed = NotificationFactory(received_at=ago(200), valid=True, processed_at=ago(200))
    refused = NotificationFactory(received_at=ago(200), valid=False, error="bad checksum")
    waiting = NotificationFactory(received_at=ago(200), valid=None)
    failing = NotificationFactory(received_at=ago(200), valid=True, attempts=9, error="boom")
    young = NotificationFactory(received_at=ago(30), valid=True, processed_at=ago(30))

    summary = prune()

    assert summary.notifications_deleted == 2
    remaining = set(Notification.objects.values_list("pk", flat=True))
    assert remaining == {waiting.pk, failing.pk, young.pk}
    assert processed.pk not in remaining and refused.pk not in remaining


# --- personal data ------------------------------------------------------------------------


def test_personal_data_is_cleared_and_the_accounts_stay():
    # Counted by the card page: the attempt holds the hashed address it was counted on.
    order = paid_order(days=800, client_key="a" * 32)
    payment = order.payments.get()
    history = list(StatusChange.objects.values())
    before = model_to_dict(Payment.objects.get())

    summary = prune()

    assert summary.orders_anonymised == 1
    order.refresh_from_db()
    assert (order.email, order.ip_address) == ("", None)
    assert order.anonymised_at is not None
    assert Payment.objects.get().client_key == ""
    order.full_clean()
    # Amounts, statuses, ids, order numbers, the masked card and the history are untouched.
    assert model_to_dict(Payment.objects.get()) == before
    assert list(StatusChange.objects.values()) == history
    assert order.amount == 1999 and payment.gateway_order_id == f"gw-{order.pk}"
    # The old payment call went with the exchange retention; the young status query stays,
    # without the shopper in it.
    assert summary.exchanges_deleted == 1 and summary.exchanges_scrubbed == 1
    response = Exchange.objects.get().response
    assert "ada" not in json.dumps(response).lower()
    assert "203.0.113.7" not in json.dumps(response)
    assert response["orderNumber"] == "SHOP-1" and response["amount"] == 1999
    assert response["cardAuthInfo"]["maskedPan"] == "411111**1111"


def test_exchange_rows_kept_for_good_are_scrubbed_too(settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "RETENTION": {"exchanges": None}}
    order = paid_order(days=800)

    summary = prune()

    assert summary.exchanges_scrubbed == 2
    request = Exchange.objects.get(request__orderNumber="SHOP-1").request
    assert request["email"] == request["ip"] == request["cardHolderName"] == ""
    assert json.loads(request["jsonParams"]) == {"email": "", "phone": ""}
    assert request["orderNumber"] == "SHOP-1" and request["amount"] == "1999"
    order.refresh_from_db()
    assert order.anonymised_at is not None


def test_young_orders_keep_their_personal_data():
    order = paid_order(days=700)
    assert prune().orders_anonymised == 0
    order.refresh_from_db()
    assert order.email == "ada@example.com" and order.anonymised_at is None


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: paid_order(days=800, status=S.HELD), id="held"),
        pytest.param(lambda: paid_order(days=800, status=S.OUTCOME_UNKNOWN), id="unknown"),
        pytest.param(lambda: paid_order(days=800, fulfilled=False), id="not fulfilled"),
        pytest.param(
            lambda: paid_order(
                days=800, pending_operation="refund", pending_amount=1, pending_since=ago(1)
            ),
            id="refund in flight",
        ),
    ],
)
def test_orders_still_needed_keep_their_personal_data(make):
    order = make()
    summary = prune()
    assert summary.orders_anonymised == 0
    assert summary.orders_kept == 1
    order.refresh_from_db()
    assert (order.email, order.ip_address) == ("ada@example.com", "203.0.113.7")


def test_unpaid_and_unsuccessful_orders_are_cleared():
    never_tried = OrderFactory(created_at=ago(800))
    declined = OrderFactory(created_at=ago(800))
    PaymentFactory(order=declined, status=S.DECLINED)
    # An unfulfilled order whose money went back needs no delivery.
    refunded = paid_order(days=800, status=S.REFUNDED, fulfilled=False)

    assert prune().orders_anonymised == 3
    for order in (never_tried, declined, refunded):
        order.refresh_from_db()
        assert order.email == "" and order.anonymised_at is not None


def test_a_status_query_after_the_clearing_stores_no_personal_data():
    order = paid_order(days=800)
    prune()
    payment = Payment.objects.get(order=order)

    record_exchange(
        ExchangeRecord(
            operation="getOrderStatusExtended.do",
            url="https://gateway.example/payment/rest/getOrderStatusExtended.do",
            request={"orderId": payment.gateway_order_id},
            response=STATUS_RESPONSE,
            http_status=200,
            error_code=0,
            error="",
            duration_ms=12,
            context=payment,
        )
    )

    stored = Exchange.objects.latest("pk").response
    assert stored["payerData"] == {"email": ""} and stored["ip"] == ""
    assert stored["orderStatus"] == 2


def test_the_shop_hears_of_each_cleared_order_and_the_demo_forgets_its_copy():
    order = paid_order(days=800)
    purchase = Purchase.objects.create(
        email="ada@example.com", amount=order.amount, currency="EUR", order=order
    )
    heard: list[tuple[int, str]] = []

    def receiver(sender, order, **kwargs):
        heard.append((order.pk, order.email))

    order_anonymised.connect(receiver)
    try:
        prune()
        prune()
    finally:
        order_anonymised.disconnect(receiver)

    assert heard == [(order.pk, "")]
    purchase.refresh_from_db()
    assert purchase.email == ""
    purchase.full_clean()


def test_a_receiver_that_raises_leaves_the_order_for_the_next_run():
    order = paid_order(days=800)

    def refuse(sender, order, **kwargs):
        raise RuntimeError("the shop's records are locked")

    order_anonymised.connect(refuse)
    try:
        with pytest.raises(RuntimeError):
            prune()
    finally:
        order_anonymised.disconnect(refuse)
    order.refresh_from_db()
    assert order.email == "ada@example.com" and order.anonymised_at is None
    assert "ada" in json.dumps(Exchange.objects.get().response)

    assert prune().orders_anonymised == 1


# --- running it ---------------------------------------------------------------------------


def a_bit_of_everything() -> None:
    paid_order(days=800)
    paid_order(days=800, status=S.HELD)
    paid_order(days=30)
    ExchangeFactory(payment=PaymentFactory(status=S.FAILED), created_at=ago(300))
    NotificationFactory(received_at=ago(300), valid=True, processed_at=ago(300))
    NotificationFactory(received_at=ago(300))


def test_a_dry_run_counts_and_changes_nothing():
    a_bit_of_everything()
    before = snapshot()

    counted = prune(dry_run=True)

    assert snapshot() == before
    assert counted.dry_run and counted.changed > 0
    done = prune()
    assert (
        done.exchanges_deleted,
        done.notifications_deleted,
        done.orders_anonymised,
        done.exchanges_scrubbed,
        done.orders_kept,
    ) == (
        counted.exchanges_deleted,
        counted.notifications_deleted,
        counted.orders_anonymised,
        counted.exchanges_scrubbed,
        counted.orders_kept,
    )
    assert snapshot() != before


def test_a_second_run_changes_nothing():
    a_bit_of_everything()
    first = prune()
    assert (first.exchanges_deleted, first.notifications_deleted) == (2, 1)
    assert first.orders_anonymised == 1
    after = snapshot()

    second = prune()

    assert second.changed == 0
    assert snapshot() == after


@pytest.mark.parametrize("off", [0, None])
def test_a_retention_switched_off_keeps_everything(settings, off):
    settings.CHECKOUT = {
        **settings.CHECKOUT,
        "RETENTION": {"exchanges": off, "notifications": off, "personal_data": off},
    }
    a_bit_of_everything()
    before = snapshot()

    summary = prune()

    assert summary.changed == 0
    assert summary.ages == {"exchanges": None, "notifications": None, "personal_data": None}
    assert snapshot() == before


def test_each_age_is_its_own(settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "RETENTION": {"notifications": 7}}
    NotificationFactory(received_at=ago(8), valid=True, processed_at=ago(8))
    ExchangeFactory(payment=None, created_at=ago(8))
    summary = prune()
    assert (summary.notifications_deleted, summary.exchanges_deleted) == (1, 0)
    assert summary.ages == {"exchanges": 180, "notifications": 7, "personal_data": 730}


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_share_the_work_and_end_in_the_same_state():
    for _ in range(6):
        paid_order(days=800)
    ExchangeFactory.create_batch(12, payment=None, created_at=ago(300))
    NotificationFactory.create_batch(12, received_at=ago(300), valid=False)
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = retention.prune(now=NOW, batch_size=2)
        except Exception as err:
            results[index] = err
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(isinstance(r, retention.RetentionSummary) for r in results), results
    # Every row counted once, by one run or the other.
    assert sum(r.exchanges_deleted for r in results) == 12 + 6
    assert sum(r.notifications_deleted for r in results) == 12
    assert sum(r.orders_anonymised for r in results) == 6
    assert sum(r.exchanges_scrubbed for r in results) == 6
    assert not Order.objects.filter(anonymised_at__isnull=True).exists()
    assert set(Order.objects.values_list("email", flat=True)) == {""}
    assert Exchange.objects.count() == 6 and not Notification.objects.exists()
    assert retention.prune(now=NOW).changed == 0


# --- erasure --------------------------------------------------------------------------------


def test_erasing_a_shopper_clears_all_their_settled_orders_whatever_their_age():
    settled = paid_order(days=3)
    open_one = paid_order(days=1, status=S.HELD)
    other = OrderFactory(email="grace@example.com")

    erasure = retention.erase_shopper("  ADA@example.com ")

    assert erasure.orders_anonymised == 1 and erasure.exchanges_scrubbed == 2
    assert [o.pk for o in erasure.kept] == [open_one.pk]
    settled.refresh_from_db()
    open_one.refresh_from_db()
    other.refresh_from_db()
    assert settled.email == "" and settled.anonymised_at is not None
    assert open_one.email == "ada@example.com"
    assert other.email == "grace@example.com"
    assert settled.payments.get().status == S.PAID


def test_erasure_dry_run_and_command():
    order = paid_order(days=3)
    before = snapshot()
    preview = retention.erase_shopper("ada@example.com", dry_run=True)
    assert preview.orders_anonymised == 1 and preview.kept == ()
    assert snapshot() == before

    out = StringIO()
    call_command("checkout_erase", "ada@example.com", stdout=out)
    assert "Cleared the personal data of ada@example.com from 1 order" in out.getvalue()
    order.refresh_from_db()
    assert order.email == ""
    with pytest.raises(CommandError):
        call_command("checkout_erase", " ", stdout=StringIO())


def test_an_order_without_an_e_mail_address_is_erased_by_itself():
    order = paid_order(days=3)
    Order.objects.filter(pk=order.pk).update(email="")
    untouched = paid_order(days=3)

    erasure = retention.erase_orders(Order.objects.filter(pk=order.pk))

    assert (erasure.orders_anonymised, erasure.kept) == (1, ())
    order.refresh_from_db()
    untouched.refresh_from_db()
    assert order.ip_address is None and order.anonymised_at is not None
    assert untouched.ip_address == "203.0.113.7" and untouched.anonymised_at is None
    assert retention.erase_orders(Order.objects.filter(pk=order.pk)).orders_anonymised == 0


# --- the command and the setting ----------------------------------------------------------


def test_the_command_says_what_it_did_in_plain_words():
    a_bit_of_everything()
    out = StringIO()
    call_command("checkout_prune", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "Gateway exchanges older than 180 days: would delete 2 rows." in text
    assert "Callback notifications older than 180 days: would delete 1 row." in text
    assert "Personal data older than 730 days: would clear 1 order and 1 exchange row." in text
    assert "Kept the personal data of 1 older order still needed" in text
    assert "Dry run: nothing was changed." in text
    assert Order.objects.filter(anonymised_at__isnull=False).count() == 0

    out = StringIO()
    call_command("checkout_prune", stdout=out)
    assert "Gateway exchanges older than 180 days: deleted 2 rows." in out.getvalue()
    assert Order.objects.filter(anonymised_at__isnull=False).count() == 1


def test_the_command_refuses_an_unusable_setting(settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "RETENTION": {"exchanges": -5}}
    with pytest.raises(CommandError, match="whole number of days"):
        call_command("checkout_prune", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("checkout_prune", "--batch-size", "0", stdout=StringIO())


@pytest.mark.parametrize(
    "value",
    [{"exchange": 1}, {"exchanges": -1}, {"exchanges": True}, {"exchanges": "180"}, [180]],
)
def test_retention_values_are_checked(value):
    with override_settings(CHECKOUT={"RETENTION": value}), pytest.raises(ImproperlyConfigured):
        checkout_settings.RETENTION


def test_missing_retention_keys_keep_their_defaults():
    with override_settings(CHECKOUT={"RETENTION": {"exchanges": 30}}):
        assert checkout_settings.RETENTION == {
            "exchanges": 30,
            "notifications": 180,
            "personal_data": 730,
        }


# --- scrubbing ------------------------------------------------------------------------------


def test_scrubbing_clears_personal_values_only_and_twice_is_once():
    scrubbed = scrub_personal(PAYMENT_REQUEST)
    assert scrubbed["email"] == scrubbed["ip"] == scrubbed["cardHolderName"] == ""
    assert json.loads(scrubbed["jsonParams"]) == {"email": "", "phone": ""}
    personal = {"email", "ip", "cardHolderName", "jsonParams"}
    assert {k: v for k, v in scrubbed.items() if k not in personal} == {
        k: v for k, v in PAYMENT_REQUEST.items() if k not in personal
    }
    assert scrub_personal(scrubbed) == scrubbed
    assert scrub_personal(None) is None
    assert scrub_personal([{"Email": "x@y"}, "plain"]) == [{"Email": ""}, "plain"]
