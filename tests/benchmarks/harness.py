"""What the benchmarks share: throwaway databases, the project and its baselines served by
gunicorn, shoppers and callbacks over real HTTP, interleaved timing and plain-text tables.

Every figure is relative. Each benchmark measures its baseline in the same run, round by
round alongside what it compares (the order rotating from round to round), so the
machine's speed and load mostly cancel out of the ratios. Nothing here asserts a
duration: a benchmark reports, it does not pass or fail on speed. It does stop when an
operation ends in the wrong state, since a fast wrong answer is no figure at all.

Processes, all on 127.0.0.1 and all started and stopped by the harness:

* the sandbox gateway: ``gunicorn checkout.sandbox.wsgi`` (2 workers x 16 threads, so that
  requests held by the simulated network never wait for a thread), with its own database,
  callbacks off, its access log counting what it was asked;
* the shop: ``gunicorn merchant_site.wsgi -w 2 -k gthread --threads 4``, DEBUG off, pointed
  at that sandbox as at JCC;
* the naive integration and the trivial 200 view (``tests/benchmarks/naive_app.py``),
  served with the same gunicorn settings against the same sandbox.
"""

from __future__ import annotations

import argparse
import html
import http.client
import itertools
import math
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BACKENDS = ("sqlite", "postgres")
_POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}

# The sandbox's built-in merchant (checkout.sandbox.defaults).
MERCHANT_LOGIN = "sandbox-api"
MERCHANT_PASSWORD = "sandbox-password"
CALLBACK_SECRET = "sandbox-callback-secret"

APPROVES = "4444555511113333"  # sandbox test card: approved without 3-D Secure
FRICTIONLESS = "4111111111111111"  # sandbox test card: 3-D Secure without a challenge
HOLDER = "Bench Shopper"
CVC = "123"
EMAIL = "shopper@example.com"
PRODUCT = "halloumi"  # from seed_demo, 14.50 EUR
PRODUCT_AMOUNT = 1450

SHOP_WORKERS = ("-w", "2", "-k", "gthread", "--threads", "4")
SANDBOX_WORKERS = ("-w", "2", "-k", "gthread", "--threads", "16")
#: Seconds the sandbox keeps an idle connection open (an https front end's idle timeout).
SANDBOX_KEEP_ALIVE = 60


def gunicorn_path() -> str | None:
    """The gunicorn of this interpreter's environment, or one on PATH."""
    local = BIN / "gunicorn"
    return str(local) if local.exists() else shutil.which("gunicorn")


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.split(":", 1)[0] in _POSTGRES_SCHEMES else ""


def cache_url() -> str:
    """The cache of the shop's processes: BENCH_CACHE_URL (redis://...), else per process."""
    return os.environ.get("BENCH_CACHE_URL", "")


def cache_name() -> str:
    return "shared cache " + urlsplit(cache_url()).scheme if cache_url() else "cache per process"


def expect(condition: bool, what: str) -> None:
    """Stop the benchmark when an operation ended in the wrong state."""
    if not condition:
        sys.exit(f"benchmark stopped: {what}")


# --- command line ---------------------------------------------------------------------------------


def make_parser(description: str, default_n: int, n_help: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=default_n, help=f"{n_help} (default {default_n})")
    parser.add_argument(
        "--db",
        choices=("auto", *BACKENDS),
        default="auto",
        help="auto (default): SQLite, then PostgreSQL as well when DATABASE_URL names one",
    )
    return parser


def main(
    module: str,
    parser: argparse.ArgumentParser,
    bench: Callable[[argparse.Namespace, Harness], None],
    *,
    auto_backends: Sequence[str] = BACKENDS,
) -> int:
    """Run ``bench`` on the chosen database, or once per database in child processes."""
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")
    if gunicorn_path() is None:
        print("skipped: gunicorn is not installed (it is in the dev dependency group)")
        return 0
    if not os.environ.get("BENCH_CHILD"):
        print(f"{module.rsplit('.', 1)[-1]}: {machine()}", flush=True)
    if args.db != "auto":
        with Harness(args.db) as harness:
            bench(args, harness)
        return 0
    backends = [b for b in auto_backends if b == "sqlite" or postgres_url()]
    status = 0
    for backend in backends:
        # One process per database: Django reads DATABASES once, when it starts.
        command = [sys.executable, "-m", module, *sys.argv[1:], "--db", backend]
        sys.stdout.flush()
        child = {**os.environ, "BENCH_CHILD": "1"}
        status = subprocess.run(command, env=child, check=False).returncode or status
    if "postgres" in auto_backends and not postgres_url():
        print(
            f"\n{module.rsplit('.', 1)[-1]} on PostgreSQL: skipped "
            "(set DATABASE_URL=postgres://user@host:port/name to include it)"
        )
    return status


def machine() -> str:
    """Cores, processor and load: what the figures of this run were measured on."""
    model = "unknown processor"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{len(os.sched_getaffinity(0))} cores ({model}), load average {load}"


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One gunicorn process tree serving a WSGI application on a port of its own."""

    def __init__(
        self,
        name: str,
        app: str,
        env: dict[str, str],
        logs: Path,
        *,
        workers: Sequence[str] = SHOP_WORKERS,
        extra: Sequence[str] = (),
        ready_path: str = "/",
        port: int | None = None,
        access_log: bool = False,
    ) -> None:
        self.name = name
        self.port = port or free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.error_log = logs / f"{name}.log"
        self.access_log = logs / f"{name}.access.log" if access_log else None
        self.ready_path = ready_path
        self.command = [str(gunicorn_path()), app, "-b", f"127.0.0.1:{self.port}", *workers]
        self.command += ["--graceful-timeout", "5", "--error-logfile", str(self.error_log)]
        if self.access_log is not None:
            self.command += ["--access-logfile", str(self.access_log)]
            self.command += ["--access-logformat", "%(m)s %(U)s %(s)s"]
        self.command += list(extra)
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                sys.exit(f"{self.name} did not start:\n{self.log_tail()}")
            try:
                answer = requests.get(self.origin + self.ready_path, timeout=30)
            except requests.RequestException:
                time.sleep(0.1)
                continue
            if answer.status_code < 500:
                return
            sys.exit(f"{self.name} answered {answer.status_code}:\n{self.log_tail()}")
        sys.exit(f"{self.name} did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.error_log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def requests_served(self) -> Counter[str]:
        """Requests in the access log so far, by path; "path status" for non-2xx/3xx."""
        counts: Counter[str] = Counter()
        if self.access_log is None or not self.access_log.exists():
            return counts
        for line in self.access_log.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                counts[parts[1]] += 1
                if not parts[2].startswith(("2", "3")):
                    counts[f"{parts[1]} {parts[2]}"] += 1
        return counts


def served_count(server: Server, method: str, wait: float = 0.3) -> int:
    """Requests of a REST method the server logged (after the last answers are logged)."""
    time.sleep(wait)
    return sum(n for path, n in server.requests_served().items() if path.endswith("/" + method))


# --- the harness ---------------------------------------------------------------------------------


class Harness:
    """Throwaway databases for the shop and the sandbox, Django in this process, servers.

    ``with Harness("sqlite") as harness:`` creates and migrates both databases (SQLite
    files in a temporary folder, or fresh PostgreSQL databases next to the one
    DATABASE_URL names), sets Django up in this process and loads the demo catalogue;
    leaving stops every server it started and drops the databases.
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.tmp = Path(tempfile.mkdtemp(prefix="checkout-bench-"))
        self.servers: list[Server] = []
        self._postgres: list[str] = []
        # Read now: this process's DATABASE_URL becomes the shop's own once Django is set up.
        self._postgres_admin = postgres_url()
        self._settings_override: Any = None

    # databases

    def __enter__(self) -> Harness:
        try:
            self._create_databases()
            self._setup_django()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _create_databases(self) -> None:
        log = self.tmp / "setup.log"
        if self.backend == "sqlite":
            self.shop_db = f"sqlite:///{self.tmp / 'shop.sqlite3'}"
            self.sandbox_db = f"sqlite:///{self.tmp / 'sandbox.sqlite3'}"
            self._migrate(self.shop_db, log)
            # One migration, two copies: the last connection closed folds the WAL back in.
            sqlite3.connect(self.tmp / "shop.sqlite3").close()
            shutil.copyfile(self.tmp / "shop.sqlite3", self.tmp / "sandbox.sqlite3")
            return
        base = self._postgres_admin
        if not base:
            sys.exit("--db postgres needs DATABASE_URL=postgres://user@host:port/name")
        import psycopg

        stem = f"checkout_bench_{os.getpid()}"
        parts = urlsplit(base)
        self.shop_db = parts._replace(path=f"/{stem}_shop").geturl()
        self.sandbox_db = parts._replace(path=f"/{stem}_sandbox").geturl()
        with psycopg.connect(base, autocommit=True) as admin:
            for name in (f"{stem}_shop", f"{stem}_sandbox"):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{stem}_shop"')
            self._postgres.append(f"{stem}_shop")
            self._migrate(self.shop_db, log)
            admin.execute(f'CREATE DATABASE "{stem}_sandbox" TEMPLATE "{stem}_shop"')
            self._postgres.append(f"{stem}_sandbox")

    def _migrate(self, database_url: str, log: Path) -> None:
        with log.open("ab") as output:
            migrated = subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=ROOT,
                env=self.env(database_url),
                stdout=output,
                stderr=output,
                check=False,
            )
        if migrated.returncode:
            sys.exit(f"benchmark stopped: migrate failed:\n{log.read_text(errors='replace')}")

    def env(self, database_url: str, **extra: str) -> dict[str, str]:
        """The environment of a process of the project: demo settings, DEBUG off."""
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("JCC_", "CHECKOUT_SANDBOX_", "NAIVE_", "DJANGO_"))
            and key not in ("SANDBOX_ALLOWED", "SITE_URL", "CACHE_URL", "CLIENT_IP_HEADER")
        }
        env = {
            **inherited,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "merchant_site.settings",
            # Nothing from a developer's .env: the run gets exactly what is set here.
            "ENV_FILE": str(self.tmp / "no.env"),
            "DEBUG": "0",
            "SECRET_KEY": "benchmark-only-secret-key-" + "x" * 32,
            "DATABASE_URL": database_url,
        }
        if cache_url():
            # A shared cache, as several server processes need; keys of this run only.
            env["CACHE_URL"] = cache_url()
            env["CACHE_KEY_PREFIX"] = f"checkout-bench-{os.getpid()}"
        env.update(extra)
        return env

    def _setup_django(self) -> None:
        os.environ.update(self.env(self.shop_db))
        os.environ["BENCH_SANDBOX_DATABASE_URL"] = self.sandbox_db
        os.environ["DJANGO_SETTINGS_MODULE"] = "tests.benchmarks.settings"
        import django

        django.setup()
        # The demo's catalogue (what seed_demo loads, without its admin account).
        from merchant_site.shop.management.commands.seed_demo import PRODUCTS
        from merchant_site.shop.models import Product

        for position, (slug, name, description, price, image) in enumerate(PRODUCTS):
            Product.objects.create(
                slug=slug,
                name=name,
                description=description,
                price=price,
                currency="EUR",
                image=f"shop/img/{image}",
                position=position,
            )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
        if self._settings_override is not None:
            self._settings_override.disable()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django never set up
            pass
        try:
            if self._postgres:
                import psycopg

                with psycopg.connect(self._postgres_admin, autocommit=True) as admin:
                    for name in self._postgres:
                        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # servers

    def sandbox(self, round_trip: float, *, new_connection_round_trips: int = 2) -> Server:
        """The sandbox gateway answering as if ``round_trip`` seconds away (not started)."""
        name = f"sandbox-{round_trip * 1000:g}ms"
        env = self.env(
            self.sandbox_db,
            SANDBOX_ALLOWED="1",
            CHECKOUT_SANDBOX_ROUND_TRIP=str(round_trip),
            CHECKOUT_SANDBOX_NEW_CONNECTION_ROUND_TRIPS=str(new_connection_round_trips),
            CHECKOUT_SANDBOX_CALLBACK_DELIVERY="off",
        )
        server = Server(
            name,
            "checkout.sandbox.wsgi",
            env,
            self.tmp,
            workers=SANDBOX_WORKERS,
            extra=("--keep-alive", str(SANDBOX_KEEP_ALIVE)),
            ready_path="/payment/se/keys.do",
            access_log=True,
        )
        server.round_trip = round_trip  # type: ignore[attr-defined]
        self.servers.append(server)
        return server

    def shop_env(self, sandbox: Server, site_url: str) -> dict[str, str]:
        return self.env(
            self.shop_db,
            JCC_GATEWAY_URL=sandbox.origin + "/payment/",
            JCC_USERNAME=MERCHANT_LOGIN,
            JCC_PASSWORD=MERCHANT_PASSWORD,
            JCC_CALLBACK_SECRET=CALLBACK_SECRET,
            SITE_URL=site_url,
            # Shoppers are told apart by the address a (pretended) proxy vouches for.
            CLIENT_IP_HEADER="X-Forwarded-For",
        )

    def shop(self, sandbox: Server) -> Server:
        """The demo shop, paying through ``sandbox`` (not started)."""
        port = free_port()
        env = self.shop_env(sandbox, f"http://127.0.0.1:{port}")
        server = Server(f"shop-{sandbox.name}", "merchant_site.wsgi", env, self.tmp, port=port)
        self.servers.append(server)
        return server

    def naive(self, sandbox: Server) -> Server:
        """The naive integration and the trivial view, against ``sandbox`` (not started)."""
        env = self.env(
            "",
            NAIVE_GATEWAY_URL=sandbox.origin + "/payment/",
            NAIVE_USERNAME=MERCHANT_LOGIN,
            NAIVE_PASSWORD=MERCHANT_PASSWORD,
        )
        server = Server(
            f"naive-{sandbox.name}",
            "tests.benchmarks.naive_app",
            env,
            self.tmp,
            ready_path="/ok/",
        )
        self.servers.append(server)
        return server

    def start(self, *servers: Server) -> None:
        """Start servers side by side; sandboxes first answer (their key is made once)."""
        for server in servers:
            server.start()
        for server in sorted(servers, key=lambda s: not s.name.startswith("sandbox")):
            server.wait_ready()

    def use_gateway(self, sandbox: Server, site_url: str = "http://testserver") -> None:
        """Point this process's checkout at ``sandbox`` (set-up, in-process requests)."""
        from django.conf import settings
        from django.test.utils import override_settings

        from checkout.gateway import reset_client

        if self._settings_override is not None:
            self._settings_override.disable()
        checkout = {
            **settings.CHECKOUT,
            "GATEWAY_URL": sandbox.origin + "/payment/",
            "USERNAME": MERCHANT_LOGIN,
            "PASSWORD": MERCHANT_PASSWORD,
            "CALLBACK_SECRETS": [CALLBACK_SECRET],
            "SITE_URL": site_url,
        }
        self._settings_override = override_settings(CHECKOUT=checkout)
        self._settings_override.enable()
        reset_client()

    # reporting

    def describe(self) -> str:
        from django.db import connection

        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        return names.get(connection.vendor, connection.vendor)


# --- shoppers -----------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    location: str
    text: str


class HttpTransport:
    """A browser over real HTTP: its own cookies and kept-alive connection."""

    def __init__(self, origin: str, address: str) -> None:
        self.origin = origin
        self.http = requests.Session()
        self.http.headers["X-Forwarded-For"] = address

    def get(self, path: str) -> Answer:
        return self._answer(self.http.get(self.origin + path, allow_redirects=False, timeout=60))

    def post(self, path: str, data: dict[str, str]) -> Answer:
        answer = self.http.post(self.origin + path, data=data, allow_redirects=False, timeout=60)
        return self._answer(answer)

    @staticmethod
    def _answer(response: requests.Response) -> Answer:
        return Answer(response.status_code, response.headers.get("Location", ""), response.text)

    def close(self) -> None:
        self.http.close()


class ClientTransport:
    """A browser through Django's test client, in this process."""

    def __init__(self, address: str) -> None:
        from django.test import Client

        self.client = Client(REMOTE_ADDR=address, raise_request_exception=True)

    def get(self, path: str) -> Answer:
        return self._answer(self.client.get(path))

    def post(self, path: str, data: dict[str, str]) -> Answer:
        return self._answer(self.client.post(path, data))

    @staticmethod
    def _answer(response: Any) -> Answer:
        return Answer(response.status_code, response.get("Location", ""), response.content.decode())

    def close(self) -> None:
        pass


Transport = HttpTransport | ClientTransport

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_SETOKEN_KEY = re.compile(r'data-setoken-key="([^"]*)"')
# A /64 of its own per shopper: the attempt limits count an IPv6 network, not a host.
_addresses = (f"2001:db8:{i >> 16:x}:{i & 0xFFFF:x}::1" for i in itertools.count(1))


def shopper_address() -> str:
    """A client address of its own for each shopper (documentation prefix, only ever
    written into a header: nothing is sent to it)."""
    return next(_addresses)


@dataclass
class CardPage:
    path: str
    csrf: str
    setoken_key: str


def open_card_page(browser: Transport) -> CardPage:
    """What a shopper does before paying: catalogue, cart, checkout, the card page."""
    catalogue = browser.get("/")
    expect(catalogue.status == 200, f"catalogue answered {catalogue.status}")
    match = _CSRF.search(catalogue.text)
    expect(match is not None, "no CSRF token on the catalogue")
    assert match is not None
    token = match.group(1)
    added = browser.post(f"/cart/add/{PRODUCT}/", {"csrfmiddlewaretoken": token, "quantity": "1"})
    expect(added.status == 302, f"add to cart answered {added.status}")
    placed = browser.post("/cart/", {"csrfmiddlewaretoken": token, "email": EMAIL})
    expect(placed.status == 302 and "/checkout/pay/" in placed.location, "checkout failed")
    path = urlsplit(placed.location).path
    page = browser.get(path)
    expect(page.status == 200, f"card page answered {page.status}")
    csrf = _CSRF.search(page.text)
    key = _SETOKEN_KEY.search(page.text)
    expect(csrf is not None and key is not None, "card page without its form")
    assert csrf is not None and key is not None
    return CardPage(path, csrf.group(1), html.unescape(key.group(1)))


def expiry() -> str:
    return f"{datetime.now().year + 3}12"


def setoken_form(pan: str, key: str) -> dict[str, str]:
    """What the card page's script posts: the seToken, the name, brand and last four."""
    from checkout.cards import CardData
    from checkout.setoken import build_setoken

    expect(bool(key), "no seToken key on the card page")
    token = build_setoken(CardData(pan=pan, cvc=CVC, expiry=expiry(), cardholder_name=HOLDER), key)
    return {"cardholder_name": HOLDER, "se_token": token, "brand": "VISA", "last4": pan[-4:]}


def card_fields_form(pan: str) -> dict[str, str]:
    """What the card page posts without JavaScript."""
    month_year = f"12/{int(expiry()[:4]) % 100:02d}"
    return {"cardholder_name": HOLDER, "pan": pan, "expiry": month_year, "cvc": CVC}


def payment_public_id(location: str) -> str:
    match = re.search(r"/checkout/payment/([0-9a-f-]{36})/", location)
    expect(match is not None, f"no payment page in {location!r}")
    assert match is not None
    return match.group(1)


def complete_3ds_at_the_bank(sandbox: Server, gateway_order_id: str) -> None:
    """The shopper passes 3-D Secure (frictionless) at the bank and never comes back."""
    with requests.Session() as bank:
        url = f"{sandbox.origin}/payment/acsRedirect.do?orderId={gateway_order_id}"
        for _ in range(3):
            answer = bank.get(url, allow_redirects=False, timeout=60)
            expect(answer.status_code == 302, f"ACS answered {answer.status_code}")
            url = urljoin(url, answer.headers["Location"])
            if not url.startswith(sandbox.origin):
                return  # sent back to the shop: 3-D Secure is done
    sys.exit("benchmark stopped: 3-D Secure did not finish")


# --- payments made in bulk ------------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    """A payment the shop sees AWAITING_3DS and the bank has paid."""

    pk: int
    order_number: str
    gateway_order_id: str

    def callback_query(self) -> str:
        from checkout.checksum import sign_hmac

        params = {
            "mdOrder": self.gateway_order_id,
            "orderNumber": self.order_number,
            "operation": "deposited",
            "status": "1",
        }
        return urlencode({**params, "checksum": sign_hmac(params, CALLBACK_SECRET)})


class PaymentFactory:
    """Payments awaiting 3-D Secure at the shop and paid at the bank, made in bulk.

    One is made as a shopper makes it (the card page of the served shop, 3-D Secure at
    the bank); the rest are copies of its rows in both databases with ids of their own,
    so that thousands are ready in a second without thousands of payments through HTTP.
    """

    def __init__(self, browser: Transport, sandbox: Server) -> None:
        from checkout.models import Payment

        page = open_card_page(browser)
        form = {"csrfmiddlewaretoken": page.csrf, **setoken_form(FRICTIONLESS, page.setoken_key)}
        paid = browser.post(page.path, form)
        expect(paid.status == 303 and "/3ds/" in paid.location, f"3-D Secure payment: {paid}")
        self.template = Payment.objects.select_related("order").get(
            public_id=payment_public_id(paid.location)
        )
        expect(self.template.status == "awaiting_3ds", f"template: {self.template.status}")
        complete_3ds_at_the_bank(sandbox, str(self.template.gateway_order_id))
        from checkout.sandbox.models import Order as BankOrder

        self.bank_template = BankOrder.objects.using("sandbox").get(
            pk=self.template.gateway_order_id
        )
        expect(self.bank_template.status == 2, f"bank template: {self.bank_template.status}")

    def make(self, count: int, *, created_at: datetime | None = None) -> list[Waiting]:
        from django.db import transaction
        from django.utils import timezone

        from checkout.models import Order, Payment
        from checkout.sandbox.models import Order as BankOrder
        from checkout.services import new_order_number

        now = created_at or timezone.now()
        orders, payments, banks, made = [], [], [], []
        for _ in range(count):
            number = new_order_number()
            bank_id = uuid.uuid4()
            order = _copy(
                self.template.order,
                public_id=uuid.uuid4(),
                created_at=now,
                # Not the template's purchase: an order of its own, for nothing in the shop.
                content_type_id=None,
                object_id="",
                merchant_reference="",
            )
            payment = _copy(
                self.template,
                public_id=uuid.uuid4(),
                order_number=number,
                gateway_order_id=str(bank_id),
                created_at=now,
                status="awaiting_3ds",
            )
            bank = _copy(
                self.bank_template,
                id=bank_id,
                order_number=number,
                three_ds_trans_id=str(uuid.uuid4()),
                setoken_uuid="",
            )
            orders.append(order)
            payments.append(payment)
            banks.append(bank)
        with transaction.atomic(using="sandbox"):
            BankOrder.objects.using("sandbox").bulk_create(banks, batch_size=500)
        with transaction.atomic():
            Order.objects.bulk_create(orders, batch_size=500)
            for order, payment in zip(orders, payments, strict=True):
                payment.order_id = order.pk
            Payment.objects.bulk_create(payments, batch_size=500)
        for payment in Payment.objects.filter(public_id__in=[p.public_id for p in payments]):
            made.append(Waiting(payment.pk, payment.order_number, str(payment.gateway_order_id)))
        expect(len(made) == count, "bulk payments were not all stored")
        return made


def _copy(instance: Any, **changes: Any) -> Any:
    model = type(instance)
    values = {
        f.attname: getattr(instance, f.attname)
        for f in model._meta.concrete_fields
        if not f.primary_key or f.attname in changes
    }
    values.update(changes)
    return model(**values)


# --- concurrent clients ---------------------------------------------------------------------------

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def fire(
    origin: str,
    paths: Sequence[str],
    clients: int,
    *,
    bodies: Sequence[bytes] | None = None,
    check: Callable[[bytes], bool] | None = None,
) -> tuple[float, Counter[int], list[float]]:
    """GET every path (POST it with its form body) with ``clients`` kept-alive connections
    at once.

    Returns the seconds from the first request to the last answer, the answers' statuses
    (0 for a broken connection, -1 for an answer ``check`` refused) and each request's
    seconds.
    """
    host = urlsplit(origin)
    todo = iter(zip(paths, bodies or [None] * len(paths), strict=True))
    lock = threading.Lock()
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    start = threading.Barrier(clients + 1)

    def client() -> None:
        connection = http.client.HTTPConnection(
            host.hostname or "127.0.0.1", host.port, timeout=120
        )
        mine: Counter[int] = Counter()
        took: list[float] = []
        start.wait()
        while True:
            with lock:
                item = next(todo, None)
            if item is None:
                break
            path, body = item
            began = time.perf_counter()
            try:
                if body is None:
                    connection.request("GET", path)
                else:
                    connection.request("POST", path, body, headers=_FORM)
                response = connection.getresponse()
                content = response.read()
                if check is not None and response.status == 200 and not check(content):
                    mine[-1] += 1
                else:
                    mine[response.status] += 1
                if response.will_close:
                    connection.close()
            except (OSError, http.client.HTTPException):
                mine[0] += 1
                connection.close()
            took.append(time.perf_counter() - began)
        connection.close()
        with lock:
            statuses.update(mine)
            latencies.extend(took)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses, latencies


# --- timing and tables --------------------------------------------------------------------------


@dataclass
class Samples:
    """Durations of one kind of operation."""

    label: str
    seconds: list[float] = field(default_factory=list)

    def time(self, operation: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = operation()
        self.seconds.append(time.perf_counter() - started)
        return result

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def rotated(items: Sequence[Any], i: int) -> list[Any]:
    """``items`` starting at a different one each round, so no kind always comes first."""
    shift = i % len(items) if items else 0
    return [*items[shift:], *items[:shift]]


def print_table(
    title: str, head: Sequence[str], rows: Sequence[Sequence[str]], notes: Sequence[str] = ()
) -> None:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[c])) for row in (head, *rows)) for c in range(len(head))]

    def line(row: Sequence[str]) -> str:
        cells = [str(row[0]).ljust(widths[0])]
        cells += [str(row[c]).rjust(widths[c]) for c in range(1, len(head))]
        return "  ".join(cells).rstrip()

    print(f"\n{title}")
    print(line(head))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    for note in notes:
        print(note)
    sys.stdout.flush()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def times(value: float) -> str:
    return f"{value:.2f}x"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
