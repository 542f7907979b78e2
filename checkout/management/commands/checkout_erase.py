"""``manage.py checkout_erase EMAIL``: answer an erasure request (checkout.retention)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkout import retention

__all__ = ["Command"]


class Command(BaseCommand):
    """Clear one shopper's personal data from all their orders now."""

    help = (
        "Clear the e-mail and IP address of the shopper with this e-mail address from all "
        "their orders, whatever their age, keeping amounts, statuses and ids. Orders with a "
        "payment still open or not yet fulfilled are listed and left as they are."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The shopper's e-mail address (any case).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would change; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email = str(options["email"]).strip()
        try:
            erasure = retention.erase_shopper(email, dry_run=options["dry_run"])
        except ValueError as err:
            raise CommandError(str(err)) from None
        count = erasure.orders_anonymised
        verb = "Would clear" if erasure.dry_run else "Cleared"
        self.stdout.write(
            f"{verb} the personal data of {email} from {count} "
            f"order{'' if count == 1 else 's'} and {erasure.exchanges_scrubbed} exchange "
            f"row{'' if erasure.exchanges_scrubbed == 1 else 's'}."
        )
        if erasure.kept:
            self.stdout.write(
                f"Kept {len(erasure.kept)} order{'' if len(erasure.kept) == 1 else 's'} still "
                "needed (a payment open, or paid and not yet fulfilled); run again once "
                "settled:"
            )
            for order in erasure.kept:
                self.stdout.write(f"  order {order.public_id} of {order.created_at:%Y-%m-%d}")
        if erasure.dry_run:
            self.stdout.write("Dry run: nothing was changed.")
