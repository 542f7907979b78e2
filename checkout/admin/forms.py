"""The forms behind the money operations: an amount in the payment's currency and the reason
kept in the history.

``OperationForm`` is the list actions' (several payments, a blank amount means all that
each allows); ``PaymentOperationForm`` is the one of a payment's own capture, void and
refund pages (the amount is required, pre-filled and checked against what is left).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from checkout.admin.base import format_money
from checkout.money import currency, parse_amount

__all__ = ["OperationForm", "PaymentOperationForm", "amount_input", "parse_minor"]

_DECIMALS_ONLY = re.compile(r"\d*\.\d+")


def parse_minor(text: str, code: str) -> int:
    """A typed amount in ``code``'s minor units, or a ValidationError saying what is wrong."""
    try:
        minor = parse_amount(text, code)
    except ValueError:
        if "," in text:
            message = _("Not an amount: use a point for decimals, as in 12.50.")
        elif _DECIMALS_ONLY.fullmatch(text.strip()):
            message = _("Too many decimal places for %(currency)s.")
        else:
            message = _("Not an amount: write it as in 12.50.")
        raise forms.ValidationError(message, params={"currency": code}) from None
    if minor <= 0:
        raise forms.ValidationError(_("The amount must be positive."))
    return minor


def amount_input(minor: int, code: str) -> str:
    """An amount as typed into the form ("18.90"): what ``parse_amount`` reads back."""
    try:
        exponent = currency(code).exponent
    except ValueError:
        return str(minor)
    whole, fraction = divmod(minor, 10**exponent)
    return f"{whole}.{fraction:0{exponent}d}" if exponent else str(whole)


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
        help_text=_("For example 12.50. Leave blank for the full amount of each payment."),
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
        parse_minor(text, self.currencies[0])
        return text

    def minor_amount(self, currency: str) -> int | None:
        """The amount given, in ``currency``'s minor units; None when left blank."""
        text = self.cleaned_data.get("amount") or ""
        return parse_amount(text, currency) if text else None


#: What the amount may not exceed, per operation, in the form's error.
_TOO_MUCH = {
    "capture": _("At most %(limit)s: that is what is held."),
    "refund": _("At most %(limit)s: that is what is left to refund."),
}


class PaymentOperationForm(forms.Form):
    """One payment's capture, void or refund: the amount (required, at most ``limit``), the
    reason, and the payment's state when the form was shown (``state``, hidden)."""

    amount = forms.CharField(label=_("Amount"), max_length=30)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_("Kept in the payment's history with your name."),
    )
    state = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(
        self,
        data: Any = None,
        *,
        operation: str,
        code: str,
        limit: int,
        state: str = "",
        **kw: Any,
    ) -> None:
        initial = {"amount": amount_input(limit, code), "state": state}
        super().__init__(data, initial=initial, **kw)
        self.operation, self.code, self.limit = operation, code, limit
        if operation not in _TOO_MUCH:
            del self.fields["amount"]
        else:
            self.fields["amount"].help_text = _(
                "In %(currency)s, for example 12.50; at most %(limit)s."
            ) % {"currency": code, "limit": format_money(limit, code)}
            self.fields["amount"].error_messages["required"] = _(
                "Enter the amount; the most is %(limit)s."
            ) % {"limit": format_money(limit, code)}

    def clean_amount(self) -> int:
        minor = parse_minor(str(self.cleaned_data.get("amount") or ""), self.code)
        if minor > self.limit:
            raise forms.ValidationError(
                _TOO_MUCH[self.operation], params={"limit": format_money(self.limit, self.code)}
            )
        return minor

    def clean_reason(self) -> str:
        reason = " ".join(str(self.cleaned_data.get("reason") or "").split())
        if not reason:
            raise forms.ValidationError(self.fields["reason"].error_messages["required"])
        return reason

    @property
    def minor_amount(self) -> int | None:
        """The amount confirmed, in minor units (None for a void: it releases the hold)."""
        value = getattr(self, "cleaned_data", {}).get("amount")
        return value if isinstance(value, int) else None
