"""The card form's rules, driven by tests/fixtures/card_inputs.json (card.js runs the same
table in tests/browser/test_card_inputs.py): every way of writing a number, an expiry or a
name, and what it must become."""

# ruff: noqa: RUF003

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.utils import timezone

from checkout.cards import CardData, latin_name, parse_cardholder_name, parse_expiry, parse_pan
from checkout.forms import CardForm
from checkout.setoken import build_setoken

TABLE = json.loads(
    (Path(__file__).parent / "fixtures" / "card_inputs.json").read_text(encoding="utf-8")
)
TODAY = date.fromisoformat(TABLE["today"])
VALID = TABLE["valid"]
FIELDS = ("cardholder_name", "pan", "expiry")


def cases(field: str) -> list:
    return [pytest.param(case, id=repr(case["input"])) for case in TABLE[field]]


def parse(field: str, value: str) -> str:
    if field == "expiry":
        return parse_expiry(value, today=TODAY)
    return parse_pan(value) if field == "pan" else parse_cardholder_name(value)


@pytest.fixture
def on_the_tables_day(monkeypatch):
    """The form judges expiries as on the table's day."""
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)


def form_for(field: str, case: dict) -> CardForm:
    data = {**VALID, field: case["input"]}
    if "cvc" in case:
        data["cvc"] = case["cvc"]
    return CardForm(data)


@pytest.mark.parametrize("field", FIELDS)
def test_the_table_covers_values_and_every_error(field):
    assert any("expected" in case for case in TABLE[field])
    assert {case["error"] for case in TABLE[field] if "error" in case} >= {"required"}


@pytest.mark.parametrize("case", cases("expiry"))
def test_expiry(case, on_the_tables_day):
    check("expiry", case)


@pytest.mark.parametrize("case", cases("pan"))
def test_card_number(case, on_the_tables_day):
    check("pan", case)


@pytest.mark.parametrize("case", cases("cardholder_name"))
def test_cardholder_name(case, on_the_tables_day):
    check("cardholder_name", case)


def check(field: str, case: dict) -> None:
    """The rule in checkout.cards and the card form agree with the table."""
    if case["input"].strip():
        if "expected" in case:
            assert parse(field, case["input"]) == case["expected"]
        else:
            with pytest.raises(ValueError) as raised:
                parse(field, case["input"])
            assert str(raised.value) == case["error"]
    form = form_for(field, case)
    if "expected" in case:
        assert form.is_valid(), form.errors
        assert form.cleaned_data[field] == case["expected"]
    else:
        assert not form.is_valid()
        assert [error.code for error in form.errors.as_data()[field]] == [case["error"]]
        assert "pan" not in form.cleaned_data and "cvc" not in form.cleaned_data


def test_errors_never_repeat_the_value():
    for field in FIELDS:
        for case in TABLE[field]:
            if "error" in case and case["input"].strip():
                with pytest.raises(ValueError) as raised:
                    parse(field, case["input"])
                assert case["input"].strip() not in str(raised.value)


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token_fields(key, card: CardData) -> list[str]:
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    token = build_setoken(card, pem)
    return key.decrypt(base64.b64decode(token), padding.PKCS1v15()).decode().split("/")


@pytest.mark.parametrize("case", [c for c in cases("cardholder_name") if "expected" in c.values[0]])
def test_the_setoken_carries_the_latin_name(case, key, on_the_tables_day):
    """The server-built token (no JavaScript) names the cardholder as the gateway takes it."""
    form = form_for("cardholder_name", case)
    assert form.is_valid(), form.errors
    assert token_fields(key, form.card_data())[7] == case["expected"]


def test_card_data_transcribes_a_greek_name_whoever_builds_it(key):
    card = CardData(
        pan="4444555511113333", cvc="739", expiry="203012", cardholder_name="Ελένη Γεωργίου"
    )
    assert card.cardholder_name == "ELENI GEORGIOU"
    assert token_fields(key, card)[7] == "ELENI GEORGIOU"


@pytest.mark.parametrize(
    ("greek", "latin"),
    [
        ("Αυλωνίτης", "AVLONITIS"),  # αυ before λ
        ("Αυτιάς", "AFTIAS"),  # αυ before τ
        ("Ηύρα", "IVRA"),  # ηυ before ρ
        ("Άυλος", "AYLOS"),  # the accent on the first vowel: no digraph
        ("Γκίκας", "GKIKAS"),
        ("Ντίνος", "NTINOS"),
        ("Έλεγχος", "ELENCHOS"),  # γχ
        ("Σφίγξ", "SFINX"),  # γξ
        ("Ἀλέξανδρος", "ALEXANDROS"),  # polytonic breathing
        ("Μπουμπουλίνα", "BOUMPOULINA"),
        ("Κων/νος", "KON/NOS"),  # left for the rules to refuse
    ],
)
def test_elot_743(greek, latin):
    assert latin_name(greek) == latin


def test_an_optional_name_may_be_left_out(settings, key, on_the_tables_day):
    settings.CHECKOUT = {**settings.CHECKOUT, "CARDHOLDER_NAME": "optional"}
    form = CardForm({**VALID, "cardholder_name": " "})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["cardholder_name"] == ""
    assert str(form["cardholder_name"].label) == "Name on card (optional)"
    assert token_fields(key, form.card_data())[7] == ""
    # Given, it follows the same rules.
    form = CardForm({**VALID, "cardholder_name": "Ελένη Γεωργίου"})
    assert form.is_valid() and form.cleaned_data["cardholder_name"] == "ELENI GEORGIOU"
    assert not CardForm({**VALID, "cardholder_name": "A"}).is_valid()
