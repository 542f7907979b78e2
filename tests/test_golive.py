"""checkout_golive: the going-live self-check, against the sandbox gateway over real HTTP(S)."""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.core.management import CommandError, call_command
from django.core.servers.basehttp import WSGIServer
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler

from checkout import checks, golive
from checkout.cards import CardData
from checkout.gateway import GatewayClient
from checkout.golive import Finding, Level, run_checks
from checkout.models import Exchange, Payment
from checkout.sandbox import crypto, defaults
from checkout.sandbox.models import Merchant, Operation
from checkout.sandbox.models import Order as SandboxOrder
from checkout.sandbox.server import SandboxWSGIHandler
from tests.gateway_server import closed_port, reply, running_gateway

pytestmark = pytest.mark.django_db(transaction=True)

CALLBACK_SECRET = "shop-callback-secret"
SITE = "https://shop.example"


# --- helpers --------------------------------------------------------------------------------


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.check: finding for finding in findings}


def levels(findings: list[Finding], level: Level) -> set[str]:
    return {finding.check for finding in findings if finding.level == level}


def golive_command(*args: str) -> tuple[str, CommandError | None]:
    """Run the command: its output with the explanations' line breaks undone, and the
    CommandError it ended with (None: exit status 0)."""
    out = io.StringIO()
    error = None
    try:
        call_command("checkout_golive", *args, stdout=out)
    except CommandError as err:
        error = err
    text = out.getvalue()
    return (text if "--json" in args else " ".join(text.split())), error


def _certificate(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a self-signed certificate for 127.0.0.1, and its file."""
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
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


def rsa_certificate_pem(days: int) -> str:
    """A self-signed RSA certificate (as JCC hands out keys) valid for ``days`` more days."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway key")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class _HttpsHandler(QuietWSGIRequestHandler):
    def get_environ(self) -> dict[str, str]:
        # What a TLS-terminating server tells the application.
        return {**super().get_environ(), "HTTPS": "on"}


class _HttpsSandboxThread(LiveServerThread):
    """The sandbox where the real gateway has it (/payment/), served over TLS."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__("127.0.0.1", lambda app: SandboxWSGIHandler())
        self.context = context

    def _create_server(self, connections_override=None) -> WSGIServer:
        server = self.server_class(
            (self.host, self.port),
            _HttpsHandler,
            allow_reuse_address=False,
            connections_override=connections_override,
        )
        server.socket = self.context.wrap_socket(server.socket, server_side=True)
        return server


@pytest.fixture
def https_sandbox(tmp_path, monkeypatch) -> Iterator[str]:
    """The sandbox gateway over real HTTPS; the client trusts exactly its certificate."""
    context, cert_path = _certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_path))
    thread = _HttpsSandboxThread(context)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    try:
        yield f"https://127.0.0.1:{thread.port}/payment/"
    finally:
        thread.terminate()


@pytest.fixture
def production(settings, tmp_path):
    """Settings a production shop would have; the gateway is set by each test."""
    settings.DEBUG = False
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_SSL_REDIRECT = True
    settings.ADMINS = [("Payments", "payments@shop.example")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = golive.CARD_DATA_FILTER
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    }
    settings.CHECKOUT = {
        **settings.CHECKOUT,
        "GATEWAY_URL": "https://127.0.0.1:9/payment/",
        "USERNAME": defaults.MERCHANT_LOGIN,
        "PASSWORD": defaults.MERCHANT_PASSWORD,
        "CALLBACK_SECRETS": [CALLBACK_SECRET],
        "SITE_URL": SITE,
        "SANDBOX_ALLOWED": False,
    }
    return settings


def configure(settings, **checkout) -> None:
    settings.CHECKOUT = {**settings.CHECKOUT, **checkout}


def money_records() -> tuple[int, int, int, int]:
    """What a payment would leave behind: sandbox orders and operations, shop payments
    and gateway exchanges."""
    return (
        SandboxOrder.objects.count(),
        Operation.objects.count(),
        Payment.objects.count(),
        Exchange.objects.count(),
    )


def pay_once(base_url: str) -> None:
    """One real payment at the sandbox, so that its order table is not empty."""
    client = GatewayClient(base_url, defaults.MERCHANT_LOGIN, defaults.MERCHANT_PASSWORD)
    client.instant_payment(
        order_number="SEEDED-1",
        amount=100,
        currency="EUR",
        back_url=SITE + "/checkout/return/",
        card=CardData(pan="4111111111111111", cvc="123", expiry="203012"),
    )


# --- against the sandbox gateway ----------------------------------------------------------


def test_a_clean_production_config_passes_and_moves_no_money(production, https_sandbox):
    # The sandbox must be allowed to serve with DEBUG off, which is all the check warns of.
    configure(production, GATEWAY_URL=https_sandbox, SANDBOX_ALLOWED=True)
    pay_once(https_sandbox)
    before = money_records()
    assert before[0] == 1

    output, error = golive_command()

    assert error is None, output
    assert money_records() == before
    assert "The gateway accepts the credentials" in output
    assert "GOLIVE-CHECK-" in output
    assert f"Callback URL to register with JCC: {SITE}/checkout/callback/" in output
    assert "0 problems, 1 warning" in output
    findings = run_checks()
    assert levels(findings, Level.PROBLEM) == set()
    assert levels(findings, Level.WARNING) == {"sandbox"}
    found = by_check(findings)
    assert found["gateway.credentials"].level == Level.OK
    assert found["setoken.key"].level == Level.OK
    assert "is valid until" in found["setoken.key"].title
    # Saved cards are on in these settings: getBindings.do answered for a made-up client.
    assert found["gateway.stored_credentials"].level == Level.OK
    assert money_records() == before


def test_right_credentials_over_plain_http_are_accepted_but_http_is_a_problem(
    live_server, settings
):
    base = live_server.url + "/sandbox/payment/"
    pay_once(base)
    before = money_records()
    configure(
        settings,
        GATEWAY_URL=base,
        USERNAME=defaults.MERCHANT_LOGIN,
        PASSWORD=defaults.MERCHANT_PASSWORD,
        SITE_URL=live_server.url,
    )
    findings = by_check(run_checks())
    assert findings["gateway.credentials"].level == Level.OK
    assert "errorCode 6" in findings["gateway.credentials"].explanation
    assert findings["gateway.https"].level == Level.PROBLEM
    assert base in findings["gateway.https"].explanation
    assert "gateway.development" not in findings  # an explicit URL, not the stand-in
    assert money_records() == before


def test_wrong_password_is_reported_as_refused_credentials(production, https_sandbox):
    configure(production, GATEWAY_URL=https_sandbox, SANDBOX_ALLOWED=True, PASSWORD="wrong")
    before = money_records()

    output, error = golive_command()

    assert error is not None and "1 problem found" in str(error)
    assert "The gateway refuses the credentials" in output
    assert "errorCode 5" in output and "Access denied" in output
    assert money_records() == before


def test_unknown_user_is_reported_as_refused_credentials(production, https_sandbox):
    configure(production, GATEWAY_URL=https_sandbox, SANDBOX_ALLOWED=True, USERNAME="shop")
    finding = by_check(run_checks())["gateway.credentials"]
    assert finding.level == Level.PROBLEM
    assert 'end in "-api"' in finding.explanation


def test_an_unreachable_gateway_is_named(production):
    url = f"https://127.0.0.1:{closed_port()}/payment/"
    configure(production, GATEWAY_URL=url)

    output, error = golive_command()

    assert error is not None
    finding = by_check(run_checks())["gateway.credentials"]
    assert finding.level == Level.PROBLEM
    assert finding.title == "The gateway cannot be reached"
    assert url + "rest/getOrderStatusExtended.do" in finding.explanation
    assert "could not connect" in finding.explanation
    assert "The gateway cannot be reached" in output
    # Nothing more is asked of a gateway that cannot be reached.
    assert "setoken.key" not in by_check(run_checks())


def test_a_gateway_answering_with_a_server_error_is_unreachable(production, https_sandbox):
    configure(production, GATEWAY_URL=https_sandbox, SANDBOX_ALLOWED=True)
    merchant = Merchant.objects.default()
    merchant.fault = "http500_before"
    merchant.save()
    finding = by_check(run_checks())["gateway.credentials"]
    assert finding.level == Level.PROBLEM
    assert "HTTP 500" in finding.explanation


def test_an_unexpected_error_code_is_a_warning(production):
    # The sandbox answers every unknown order with errorCode 6; a scripted server plays
    # a gateway in trouble.
    with running_gateway() as gateway:
        gateway.on(
            "rest/getOrderStatusExtended.do",
            reply({"errorCode": "7", "errorMessage": "System error"}),
        )
        gateway.on("se/keys.do", reply({"keys": []}), method="GET")
        configure(production, GATEWAY_URL=gateway.base_url)
        findings = by_check(run_checks())
        sent = gateway.requests_to("rest/getOrderStatusExtended.do")
    assert findings["gateway.credentials"].level == Level.WARNING
    assert "errorCode 7 (System error)" in findings["gateway.credentials"].explanation
    assert len(sent) == 1
    assert sent[0].form["orderNumber"].startswith(golive.PROBE_PREFIX)
    assert sent[0].form["userName"] == defaults.MERCHANT_LOGIN
    assert findings["setoken.key"].level == Level.WARNING
    assert "no unexpired RSA key" in findings["setoken.key"].explanation


def test_stored_credentials_refused_by_the_gateway_are_a_problem(production):
    with running_gateway() as gateway:
        gateway.on(
            "rest/getOrderStatusExtended.do",
            reply({"errorCode": "6", "errorMessage": "Order not found"}),
        )
        gateway.on(
            "rest/getBindings.do", reply({"errorCode": "5", "errorMessage": "Access denied"})
        )
        gateway.on("se/keys.do", reply({"keys": []}), method="GET")
        configure(production, GATEWAY_URL=gateway.base_url)
        findings = by_check(run_checks())
        asked = gateway.requests_to("rest/getBindings.do")
        configure(production, GATEWAY_URL=gateway.base_url, SAVED_CARDS={"enabled": False})
        without = by_check(run_checks())
    finding = findings["gateway.stored_credentials"]
    assert finding.level == Level.PROBLEM and "errorCode 5 (Access denied)" in finding.explanation
    assert len(asked) == 1 and asked[0].form["clientId"].startswith("golive-")
    assert "gateway.stored_credentials" not in without


def test_the_sandbox_standing_in_for_the_gateway_is_a_problem(sandbox_url):
    findings = by_check(run_checks())
    assert findings["gateway.development"].level == Level.PROBLEM
    assert "the bundled sandbox" in findings["gateway.development"].explanation
    assert sandbox_url in findings["gateway.development"].explanation
    # Its own plain http is not reported twice.
    assert "gateway.https" not in findings
    assert findings["gateway.credentials"].level == Level.OK


# --- the seToken key ------------------------------------------------------------------------


def test_a_published_key_expiring_soon_is_a_warning(production, https_sandbox):
    production.CHECKOUT_SANDBOX = {**production.CHECKOUT_SANDBOX, "KEY_LIFETIME_DAYS": 10}
    configure(production, GATEWAY_URL=https_sandbox, SANDBOX_ALLOWED=True)
    finding = by_check(run_checks())["setoken.key"]
    assert finding.level == Level.WARNING
    assert "expires on" in finding.title
    assert https_sandbox + "se/keys.do" in finding.explanation


def test_a_configured_certificate_expiring_soon_is_a_warning(production):
    configure(production, SETOKEN_PUBLIC_KEY=rsa_certificate_pem(days=5))
    finding = by_check(run_checks(gateway=False))["setoken.key"]
    assert finding.level == Level.WARNING
    assert "within 30 days" in finding.explanation
    configure(production, SETOKEN_PUBLIC_KEY=rsa_certificate_pem(days=200))
    assert by_check(run_checks(gateway=False))["setoken.key"].level == Level.OK


def test_a_configured_key_that_does_not_parse_is_a_problem(production):
    configure(production, SETOKEN_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\nnope\n")
    finding = by_check(run_checks(gateway=False))["setoken.key"]
    assert finding.level == Level.PROBLEM
    assert "SETOKEN_PUBLIC_KEY" in finding.title


def test_a_configured_key_is_compared_with_the_published_one(production, https_sandbox):
    configure(
        production,
        GATEWAY_URL=https_sandbox,
        SANDBOX_ALLOWED=True,
        SETOKEN_PUBLIC_KEY=rsa_certificate_pem(days=200),
    )
    findings = by_check(run_checks())
    assert findings["setoken.published"].level == Level.WARNING
    configure(production, SETOKEN_PUBLIC_KEY=crypto.current_key().public_pem)
    assert "setoken.published" not in by_check(run_checks())


# --- local checks ---------------------------------------------------------------------------


def test_skip_gateway_on_a_clean_config_is_all_ok_and_calls_nothing(production):
    # The gateway URL leads to a closed port: a call would be a problem.
    configure(production, GATEWAY_URL=f"https://127.0.0.1:{closed_port()}/payment/")

    output, error = golive_command("--skip-gateway")

    assert error is None, output
    assert "The gateway was not contacted (--skip-gateway)." in output
    assert "0 problems, 0 warnings" in output
    findings = run_checks(gateway=False)
    assert {f.level for f in findings} == {Level.OK}
    assert "gateway.credentials" not in by_check(findings)


def test_missing_callback_key(production):
    configure(production, CALLBACK_SECRETS=[])
    output, error = golive_command("--skip-gateway")
    assert error is not None
    assert "No callback key is configured" in output
    assert "CALLBACK_SECRETS" in output
    configure(production, CALLBACK_PUBLIC_KEY="not a key")
    assert by_check(run_checks(gateway=False))["callback.key"].title == (
        "CALLBACK_PUBLIC_KEY cannot be used"
    )
    configure(production, CALLBACK_PUBLIC_KEY=rsa_certificate_pem(days=100))
    assert by_check(run_checks(gateway=False))["callback.key"].level == Level.OK


def test_http_site_url_is_a_problem_and_gives_no_callback_url(production):
    configure(production, SITE_URL="http://shop.example")
    findings = by_check(run_checks(gateway=False))
    assert findings["site-url"].level == Level.PROBLEM
    assert "http://shop.example" in findings["site-url"].explanation
    assert "callback.url" not in findings
    configure(production, SITE_URL="")
    assert by_check(run_checks(gateway=False))["site-url"].title == "SITE_URL is not set"


def test_insecure_cookies_and_debug_are_problems(production):
    production.SESSION_COOKIE_SECURE = False
    production.CSRF_COOKIE_SECURE = False
    production.DEBUG = True

    output, error = golive_command("--skip-gateway")

    assert error is not None and "3 problems found" in str(error)
    assert "Set SESSION_COOKIE_SECURE = True" in output
    assert "Set CSRF_COOKIE_SECURE = True" in output
    assert "DEBUG is on" in output
    problems = levels(run_checks(gateway=False), Level.PROBLEM)
    assert problems == {"cookies.session", "cookies.csrf", "debug"}


def test_hsts_and_ssl_redirect_are_warnings(production):
    production.SECURE_HSTS_SECONDS = 0
    production.SECURE_SSL_REDIRECT = False
    output, error = golive_command("--skip-gateway")
    assert error is None
    assert "HSTS is off" in output and "redirects http to https itself" in output
    assert levels(run_checks(gateway=False), Level.WARNING) == {"hsts", "ssl-redirect"}


def test_a_per_process_cache_is_a_warning(production):
    production.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    finding = by_check(run_checks(gateway=False))["cache"]
    assert finding.level == Level.WARNING
    assert "LocMemCache" in finding.explanation


def test_middleware(production):
    left_out = (checks.CHARSET_MIDDLEWARE, checks.SECURITY_HEADERS_MIDDLEWARE)
    production.MIDDLEWARE = [m for m in production.MIDDLEWARE if m not in left_out]
    findings = by_check(run_checks(gateway=False))
    assert findings["middleware.charset"].level == Level.PROBLEM
    assert findings["middleware.security-headers"].level == Level.PROBLEM
    production.MIDDLEWARE = [
        "checkout.middleware.FormCharsetMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "checkout.middleware.SecurityHeadersMiddleware",
    ]
    findings = by_check(run_checks(gateway=False))
    assert findings["middleware.charset"].level == Level.OK
    assert findings["middleware.security-headers"].level == Level.OK


def test_reports_need_admins_and_a_real_mail_backend(production):
    production.ADMINS = []
    production.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    findings = by_check(run_checks(gateway=False))
    assert findings["reports.admins"].level == Level.WARNING
    assert findings["reports.email"].level == Level.WARNING
    assert "console backend" in findings["reports.email"].explanation
    production.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert by_check(run_checks(gateway=False))["reports.email"].level == Level.WARNING


def test_a_proxy_without_client_ip_header_is_a_warning(production):
    production.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    finding = by_check(run_checks(gateway=False))["client-ip-header"]
    assert finding.level == Level.WARNING
    assert "X-Forwarded-For" in finding.explanation
    configure(production, CLIENT_IP_HEADER="X-Real-IP")
    assert by_check(run_checks(gateway=False))["client-ip-header"].level == Level.OK


def test_the_default_exception_reporter_filter_is_a_warning(production):
    production.DEFAULT_EXCEPTION_REPORTER_FILTER = "django.views.debug.SafeExceptionReporterFilter"
    finding = by_check(run_checks(gateway=False))["error-reports.filter"]
    assert finding.level == Level.WARNING
    assert "not the app's card-data filter" in finding.explanation
    assert golive.CARD_DATA_FILTER in finding.explanation


def test_the_sandbox_allowed_in_production_is_a_warning(production):
    configure(production, SANDBOX_ALLOWED=True)
    assert by_check(run_checks(gateway=False))["sandbox"].level == Level.WARNING


def test_jccs_test_host_is_a_warning(production):
    configure(production, GATEWAY_URL="https://gateway-test.jcc.com.cy/payment/")
    assert by_check(run_checks(gateway=False))["gateway.test-host"].level == Level.WARNING


def test_missing_credentials_skip_the_gateway_call(production):
    configure(production, PASSWORD="")
    findings = by_check(run_checks())
    assert findings["gateway.configured"].level == Level.PROBLEM
    assert "'PASSWORD'" in findings["gateway.configured"].explanation
    assert "gateway.credentials" not in findings


def test_unreadable_settings_are_one_problem(production):
    configure(production, NOT_A_SETTING=1)
    output, error = golive_command()
    assert error is not None
    assert "The checkout settings cannot be read" in output
    assert "NOT_A_SETTING" in output


def test_json_output(production):
    production.SESSION_COOKIE_SECURE = False
    output, error = golive_command("--skip-gateway", "--json")
    assert error is not None
    data = json.loads(output)
    assert data["gateway_checked"] is False
    assert data["problems"] == 1
    session = next(f for f in data["findings"] if f["check"] == "cookies.session")
    assert session["level"] == "problem"
    assert "SESSION_COOKIE_SECURE" in session["explanation"]


def test_verbosity_zero_shows_only_what_needs_attention(production):
    production.SECURE_HSTS_SECONDS = 0
    out = io.StringIO()
    call_command("checkout_golive", "--skip-gateway", verbosity=0, stdout=out)
    assert "HSTS is off" in out.getvalue()
    assert "DEBUG is off" not in out.getvalue()
