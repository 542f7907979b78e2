# Apart from 0003, so that PostgreSQL alters the table in a transaction of its own, after
# the rows were filled.

import merchant_site.shop.models
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0003_purchase_reference_receipt"),
    ]

    operations = [
        migrations.AlterField(
            model_name="purchase",
            name="reference",
            field=models.CharField(
                default=merchant_site.shop.models.new_reference,
                editable=False,
                max_length=9,
                unique=True,
            ),
        ),
    ]
