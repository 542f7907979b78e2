"""The form behind the money actions: an optional amount and the reason kept in the history."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from checkout.money import currency, parse_amount

__all__ = ["OperationForm"]


def _invalid_amount(text: str, code: str) -> str:
    """Why ``text`` is not an amount in ``code``, for the operator."""
    _whole, point, fraction = text.partition(".")
    if "," in text:
        return gettext("Not an amount: use a point for decimals, as in 12.50.")
    exponent = currency(code).exponent
    if point and fraction.isdigit() and len(fraction) > exponent:
        return ngettext(
            "%(currency)s has %(count)d decimal place.",
            "%(currency)s has %(count)d decimal places.",
            exponent,
        ) % {"currency": code, "count": exponent}
    return gettext("Not an amount: write it as in 12.50.")


class OperationForm(forms.Form):
    """Amount (blank: all that the operation allows) and the reason kept in the history."""

    amount = forms.CharField(
        label=_("Amount"),
        required=False,
        max_length=20,
        help_text=_("For example 12.50. Leave blank for the full amount."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=200)

    def __init__(
        self, *args: Any, currencies: Iterable[str] = (), with_amount: bool, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.currencies = sorted(set(currencies))
        if not with_amount:
            del self.fields["amount"]

    def clean_amount(self) -> str:
        text = (self.cleaned_data.get("amount") or "").strip()
        if not text:
            return ""
        if len(self.currencies) != 1:
            raise forms.ValidationError(
                _("Select payments in one currency to give an amount, or leave it blank.")
            )
        try:
            minor = parse_amount(text, self.currencies[0])
        except ValueError:
            raise forms.ValidationError(_invalid_amount(text, self.currencies[0])) from None
        if minor <= 0:
            raise forms.ValidationError(_("The amount must be positive."))
        return text

    def minor_amount(self, currency: str) -> int | None:
        """The amount given, in ``currency``'s minor units; None when left blank."""
        text = self.cleaned_data.get("amount") or ""
        return parse_amount(text, currency) if text else None
