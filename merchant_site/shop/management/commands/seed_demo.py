from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from checkout.sandbox.conf import sandbox_active
from merchant_site.shop.models import Product

# slug, name, description, price in cents, picture under static/shop/img/
PRODUCTS = [
    (
        "halloumi",
        "Halloumi, 1 kg",
        "Squeaky grilling cheese from Paphos, made from goat's and sheep's milk and "
        "folded with fresh mint. Grill or fry it until golden; it keeps its shape.",
        1450,
        "halloumi.svg",
    ),
    (
        "olive-oil",
        "Olive oil, 750 ml",
        "Cold-pressed extra virgin oil from the first harvest in the Troodos foothills. "
        "Green, peppery and made for bread, salads and everything else.",
        1890,
        "olive-oil.svg",
    ),
    (
        "commandaria",
        "Commandaria",
        "The island's sweet dessert wine from sun-dried Xynisteri and Mavro grapes, "
        "aged four years in oak. Raisin, fig and honey. 500 ml.",
        2400,
        "commandaria.svg",
    ),
    (
        "loukoumi",
        "Loukoumi, 500 g",
        "Soft Cyprus delight from Geroskipou in rose, bergamot and mastic, dusted with "
        "icing sugar. One box, three flavours.",
        650,
        "loukoumi.svg",
    ),
    (
        "carob-syrup",
        "Carob syrup",
        "Cyprus 'black gold': a dark, malty syrup pressed from carob pods. Stir it into "
        "yoghurt or tahini, or bake with it. 450 g jar.",
        590,
        "carob.svg",
    ),
    (
        "lace",
        "Lefkara lace runner",
        "A table runner hand-stitched in Lefkara village in the traditional geometric "
        "pattern. Linen and cotton, 80 x 30 cm.",
        12500,
        "lace.svg",
    ),
    (
        "halloumi-of-the-month",
        "Halloumi of the month",
        "A kilo of halloumi from a different Cypriot dairy every month, with a note on "
        "how it is made. A monthly subscription: your card is saved with the first "
        "payment and charged each month; cancel any time.",
        1290,
        "halloumi.svg",
    ),
]

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "demo-admin-2026"
SHOPPER_USERNAME = "shopper"
SHOPPER_PASSWORD = "demo-shopper-2026"
#: Sold as monthly subscriptions.
MONTHLY = {"halloumi-of-the-month"}


class Command(BaseCommand):
    help = "Load the demo catalogue and a demo admin account (idempotent)."

    def handle(self, *args, **options):
        slugs = []
        for position, (slug, name, description, price, image) in enumerate(PRODUCTS):
            Product.objects.update_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "description": description,
                    "price": price,
                    "currency": "EUR",
                    "image": f"shop/img/{image}",
                    "position": position,
                    "monthly": slug in MONTHLY,
                },
            )
            slugs.append(slug)
        self.stdout.write(f"catalogue: {Product.objects.filter(slug__in=slugs).count()} products")
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=ADMIN_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(ADMIN_PASSWORD)
            user.save()
        self.stdout.write(
            self.style.SUCCESS(
                f"demo admin: http://<host>:<port>/admin/  "
                f"user {ADMIN_USERNAME!r}  password {ADMIN_PASSWORD!r}"
            )
        )
        shopper, created = user_model.objects.get_or_create(
            username=SHOPPER_USERNAME, defaults={"email": "shopper@shop.example"}
        )
        if created:
            shopper.set_password(SHOPPER_PASSWORD)
            shopper.save()
        self.stdout.write(
            self.style.SUCCESS(
                f"demo shopper: http://<host>:<port>/accounts/login/  "
                f"user {SHOPPER_USERNAME!r}  password {SHOPPER_PASSWORD!r}"
            )
        )
        if sandbox_active():
            self.stdout.write(
                "payments go to the bundled sandbox gateway: its test cards are listed at "
                "/sandbox/payment/ (3-D Secure one-time code 123456)"
            )
        elif settings.DEBUG:
            self.stdout.write("set JCC_GATEWAY_URL, JCC_USERNAME and JCC_PASSWORD to take payments")
