import secrets

from django.db import migrations, models

# As merchant_site.shop.models.new_reference() writes them (kept here as they were then).
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_reference():
    code = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


def give_references(apps, schema_editor):
    """A reference for every purchase made before there were any, also on its order."""
    Purchase = apps.get_model("shop", "Purchase")
    Order = apps.get_model("jcc_checkout", "Order")
    taken = set()
    for purchase in Purchase.objects.filter(reference__isnull=True).only("pk", "order_id"):
        reference = new_reference()
        while reference in taken:
            reference = new_reference()
        taken.add(reference)
        Purchase.objects.filter(pk=purchase.pk).update(reference=reference)
        if purchase.order_id is not None:
            Order.objects.filter(pk=purchase.order_id).update(merchant_reference=reference)


class Migration(migrations.Migration):
    dependencies = [
        ("jcc_checkout", "0002_order_anonymised_at"),
        ("shop", "0002_purchase_email_blank"),
    ]

    operations = [
        migrations.AddField(
            model_name="purchase",
            name="reference",
            field=models.CharField(editable=False, max_length=9, null=True),
        ),
        migrations.AddField(
            model_name="purchase",
            name="receipt_sent_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(give_references, migrations.RunPython.noop, elidable=True),
    ]
