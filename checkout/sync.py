"""Reconciliation: settle what callbacks and return views left open.

Run by ``manage.py checkout_sync`` from cron on every web host. Each run claims the
payments it works on with a lease (``Payment.lease_until``) taken under
``select_for_update(skip_locked=True)`` in a short transaction, so runs on several hosts
share the work instead of repeating it; the gateway is queried outside any transaction,
with at most ``workers`` queries at a time.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.core.cache import cache
from django.core.mail import mail_admins
from django.db import connection, connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from checkout import backoffice, callbacks, services
from checkout.conf import checkout_settings
from checkout.exchanges import held_exchanges, save_exchanges
from checkout.gateway import ExchangeRecord, OrderStatus
from checkout.models import Notification, Payment
from checkout.money import format_amount
from checkout.services import settlement
from checkout.status import (
    ACTIVE_STATUSES,
    FULFILMENT_STATUSES,
    PaymentStatus,
    Source,
)

__all__ = [
    "Options",
    "Summary",
    "candidates",
    "leased",
    "parse_duration",
    "report",
    "report_items",
    "run",
    "settle",
    "unfulfilled",
]

logger = logging.getLogger(__name__)

S = PaymentStatus

#: Deliveries tried this often without success are reported instead of retried.
MAX_NOTIFICATION_ATTEMPTS = 10
#: Payments claimed (and released) together.
BATCH_SIZE = 20
#: Needs-review payments are reported while they are this recent.
REVIEW_WINDOW = timedelta(days=7)
#: The same report is mailed at most once in this time.
REPORT_REPEAT = 24 * 60 * 60

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``"90"``, ``"90s"``, ``"15m"``, ``"2h"``, ``"1d"`` as a timedelta."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"Not a duration: {text!r} (use e.g. 90s, 15m, 2h, 1d).")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2).lower()])


@dataclass
class Options:
    """What one run does."""

    older_than: timedelta = timedelta(minutes=10)
    orders: list[str] = field(default_factory=list)
    dry_run: bool = False
    workers: int = 4
    report: bool = True


@dataclass
class Summary:
    """What one run did."""

    checked: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    notifications: int = 0
    resent: int = 0
    report: str = ""
    lines: list[str] = field(default_factory=list)


# --- selection -------------------------------------------------------------------------


def candidates(options: Options, now: datetime | None = None) -> QuerySet[Payment]:
    """Payments whose state this run should settle with a status query."""
    now = now or timezone.now()
    if options.orders:
        # Named explicitly: look at every attempt of those orders, whatever its age.
        return Payment.objects.identified_by(*options.orders).order_by("pk")
    cutoff = now - options.older_than
    hold_cutoff = now - timedelta(seconds=int(checkout_settings.HOLD_WARNING_AGE))
    failed_notifications = Notification.objects.filter(
        processed_at__isnull=True,
        payment__isnull=False,
        received_at__lte=cutoff,
        attempts__lt=MAX_NOTIFICATION_ATTEMPTS,
    ).exclude(valid=False)
    return Payment.objects.filter(
        Q(status__in=ACTIVE_STATUSES, created_at__lte=cutoff)
        | Q(status=S.HELD, created_at__lte=hold_cutoff)
        | (~Q(pending_operation="") & Q(pending_since__lte=cutoff))
        | Q(pk__in=failed_notifications.values("payment_id"))
    ).order_by("pk")


def unfulfilled(options: Options, now: datetime | None = None) -> QuerySet[Payment]:
    """Paid attempts whose order the shop has not marked fulfilled."""
    now = now or timezone.now()
    payments = Payment.objects.filter(
        status__in=FULFILMENT_STATUSES, order__fulfilled_at__isnull=True
    )
    cutoff = now - options.older_than
    if options.orders:
        payments = payments.filter(pk__in=Payment.objects.identified_by(*options.orders))
        cutoff = now
    # Only once the first order_paid (sent on commit) had its chance.
    return payments.filter(settled_at__lte=cutoff).order_by("pk")


# --- leases ---------------------------------------------------------------------------


@contextmanager
def leased(pks: list[int]) -> Iterator[list[int]]:
    """Claim the payments no other run holds; release them afterwards.

    The claim is one short transaction: rows another run has locked at this moment are
    skipped, rows with an unexpired lease are left alone.
    """
    now = timezone.now()
    until = now + timedelta(seconds=int(checkout_settings.SYNC_LEASE))
    with transaction.atomic():
        free = list(
            Payment.objects.select_for_update(skip_locked=True)
            .filter(pk__in=pks)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .values_list("pk", flat=True)
        )
        Payment.objects.filter(pk__in=free).update(lease_until=until)
    try:
        yield free
    finally:
        # Only our own lease: a run that outlived it may find another run's lease there.
        Payment.objects.filter(pk__in=free, lease_until=until).update(lease_until=None)


# --- the work on one payment ---------------------------------------------------------------


def _describe(payment: Payment) -> str:
    return f"{payment.order_number} ({format_amount(payment.amount, payment.currency)})"


def settle(pk: int, *, dry_run: bool = False) -> tuple[str, bool]:
    """Settle one payment by a status query. Returns a progress line and whether it changed."""
    payment = Payment.objects.select_related("order").get(pk=pk)
    if dry_run:
        return _preview(payment), False
    return _apply(_ask(payment))


@dataclass
class _Asked:
    """A payment and what the gateway said about it, waiting to be applied.

    ``status`` is the answer to apply; without one, ``line`` and ``changed`` say what
    asking came to already (an operation in flight settled, an order the gateway does not
    know, nothing to apply).
    """

    payment: Payment
    before: str
    #: The exchange rows of the query, written in the transaction that applies it.
    held: list[ExchangeRecord]
    status: OrderStatus | None = None
    line: str = ""
    changed: bool = False


def _ask(payment: Payment) -> _Asked:
    """Ask the gateway about ``payment``; no database work unless the answer needs it.

    Raises what the query raises, with its exchange row written.
    """
    before = payment.status
    if payment.pending_operation:
        operation = payment.pending_operation
        payment, outcome = backoffice.settle_pending(payment, source=Source.RECONCILIATION)
        line = f"{_describe(payment)}: pending {operation}: {outcome}, now {payment.status}"
        return _Asked(payment, before, [], line=line, changed=outcome != "pending")
    held: list[ExchangeRecord] = []
    try:
        with held_exchanges(held):
            asked = settlement.ask_gateway(payment, source=Source.RECONCILIATION)
    except BaseException:
        save_exchanges(held)
        raise
    if isinstance(asked, OrderStatus):
        return _Asked(payment, before, held, status=asked)
    payment, changed = asked
    return _Asked(payment, before, held, line=_arrow(payment, before), changed=changed)


def _apply(asked: _Asked) -> tuple[str, bool]:
    """Apply what ``_ask()`` brought back: a progress line and whether the payment changed."""
    payment, held = asked.payment, asked.held
    counted: list[int] = []
    changed = asked.changed

    def then(locked: Payment) -> None:
        # In the transaction that applies the answer: its exchange row and the
        # deliveries it settles, one commit for all three.
        records = [replace(record, context=locked) for record in held]
        held.clear()
        save_exchanges(records)
        counted.append(_settle_notifications(locked))

    try:
        if asked.status is not None:
            payment, changed = settlement.apply_order_status(
                payment, asked.status, source=Source.RECONCILIATION, then=then
            )
    finally:
        # What the transaction did not write (no answer to apply, or it failed).
        save_exchanges(held)
    line = asked.line or _arrow(payment, asked.before)
    count = counted[0] if counted else _settle_notifications(payment)
    return _with_notifications(line, count), changed or payment.status != asked.before


def _arrow(payment: Payment, before: str) -> str:
    arrow = f"{before} -> {payment.status}" if payment.status != before else before
    return f"{_describe(payment)}: {arrow}"


def _settle_notifications(payment: Payment) -> int:
    """Mark the payment's unprocessed (not refused) deliveries settled by this run."""
    done = Notification.objects.filter(payment=payment, processed_at__isnull=True).exclude(
        valid=False
    )
    return done.update(processed_at=timezone.now(), error="settled by checkout_sync")


def _with_notifications(line: str, count: int) -> str:
    return line + f" ({count} failed notification(s) settled)" if count else line


def _preview(payment: Payment) -> str:
    status = services.query_status(payment)
    target = settlement.target_status(status)
    pending = f", pending {payment.pending_operation}" if payment.pending_operation else ""
    if target is None or target == payment.status:
        return f"{_describe(payment)}: {payment.status}{pending}: no change (dry run)"
    return f"{_describe(payment)}: {payment.status} -> {target}{pending} (dry run)"


# --- the run ------------------------------------------------------------------------------


def run(options: Options, progress: Callable[[str], None] = lambda line: None) -> Summary:
    """One reconciliation pass; ``progress`` receives a line per item.

    The candidates are claimed a batch at a time, in order of their primary key (never the
    whole backlog at once), and settled by ``options.workers`` threads; see
    ``docs/operating/sync.md``.
    """
    summary = Summary()
    # One reference time: what this run settles itself (and announces on commit) is not
    # re-announced by the same run.
    started = timezone.now()

    def say(line: str) -> None:
        summary.lines.append(line)
        progress(line)

    queryset = candidates(options, started)
    total = queryset.count()
    say(f"{total} payment(s) to check" + (" (dry run)" if options.dry_run else ""))
    position = 0

    def record(line: str, changed: bool, failed: bool) -> None:
        nonlocal position
        position += 1
        summary.checked += 1
        summary.changed += int(changed)
        summary.failed += int(failed)
        say(f"[{position}/{total}] {line}")

    size = max(BATCH_SIZE, options.workers)
    batches = _batches(queryset, size=size, lease=not options.dry_run, summary=summary)
    threads = min(options.workers, total)
    if threads <= 1:
        _settle_here(batches, options, record)
    else:
        _settle_in_threads(batches, options, threads, size, record)
    if summary.skipped:
        say(f"{summary.skipped} payment(s) skipped: another run holds them")
    if not options.dry_run:
        summary.notifications = _retry_notifications(options, say, started)
    summary.resent = _resend_order_paid(options, say, started)
    if options.report:
        summary.report = report(send=not options.dry_run)
        if summary.report:
            say(summary.report)
    say(
        f"checked {summary.checked}, changed {summary.changed}, failed {summary.failed}, "
        f"notifications retried {summary.notifications}, order_paid re-sent {summary.resent}"
    )
    return summary


class _Batch:
    """Payments claimed together: their lease is released once the last one is done."""

    def __init__(self, pks: list[int], until: datetime | None) -> None:
        self.pks = pks
        #: The end of this run's lease on them; None when nothing was leased (dry run).
        self.until = until
        self._left = len(pks)
        self._lock = threading.Lock()

    def done(self) -> None:
        """One of the payments is done (settled, failed or given up)."""
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last and self.until is not None:
            _release(self.pks, self.until)


def _release(pks: list[int], until: datetime) -> None:
    # Only our own lease: a run that outlived it may find another run's lease there.
    try:
        Payment.objects.filter(pk__in=pks, lease_until=until).update(lease_until=None)
    except Exception:
        # The lease runs out by itself (SYNC_LEASE); the next run takes them over then.
        logger.warning(
            "checkout_sync: leases of %d payment(s) not released", len(pks), exc_info=True
        )


def _batches(
    queryset: QuerySet[Payment], *, size: int, lease: bool, summary: Summary
) -> Iterator[_Batch]:
    """The candidates, a page of ``size`` at a time by primary key, each page claimed.

    Keyset pagination: each page starts after the last primary key of the one before, so
    the backlog is never loaded whole and a page claimed by another run meanwhile is not
    looked at twice. Counts the payments another run holds in ``summary.skipped``.
    """
    after: int | None = None
    while True:
        page = queryset if after is None else queryset.filter(pk__gt=after)
        if lease:
            batch, seen, last = _claim(page, size)
        else:
            pks = list(page.values_list("pk", flat=True)[:size])
            batch, seen, last = _Batch(pks, None), len(pks), (pks[-1] if pks else None)
        if last is None:
            return
        summary.skipped += seen - len(batch.pks)
        after = last
        if batch.pks:
            yield batch
        if seen < size:
            # A short page is the last: skip_locked fills a page past the rows it skips.
            return


def _claim(page: QuerySet[Payment], size: int) -> tuple[_Batch, int, int | None]:
    """Lease the first ``size`` payments of ``page`` that no other run holds.

    One short transaction: rows another transaction has locked at this moment are skipped
    (``skip_locked``), rows with an unexpired lease are left alone. The page is the
    candidate query itself, so a payment another run settled meanwhile is not taken.
    Returns the batch, how many rows the page had and the last primary key seen.
    """
    now = timezone.now()
    until = now + timedelta(seconds=int(checkout_settings.SYNC_LEASE))
    # Only the payment rows: with --order the query joins the order, which stays unlocked.
    of = ("self",) if connections[page.db].features.has_select_for_update_of else ()
    with transaction.atomic():
        rows = list(
            page.select_for_update(skip_locked=True, of=of)
            .order_by("pk")
            .values_list("pk", "lease_until")[:size]
        )
        free = [pk for pk, lease_until in rows if lease_until is None or lease_until < now]
        if free:
            Payment.objects.filter(pk__in=free).update(lease_until=until)
    return _Batch(free, until), len(rows), (rows[-1][0] if rows else None)


_Record = Callable[[str, bool, bool], None]
_Result = tuple[str, bool, bool]


def _settle_one(pk: int, options: Options) -> _Result:
    """A progress line, whether the payment changed and whether settling it failed."""
    try:
        line, changed = settle(pk, dry_run=options.dry_run)
    except Exception as err:
        number = Payment.objects.filter(pk=pk).values_list("order_number", flat=True).first()
        return _failed(pk, number, err)
    return line, changed, False


def _failed(pk: int, number: str | None, err: Exception) -> _Result:
    logger.warning("checkout_sync: payment %s: %s", pk, err, exc_info=True)
    return f"{number or pk}: failed: {err}", False, True


def _settle_here(batches: Iterator[_Batch], options: Options, record: _Record) -> None:
    """One payment after the other, in this thread."""
    for batch in batches:
        try:
            for pk in batch.pks:
                record(*_settle_one(pk, options))
        finally:
            if batch.until is not None:
                _release(batch.pks, batch.until)


#: Threads that apply the gateway's answers in a run with several workers, at most.
APPLIERS = 4

_Item = tuple[int, Payment | None, _Batch]
_Todo = queue.Queue[_Item | None]


def _settle_in_threads(
    batches: Iterator[_Batch], options: Options, workers: int, size: int, record: _Record
) -> None:
    """A producer claims, ``workers`` threads ask the gateway, appliers write the answers.

    The producer claims a batch ahead of the workers and reads its rows in one query. Each
    worker takes a payment, asks the gateway and hands the answer on, so the ``workers``
    status queries in flight never wait for the database; up to ``APPLIERS`` threads apply
    the answers, each in one transaction with its exchange row. Every queue is bounded: at
    most ``2 * size + 2 * workers + APPLIERS`` payments are claimed and not yet settled at
    any time, whatever the backlog. Each thread closes the database connection it opened
    (a worker opens one only for a payment whose query needs it: an operation in flight,
    an order the gateway does not know) when it ends. The progress lines are written here,
    in the calling thread.
    """
    appliers = max(1, min(workers, APPLIERS))
    todo: _Todo = queue.Queue(maxsize=size)
    answers: queue.Queue[tuple[_Asked, _Batch] | None] = queue.Queue(maxsize=workers)
    # Bounded as well: workers wait while the progress lines are being written.
    results: queue.Queue[_Result | None] = queue.Queue(maxsize=size)
    stop = threading.Event()
    errors: list[BaseException] = []
    asking = [workers]
    asking_lock = threading.Lock()

    def produce() -> None:
        try:
            for batch in batches:
                rows = Payment.objects.select_related("order").in_bulk(batch.pks)
                for index, pk in enumerate(batch.pks):
                    if not _put(todo, (pk, rows.get(pk), batch), stop):
                        # Given up: what was claimed and not handed out is released.
                        for _ in batch.pks[index:]:
                            batch.done()
                        return
        except BaseException as err:
            errors.append(err)
        finally:
            try:
                for _ in range(workers):
                    todo.put(None)
            finally:
                connection.close()

    def ask() -> None:
        try:
            while (item := todo.get()) is not None:
                pk, payment, batch = item
                handed = False
                try:
                    if stop.is_set():
                        continue
                    if payment is None or options.dry_run:
                        result = _settle_one(pk, options)
                    else:
                        try:
                            asked = _ask(payment)
                        except Exception as err:
                            result = _failed(pk, payment.order_number, err)
                        else:
                            answers.put((asked, batch))
                            handed = True
                            continue
                    if result[2]:
                        _drop_broken_connection()
                    results.put(result)
                finally:
                    if not handed:
                        batch.done()
        finally:
            with asking_lock:
                asking[0] -= 1
                last = asking[0] == 0
            if last:
                for _ in range(appliers):
                    answers.put(None)
            results.put(None)
            connection.close()

    def apply() -> None:
        try:
            while (item := answers.get()) is not None:
                asked, batch = item
                try:
                    try:
                        line, changed = _apply(asked)
                    except Exception as err:
                        result = _failed(asked.payment.pk, asked.payment.order_number, err)
                        _drop_broken_connection()
                    else:
                        result = (line, changed, False)
                    results.put(result)
                finally:
                    batch.done()
        finally:
            results.put(None)
            connection.close()

    threads = [threading.Thread(target=produce, name="checkout_sync-claim")]
    threads += [threading.Thread(target=ask, name=f"checkout_sync-{n}") for n in range(workers)]
    threads += [
        threading.Thread(target=apply, name=f"checkout_sync-apply-{n}") for n in range(appliers)
    ]
    for thread in threads:
        thread.start()
    running = workers + appliers
    try:
        while running:
            result = results.get()
            if result is None:
                running -= 1
            else:
                record(*result)
    finally:
        stop.set()
        # Drained, so that no thread waits for room to report what it had in flight.
        while running:
            if results.get() is None:
                running -= 1
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


def _put(todo: _Todo, item: _Item, stop: threading.Event) -> bool:
    """Hand ``item`` to the workers as soon as there is room; False once the run stops."""
    while not stop.is_set():
        try:
            todo.put(item, timeout=0.1)
        except queue.Full:
            continue
        return True
    return False


def _drop_broken_connection() -> None:
    """Close this thread's connection if a database error left it unusable."""
    if connection.connection is not None and connection.errors_occurred:
        connection.errors_occurred = False
        if not connection.is_usable():
            connection.close()


def _retry_notifications(options: Options, say: Callable[[str], None], now: datetime) -> int:
    """Deliveries that failed before a payment could be linked (key missing, crash)."""
    cutoff = now - options.older_than
    pending = (
        Notification.objects.filter(
            processed_at__isnull=True,
            payment__isnull=True,
            received_at__lte=cutoff,
            attempts__lt=MAX_NOTIFICATION_ATTEMPTS,
        )
        .exclude(valid=False)
        .order_by("pk")
    )
    if options.orders:
        numbers = [o.strip() for o in options.orders]
        pending = pending.filter(
            Q(params__orderNumber__in=numbers) | Q(params__mdOrder__in=numbers)
        )
    count = 0
    for notification in pending[:500]:
        outcome = callbacks.handle(notification, source=Source.RECONCILIATION)
        count += 1
        say(f"notification {notification.pk}: {outcome.status} {outcome.reason}")
    return count


def _resend_order_paid(options: Options, say: Callable[[str], None], now: datetime) -> int:
    pks = list(unfulfilled(options, now).values_list("pk", flat=True))
    if options.dry_run:
        for payment in Payment.objects.filter(pk__in=pks):
            say(f"{_describe(payment)}: order not fulfilled: would re-send order_paid")
        return 0
    sent = 0
    for start in range(0, len(pks), BATCH_SIZE):
        with leased(pks[start : start + BATCH_SIZE]) as claimed:
            for payment in Payment.objects.filter(pk__in=claimed).select_related("order"):
                # Re-read: the shop may have fulfilled it since the query above.
                if payment.order.fulfilled_at is not None:
                    continue
                try:
                    services.send_order_paid(payment)
                except Exception as err:
                    logger.warning(
                        "checkout_sync: order_paid receiver failed for %s: %s",
                        payment.order_number,
                        err,
                        exc_info=True,
                    )
                    say(f"{_describe(payment)}: order_paid receiver failed: {err}")
                    continue
                sent += 1
                say(f"{_describe(payment)}: order not fulfilled: order_paid re-sent")
    return sent


# --- the report -------------------------------------------------------------------------


def report_items(now: datetime | None = None) -> dict[str, list[str]]:
    """What needs a person: review cases, unknown outcomes, old holds, stuck deliveries."""
    now = now or timezone.now()
    grace = now - backoffice.operation_grace()
    hold_cutoff = now - timedelta(seconds=int(checkout_settings.HOLD_WARNING_AGE))
    items: dict[str, list[str]] = {}

    def add(title: str, payments: QuerySet[Payment], detail: Callable[[Payment], str]) -> None:
        lines = [f"  {_describe(p)}: {detail(p)}" for p in payments.order_by("pk")[:200]]
        if lines:
            items[title] = lines

    add(
        "Needs review (the gateway's answer did not match the order)",
        Payment.objects.filter(status=S.NEEDS_REVIEW, updated_at__gte=now - REVIEW_WINDOW),
        lambda p: f"order {p.order.public_id}",
    )
    add(
        "Outcome unknown (a payment call went unanswered)",
        Payment.objects.filter(status=S.OUTCOME_UNKNOWN),
        lambda p: f"since {p.updated_at:%Y-%m-%d %H:%M}",
    )
    add(
        "Back-office operation with unknown outcome",
        Payment.objects.exclude(pending_operation="").filter(pending_since__lt=grace),
        lambda p: (
            f"{p.pending_operation} of {format_amount(p.pending_amount, p.currency)} "
            f"since {p.pending_since:%Y-%m-%d %H:%M}"
        ),
    )
    add(
        "Holds close to automatic release (capture or void them)",
        Payment.objects.filter(status=S.HELD, created_at__lte=hold_cutoff),
        lambda p: f"held since {p.created_at:%Y-%m-%d %H:%M}",
    )
    stuck = (
        Notification.objects.filter(
            processed_at__isnull=True, attempts__gte=MAX_NOTIFICATION_ATTEMPTS
        )
        .exclude(valid=False)
        .order_by("pk")[:200]
    )
    lines = [f"  notification {n.pk} ({n}): {n.error[:120]}" for n in stuck]
    if lines:
        items["Notifications that keep failing"] = lines
    return items


def report(*, send: bool = True) -> str:
    """Mail the site admins (and log a warning) about what needs a person; "" if nothing.

    The same report is mailed at most once a day, so a run every few minutes does not
    flood the admins; the warning is logged every time.
    """
    items = report_items()
    if not items:
        return ""
    body = "\n\n".join(f"{title}:\n" + "\n".join(lines) for title, lines in items.items())
    count = sum(len(lines) for lines in items.values())
    subject = f"checkout_sync: {count} payment item(s) need attention"
    if send:
        logger.warning("%s\n%s", subject, body)
        digest = hashlib.sha256(body.encode()).hexdigest()
        key = f"checkout_sync:report:{digest}"
        try:
            first = cache.add(key, True, timeout=REPORT_REPEAT)
        except Exception:
            # Better the same report twice in a day than none while things are failing.
            logger.exception("checkout_sync: report not deduplicated: the cache is unavailable")
            first = True
        if first:
            mail_admins(subject, body)
    return f"{subject}\n{body}"
