from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from checkout.templatetags.checkout_tags import money
from merchant_site.shop.models import Product, Purchase, PurchaseLine


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "price_display", "position"]
    list_editable = ["position"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]

    @admin.display(description=_("Price"), ordering="price")
    def price_display(self, obj: Product) -> str:
        return money(obj.price, obj.currency)


class PurchaseLineInline(admin.TabularInline):
    model = PurchaseLine
    extra = 0
    can_delete = False
    fields = ["name", "unit_price", "quantity"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    """Shop-side view of what was bought; payments are handled on the checkout's Order."""

    list_display = ["reference", "email", "total", "created_at", "receipt_sent_at", "order"]
    search_fields = ["=reference", "email", "public_id", "order__payments__order_number"]
    readonly_fields = [
        "reference",
        "public_id",
        "email",
        "amount",
        "currency",
        "order",
        "created_at",
        "receipt_sent_at",
    ]
    inlines = [PurchaseLineInline]
    date_hierarchy = "created_at"

    @admin.display(description=_("Total"), ordering="amount")
    def total(self, obj: Purchase) -> str:
        return money(obj.amount, obj.currency)

    def has_add_permission(self, request) -> bool:
        return False
