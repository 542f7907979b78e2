from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from checkout.templatetags.checkout_tags import money
from merchant_site.shop.models import Product, Purchase, PurchaseLine, Subscription


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


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "periods", "next_charge_at", "card"]
    list_filter = ["status"]
    readonly_fields = [
        "user",
        "product",
        "first_purchase",
        "card",
        "amount",
        "currency",
        "periods",
        "failed",
        "next_charge_at",
        "current_order",
        "created_at",
    ]
    actions = ["charge_now"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Charge the next payment now"), permissions=["charge"])
    def charge_now(self, request, queryset):
        from merchant_site.shop.subscriptions import charge

        for subscription in queryset:
            payment = charge(subscription)
            outcome = payment.get_status_display() if payment is not None else _("not charged")
            self.message_user(request, f"{subscription}: {outcome}")

    def has_charge_permission(self, request) -> bool:
        return request.user.has_perm("jcc_checkout.charge_saved_card")
