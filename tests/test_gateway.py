"""The gateway client against a real HTTP server on 127.0.0.1 (tests/gateway_server.py)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import pickle
import ssl
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import checkout
from checkout.exceptions import GatewayRefused, GatewayUnavailable, OutcomeUnknown
from checkout.gateway import (
    AcsForm,
    CardData,
    ExchangeRecord,
    GatewayClient,
    InstantPaymentResult,
    OperationResult,
    OrderStatus,
    SeTokenKey,
    get_client,
    transport,
)
from tests.gateway_server import (
    EXAMPLES,
    closed_port,
    drop,
    example,
    reply,
    reset,
    running_gateway,
    slow,
    unanswered_port,
)

SEED = (EXAMPLES / "direct-payments.txt").read_text()
PAN = "4111111111111111"
CVC = "987"
PASSWORD = "merchant-secret-pw"
ORDER_ID = "0179018d-8f96-7fbe-bc2b-4b7e00a7d8c0"


def seed_example(marker: str) -> str:
    """One JSON answer printed in the seed document, after the line containing marker."""
    start = SEED.index("{", SEED.index(marker))
    body, _ = json.JSONDecoder().raw_decode(SEED[start:])
    return json.dumps(body)


@pytest.fixture
def gw():
    with running_gateway() as server:
        yield server


@pytest.fixture
def records() -> list[ExchangeRecord]:
    """The exchanges the client reported to its hook, in order."""
    return []


@pytest.fixture
def client(gw, records):
    c = GatewayClient(
        gw.base_url,
        "merchant-api",
        PASSWORD,
        timeouts=(0.5, 0.4),
        status_retries=2,
        retry_backoff=0.01,
        on_exchange=records.append,
    )
    yield c
    c.close()


def only(records: list[ExchangeRecord]) -> ExchangeRecord:
    assert len(records) == 1, records
    return records[0]


def cvc_shown(text: str) -> bool:
    """The CVC as a value (three digits alone would match ports, ids and addresses)."""
    return any(
        pattern in text
        for pattern in (f"cvc={CVC}", f"'cvc': '{CVC}'", f"&#x27;cvc&#x27;: &#x27;{CVC}")
    )


def card() -> CardData:
    return CardData(pan=PAN, cvc=CVC, expiry="203012", cardholder_name="Test Cardholder")


def pay(client: GatewayClient, **overrides) -> InstantPaymentResult:
    kwargs = dict(
        order_number="X1",
        amount=1999,
        currency="EUR",
        description="Order X1",
        language="en",
        back_url="https://shop.example/checkout/return/",
        fail_url="https://shop.example/checkout/return/?failed=1",
        card=card(),
    )
    kwargs.update(overrides)
    return client.instant_payment(**kwargs)


# --- instantPayment.do ----------------------------------------------------------------


def test_instant_payment_sends_a_form_post_with_credentials_and_card(gw, client):
    gw.on("rest/instantPayment.do", example("instantPayment-no3ds-deposited.json"))
    pay(client, email="shopper@example.com", ip="203.0.113.9")
    [request] = gw.received
    assert request.method == "POST"
    assert request.path == "/payment/rest/instantPayment.do"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["user-agent"] == f"django-jcc-checkout/{checkout.__version__}"
    assert request.form == {
        "userName": "merchant-api",
        "password": PASSWORD,
        "orderNumber": "X1",
        "amount": "1999",
        "currency": "978",
        "description": "Order X1",
        "language": "en",
        "backUrl": "https://shop.example/checkout/return/",
        "failUrl": "https://shop.example/checkout/return/?failed=1",
        "email": "shopper@example.com",
        "ip": "203.0.113.9",
        "pan": PAN,
        "cvc": CVC,
        "expiry": "203012",
        "cardHolderName": "Test Cardholder",
    }


def test_instant_payment_approved_without_3ds_parses_capitalised_block(gw, client):
    # The published example comes as text/plain and spells errorCode as "0".
    gw.on(
        "rest/instantPayment.do",
        example("instantPayment-no3ds-deposited.json", content_type="text/plain;charset=UTF-8"),
    )
    result = pay(client)
    assert result.order_id == "eee72f6e-b980-79c5-92e8-6f4200b1eae0"
    assert result.order_number == "2011"
    assert result.order_status == 2
    assert result.masked_pan == "500000**1115"
    assert result.expiration == "202412"
    assert result.approval_code == "123456"
    assert result.amount == 100
    assert result.currency == "978"
    assert result.cardholder_name == "TEST CARDHOLDER"
    assert result.info.startswith("Your order is proceeded")
    assert result.error_message == ""
    assert (result.approved, result.requires_3ds, result.declined) == (True, False, False)


def test_instant_payment_3ds_answer_from_the_seed_document(gw, client):
    gw.on("rest/instantPayment.do", reply(seed_example("3-D Secure is required")))
    result = pay(client)
    assert result.order_id == ORDER_ID
    assert result.order_number == "1218637308"
    assert result.order_status == 0
    assert result.acs_url.startswith("https://gateway-test.jcc.com.cy/payment/rest/getwhite")
    assert result.pa_req == "White page paReq"
    assert result.term_url == "White page termUrl"
    assert result.is_3ds2 is False
    assert (result.requires_3ds, result.approved, result.declined) == (True, False, False)
    assert client.acs_post_form(result) == AcsForm(
        url=result.acs_url,
        fields={"PaReq": "White page paReq", "MD": ORDER_ID, "TermUrl": "White page termUrl"},
    )
    assert client.acs_redirect_url(ORDER_ID) == f"{gw.base_url}acsRedirect.do?orderId={ORDER_ID}"


def test_instant_payment_seed_no_3ds_answer_is_approved(gw, client):
    gw.on("rest/instantPayment.do", reply(seed_example("3-D Secure is not used")))
    result = pay(client)
    assert result.approved and result.order_status == 2 and result.approval_code == "123456"
    assert result.redirect.startswith("https://mybestmerchantreturnurl.com/")


@pytest.mark.parametrize("key", ["threeDSMethodURL", "threeDSMethodUrl"])
def test_instant_payment_3ds2_method_step_needs_3ds_not_a_decline(gw, client, key):
    gw.on(
        "rest/instantPayment.do",
        reply(
            {
                "errorCode": 0,
                "orderId": ORDER_ID,
                "is3DSVer2": "true",
                "threeDSServerTransId": "5802746e-3393-40c3-929a-dc966ebf08c6",
                key: "https://acs.example/3dsMethod",
                "threeDSMethodURLServer": "https://gw.example/gather",
                "threeDSMethodDataPacked": "eyJ0In0=",
            }
        ),
    )
    result = pay(client)
    assert result.is_3ds2 and result.three_ds_method_url == "https://acs.example/3dsMethod"
    assert result.three_ds_method_url_server == "https://gw.example/gather"
    assert result.three_ds_server_trans_id == "5802746e-3393-40c3-929a-dc966ebf08c6"
    assert result.requires_3ds and not result.declined and not result.approved
    with pytest.raises(ValueError):
        client.acs_post_form(result)


def test_instant_payment_declined_reads_error_and_string_action_code(gw, client):
    gw.on(
        "rest/instantPayment.do",
        reply(
            {
                "errorCode": "0",
                "orderId": ORDER_ID,
                "error": "Operation declined.",
                "actionCode": "116",
                "orderStatus": {"ErrorCode": "2", "ErrorMessage": "Declined", "OrderStatus": 6},
                "brandNewField": {"nested": [1, 2]},
            }
        ),
    )
    result = pay(client)
    assert result.declined and not result.approved and not result.requires_3ds
    assert result.action_code == 116
    assert result.error_message == "Operation declined."
    assert result.order_status == 6


def test_instant_payment_without_order_status_block_is_declined(gw, client):
    gw.on("rest/instantPayment.do", reply({"errorCode": 0, "orderId": ORDER_ID}))
    result = pay(client)
    assert result.order_status is None and result.amount is None and result.masked_pan == ""
    assert result.declined


def test_instant_payment_with_setoken_and_options(gw, client):
    gw.on("rest/instantPayment.do", example("instantPayment-no3ds-deposited.json"))
    pay(
        client,
        card=None,
        se_token="QUJD+/==",
        cardholder_name="Jane Doe",
        preauth=True,
        session_timeout=900,
        json_params={"basket": "7"},
        dynamic_callback_url="https://shop.example/checkout/callback/",
    )
    form = gw.received[0].form
    assert form["seToken"] == "QUJD+/=="
    assert not {"pan", "cvc", "expiry"} & set(form)
    assert form["cardHolderName"] == "Jane Doe"
    assert form["preAuth"] == "true"
    assert form["sessionTimeoutSecs"] == "900"
    assert json.loads(form["jsonParams"]) == {"basket": "7"}
    assert form["dynamicCallbackUrl"] == "https://shop.example/checkout/callback/"


@pytest.mark.parametrize(
    "overrides",
    [
        {"card": None, "se_token": None},
        {"se_token": "token-and-card"},
        {"amount": 19.99},
        {"amount": -1},
        {"amount": True},
        {"currency": "ZZZ"},
    ],
)
def test_instant_payment_refuses_bad_arguments_before_sending(gw, client, overrides):
    with pytest.raises(ValueError):
        pay(client, **overrides)
    assert gw.received == []


# --- getOrderStatusExtended.do -----------------------------------------------------------


def test_order_status_by_order_id_parses_the_published_example(gw, client):
    gw.on("rest/getOrderStatusExtended.do", example("getOrderStatusExtended-deposited.json"))
    status = client.order_status(order_id="01491d0b-c848-7dd6-a20d-e96900a7d8c0", language="el")
    form = gw.received[0].form
    assert form == {
        "userName": "merchant-api",
        "password": PASSWORD,
        "orderId": "01491d0b-c848-7dd6-a20d-e96900a7d8c0",
        "language": "el",
    }
    assert isinstance(status, OrderStatus)
    assert status.order_number == "7005"
    assert status.order_id == "01491d0b-c848-7dd6-a20d-e96900a7d8c0"
    assert (status.order_status, status.action_code) == (2, 0)
    assert (status.amount, status.currency, status.currency_code) == (2000, "978", "EUR")
    assert status.date == dt.datetime(2021, 4, 9, 12, 55, 15, 659000, tzinfo=dt.UTC)
    assert status.card.masked_pan == "411111**1111"
    assert status.card.expiration == "203412"
    assert status.card.cardholder_name == "TEST CARDHOLDER"
    assert status.card.approval_code == "12345678"
    assert status.card.payment_system == ""
    assert status.amounts.payment_state == "DEPOSITED"
    assert (status.amounts.approved, status.amounts.deposited, status.amounts.refunded) == (
        2000,
        2000,
        0,
    )
    assert status.error_message == "Success"


def test_order_status_by_order_number_tolerates_missing_blocks(gw, client):
    gw.on(
        "rest/getOrderStatusExtended.do",
        reply(
            {"orderNumber": "X1", "orderStatus": "6", "actionCode": -2007, "amount": "1999"},
            content_type="text/plain",
        ),
    )
    status = client.order_status(order_number="X1")
    assert gw.received[0].form["orderNumber"] == "X1"
    assert "orderId" not in gw.received[0].form
    assert (status.order_status, status.action_code, status.amount) == (6, -2007, 1999)
    assert status.order_id == "" and status.currency_code == "" and status.date is None
    assert status.card.masked_pan == "" and status.amounts.deposited == 0


def test_order_status_unknown_order_is_refused_with_code_6(gw, client):
    gw.on(
        "rest/getOrderStatusExtended.do",
        reply({"errorCode": "6", "errorMessage": "Order not found"}),
    )
    with pytest.raises(GatewayRefused) as info:
        client.order_status(order_id="nope")
    assert (info.value.code, info.value.gateway_message) == (6, "Order not found")
    assert info.value.operation == "getOrderStatusExtended.do"


def test_order_status_needs_an_id(client):
    with pytest.raises(ValueError):
        client.order_status()


def test_order_status_keeps_only_masked_card_numbers(gw, client):
    gw.on(
        "rest/getOrderStatusExtended.do",
        reply({"errorCode": 0, "orderStatus": 2, "cardAuthInfo": {"pan": PAN}}),
    )
    assert client.order_status(order_id=ORDER_ID).card.masked_pan == ""


# Well-formed answers with values no payment can have: the app could neither store nor
# interpret them.
OUT_OF_RANGE = {
    "orderStatus beyond the table": {"orderStatus": 99},
    "orderStatus of a small integer's size": {"orderStatus": 40000},
    "actionCode beyond 32 bits": {"actionCode": 2**40},
    "negative amount": {"amount": -1999},
    "negative approved amount": {"paymentAmountInfo": {"approvedAmount": "-5"}},
    "refunded amount beyond 12 digits": {"paymentAmountInfo": {"refundedAmount": 10**19}},
    "overlong mdOrder": {"attributes": [{"name": "mdOrder", "value": "x" * 37}]},
}


@pytest.mark.parametrize("field", list(OUT_OF_RANGE))
def test_order_status_out_of_range_is_unavailable(gw, client, field):
    body = {"errorCode": 0, "orderNumber": "X1", "orderStatus": 2, "amount": 1999}
    gw.on("rest/getOrderStatusExtended.do", reply({**body, **OUT_OF_RANGE[field]}))
    with pytest.raises(GatewayUnavailable, match="malformed answer") as info:
        client.order_status(order_number="X1")
    assert not isinstance(info.value, OutcomeUnknown)
    assert info.value.operation == "getOrderStatusExtended.do"


@pytest.mark.parametrize(
    "extra",
    [
        {"orderId": "x" * 37},
        {"orderStatus": {"OrderStatus": 99}},
        {"orderStatus": {"OrderStatus": 2}, "actionCode": -(2**40)},
    ],
)
def test_instant_payment_out_of_range_is_outcome_unknown(gw, client, extra):
    gw.on("rest/instantPayment.do", reply({"errorCode": 0, "orderId": ORDER_ID, **extra}))
    with pytest.raises(OutcomeUnknown, match="malformed answer"):
        pay(client)
    assert len(gw.received) == 1


# --- deposit / reverse / refund ----------------------------------------------------------


def test_deposit_reverse_refund_send_their_parameters(gw, client):
    for method in ("deposit.do", "reverse.do", "refund.do"):
        gw.on(f"rest/{method}", reply({"errorCode": 0, "errorMessage": "Success"}))
    assert client.deposit(ORDER_ID, 0) == OperationResult(error_message="Success")
    client.reverse(ORDER_ID)
    client.reverse(ORDER_ID, 500)
    client.refund(ORDER_ID, 700, external_refund_id="r-1", expected_deposited_amount=1999)
    client.refund(ORDER_ID, 100)
    forms = [(r.path.rsplit("/", 1)[1], r.form) for r in gw.received]
    auth = {"userName": "merchant-api", "password": PASSWORD}
    assert forms == [
        ("deposit.do", {**auth, "orderId": ORDER_ID, "amount": "0"}),
        ("reverse.do", {**auth, "orderId": ORDER_ID}),
        ("reverse.do", {**auth, "orderId": ORDER_ID, "amount": "500"}),
        (
            "refund.do",
            {
                **auth,
                "orderId": ORDER_ID,
                "amount": "700",
                "externalRefundId": "r-1",
                "expectedDepositedAmount": "1999",
            },
        ),
        ("refund.do", {**auth, "orderId": ORDER_ID, "amount": "100"}),
    ]


@pytest.mark.parametrize("body", ["{}", '{"errorMessage":"Success"}', '{"success": true}'])
def test_missing_error_code_means_success(gw, client, body):
    gw.on("rest/deposit.do", reply(body))
    assert client.deposit(ORDER_ID, 100).error_code == 0


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"errorCode": 7, "errorMessage": "Reversal is impossible"}, 7, "Reversal is impossible"),
        ({"errorCode": "5", "error": "Access denied"}, 5, "Access denied"),
        ({"success": False, "errorMessage": "Nope"}, -1, "Nope"),
    ],
)
def test_error_code_is_a_refusal(gw, client, body, code, message):
    gw.on("rest/reverse.do", reply(body))
    with pytest.raises(GatewayRefused) as info:
        client.reverse(ORDER_ID)
    assert (info.value.code, info.value.gateway_message) == (code, message)
    assert not isinstance(info.value, GatewayUnavailable)


def test_refusal_of_instant_payment(gw, client):
    gw.on(
        "rest/instantPayment.do",
        reply({"errorCode": "1", "error": "Order with this number was already processed"}),
    )
    with pytest.raises(GatewayRefused) as info:
        pay(client)
    assert info.value.code == 1
    assert PAN not in str(info.value)


# --- se/keys.do ---------------------------------------------------------------------------


def test_setoken_keys(gw, client):
    gw.on(
        "se/keys.do",
        reply(
            {
                "keys": [
                    {
                        "keyValue": "-----BEGIN PUBLIC KEY-----MIIB-----END PUBLIC KEY-----",
                        "protocolVersion": "RSA",
                        "keyExpiration": 1893456000000,
                    },
                    {"protocolVersion": "RSA"},
                    {"keyValue": "K2", "protocolVersion": "RSA-4096"},
                ]
            }
        ),
        method="GET",
    )
    keys = client.setoken_keys()
    assert keys == [
        SeTokenKey(
            key_value="-----BEGIN PUBLIC KEY-----MIIB-----END PUBLIC KEY-----",
            protocol_version="RSA",
            expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        ),
        SeTokenKey(key_value="K2", protocol_version="RSA-4096", expires_at=None),
    ]
    [request] = gw.received
    assert request.method == "GET" and request.path == "/payment/se/keys.do"
    assert "password" not in request.query and request.body == b""


# --- failures of money-moving calls -----------------------------------------------------

MONEY_CALLS = {
    "instantPayment.do": lambda c: pay(c),
    "deposit.do": lambda c: c.deposit(ORDER_ID, 100),
    "reverse.do": lambda c: c.reverse(ORDER_ID),
    "refund.do": lambda c: c.refund(ORDER_ID, 100),
}

REACHED = {
    "read timeout": lambda: slow(1.5, reply({"errorCode": 0})),
    "closed after the request": drop,
    "reset after the request": reset,
    "HTTP 500": lambda: reply("Internal error", status=500, content_type="text/html"),
    "HTTP 502": lambda: reply("", status=502),
    "HTTP 503": lambda: reply("", status=503),
    "HTTP 400": lambda: reply('{"error":"internal"}', status=400),
    "malformed body": lambda: reply("<html>maintenance</html>", content_type="text/html"),
    "truncated JSON": lambda: reply('{"errorCode": "0", "orderId": "ab'),
    "JSON list": lambda: reply("[1, 2]"),
    "non-numeric errorCode": lambda: reply({"errorCode": "zero"}),
    # Well-formed JSON, nested deeper than the decoder recurses.
    "deeply nested JSON": lambda: reply('{"errorCode": 0, "x": ' + "[" * 10**5 + "]" * 10**5 + "}"),
}


@pytest.mark.parametrize("operation", list(MONEY_CALLS))
@pytest.mark.parametrize("failure", list(REACHED))
def test_money_moving_failure_after_sending_is_outcome_unknown(
    gw, client, records, operation, failure
):
    gw.on(f"rest/{operation}", REACHED[failure]())
    with pytest.raises(OutcomeUnknown) as info:
        MONEY_CALLS[operation](client)
    assert info.value.operation == operation
    # Never retried: the money may have moved.
    assert len(gw.requests_to(f"rest/{operation}")) == 1
    row = only(records)
    assert row.operation == operation and row.error


@pytest.mark.parametrize("operation", list(MONEY_CALLS))
def test_money_moving_http_429_is_a_clean_failure(gw, client, records, operation):
    gw.on(f"rest/{operation}", reply('{"error":"slow down"}', status=429))
    with pytest.raises(GatewayUnavailable) as info:
        MONEY_CALLS[operation](client)
    assert not isinstance(info.value, OutcomeUnknown)
    assert len(gw.received) == 1
    assert only(records).http_status == 429


@pytest.mark.parametrize("operation", list(MONEY_CALLS))
def test_money_moving_connection_refused_is_a_clean_failure(records, operation):
    url = f"http://127.0.0.1:{closed_port()}/payment/"
    client = GatewayClient(url, "u", "p", on_exchange=records.append)
    with pytest.raises(GatewayUnavailable) as info:
        MONEY_CALLS[operation](client)
    assert not isinstance(info.value, OutcomeUnknown)
    assert only(records).http_status is None


def test_money_moving_connect_timeout_is_a_clean_failure():
    with unanswered_port() as port:
        client = GatewayClient(f"http://127.0.0.1:{port}/payment/", "u", "p", timeouts=(0.2, 5))
        with pytest.raises(GatewayUnavailable) as info:
            client.deposit(ORDER_ID, 100)
    assert not isinstance(info.value, OutcomeUnknown)
    assert "could not connect" in str(info.value)


def test_read_timeout_is_the_configured_one(gw, client):
    gw.on("rest/deposit.do", slow(1.5, reply({"errorCode": 0})))
    client.timeouts = (0.5, 0.2)
    started = dt.datetime.now()
    with pytest.raises(OutcomeUnknown):
        client.deposit(ORDER_ID, 100)
    assert (dt.datetime.now() - started).total_seconds() < 1.2


def test_tls_certificates_are_verified():
    context, _ = _self_signed_context()
    with running_gateway(ssl_context=context) as server:
        server.on("rest/deposit.do", reply({"errorCode": 0}))
        client = GatewayClient(server.base_url, "u", "p", timeouts=(1, 1))
        with pytest.raises(GatewayUnavailable) as info:
            client.deposit(ORDER_ID, 100)
    # The handshake failed, so nothing was sent and no money can have moved.
    assert not isinstance(info.value, OutcomeUnknown)
    assert server.received == []


def test_tls_with_a_trusted_certificate_works(monkeypatch):
    context, cert_path = _self_signed_context()
    # verify=True consults the CA bundle named here: trust exactly this certificate.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_path))
    with running_gateway(ssl_context=context) as server:
        server.on("rest/deposit.do", reply({"errorCode": 0, "errorMessage": "Success"}))
        client = GatewayClient(server.base_url, "u", "p", timeouts=(1, 1))
        assert client.deposit(ORDER_ID, 100).error_message == "Success"
    assert server.base_url.startswith("https://") and len(server.received) == 1


def test_calls_go_through_the_proxy_the_environment_names(monkeypatch):
    with running_gateway() as proxy:
        proxy.on("rest/deposit.do", reply({"errorCode": 0, "errorMessage": "Success"}))
        for name in ("NO_PROXY", "no_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server.server_port}")
        # A host nobody resolves: only the proxy can carry the call.
        client = GatewayClient("http://gateway.invalid/payment/", "u", "p", timeouts=(1, 1))
        # The environment is read when the client is made, not on every call.
        monkeypatch.delenv("HTTP_PROXY")
        assert client.deposit(ORDER_ID, 100).error_message == "Success"
    assert [r.headers["host"] for r in proxy.received] == ["gateway.invalid"]


def test_no_proxy_is_honoured(monkeypatch):
    with running_gateway() as server:
        server.on("rest/deposit.do", reply({"errorCode": 0, "errorMessage": "Success"}))
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        client = GatewayClient(server.base_url, "u", "p", timeouts=(1, 1))
        assert client.deposit(ORDER_ID, 100).error_message == "Success"
    assert len(server.received) == 1


def _self_signed_context() -> tuple[ssl.SSLContext, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory = Path(tempfile.mkdtemp())
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context, directory / "cert.pem"


# --- failures of read-only calls ------------------------------------------------------


@pytest.mark.parametrize("failure", ["closed after the request", "reset after the request"])
def test_status_query_retries_a_lost_connection(gw, client, records, failure):
    gw.on(
        "rest/getOrderStatusExtended.do",
        REACHED[failure](),
        example("getOrderStatusExtended-deposited.json"),
    )
    assert client.order_status(order_id=ORDER_ID).order_status == 2
    assert len(gw.received) == 2
    assert len(records) == 2


def test_status_query_gives_up_after_the_configured_retries(gw, client):
    gw.on("rest/getOrderStatusExtended.do", drop())
    with pytest.raises(GatewayUnavailable) as info:
        client.order_status(order_id=ORDER_ID)
    assert not isinstance(info.value, OutcomeUnknown)
    assert len(gw.received) == 1 + client.status_retries == 3


def test_status_query_connection_refused_is_retried_then_unavailable(records):
    client = GatewayClient(
        f"http://127.0.0.1:{closed_port()}/payment/",
        "u",
        "p",
        status_retries=3,
        retry_backoff=0,
        on_exchange=records.append,
    )
    with pytest.raises(GatewayUnavailable) as info:
        client.order_status(order_id=ORDER_ID)
    assert not isinstance(info.value, OutcomeUnknown)
    assert len(records) == 4


@pytest.mark.parametrize(
    "failure",
    [
        "read timeout",
        "HTTP 500",
        "malformed body",
        "truncated JSON",
        "JSON list",
        "deeply nested JSON",
    ],
)
def test_status_query_failures_are_unavailable_never_outcome_unknown(gw, client, failure):
    gw.on("rest/getOrderStatusExtended.do", REACHED[failure]())
    with pytest.raises(GatewayUnavailable) as info:
        client.order_status(order_id=ORDER_ID)
    assert not isinstance(info.value, OutcomeUnknown)


def test_setoken_keys_failure_is_unavailable(gw, client):
    gw.on("se/keys.do", reply("oops", status=500), method="GET")
    with pytest.raises(GatewayUnavailable) as info:
        client.setoken_keys()
    assert not isinstance(info.value, OutcomeUnknown)


# --- transport details ----------------------------------------------------------------


def test_one_session_reuses_the_connection(gw, client):
    gw.on("rest/getOrderStatusExtended.do", example("getOrderStatusExtended-deposited.json"))
    for _ in range(3):
        client.order_status(order_id=ORDER_ID)
    assert len({r.client_port for r in gw.received}) == 1


def test_redirects_are_not_followed(gw, client):
    gw.on("rest/deposit.do", reply("", status=302))
    with pytest.raises(GatewayUnavailable) as info:
        client.deposit(ORDER_ID, 100)
    assert not isinstance(info.value, OutcomeUnknown)
    assert len(gw.received) == 1


@pytest.mark.parametrize("host", ["gateway-test.jcc.com.cy", "192.0.2.10"])
def test_no_request_leaves_for_a_real_host(host, refused_connections):
    client = GatewayClient(f"https://{host}/payment/", "u", "p", timeouts=(1, 1))
    with pytest.raises(GatewayUnavailable) as info:
        client.deposit(ORDER_ID, 100)
    assert not isinstance(info.value, OutcomeUnknown)
    assert refused_connections() == [host]


# --- exchange log -------------------------------------------------------------------------


def test_exchange_records_are_redacted_structurally(gw, client, records):
    gw.on(
        "rest/instantPayment.do",
        reply(
            {
                "errorCode": "0",
                "orderId": ORDER_ID,
                "orderStatus": {"OrderStatus": 2, "Pan": "411111**1111", "Amount": 1999},
                "echo": {"pan": PAN, "cardAuthInfo": {"maskedPan": PAN}},
            }
        ),
    )
    pay(client, json_params={"cvc": CVC, "note": "keep me"})
    row = only(records)
    assert row.operation == "instantPayment.do"
    assert row.url == f"{gw.base_url}rest/instantPayment.do"
    assert row.http_status == 200 and row.error_code == 0 and row.error == ""
    assert row.duration_ms >= 0
    for key in ("password", "pan", "cvc", "expiry"):
        assert row.request[key] == "[redacted]"
    assert row.request["userName"] == "merchant-api"
    assert row.request["orderNumber"] == "X1"
    assert json.loads(row.request["jsonParams"]) == {"cvc": "[redacted]", "note": "keep me"}
    assert row.response["orderStatus"]["Pan"] == "411111**1111"
    assert row.response["echo"] == {
        "pan": "[redacted]",
        "cardAuthInfo": {"maskedPan": "[redacted]"},
    }
    stored = json.dumps([row.request, row.response, row.error])
    for secret in (PAN, CVC, PASSWORD, "203012"):
        assert secret not in stored


def test_exchange_record_of_setoken_payment_and_refusal(gw, client, records):
    gw.on("rest/instantPayment.do", reply({"errorCode": 5, "errorMessage": "Access denied"}))
    with pytest.raises(GatewayRefused):
        pay(client, card=None, se_token="c2VjcmV0LXRva2Vu")
    row = only(records)
    assert row.request["seToken"] == "[redacted]"
    assert row.error_code == 5 and "Access denied" in row.error
    assert "c2VjcmV0LXRva2Vu" not in json.dumps(row.request)


def test_exchange_record_of_a_transport_failure(gw, client, records):
    gw.on("rest/deposit.do", reply("<html/>", status=500, content_type="text/html"))
    with pytest.raises(OutcomeUnknown):
        client.deposit(ORDER_ID, 100)
    row = only(records)
    assert row.http_status == 500 and row.response is None and row.error_code is None
    assert row.error == "HTTP 500"


def test_exchange_records_carry_the_callers_context(gw, client, records):
    context = object()
    gw.on("rest/deposit.do", reply({"errorCode": 0}))
    gw.on("rest/getOrderStatusExtended.do", example("getOrderStatusExtended-deposited.json"))
    client.deposit(ORDER_ID, 0, context=context)
    client.order_status(order_id=ORDER_ID)
    assert [(r.operation, r.context) for r in records] == [
        ("deposit.do", context),
        ("getOrderStatusExtended.do", None),
    ]


def test_a_failing_exchange_hook_does_not_fail_the_call(gw, caplog):
    def broken(record: ExchangeRecord) -> None:
        raise RuntimeError("log unavailable")

    client = GatewayClient(gw.base_url, "u", "p", on_exchange=broken)
    gw.on("rest/deposit.do", reply({"errorCode": 0, "errorMessage": "Success"}))
    with caplog.at_level(logging.WARNING, logger="checkout.gateway"):
        assert client.deposit(ORDER_ID, 100).error_message == "Success"
    assert "could not record the deposit.do exchange" in caplog.text


def test_a_client_without_a_hook_reports_nothing_and_needs_no_database(gw):
    client = GatewayClient(gw.base_url, "u", "p")
    gw.on("rest/deposit.do", reply({"errorCode": 0}))
    assert client.deposit(ORDER_ID, 100).error_code == 0


def test_card_data_is_never_logged(gw, client, caplog):
    gw.on("rest/instantPayment.do", drop())
    with caplog.at_level(logging.DEBUG), pytest.raises(OutcomeUnknown) as info:
        pay(client)
    text = caplog.text + str(info.value) + repr(info.value)
    assert PAN not in text and PASSWORD not in text
    assert not cvc_shown(text)


# --- CardData ---------------------------------------------------------------------------


def test_card_data_never_shows_the_number_or_code():
    data = CardData(pan="4111 1111 1111 1111", cvc="987", expiry="203012", cardholder_name="A B")
    assert data.pan == PAN
    for text in (repr(data), str(data), f"{data}", f"{data!r}", repr([data])):
        assert PAN not in text and "987" not in text
        assert "411111******1111" in text and "VISA" in text
    assert data.masked_pan == "411111******1111"


def test_card_data_cannot_be_pickled():
    with pytest.raises(TypeError):
        pickle.dumps(card())


@pytest.mark.parametrize(
    ("pan", "cvc", "expiry"),
    [
        ("4111x11111111111", "123", "203012"),
        ("41111", "123", "203012"),
        (PAN, "12", "203012"),
        (PAN, "123", "203013"),
        (PAN, "123", "3012"),
    ],
)
def test_card_data_validation_messages_hold_no_card_data(pan, cvc, expiry):
    with pytest.raises(ValueError) as info:
        CardData(pan=pan, cvc=cvc, expiry=expiry)
    assert pan not in str(info.value) and cvc not in str(info.value)


@pytest.mark.parametrize(
    ("pan", "brand"),
    [
        ("4111111111111111", "VISA"),
        ("5555555555555599", "MASTERCARD"),
        ("2221000000000009", "MASTERCARD"),
        ("378282246310005", "AMEX"),
        ("6011111111111117", "DISCOVER"),
        ("3530111333300000", "JCB"),
        ("5000001111111115", "MAESTRO"),
        ("9999999999999995", ""),
    ],
)
def test_card_brand(pan, brand):
    assert CardData(pan=pan, cvc="123", expiry="203012").brand == brand


# --- get_client ---------------------------------------------------------------------------

GATEWAY_SETTINGS = {
    "GATEWAY_URL": "https://gateway-test.jcc.com.cy/payment",
    "USERNAME": "shop-api",
    "PASSWORD": "pw",
    "TIMEOUTS": {"read": 12},
    "STATUS_RETRIES": 4,
}


def test_get_client_is_built_from_settings_and_cached():
    with override_settings(CHECKOUT=GATEWAY_SETTINGS):
        first = get_client()
        assert first is get_client()
        assert first.base_url == "https://gateway-test.jcc.com.cy/payment/"
        assert first.username == "shop-api"
        assert first.timeouts == (5.0, 12.0)
        assert first.status_retries == 4
        assert first.session.headers["User-Agent"] == transport.USER_AGENT
    with override_settings(CHECKOUT={**GATEWAY_SETTINGS, "USERNAME": "other-api"}):
        second = get_client()
        assert second is not first and second.username == "other-api"


def test_get_client_follows_the_sandbox_in_tests(settings):
    client = get_client()
    assert client.base_url == "http://testserver/sandbox/payment/"


def test_get_client_without_credentials_is_improperly_configured():
    with (
        override_settings(DEBUG=False, CHECKOUT={"SANDBOX_ALLOWED": False}),
        pytest.raises(ImproperlyConfigured, match="GATEWAY_URL"),
    ):
        get_client()


def error_report_of_a_payment(client: GatewayClient) -> str:
    """Django's error report (text and HTML) for a failed payment call."""
    from django.views.debug import ExceptionReporter

    try:
        pay(client)
    except Exception:
        reporter = ExceptionReporter(None, *sys.exc_info())
        # The raw values too: the HTML wraps long values, which could split a number.
        shown = [
            repr(value) for frame in reporter.get_traceback_frames() for _, value in frame["vars"]
        ]
        return reporter.get_traceback_html() + "\n".join(shown)
    pytest.fail("no exception")


@pytest.mark.parametrize("answer", [drop, lambda: reply({"errorCode": 5, "error": "Denied"})])
def test_error_reports_do_not_show_card_data(gw, client, answer):
    gw.on("rest/instantPayment.do", answer())
    text = error_report_of_a_payment(client)
    assert "instant_payment" in text
    assert PAN not in text and PASSWORD not in text
    assert not cvc_shown(text)


def test_status_query_retries_overload_answers(gw, client, records):
    gw.on(
        "rest/getOrderStatusExtended.do",
        reply("", status=429),
        reply("", status=503),
        example("getOrderStatusExtended-deposited.json"),
    )
    assert client.order_status(order_id=ORDER_ID).order_number == "7005"
    assert [r.http_status for r in records] == [429, 503, 200]


def test_client_repr_hides_the_password(client):
    assert PASSWORD not in repr(client) and "merchant-api" in repr(client)
