from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from merchant_site.shop.models import Product

PRODUCTS = [
    ("halloumi", "Halloumi, 1 kg", "Squeaky grilling cheese from Paphos.", 1450, "halloumi.svg"),
    (
        "olive-oil",
        "Olive oil, 750 ml",
        "Cold-pressed, first harvest, Troodos.",
        1890,
        "olive-oil.svg",
    ),
    ("commandaria", "Commandaria", "Sweet dessert wine, aged four years.", 2400, "commandaria.svg"),
    ("loukoumi", "Loukoumi, 500 g", "Rose and bergamot, from Geroskipou.", 650, "loukoumi.svg"),
    ("carob-syrup", "Carob syrup", "Cyprus 'black gold', 450 g jar.", 590, "carob.svg"),
    ("lace", "Lefkara lace runner", "Hand-made table runner, 80 cm.", 12500, "lace.svg"),
]

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "demo-admin-2026"


class Command(BaseCommand):
    help = "Load the demo catalogue and a demo admin account (idempotent)."

    def handle(self, *args, **options):
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
                },
            )
        self.stdout.write(f"catalogue: {Product.objects.count()} products")
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
