"""checkout_sync works through its backlog a batch at a time, with long-lived workers.

The candidates are claimed in pages of ``BATCH_SIZE`` (never loaded whole), the claimed
payments' leases are released batch by batch, and each worker thread opens one database
connection for the whole run and closes it when it ends.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.db.backends.signals import connection_created
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checkout import sync
from checkout.models import Exchange, Payment, PaymentStatus, StatusChange
from tests.test_sync import FRICTIONLESS_CARD, bank_order, pay

S = PaymentStatus
BATCH = 5
OPTIONS = {"older_than": timedelta(minutes=10), "report": False}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live(sandbox_url, live_server):
    return live_server.url


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(sync, "BATCH_SIZE", BATCH)


def stale(base_url: str, count: int) -> list[Payment]:
    """``count`` payments paid at the bank an hour ago that the shop sees awaiting 3-D Secure."""
    from checkout.sandbox.processing import start_acs

    payments = [pay(base_url, FRICTIONLESS_CARD) for _ in range(count)]
    for payment in payments:
        start_acs(bank_order(payment))
    Payment.objects.filter(pk__in=[p.pk for p in payments]).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    return payments


def status_queries(payments: list[Payment]) -> dict[int, int]:
    """getOrderStatusExtended.do exchanges logged per payment."""
    counts = dict.fromkeys((p.pk for p in payments), 0)
    rows = Exchange.objects.filter(
        payment__in=payments, operation="getOrderStatusExtended.do"
    ).values_list("payment_id", flat=True)
    for pk in rows:
        counts[pk] += 1
    return counts


def test_leases_are_taken_a_batch_at_a_time_and_held_within_bounds(live, small_batches):
    workers = 2
    payments = stale(live, 40)
    leases: dict[object, set[int]] = {}
    held: list[int] = []

    def progress(line: str) -> None:
        # Between two payments, from the calling thread: what the run holds right now.
        rows = list(
            Payment.objects.filter(lease_until__isnull=False).values_list("pk", "lease_until")
        )
        held.append(len(rows))
        for pk, until in rows:
            leases.setdefault(until, set()).add(pk)

    summary = sync.run(sync.Options(workers=workers, **OPTIONS), progress)

    assert (summary.checked, summary.changed, summary.failed) == (40, 40, 0)
    assert [line.split("]")[0] for line in summary.lines if line.startswith("[")] == [
        f"[{i}/40" for i in range(1, 41)
    ]
    assert set(Payment.objects.values_list("status", flat=True)) == {S.PAID}
    # Each claim leases one batch; a batch stays leased until its last payment is done,
    # so at most the producer's batch, the queued ones and one per worker are held.
    assert leases, "no lease was ever seen while the run was going"
    assert all(len(pks) <= BATCH for pks in leases.values())
    assert len(leases) >= 2
    assert 0 < max(held) <= (workers + 3) * BATCH < len(payments)
    assert not Payment.objects.filter(lease_until__isnull=False).exists()


def test_the_backlog_is_claimed_page_by_page(live, small_batches):
    payments = stale(live, 12)
    with CaptureQueriesContext(connection) as captured:
        summary = sync.run(sync.Options(workers=1, **OPTIONS))
    assert summary.checked == 12
    claims = [
        q["sql"]
        for q in captured.captured_queries
        # The claim reads the key and the lease of each row of a page, nothing else.
        if q["sql"].startswith('SELECT "jcc_checkout_payment"."id" AS "pk", ')
        and '"lease_until" AS "lease_until" FROM' in q["sql"]
    ]
    # Pages of 5, 5 and 2: the short page is the last one, nothing is read past it.
    assert len(claims) == 3
    assert all(f"LIMIT {BATCH}" in sql for sql in claims)
    assert '"id" > ' not in claims[0] and all('"id" > ' in sql for sql in claims[1:])
    if connection.vendor == "postgresql":
        assert all("FOR UPDATE" in sql and "SKIP LOCKED" in sql for sql in claims)
    # No other query reads the candidates' keys: the total comes from a COUNT.
    assert sum("COUNT(*)" in q["sql"] for q in captured.captured_queries) >= 1
    assert status_queries(payments) == {p.pk: 1 for p in payments}


def test_each_worker_opens_one_connection_and_closes_it_when_it_ends(live, small_batches):
    workers = 3
    payments = stale(live, 20)
    opened: list[tuple[str, object]] = []
    lock = threading.Lock()

    def on_connect(sender, connection, **kwargs):
        with lock:
            opened.append((threading.current_thread().name, connection))

    connection_created.connect(on_connect, dispatch_uid="sync-batches-connections")
    try:
        summary = sync.run(sync.Options(workers=workers, **OPTIONS))
    finally:
        connection_created.disconnect(dispatch_uid="sync-batches-connections")

    assert summary.checked == len(payments)
    ours = [(name, wrapper) for name, wrapper in opened if name.startswith("checkout_sync")]
    names = [name for name, _ in ours]
    # The producer and every applier once each, not once per payment; the workers that
    # ask the gateway never wait for the database, and open no connection.
    assert sorted(names) == sorted(
        {"checkout_sync-claim", *(f"checkout_sync-apply-{n}" for n in range(workers))}
    )
    assert all(wrapper.connection is None for _, wrapper in ours), "a connection was left open"
    assert not any(t.name.startswith("checkout_sync") for t in threading.enumerate())


def test_a_failing_payment_does_not_stop_the_workers(live, small_batches, settings):
    payments = stale(live, 8)
    broken = payments[3]
    # A gateway order id the gateway does not know: the status query is refused.
    Payment.objects.filter(pk=broken.pk).update(
        gateway_order_id="00000000-0000-0000-0000-000000000000"
    )
    summary = sync.run(sync.Options(workers=3, **OPTIONS))
    assert (summary.checked, summary.failed, summary.changed) == (8, 1, 7)
    assert any(f"{broken.order_number}: failed:" in line for line in summary.lines)
    assert set(Payment.objects.exclude(pk=broken.pk).values_list("status", flat=True)) == {S.PAID}
    assert not Payment.objects.filter(lease_until__isnull=False).exists()


def test_a_failing_progress_callback_stops_the_run_and_releases_its_leases(live, small_batches):
    stale(live, 30)
    seen: list[str] = []

    def progress(line: str) -> None:
        seen.append(line)
        if line.startswith("[3/"):
            raise BrokenPipeError("the terminal went away")

    with pytest.raises(BrokenPipeError):
        sync.run(sync.Options(workers=2, **OPTIONS), progress)
    paid = Payment.objects.filter(status=S.PAID).count()
    # The workers stop taking payments; the ones in flight are finished.
    assert 3 <= paid < 30
    assert not Payment.objects.filter(lease_until__isnull=False).exists()
    assert not any(t.name.startswith("checkout_sync") for t in threading.enumerate())
    assert StatusChange.objects.filter(to_status=S.PAID).count() == paid


def test_dry_run_pages_through_without_leasing(live, small_batches):
    payments = stale(live, 12)
    leased: list[bool] = []

    def progress(line: str) -> None:
        leased.append(Payment.objects.filter(lease_until__isnull=False).exists())

    summary = sync.run(sync.Options(workers=3, dry_run=True, **OPTIONS), progress)
    assert summary.checked == 12
    assert sum("awaiting_3ds -> paid (dry run)" in line for line in summary.lines) == 12
    assert not any(leased)
    assert set(Payment.objects.values_list("status", flat=True)) == {S.AWAITING_3DS}
    assert status_queries(payments) == {p.pk: 1 for p in payments}
