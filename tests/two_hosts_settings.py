"""The demo shop's settings as each host of ``tests/test_two_hosts.py`` serves them.

``merchant_site.settings`` (everything from the environment: database, cache, gateway,
DEBUG off), plus what the environment cannot say: a small attempt limit per client address
(``TWO_HOSTS_PER_IP``), a cache key prefix of the test run's own (``TWO_HOSTS_CACHE_PREFIX``)
and the receiver that records every ``order_paid`` (``tests/two_hosts_app.py``).
"""

import os

from merchant_site.settings import *  # noqa: F403
from merchant_site.settings import CACHES, CHECKOUT, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.two_hosts_app.TwoHostsConfig"]
CHECKOUT = {
    **CHECKOUT,
    "RATE_LIMITS": {"per_ip": int(os.environ["TWO_HOSTS_PER_IP"]), "per_order": 5, "window": 600},
}
CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": os.environ["TWO_HOSTS_CACHE_PREFIX"]}}
