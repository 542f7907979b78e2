"""``manage.py checkout_prune``: apply CHECKOUT["RETENTION"] (see checkout.retention)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkout import retention

__all__ = ["Command"]


def _rows(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _line(what: str, days: int | None, done: str) -> str:
    if days is None:
        return f"{what}: kept for good (retention off)."
    return f"{what} older than {_rows(days, 'day', 'days')}: {done}."


class Command(BaseCommand):
    """Delete old exchange-log rows and notifications; clear old personal data."""

    help = (
        "Delete gateway exchange rows and callback notifications past their retention age "
        "and clear the shopper's e-mail and IP address from old orders, keeping whatever an "
        "open payment still needs and every amount, status and id. Safe to run from cron on "
        "several hosts at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would change; change nothing."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=retention.BATCH_SIZE,
            help=f"Rows per transaction (default {retention.BATCH_SIZE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        dry_run = bool(options["dry_run"])
        try:
            summary = retention.prune(dry_run=dry_run, batch_size=options["batch_size"])
        except ImproperlyConfigured as err:
            raise CommandError(str(err)) from None
        if int(options["verbosity"]) < 1:
            return
        ages = summary.ages
        delete = "would delete" if dry_run else "deleted"
        clear = "would clear" if dry_run else "cleared"
        lines = [
            _line(
                "Gateway exchanges",
                ages["exchanges"],
                f"{delete} {_rows(summary.exchanges_deleted, 'row', 'rows')}",
            ),
            _line(
                "Callback notifications",
                ages["notifications"],
                f"{delete} {_rows(summary.notifications_deleted, 'row', 'rows')}",
            ),
            _line(
                "Personal data",
                ages["personal_data"],
                f"{clear} {_rows(summary.orders_anonymised, 'order', 'orders')} and "
                f"{_rows(summary.exchanges_scrubbed, 'exchange row', 'exchange rows')}",
            ),
        ]
        if summary.client_secrets_deleted:
            lines.append(
                f"JSON API client secrets expired over a day ago: {delete} "
                f"{_rows(summary.client_secrets_deleted, 'secret', 'secrets')} and their answers."
            )
        if ages["personal_data"] is not None and summary.orders_kept:
            kept = _rows(summary.orders_kept, "older order", "older orders")
            lines.append(
                f"Kept the personal data of {kept} still needed: a payment open, or paid "
                "and not marked fulfilled."
            )
        if dry_run:
            lines.append("Dry run: nothing was changed.")
        for line in lines:
            self.stdout.write(line)
