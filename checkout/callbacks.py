"""Callback notifications from the gateway.

Every delivery is stored in a committed row before it is answered and before any status
query is made for it (its checksum checked first, so the row says whether it is valid),
then the payment it names is settled by a ``getOrderStatusExtended.do`` query applied
through ``services.apply_order_status()``. What the notification says
(``operation``, ``status``) is never acted on: it only says *when* to look, so every
delivery is processed the same way and duplicates, late or out-of-order deliveries are
harmless.

Answers: 200 once the outcome is persisted (also for duplicates and for orders this shop
does not know, so the gateway stops retrying); 400 for a notification that cannot be
trusted (missing or wrong checksum, malformed); 503 when our side failed (status query,
database, missing key), so the gateway delivers again and checkout_sync retries too.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from checkout import services
from checkout.checksum import verify_checksum
from checkout.conf import checkout_settings
from checkout.exceptions import CallbackError, GatewayRefused, GatewayUnavailable
from checkout.keys import load_rsa_public_key
from checkout.models import Notification, Payment, Source

__all__ = [
    "BINDING_CHANGED",
    "BY_PENDING",
    "COVERED",
    "DEFERRED",
    "KEPT_HEADERS",
    "MAX_BODY",
    "MAX_PARAMS",
    "MAX_VALUE_LENGTH",
    "NOT_OURS",
    "CallbackKeyMissing",
    "Outcome",
    "callback",
    "claim_query",
    "find_payment",
    "follow_up_now",
    "handle",
    "process",
    "release_query",
    "schedule_follow_up",
    "settle_covered",
    "store",
    "use_background",
    "verify",
]

logger = logging.getLogger(__name__)

#: Longest parameter name or value kept. Real notifications carry ids, codes, amounts and
#: a date; anything longer is not from the gateway and is refused.
MAX_VALUE_LENGTH = 1024
#: Most parameters accepted in one notification (the gateway sends about thirty at most).
MAX_PARAMS = 100
#: Largest request body read, in bytes.
MAX_BODY = 64 * 1024
#: Request headers kept for the audit trail. Never Authorization or Cookie.
KEPT_HEADERS = ("Content-Type", "Content-Length", "User-Agent", "X-Forwarded-For", "X-Real-Ip")
_FORM_TYPES = ("", "application/x-www-form-urlencoded", "text/plain")


class CallbackKeyMissing(Exception):
    """No usable callback key is configured, so no notification can be verified."""


@dataclass(frozen=True)
class Outcome:
    """The result of handling one notification and the HTTP status that reports it."""

    status: int
    reason: str

    @property
    def ok(self) -> bool:
        return self.status == 200


# --- storing --------------------------------------------------------------------------


def _clean(text: str, limit: int = MAX_VALUE_LENGTH) -> tuple[str, bool]:
    """``text`` made storable (no NUL, which PostgreSQL refuses), and whether it changed."""
    cleaned = text.replace("\x00", "")[:limit]
    return cleaned, cleaned != text


def _read_params(request: HttpRequest) -> tuple[dict[str, Any], list[str]]:
    """The notification's parameters (query string plus form body) and what is wrong.

    Parsed here rather than through request.GET/POST so that invalid UTF-8, repeated
    names and oversized input are detected instead of silently replaced or dropped.
    """
    problems: list[str] = []
    query = _wsgi_text(str(request.META.get("QUERY_STRING", "")))
    if query is None:
        problems.append("parameters are not UTF-8")
    sources = [query or ""]
    if request.method == "POST":
        content_type = request.content_type or ""
        if content_type not in _FORM_TYPES:
            problems.append(f"unsupported content type {content_type[:60]!r}")
        else:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > MAX_BODY:
                problems.append("body too large")
            else:
                try:
                    body = request.body
                except RequestDataTooBig:
                    problems.append("body too large")
                    body = b""
                try:
                    sources.append(body.decode("utf-8"))
                except UnicodeDecodeError:
                    problems.append("body is not UTF-8")
    pairs: list[tuple[str, str]] = []
    for source in sources:
        try:
            pairs += parse_qsl(
                source,
                keep_blank_values=True,
                encoding="utf-8",
                errors="strict",
                max_num_fields=MAX_PARAMS,
            )
        except UnicodeDecodeError:
            problems.append("parameters are not UTF-8")
        except ValueError:
            problems.append("too many parameters")
    params: dict[str, Any] = {}
    for raw_name, raw_value in pairs[:MAX_PARAMS]:
        name, name_changed = _clean(raw_name, 100)
        value, value_changed = _clean(raw_value)
        if name_changed or value_changed:
            problems.append(f"parameter {name!r} is too long or has NUL characters")
        if name in params:
            problems.append(f"parameter {name!r} is repeated")
            previous = params[name]
            params[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            params[name] = value
    if len(pairs) > MAX_PARAMS and "too many parameters" not in problems:
        problems.append("too many parameters")
    return params, list(dict.fromkeys(problems))


def _wsgi_text(value: str) -> str | None:
    """A WSGI string (bytes decoded as latin-1, PEP 3333) read as UTF-8; None if it is not."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return value  # already text, not bytes in disguise
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _headers(request: HttpRequest) -> dict[str, str]:
    kept = {}
    for name in KEPT_HEADERS:
        value = request.headers.get(name)
        if value:
            kept[name] = _clean(value.encode("latin-1", "replace").decode("utf-8", "replace"), 512)[
                0
            ]
    return kept


def _remote_addr(request: HttpRequest) -> str | None:
    value = str(request.META.get("REMOTE_ADDR") or "")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def store(request: HttpRequest, *, verified: bool = False) -> Notification:
    """Save the delivery as received (committed at once); malformed input is marked invalid.

    With ``verified``, its checksum is checked first (no I/O), so the row is written once
    with the verdict: valid, refused with the reason, or unverified (no key, or the check
    itself failed) for ``handle()`` to report.
    """
    notification = received(request, verified=verified)
    notification.save()
    return notification


def received(request: HttpRequest, *, verified: bool = True) -> Notification:
    """The delivery as ``store()`` saves it, not saved yet."""
    params, problems = _read_params(request)
    notification = Notification(
        method=(request.method or "")[:8],
        params=params,
        headers=_headers(request),
        remote_addr=_remote_addr(request),
    )
    if problems:
        notification.valid = False
        notification.error = "malformed: " + "; ".join(problems)
    elif verified:
        try:
            verify(notification)
        except CallbackError as err:
            notification.valid, notification.error = False, str(err)[:2000]
        except Exception:
            # Not verified here: handle() verifies again and says why, once the row is safe.
            logger.debug("notification: checksum not checked before storing", exc_info=True)
        else:
            notification.valid = True
    return notification


# --- verifying --------------------------------------------------------------------------


def verify(notification: Notification) -> None:
    """Check the stored notification's checksum; return only if it is verified.

    Raises CallbackError when the notification cannot be trusted and CallbackKeyMissing
    when no key is configured: then nothing can be verified, whatever else is installed,
    and the notification waits (stored) for a key and a later delivery or checkout_sync.
    """
    if notification.valid is False:
        raise CallbackError(notification.error or "malformed notification")
    if notification.valid is True:
        # Verified on arrival: a key retired since must not turn it into a forgery.
        return
    params = notification.params if isinstance(notification.params, Mapping) else {}
    if any(not isinstance(value, str) for value in params.values()):
        raise CallbackError("repeated parameters")
    secrets = list(checkout_settings.CALLBACK_SECRETS)
    public_key = checkout_settings.CALLBACK_PUBLIC_KEY
    if not secrets and not public_key:
        raise CallbackKeyMissing("no callback key is configured (CALLBACK_SECRETS)")
    if public_key:
        try:
            load_rsa_public_key(public_key)
        except ValueError as err:
            # A broken key is our configuration, not the sender's fault.
            raise CallbackKeyMissing(f"CALLBACK_PUBLIC_KEY is unusable: {err}") from None
    verify_checksum(params, secrets=secrets, public_key=public_key)


# --- processing -------------------------------------------------------------------------


def _param(params: Any, name: str) -> str:
    value = params.get(name) if isinstance(params, Mapping) else None
    return value.strip() if isinstance(value, str) else ""


def find_payment(params: Mapping[str, Any]) -> Payment | None:
    """The payment a notification is about: by our order number, else by gateway id.

    The gateway id is a fallback only: a notification naming an order number we do not
    know is about an order that is not ours, whatever its mdOrder says.
    """
    payments = Payment.objects.select_related("order")
    number = _param(params, "orderNumber")
    if number:
        return payments.filter(order_number=number).first()
    md_order = _param(params, "mdOrder")
    if md_order:
        return payments.filter(gateway_order_id=md_order).first()
    return None


def _finish(notification: Notification, *, error: str = "", processed: bool, **fields: Any) -> None:
    updates: dict[str, Any] = {"error": error[:2000], "attempts": F("attempts") + 1, **fields}
    if processed:
        updates["processed_at"] = timezone.now()
    Notification.objects.filter(pk=notification.pk).update(**updates)
    for name, value in updates.items():
        if name != "attempts":
            setattr(notification, name, value)
    notification.attempts += 1


def process(notification: Notification, *, source: str = Source.CALLBACK) -> Outcome:
    """Settle the payment a verified notification names; never raises.

    Called for each delivery, by the admin's re-process action and by checkout_sync.
    """
    try:
        return _process(notification, source)
    except Exception as err:
        # Whatever went wrong is on our side: the gateway delivers again, the row says why.
        logger.exception("notification %s: processing failed", notification.pk)
        try:
            _finish(notification, error=f"{type(err).__name__}: {err}", processed=False)
        except DatabaseError:
            logger.exception("notification %s: could not record the failure", notification.pk)
        return Outcome(503, "temporary failure, please retry")


#: What the row of a delivery about an order this shop does not know says.
NOT_OURS = "unknown order"
#: How the row of a delivery left to a back-office operation in flight begins.
BY_PENDING = "settled by the pending "


def _process(notification: Notification, source: str) -> Outcome:
    params = notification.params
    payment = find_payment(params)
    if payment is None and _param(params, "operation") == BINDING_CHANGED:
        return _binding_changed(notification, params)
    if payment is None:
        # Not ours (another shop on the same merchant account, or a test order). Answering
        # 200 stops the gateway's retries, which could never succeed; the row stays for
        # the operators.
        logger.warning(
            "notification %s: unknown order %r",
            notification.pk,
            _param(params, "orderNumber")[:40],
        )
        _finish(notification, error=NOT_OURS, processed=True)
        return Outcome(200, "unknown order, recorded")
    note = ""
    md_order = _param(params, "mdOrder")
    if md_order and payment.gateway_order_id and md_order != payment.gateway_order_id:
        # Settled from the status query of *this* payment; the other id is not trusted.
        note = f"mdOrder {md_order[:36]!r} is not this payment's gateway order id"
        logger.warning("notification %s: %s", notification.pk, note)
    if payment.pending_operation:
        # A capture, void or refund is in flight: its own status query (or checkout_sync)
        # settles the payment and names the operator in the history.
        _finish(
            notification,
            error=note or f"{BY_PENDING}{payment.pending_operation}",
            processed=True,
            payment=payment,
        )
        return Outcome(200, "OK")
    started = timezone.now()
    if source == Source.CALLBACK and not claim_query(payment.pk, now=started):
        # A callback-triggered query of this payment started within the interval: this
        # delivery is stored and answered, and the follow-up query settles it.
        _finish(notification, error=DEFERRED, processed=False, payment=payment)
        schedule_follow_up(payment.pk)
        return Outcome(200, "OK")
    try:
        payment, changed = _refresh_or_release(payment, source, started)
    except GatewayUnavailable as err:
        logger.warning("notification %s: status query failed: %s", notification.pk, err)
        _finish(notification, error=f"status query failed: {err}", processed=False, payment=payment)
        return Outcome(503, "status query failed, please retry")
    except GatewayRefused as err:
        logger.warning("notification %s: status query refused: %s", notification.pk, err)
        _finish(
            notification, error=f"status query refused: {err}", processed=False, payment=payment
        )
        return Outcome(503, "status query refused, please retry")
    _finish_covering(notification, payment.pk, started, note)
    return _settled(notification, payment, changed)


def _settled(notification: Notification, payment: Payment, changed: bool) -> Outcome:
    """The answer to a delivery whose payment a status query settled, logged."""
    logger.info(
        "notification %s for %s: %s (%s)",
        notification.pk,
        payment.order_number,
        payment.status,
        "changed" if changed else "no change",
    )
    return Outcome(200, "OK")


#: The operation of a notification that a stored card was unbound or bound again.
BINDING_CHANGED = "bindingActivityChanged"


def _binding_changed(notification: Notification, params: Mapping[str, Any]) -> Outcome:
    """A saved card was deactivated or activated at the gateway: compare the wallet.

    The notification names no order, only a binding (and its clientId). What it says is
    not applied: the wallet holding that binding is compared with getBindings.do, whose
    answer decides.
    """
    from checkout.services.saved_cards import reconcile_wallet, wallet_of_binding

    wallet = wallet_of_binding(_param(params, "bindingId"), _param(params, "clientId"))
    if wallet is None:
        _finish(notification, error="unknown binding", processed=True)
        return Outcome(200, "unknown binding, recorded")
    try:
        counts = reconcile_wallet(wallet)
    except (GatewayUnavailable, GatewayRefused) as err:
        logger.warning("notification %s: getBindings.do failed: %s", notification.pk, err)
        _finish(notification, error=f"getBindings.do failed: {err}", processed=False)
        return Outcome(503, "card list query failed, please retry")
    logger.info("notification %s: wallet %s compared: %s", notification.pk, wallet.pk, counts)
    _finish(notification, processed=True)
    return Outcome(200, "OK")


# --- bounded status queries ------------------------------------------------------------

#: What a deferred delivery's row says until a status query covers it.
DEFERRED = "deferred: settled by the next status query of this payment"

#: Payments whose follow-up is due on this process's follow-up thread, and when
#: (``time.monotonic()``).
_scheduled: dict[int, float] = {}
_scheduled_lock = threading.Condition()


def _interval() -> float:
    return max(0.0, float(checkout_settings.CALLBACK_QUERY_INTERVAL))


def claim_query(payment_pk: int, *, now: datetime | None = None) -> bool:
    """Take the payment's slot for a callback-triggered status query; False if taken.

    One slot per ``CALLBACK_QUERY_INTERVAL`` seconds, shared by every host through the
    payment's row (a single conditional UPDATE: no lock is held across gateway I/O).
    """
    interval = _interval()
    if interval <= 0:
        return True
    now = now or timezone.now()
    free = Q(callback_query_at__isnull=True) | Q(
        callback_query_at__lte=now - timedelta(seconds=interval)
    )
    return bool(Payment.objects.filter(free, pk=payment_pk).update(callback_query_at=now))


def release_query(payment_pk: int, started: datetime) -> None:
    """Give the slot back after a query that got no answer, so a redelivery can ask."""
    Payment.objects.filter(pk=payment_pk, callback_query_at=started).update(callback_query_at=None)


def _refresh_or_release(payment: Payment, source: str, started: datetime) -> tuple[Payment, bool]:
    try:
        return services.refresh_payment(payment, source=source)
    except Exception:
        release_query(payment.pk, started)
        raise


#: What a deferred delivery's row says once a later status query settled it.
COVERED = "settled by a later status query"


# --- the callback view's own path ------------------------------------------------------

#: Payments whose query slot this process knows to be taken, and until when: a delivery
#: about one of them is stored deferred at once, without asking the database again. Only
#: ever a shortcut to the answer the payment's row would give (a slot is taken for the
#: interval; one given back early just means the follow-up query asks instead).
_taken: OrderedDict[tuple[str, str], tuple[int, datetime]] = OrderedDict()
_taken_lock = threading.Lock()
_TAKEN_SIZE = 4096


def _remember_taken(key: tuple[str, str], payment_pk: int, until: datetime) -> None:
    with _taken_lock:
        _taken[key] = (payment_pk, until)
        _taken.move_to_end(key)
        while len(_taken) > _TAKEN_SIZE:
            _taken.popitem(last=False)


def _known_taken(key: tuple[str, str], now: datetime) -> int | None:
    with _taken_lock:
        entry = _taken.get(key)
        if entry is None:
            return None
        if entry[1] <= now:
            del _taken[key]
            return None
        return entry[0]


def _forget_taken(payment_pk: int) -> None:
    with _taken_lock:
        for key in [key for key, entry in _taken.items() if entry[0] == payment_pk]:
            del _taken[key]


def _claim_returning(key: tuple[str, str], now: datetime) -> tuple[int, str | None] | None:
    """Take the slot of the payment ``key`` names in one statement: (pk, gateway order id).

    ``claim_query()`` and ``find_payment()`` in one ``UPDATE … RETURNING``: None when no
    payment without an operation in flight has a free slot (then look at the row to see
    why). Only on a database that returns rows from an UPDATE.
    """
    field, value = key
    meta = Payment._meta
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(str(meta.get_field(name).column))  # type: ignore[union-attr]

    slot = column("callback_query_at")
    # Names from the model's metadata, quoted; every value is a parameter.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {slot} = %s "  # noqa: S608
        f"WHERE {column(field)} = %s AND {column('pending_operation')} = %s "
        f"AND ({slot} IS NULL OR {slot} <= %s) "
        f"RETURNING {column('id')}, {column('gateway_order_id')}"
    )
    adapt = connection.ops.adapt_datetimefield_value
    free_before = now - timedelta(seconds=_interval())
    with connection.cursor() as cursor:
        cursor.execute(sql, [adapt(now), value, "", adapt(free_before)])
        row = cursor.fetchone()
    return (int(row[0]), row[1]) if row else None


def _insert(notification: Notification) -> None:
    """Save a new delivery row in one ``INSERT … RETURNING`` built from the model's fields.

    What ``notification.save()`` sends, without the query compiler's work on every
    delivery (most of the time of a deferred one): the values are prepared by each field as
    the ORM prepares them. Model signals are not sent for these rows, as for ``update()``.
    """
    meta = Notification._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(str(field.column)) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(str(meta.pk.column))}"
    )
    values = [
        field.get_db_prep_save(field.pre_save(notification, add=True), connection)
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    notification.pk = row[0]
    notification._state.adding = False
    notification._state.db = connection.alias


def _returning_supported() -> bool:
    return connection.vendor in ("postgresql", "sqlite") and bool(
        connection.features.can_return_columns_from_insert
    )


def _receive(notification: Notification) -> Outcome | None:
    """The callback view's path for a verified delivery: stored, then settled or deferred.

    The same outcome as storing the row and ``process()`` with fewer statements and
    commits: the payment is found and its query slot taken in one statement; a delivery
    that finds the slot taken is stored already deferred (one INSERT, without even that
    statement while this process knows the slot is taken); one that takes it is stored
    before the status query, and its exchange row and processed mark are written in the
    transaction that applies the answer. None: not for this path (no query slot, a
    database without ``UPDATE … RETURNING``, a notification naming no order), the caller
    stores the row and processes it as before.
    """
    params = notification.params
    number, md_order = _param(params, "orderNumber"), _param(params, "mdOrder")
    key = ("order_number", number) if number else ("gateway_order_id", md_order)
    if not key[1] or _interval() <= 0 or not _returning_supported():
        return None
    now = timezone.now()
    known = _known_taken(key, now)
    if known is not None:
        return _store_deferred(notification, known)
    claimed = _claim_returning(key, now)
    if claimed is None:
        payment = find_payment(params)
        if payment is None or payment.pending_operation:
            return None  # not ours, a wallet's, or left to an operation: as before
        taken_at = payment.callback_query_at
        if taken_at is None or taken_at + timedelta(seconds=_interval()) <= now:
            return None  # freed meanwhile: process() claims it
        _remember_taken(key, payment.pk, taken_at + timedelta(seconds=_interval()))
        return _store_deferred(notification, payment.pk)
    payment_pk, gateway_order_id = claimed
    _remember_taken(key, payment_pk, now + timedelta(seconds=_interval()))
    notification.payment_id = payment_pk
    _insert(notification)
    return _settle_claimed(notification, payment_pk, gateway_order_id, number, md_order, now)


def _store_deferred(notification: Notification, payment_pk: int) -> Outcome:
    notification.payment_id = payment_pk
    notification.error = DEFERRED
    notification.attempts = 1
    _insert(notification)
    schedule_follow_up(payment_pk)
    return Outcome(200, "OK")


def _settle_claimed(
    notification: Notification,
    payment_pk: int,
    gateway_order_id: str | None,
    number: str,
    md_order: str,
    started: datetime,
) -> Outcome:
    """The status query of a delivery that took the slot, applied with its marks."""
    from checkout.exchanges import held_exchanges, save_exchanges

    # Asked by gateway order id once known, else by our order number (the row's: the
    # claim matched it), as query_status() does for a payment read in full.
    claimed = Payment(pk=payment_pk, order_number=number, gateway_order_id=gateway_order_id)
    held: list[Any] = []

    def then(payment: Payment) -> None:
        # In the transaction that applies the answer: the exchange row, this delivery's
        # processed mark and those of the deferred deliveries the query covers.
        records = [replace(record, context=payment) for record in held]
        held.clear()
        save_exchanges(records)
        _finish_covering(notification, payment_pk, started, _mismatch(md_order, payment))

    try:
        with held_exchanges(held):
            payment, changed = services.refresh_payment(claimed, source=Source.CALLBACK, then=then)
        if notification.processed_at is None:
            # The answer was not applied (the order is unknown to the gateway).
            _finish_covering(notification, payment_pk, started, "")
    except (GatewayUnavailable, GatewayRefused) as err:
        release_query(payment_pk, started)
        _forget_taken(payment_pk)
        what = "failed" if isinstance(err, GatewayUnavailable) else "refused"
        logger.warning("notification %s: status query %s: %s", notification.pk, what, err)
        _finish(notification, error=f"status query {what}: {err}", processed=False)
        return Outcome(503, f"status query {what}, please retry")
    except Exception as err:
        release_query(payment_pk, started)
        _forget_taken(payment_pk)
        logger.exception("notification %s: processing failed", notification.pk)
        try:
            _finish(notification, error=f"{type(err).__name__}: {err}", processed=False)
        except DatabaseError:
            logger.exception("notification %s: could not record the failure", notification.pk)
        return Outcome(503, "temporary failure, please retry")
    finally:
        save_exchanges(held)
    return _settled(notification, payment, changed)


def _mismatch(md_order: str, payment: Payment) -> str:
    if md_order and payment.gateway_order_id and md_order != payment.gateway_order_id:
        note = f"mdOrder {md_order[:36]!r} is not this payment's gateway order id"
        logger.warning("payment %s: callback %s", payment.order_number, note)
        return note
    return ""


def _finish_covering(
    notification: Notification, payment_pk: int, started: datetime, note: str
) -> None:
    """Mark this delivery processed, and with it the deferred ones its query covered.

    One UPDATE: a delivery is covered by a status query that started after it arrived.
    """
    this = Q(pk=notification.pk)
    now = timezone.now()
    Notification.objects.filter(this | _deferred_before(payment_pk, started)).update(
        processed_at=now,
        payment_id=payment_pk,
        error=Case(When(this, then=Value(note[:2000])), default=Value(COVERED)),
        attempts=Case(
            When(this, then=F("attempts") + 1),
            default=F("attempts"),
            output_field=Notification._meta.get_field("attempts"),
        ),
    )
    notification.processed_at, notification.error = now, note[:2000]
    notification.payment_id = payment_pk
    notification.attempts += 1


def _deferred_before(payment_pk: int, started: datetime) -> Q:
    return Q(
        payment_id=payment_pk, processed_at__isnull=True, received_at__lte=started, error=DEFERRED
    )


def settle_covered(payment_pk: int, started: datetime) -> int:
    """Mark deferred deliveries that arrived before a query that started at ``started``."""
    return Notification.objects.filter(_deferred_before(payment_pk, started)).update(
        processed_at=timezone.now(), error=COVERED
    )


@dataclass(frozen=True)
class _Background:
    enabled: Callable[[], bool]
    notification: Callable[[Notification], bool]
    follow_up: Callable[[int, float], bool]


_background: _Background | None = None


def use_background(
    *,
    enabled: Callable[[], bool],
    notification: Callable[[Notification], bool],
    follow_up: Callable[[int, float], bool],
) -> None:
    """Let a task queue take over processing (``checkout.tasks`` calls this when ready).

    ``enabled()`` is asked each time; ``notification(row)`` and ``follow_up(pk, delay)``
    queue the work and return False when they could not, so it runs here instead.
    """
    global _background
    _background = _Background(enabled=enabled, notification=notification, follow_up=follow_up)


def _queue() -> _Background | None:
    return _background if _background is not None and _background.enabled() else None


def schedule_follow_up(payment_pk: int) -> None:
    """Run one status query for the payment when its slot frees up.

    Queued as a task when background processing is on, else due on this process's
    follow-up threads (once per payment). If the work is lost, checkout_sync settles the
    deferred deliveries.
    """
    queue = _queue()
    if queue is not None and queue.follow_up(payment_pk, _interval()):
        return
    with _scheduled_lock:
        if payment_pk in _scheduled:
            return
        _scheduled[payment_pk] = time.monotonic() + _interval()
        if len(_followers) < min(FOLLOWERS, len(_scheduled)):
            follower = threading.Thread(target=_follow_ups, name="checkout-follow-ups", daemon=True)
            _followers.add(follower)
            follower.start()
        else:
            _scheduled_lock.notify()


#: Most follow-up threads of a process: they run the due follow-ups side by side.
FOLLOWERS = 4
#: How long a follow-up thread waits for more work before it ends (closing its database
#: connection); the next deferred delivery starts one again.
FOLLOWER_IDLE = 30.0
_followers: set[threading.Thread] = set()


def _follow_ups() -> None:
    """A follow-up thread: each due follow-up in turn, on one database connection.

    The connection it opened is kept while it has follow-ups to run at once and closed
    before it waits; the thread ends once nothing has been due for ``FOLLOWER_IDLE``
    seconds.
    """
    try:
        while True:
            with _scheduled_lock:
                due = _take_due()
            if due is None:
                # Nothing to run now: no connection is kept open while the thread waits.
                connection.close()
                with _scheduled_lock:
                    idle_until = time.monotonic() + FOLLOWER_IDLE
                    while (due := _take_due()) is None:
                        now = time.monotonic()
                        if not _scheduled and now >= idle_until:
                            _followers.discard(threading.current_thread())
                            return
                        wake = min(_scheduled.values(), default=idle_until)
                        _scheduled_lock.wait(max(0.0, wake - now))
            follow_up_now(due)
    finally:
        with _scheduled_lock:
            _followers.discard(threading.current_thread())
        # Its connection is closed by the thread that opened it.
        connection.close()


def _take_due() -> int | None:
    """The payment whose follow-up is due first, taken off the schedule (lock held)."""
    due = min(_scheduled, key=_scheduled.__getitem__, default=None)
    if due is None or _scheduled[due] > time.monotonic():
        return None
    del _scheduled[due]
    return due


def follow_up_now(payment_pk: int) -> None:
    """The follow-up: one status query if deliveries of the payment wait for one."""
    try:
        waiting = Notification.objects.filter(
            payment_id=payment_pk, processed_at__isnull=True, error=DEFERRED
        )
        if not waiting.exists():
            return
        started = timezone.now()
        if not claim_query(payment_pk, now=started):
            schedule_follow_up(payment_pk)
            return
        payment = Payment.objects.select_related("order").get(pk=payment_pk)
        if not payment.pending_operation:
            services.refresh_payment(payment, source=Source.CALLBACK)
        settle_covered(payment_pk, started)
    except Exception:
        # The deliveries stay stored and unprocessed: checkout_sync settles them.
        logger.exception("payment %s: follow-up status query failed", payment_pk)


def handle(
    notification: Notification, *, source: str = Source.CALLBACK, background: bool = False
) -> Outcome:
    """Verify a stored notification, then process it; never raises.

    With ``background`` (the callback view) and a task queue in use, a verified delivery
    is queued and answered 200; the queue's worker processes it.
    """
    try:
        verify(notification)
    except CallbackError as err:
        logger.warning("notification %s refused: %s", notification.pk, err)
        if notification.attempts or notification.error != str(err)[:2000]:
            try:
                _finish(notification, error=str(err), processed=False, valid=False)
            except DatabaseError:
                logger.exception("notification %s: could not record the refusal", notification.pk)
        return Outcome(400, f"refused: {err}")
    except CallbackKeyMissing as err:
        logger.error("notification %s not verified: %s", notification.pk, err)
        try:
            _finish(notification, error=str(err), processed=False)
        except DatabaseError:
            logger.exception("notification %s: could not record the failure", notification.pk)
        return Outcome(503, "not configured to verify notifications")
    except Exception:
        logger.exception("notification %s: verification failed", notification.pk)
        return Outcome(503, "temporary failure, please retry")
    if notification.valid is not True:
        try:
            Notification.objects.filter(pk=notification.pk).update(valid=True)
        except DatabaseError:
            logger.exception("notification %s: could not record the verification", notification.pk)
            return Outcome(503, "temporary failure, please retry")
        notification.valid = True
    queue = _queue() if background else None
    if queue is not None and queue.notification(notification):
        return Outcome(200, "OK")
    return process(notification, source=source)


@csrf_exempt
@never_cache
@transaction.non_atomic_requests
@require_http_methods(["GET", "POST"])
def callback(request: HttpRequest) -> HttpResponse:
    """The gateway's callback URL (GET or POST, as configured at JCC)."""
    try:
        notification = received(request)
        if notification.valid is True and _queue() is None:
            outcome = _receive(notification)
            if outcome is not None:
                return _answer(outcome)
        notification.save()
    except Exception:
        logger.exception("callback: could not store the notification")
        return _answer(Outcome(503, "temporary failure, please retry"))
    return _answer(handle(notification, background=True))


def _answer(outcome: Outcome) -> HttpResponse:
    return HttpResponse(outcome.reason, status=outcome.status, content_type="text/plain")
