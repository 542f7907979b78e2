from django.db import models


class Product(models.Model):
    """Something the demo shop sells."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    price = models.PositiveIntegerField(help_text="In minor units (cents).")
    currency = models.CharField(max_length=3, default="EUR")
    image = models.CharField(max_length=200, blank=True, help_text="Static file path.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name
