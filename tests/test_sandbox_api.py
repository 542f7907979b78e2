"""The sandbox gateway's REST methods over real HTTP, spoken to with raw requests.

These tests play a client written from API-NOTES alone, so they check the wire format
itself (field names, types, quirks), independently of checkout.gateway.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.utils import timezone

from checkout.sandbox import defaults
from checkout.sandbox.cards import CARDS, ONE_TIME_CODE, ThreeDS
from checkout.sandbox.models import CallbackDelivery, Operation, Order

CREDENTIALS = {"userName": defaults.MERCHANT_LOGIN, "password": defaults.MERCHANT_PASSWORD}
FUTURE = f"{datetime.now().year + 3}12"
BACK_URL = "https://shop.example/checkout/return/"
FAIL_URL = "https://shop.example/checkout/return/?failed=1"

APPROVES = "4444555511113333"
CHALLENGE = "5555555555555599"
FRICTIONLESS = "4111111111111111"
FRICTIONLESS_FAIL = "5168494895055780"


def order_number() -> str:
    return "T" + uuid.uuid4().hex[:20]


def acs_fields(html: str) -> dict[str, str]:
    """The hidden fields of the ACS page's form."""
    return dict(re.findall(r'name="(MD|threeDsServerTransId)" value="([^"]*)"', html))


class Gateway:
    """A bare-bones client of the sandbox, written from API-NOTES."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def call(self, method: str, *, auth: bool = True, **params: str) -> requests.Response:
        data = {**CREDENTIALS, **params} if auth else params
        return self.http.post(self.base + "rest/" + method, data=data, timeout=10)

    def json(self, method: str, **params: str) -> dict:
        response = self.call(method, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def pay(self, pan: str = APPROVES, amount: int = 1999, **extra: str) -> dict:
        params = {
            "orderNumber": order_number(),
            "amount": str(amount),
            "currency": "978",
            "description": "Sandbox test",
            "language": "en",
            "backUrl": BACK_URL,
            "failUrl": FAIL_URL,
            "pan": pan,
            "cvc": "123",
            "expiry": FUTURE,
            "cardHolderName": "TEST CARDHOLDER",
        }
        params.update(extra)
        return self.json("instantPayment.do", **{k: v for k, v in params.items() if v != ""})

    def status(self, order_id: str) -> dict:
        return self.json("getOrderStatusExtended.do", orderId=order_id)

    def three_ds(
        self, order_id: str, *, otp: str = ONE_TIME_CODE, action: str = "submit", url: str = ""
    ) -> str:
        """Play the shopper's browser through acsRedirect.do; returns the final URL."""
        url = url or f"{self.base}acsRedirect.do?orderId={order_id}"
        response = self.http.get(url, allow_redirects=False, timeout=10)
        assert response.status_code == 302
        location = urljoin(url, response.headers["Location"])
        if not location.startswith(self.base):
            return location
        page = self.http.get(location, allow_redirects=False, timeout=10)
        if page.status_code == 302:
            return urljoin(location, page.headers["Location"])
        assert page.status_code == 200
        assert 'name="otp"' in page.text
        fields = acs_fields(page.text)
        answer = self.http.post(
            location, data={**fields, "otp": otp, "action": action}, allow_redirects=False
        )
        assert answer.status_code == 302
        return urljoin(location, answer.headers["Location"])


@pytest.fixture
def gateway(sandbox_url) -> Gateway:
    return Gateway(sandbox_url)


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


pytestmark = pytest.mark.django_db(transaction=True)


# --- instantPayment.do ------------------------------------------------------------------------


def test_approved_without_3ds_speaks_the_published_format(gateway):
    answer = gateway.pay(APPROVES, amount=1999)

    assert answer["errorCode"] == "0"  # a string in this method
    assert uuid.UUID(answer["orderId"])
    # As in JCC's published answer: no 3-D Secure field at all.
    assert "is3DSVer2" not in answer and "acsUrl" not in answer
    assert answer["redirect"].startswith(BACK_URL + "?orderId=" + answer["orderId"])
    block = answer["orderStatus"]
    assert block["ErrorCode"] == "0"
    assert block["OrderStatus"] == 2
    assert block["Pan"] == "444455**3333"
    assert block["Amount"] == 1999
    assert block["depositAmount"] == 1999
    assert block["currency"] == "978"
    assert block["expiration"] == FUTURE
    assert block["cardholderName"] == "TEST CARDHOLDER"
    assert re.fullmatch(r"\d{6}", block["approvalCode"])
    assert block["authCode"] == 2


def test_status_of_a_paid_order_has_the_documented_structure(gateway):
    paid = gateway.pay(APPROVES, amount=2000, jsonParams='{"basket":"7"}', email="a@b.cy")
    status = gateway.status(paid["orderId"])

    assert status["errorCode"] == "0"
    assert status["errorMessage"] == "Success"
    assert status["orderNumber"] == paid["orderNumber"]
    assert status["orderStatus"] == 2
    assert status["actionCode"] == 0
    assert isinstance(status["actionCodeDescription"], str)
    assert status["amount"] == 2000
    assert status["currency"] == "978"
    assert isinstance(status["date"], int)
    assert abs(status["date"] / 1000 - timezone.now().timestamp()) < 60
    assert {"name": "mdOrder", "value": paid["orderId"]} in status["attributes"]
    assert status["merchantOrderParams"] == [{"name": "basket", "value": "7"}]
    card = status["cardAuthInfo"]
    assert card["maskedPan"] == "444455**3333"
    assert card["expiration"] == FUTURE
    assert card["cardholderName"] == "TEST CARDHOLDER"
    assert card["approvalCode"] == paid["orderStatus"]["approvalCode"]
    assert card["paymentSystem"] == "VISA"
    assert status["paymentAmountInfo"] == {
        "paymentState": "DEPOSITED",
        "approvedAmount": 2000,
        "depositedAmount": 2000,
        "refundedAmount": 0,
        "totalAmount": 2000,
        "feeAmount": 0,
    }
    assert status["bankInfo"]["bankCountryCode"] == "UNKNOWN"
    assert isinstance(status["authDateTime"], int)
    assert status["payerData"] == {"email": "a@b.cy"}


def test_status_by_order_number(gateway):
    paid = gateway.pay()
    status = gateway.json("getOrderStatusExtended.do", orderNumber=paid["orderNumber"])
    assert {"name": "mdOrder", "value": paid["orderId"]} in status["attributes"]


def test_preauth_holds_the_amount(gateway):
    held = gateway.pay(APPROVES, amount=500, preAuth="true")
    assert held["orderStatus"]["OrderStatus"] == 1
    assert held["orderStatus"]["depositAmount"] == 0
    assert held["orderStatus"]["approvedAmount"] == 500
    status = gateway.status(held["orderId"])
    assert status["orderStatus"] == 1
    assert status["paymentAmountInfo"]["paymentState"] == "APPROVED"
    assert status["paymentAmountInfo"]["approvedAmount"] == 500
    assert status["paymentAmountInfo"]["depositedAmount"] == 0


DECLINE_CARDS = [c for c in CARDS if c.three_ds == ThreeDS.NONE and c.action_code]


def test_decline_cards_answer_with_their_action_code(gateway):
    for card in DECLINE_CARDS:
        answer = gateway.pay(card.pan)

        assert answer["errorCode"] == "0"
        block = answer["orderStatus"]
        assert (block["OrderStatus"], block["actionCode"]) == (6, card.action_code), card.pan
        assert "approvalCode" not in block
        assert answer["redirect"].startswith(FAIL_URL + "&orderId=")
        status = gateway.status(answer["orderId"])
        assert (status["orderStatus"], status["actionCode"]) == (6, card.action_code)
        assert status["actionCodeDescription"]
        assert status["paymentAmountInfo"]["paymentState"] == "DECLINED"
        assert status["paymentAmountInfo"]["approvedAmount"] == 0


def test_unknown_card_numbers_are_declined(gateway):
    answer = gateway.pay("4000000000000002")  # Luhn-valid, not in the table
    assert answer["orderStatus"]["OrderStatus"] == 6
    assert answer["orderStatus"]["actionCode"] == 71015


def test_wrong_credentials_are_access_denied_in_each_methods_style(gateway):
    bad = {"userName": defaults.MERCHANT_LOGIN, "password": "wrong"}
    answer = gateway.http.post(gateway.base + "rest/instantPayment.do", data=bad).json()
    # instantPayment.do's errors carry both keys, as third-party clients read either.
    assert answer == {"errorCode": "5", "error": "Access denied", "errorMessage": "Access denied"}
    answer = gateway.http.post(
        gateway.base + "rest/getOrderStatusExtended.do", data={**bad, "orderNumber": "1"}
    ).json()
    assert answer == {"errorCode": "5", "errorMessage": "Access denied"}
    answer = gateway.http.post(
        gateway.base + "rest/deposit.do", data={**bad, "orderId": str(uuid.uuid4())}
    ).json()
    assert answer == {"errorCode": 5, "errorMessage": "Access denied"}


def test_duplicate_order_number_is_error_1(gateway):
    first = gateway.pay()
    again = gateway.pay(orderNumber=first["orderNumber"])
    assert again["errorCode"] == "1"
    assert "orderId" not in again
    assert Order.objects.filter(order_number=first["orderNumber"]).count() == 1


INVALID_REQUESTS = [
    ({"backUrl": "/checkout/return/"}, "4"),
    ({"backUrl": ""}, "4"),
    ({"failUrl": "relative/fail"}, "4"),
    # urlsplit() raises on these: an unclosed IPv6 bracket.
    ({"backUrl": "https://[::1/return/"}, "4"),
    ({"failUrl": "https://[fail/"}, "4"),
    ({"dynamicCallbackUrl": "https://[cb/"}, "5"),
    ({"amount": ""}, "4"),
    ({"amount": "12.50"}, "5"),
    ({"amount": "-5"}, "5"),
    ({"amount": "0"}, "5"),
    ({"orderNumber": ""}, "4"),
    ({"orderNumber": "x" * 37}, "1"),
    ({"currency": "001"}, "3"),
    ({"currency": "EUR"}, "3"),
    ({"language": "english"}, "5"),
    ({"pan": "4444555511113334"}, "5"),  # Luhn fails
    ({"pan": ""}, "5"),
    ({"expiry": "202001"}, "5"),
    ({"expiry": "12/30"}, "5"),
    ({"cvc": "12a"}, "5"),
    ({"cvc": ""}, "5"),
    ({"description": "<script>alert(1)</script>"}, "5"),
    ({"jsonParams": "[1,2]"}, "5"),
    ({"jsonParams": '{"a": "\\u0000"}'}, "5"),
    ({"jsonParams": '{"\\u0000": "b"}'}, "5"),
    ({"preAuth": "maybe"}, "5"),
    ({"cardHolderName": "J0HN <>"}, "5"),
]


def test_invalid_requests_are_refused_and_change_nothing(gateway):
    for change, code in INVALID_REQUESTS:
        answer = _pay_without(gateway, change)
        assert answer["errorCode"] == code, change
        assert answer["error"]
        assert "orderId" not in answer
    assert not Order.objects.exists()


def _pay_without(gateway: Gateway, change: dict) -> dict:
    params = {
        "orderNumber": order_number(),
        "amount": "100",
        "backUrl": BACK_URL,
        "pan": APPROVES,
        "cvc": "123",
        "expiry": FUTURE,
    }
    params.update(change)
    return gateway.json("instantPayment.do", **{k: v for k, v in params.items() if v})


def test_error_messages_never_contain_the_card_number(gateway):
    answer = gateway.pay("4444555511113334")
    assert "4444555511113334" not in str(answer)


def test_currency_defaults_to_euro_and_other_codes_are_kept(gateway):
    paid = gateway.pay(currency="")
    assert gateway.status(paid["orderId"])["currency"] == "978"
    paid = gateway.pay(currency="048")  # Bahraini dinar: leading zero, three decimals
    assert gateway.status(paid["orderId"])["currency"] == "048"


def test_return_url_may_be_sent_as_returnurl(gateway):
    paid = gateway.pay(backUrl="", returnUrl="https://shop.example/r?x=1")
    assert paid["redirect"].startswith("https://shop.example/r?x=1&orderId=")


def test_rest_methods_answer_post_only(gateway):
    response = gateway.http.get(gateway.base + "rest/getOrderStatusExtended.do")
    assert response.status_code == 405


def test_unknown_order_is_error_6_without_order_status(gateway):
    answer = gateway.json("getOrderStatusExtended.do", orderId=str(uuid.uuid4()))
    assert answer["errorCode"] == "6"
    assert "orderStatus" not in answer
    answer = gateway.json("getOrderStatusExtended.do", orderId="not-a-uuid")
    assert answer["errorCode"] == "6"
    answer = gateway.json("getOrderStatusExtended.do", orderNumber="never-registered")
    assert answer["errorCode"] == "6"
    answer = gateway.json("getOrderStatusExtended.do")
    assert answer["errorCode"] == "1"


# --- 3-D Secure -------------------------------------------------------------------------------


def test_challenge_card_asks_for_3ds_then_the_code_approves(gateway):
    answer = gateway.pay(CHALLENGE)

    assert answer["errorCode"] == "0"
    assert answer["orderStatus"]["OrderStatus"] == 0
    assert answer["acsUrl"].startswith(gateway.base)
    assert answer["paReq"] and answer["termUrl"]
    assert "redirect" not in answer
    assert gateway.status(answer["orderId"])["orderStatus"] == 0

    final = gateway.three_ds(answer["orderId"])

    assert final == f"{BACK_URL}?orderId={answer['orderId']}&lang=en"
    status = gateway.status(answer["orderId"])
    assert status["orderStatus"] == 2
    assert status["actionCode"] == 0
    assert status["cardAuthInfo"]["secureAuthInfo"]["eci"] == "02"


def test_wrong_code_fails_3ds_and_goes_to_fail_url(gateway):
    answer = gateway.pay(CHALLENGE, language="el")
    final = gateway.three_ds(answer["orderId"], otp="000000")
    assert final == f"{FAIL_URL}&orderId={answer['orderId']}&lang=el"
    status = gateway.status(answer["orderId"])
    assert status["orderStatus"] == 6
    assert status["actionCode"] == -2006


def test_cancel_on_the_acs_page_fails_3ds(gateway):
    answer = gateway.pay(CHALLENGE)
    final = gateway.three_ds(answer["orderId"], action="cancel")
    assert query(final)["orderId"] == [answer["orderId"]]
    assert final.startswith(FAIL_URL)
    assert gateway.status(answer["orderId"])["actionCode"] == 341018


def test_without_fail_url_failures_return_to_back_url(gateway):
    answer = gateway.pay(CHALLENGE, failUrl="")
    final = gateway.three_ds(answer["orderId"], otp="1")
    assert final.startswith(BACK_URL + "?orderId=")


def test_frictionless_cards_finish_without_a_challenge(gateway):
    ok = gateway.pay(FRICTIONLESS)
    assert ok["acsUrl"]
    assert gateway.three_ds(ok["orderId"]).startswith(BACK_URL + "?orderId=")
    assert gateway.status(ok["orderId"])["orderStatus"] == 2

    failed = gateway.pay(FRICTIONLESS_FAIL)
    assert failed["acsUrl"]
    assert gateway.three_ds(failed["orderId"]).startswith(FAIL_URL + "&orderId=")
    status = gateway.status(failed["orderId"])
    assert status["orderStatus"] == 6
    assert status["actionCode"] == 341016


def test_challenge_then_issuer_decline(gateway):
    answer = gateway.pay("5555550000001166")
    assert gateway.three_ds(answer["orderId"]).startswith(FAIL_URL)
    assert gateway.status(answer["orderId"])["actionCode"] == 116


def test_regular_post_redirect_to_acs_url(gateway):
    answer = gateway.pay("5000001111111115")
    page = gateway.http.post(
        answer["acsUrl"],
        data={"PaReq": answer["paReq"], "MD": answer["orderId"], "TermUrl": answer["termUrl"]},
    )
    assert page.status_code == 200
    assert "500000**1115" in page.text
    assert gateway.status(answer["orderId"])["orderStatus"] == 5  # the ACS has started
    fields = acs_fields(page.text)
    done = gateway.http.post(
        answer["acsUrl"],
        data={**fields, "otp": ONE_TIME_CODE, "action": "submit"},
        allow_redirects=False,
    )
    assert done.headers["Location"].startswith(BACK_URL + "?orderId=")
    assert gateway.status(answer["orderId"])["orderStatus"] == 2


def test_acs_refuses_a_mismatched_md(gateway):
    answer = gateway.pay(CHALLENGE)
    page = gateway.http.post(answer["acsUrl"], data={"MD": str(uuid.uuid4())})
    assert page.status_code == 400
    assert gateway.status(answer["orderId"])["orderStatus"] == 0


def test_acs_redirect_for_an_unknown_order_is_404(gateway):
    response = gateway.http.get(f"{gateway.base}acsRedirect.do?orderId={uuid.uuid4()}")
    assert response.status_code == 404
    response = gateway.http.get(f"{gateway.base}acsRedirect.do?orderId=")
    assert response.status_code == 404


def test_finished_3ds_cannot_be_replayed(gateway):
    answer = gateway.pay(CHALLENGE)
    gateway.three_ds(answer["orderId"], otp="999999")
    # A second visit goes straight to the failUrl and changes nothing.
    assert gateway.three_ds(answer["orderId"]).startswith(FAIL_URL)
    assert gateway.status(answer["orderId"])["orderStatus"] == 6


def test_abandoned_orders_expire_with_2007(gateway):
    answer = gateway.pay(CHALLENGE, sessionTimeoutSecs="60")
    Order.objects.filter(pk=answer["orderId"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    status = gateway.status(answer["orderId"])
    assert status["orderStatus"] == 6
    assert status["actionCode"] == -2007
    assert gateway.three_ds(answer["orderId"]).startswith(FAIL_URL)
    delivery = CallbackDelivery.objects.get(order_id=answer["orderId"])
    assert (delivery.operation, delivery.status) == ("declinedByTimeout", "0")


# --- seToken ----------------------------------------------------------------------------------


def _public_key(gateway: Gateway):
    answer = gateway.http.get(gateway.base + "se/keys.do").json()
    (key,) = answer["keys"]
    assert key["protocolVersion"] == "RSA"
    assert key["keyExpiration"] > timezone.now().timestamp() * 1000
    value = key["keyValue"]
    assert value.startswith("-----BEGIN PUBLIC KEY-----") and "\n" not in value
    body = value.removeprefix("-----BEGIN PUBLIC KEY-----").removesuffix("-----END PUBLIC KEY-----")
    return serialization.load_der_public_key(base64.b64decode(body))


def _setoken(
    gateway: Gateway,
    pan: str,
    *,
    when: datetime | None = None,
    fields: int = 9,
    token_uuid: str | None = None,
    md_order: str = "",
) -> str:
    stamp = (when or datetime.now(UTC)).astimezone().isoformat(timespec="seconds")
    parts = [stamp, token_uuid or str(uuid.uuid4()), pan, "123", FUTURE, md_order]
    if fields == 9:
        parts += ["", "TEST CARDHOLDER", "WSDK_CORE"]
    plain = "/".join(parts).encode()
    return base64.b64encode(_public_key(gateway).encrypt(plain, padding.PKCS1v15())).decode()


def test_setoken_pays_like_card_data(gateway):
    token = _setoken(gateway, APPROVES)
    answer = gateway.pay(pan="", cvc="", expiry="", cardHolderName="", seToken=token)
    assert answer["errorCode"] == "0"
    assert answer["orderStatus"]["OrderStatus"] == 2
    assert answer["orderStatus"]["Pan"] == "444455**3333"
    assert answer["orderStatus"]["cardholderName"] == "TEST CARDHOLDER"


def test_six_field_setoken_is_accepted(gateway):
    token = _setoken(gateway, CHALLENGE, fields=6)
    answer = gateway.pay(pan="", cvc="", expiry="", seToken=token)
    assert answer["acsUrl"]


def test_bad_setoken_is_error_5(gateway):
    from cryptography.hazmat.primitives.asymmetric import rsa

    used = _setoken(gateway, APPROVES)
    assert gateway.pay(pan="", cvc="", expiry="", seToken=used)["errorCode"] == "0"
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    plain = f"{datetime.now(UTC).isoformat(timespec='seconds')}/u/{APPROVES}/123/{FUTURE}/"
    now = datetime.now(UTC)
    bad = {
        "stale": _setoken(gateway, APPROVES, when=now - timedelta(minutes=31)),
        "future": _setoken(gateway, APPROVES, when=now + timedelta(minutes=31)),
        "garbage": "not base64 at all!",
        "reused": used,
        "md_order": _setoken(gateway, APPROVES, md_order=str(uuid.uuid4())),
        "long_uuid": _setoken(gateway, APPROVES, token_uuid="u" * 65),
        "nul_uuid": _setoken(gateway, APPROVES, token_uuid="u\x00"),
        "other_key": base64.b64encode(
            other_key.encrypt(plain.encode(), padding.PKCS1v15())
        ).decode(),
    }
    before = Order.objects.count()
    for problem, token in bad.items():
        answer = gateway.pay(pan="", cvc="", expiry="", seToken=token)
        assert answer["errorCode"] == "5", problem
        assert "orderId" not in answer
    answer = gateway.pay(pan=APPROVES, cvc="", expiry="", seToken=_setoken(gateway, APPROVES))
    assert answer["errorCode"] == "5"  # card data and a token at once
    assert Order.objects.count() == before


# --- deposit / reverse / refund ---------------------------------------------------------------


def test_deposit_captures_a_hold_in_part(gateway):
    held = gateway.pay(amount=1000, preAuth="true")
    answer = gateway.json("deposit.do", orderId=held["orderId"], amount="600")
    assert answer == {"errorCode": 0, "errorMessage": "Success"}  # a number here
    status = gateway.status(held["orderId"])
    assert status["orderStatus"] == 2
    assert status["paymentAmountInfo"]["approvedAmount"] == 1000
    assert status["paymentAmountInfo"]["depositedAmount"] == 600
    assert isinstance(status["depositedDate"], int)
    # Only a hold can be captured.
    assert gateway.json("deposit.do", orderId=held["orderId"], amount="0")["errorCode"] == 7


def test_deposit_zero_captures_everything_and_more_is_refused(gateway):
    held = gateway.pay(amount=1000, preAuth="true")
    assert gateway.json("deposit.do", orderId=held["orderId"], amount="1001")["errorCode"] == 7
    assert gateway.json("deposit.do", orderId=held["orderId"], amount="0")["errorCode"] == 0
    assert gateway.status(held["orderId"])["paymentAmountInfo"]["depositedAmount"] == 1000


def test_reverse_voids_a_hold_once(gateway):
    held = gateway.pay(amount=1000, preAuth="true")
    assert gateway.json("reverse.do", orderId=held["orderId"])["errorCode"] == 0
    status = gateway.status(held["orderId"])
    assert status["orderStatus"] == 3
    assert status["paymentAmountInfo"]["paymentState"] == "REVERSED"
    assert isinstance(status["reversedDate"], int)
    assert gateway.json("reverse.do", orderId=held["orderId"])["errorCode"] == 7
    assert gateway.json("deposit.do", orderId=held["orderId"], amount="0")["errorCode"] == 7


def test_reverse_refuses_a_deposited_order_and_partial_amounts(gateway):
    paid = gateway.pay(amount=1000)
    assert gateway.json("reverse.do", orderId=paid["orderId"])["errorCode"] == 7
    held = gateway.pay(amount=1000, preAuth="true")
    assert gateway.json("reverse.do", orderId=held["orderId"], amount="10")["errorCode"] == 7
    assert gateway.json("reverse.do", orderId=held["orderId"], amount="1000")["errorCode"] == 0


def test_refunds_repeat_up_to_the_deposited_total(gateway):
    paid = gateway.pay(amount=1000)
    order_id = paid["orderId"]
    assert gateway.json("refund.do", orderId=order_id, amount="300")["errorCode"] == 0
    assert gateway.json("refund.do", orderId=order_id, amount="300")["errorCode"] == 0
    assert gateway.json("refund.do", orderId=order_id, amount="401")["errorCode"] == 7
    status = gateway.status(order_id)
    assert status["orderStatus"] == 4
    assert status["paymentAmountInfo"]["refundedAmount"] == 600
    assert status["paymentAmountInfo"]["depositedAmount"] == 1000
    assert [r["amount"] for r in status["refunds"]] == [300, 300]
    # amount 0 refunds what is left.
    assert gateway.json("refund.do", orderId=order_id, amount="0")["errorCode"] == 0
    assert gateway.status(order_id)["paymentAmountInfo"]["refundedAmount"] == 1000
    assert gateway.json("refund.do", orderId=order_id, amount="0")["errorCode"] == 7


def test_refund_with_external_id_is_idempotent(gateway):
    paid = gateway.pay(amount=1000)
    order_id = paid["orderId"]
    for _ in range(3):
        answer = gateway.json("refund.do", orderId=order_id, amount="250", externalRefundId="r1")
        assert answer["errorCode"] == 0
    assert gateway.status(order_id)["paymentAmountInfo"]["refundedAmount"] == 250
    assert Operation.objects.filter(order_id=order_id, kind="refund").count() == 1
    other = gateway.json("refund.do", orderId=order_id, amount="100", externalRefundId="r1")
    assert other["errorCode"] == 7
    assert (
        gateway.json("refund.do", orderId=order_id, amount="100", externalRefundId="r2")[
            "errorCode"
        ]
        == 0
    )
    refunds = gateway.status(order_id)["refunds"]
    assert [r["externalRefundId"] for r in refunds] == ["r1", "r2"]


def test_refund_checks_expected_deposited_amount(gateway):
    paid = gateway.pay(amount=1000)
    order_id = paid["orderId"]
    wrong = gateway.json("refund.do", orderId=order_id, amount="100", expectedDepositedAmount="999")
    assert wrong["errorCode"] == 7
    right = gateway.json(
        "refund.do", orderId=order_id, amount="100", expectedDepositedAmount="1000"
    )
    assert right["errorCode"] == 0


def test_refund_of_a_hold_or_a_decline_is_refused(gateway):
    held = gateway.pay(amount=1000, preAuth="true")
    assert gateway.json("refund.do", orderId=held["orderId"], amount="0")["errorCode"] == 7
    declined = gateway.pay("4000000000001166")
    assert gateway.json("refund.do", orderId=declined["orderId"], amount="0")["errorCode"] == 7


def test_operations_on_unknown_orders_are_error_6(gateway):
    for method in ("deposit.do", "reverse.do", "refund.do"):
        answer = gateway.json(method, orderId=str(uuid.uuid4()), amount="0")
        assert answer["errorCode"] == 6


def test_operations_validate_amount_and_currency(gateway):
    held = gateway.pay(amount=1000, preAuth="true")
    assert gateway.json("deposit.do", orderId=held["orderId"], amount="1.5")["errorCode"] == 5
    assert gateway.json("deposit.do", orderId=held["orderId"])["errorCode"] == 4
    answer = gateway.json("deposit.do", orderId=held["orderId"], amount="0", currency="840")
    assert answer["errorCode"] == 5
    assert gateway.status(held["orderId"])["orderStatus"] == 1


# --- what is stored ---------------------------------------------------------------------------


def test_no_full_card_number_or_cvc_is_stored(gateway):
    from django.apps import apps
    from django.core import serializers

    for card in CARDS:
        if not card.fault:
            gateway.pay(card.pan)
    gateway.pay(pan="", cvc="", expiry="", seToken=_setoken(gateway, "5555555555555599"))
    models = apps.get_app_config("checkout_sandbox").get_models()
    dump = "".join(serializers.serialize("json", m.objects.all()) for m in models)
    for card in CARDS:
        assert card.pan not in dump
        assert card.masked_pan in dump or card.fault
    assert '"123"' not in dump  # the CVC


def test_nul_characters_are_error_5_in_each_methods_style(gateway):
    for change in ({"orderNumber": "A\x00B"}, {"description": "x\x00"}, {"userName": "a\x00"}):
        answer = _pay_without(gateway, change)
        assert answer["errorCode"] == "5", change
        assert answer["error"]
    assert not Order.objects.exists()
    paid = gateway.pay(amount=1000)
    answer = gateway.json(
        "refund.do", orderId=paid["orderId"], externalRefundId="r\x00", amount="1"
    )
    assert answer["errorCode"] == 5
    assert answer["errorMessage"]
    answer = gateway.json("getOrderStatusExtended.do", orderNumber="n\x00")
    assert answer["errorCode"] == "5"
    assert gateway.status(paid["orderId"])["paymentAmountInfo"]["refundedAmount"] == 0


def test_an_amount_of_thousands_of_digits_is_error_5(gateway):
    held = gateway.pay(amount=1000, preAuth="true")
    answer = gateway.json("deposit.do", orderId=held["orderId"], amount="1" * 5000)
    assert answer["errorCode"] == 5
    assert _pay_without(gateway, {"amount": "9" * 5000})["errorCode"] == "5"
    assert gateway.status(held["orderId"])["orderStatus"] == 1
