"""The card form: cardholder name and card details, or a seToken built in the browser.

Its rules are checkout.cards's (the same as card.js's); each error carries the rule's code
(``required``, ``invalid``, ``format``, ``expired``, ``year``, ``letters``, ``length``).
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from checkout.cards import (
    CardData,
    card_brand,
    parse_cardholder_name,
    parse_expiry,
    parse_pan,
)
from checkout.conf import checkout_settings

__all__ = ["BlankHiddenInput", "BlankInput", "CardForm", "SavedCardForm"]

#: Longest seToken the gateway takes (API-NOTES §6.2).
MAX_SETOKEN_LENGTH = 8192

_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")

_NAME_ERRORS = {
    "letters": _("Enter the name in Latin or Greek letters, as on the card."),
    "length": _("The name must be 2 to 45 characters long."),
}
_EXPIRY_ERRORS = {
    "format": _("Enter the expiry date as MM/YY."),
    "expired": _("This card has expired."),
    "year": _("Check the expiry year."),
}


class BlankInput(forms.TextInput):
    """A text input that never renders a value back: card number and CVC stay unechoed."""

    def format_value(self, value: Any) -> str | None:
        return None


class BlankHiddenInput(forms.HiddenInput):
    """A hidden input that never renders a value back (a seToken is used once)."""

    def format_value(self, value: Any) -> str | None:
        return None


def cvc_field() -> forms.CharField:
    """The security code input of the card forms (checked by each form's clean())."""
    return forms.CharField(
        label=_("Security code (CVC)"),
        required=False,
        max_length=4,
        widget=BlankInput(
            attrs={"autocomplete": "cc-csc", "inputmode": "numeric", "placeholder": "123"}
        ),
    )


class CardForm(forms.Form):
    """Card entry. Valid with either a seToken or the card number, expiry and CVC."""

    # Greek letters are welcome (autofill often has the name in Greek): they are transcribed
    # for the gateway. The length that counts is the Latin name's, checked in clean.
    cardholder_name = forms.CharField(
        label=_("Name on card"),
        max_length=100,
        error_messages={
            "required": _("Enter the name as printed on the card."),
            "max_length": _NAME_ERRORS["length"],
        },
        widget=forms.TextInput(
            attrs={"autocomplete": "cc-name", "spellcheck": "false", "autocorrect": "off"}
        ),
    )
    # Room for every way of writing a number or a date: "4111-1111-1111-1111",
    # "12 / 2030". The rules, not the length, decide.
    pan = forms.CharField(
        label=_("Card number"),
        required=False,
        max_length=40,
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
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "cc-exp", "inputmode": "numeric", "placeholder": _("MM/YY")}
        ),
    )
    cvc = cvc_field()
    # Offered to a shopper the shop knows (see checkout.services.saved_cards).
    save_card = forms.BooleanField(label=_("Save this card for my next payments"), required=False)
    # Filled by the browser script; it is then the only card data posted.
    se_token = forms.CharField(required=False, widget=BlankHiddenInput)
    brand = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)
    last4 = forms.CharField(required=False, max_length=4, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for name in ("pan", "expiry", "cvc"):
            self.fields[name].widget.attrs["aria-required"] = "true"
        if checkout_settings.CARDHOLDER_NAME == "optional":
            field = self.fields["cardholder_name"]
            field.required = False
            field.label = _("Name on card (optional)")

    @property
    def name_required(self) -> bool:
        return bool(self.fields["cardholder_name"].required)

    def clean_cardholder_name(self) -> str:
        value = self.cleaned_data.get("cardholder_name", "")
        if not value.strip():
            return ""
        try:
            return parse_cardholder_name(value)
        except ValueError as err:
            code = str(err)
            raise forms.ValidationError(_NAME_ERRORS[code], code=code) from None

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
        typed = data.get("pan", "").strip()
        # The digits, for the scheme's CVC length even when the number is wrong.
        pan = re.sub(r"[\s-]", "", typed)
        if not typed:
            self.add_error(
                "pan", forms.ValidationError(_("Enter the card number."), code="required")
            )
        else:
            try:
                pan = parse_pan(typed)
            except ValueError:
                message = _("This card number is not valid. Check it and retry.")
                self.add_error("pan", forms.ValidationError(message, code="invalid"))
        expiry = data.get("expiry", "")
        if not expiry.strip():
            message = _("Enter the expiry date as MM/YY.")
            self.add_error("expiry", forms.ValidationError(message, code="required"))
        else:
            try:
                data["expiry"] = parse_expiry(expiry)
            except ValueError as err:
                code = str(err)
                self.add_error("expiry", forms.ValidationError(_EXPIRY_ERRORS[code], code=code))
        cvc = data.get("cvc", "").strip()
        wanted = 4 if card_brand(pan) == "AMEX" else 3
        if not cvc:
            message = _("Enter the security code from the back of the card.")
            self.add_error("cvc", forms.ValidationError(message, code="required"))
        elif not (cvc.isascii() and cvc.isdigit() and len(cvc) == wanted):
            length = _("The security code is %(count)s digits long.") % {"count": wanted}
            self.add_error("cvc", forms.ValidationError(length, code="length"))
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


class SavedCardForm(forms.Form):
    """Paying with a saved card: which one, and its CVC (or a seToken that holds both).

    The cards offered are the shopper's usable ones; any other id is refused. With the
    browser script the CVC never leaves the page in the clear: it is encrypted with the
    card's bindingId into the seToken.
    """

    saved_card = forms.UUIDField(
        label=_("Saved card"),
        error_messages={
            "required": _("Choose one of your saved cards."),
            "invalid": _("Choose one of your saved cards."),
        },
    )
    cvc = cvc_field()
    se_token = forms.CharField(required=False, widget=BlankHiddenInput)

    def __init__(self, *args: Any, cards: list[Any], ask_cvc: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        # Ids of their own: the card form on the same page has a CVC field too.
        kwargs.setdefault("auto_id", "saved_%s")
        super().__init__(*args, **kwargs)
        self.cards = {str(card.public_id): card for card in cards}
        self.ask_cvc = ask_cvc
        if ask_cvc:
            self.fields["cvc"].widget.attrs["aria-required"] = "true"

    clean_se_token = CardForm.clean_se_token

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        chosen = data.get("saved_card")
        card = self.cards.get(str(chosen)) if chosen else None
        if chosen and card is None:
            self.add_error(
                "saved_card",
                forms.ValidationError(
                    _("This card can no longer be used. Choose another or enter a card."),
                    code="unknown",
                ),
            )
        data["card"] = card
        if data.get("se_token") or "se_token" in self.errors:
            data.pop("cvc", None)
            return data
        cvc = data.get("cvc", "").strip()
        wanted = 4 if card is not None and card.brand.upper() == "AMEX" else 3
        if self.ask_cvc and not cvc:
            message = _("Enter the security code from the back of the card.")
            self.add_error("cvc", forms.ValidationError(message, code="required"))
        elif cvc and not (cvc.isascii() and cvc.isdigit() and len(cvc) == wanted):
            length = _("The security code is %(count)s digits long.") % {"count": wanted}
            self.add_error("cvc", forms.ValidationError(length, code="length"))
        if self.errors:
            data.pop("cvc", None)
        else:
            data["cvc"] = cvc
        return data
