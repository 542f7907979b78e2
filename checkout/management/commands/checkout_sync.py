"""``manage.py checkout_sync``: settle open payments against the gateway (see checkout.sync)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from checkout import sync, tasks
from checkout.services.saved_cards import sync_saved_cards

__all__ = ["Command"]


class Command(BaseCommand):
    """Query the gateway for payments left open and settle them."""

    help = (
        "Settle payments awaiting 3-D Secure, with an unknown outcome, held for long or "
        "with a pending back-office operation; retry failed callback notifications; "
        "re-send order_paid for paid orders not yet fulfilled; mail the site admins "
        "about what needs a person. Safe to run from cron on several hosts at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Query the gateway and show what would change; change no payment, send "
            "nothing (the queries are still written to the exchange log).",
        )
        parser.add_argument(
            "--order",
            action="append",
            default=[],
            metavar="NUMBER",
            help="Only this order (gateway order number, gateway order id, public id or "
            "the shop's merchant reference), whatever its age. May be repeated.",
        )
        parser.add_argument(
            "--older-than",
            default="10m",
            metavar="DURATION",
            help="Only payments and notifications older than this (90s, 15m, 2h, 1d; "
            "default 10m): younger ones are still being settled by the shopper's return "
            "or the gateway's callback.",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=4,
            help="Gateway queries running at the same time (default 4).",
        )
        parser.add_argument(
            "--no-report", action="store_true", help="Do not mail the admins a report."
        )
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Queue one task per payment to settle (checkout.tasks.settle_payment) for "
            "the task workers, instead of settling them here.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            older_than = sync.parse_duration(options["older_than"])
        except ValueError as err:
            raise CommandError(str(err)) from None
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        run_options = sync.Options(
            older_than=older_than,
            orders=list(options["order"]),
            dry_run=options["dry_run"],
            workers=options["workers"],
            report=not options["no_report"],
        )
        verbosity = int(options["verbosity"])
        if options["enqueue"]:
            if not tasks.framework():
                raise CommandError("--enqueue needs a tasks framework (django-tasks on 5.2).")
            count = tasks.enqueue_settlement(run_options)
            if verbosity >= 1:
                self.stdout.write(f"{count} payment(s) queued for settlement")
            return

        def progress(line: str) -> None:
            if verbosity >= 1:
                self.stdout.write(line)
                self.stdout.flush()

        summary = sync.run(run_options, progress)
        if not (run_options.dry_run or run_options.orders):
            cards = sync_saved_cards()
            if any(cards.values()):
                progress(
                    "saved cards: {unbound} unbound, {unbind_pending} unbind(s) pending, "
                    "{wallets_checked} wallet(s) compared with getBindings.do".format(**cards)
                )
        if summary.failed:
            raise CommandError(f"{summary.failed} payment(s) could not be settled; see above.")
