"""The demo's production settings: ``manage.py check --deploy`` in a process of its own.

Each run gets an explicit environment (nothing inherited but PATH) and an empty .env of its
own through ENV_FILE, so neither the caller's shell nor a developer's .env can change the
outcome.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The four --deploy warnings BEHIND_TLS_PROXY is meant to silence.
HTTPS_WARNINGS = {"security.W004", "security.W008", "security.W012", "security.W016"}

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "merchant_site.settings",
    "DEBUG": "false",
    "SECRET_KEY": "deploy-test-" + "k3y-" * 16,
    "ALLOWED_HOSTS": "shop.example",
    "CSRF_TRUSTED_ORIGINS": "https://shop.example",
    "JCC_GATEWAY_URL": "https://gateway-test.jcc.com.cy/payment/",
    "JCC_USERNAME": "shop-api",
    "JCC_PASSWORD": "shop-password",
    "JCC_CALLBACK_SECRET": "callback-secret",
    "SITE_URL": "https://shop.example",
    # A shared cache, so that checkout.W008 (per-process attempt counters) stays quiet.
    "CACHE_URL": "redis://127.0.0.1:6379/1",
    "DATABASE_URL": "sqlite:///:memory:",
}


def check_deploy(tmp_path: Path, **variables: str) -> tuple[set[str], str]:
    """Run ``check --deploy`` with PRODUCTION plus ``variables``; the ids it reported."""
    env_file = tmp_path / ".env"
    env_file.write_text("")
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ENV_FILE": str(env_file),
        **PRODUCTION,
        **variables,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return set(re.findall(r"\(([\w.]+\.[EW]\d{3})\)", output)), output


def test_behind_a_tls_proxy_the_https_warnings_are_gone(tmp_path):
    ids, output = check_deploy(
        tmp_path, BEHIND_TLS_PROXY="true", CLIENT_IP_HEADER="X-Forwarded-For"
    )
    assert ids & HTTPS_WARNINGS == set(), output
    assert [i for i in ids if i.startswith("checkout")] == [], output
    # The shop's own decisions are left to it, and nothing else is reported.
    assert ids <= {"security.W005", "security.W021"}, output


def test_behind_a_tls_proxy_without_client_ip_header_it_warns(tmp_path):
    """Every shopper would have the proxy's address and share one attempt limit."""
    ids, output = check_deploy(tmp_path, BEHIND_TLS_PROXY="true")
    assert "checkout.W011" in ids, output


def test_without_the_proxy_switch_the_four_warnings_show(tmp_path):
    """The baseline: the same production environment without BEHIND_TLS_PROXY."""
    ids, output = check_deploy(tmp_path)
    assert ids >= HTTPS_WARNINGS, output


def test_each_setting_alone_silences_its_warning(tmp_path):
    ids, output = check_deploy(
        tmp_path,
        SECURE_HSTS_SECONDS="3600",
        SECURE_SSL_REDIRECT="true",
        SESSION_COOKIE_SECURE="true",
        CSRF_COOKIE_SECURE="true",
    )
    assert ids & HTTPS_WARNINGS == set(), output
    assert [i for i in ids if i.startswith("checkout")] == [], output


@pytest.mark.parametrize(
    ("variable", "warning"),
    [
        ("SECURE_HSTS_SECONDS=0", "security.W004"),
        ("SECURE_SSL_REDIRECT=false", "security.W008"),
        ("SESSION_COOKIE_SECURE=false", "security.W012"),
        ("CSRF_COOKIE_SECURE=false", "security.W016"),
    ],
)
def test_an_explicit_value_wins_over_the_proxy_default(tmp_path, variable, warning):
    name, value = variable.split("=")
    ids, output = check_deploy(tmp_path, BEHIND_TLS_PROXY="true", **{name: value})
    assert ids & HTTPS_WARNINGS == {warning}, output


def test_subdomains_and_preload_are_the_shops_choice(tmp_path):
    ids, output = check_deploy(tmp_path, BEHIND_TLS_PROXY="true")
    assert {"security.W005", "security.W021"} <= ids, output
    ids, output = check_deploy(
        tmp_path,
        BEHIND_TLS_PROXY="true",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_HSTS_PRELOAD="true",
    )
    assert ids & {"security.W005", "security.W021"} == set(), output


def test_the_env_file_fills_what_the_environment_leaves_unset(tmp_path):
    env_file = tmp_path / "production.env"
    env_file.write_text("BEHIND_TLS_PROXY=true\nSECURE_HSTS_SECONDS=0\n")
    ids, output = check_deploy(tmp_path, ENV_FILE=str(env_file))
    assert ids & HTTPS_WARNINGS == {"security.W004"}, output
    # A variable in the environment wins over the file.
    ids, output = check_deploy(tmp_path, ENV_FILE=str(env_file), SECURE_HSTS_SECONDS="60")
    assert ids & HTTPS_WARNINGS == set(), output
