"""Saved cards and wallets: the gateway's data read-only, deactivating, and charging a card.

"Charge saved card…" makes a merchant-initiated payment (``charge_saved_card``) for a new
order of the card's wallet. It needs the ``charge_saved_card`` permission; the form carries
an idempotency key of its own, so a double submit charges once.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from checkout.admin.base import (
    ModelAdmin,
    NulSafeListMixin,
    ReadOnlyMixin,
    TabularInline,
    change_link,
    format_money,
    link_column,
)
from checkout.admin.forms import amount_input, parse_minor
from checkout.conf import checkout_settings
from checkout.declines import action_code_meaning
from checkout.exceptions import CheckoutError, GatewayUnavailable
from checkout.models import SavedCard, Wallet
from checkout.services import create_order
from checkout.services.saved_cards import CardNotChargeable, charge_saved_card, remove_card
from checkout.status import SECURED_STATUSES

__all__ = ["ChargeForm", "SavedCardAdmin", "WalletAdmin"]

CHARGE_PERMISSION = "jcc_checkout.charge_saved_card"

#: The reasons a shop charges a saved card without the shopper (API-NOTES §2.1 ``tii``).
REASONS = (
    ("R", _("Recurring: the next payment of a subscription")),
    ("I", _("Instalment: the next payment of an instalment plan")),
    ("U", _("Unscheduled: a charge the shopper agreed to in advance")),
)


class ChargeForm(forms.Form):
    amount = forms.CharField(label=_("Amount"), max_length=20)
    reason = forms.ChoiceField(label=_("Reason"), choices=REASONS)
    description = forms.CharField(
        label=_("Description"),
        max_length=200,
        required=False,
        help_text=_("Sent to the gateway: no personal or card data."),
    )
    key = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].help_text = gettext("In %(currency)s, as in 12.50.") % {
            "currency": currency
        }

    def clean_amount(self) -> int:
        return parse_minor(self.cleaned_data["amount"], self.currency)

    def clean_description(self) -> str:
        text = str(self.cleaned_data.get("description", "")).strip()
        if "<" in text or ">" in text:
            raise forms.ValidationError(_("Plain text only."))
        return text


@admin.register(SavedCard)
class SavedCardAdmin(NulSafeListMixin, ReadOnlyMixin, ModelAdmin[SavedCard]):
    list_display = (
        "__str__",
        "wallet_column",
        "masked_pan",
        "expiry_column",
        "active",
        "unbind",
        "last_used_at",
        "created_at",
    )
    list_filter = ("active", "unbind", "brand")
    search_fields = ("=binding_id", "masked_pan", "=wallet__client_id")
    list_select_related = ("wallet",)
    fields = (
        "wallet_column",
        "binding_id",
        "brand",
        "masked_pan",
        "expiry_column",
        "network_reference",
        "first_paid_at",
        "first_payment_column",
        "active",
        "deactivated_at",
        "deactivation_column",
        "unbind",
        "unbind_attempts",
        "created_at",
        "last_used_at",
        "payments_column",
        "charge_column",
    )
    readonly_fields = fields
    actions = ("deactivate", "charge")

    wallet_column = link_column("wallet", _("wallet"), pk="wallet_id", text="wallet")
    first_payment_column = link_column("payment", _("first payment"), pk="first_payment_id")

    @admin.display(description=_("why deactivated"))
    def deactivation_column(self, card: SavedCard) -> str:
        return card.deactivation_text or "—"

    @admin.display(description=_("expiry"))
    def expiry_column(self, card: SavedCard) -> str:
        shown = card.expiry_display or "—"
        return gettext("%(date)s (expired)") % {"date": shown} if card.expired() else shown

    @admin.display(description=_("payments with this card"))
    def payments_column(self, card: SavedCard) -> str:
        rows = [
            (
                change_link("payment", payment.pk, payment.order_number),
                format_money(payment.amount, payment.currency),
                payment.get_status_display(),
            )
            for payment in card.payments.order_by("-created_at")[:20]
        ]
        return format_html_join(format_html("<br>"), "{} {} {}", rows) if rows else "—"

    @admin.display(description=_("merchant-initiated payment"))
    def charge_column(self, card: SavedCard) -> str:
        if not card.usable():
            return gettext("This card cannot be charged.")
        url = reverse("admin:jcc_checkout_savedcard_charge", args=[card.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, gettext("Charge saved card…"))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return user.has_perm("jcc_checkout.view_savedcard") or user.has_perm(CHARGE_PERMISSION)

    # The list actions are offered only to those who may take them.
    def has_deactivate_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("jcc_checkout.change_savedcard"))

    def has_charge_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(CHARGE_PERMISSION))

    @admin.action(
        description=_("Deactivate (and unbind at the gateway)"), permissions=["deactivate"]
    )
    def deactivate(self, request: HttpRequest, queryset: QuerySet[SavedCard]) -> None:
        if not request.user.has_perm("jcc_checkout.change_savedcard"):
            raise PermissionDenied
        count = 0
        for card in queryset.filter(unbind=SavedCard.Unbind.NONE):
            remove_card(card, reason=f"{SavedCard.OPERATOR}:{request.user.get_username()}")
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d card deactivated.", "%(count)d cards deactivated.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Charge saved card…"), permissions=["charge"])
    def charge(self, request: HttpRequest, queryset: QuerySet[SavedCard]) -> HttpResponse | None:
        cards = list(queryset[:2])
        if len(cards) != 1:
            self.message_user(
                request, gettext("Select exactly one card to charge."), messages.ERROR
            )
            return None
        return HttpResponseRedirect(
            reverse("admin:jcc_checkout_savedcard_charge", args=[cards[0].pk])
        )

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<path:object_id>/charge/",
                self.admin_site.admin_view(self.charge_view),
                name="jcc_checkout_savedcard_charge",
            )
        ]
        return own + super().get_urls()

    def charge_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm(CHARGE_PERMISSION):
            raise PermissionDenied
        card = get_object_or_404(SavedCard.objects.select_related("wallet"), pk=object_id)
        currency = str(checkout_settings.CURRENCY)
        form = ChargeForm(
            request.POST or None, currency=currency, initial={"key": uuid.uuid4().hex}
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            result = self._charge(request, card, data, currency)
            if result is not None:
                return result
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Charge saved card %(card)s") % {"card": card},
            "card": card,
            "form": form,
            "usable": card.usable(),
            "amount_example": amount_input(1250, currency),
        }
        return TemplateResponse(request, "checkout/admin/saved_card_charge.html", context)

    def _charge(
        self, request: HttpRequest, card: SavedCard, data: dict[str, Any], currency: str
    ) -> HttpResponse | None:
        description = data["description"] or gettext("Charge of a saved card")
        key = f"admin:{data['key']}"
        existing = card.payments.filter(idempotency_key=key).first()
        try:
            order = (
                existing.order
                if existing is not None
                else create_order(
                    amount=data["amount"],
                    currency=currency,
                    description=description,
                    merchant_reference=f"saved-card:{card.pk}",
                )
            )
            if order.wallet_id is None:
                order.wallet = card.wallet
                order.save(update_fields=["wallet"])
            payment = charge_saved_card(card, order, reason=data["reason"], idempotency_key=key)
        except CardNotChargeable as err:
            self.message_user(
                request,
                gettext("This card cannot be charged: %(reason)s.") % {"reason": err.message},
                messages.ERROR,
            )
            return None
        except GatewayUnavailable:
            self.message_user(
                request,
                gettext("The gateway could not be reached. Nothing was charged."),
                messages.ERROR,
            )
            return None
        except (CheckoutError, ValueError) as err:
            self.message_user(request, str(err), messages.ERROR)
            return None
        money = format_money(payment.amount, payment.currency)
        if payment.status in SECURED_STATUSES:
            level, text = messages.SUCCESS, gettext("Charged %(amount)s.") % {"amount": money}
        elif payment.action_code is not None and payment.status == "declined":
            level = messages.WARNING
            text = gettext("Declined: %(meaning)s.") % {
                "meaning": action_code_meaning(payment.action_code)
            }
        else:
            level = messages.WARNING
            text = gettext(
                "%(amount)s: %(status)s. checkout_sync settles it; it is never charged twice."
            ) % {"amount": money, "status": payment.get_status_display()}
        self.message_user(request, text, level)
        return HttpResponseRedirect(reverse("admin:jcc_checkout_payment_change", args=[payment.pk]))


class SavedCardInline(ReadOnlyMixin, TabularInline[SavedCard, Wallet]):
    model = SavedCard
    fields = ("card_link", "masked_pan", "expiry", "active", "unbind", "last_used_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False

    @admin.display(description=_("card"))
    def card_link(self, card: SavedCard) -> str:
        return change_link("savedcard", card.pk, card)


@admin.register(Wallet)
class WalletAdmin(NulSafeListMixin, ReadOnlyMixin, ModelAdmin[Wallet]):
    list_display = ("__str__", "owner_column", "cards_count", "created_at", "closed_at")
    list_filter = ("closed_at",)
    search_fields = ("=client_id", "=owner_id")
    fields = ("client_id", "owner_column", "created_at", "closed_at", "checked_at")
    readonly_fields = fields
    inlines = (SavedCardInline,)

    @admin.display(description=_("owner"))
    def owner_column(self, wallet: Wallet) -> str:
        if wallet.owner_type is None:
            return "—"
        owner = wallet.owner
        if owner is None:
            return gettext("%(type)s %(id)s (deleted)") % {
                "type": wallet.owner_type.name,
                "id": wallet.owner_id,
            }
        return str(owner)

    @admin.display(description=_("cards"))
    def cards_count(self, wallet: Wallet) -> int:
        return wallet.cards.filter(active=True).count()
