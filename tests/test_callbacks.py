"""checkout.callbacks: stored first, verified, settled by a status query; never a 500."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from checkout import signals
from checkout.cards import CardData
from checkout.gateway import get_client
from checkout.models import Notification, Payment, PaymentStatus, Source, StatusChange
from checkout.sandbox import defaults
from checkout.services import create_order, start_payment, submit_payment
from tests.factories import NotificationFactory, PaymentFactory

S = PaymentStatus
SECRET = "test-callback-secret"
URL = "/checkout/callback/"

# Sandbox test cards: charged without 3-D Secure; 3-D Secure 2 frictionless, then charged.
SSL_CARD = CardData(pan="4444555511113333", cvc="123", expiry="203012", cardholder_name="A B")
THREEDS_CARD = CardData(pan="4111111111111111", cvc="123", expiry="203412")


def checksum(params: dict[str, str], key: str = SECRET) -> str:
    """The gateway's symmetric checksum, computed here independently of checkout.checksum."""
    text = "".join(
        f"{name};{value};"
        for name, value in sorted(params.items())
        if name not in ("checksum", "sign_alias")
    )
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest().upper()


def signed(params: dict[str, str], key: str = SECRET) -> dict[str, str]:
    return {**params, "checksum": checksum(params, key)}


def post_form(http, params, **extra):
    """POST as the gateway does: a form-encoded body."""
    return http.post(URL, urlencode(params), "application/x-www-form-urlencoded", **extra)


def notification_params(payment: Payment, operation: str = "deposited", status: str = "1"):
    return {
        "mdOrder": payment.gateway_order_id or "",
        "orderNumber": payment.order_number,
        "operation": operation,
        "status": status,
    }


#: A gateway that cannot be reached (nothing listens on the discard port).
UNREACHABLE = {
    "GATEWAY_URL": "http://127.0.0.1:9/payment/",
    "USERNAME": "sandbox-api",
    "PASSWORD": "sandbox-password",
}


@pytest.fixture
def keys(settings):
    settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_SECRETS": [SECRET]}


@pytest.fixture
def http():
    """A test client that surfaces a 500 as an exception, so none can slip through."""
    return Client(raise_request_exception=True)


@pytest.fixture
def events():
    seen: dict[str, list] = {"changed": [], "paid": []}

    def on_changed(sender, **kwargs):
        seen["changed"].append(kwargs)

    def on_paid(sender, **kwargs):
        seen["paid"].append(kwargs)

    signals.payment_status_changed.connect(on_changed, dispatch_uid="cb-changed")
    signals.order_paid.connect(on_paid, dispatch_uid="cb-paid")
    yield seen
    signals.payment_status_changed.disconnect(dispatch_uid="cb-changed")
    signals.order_paid.disconnect(dispatch_uid="cb-paid")


def test_url_is_the_documented_one():
    assert reverse("jcc_checkout:callback") == URL


def test_signer_of_these_tests_matches_the_published_vector():
    params = {
        "mdOrder": "06cf5599-3f17-7c86-bdbc-bd7d00a8b38b",
        "operation": "approved",
        "orderNumber": "2003",
        "status": "1",
    }
    expected = "EAF2FB72CAB99FD5067F4BA493DD84F4D79C1589FDE8ED29622F0F07215AA972"
    assert checksum(params, "ooc7slpvc61k7sf7ma7p4hrefr") == expected


# --- refused: nothing changes, the row says why -------------------------------------------


@pytest.mark.django_db
class TestRefused:
    @pytest.fixture(autouse=True)
    def _keys(self, keys):
        pass

    def assert_refused(self, response, reason: str, payment: Payment | None = None):
        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/plain")
        row = Notification.objects.get()
        assert row.valid is False
        assert row.processed_at is None
        assert reason in row.error
        if payment is not None:
            payment.refresh_from_db()
            assert payment.status == S.AWAITING_3DS
            assert not StatusChange.objects.filter(payment=payment).exists()
        return row

    @pytest.fixture
    def payment(self):
        return PaymentFactory(status=S.AWAITING_3DS, gateway_order_id="0179018d-aaaa")

    def test_missing_checksum(self, http, payment):
        response = http.get(URL, notification_params(payment))
        self.assert_refused(response, "without checksum", payment)

    def test_forged_checksum(self, http, payment):
        response = http.get(URL, signed(notification_params(payment), key="guessed-key"))
        self.assert_refused(response, "does not match", payment)

    def test_checksum_over_altered_parameters(self, http, payment):
        params = signed(notification_params(payment, "declinedByTimeout", "1"))
        params["operation"] = "deposited"
        self.assert_refused(http.get(URL, params), "does not match", payment)

    def test_extra_parameter_added_after_signing(self, http, payment):
        params = {**signed(notification_params(payment)), "amount": "1"}
        self.assert_refused(http.get(URL, params), "does not match", payment)

    def test_garbage_checksum(self, http, payment):
        params = {**notification_params(payment), "checksum": "zz\u00e9"}
        self.assert_refused(http.get(URL, params), "does not match", payment)

    def test_retired_key(self, http, payment, settings):
        settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_SECRETS": ["new-key"]}
        self.assert_refused(http.get(URL, signed(notification_params(payment))), "does not match")

    def test_repeated_parameter(self, http, payment):
        params = signed(notification_params(payment))
        query = urlencode(params) + "&orderNumber=" + payment.order_number
        row = self.assert_refused(http.get(URL + "?" + query), "repeated", payment)
        assert row.params["orderNumber"] == [payment.order_number, payment.order_number]

    def test_long_value(self, http, payment):
        params = signed({**notification_params(payment), "junk": "x" * 5000})
        row = self.assert_refused(post_form(http, params), "too long", payment)
        assert len(row.params["junk"]) <= 1024

    def test_huge_query_string(self, http, payment):
        params = signed({**notification_params(payment), "junk": "x" * 500_000})
        row = self.assert_refused(http.get(URL, params), "too long", payment)
        assert len(row.params["junk"]) <= 1024

    def test_non_utf8_query(self, http, payment):
        query = urlencode(signed(notification_params(payment))) + "&name=%FF%FE"
        self.assert_refused(http.get(URL + "?" + query), "not UTF-8", payment)

    def test_non_utf8_body(self, http, payment):
        body = urlencode(signed(notification_params(payment))).encode() + b"&name=\xff\xfe"
        response = http.post(URL, body, content_type="application/x-www-form-urlencoded")
        self.assert_refused(response, "not UTF-8", payment)

    def test_nul_character(self, http, payment):
        params = signed({**notification_params(payment), "note": "a\x00b"})
        row = self.assert_refused(http.get(URL, params), "NUL", payment)
        assert row.params["note"] == "ab"

    def test_too_many_parameters(self, http, payment):
        params = signed({**notification_params(payment), **{f"p{i}": "1" for i in range(150)}})
        self.assert_refused(post_form(http, params), "too many", payment)

    def test_json_body(self, http, payment):
        response = http.post(URL, signed(notification_params(payment)), "application/json")
        self.assert_refused(response, "content type", payment)

    def test_multipart_body(self, http, payment):
        # The test client's default encoding; never parsed, so no upload is stored.
        response = http.post(URL, signed(notification_params(payment)))
        self.assert_refused(response, "content type", payment)

    def test_body_too_large(self, http, payment):
        body = b"a=" + b"b" * (200 * 1024)
        response = http.post(URL, body, content_type="application/x-www-form-urlencoded")
        self.assert_refused(response, "too large", payment)

    def test_nothing_at_all(self, http):
        self.assert_refused(http.get(URL), "without checksum")

    def test_asymmetric_signature_without_public_key(self, http, payment):
        params = {**signed(notification_params(payment)), "sign_alias": "SHA-256 with RSA"}
        self.assert_refused(http.get(URL, params), "no callback public key", payment)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["put", "delete", "patch", "head", "options"])
def test_other_methods_are_not_allowed(http, keys, method):
    assert getattr(http, method)(URL).status_code == 405
    assert not Notification.objects.exists()


# --- accepted without touching the gateway -----------------------------------------------


@pytest.mark.django_db
class TestUnknownOrder:
    """A verified notification for an order that is not ours: 200 so that retries stop."""

    @pytest.mark.parametrize("method", ["get", "post"])
    def test_recorded_and_answered_200(self, http, keys, method):
        params = signed(
            {"mdOrder": "x", "orderNumber": "NOT-OURS", "operation": "deposited", "status": "1"}
        )
        send = post_form if method == "post" else lambda c, p, **kw: c.get(URL, p, **kw)
        response = send(
            http,
            params,
            HTTP_USER_AGENT="gateway/1.0",
            HTTP_AUTHORIZATION="Bearer secret-token",
            REMOTE_ADDR="10.1.2.3",
        )
        assert response.status_code == 200
        row = Notification.objects.get()
        assert row.method == method.upper()
        assert row.valid is True
        assert row.processed_at is not None
        assert row.error == "unknown order"
        assert row.payment is None
        assert row.attempts == 1
        assert row.params == params
        assert row.remote_addr == "10.1.2.3"
        assert row.headers["User-Agent"] == "gateway/1.0"
        assert "Authorization" not in row.headers

    def test_without_order_number_or_id(self, http, keys):
        params = signed({"operation": "bindingCreated", "status": "1", "bindingId": "b1"})
        assert http.get(URL, params).status_code == 200
        assert Notification.objects.get().error == "unknown order"

    def test_very_long_order_number(self, http, keys):
        params = signed({"orderNumber": "9" * 1000, "operation": "deposited", "status": "1"})
        assert http.get(URL, params).status_code == 200

    def test_mdorder_is_a_fallback_only(self, http, keys):
        payment = PaymentFactory(status=S.AWAITING_3DS, gateway_order_id="id-of-ours")
        params = signed({"mdOrder": "id-of-ours", "orderNumber": "NOT-OURS", "operation": "x"})
        assert http.get(URL, params).status_code == 200
        assert Notification.objects.get().payment is None
        payment.refresh_from_db()
        assert payment.status == S.AWAITING_3DS


@pytest.mark.django_db
class TestKeys:
    def test_rotated_keys_are_all_accepted(self, http, settings):
        settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_SECRETS": ["new-key", SECRET]}
        for key in ("new-key", SECRET):
            params = signed({"orderNumber": "NOT-OURS", "operation": "deposited"}, key=key)
            assert http.get(URL, params).status_code == 200
        assert list(Notification.objects.values_list("valid", flat=True)) == [True, True]

    def test_keys_given_as_one_comma_separated_string(self, http, settings):
        settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_SECRETS": f"other, {SECRET}"}
        params = signed({"orderNumber": "NOT-OURS", "operation": "deposited"})
        assert http.get(URL, params).status_code == 200

    def test_asymmetric_sha512(self, http, settings):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = (
            private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_PUBLIC_KEY": pem}
        params = {"orderNumber": "NOT-OURS", "operation": "deposited", "status": "1"}
        text = "".join(f"{k};{v};" for k, v in sorted(params.items()))
        signature = private.sign(text.encode(), padding.PKCS1v15(), hashes.SHA512()).hex()
        good = {**params, "checksum": signature.upper(), "sign_alias": "SHA-256 with RSA"}
        assert http.get(URL, good).status_code == 200
        # The same signature over other values, or a SHA-256 signature, is refused.
        assert http.get(URL, {**good, "status": "0"}).status_code == 400
        sha256 = private.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
        assert http.get(URL, {**good, "checksum": sha256, "sign_alias": "x"}).status_code == 400
        assert [n.valid for n in Notification.objects.order_by("pk")] == [True, False, False]

    def test_unusable_public_key_is_our_failure(self, http, settings):
        settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_PUBLIC_KEY": "not a pem"}
        params = {"orderNumber": "NOT-OURS", "checksum": "AA", "sign_alias": "RSA"}
        assert http.get(URL, params).status_code == 503
        row = Notification.objects.get()
        assert row.valid is None
        assert "unusable" in row.error

    def test_no_key_outside_the_sandbox_is_refused_with_503(self, http, settings):
        settings.CHECKOUT = {
            **settings.CHECKOUT,
            "GATEWAY_URL": "https://gateway.example/payment/",
            "SANDBOX_ALLOWED": False,
        }
        params = signed({"orderNumber": "NOT-OURS", "operation": "deposited"})
        response = http.get(URL, params)
        assert response.status_code == 503
        row = Notification.objects.get()
        assert row.valid is None
        assert row.processed_at is None
        assert "no callback key" in row.error

    def test_no_key_with_the_sandbox_installed_and_active_is_still_refused(self, http, settings):
        # An explicit gateway URL: the sandbox offers nothing, so no key is configured.
        # A checksum is never skipped because another app is installed.
        settings.CHECKOUT = {**settings.CHECKOUT, "GATEWAY_URL": "http://127.0.0.1:9/payment/"}
        response = http.get(URL, {"orderNumber": "NOT-OURS", "operation": "deposited"})
        assert response.status_code == 503
        row = Notification.objects.get()
        assert row.valid is None and row.processed_at is None
        assert "no callback key" in row.error

    def test_with_the_sandbox_as_gateway_its_own_key_verifies(self, http):
        params = {"orderNumber": "NOT-OURS", "operation": "deposited"}
        response = http.get(URL, signed(params, key=defaults.CALLBACK_SECRET))
        assert response.status_code == 200
        assert Notification.objects.get().valid is True


@pytest.mark.django_db
def test_database_failure_while_storing_answers_503(http, keys, monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise OperationalError("the database is down")

    monkeypatch.setattr(Notification, "save", broken_save)
    response = http.get(URL, signed({"orderNumber": "X", "operation": "deposited"}))
    assert response.status_code == 503


@pytest.mark.django_db
def test_notification_str_and_factory():
    row = NotificationFactory(params={"orderNumber": "N1", "operation": "refunded"})
    assert str(row) == "N1 refunded"


# --- against the sandbox gateway ---------------------------------------------------------------


def pay(base_url: str, card: CardData, *, amount: int = 1999, preauth: bool = False) -> Payment:
    """An order paid (or sent to 3-D Secure) at the sandbox through the checkout services."""
    order = create_order(amount=amount, currency="EUR", description="Callback test")
    payment = start_payment(order, preauth=preauth)
    back = base_url + reverse("jcc_checkout:return")
    payment, _result = submit_payment(
        payment, back_url=back, fail_url=back + "?failed=1", card=card
    )
    return payment


def finish_3ds_at_the_bank(payment: Payment) -> None:
    """The shopper passes 3-D Secure at the sandbox and closes the tab: no return to the shop."""
    from checkout.sandbox.models import Order as BankOrder
    from checkout.sandbox.processing import start_acs

    bank_order = start_acs(BankOrder.objects.get(pk=payment.gateway_order_id))
    assert bank_order.status == 2


@pytest.fixture
def live(sandbox_url, keys, live_server):
    return live_server.url


@pytest.mark.django_db(transaction=True)
class TestSettledByStatusQuery:
    @pytest.fixture
    def waiting(self, live):
        payment = pay(live, THREEDS_CARD)
        assert payment.status == S.AWAITING_3DS
        finish_3ds_at_the_bank(payment)
        return payment

    def test_callback_settles_a_payment_whose_shopper_never_returned(self, http, waiting, events):
        response = http.get(URL, signed(notification_params(waiting)))
        assert response.status_code == 200
        waiting.refresh_from_db()
        assert waiting.status == S.PAID
        assert waiting.captured_amount == waiting.amount
        assert waiting.masked_pan.endswith("1111")
        change = StatusChange.objects.filter(payment=waiting).latest()
        assert (change.from_status, change.to_status, change.source) == (
            S.AWAITING_3DS,
            S.PAID,
            Source.CALLBACK,
        )
        row = Notification.objects.get()
        assert row.valid is True and row.processed_at and row.payment == waiting
        assert row.error == ""
        assert len(events["paid"]) == 1

    def test_duplicate_and_late_deliveries_are_answered_200_and_change_nothing(
        self, http, waiting, events
    ):
        params = signed(notification_params(waiting))
        assert [http.get(URL, params).status_code for _ in range(3)] == [200, 200, 200]
        assert StatusChange.objects.filter(payment=waiting, to_status=S.PAID).count() == 1
        assert len(events["paid"]) == 1
        # Every delivery is recorded and processed, none discarded as a duplicate.
        assert Notification.objects.filter(processed_at__isnull=False).count() == 3

    def test_replayed_notification_with_another_operation(self, http, waiting):
        assert http.get(URL, signed(notification_params(waiting))).status_code == 200
        # Correctly signed, but what it claims is not what the gateway says.
        replay = signed(notification_params(waiting, "reversed", "1"))
        assert http.get(URL, replay).status_code == 200
        waiting.refresh_from_db()
        assert waiting.status == S.PAID
        # An altered copy of the genuine notification does not even pass the checksum.
        altered = {**signed(notification_params(waiting)), "operation": "refunded"}
        assert http.get(URL, altered).status_code == 400
        waiting.refresh_from_db()
        assert waiting.status == S.PAID

    def test_notification_naming_another_orders_id(self, http, live, waiting):
        other = pay(live, THREEDS_CARD)
        params = signed({**notification_params(other), "mdOrder": waiting.gateway_order_id})
        assert http.get(URL, params).status_code == 200
        # Only the payment named by orderNumber is settled, from its own status query.
        other.refresh_from_db()
        waiting.refresh_from_db()
        assert other.status == S.AWAITING_3DS
        assert waiting.status == S.AWAITING_3DS
        row = Notification.objects.get()
        assert row.payment == other
        assert "mdOrder" in row.error

    def test_processing_error_then_successful_retry(self, http, waiting, settings):
        params = signed(notification_params(waiting))
        working = settings.CHECKOUT
        settings.CHECKOUT = {**working, **UNREACHABLE}
        response = http.get(URL, params)
        assert response.status_code == 503
        failed = Notification.objects.get()
        assert failed.processed_at is None
        assert failed.valid is True
        assert "status query failed" in failed.error
        waiting.refresh_from_db()
        assert waiting.status == S.AWAITING_3DS

        settings.CHECKOUT = working
        # The gateway delivers again...
        assert http.get(URL, params).status_code == 200
        waiting.refresh_from_db()
        assert waiting.status == S.PAID
        # ...and the failed row, retried later (checkout_sync, admin), settles too.
        from checkout.callbacks import handle

        assert handle(failed).status == 200
        failed.refresh_from_db()
        assert failed.processed_at is not None and failed.error == ""
        assert failed.attempts == 2
        assert StatusChange.objects.filter(payment=waiting, to_status=S.PAID).count() == 1


@pytest.mark.django_db(transaction=True)
def test_amount_mismatch_needs_review_and_is_never_paid(http, live, events):
    """The gateway's order under our number has another amount: review, not paid."""
    order = create_order(amount=1999, currency="EUR")
    payment = start_payment(order)
    get_client().instant_payment(
        order_number=payment.order_number,
        amount=999,
        currency="EUR",
        back_url=live + "/checkout/return/",
        fail_url=live + "/checkout/return/",
        card=SSL_CARD,
    )
    response = http.get(
        URL, signed({"orderNumber": payment.order_number, "operation": "deposited", "status": "1"})
    )
    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == S.NEEDS_REVIEW
    assert payment.captured_amount == 0
    assert events["paid"] == []
    assert "amount" in StatusChange.objects.filter(payment=payment).latest().note


@pytest.mark.django_db(transaction=True)
class TestSandboxDeliveries:
    """Notifications sent by the sandbox itself, signed by its own signer."""

    @pytest.fixture(autouse=True)
    def _deliver(self, settings, sandbox_url):
        settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "sync"}

    def merchant(self, **fields):
        from checkout.sandbox.models import Merchant

        merchant = Merchant.objects.default()
        Merchant.objects.filter(pk=merchant.pk).update(**fields)

    @pytest.mark.parametrize("method", ["GET", "POST"])
    def test_hmac(self, live_server, method, events):
        self.merchant(callback_method=method, callback_extra_params=True)
        payment = pay(live_server.url, SSL_CARD)
        payment.refresh_from_db()
        assert payment.status == S.PAID
        row = Notification.objects.get()
        assert row.method == method
        assert row.valid is True and row.processed_at is not None
        assert row.params["operation"] == "deposited"
        assert "callbackCreationDate" in row.params
        assert len(events["paid"]) == 1

    def test_rsa(self, live_server, settings):
        from checkout.sandbox import crypto

        key = crypto.current_key()
        settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_PUBLIC_KEY": key.public_pem}
        self.merchant(callback_signing="rsa")
        payment = pay(live_server.url, SSL_CARD)
        row = Notification.objects.get()
        assert row.params["sign_alias"]
        assert row.valid is True and row.processed_at is not None
        assert row.payment == payment


@pytest.mark.django_db
def test_payment_with_a_back_office_operation_in_flight_is_left_to_it(http, keys):
    """The capture/refund in flight settles the payment and names its operator."""
    payment = PaymentFactory(
        status=S.PAID,
        gateway_order_id="g-1",
        captured_amount=1999,
        pending_operation="refund",
        pending_amount=500,
    )
    response = http.get(URL, signed(notification_params(payment, "refunded")))
    assert response.status_code == 200
    row = Notification.objects.get()
    assert row.processed_at is not None and row.payment == payment
    assert "pending refund" in row.error
    assert not StatusChange.objects.exists()
    from checkout.models import Exchange

    assert not Exchange.objects.exists()


@pytest.mark.django_db
def test_verified_row_reprocessed_after_its_key_was_retired(keys, settings):
    from checkout.callbacks import handle

    row = NotificationFactory(
        params=signed({"orderNumber": "NOT-OURS", "operation": "deposited"}), valid=True
    )
    settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_SECRETS": ["the-new-key"]}
    assert handle(row).status == 200
    row.refresh_from_db()
    assert row.valid is True and row.error == "unknown order"


@pytest.mark.django_db(transaction=True)
def test_database_failure_while_applying_answers_503_and_keeps_the_error(http, live, monkeypatch):
    from checkout.services import settlement

    payment = pay(live, THREEDS_CARD)
    finish_3ds_at_the_bank(payment)
    params = signed(notification_params(payment))

    def database_down(*args, **kwargs):
        raise OperationalError("could not connect to server")

    with monkeypatch.context() as patch:
        patch.setattr(settlement, "apply_order_status", database_down)
        assert http.get(URL, params).status_code == 503
    row = Notification.objects.get()
    assert row.processed_at is None
    assert "could not connect to server" in row.error
    payment.refresh_from_db()
    assert payment.status == S.AWAITING_3DS
    assert http.get(URL, params).status_code == 200
    payment.refresh_from_db()
    assert payment.status == S.PAID
