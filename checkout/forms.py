"""The card form: cardholder name and card details, or a seToken built in the browser."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from checkout.cards import CardData, card_brand, luhn_valid, parse_expiry

__all__ = ["BlankHiddenInput", "BlankInput", "CardForm"]

#: Longest seToken the gateway takes (API-NOTES §6.2).
MAX_SETOKEN_LENGTH = 8192

_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
# Latin letters, spaces and the punctuation found in names; "/" would break a seToken.
_NAME = re.compile(r"[A-Za-z][A-Za-z .'\-]*")


class BlankInput(forms.TextInput):
    """A text input that never renders a value back: card number and CVC stay unechoed."""

    def format_value(self, value: Any) -> str | None:
        return None


class BlankHiddenInput(forms.HiddenInput):
    """A hidden input that never renders a value back (a seToken is used once)."""

    def format_value(self, value: Any) -> str | None:
        return None


class CardForm(forms.Form):
    """Card entry. Valid with either a seToken or the card number, expiry and CVC."""

    cardholder_name = forms.CharField(
        label=_("Name on card"),
        max_length=45,
        min_length=2,
        widget=forms.TextInput(attrs={"autocomplete": "cc-name", "spellcheck": "false"}),
    )
    pan = forms.CharField(
        label=_("Card number"),
        required=False,
        max_length=23,
        widget=BlankInput(
            attrs={
                "autocomplete": "cc-number",
                "inputmode": "numeric",
                "autocorrect": "off",
                "spellcheck": "false",
                "placeholder": "1234 5678 9012 3456",
            }
        ),
    )
    expiry = forms.CharField(
        label=_("Expiry date (MM/YY)"),
        required=False,
        max_length=7,
        widget=forms.TextInput(
            attrs={"autocomplete": "cc-exp", "inputmode": "numeric", "placeholder": _("MM/YY")}
        ),
    )
    cvc = forms.CharField(
        label=_("Security code (CVC)"),
        required=False,
        max_length=4,
        widget=BlankInput(
            attrs={"autocomplete": "cc-csc", "inputmode": "numeric", "placeholder": "123"}
        ),
    )
    # Filled by the browser script; it is then the only card data posted.
    se_token = forms.CharField(required=False, widget=BlankHiddenInput)
    brand = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)
    last4 = forms.CharField(required=False, max_length=4, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for name in ("pan", "expiry", "cvc"):
            self.fields[name].widget.attrs["aria-required"] = "true"

    def clean_cardholder_name(self) -> str:
        name = " ".join(self.cleaned_data["cardholder_name"].split())
        if not _NAME.fullmatch(name):
            raise forms.ValidationError(
                _("Enter the name as printed on the card, in Latin letters.")
            )
        return name

    def clean_se_token(self) -> str:
        token = "".join(self.cleaned_data.get("se_token", "").split())
        if token and (len(token) > MAX_SETOKEN_LENGTH or not _BASE64.fullmatch(token)):
            raise forms.ValidationError(_("The card details could not be read. Please retry."))
        return token

    def clean_brand(self) -> str:
        brand = self.cleaned_data.get("brand", "").strip().upper()
        return brand if brand.isascii() and brand.isalpha() else ""

    def clean_last4(self) -> str:
        last4 = self.cleaned_data.get("last4", "").strip()
        return last4 if len(last4) == 4 and last4.isascii() and last4.isdigit() else ""

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("se_token"):
            # Whatever card fields came along are not needed: drop them at once.
            for name in ("pan", "cvc", "expiry"):
                data.pop(name, None)
            return data
        if "se_token" in self.errors:
            for name in ("pan", "cvc"):
                data.pop(name, None)
            return data
        pan = re.sub(r"[\s-]", "", data.get("pan", ""))
        if not pan:
            self.add_error("pan", _("Enter the card number."))
        elif not (pan.isascii() and pan.isdigit() and 12 <= len(pan) <= 19 and luhn_valid(pan)):
            self.add_error("pan", _("This card number is not valid. Check it and retry."))
        expiry = data.get("expiry", "")
        if not expiry:
            self.add_error("expiry", _("Enter the expiry date as MM/YY."))
        else:
            try:
                data["expiry"] = parse_expiry(expiry)
            except ValueError as err:
                message = (
                    _("This card has expired.")
                    if str(err) == "expired"
                    else _("Enter the expiry date as MM/YY.")
                )
                self.add_error("expiry", message)
        cvc = data.get("cvc", "").strip()
        wanted = 4 if card_brand(pan) == "AMEX" else 3
        if not cvc:
            self.add_error("cvc", _("Enter the security code from the back of the card."))
        elif not (cvc.isascii() and cvc.isdigit() and len(cvc) == wanted):
            self.add_error(
                "cvc", _("The security code is %(count)s digits long.") % {"count": wanted}
            )
        data["pan"], data["cvc"] = pan, cvc
        if self.errors:
            # Nothing of the card survives a failed submit, not even in cleaned_data.
            for name in ("pan", "cvc", "se_token"):
                data.pop(name, None)
        else:
            data["brand"] = card_brand(pan)
            data["last4"] = pan[-4:]
        return data

    @property
    def has_token(self) -> bool:
        return bool(self.cleaned_data.get("se_token"))

    def card_data(self) -> CardData:
        """The card details of a valid form without a seToken (in memory only)."""
        data = self.cleaned_data
        return CardData(
            pan=data["pan"],
            cvc=data["cvc"],
            expiry=data["expiry"],
            cardholder_name=data["cardholder_name"],
        )
