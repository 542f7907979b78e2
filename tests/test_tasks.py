"""Callback processing and reconciliation as tasks of Django's tasks framework."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from checkout import sync, tasks
from checkout.cards import CardData
from checkout.checks import check_background_tasks
from checkout.models import Exchange, Notification, Payment, PaymentStatus
from checkout.sandbox import crypto, defaults
from checkout.sandbox.models import Order as BankOrder
from checkout.sandbox.processing import start_acs
from checkout.services import create_order, start_payment, submit_payment

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(tasks.framework() is None, reason="no tasks framework installed"),
]
S = PaymentStatus
FRICTIONLESS = CardData(pan="4111111111111111", cvc="123", expiry="203012")
FRAMEWORK = tasks.framework().__name__ if tasks.framework() else ""


def backend_path(name: str) -> str:
    return f"{FRAMEWORK}.backends.{name.lower()}.{name}Backend"


@pytest.fixture
def queue(settings):
    """Background processing on, on the framework's in-memory backend (nothing runs)."""
    settings.TASKS = {"default": {"BACKEND": backend_path("Dummy")}}
    settings.CHECKOUT = {**settings.CHECKOUT, "BACKGROUND_TASKS": True}
    backend = tasks.framework().default_task_backend
    backend.clear()
    yield backend.results
    backend.clear()


def queued(results, task) -> list[list]:
    return [list(r.args) for r in results if r.task.func is task.func]


def authenticated(base_url: str) -> Payment:
    """A payment whose shopper passed 3-D Secure: the callback is what settles it."""
    order = create_order(amount=2500, currency="EUR", description="Queued")
    back = base_url + reverse("jcc_checkout:return")
    payment, _ = submit_payment(
        start_payment(order), back_url=back, fail_url=back, card=FRICTIONLESS
    )
    assert payment.status == S.AWAITING_3DS
    start_acs(BankOrder.objects.get(pk=payment.gateway_order_id))
    return payment


def deliver(payment: Payment, *, secret: str = defaults.CALLBACK_SECRET):
    params = {
        "mdOrder": payment.gateway_order_id,
        "orderNumber": payment.order_number,
        "operation": "deposited",
        "status": "1",
    }
    params["checksum"] = crypto.hmac_checksum(params, secret)
    return Client(raise_request_exception=True).post(
        reverse("jcc_checkout:callback"), urlencode(params), "application/x-www-form-urlencoded"
    )


def status_queries(payment: Payment) -> int:
    return Exchange.objects.filter(payment=payment, operation="getOrderStatusExtended.do").count()


def test_a_verified_delivery_is_stored_queued_and_answered_at_once(sandbox_url, live_server, queue):
    payment = authenticated(live_server.url)
    answer = deliver(payment)
    assert answer.status_code == 200
    row = Notification.objects.get()
    assert row.valid is True and row.processed_at is None
    # Nothing asked the gateway yet: the worker does.
    payment.refresh_from_db()
    assert payment.status == S.AWAITING_3DS and status_queries(payment) == 0
    assert queued(queue, tasks.process_notification) == [[row.pk]]

    result = tasks.process_notification.call(row.pk)
    assert result == "200 OK"
    payment.refresh_from_db()
    row.refresh_from_db()
    assert payment.status == S.PAID and row.processed_at is not None
    # Run again (a redelivered task): nothing more happens.
    assert tasks.process_notification.call(row.pk) == "nothing to do"
    assert status_queries(payment) == 1


def test_a_forged_delivery_is_refused_and_not_queued(sandbox_url, live_server, queue):
    payment = authenticated(live_server.url)
    assert deliver(payment, secret="not-the-key").status_code == 400
    assert Notification.objects.get().valid is False
    assert queue == []


def test_without_the_setting_the_request_processes_it(sandbox_url, live_server, queue, settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "BACKGROUND_TASKS": False}
    payment = authenticated(live_server.url)
    assert deliver(payment).status_code == 200
    payment.refresh_from_db()
    assert payment.status == S.PAID and queue == []


def test_on_the_immediate_backend_the_task_runs_in_the_request(sandbox_url, live_server, settings):
    settings.TASKS = {"default": {"BACKEND": backend_path("Immediate")}}
    settings.CHECKOUT = {**settings.CHECKOUT, "BACKGROUND_TASKS": True}
    payment = authenticated(live_server.url)
    assert deliver(payment).status_code == 200
    payment.refresh_from_db()
    assert payment.status == S.PAID
    assert Notification.objects.get().processed_at is not None


def test_deferred_deliveries_queue_one_follow_up_per_window(
    sandbox_url, live_server, queue, settings
):
    settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_QUERY_INTERVAL": 30}
    payment = authenticated(live_server.url)
    for _ in range(4):
        assert deliver(payment).status_code == 200
    first = Notification.objects.order_by("pk").first()
    tasks.process_notification.call(first.pk)
    for row in Notification.objects.exclude(pk=first.pk):
        tasks.process_notification.call(row.pk)
    follow_ups = [r for r in queue if r.task.func is tasks.follow_up.func]
    assert len(follow_ups) == 1
    assert follow_ups[0].task.run_after >= timezone.now() + timedelta(seconds=25)
    waiting = Notification.objects.filter(processed_at__isnull=True)
    assert waiting.count() == 3

    # When it runs (the slot has freed up by then), one query settles all three.
    payment.refresh_from_db()
    Payment.objects.filter(pk=payment.pk).update(
        callback_query_at=timezone.now() - timedelta(seconds=31)
    )
    before = status_queries(payment)
    tasks.follow_up.call(payment.pk)
    assert not waiting.exists() and status_queries(payment) == before + 1


def test_checkout_sync_work_can_be_queued_per_payment(sandbox_url, live_server, queue):
    payment = authenticated(live_server.url)
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(hours=1))
    count = tasks.enqueue_settlement(sync.Options())
    assert count == 1 and queued(queue, tasks.settle_payment) == [[payment.pk]]
    line = tasks.settle_payment.call(payment.pk)
    payment.refresh_from_db()
    assert payment.status == S.PAID and payment.order_number in line


def test_the_setting_without_a_framework_is_warned_about(settings, monkeypatch):
    settings.CHECKOUT = {**settings.CHECKOUT, "BACKGROUND_TASKS": True}
    assert check_background_tasks() == []
    monkeypatch.setattr(tasks, "_framework", None)
    assert [m.id for m in check_background_tasks()] == ["checkout.W010"]


def test_the_sync_command_queues_instead_of_settling(sandbox_url, live_server, queue):
    from io import StringIO

    from django.core.management import call_command

    payment = authenticated(live_server.url)
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(hours=1))
    out = StringIO()
    call_command("checkout_sync", "--enqueue", stdout=out)
    assert "1 payment(s) queued" in out.getvalue()
    payment.refresh_from_db()
    assert payment.status == S.AWAITING_3DS and status_queries(payment) == 0
    assert queued(queue, tasks.settle_payment) == [[payment.pk]]
