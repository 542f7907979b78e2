"""``manage.py charge_subscriptions``: the demo's monthly charges, as cron would run them."""

from django.core.management.base import BaseCommand

from merchant_site.shop.subscriptions import charge_due


class Command(BaseCommand):
    help = (
        "Charge every subscription that is due on its saved card (merchant-initiated "
        "payments). Safe to run again: a charge is never made twice."
    )

    def handle(self, *args, **options):
        results = charge_due()
        for subscription, payment in results:
            outcome = payment.get_status_display() if payment is not None else "not charged"
            self.stdout.write(f"{subscription}: {outcome}")
        self.stdout.write(f"{len(results)} subscription(s) due")
