"""checkout_sync: every non-final state settled against the sandbox, leases, report."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from checkout import backoffice, signals, sync
from checkout.cards import CardData
from checkout.exceptions import OutcomeUnknown
from checkout.models import Notification, Order, Payment, PaymentStatus, Source, StatusChange
from checkout.services import create_order, start_payment, submit_payment
from tests.factories import NotificationFactory, OperatorFactory, PaymentFactory

S = PaymentStatus
SSL_CARD = CardData(pan="4444555511113333", cvc="123", expiry="203012")
FRICTIONLESS_CARD = CardData(pan="4111111111111111", cvc="123", expiry="203012")
# Amounts on which the sandbox injects a fault into instantPayment.do.
DROPPED_AFTER = 9999  # carried out, connection dropped before the answer
FAILED_BEFORE = 9500  # HTTP 500, not carried out
NEVER_CALLED_BACK = 9604  # the order's callbacks are never sent


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("checkout_sync", "--older-than", "0", "--workers", "1", *args, stdout=out)
    return out.getvalue()


def pay(base_url: str, card: CardData, *, amount: int = 1999, preauth: bool = False) -> Payment:
    order = create_order(amount=amount, currency="EUR", description="Sync test")
    payment = start_payment(order, preauth=preauth)
    back = base_url + reverse("jcc_checkout:return")
    payment, _ = submit_payment(payment, back_url=back, fail_url=back, card=card)
    return payment


def bank_order(payment: Payment):
    from checkout.sandbox.models import Order as BankOrder

    if payment.gateway_order_id:
        return BankOrder.objects.get(pk=payment.gateway_order_id)
    return BankOrder.objects.get(order_number=payment.order_number)


def history(payment: Payment) -> list[tuple[str, str, str]]:
    rows = StatusChange.objects.filter(payment=payment).order_by("pk")
    return [(r.from_status, r.to_status, r.source) for r in rows]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def live(sandbox_url, live_server):
    return live_server.url


@pytest.fixture
def paid_events():
    seen: list[dict] = []

    def on_paid(sender, **kwargs):
        seen.append(kwargs)

    signals.order_paid.connect(on_paid, dispatch_uid="sync-paid")
    yield seen
    signals.order_paid.disconnect(dispatch_uid="sync-paid")


def test_parse_duration():
    assert sync.parse_duration("90") == timedelta(seconds=90)
    assert sync.parse_duration("15m") == timedelta(minutes=15)
    assert sync.parse_duration(" 2H ") == timedelta(hours=2)
    assert sync.parse_duration("1d") == timedelta(days=1)
    for bad in ("", "m", "1.5h", "-1", "2w"):
        with pytest.raises(ValueError):
            sync.parse_duration(bad)


@pytest.mark.django_db
def test_bad_options():
    with pytest.raises(CommandError, match="duration"):
        call_command("checkout_sync", "--older-than", "soon")
    with pytest.raises(CommandError, match="workers"):
        call_command("checkout_sync", "--workers", "0")


@pytest.mark.django_db
def test_nothing_to_do():
    out = run()
    assert "0 payment(s) to check" in out
    assert "checked 0, changed 0, failed 0" in out
    assert mail.outbox == []


# --- each non-final state, settled against the sandbox ---------------------------------------


@pytest.mark.django_db(transaction=True)
class TestSettles:
    def test_3ds_done_at_the_bank_but_no_return_and_no_callback(self, live, settings, paid_events):
        """The sandbox's "callback never sent" fault: only the sync can settle it."""
        from checkout.sandbox.models import CallbackDelivery
        from checkout.sandbox.processing import start_acs

        settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "sync"}
        payment = pay(live, FRICTIONLESS_CARD, amount=NEVER_CALLED_BACK)
        assert payment.status == S.AWAITING_3DS
        start_acs(bank_order(payment))  # the shopper passes 3-D Secure, closes the tab
        assert CallbackDelivery.objects.get().state == CallbackDelivery.State.SUPPRESSED
        assert not Notification.objects.exists()

        out = run()
        payment.refresh_from_db()
        assert payment.status == S.PAID
        assert history(payment)[-1] == (S.AWAITING_3DS, S.PAID, Source.RECONCILIATION)
        assert f"[1/1] {payment.order_number} (96.04 EUR): awaiting_3ds -> paid" in out
        assert len(paid_events) == 1
        payment.refresh_from_db()
        assert payment.lease_until is None

    def test_abandoned_3ds_expires(self, live):
        payment = pay(live, FRICTIONLESS_CARD)
        type(bank_order(payment)).objects.filter(pk=payment.gateway_order_id).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )
        run()
        payment.refresh_from_db()
        assert payment.status == S.EXPIRED
        assert payment.action_code == -2007

    def test_outcome_unknown_that_was_paid(self, live, paid_events):
        payment = pay(live, SSL_CARD, amount=DROPPED_AFTER)
        assert payment.status == S.OUTCOME_UNKNOWN
        run()
        payment.refresh_from_db()
        assert payment.status == S.PAID
        assert payment.captured_amount == DROPPED_AFTER
        assert len(paid_events) == 1

    def test_outcome_unknown_that_never_reached_the_gateway(self, live):
        payment = pay(live, SSL_CARD, amount=FAILED_BEFORE)
        assert payment.status == S.OUTCOME_UNKNOWN
        # "Unknown order" is believed only once the call can no longer take effect.
        run()
        payment.refresh_from_db()
        assert payment.status == S.OUTCOME_UNKNOWN
        Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(hours=1))
        run()
        payment.refresh_from_db()
        assert payment.status == S.FAILED

    def test_old_hold_released_by_the_bank_is_settled_and_others_reported(self, live, settings):
        from checkout.sandbox import processing

        released = pay(live, SSL_CARD, preauth=True)
        kept = pay(live, SSL_CARD, preauth=True)
        processing.reverse(bank_order(released), None)  # the bank's automatic release
        old = timezone.now() - timedelta(days=6, hours=1)
        Payment.objects.filter(pk__in=[released.pk, kept.pk]).update(created_at=old)
        run()
        released.refresh_from_db()
        kept.refresh_from_db()
        assert released.status == S.VOIDED
        assert kept.status == S.HELD
        [message] = mail.outbox
        assert "Holds close to automatic release" in message.body
        assert kept.order_number in message.body
        assert released.order_number not in message.body

    def test_young_hold_is_left_alone(self, live):
        payment = pay(live, SSL_CARD, preauth=True)
        assert "0 payment(s) to check" in run()
        payment.refresh_from_db()
        assert payment.status == S.HELD

    def test_back_office_operation_with_unknown_outcome(self, live):
        from checkout.sandbox.models import Merchant

        operator = OperatorFactory(permissions=["jcc_checkout.refund_payment"])
        payment = pay(live, SSL_CARD)
        Merchant.objects.filter(pk=Merchant.objects.default().pk).update(
            fault="drop_after", fault_endpoints="refund.do", fault_remaining=1
        )
        with pytest.raises(OutcomeUnknown):
            backoffice.refund(payment, 300, operator=operator, reason="scratched")
        out = run()
        payment.refresh_from_db()
        assert "pending refund: settled" in out
        assert (payment.status, payment.refunded_amount) == (S.PARTLY_REFUNDED, 300)
        assert payment.pending_operation == ""
        change = StatusChange.objects.filter(payment=payment).latest()
        assert change.operator == operator and change.note == "refund 3.00 EUR: scratched"

    def test_failed_notification_is_retried(self, live, settings):
        from checkout.sandbox.processing import start_acs

        payment = pay(live, FRICTIONLESS_CARD)
        start_acs(bank_order(payment))
        failed = NotificationFactory(
            payment=payment,
            valid=True,
            error="status query failed",
            attempts=1,
            params={"orderNumber": payment.order_number, "operation": "deposited"},
        )
        out = run()
        payment.refresh_from_db()
        failed.refresh_from_db()
        assert payment.status == S.PAID
        assert failed.processed_at is not None
        assert "1 failed notification(s) settled" in out

    def test_unverified_notification_is_verified_and_processed_later(self, live):
        """Stored while no key was configured (answered 503); the key is there now."""
        from checkout.sandbox import crypto, defaults
        from checkout.sandbox.processing import start_acs

        payment = pay(live, FRICTIONLESS_CARD)
        start_acs(bank_order(payment))
        params = {
            "mdOrder": payment.gateway_order_id,
            "orderNumber": payment.order_number,
            "operation": "deposited",
            "status": "1",
        }
        params["checksum"] = crypto.hmac_checksum(params, defaults.CALLBACK_SECRET)
        stored = NotificationFactory(params=params, valid=None, error="no callback key")
        forged = NotificationFactory(params={**params, "checksum": "00" * 32}, valid=None)
        out = run()
        stored.refresh_from_db()
        forged.refresh_from_db()
        payment.refresh_from_db()
        assert f"notification {stored.pk}: 200" in out
        assert f"notification {forged.pk}: 400" in out
        assert (stored.valid, stored.payment, stored.error) == (True, payment, "")
        assert stored.processed_at is not None
        assert (forged.valid, forged.processed_at) == (False, None)
        assert payment.status == S.PAID

    def test_dry_run_changes_nothing(self, live):
        from checkout.sandbox.processing import start_acs

        payment = pay(live, FRICTIONLESS_CARD)
        start_acs(bank_order(payment))
        out = run("--dry-run")
        assert "awaiting_3ds -> paid (dry run)" in out
        payment.refresh_from_db()
        assert payment.status == S.AWAITING_3DS
        assert payment.lease_until is None

    def test_order_option_and_age(self, live):
        from checkout.sandbox.processing import start_acs

        first = pay(live, FRICTIONLESS_CARD)
        second = pay(live, FRICTIONLESS_CARD)
        for payment in (first, second):
            start_acs(bank_order(payment))
        out = io.StringIO()
        call_command("checkout_sync", stdout=out)  # default age: both are too young
        assert "0 payment(s) to check" in out.getvalue()
        call_command("checkout_sync", "--order", second.order_number, stdout=out)
        first.refresh_from_db()
        second.refresh_from_db()
        assert (first.status, second.status) == (S.AWAITING_3DS, S.PAID)
        call_command("checkout_sync", "--order", str(first.order.public_id), stdout=out)
        first.refresh_from_db()
        assert first.status == S.PAID

    def test_workers_settle_in_parallel(self, live):
        from checkout.sandbox.processing import start_acs

        payments = [pay(live, FRICTIONLESS_CARD) for _ in range(5)]
        for payment in payments:
            start_acs(bank_order(payment))
        out = io.StringIO()
        call_command("checkout_sync", "--older-than", "0", "--workers", "3", stdout=out)
        assert {p.status for p in Payment.objects.all()} == {S.PAID}
        assert "[5/5]" in out.getvalue()

    def test_gateway_down_is_reported_as_failure(self, live, settings):
        payment = pay(live, FRICTIONLESS_CARD)
        settings.CHECKOUT = {
            **settings.CHECKOUT,
            "GATEWAY_URL": "http://127.0.0.1:9/payment/",
            "USERNAME": "u",
            "PASSWORD": "p",
        }
        with pytest.raises(CommandError, match="1 payment"):
            run()
        payment.refresh_from_db()
        assert payment.status == S.AWAITING_3DS
        assert payment.lease_until is None


# --- leases ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_payment_leased_by_another_run_is_skipped():
    payment = PaymentFactory(status=S.AWAITING_3DS, created_at=timezone.now() - timedelta(hours=1))
    later = timezone.now() + timedelta(minutes=1)
    Payment.objects.filter(pk=payment.pk).update(lease_until=later)
    out = run()
    assert "1 payment(s) skipped: another run holds them" in out
    payment.refresh_from_db()
    assert payment.lease_until == later
    assert payment.status == S.AWAITING_3DS


@pytest.mark.django_db(transaction=True)
def test_expired_lease_is_taken_over_and_released():
    payment = PaymentFactory(status=S.AWAITING_3DS)
    Payment.objects.filter(pk=payment.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    with sync.leased([payment.pk]) as claimed:
        assert claimed == [payment.pk]
        payment.refresh_from_db()
        assert payment.lease_until > timezone.now()
        with sync.leased([payment.pk]) as again:
            assert again == []
    payment.refresh_from_db()
    assert payment.lease_until is None


# --- order_paid until fulfilled ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_order_paid_is_resent_until_the_order_is_fulfilled(paid_events):
    settled = timezone.now() - timedelta(hours=1)
    paid = PaymentFactory(status=S.PAID, captured_amount=1999, settled_at=settled)
    held = PaymentFactory(status=S.HELD, settled_at=settled)
    PaymentFactory(status=S.REFUNDED, captured_amount=1999, refunded_amount=1999)
    done = PaymentFactory(status=S.PAID, captured_amount=1999, settled_at=settled)
    backoffice.mark_fulfilled(done.order)
    young = PaymentFactory(status=S.PAID, captured_amount=1999, settled_at=timezone.now())

    out = io.StringIO()
    call_command("checkout_sync", "--older-than", "10m", stdout=out)
    assert sorted(e["payment"].pk for e in paid_events) == sorted([paid.pk, held.pk])
    assert {e["captured"] for e in paid_events} == {True, False}
    assert "order_paid re-sent 2" in out.getvalue()
    assert young.pk not in [e["payment"].pk for e in paid_events]

    backoffice.mark_fulfilled(Order.objects.get(pk=paid.order_id))
    paid_events.clear()
    call_command("checkout_sync", "--older-than", "10m", stdout=out)
    assert [e["payment"].pk for e in paid_events] == [held.pk]


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_does_not_stop_the_run(paid_events):
    settled = timezone.now() - timedelta(hours=1)
    first = PaymentFactory(status=S.PAID, captured_amount=1999, settled_at=settled)
    second = PaymentFactory(status=S.PAID, captured_amount=1999, settled_at=settled)

    def broken(sender, payment, **kwargs):
        if payment.pk == first.pk:
            raise RuntimeError("mail server down")

    signals.order_paid.connect(broken, dispatch_uid="sync-broken")
    try:
        out = run()
    finally:
        signals.order_paid.disconnect(dispatch_uid="sync-broken")
    assert "order_paid receiver failed: mail server down" in out
    assert "order_paid re-sent 1" in out
    assert second.pk in [e["payment"].pk for e in paid_events]


# --- the report ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_report_is_mailed_once_and_logged_every_time(caplog):
    review = PaymentFactory(status=S.NEEDS_REVIEW)
    unknown = PaymentFactory(status=S.OUTCOME_UNKNOWN)
    stuck = PaymentFactory(
        status=S.PAID,
        captured_amount=1999,
        pending_operation="refund",
        pending_amount=100,
        pending_since=timezone.now() - timedelta(hours=2),
    )
    NotificationFactory(valid=True, attempts=sync.MAX_NOTIFICATION_ATTEMPTS, error="boom")
    items = sync.report_items()
    assert set(items) == {
        "Needs review (the gateway's answer did not match the order)",
        "Outcome unknown (a payment call went unanswered)",
        "Back-office operation with unknown outcome",
        "Notifications that keep failing",
    }
    for _ in range(2):
        sync.report()
    [message] = mail.outbox
    assert message.to == ["admin@shop.example"]
    assert "4 payment item(s) need attention" in message.subject
    for payment in (review, unknown, stuck):
        assert payment.order_number in message.body
    assert "refund of 1.00 EUR" in message.body
    warnings = [
        r for r in caplog.records if r.levelname == "WARNING" and "need attention" in r.msg % r.args
    ]
    assert len(warnings) == 2


@pytest.mark.django_db(transaction=True)
def test_report_is_mailed_while_the_cache_is_down(settings):
    review = PaymentFactory(status=S.NEEDS_REVIEW)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Nothing listens on the discard port: every cache call fails at once.
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    out = run()
    # Better the same report twice in a day than none while things are failing.
    assert "1 payment item(s) need attention" in out and "checked 0" in out
    [message] = mail.outbox
    assert review.order_number in message.body
