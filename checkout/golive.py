"""The going-live self-check behind ``manage.py checkout_golive``.

``run_checks()`` compares the shop's settings with what a production shop needs and, unless
told not to, asks the configured gateway two harmless questions: the status of an order
number that cannot exist (the answer tells whether the credentials are accepted) and the
seToken keys of ``se/keys.do``. Nothing is registered or paid, no money moves, and the
database is not touched: the calls go through a client of their own, outside the exchange
log.

Each ``Finding`` says in plain words what was found and what to do about it. The messages
are translatable.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from cryptography import x509
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from checkout import checks
from checkout.conf import GatewayDefaults, checkout_settings
from checkout.exceptions import GatewayError, GatewayRefused, GatewayUnavailable
from checkout.gateway import GatewayClient, SeTokenKey
from checkout.keys import load_rsa_public_key, normalize_pem
from checkout.setoken import choose_key
from checkout.status import UNKNOWN_ORDER

__all__ = [
    "ACCESS_DENIED_CODES",
    "CARD_DATA_FILTER",
    "CARD_DATA_FILTER_PREFIX",
    "EXPIRY_WARNING_DAYS",
    "PROBE_PREFIX",
    "Finding",
    "Level",
    "probe_order_number",
    "run_checks",
]

#: Marks the order number of the credentials probe in the gateway's logs.
PROBE_PREFIX = "GOLIVE-CHECK-"
#: errorCodes of a refused login: 4 (user name or password empty), 5 (access denied).
ACCESS_DENIED_CODES = frozenset({4, 5})
#: A key that expires within this many days is warned about.
EXPIRY_WARNING_DAYS = 30
#: The exception reporter filter that keeps card data out of error reports.
CARD_DATA_FILTER = "checkout.reporting.CardDataExceptionReporterFilter"
#: Any filter under this module path counts as the app's.
CARD_DATA_FILTER_PREFIX = "checkout.reporting."

_JCC_TEST_HOST = "gateway-test.jcc.com.cy"
_JCC_PRODUCTION_URL = "https://gateway.jcc.com.cy/payment/"
_SANDBOX_APP = "checkout.sandbox"
_UNUSABLE_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend": "console",
    "django.core.mail.backends.locmem.EmailBackend": "locmem",
    "django.core.mail.backends.dummy.EmailBackend": "dummy",
    "django.core.mail.backends.filebased.EmailBackend": "filebased",
}


class Level(StrEnum):
    """How serious a finding is: only problems make the command fail."""

    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Finding:
    """One result of the check: what was looked at, how it stands, what to do."""

    #: A stable identifier, e.g. "gateway.credentials" (for scripts and tests).
    check: str
    level: Level
    title: str
    explanation: str

    def as_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "level": str(self.level),
            "title": self.title,
            "explanation": self.explanation,
        }


def probe_order_number() -> str:
    """An order number no shop generates: the prefix and 12 random hex digits."""
    return PROBE_PREFIX + secrets.token_hex(6).upper()


def run_checks(
    *,
    gateway: bool = True,
    client: GatewayClient | None = None,
    now: datetime | None = None,
) -> list[Finding]:
    """Check the settings, and with ``gateway`` the configured gateway; nothing is paid.

    ``client`` replaces the client built from the settings (its calls are the same two
    read-only ones).
    """
    report = _Report(now or timezone.now())
    try:
        url = str(checkout_settings.GATEWAY_URL)
        username = str(checkout_settings.USERNAME)
        password = str(checkout_settings.PASSWORD)
        provider = checkout_settings.gateway_provider
    except ImproperlyConfigured as err:
        report.problem(
            "settings",
            _("The checkout settings cannot be read"),
            _("%(error)s Fix settings.CHECKOUT and run the check again.") % {"error": err},
        )
        return report.findings
    _check_debug(report)
    configured = _check_gateway_settings(report, url, username, password, provider)
    _check_site_url(report)
    _check_callback_key(report)
    own_client = None
    if gateway and configured and client is None:
        timeouts = checkout_settings.TIMEOUTS
        client = own_client = GatewayClient(
            url,
            username,
            password,
            timeouts=(timeouts["connect"], timeouts["read"]),
            status_retries=0,
        )
    reachable = False
    try:
        if gateway and configured and client is not None:
            reachable = _check_credentials(report, client)
            accepted = reachable and all(
                finding.level != Level.PROBLEM
                for finding in report.findings
                if finding.check == "gateway.credentials"
            )
            if accepted and checkout_settings.SAVED_CARDS["enabled"]:
                _check_stored_credentials(report, client)
        _check_setoken_key(report, client if reachable else None)
    finally:
        if own_client is not None:
            own_client.close()
    for check in _LOCAL_CHECKS:
        check(report)
    return report.findings


# --- the findings -------------------------------------------------------------------------


class _Report:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.findings: list[Finding] = []

    def add(self, level: Level, check: str, title: str, explanation: str) -> None:
        self.findings.append(Finding(check, level, title, explanation))

    def ok(self, check: str, title: str, explanation: str = "") -> None:
        self.add(Level.OK, check, title, explanation)

    def warning(self, check: str, title: str, explanation: str) -> None:
        self.add(Level.WARNING, check, title, explanation)

    def problem(self, check: str, title: str, explanation: str) -> None:
        self.add(Level.PROBLEM, check, title, explanation)


def _https(url: str) -> bool:
    return urlsplit(url).scheme == "https"


def _date(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d")


# --- gateway and callbacks ----------------------------------------------------------------


def _check_debug(report: _Report) -> None:
    if settings.DEBUG:
        report.problem(
            "debug",
            _("DEBUG is on"),
            _(
                "With DEBUG on, Django shows error pages full of settings and request data "
                "to anyone. Set DEBUG = False in production."
            ),
        )
    else:
        report.ok("debug", _("DEBUG is off"))


def _check_gateway_settings(
    report: _Report, url: str, username: str, password: str, provider: GatewayDefaults | None
) -> bool:
    """The gateway's URL and credentials; True when a gateway call can be tried."""
    missing = [
        name
        for name, value in (("GATEWAY_URL", url), ("USERNAME", username), ("PASSWORD", password))
        if not value
    ]
    if missing:
        report.problem(
            "gateway.configured",
            _("The gateway is not configured"),
            _(
                "CHECKOUT[%(names)s] is empty: no payment can be taken. Set GATEWAY_URL to "
                "%(url)s and USERNAME and PASSWORD to the API user and password JCC issued."
            )
            % {"names": "], [".join(repr(name) for name in missing), "url": _JCC_PRODUCTION_URL},
        )
        return False
    local = provider is not None and provider.local
    if provider is not None and local:
        name = provider.name or _("a development gateway")
        report.problem(
            "gateway.development",
            _("Payments go to a development gateway"),
            _(
                "CHECKOUT['GATEWAY_URL'] is empty, so %(name)s at %(url)s stands in for JCC: "
                "it fakes a bank and no real money moves. Set CHECKOUT['GATEWAY_URL'] to "
                "%(jcc)s, with JCC's credentials."
            )
            % {"name": name, "url": url, "jcc": _JCC_PRODUCTION_URL},
        )
    if local:
        pass  # plain http is expected of a local gateway; the finding above says it all
    elif not _https(url):
        report.problem(
            "gateway.https",
            _("The gateway URL is not https"),
            _(
                "%(url)s would send card data and the API password unencrypted. JCC's "
                "gateway is %(jcc)s."
            )
            % {"url": url, "jcc": _JCC_PRODUCTION_URL},
        )
    else:
        report.ok("gateway.https", _("The gateway URL is https: %(url)s") % {"url": url})
    if urlsplit(url).hostname == _JCC_TEST_HOST:
        report.warning(
            "gateway.test-host",
            _("This is JCC's test gateway"),
            _(
                "%(url)s takes test cards only and moves no money. Fine for a rehearsal; "
                "for production set GATEWAY_URL to %(jcc)s with the production credentials."
            )
            % {"url": url, "jcc": _JCC_PRODUCTION_URL},
        )
    return True


def _check_credentials(report: _Report, client: GatewayClient) -> bool:
    """Ask for an order that cannot exist; True when the gateway answered."""
    number = probe_order_number()
    url = client.rest_url("getOrderStatusExtended.do")
    try:
        client.order_status(order_number=number)
    except GatewayRefused as err:
        if err.code == UNKNOWN_ORDER:
            report.ok(
                "gateway.credentials",
                _("The gateway accepts the credentials"),
                _(
                    "Asked %(url)s for the made-up order %(number)s as user %(user)s; it "
                    'answered "order not found" (errorCode %(code)s), so it accepted the '
                    "user name and password. Nothing was registered or paid."
                )
                % {"url": url, "number": number, "user": client.username, "code": err.code},
            )
        elif err.code in ACCESS_DENIED_CODES:
            hint = ""
            if not client.username.endswith("-api"):
                hint = " " + _('JCC\'s API user names end in "-api".')
            report.problem(
                "gateway.credentials",
                _("The gateway refuses the credentials"),
                _(
                    "%(url)s answered errorCode %(code)s (%(message)s) for user %(user)s. "
                    "Check CHECKOUT['USERNAME'] and ['PASSWORD']: they must be the API user "
                    "and password JCC issued for this gateway (test and production "
                    "credentials differ)."
                )
                % {
                    "url": url,
                    "code": err.code,
                    "message": err.gateway_message or "-",
                    "user": client.username,
                }
                + hint,
            )
        else:
            report.warning(
                "gateway.credentials",
                _("The gateway gave an unexpected answer"),
                _(
                    "Asked for the made-up order %(number)s, %(url)s answered errorCode "
                    '%(code)s (%(message)s) instead of "order not found", so the '
                    "credentials could not be confirmed. Ask JCC what the code means for "
                    "your merchant account."
                )
                % {
                    "url": url,
                    "number": number,
                    "code": err.code,
                    "message": err.gateway_message or "-",
                },
            )
        return True
    except GatewayUnavailable as err:
        report.problem(
            "gateway.credentials",
            _("The gateway cannot be reached"),
            _(
                "The status query to %(url)s failed: %(error)s. Check CHECKOUT['GATEWAY_URL'] "
                "(the base ending in /payment/, e.g. %(jcc)s), that this server may connect "
                "out to it on port 443 (firewall, outgoing proxy) and that its certificate "
                "is trusted here."
            )
            % {"url": url, "error": err, "jcc": _JCC_PRODUCTION_URL},
        )
        return False
    report.warning(
        "gateway.credentials",
        _("The gateway knows the made-up order"),
        _(
            "%(url)s answered a status query for %(number)s, an order number no shop should "
            "use, as if the order existed. The credentials are accepted, but ask JCC why."
        )
        % {"url": url, "number": number},
    )
    return True


def _check_stored_credentials(report: _Report, client: GatewayClient) -> None:
    """Saved cards are on: ask getBindings.do for a made-up client (read-only)."""
    client_id = "golive-" + secrets.token_hex(8)
    url = client.rest_url("getBindings.do")
    try:
        client.get_bindings(client_id)
    except GatewayRefused as err:
        report.problem(
            "gateway.stored_credentials",
            _("The gateway refuses stored credentials"),
            _(
                "SAVED_CARDS is on, but %(url)s answered errorCode %(code)s (%(message)s) "
                "for a made-up client. Ask JCC to enable stored credentials (bindings) and "
                "merchant-initiated payments for this merchant, or turn SAVED_CARDS off."
            )
            % {"url": url, "code": err.code, "message": err.gateway_message or "-"},
        )
        return
    except GatewayUnavailable as err:
        report.warning(
            "gateway.stored_credentials",
            _("Stored credentials could not be checked"),
            _("The card list query to %(url)s failed: %(error)s.") % {"url": url, "error": err},
        )
        return
    report.ok(
        "gateway.stored_credentials",
        _("The gateway answers for stored credentials"),
        _(
            "Asked %(url)s for the cards of a made-up client; it answered without refusing "
            "the method, so saved cards can be listed and removed. Nothing was stored."
        )
        % {"url": url},
    )


def _check_site_url(report: _Report) -> None:
    site = str(checkout_settings.SITE_URL)
    if not site:
        report.problem(
            "site-url",
            _("SITE_URL is not set"),
            _(
                "CHECKOUT['SITE_URL'] is the shop's own origin (https://shop.example). "
                "Without it no callback URL can be given to JCC and background jobs cannot "
                "build links."
            ),
        )
        return
    if not _https(site):
        report.problem(
            "site-url",
            _("SITE_URL is not https"),
            _(
                "CHECKOUT['SITE_URL'] is %(site)s. JCC calls only https callback URLs, and "
                "shoppers enter card data on these pages: serve the shop over https and set "
                "SITE_URL to its https origin."
            )
            % {"site": site},
        )
        return
    report.ok("site-url", _("SITE_URL is https: %(site)s") % {"site": site})
    try:
        path = reverse("jcc_checkout:callback")
    except NoReverseMatch:
        report.problem(
            "callback.url",
            _("The checkout's URLs are not in the URLconf"),
            _(
                "reverse('jcc_checkout:callback') fails: add path(\"checkout/\", "
                'include("checkout.urls")) to the project\'s urlpatterns.'
            ),
        )
        return
    report.ok(
        "callback.url",
        _("Callback URL to register with JCC: %(url)s") % {"url": site + path},
        _(
            "Give JCC this URL as the static callback URL, and make sure it is reachable "
            "from the internet on port 443 with a certificate from a trusted authority."
        ),
    )


def _check_callback_key(report: _Report) -> None:
    secrets_ = list(checkout_settings.CALLBACK_SECRETS)
    public_key = str(checkout_settings.CALLBACK_PUBLIC_KEY or "")
    if public_key:
        try:
            load_rsa_public_key(public_key)
        except ValueError as err:
            report.problem(
                "callback.key",
                _("CALLBACK_PUBLIC_KEY cannot be used"),
                _(
                    "%(error)s Set CHECKOUT['CALLBACK_PUBLIC_KEY'] to the PEM certificate or "
                    "public key JCC gave you for callback checksums."
                )
                % {"error": err},
            )
            return
    if not secrets_ and not public_key:
        report.problem(
            "callback.key",
            _("No callback key is configured"),
            _(
                "Every callback notification from JCC would be refused (answered 503), so "
                "payments are settled only by checkout_sync. Set CHECKOUT['CALLBACK_SECRETS'] "
                "to the symmetric key JCC gave you, or CHECKOUT['CALLBACK_PUBLIC_KEY'] to "
                "its certificate for asymmetric checksums."
            ),
        )
        return
    kinds = []
    if secrets_:
        kinds.append(
            ngettext("%(count)d shared secret", "%(count)d shared secrets", len(secrets_))
            % {"count": len(secrets_)}
        )
    if public_key:
        kinds.append(_("an RSA public key"))
    report.ok(
        "callback.key",
        _("A callback key is configured: %(kinds)s") % {"kinds": ", ".join(kinds)},
    )


# --- the seToken key ------------------------------------------------------------------------


def _expiry(
    report: _Report, check: str, what: str, expires: datetime | None, advice: str, info: str = ""
) -> None:
    """A finding about a key's expiry; ``info`` says where it comes from."""
    if expires is None:
        report.ok(check, _("%(what)s: no expiry date is known") % {"what": what}, info)
    elif expires <= report.now:
        report.problem(
            check,
            _("%(what)s expired on %(date)s") % {"what": what, "date": _date(expires)},
            " ".join(filter(None, [info, advice])),
        )
    elif expires - report.now <= timedelta(days=EXPIRY_WARNING_DAYS):
        soon = _("That is within %(days)d days.") % {"days": EXPIRY_WARNING_DAYS}
        report.warning(
            check,
            _("%(what)s expires on %(date)s") % {"what": what, "date": _date(expires)},
            " ".join(filter(None, [info, soon, advice])),
        )
    else:
        report.ok(
            check,
            _("%(what)s is valid until %(date)s") % {"what": what, "date": _date(expires)},
            info,
        )


def _check_setoken_key(report: _Report, client: GatewayClient | None) -> None:
    """The configured seToken key, else the one the gateway publishes (``client``)."""
    configured = str(checkout_settings.SETOKEN_PUBLIC_KEY or "")
    published: list[SeTokenKey] | None = None
    fetch_error: GatewayError | None = None
    keys_url = f"{client.base_url}se/keys.do" if client is not None else ""
    if client is not None:
        try:
            published = client.setoken_keys()
        except GatewayError as err:
            fetch_error = err
    if configured:
        _check_configured_setoken_key(report, configured, published, keys_url)
        return
    if client is None:
        return  # not asked to (or could not) reach the gateway
    no_key = _(
        "Without a seToken key the card page posts the card number to the shop's server, "
        "which passes it on to the gateway: card data then passes through the shop."
    )
    if fetch_error is not None:
        report.warning(
            "setoken.key",
            _("The seToken key could not be fetched"),
            _("%(url)s failed: %(error)s.") % {"url": keys_url, "error": fetch_error}
            + " "
            + no_key,
        )
        return
    best = choose_key(published or [], now=report.now)
    if best is None:
        report.warning(
            "setoken.key",
            _("The gateway publishes no usable seToken key"),
            _("%(url)s lists no unexpired RSA key.") % {"url": keys_url}
            + " "
            + no_key
            + " "
            + _("Ask JCC to enable seToken for your merchant account."),
        )
        return
    _expiry(
        report,
        "setoken.key",
        _("The gateway's seToken key"),
        best.expires_at,
        _(
            "The shop fetches a new key by itself once the gateway publishes one; make sure "
            "JCC does so before this one expires."
        ),
        _("Published at %(url)s.") % {"url": keys_url},
    )


def _check_configured_setoken_key(
    report: _Report, configured: str, published: list[SeTokenKey] | None, keys_url: str
) -> None:
    try:
        key = load_rsa_public_key(configured)
    except ValueError as err:
        report.problem(
            "setoken.key",
            _("SETOKEN_PUBLIC_KEY cannot be used"),
            _(
                "%(error)s Remove CHECKOUT['SETOKEN_PUBLIC_KEY'] to use the key the gateway "
                "publishes, or set it to that PEM key."
            )
            % {"error": err},
        )
        return
    expires = None
    pem = normalize_pem(configured)
    if pem.startswith("-----BEGIN CERTIFICATE-----"):
        expires = x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc
    _expiry(
        report,
        "setoken.key",
        _("The configured SETOKEN_PUBLIC_KEY"),
        expires,
        _(
            "Replace CHECKOUT['SETOKEN_PUBLIC_KEY'] with JCC's new key, or remove it to use "
            "the key the gateway publishes."
        ),
    )
    if published is None:
        return
    numbers = key.public_numbers()
    for listed in published:
        try:
            if load_rsa_public_key(listed.key_value).public_numbers() == numbers:
                return
        except ValueError:
            continue
    report.warning(
        "setoken.published",
        _("SETOKEN_PUBLIC_KEY is not the key the gateway publishes"),
        _(
            "%(url)s does not list the configured key: the gateway may not be able to "
            "decrypt card data encrypted with it. Remove CHECKOUT['SETOKEN_PUBLIC_KEY'] to "
            "use the published key."
        )
        % {"url": keys_url},
    )


# --- the rest of the production settings -------------------------------------------------


def _check_sandbox(report: _Report) -> None:
    if apps.is_installed(_SANDBOX_APP) and checkout_settings.SANDBOX_ALLOWED:
        report.warning(
            "sandbox",
            _("The sandbox gateway is installed and allowed"),
            _(
                "CHECKOUT['SANDBOX_ALLOWED'] lets the bundled sandbox, a fake bank, run with "
                "DEBUG off. Remove checkout.sandbox from INSTALLED_APPS and its URLs from "
                "the URLconf in production (or at least set SANDBOX_ALLOWED = False)."
            ),
        )


def _check_cookies(report: _Report) -> None:
    reasons = {
        "SESSION_COOKIE_SECURE": (
            _("session"),
            _("The session cookie holds the shopper's access to their order."),
        ),
        "CSRF_COOKIE_SECURE": (
            _("CSRF"),
            _("The CSRF cookie protects the card form against forged submissions."),
        ),
    }
    for name, (cookie, reason) in reasons.items():
        check = "cookies." + name.split("_", 1)[0].lower()
        if getattr(settings, name, False):
            report.ok(check, _("%(name)s is on") % {"name": name})
        else:
            report.problem(
                check,
                _("The %(cookie)s cookie may be sent over plain http") % {"cookie": cookie},
                reason
                + " "
                + _("Set %(name)s = True so that browsers send it over https only.")
                % {"name": name},
            )


def _check_https_settings(report: _Report) -> None:
    hsts = int(getattr(settings, "SECURE_HSTS_SECONDS", 0) or 0)
    if hsts > 0:
        report.ok("hsts", _("HSTS is on (%(seconds)d seconds)") % {"seconds": hsts})
    else:
        report.warning(
            "hsts",
            _("HSTS is off"),
            _(
                "Without Strict-Transport-Security a browser may still try http first, where "
                "a network attacker can intercept it. Once the whole site is sure to stay "
                "on https, set SECURE_HSTS_SECONDS (e.g. 31536000; start with 3600)."
            ),
        )
    if getattr(settings, "SECURE_SSL_REDIRECT", False):
        report.ok("ssl-redirect", _("http requests are redirected to https"))
    else:
        report.warning(
            "ssl-redirect",
            _("SECURE_SSL_REDIRECT is off"),
            _(
                "Fine if your proxy or web server redirects http to https itself; otherwise "
                "set SECURE_SSL_REDIRECT = True."
            ),
        )


def _check_cache(report: _Report) -> None:
    backend = checks.per_process_cache()
    if not backend:
        report.ok("cache", _("The default cache is shared between processes"))
        return
    report.warning(
        "cache",
        _("The cache is per process"),
        _(
            "CACHES['default'] is %(backend)s. The payment attempt limits, the seToken key "
            "and checkout_sync's de-duplication live there: with several server processes "
            "or hosts each counts on its own, and the card-testing limits let that many "
            "times more attempts through. Fine for a single process; otherwise use a "
            "shared cache such as Redis (django.core.cache.backends.redis.RedisCache)."
        )
        % {"backend": backend},
    )


def _check_middleware(report: _Report) -> None:
    if checks.charset_middleware_in_place():
        report.ok("middleware.charset", _("FormCharsetMiddleware runs before the CSRF check"))
    else:
        report.problem(
            "middleware.charset",
            _("FormCharsetMiddleware is missing or after CsrfViewMiddleware"),
            _(
                "A form body in another charset than UTF-8 then makes Django answer with a "
                "server error. Add %(charset)s to MIDDLEWARE before %(csrf)s."
            )
            % {"charset": checks.CHARSET_MIDDLEWARE, "csrf": checks.CSRF_MIDDLEWARE},
        )
    if checks.security_headers_installed():
        report.ok("middleware.security-headers", _("SecurityHeadersMiddleware is installed"))
    else:
        report.problem(
            "middleware.security-headers",
            _("SecurityHeadersMiddleware is not installed"),
            _(
                "The card page then has no Content-Security-Policy keeping foreign scripts "
                "away from the card fields, and may be cached. Add %(name)s to MIDDLEWARE "
                "after SecurityMiddleware."
            )
            % {"name": checks.SECURITY_HEADERS_MIDDLEWARE},
        )


def _check_reports(report: _Report) -> None:
    if getattr(settings, "ADMINS", None):
        report.ok("reports.admins", _("ADMINS is set"))
    else:
        report.warning(
            "reports.admins",
            _("ADMINS is empty"),
            _(
                "checkout_sync mails what needs a person (payments it could not settle, old "
                "holds) to ADMINS, and Django mails server errors there. Add the address of "
                "whoever looks after payments."
            ),
        )
    backend = str(getattr(settings, "EMAIL_BACKEND", ""))
    kind = _UNUSABLE_EMAIL_BACKENDS.get(backend)
    if kind is None:
        report.ok("reports.email", _("E-mail is sent with %(backend)s") % {"backend": backend})
    else:
        report.warning(
            "reports.email",
            _("E-mail does not leave the server"),
            _(
                "EMAIL_BACKEND is the %(kind)s backend (%(backend)s): the reports of "
                "checkout_sync and of server errors reach nobody. Use an SMTP backend or "
                "your mail provider's."
            )
            % {"kind": kind, "backend": backend},
        )


def _check_client_ip_header(report: _Report) -> None:
    header = str(checkout_settings.CLIENT_IP_HEADER or "")
    behind_proxy = bool(getattr(settings, "SECURE_PROXY_SSL_HEADER", None))
    if header:
        report.ok(
            "client-ip-header",
            _("The shopper's address is read from %(header)s") % {"header": header},
            _("Right only if every request passes through the proxy that sets it."),
        )
    elif behind_proxy:
        report.warning(
            "client-ip-header",
            _("Behind a proxy, but CLIENT_IP_HEADER is empty"),
            _(
                "SECURE_PROXY_SSL_HEADER says a proxy stands in front of the shop, so every "
                "shopper has the proxy's address: they all share one attempt limit, and the "
                "gateway is told the proxy's address. Set CHECKOUT['CLIENT_IP_HEADER'] to "
                'the header the proxy sets, e.g. "X-Forwarded-For" or "X-Real-IP".'
            ),
        )
    else:
        report.ok("client-ip-header", _("The shopper's address is the connection's"))


def _check_reporter_filter(report: _Report) -> None:
    name = str(getattr(settings, "DEFAULT_EXCEPTION_REPORTER_FILTER", "") or "")
    if name.startswith(CARD_DATA_FILTER_PREFIX):
        report.ok("error-reports.filter", _("Error reports use %(name)s") % {"name": name})
        return
    report.warning(
        "error-reports.filter",
        _("Error reports do not use the app's card-data filter"),
        _(
            "DEFAULT_EXCEPTION_REPORTER_FILTER is %(name)s, not the app's card-data filter: "
            "an error report could show card data. Set it to %(filter)s."
        )
        % {"name": name or "-", "filter": CARD_DATA_FILTER},
    )


_LOCAL_CHECKS: tuple[Callable[[_Report], None], ...] = (
    _check_sandbox,
    _check_cookies,
    _check_https_settings,
    _check_cache,
    _check_middleware,
    _check_reports,
    _check_client_ip_header,
    _check_reporter_filter,
)
