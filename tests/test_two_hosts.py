"""Two hosts, one database: whatever reaches which host, a payment settles once.

Two gunicorn servers of the demo shop (``merchant_site.wsgi``, DEBUG off, settings from the
environment through ``tests/two_hosts_settings.py``), each on a loopback address of its own,
share the test's PostgreSQL database and one Redis cache. The sandbox gateway is a third
process; both hosts talk to it over HTTP, as to the real gateway. Its callbacks are off:
the test delivers them itself, signed with the sandbox merchant's secret.

Payments are made through the demo shop as a browser would (cart, card form, the bank's
3-D Secure pages), half of them on each host. Then, at once: duplicate callbacks split
across both hosts, the shopper's returns and result pages on both hosts (with the session
cookie made on one of them), and two ``checkout_sync`` runs. Each payment must be paid
exactly once, announced once, with no duplicated history and no error answer; and the
attempt limit per client address counts the attempts on both hosts together.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urljoin, urlsplit

import pytest
import requests
from django.db import connection
from django.db.models import F

from checkout.models import Notification, Order, Payment, PaymentStatus, Source, StatusChange
from checkout.sandbox import crypto, defaults
from checkout.sandbox.models import Order as BankOrder
from merchant_site.shop.models import Product
from tests.test_concurrency import race as in_parallel

ROOT = Path(__file__).resolve().parent.parent
S = PaymentStatus

#: The Redis database the hosts share; only keys under this run's own prefix are touched.
CACHE_URL = "redis://127.0.0.1:6379/3"
#: Payments settled by everything at once, and deliveries of each one's callback.
PAYMENTS = 10
DELIVERIES = 10
#: Attempts allowed per client address, on both hosts together.
PER_IP = 3
FRICTIONLESS = "4111111111111111"  # 3-D Secure without a challenge, then approved
DECLINED = "4000000000000051"  # declined: do not honour
#: Older than checkout_sync's default --older-than (10 minutes), as cron would find them.
CRON_AGE = timedelta(minutes=15)
SERVER_ARGS = ["-w", "2", "-k", "gthread", "--threads", "4", "--timeout", "60"]
SYNC = (
    "import sys, django\n"
    "django.setup()\n"
    "from django.core.management import call_command\n"
    "print('ready', flush=True)\n"
    "sys.stdin.readline()\n"
    "call_command('checkout_sync', '--no-report', '--workers', '2')\n"
)


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _missing() -> str:
    if connection.vendor != "postgresql":
        return "needs PostgreSQL shared by several processes (set DATABASE_URL=postgres://…)"
    if not _redis_answers():
        return "needs Redis on 127.0.0.1:6379 as the hosts' shared cache"
    if find_spec("gunicorn") is None:
        return "needs gunicorn (pip install gunicorn, or the test dependency group)"
    return ""


def _skip_or_fail() -> None:
    reason = _missing()
    if reason and connection.vendor == "postgresql" and os.environ.get("CI") == "true":
        pytest.fail(reason)
    if reason:
        pytest.skip(reason)


pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


# --- processes ---------------------------------------------------------------------------------


class Process:
    """A server or command as a process group of its own, its output in a file."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], logs: Path, **kw: Any):
        self.name = name
        self.path = logs / f"{name}.log"
        self.log: IO[bytes] = self.path.open("wb")
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=kw.pop("stdout", self.log),
            stderr=self.log,
            start_new_session=True,
            **kw,
        )

    def output(self) -> str:
        self.log.flush()
        return self.path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM to the group (gunicorn's master and workers), SIGKILL if it lingers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        self.log.close()


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _addresses() -> tuple[str, str]:
    """Two loopback addresses, one per host (Linux answers on all of 127/8)."""
    try:
        for address in ("127.0.0.2", "127.0.0.3"):
            _free_port(address)
    except OSError:
        return "127.0.0.1", "127.0.0.1"
    return "127.0.0.2", "127.0.0.3"


def _no_control_socket() -> list[str]:
    """gunicorn 25.1+ opens a control socket under $HOME unless told not to."""
    import gunicorn

    return ["--no-control-socket"] if gunicorn.version_info >= (25, 1) else []


def _database_url() -> str:
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        user += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{user}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def _wait_ready(process: Process, url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.process.poll() is None, f"{process.name} exited:\n{process.output()}"
        try:
            if requests.get(url, timeout=2, allow_redirects=False).status_code < 500:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"{process.name} not ready:\n{process.output()}"
        time.sleep(0.1)


def _wait_for(condition: Callable[[], bool], *, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@dataclass
class Hosts:
    urls: tuple[str, str]
    gateway: str
    env: dict[str, str]
    paid_log: Path
    logs: Path
    cache_prefix: str
    servers: list[Process] = field(default_factory=list)

    def env_for(self, name: str) -> dict[str, str]:
        return {**self.env, "TWO_HOSTS_PROCESS": name}

    def order_paid_calls(self) -> list[dict[str, Any]]:
        if not self.paid_log.exists():
            return []
        return [json.loads(line) for line in self.paid_log.read_text().splitlines()]

    def clear_cache(self) -> None:
        import redis

        client = redis.Redis.from_url(CACHE_URL)
        try:
            keys = list(client.scan_iter(f"{self.cache_prefix}:*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
def hosts(tmp_path) -> Iterator[Hosts]:
    """The sandbox gateway and two shop hosts on the test database and one Redis cache.

    Started for each test: the database is emptied after each one, and the servers would
    keep what they cache of it (content type ids).
    """
    _skip_or_fail()
    logs = tmp_path
    addresses = _addresses()
    sandbox_port = _free_port("127.0.0.1")
    ports = [_free_port(address) for address in addresses]
    urls = (f"http://{addresses[0]}:{ports[0]}", f"http://{addresses[1]}:{ports[1]}")
    gateway = f"http://127.0.0.1:{sandbox_port}/payment/"
    skipped = ("JCC_", "CACHE_URL", "DATABASE_URL", "DEBUG", "DJANGO_SETTINGS_MODULE", "SITE_URL")
    base = {k: v for k, v in os.environ.items() if not k.startswith(skipped)}
    base.update(
        {
            "PYTHONPATH": str(ROOT),
            # No .env file: the test says everything the processes get.
            "ENV_FILE": str(logs / "none.env"),
            "DATABASE_URL": _database_url(),
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
        }
    )
    prefix = f"two-hosts-{uuid.uuid4().hex}"
    shop_env = {
        **base,
        "DJANGO_SETTINGS_MODULE": "tests.two_hosts_settings",
        "ALLOWED_HOSTS": ",".join(sorted({*addresses, "127.0.0.1"})),
        "CACHE_URL": CACHE_URL,
        "TWO_HOSTS_CACHE_PREFIX": prefix,
        "TWO_HOSTS_PER_IP": str(PER_IP),
        "TWO_HOSTS_PAID_LOG": str(logs / "order_paid.jsonl"),
        # As behind the hosts' load balancer, which sets the shopper's address.
        "CLIENT_IP_HEADER": "X-Forwarded-For",
        "JCC_GATEWAY_URL": gateway,
        "JCC_USERNAME": defaults.MERCHANT_LOGIN,
        "JCC_PASSWORD": defaults.MERCHANT_PASSWORD,
        "JCC_CALLBACK_SECRET": defaults.CALLBACK_SECRET,
        "SITE_URL": urls[0],
    }
    result = Hosts(urls, gateway, shop_env, logs / "order_paid.jsonl", logs, prefix)
    try:
        sandbox = Process(
            "sandbox",
            [sys.executable, "manage.py", "run_sandbox", "--port", str(sandbox_port)],
            # tests.settings: the sandbox allowed with DEBUG off, its callbacks not sent.
            env={**base, "DJANGO_SETTINGS_MODULE": "tests.settings"},
            logs=logs,
        )
        result.servers.append(sandbox)
        result.clear_cache()
        for name, address, port in zip("ab", addresses, ports, strict=True):
            argv = [sys.executable, "-m", "gunicorn", "merchant_site.wsgi"]
            argv += ["--bind", f"{address}:{port}", *SERVER_ARGS, "--access-logfile", "-"]
            argv += ["--worker-tmp-dir", str(logs), *_no_control_socket()]
            env = {**result.env_for(f"host-{name}"), "SITE_URL": f"http://{address}:{port}"}
            result.servers.append(Process(f"host-{name}", argv, env=env, logs=logs))
        _wait_ready(sandbox, gateway)
        for server, url in zip(result.servers[1:], urls, strict=True):
            _wait_ready(server, url + "/")
        yield result
    finally:
        for server in result.servers:
            server.stop()
        result.clear_cache()
        for server in result.servers:
            print(f"--- {server.name} ---\n{server.path.read_text(errors='replace')}")


@pytest.fixture
def shop(hosts) -> Hosts:
    """The hosts, and a product to sell."""
    Product.objects.create(slug="halloumi", name="Halloumi", price=1250, currency="EUR")
    return hosts


# --- a shopper's browser -----------------------------------------------------------------------


def _csrf_token(page: requests.Response) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found[1]


def browser(address: str) -> requests.Session:
    """A browser at ``address``, as the load balancer in front of the hosts reports it."""
    session = requests.Session()
    session.headers["X-Forwarded-For"] = address
    return session


def place_order(browser: requests.Session, host: str) -> str:
    """Cart and checkout in the demo shop on ``host``: the card page's path."""
    token = _csrf_token(browser.get(host + "/", timeout=30))
    added = browser.post(
        host + "/cart/add/halloumi/",
        data={"csrfmiddlewaretoken": token, "quantity": "1", "next": "cart"},
        allow_redirects=False,
        timeout=30,
    )
    assert added.status_code == 302, added.text[:500]
    placed = browser.post(
        host + "/cart/",
        data={"csrfmiddlewaretoken": token, "email": "shopper@example.com"},
        allow_redirects=False,
        timeout=30,
    )
    assert placed.status_code == 302, placed.text[:500]
    assert placed.headers["Location"].startswith("/checkout/pay/"), placed.headers
    return placed.headers["Location"]


def pay(browser: requests.Session, host: str, card_path: str, pan: str) -> requests.Response:
    form = browser.get(host + card_path, timeout=30)
    assert form.status_code == 200, form.text[:500]
    data = {
        "csrfmiddlewaretoken": _csrf_token(form),
        "cardholder_name": "Test Shopper",
        "pan": pan,
        "expiry": "12/34",
        "cvc": "859",
    }
    return browser.post(host + card_path, data=data, allow_redirects=False, timeout=60)


@dataclass
class Shopper:
    payment: Payment
    session_cookie: str
    return_path: str  # where the bank sent the shopper back to: /checkout/return/?orderId=…
    payment_path: str


def to_the_bank_and_back(index: int, hosts: Hosts) -> Shopper:
    """Order on one host, card, the bank's 3-D Secure: stopped just before the return."""
    host = hosts.urls[index % 2]
    shopper = browser(f"198.51.100.{index + 1}")
    card_path = place_order(shopper, host)
    paid = pay(shopper, host, card_path, FRICTIONLESS)
    assert paid.status_code == 303, paid.text[:500]
    threeds_path = paid.headers["Location"]
    assert re.fullmatch(r"/checkout/payment/[0-9a-f-]{36}/3ds/", threeds_path), threeds_path
    url = host + threeds_path
    hop = shopper.get(url, allow_redirects=False, timeout=30)
    back = host + "/checkout/return/?"
    while hop.is_redirect and not hop.headers["Location"].startswith(back):
        url = urljoin(url, hop.headers["Location"])
        assert url.startswith((hosts.gateway, host)), url
        hop = shopper.get(url, allow_redirects=False, timeout=30)
    assert hop.is_redirect, hop.text[:500]
    returned = urlsplit(hop.headers["Location"])
    payment = Payment.objects.get(public_id=threeds_path.split("/")[3])
    return Shopper(
        payment=payment,
        session_cookie=shopper.cookies["sessionid"],
        return_path=f"{returned.path}?{returned.query}",
        payment_path=threeds_path.removesuffix("3ds/"),
    )


def history(payment: Payment) -> list[tuple[str, str, str]]:
    rows = StatusChange.objects.filter(payment=payment).order_by("pk")
    return [(r.from_status, r.to_status, r.source) for r in rows]


# --- the tests -----------------------------------------------------------------------------------


def test_everything_at_once_on_two_hosts_settles_each_payment_once(shop):
    hosts = shop
    shoppers = in_parallel([lambda i=i: to_the_bank_and_back(i, hosts) for i in range(PAYMENTS)])
    assert all(isinstance(s, Shopper) for s in shoppers), shoppers
    for shopper in shoppers:
        shopper.payment.refresh_from_db()
        assert shopper.payment.status == S.AWAITING_3DS
        # The bank has approved it; the shop does not know yet.
        assert BankOrder.objects.get(pk=shopper.payment.gateway_order_id).status == 2
    # As old as the payments a cron run of checkout_sync (--older-than 10m) settles.
    Payment.objects.update(created_at=F("created_at") - CRON_AGE)

    syncs = [
        Process(
            f"sync-{name}",
            [sys.executable, "-c", SYNC],
            env=hosts.env_for(f"sync-{name}"),
            logs=hosts.logs,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for name in "ab"
    ]
    try:
        for sync in syncs:
            assert sync.process.stdout.readline() == b"ready\n", sync.output()

        def request(kind: str, url: str, *, then: str = "", **kwargs: Any) -> Callable[[], Any]:
            """GET ``url``: its kind, status and whether it redirected to ``then`` (or not)."""

            def send() -> tuple[str, int, bool]:
                answer = requests.get(url, allow_redirects=False, timeout=60, **kwargs)
                return kind, answer.status_code, answer.headers.get("Location", "") == then

            return send

        def start(sync: Process) -> Callable[[], str]:
            def go() -> str:
                sync.process.stdin.write(b"go\n")
                sync.process.stdin.close()
                return "sync started"

            return go

        jobs: list[Callable[[], Any]] = [start(sync) for sync in syncs]
        for shopper in shoppers:
            payment = shopper.payment
            params = {
                "mdOrder": payment.gateway_order_id,
                "orderNumber": payment.order_number,
                "operation": "deposited",
                "status": "1",
            }
            params["checksum"] = crypto.hmac_checksum(params, defaults.CALLBACK_SECRET)
            cookies = {"sessionid": shopper.session_cookie}
            for delivery in range(DELIVERIES):
                url = hosts.urls[delivery % 2] + "/checkout/callback/"
                jobs.append(request("callback", url, params=params))
            for host in hosts.urls:
                back = host + shopper.return_path
                jobs.append(request("return", back, then=shopper.payment_path, cookies=cookies))
                jobs.append(request("page", host + shopper.payment_path, cookies=cookies))
        answers = in_parallel(jobs)
        outputs = []
        for sync in syncs:
            out = sync.process.stdout.read().decode()
            outputs.append(out)
            assert sync.process.wait(120) == 0, out + sync.output()
    finally:
        for sync in syncs:
            sync.stop()

    assert answers[: len(syncs)] == ["sync started"] * len(syncs)
    answers = answers[len(syncs) :]
    # No error answer from either host: no 500, no 503, no 404 for a session made on the
    # other host; each return sends the shopper on to the payment's page.
    assert Counter(answers) == {
        ("callback", 200, True): PAYMENTS * DELIVERIES,
        ("return", 303, True): PAYMENTS * 2,
        ("page", 200, True): PAYMENTS * 2,
    }

    # Deliveries inside the query interval wait for a follow-up query of their host.
    _wait_for(
        lambda: not Notification.objects.filter(processed_at__isnull=True).exists(),
        what="every callback delivery to be processed",
    )
    calls = hosts.order_paid_calls()
    paid_sources = Counter()
    for shopper in shoppers:
        payment = Payment.objects.select_related("order").get(pk=shopper.payment.pk)
        assert payment.status == S.PAID and payment.captured_amount == payment.amount
        changes = history(payment)
        assert changes[:2] == [
            (S.CREATED, S.PROCESSING, Source.CARD_ENTRY),
            (S.PROCESSING, S.AWAITING_3DS, Source.CARD_ENTRY),
        ]
        assert len(changes) == 3 and changes[2][:2] == (S.AWAITING_3DS, S.PAID), changes
        assert changes[2][2] in (Source.CALLBACK, Source.THREEDS_RETURN, Source.RECONCILIATION)
        paid_sources[changes[2][2]] += 1
        assert StatusChange.objects.filter(payment=payment, to_status=S.PAID).count() == 1
        # order_paid once for the order, from whichever process made the transition.
        announced = [c for c in calls if c["order"] == str(payment.order.public_id)]
        assert len(announced) == 1, announced
        assert announced[0]["payment"] == str(payment.public_id) and announced[0]["captured"]
        assert payment.order.fulfilled_at is not None
        deliveries = Notification.objects.filter(payment=payment)
        assert deliveries.count() == DELIVERIES and not deliveries.filter(valid=False).exists()
        assert BankOrder.objects.get(pk=payment.gateway_order_id).status == 2
    assert len(calls) == PAYMENTS
    assert Order.objects.filter(fulfilled_at__isnull=True).count() == 0
    # The result page, from either host, with the session the other host made.
    for shopper in shoppers[:2]:
        for host in hosts.urls:
            page = requests.get(
                host + shopper.payment_path,
                cookies={"sessionid": shopper.session_cookie},
                timeout=30,
            )
            assert page.status_code == 200 and "Payment received" in page.text
    for server in hosts.servers:
        assert "Traceback" not in server.output(), server.name
    print("paid by:", dict(paid_sources), "announced by:", Counter(c["process"] for c in calls))
    print(*outputs, sep="\n")


def test_attempt_limit_counts_both_hosts_together(shop):
    """One address alternating between the hosts is refused after PER_IP attempts in all.

    Counted per host, the fourth attempt (the second on its host) would still be allowed.
    """
    hosts = shop
    card_tester = browser("203.0.113.7")
    answers = []
    for attempt in range(2 * PER_IP):
        host = hosts.urls[attempt % 2]
        answer = pay(card_tester, host, place_order(card_tester, host), DECLINED)
        answers.append(answer)
    assert [a.status_code for a in answers] == [303] * PER_IP + [429] * PER_IP
    for refused in answers[PER_IP:]:
        assert "Too many attempts" in html.unescape(refused.text)
    # Only the attempts allowed reached the bank.
    assert BankOrder.objects.count() == PER_IP
    assert Payment.objects.exclude(gateway_order_id=None).count() == PER_IP
    # The limit is the address's, not everybody's: another shopper pays on either host.
    for index, host in enumerate(hosts.urls):
        other = browser(f"203.0.113.{20 + index}")
        assert pay(other, host, place_order(other, host), DECLINED).status_code == 303
    assert BankOrder.objects.count() == PER_IP + 2
