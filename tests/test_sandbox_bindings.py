"""Stored credentials ("bindings") in the sandbox, over real HTTP: created by approved
payments with a clientId, paid with by bindingId or seToken slot 7, the tii rules, the
binding methods, their callbacks and faults, and the console's actions on stored cards."""

from __future__ import annotations

import base64
import re
import time
import uuid
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import padding
from django.utils import timezone

from checkout.sandbox import defaults
from checkout.sandbox.models import Binding, CallbackDelivery, Fault, Merchant, Order
from tests.test_sandbox_api import (
    APPROVES,
    BACK_URL,
    CHALLENGE,
    FAIL_URL,
    FRICTIONLESS,
    Gateway,
    _public_key,
    order_number,
)
from tests.test_sandbox_callbacks import Receiver, expected_hmac

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT = "client-42"
#: The first payment's network reference and time, as a merchant keeps them for MIT.
REFERENCES = {"originalPaymentNetRefNum": "123456789012", "originalPaymentDate": "1700000000000"}


@pytest.fixture
def gateway(sandbox_url) -> Gateway:
    return Gateway(sandbox_url)


def bind(gateway: Gateway, pan: str = APPROVES, client: str = CLIENT, **extra: str) -> dict:
    """Pay with a clientId and return the order's status (which names the binding)."""
    paid = gateway.pay(pan, clientId=client, **extra)
    assert paid["errorCode"] == "0", paid
    if "acsUrl" in paid:
        gateway.three_ds(paid["orderId"])
    return gateway.status(paid["orderId"])


def binding_of(gateway: Gateway, pan: str = APPROVES, client: str = CLIENT) -> str:
    return bind(gateway, pan, client)["bindingInfo"]["bindingId"]


def pay_with(gateway: Gateway, binding_id: str, **extra: str) -> dict:
    """instantPayment.do with a bindingId instead of card data."""
    params = {"pan": "", "cvc": "123", "expiry": "", "cardHolderName": "", "bindingId": binding_id}
    params.update(extra)
    return gateway.pay(**params)


def binding_setoken(gateway: Gateway, binding_id: str, cvc: str = "") -> str:
    """A 9-field seToken whose PAN slot is empty and whose slot 7 holds the bindingId."""
    stamp = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
    plain = "/".join([stamp, str(uuid.uuid4()), "", cvc, "", "", binding_id, "", "WSDK_CORE"])
    cipher = _public_key(gateway).encrypt(plain.encode(), padding.PKCS1v15())
    return base64.b64encode(cipher).decode()


# --- creation and reuse -------------------------------------------------------------------------


def test_an_approved_payment_with_a_client_id_stores_the_card(gateway):
    paid = gateway.pay(APPROVES, clientId=CLIENT)
    block = paid["orderStatus"]
    assert re.fullmatch(r"\d{12}", block["paymentNetRefNum"])

    status = gateway.status(paid["orderId"])
    info = status["bindingInfo"]
    assert set(info) == {"clientId", "bindingId", "authDateTime", "authRefNum", "terminalId"}
    assert info["clientId"] == CLIENT
    assert uuid.UUID(info["bindingId"])
    assert info["authRefNum"] == block["paymentNetRefNum"]
    assert info["authDateTime"] == status["authDateTime"]
    assert info["terminalId"] == status["terminalId"]
    assert status["paymentWay"] == "CARD"  # a card was typed in; it is now stored
    binding = Binding.objects.get()
    assert (binding.masked_pan, binding.payment_system, binding.active) == (
        "444455**3333",
        "VISA",
        True,
    )
    # Only the masked number and a keyed fingerprint: never the card number.
    assert APPROVES not in str(Binding.objects.values().get())


def test_binding_not_needed_or_no_client_id_stores_nothing(gateway):
    paid = gateway.pay(APPROVES, clientId=CLIENT, bindingNotNeeded="true")
    assert gateway.status(paid["orderId"])["bindingInfo"] == {"clientId": CLIENT}
    plain = gateway.status(gateway.pay(APPROVES)["orderId"])
    assert "bindingInfo" not in plain
    assert Binding.objects.count() == 0


def test_a_decline_stores_nothing(gateway):
    declined = gateway.pay("4000000000001166", clientId=CLIENT)
    assert declined["orderStatus"]["OrderStatus"] == 6
    assert "paymentNetRefNum" not in declined["orderStatus"]
    assert gateway.status(declined["orderId"])["bindingInfo"] == {"clientId": CLIENT}
    assert Binding.objects.count() == 0


def test_the_same_card_of_the_same_client_reuses_its_binding(gateway):
    first = binding_of(gateway)
    again = bind(gateway)
    assert again["bindingInfo"]["bindingId"] == first
    other_client = binding_of(gateway, client="client-43")
    other_card = binding_of(gateway, pan="4000000000009003")
    assert len({first, other_client, other_card}) == 3
    assert Binding.objects.count() == 3


def test_a_3ds_card_is_stored_once_3ds_approves(gateway):
    paid = gateway.pay(CHALLENGE, clientId=CLIENT)
    assert paid["acsUrl"]
    assert Binding.objects.count() == 0
    gateway.three_ds(paid["orderId"])
    info = gateway.status(paid["orderId"])["bindingInfo"]
    assert Binding.objects.get().binding_id == info["bindingId"]


def test_initial_tii_needs_a_client_id(gateway):
    for tii in ("CI", "RI", "II"):
        answer = gateway.pay(APPROVES, tii=tii)
        assert answer["errorCode"] == "5"
        assert "clientId" in answer["error"] and answer["errorMessage"] == answer["error"]
    stored = gateway.status(gateway.pay(APPROVES, tii="CI", clientId=CLIENT)["orderId"])
    assert stored["tii"] == "CI"
    assert stored["bindingInfo"]["bindingId"]
    assert gateway.pay(APPROVES, tii="X")["errorCode"] == "5"


# --- paying with a binding ----------------------------------------------------------------------


def test_pay_by_binding_id(gateway):
    binding_id = binding_of(gateway)
    paid = pay_with(gateway, binding_id, amount=700)
    assert paid["errorCode"] == "0"
    assert paid["orderStatus"]["OrderStatus"] == 2
    assert paid["orderStatus"]["Pan"] == "444455**3333"
    status = gateway.status(paid["orderId"])
    assert status["paymentWay"] == "CARD_BINDING"
    assert status["bindingInfo"]["bindingId"] == binding_id
    assert status["bindingInfo"]["clientId"] == CLIENT  # from the binding
    card = status["cardAuthInfo"]
    assert (card["maskedPan"], card["paymentSystem"]) == ("444455**3333", "VISA")
    assert card["expiration"] == Binding.objects.get().expiry
    assert Binding.objects.count() == 1  # paying with it stores nothing new


def test_pay_by_setoken_slot_7(gateway):
    binding_id = binding_of(gateway)
    # Merchant-initiated: slot 4 (CVC) empty.
    token = binding_setoken(gateway, binding_id)
    paid = gateway.pay(pan="", cvc="", expiry="", seToken=token, tii="U", **REFERENCES)
    assert paid["orderStatus"]["OrderStatus"] == 2
    assert gateway.status(paid["orderId"])["paymentWay"] == "CARD_BINDING"
    # Customer-initiated: the CVC in slot 4.
    token = binding_setoken(gateway, binding_id, cvc="123")
    paid = gateway.pay(pan="", cvc="", expiry="", seToken=token)
    assert paid["orderStatus"]["OrderStatus"] == 2


def test_unknown_foreign_or_inactive_bindings_are_error_2(gateway):
    binding_id = binding_of(gateway)
    unknown = pay_with(gateway, str(uuid.uuid4()))
    assert (unknown["errorCode"], unknown["error"]) == ("2", "Binding not found")
    assert pay_with(gateway, "not-a-binding")["errorCode"] == "2"
    other = pay_with(gateway, binding_id, clientId="someone-else")
    assert other["errorCode"] == "2"
    foreign = Merchant.objects.create(login="other-api", password="other-password")
    Binding.objects.update(merchant=foreign)
    assert pay_with(gateway, binding_id)["error"] == "Binding not found"
    Binding.objects.update(merchant=Merchant.objects.default(), active=False)
    assert pay_with(gateway, binding_id)["error"] == "Binding is not active"
    assert not Order.objects.filter(binding__isnull=False).exclude(client_id=CLIENT).exists()


# --- tii rules ----------------------------------------------------------------------------------


def test_without_the_references_a_stored_card_payment_is_a_regular_one(gateway):
    binding_id = binding_of(gateway, pan=CHALLENGE)
    for tii in ("U", "R", "F", "I"):
        # No CVC: refused like any regular payment.
        assert pay_with(gateway, binding_id, cvc="", tii=tii)["errorCode"] == "5"
        # Only one of the two references: still regular, and the card asks 3-D Secure.
        paid = pay_with(gateway, binding_id, tii=tii, originalPaymentNetRefNum="123456789012")
        assert paid["acsUrl"], tii


def test_merchant_initiated_payments_skip_cvc_and_3ds_and_are_one_phase(gateway):
    binding_id = binding_of(gateway, pan=CHALLENGE)
    for tii in ("U", "R", "I"):
        paid = pay_with(gateway, binding_id, cvc="", tii=tii, preAuth="true", **REFERENCES)
        assert paid["errorCode"] == "0"
        assert "acsUrl" not in paid
        assert paid["orderStatus"]["OrderStatus"] == 2  # deposited: one phase
        status = gateway.status(paid["orderId"])
        assert (status["tii"], status["paymentWay"]) == (tii, "CARD_BINDING")


def test_customer_initiated_stored_card_payment_may_ask_3ds(gateway):
    binding_id = binding_of(gateway, pan=CHALLENGE)
    assert pay_with(gateway, binding_id, cvc="", tii="F", **REFERENCES)["errorCode"] == "5"
    paid = pay_with(gateway, binding_id, tii="F", **REFERENCES)
    assert paid["acsUrl"]
    assert gateway.three_ds(paid["orderId"]).startswith(BACK_URL)
    assert gateway.status(paid["orderId"])["orderStatus"] == 2
    frictionless = pay_with(gateway, binding_of(gateway, pan=FRICTIONLESS), tii="F", **REFERENCES)
    assert frictionless["acsUrl"]


def test_bad_references_are_error_5(gateway):
    binding_id = binding_of(gateway)
    long = pay_with(gateway, binding_id, tii="U", originalPaymentNetRefNum="1" * 37)
    assert long["errorCode"] == "5"
    date = pay_with(gateway, binding_id, tii="U", **{**REFERENCES, "originalPaymentDate": "x"})
    assert date["errorCode"] == "5"


def test_merchant_initiated_payment_on_an_expired_card_is_101(gateway):
    binding_id = binding_of(gateway)
    Binding.objects.update(expiry="202001")
    paid = pay_with(gateway, binding_id, cvc="", tii="U", **REFERENCES)
    assert paid["errorCode"] == "0"
    assert paid["orderStatus"]["OrderStatus"] == 6
    assert paid["redirect"].startswith(FAIL_URL)
    status = gateway.status(paid["orderId"])
    assert (status["orderStatus"], status["actionCode"]) == (6, 101)
    assert status["actionCodeDescription"] == "Card expired"


@pytest.mark.parametrize(("code", "text"), [(125, "closed"), (208, "lost"), (209, "stolen")])
def test_merchant_initiated_payment_on_a_bank_cancelled_card(gateway, code, text):
    binding_id = binding_of(gateway)
    Binding.objects.update(cancelled_action_code=code)
    paid = pay_with(gateway, binding_id, cvc="", tii="R", **REFERENCES)
    status = gateway.status(paid["orderId"])
    assert (status["orderStatus"], status["actionCode"]) == (6, code)
    assert text in status["actionCodeDescription"].lower()


def test_merchant_initiated_payment_on_an_unbound_card_is_error_2(gateway):
    binding_id = binding_of(gateway)
    assert gateway.json("unBindCard.do", bindingId=binding_id)["errorCode"] == "0"
    paid = pay_with(gateway, binding_id, cvc="", tii="U", **REFERENCES)
    assert (paid["errorCode"], paid["error"]) == ("2", "Binding is not active")


# --- the binding methods ------------------------------------------------------------------------


def test_get_bindings(gateway):
    none = gateway.json("getBindings.do", clientId=CLIENT)
    assert none == {"errorCode": "2", "errorMessage": "No bindings found"}
    assert gateway.json("getBindings.do")["errorCode"] == "4"
    first = binding_of(gateway)
    second = binding_of(gateway, pan="4000000000009003")
    binding_of(gateway, client="someone-else")
    answer = gateway.json("getBindings.do", clientId=CLIENT)
    assert (answer["errorCode"], answer["errorMessage"]) == ("0", "Success")
    assert [item["bindingId"] for item in answer["bindings"]] == [first, second]
    item = answer["bindings"][0]
    assert item == {
        "bindingId": first,
        "maskedPan": "444455**3333",
        "expiryDate": Binding.objects.get(pk=first).expiry,
        "paymentSystem": "VISA",
        "clientId": CLIENT,
    }
    assert re.fullmatch(r"\d{6}", item["expiryDate"])


def test_get_bindings_hides_expired_and_inactive_ones(gateway):
    first = binding_of(gateway)
    Binding.objects.filter(pk=first).update(expiry="202001")
    assert gateway.json("getBindings.do", clientId=CLIENT)["errorCode"] == "2"
    shown = gateway.json("getBindings.do", clientId=CLIENT, showExpired="true")
    assert [item["bindingId"] for item in shown["bindings"]] == [first]
    assert gateway.json("getBindings.do", clientId=CLIENT, showExpired="yes")["errorCode"] == "5"
    gateway.json("unBindCard.do", bindingId=first)
    assert gateway.json("getBindings.do", clientId=CLIENT, showExpired="true")["errorCode"] == "2"


def test_unbind_and_bind(gateway):
    binding_id = binding_of(gateway)
    assert gateway.json("unBindCard.do", bindingId=binding_id) == {
        "errorCode": "0",
        "errorMessage": "Success",
    }
    assert not Binding.objects.get().active
    again = gateway.json("unBindCard.do", bindingId=binding_id)
    assert again["errorCode"] == "2" and again["errorMessage"]
    assert gateway.json("unBindCard.do", bindingId=str(uuid.uuid4()))["errorCode"] == "2"

    assert gateway.json("bindCard.do", bindingId=binding_id)["errorCode"] == "0"
    assert Binding.objects.get().active
    assert gateway.json("bindCard.do", bindingId=binding_id)["errorCode"] == "2"
    assert gateway.json("bindCard.do", bindingId=str(uuid.uuid4()))["errorCode"] == "2"
    assert pay_with(gateway, binding_id)["orderStatus"]["OrderStatus"] == 2


def test_a_new_payment_after_unbinding_stores_the_card_again(gateway):
    first = binding_of(gateway)
    gateway.json("unBindCard.do", bindingId=first)
    second = binding_of(gateway)
    assert second != first
    # Two bindings of one card cannot both be active: the schema says so.
    assert gateway.json("bindCard.do", bindingId=first)["errorCode"] == "2"


def test_extend_binding(gateway):
    binding_id = binding_of(gateway)
    later = f"{timezone.now().year + 6}07"
    answer = gateway.json("extendBinding.do", bindingId=binding_id, newExpiry=later)
    assert answer == {"errorCode": "0", "errorMessage": "Success"}
    assert Binding.objects.get().expiry == later
    for bad in ("", "2030", "203013", "abcdef", "201001"):
        refused = gateway.json("extendBinding.do", bindingId=binding_id, newExpiry=bad)
        assert refused["errorCode"] == "5", bad
    unknown = gateway.json("extendBinding.do", bindingId=str(uuid.uuid4()), newExpiry=later)
    assert unknown["errorCode"] == "2"
    assert Binding.objects.get().expiry == later


def test_register_then_payment_order_binding(gateway):
    binding_id = binding_of(gateway)
    registered = gateway.json(
        "register.do",
        orderNumber=order_number(),
        amount="1500",
        currency="978",
        returnUrl=BACK_URL,
        failUrl=FAIL_URL,
        description="Subscription",
        clientId=CLIENT,
        jsonParams='{"plan":"monthly"}',
    )
    assert set(registered) == {"orderId", "formUrl"}
    assert gateway.status(registered["orderId"])["orderStatus"] == 0

    paid = gateway.json(
        "paymentOrderBinding.do",
        mdOrder=registered["orderId"],
        bindingId=binding_id,
        ip="10.1.2.3",
        tii="U",
        **REFERENCES,
    )
    assert paid["errorCode"] == 0  # a number, as in the published answers of this family
    assert paid["redirect"].startswith(BACK_URL + "?orderId=" + registered["orderId"])
    assert paid["info"]
    status = gateway.status(registered["orderId"])
    assert (status["orderStatus"], status["paymentWay"]) == (2, "CARD_BINDING")
    assert status["bindingInfo"]["bindingId"] == binding_id
    assert status["ip"] == "10.1.2.3"
    assert status["merchantOrderParams"] == [{"name": "plan", "value": "monthly"}]

    # Paid already; unknown order; unknown binding.
    again = gateway.json(
        "paymentOrderBinding.do", mdOrder=registered["orderId"], bindingId=binding_id, cvc="123"
    )
    assert again["errorCode"] == 7 and again["error"] == again["errorMessage"]
    unknown = gateway.json(
        "paymentOrderBinding.do", mdOrder=str(uuid.uuid4()), bindingId=binding_id
    )
    assert unknown["errorCode"] == 6


def test_payment_order_binding_with_3ds_and_client_mismatch(gateway):
    binding_id = binding_of(gateway, pan=CHALLENGE)
    registered = gateway.json(
        "register.do", orderNumber=order_number(), amount="900", returnUrl=BACK_URL
    )
    # Customer-initiated without the references: CVC and 3-D Secure as usual.
    assert (
        gateway.json("paymentOrderBinding.do", mdOrder=registered["orderId"], bindingId=binding_id)[
            "errorCode"
        ]
        == 5
    )
    paid = gateway.json(
        "paymentOrderBinding.do", mdOrder=registered["orderId"], bindingId=binding_id, cvc="123"
    )
    assert paid["errorCode"] == 0 and paid["acsUrl"]
    gateway.three_ds(registered["orderId"])
    assert gateway.status(registered["orderId"])["orderStatus"] == 2

    theirs = gateway.json(
        "register.do",
        orderNumber=order_number(),
        amount="900",
        returnUrl=BACK_URL,
        clientId="someone-else",
    )
    refused = gateway.json(
        "paymentOrderBinding.do", mdOrder=theirs["orderId"], bindingId=binding_id, cvc="123"
    )
    assert refused["errorCode"] == 2
    assert gateway.status(theirs["orderId"])["orderStatus"] == 0


# --- callbacks ----------------------------------------------------------------------------------


@pytest.fixture
def receiver(settings):
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "sync", "CALLBACK_RETRY_INTERVAL": 0}
    receiver = Receiver()
    merchant = Merchant.objects.default()
    merchant.callback_url = receiver.url
    merchant.save()
    yield receiver
    receiver.close()


def checked(params: dict[str, str]) -> dict[str, str]:
    """The callback's own parameters, after checking its date and checksum."""
    params = dict(params)
    params.pop("site")
    assert re.fullmatch(
        r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}",
        params["callbackCreationDate"],
    )
    assert params["checksum"] == expected_hmac(params, defaults.CALLBACK_SECRET)
    return params


def test_binding_created_callback(gateway, receiver):
    paid = gateway.pay(APPROVES, clientId=CLIENT)
    binding_id = Binding.objects.get().binding_id
    deposited, created = (checked(params) for params in receiver.params())
    assert (deposited["operation"], deposited["status"]) == ("deposited", "1")
    assert (created["operation"], created["status"]) == ("bindingCreated", "1")
    assert created["mdOrder"] == paid["orderId"]
    assert created["orderNumber"] == paid["orderNumber"]
    assert (created["bindingId"], created["clientId"]) == (binding_id, CLIENT)

    # Reusing the binding creates nothing: no second bindingCreated.
    receiver.calls.clear()
    gateway.pay(APPROVES, clientId=CLIENT)
    assert [p["operation"] for p in receiver.params()] == ["deposited"]


def test_binding_activity_changed_callbacks(gateway, receiver):
    binding_id = binding_of(gateway)
    receiver.calls.clear()
    gateway.json("unBindCard.do", bindingId=binding_id)
    gateway.json("bindCard.do", bindingId=binding_id)
    unbound, bound = (checked(params) for params in receiver.params())
    for params, status in ((unbound, "0"), (bound, "1")):
        assert set(params) == {
            "bindingId",
            "clientId",
            "operation",
            "status",
            "callbackCreationDate",
            "checksum",
        }
        assert (params["operation"], params["status"]) == ("bindingActivityChanged", status)
        assert (params["bindingId"], params["clientId"]) == (binding_id, CLIENT)
    deliveries = CallbackDelivery.objects.filter(operation="bindingActivityChanged")
    assert deliveries.count() == 2 and not deliveries.filter(order__isnull=False).exists()


def test_callback_pages_list_binding_callbacks(gateway, receiver, sandbox_url):
    binding_id = binding_of(gateway)
    gateway.json("unBindCard.do", bindingId=binding_id)
    page = gateway.http.get(sandbox_url + "sandbox/callbacks/", timeout=5)
    assert page.status_code == 200
    assert "bindingActivityChanged" in page.text and binding_id in page.text


# --- faults -------------------------------------------------------------------------------------


def switch(fault: str, endpoints: str) -> None:
    merchant = Merchant.objects.default()
    merchant.fault, merchant.fault_endpoints, merchant.fault_remaining = fault, endpoints, None
    merchant.save()


def test_faults_hit_the_binding_methods(gateway):
    binding_id = binding_of(gateway)
    switch(Fault.ERROR_BEFORE, "unBindCard.do,getBindings.do")
    assert gateway.call("unBindCard.do", bindingId=binding_id).status_code == 500
    assert gateway.call("getBindings.do", clientId=CLIENT).status_code == 500
    assert Binding.objects.get().active  # not carried out

    switch(Fault.ERROR_AFTER, "unBindCard.do")
    assert gateway.call("unBindCard.do", bindingId=binding_id).status_code == 500
    assert not Binding.objects.get().active  # carried out, answer spoilt

    switch(Fault.MALFORMED_AFTER, "bindCard.do")
    answer = gateway.call("bindCard.do", bindingId=binding_id)
    with pytest.raises(ValueError):
        answer.json()
    assert Binding.objects.get().active

    switch(Fault.RATE_LIMITED, "extendBinding.do")
    later = f"{timezone.now().year + 6}01"
    assert (
        gateway.call("extendBinding.do", bindingId=binding_id, newExpiry=later).status_code == 429
    )


def test_faults_hit_payments_with_a_binding(gateway):
    import requests

    binding_id = binding_of(gateway)
    switch(Fault.DROP_AFTER, "paymentOrderBinding.do")
    registered = gateway.json(
        "register.do", orderNumber=order_number(), amount="300", returnUrl=BACK_URL
    )
    with pytest.raises(requests.ConnectionError):
        gateway.call(
            "paymentOrderBinding.do", mdOrder=registered["orderId"], bindingId=binding_id, cvc="123"
        )
    assert Order.objects.get(pk=registered["orderId"]).status == 2  # the money moved

    switch("", "")
    answer = gateway.call(
        "instantPayment.do",
        orderNumber=order_number(),
        amount="9500",  # magic amount: HTTP 500 before
        backUrl=BACK_URL,
        bindingId=binding_id,
        cvc="123",
    )
    assert answer.status_code == 500
    assert Order.objects.count() == 2


def test_a_stored_fault_card_keeps_its_fault(gateway, settings):
    settings.CHECKOUT_SANDBOX = {"CALLBACK_DELIVERY": "off", "FAULT_LATENCY": 0.5}
    binding_id = binding_of(gateway, pan="4000000000009003")  # latency card
    started = time.monotonic()
    assert pay_with(gateway, binding_id)["orderStatus"]["OrderStatus"] == 2
    assert time.monotonic() - started >= 0.5


# --- the console --------------------------------------------------------------------------------


def test_console_lists_bindings_and_acts_on_them(gateway, client):
    binding_id = binding_of(gateway)
    page = client.get("/sandbox/payment/sandbox/bindings/")
    assert page.status_code == 200
    text = page.content.decode()
    assert binding_id in text and "444455**3333" in text and CLIENT in text

    url = f"/sandbox/payment/sandbox/bindings/{binding_id}/"
    assert client.post(url, {"action": "expire"}).status_code == 302
    binding = Binding.objects.get()
    assert binding.expired
    paid = pay_with(gateway, binding_id, cvc="", tii="U", **REFERENCES)
    assert gateway.status(paid["orderId"])["actionCode"] == 101

    gateway.json("extendBinding.do", bindingId=binding_id, newExpiry=f"{timezone.now().year + 4}01")
    assert client.post(url, {"action": "cancel", "action_code": "209"}).status_code == 302
    assert Binding.objects.get().cancelled_action_code == 209
    paid = pay_with(gateway, binding_id, cvc="", tii="U", **REFERENCES)
    assert gateway.status(paid["orderId"])["actionCode"] == 209
    assert client.post(url, {"action": "cancel"}).status_code == 302
    assert Binding.objects.get().cancelled_action_code == 125

    assert client.post(url, {"action": "unbind"}).status_code == 302
    assert not Binding.objects.get().active
    assert client.post(url, {"action": "melt"}).status_code == 302
    assert client.get(url).status_code == 405


def test_console_speaks_greek(gateway, client):
    binding_of(gateway)
    page = client.get("/sandbox/payment/sandbox/bindings/", HTTP_ACCEPT_LANGUAGE="el")
    assert "Αποθηκευμένες κάρτες" in page.content.decode()
