"""An ``order_paid`` receiver for the server processes of ``tests/test_two_hosts.py``.

Installed only by ``tests/two_hosts_settings.py``. Every call appends one line to the file
named by ``TWO_HOSTS_PAID_LOG`` (one ``write`` with ``O_APPEND``, so lines from several
processes never mix), then marks the order fulfilled as a shop's receiver does. The test
counts the lines: every ``order_paid`` that any host or ``checkout_sync`` run sent.
"""

from __future__ import annotations

import json
import os
from typing import Any

from django.apps import AppConfig


class TwoHostsConfig(AppConfig):
    name = "tests.two_hosts_app"
    label = "two_hosts"
    verbose_name = "Two hosts test receiver"

    def ready(self) -> None:
        from checkout.signals import order_paid

        order_paid.connect(record_order_paid, dispatch_uid="two-hosts-order-paid")


def record_order_paid(sender: Any, order: Any, payment: Any, captured: bool, **kwargs: Any) -> None:
    from checkout.backoffice import mark_fulfilled

    line = json.dumps(
        {
            "order": str(order.public_id),
            "payment": str(payment.public_id),
            "captured": captured,
            "process": os.environ.get("TWO_HOSTS_PROCESS", ""),
            "pid": os.getpid(),
        }
    )
    fd = os.open(os.environ["TWO_HOSTS_PAID_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
    mark_fulfilled(order)
