"""Saved cards and merchant-initiated payments, against the sandbox over real HTTP.

A signed-in shopper saves a card on a first payment, pays with it by its CVC alone, removes
it; the shop charges it without the shopper (tii U, R, I). Everything goes through the
sandbox's stored credentials (getBindings.do, unBindCard.do, bindingInfo), nothing mocked.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from checkout import access, signals
from checkout.exceptions import GatewayUnavailable
from checkout.gateway import get_client
from checkout.models import Exchange, Order, Payment, PaymentStatus, SavedCard, Source, Wallet
from checkout.sandbox.models import Binding as BankBinding
from checkout.sandbox.models import Order as BankOrder
from checkout.services import create_order
from checkout.services.bindings import wallet_for
from checkout.services.saved_cards import (
    CardNotChargeable,
    charge_saved_card,
    reconcile_wallet,
    remove_card,
)
from checkout.setoken import build_binding_setoken, current_public_key
from tests.test_flow import (
    APPROVE,
    CHALLENGE,
    CVC,
    card_url,
    come_back,
    latest,
    pay,
    set_fault,
    status_url,
    through_acs,
)

S = PaymentStatus
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("bank")]

CARDS_URL = "/account/cards/"


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture
def bank(sandbox_url: str) -> str:
    """The sandbox over real HTTP (its key is new for each test database: forget ours)."""
    cache.clear()
    return sandbox_url


@pytest.fixture
def shopper(client):
    user = get_user_model().objects.create_user("ana", "ana@shop.example", "pw-ana-2026")
    client.force_login(user)
    return user


def shopper_order(client, owner, *, amount: int = 1890, recurrence: str = "") -> Order:
    """An order the shop made for ``owner`` in this browser session."""
    order = create_order(
        amount=amount,
        currency="EUR",
        description="Halloumi",
        email="ana@shop.example",
        owner=owner,
        recurrence=recurrence,
    )
    session = client.session
    session[access.SESSION_KEY] = [*session.get(access.SESSION_KEY, []), str(order.public_id)]
    session.save()
    return order


def save_card(client, owner, pan: str = APPROVE) -> SavedCard:
    """Pay a first order, ticking "save this card"; the card the payment saved."""
    order = shopper_order(client, owner)
    response = client.post(
        card_url(order),
        {
            "cardholder_name": "Ana Shopper",
            "pan": pan,
            "expiry": "12/34",
            "cvc": CVC,
            "save_card": "on",
        },
    )
    if latest(order).status == S.AWAITING_3DS:
        come_back(client, through_acs(client, response))
    payment = latest(order)
    assert payment.status == S.PAID, payment.status
    return SavedCard.objects.get(first_payment=payment)


def sent(payment: Payment, operation: str = "instantPayment.do") -> dict:
    return Exchange.objects.filter(payment=payment, operation=operation).get().request


def mit_order(wallet: Wallet, amount: int = 1290) -> Order:
    order = create_order(amount=amount, currency="EUR", description="Halloumi, month 2")
    order.wallet = wallet
    order.save(update_fields=["wallet"])
    return order


def bank_binding(card: SavedCard) -> BankBinding:
    return BankBinding.objects.get(pk=card.binding_id)


def sync() -> str:
    out = StringIO()
    call_command("checkout_sync", "--older-than", "0", "--workers", "1", stdout=out)
    return out.getvalue()


# --- saving ------------------------------------------------------------------------------


def test_a_first_payment_saves_the_card_from_the_status_answer(client, shopper):
    added = []
    signals.saved_card_added.connect(
        lambda sender, card, payment, **kw: added.append((card.pk, payment.pk)),
        dispatch_uid="test-added",
        weak=False,
    )
    try:
        card = save_card(client, shopper)
    finally:
        signals.saved_card_added.disconnect(dispatch_uid="test-added")
    payment = card.first_payment
    wallet = wallet_for(shopper, create=False)
    assert card.wallet == wallet and payment.wallet == wallet and payment.tii == "CI"
    request = sent(payment)
    assert request["clientId"] == wallet.client_id and request["tii"] == "CI"
    assert "bindingNotNeeded" not in request
    # The binding is the gateway's, read from the status query that confirmed the payment.
    bindings = get_client().get_bindings(wallet.client_id)
    assert [b.binding_id for b in bindings] == [card.binding_id]
    assert Exchange.objects.filter(payment=payment, operation="getOrderStatusExtended.do").exists()
    assert (card.brand, card.masked_pan, card.expiry) == ("VISA", "444455**3333", "203412")
    assert card.network_reference == bank_binding(card).auth_ref_num and card.first_paid_at
    assert card.usable() and added == [(card.pk, payment.pk)]
    # The clientId is random and opaque, never the user's primary key.
    assert len(wallet.client_id) >= 20 and str(shopper.pk) != wallet.client_id


def test_no_card_data_is_kept(client, shopper):
    card = save_card(client, shopper)
    for table in ("jcc_checkout_savedcard", "jcc_checkout_wallet", "jcc_checkout_payment"):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table}")
            dump = repr(cursor.fetchall())
        assert APPROVE not in dump and "4444 5555" not in dump, table
    assert card.masked_pan == "444455**3333"


def test_without_the_tick_the_gateway_keeps_no_card(client, shopper):
    order = shopper_order(client, shopper)
    pay(client, order, APPROVE)
    payment = latest(order)
    assert payment.status == S.PAID and payment.wallet is None and payment.tii == ""
    request = sent(payment)
    assert request["bindingNotNeeded"] == "true" and "clientId" not in request
    assert not SavedCard.objects.exists() and not BankBinding.objects.exists()


def test_an_anonymous_shopper_is_not_offered_saving(client):
    order = create_order(amount=1000, currency="EUR", description="x")
    session = client.session
    session[access.SESSION_KEY] = [str(order.public_id)]
    session.save()
    page = client.get(card_url(order)).content.decode()
    assert 'name="save_card"' not in page
    # A forged tick is ignored: there is nobody to save the card for.
    client.post(
        card_url(order),
        {
            "cardholder_name": "X Y",
            "pan": APPROVE,
            "expiry": "12/34",
            "cvc": CVC,
            "save_card": "on",
        },
    )
    assert latest(order).status == S.PAID and not Wallet.objects.exists()


def test_a_subscription_order_saves_the_card_as_recurring(client, shopper):
    order = shopper_order(client, shopper, recurrence=Order.Recurrence.RECURRING)
    page = client.get(card_url(order)).content.decode()
    assert "saved for the next payments of your subscription" in page
    pay(client, order, APPROVE)
    payment = latest(order)
    assert payment.tii == "RI" and sent(payment)["tii"] == "RI"
    assert SavedCard.objects.get(first_payment=payment).usable()


def test_saving_a_3ds_card(client, shopper):
    card = save_card(client, shopper, CHALLENGE)
    assert card.brand == "MASTERCARD" and card.network_reference


def test_a_binding_created_callback_records_a_card_whose_answer_was_missed(
    client, shopper, settings
):
    card = save_card(client, shopper)
    payment = card.first_payment
    card.delete()
    settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_SECRETS": ["sandbox-callback-secret"]}
    from checkout.checksum import sign_hmac as sign

    params = {
        "mdOrder": payment.gateway_order_id,
        "orderNumber": payment.order_number,
        "operation": "bindingCreated",
        "status": "1",
    }
    params["checksum"] = sign(params, "sandbox-callback-secret")
    assert client.get(reverse("jcc_checkout:callback"), params).status_code == 200
    again = SavedCard.objects.get(first_payment=payment)
    assert again.binding_id == str(bank_binding(again).pk)


# --- paying with a saved card ------------------------------------------------------------


def test_pay_with_a_saved_card_by_its_cvc(client, shopper):
    card = save_card(client, shopper)
    order = shopper_order(client, shopper)
    page = client.get(card_url(order)).content.decode()
    assert str(card.public_id) in page and "Pay with a saved card" in page
    assert card.binding_id in page  # the browser builds the seToken with it
    response = client.post(card_url(order), {"saved_card": str(card.public_id), "cvc": "321"})
    payment = latest(order)
    assert response.status_code == 303 and response["Location"] == status_url(payment)
    assert payment.status == S.PAID and payment.saved_card == card and payment.tii == "F"
    request = sent(payment)
    assert request["seToken"] == "[redacted]" and request["tii"] == "F"
    assert request["originalPaymentNetRefNum"] == card.network_reference
    assert "pan" not in request and "cvc" not in request and "bindingId" not in request
    bank = BankOrder.objects.get(pk=payment.gateway_order_id)
    assert bank.status == 2 and str(bank.binding_id) == card.binding_id
    card.refresh_from_db()
    assert card.last_used_at is not None


def test_pay_with_a_saved_3ds_card_goes_through_3ds(client, shopper):
    card = save_card(client, shopper, CHALLENGE)
    order = shopper_order(client, shopper)
    response = client.post(card_url(order), {"saved_card": str(card.public_id), "cvc": "321"})
    payment = latest(order)
    assert payment.status == S.AWAITING_3DS and payment.saved_card == card
    come_back(client, through_acs(client, response))
    payment.refresh_from_db()
    assert payment.status == S.PAID
    assert list(payment.history.values_list("to_status", flat=True)) == [
        S.PROCESSING,
        S.AWAITING_3DS,
        S.PAID,
    ]


def test_the_cvc_is_asked_for(client, shopper):
    card = save_card(client, shopper)
    order = shopper_order(client, shopper)
    response = client.post(card_url(order), {"saved_card": str(card.public_id), "cvc": ""})
    assert response.status_code == 200
    assert "Enter the security code" in response.content.decode()
    assert not order.payments.exists()


def test_another_shoppers_card_cannot_be_used(client, shopper):
    card = save_card(client, shopper)
    other = get_user_model().objects.create_user("eve", "eve@shop.example", "pw-eve-2026")
    client.force_login(other)
    order = shopper_order(client, other)
    page = client.get(card_url(order)).content.decode()
    assert str(card.public_id) not in page and card.binding_id not in page
    response = client.post(card_url(order), {"saved_card": str(card.public_id), "cvc": "321"})
    assert response.status_code == 200 and "can no longer be used" in response.content.decode()
    assert not order.payments.exists()


def test_a_forged_token_with_another_shoppers_binding_is_refused(client, shopper):
    theirs = save_card(client, shopper)
    other = get_user_model().objects.create_user("eve", "eve@shop.example", "pw-eve-2026")
    client.force_login(other)
    mine = save_card(client, other, CHALLENGE)
    order = shopper_order(client, other)
    # Eve posts her own card's id with a token she built around Ana's bindingId.
    token = build_binding_setoken(theirs.binding_id, "321", current_public_key())
    client.post(card_url(order), {"saved_card": str(mine.public_id), "se_token": token})
    payment = latest(order)
    assert payment.status == S.FAILED and sent(payment)["clientId"] == mine.wallet.client_id
    assert (
        not BankOrder.objects.filter(binding_id=theirs.binding_id)
        .exclude(pk=theirs.first_payment.gateway_order_id)
        .exists()
    )


def test_an_order_made_for_a_shopper_shows_their_cards_only_to_them(client, shopper):
    card = save_card(client, shopper)
    order = shopper_order(client, shopper)
    client.logout()
    session = client.session
    session[access.SESSION_KEY] = [str(order.public_id)]
    session.save()
    page = client.get(card_url(order)).content.decode()
    assert str(card.public_id) not in page and 'name="save_card"' not in page


def test_an_expired_card_is_shown_but_not_offered(client, shopper):
    card = save_card(client, shopper)
    last_month = timezone.localdate().replace(day=1) - timedelta(days=1)
    SavedCard.objects.filter(pk=card.pk).update(expiry=f"{last_month:%Y%m}")
    order = shopper_order(client, shopper)
    page = client.get(card_url(order)).content.decode()
    offered = f'name="saved_card" value="{card.public_id}" data'
    assert "has expired" in page and offered not in page
    response = client.post(card_url(order), {"saved_card": str(card.public_id), "cvc": "321"})
    assert "can no longer be used" in response.content.decode()
    card.refresh_from_db()
    assert card.expired() and not card.usable()
    with pytest.raises(CardNotChargeable) as err:
        charge_saved_card(card, mit_order(card.wallet), reason="U", idempotency_key="exp-1")
    assert err.value.reason == CardNotChargeable.EXPIRED


# --- merchant-initiated payments ---------------------------------------------------------


@pytest.mark.parametrize("reason", ["U", "R", "I"])
def test_merchant_initiated_payment(client, shopper, reason):
    card = save_card(client, shopper, CHALLENGE)  # a 3-D Secure card: no 3DS for an MIT
    charged = []
    signals.saved_card_charged.connect(
        lambda sender, payment, card, succeeded, **kw: charged.append((payment.pk, succeeded)),
        dispatch_uid="test-charged",
        weak=False,
    )
    try:
        payment = charge_saved_card(
            card, mit_order(card.wallet), reason=reason, idempotency_key=f"k-{reason}"
        )
    finally:
        signals.saved_card_charged.disconnect(dispatch_uid="test-charged")
    assert payment.status == S.PAID and payment.tii == reason and not payment.preauth
    request = sent(payment)
    assert request["tii"] == reason and request["bindingId"] == card.binding_id
    assert request["originalPaymentNetRefNum"] == card.network_reference
    assert request["originalPaymentDate"] == str(int(card.first_paid_at.timestamp()) * 1000)
    assert "seToken" not in request and "cvc" not in request and "pan" not in request
    assert list(payment.history.values_list("to_status", "source")) == [
        (S.PROCESSING, Source.MERCHANT),
        (S.PAID, Source.MERCHANT),
    ]
    assert charged == [(payment.pk, True)]


def test_merchant_initiated_decline_keeps_the_card_unless_it_is_gone(client, shopper):
    card = save_card(client, shopper)
    BankBinding.objects.filter(pk=card.binding_id).update(cancelled_action_code=116)
    payment = charge_saved_card(card, mit_order(card.wallet), reason="R", idempotency_key="d-1")
    assert payment.status == S.DECLINED and payment.action_code == 116
    card.refresh_from_db()
    assert card.usable()  # not enough funds today: the card stays


@pytest.mark.parametrize("code", [125, 208])
def test_a_binding_the_bank_cancelled_is_declined_and_disabled(client, shopper, code):
    card = save_card(client, shopper)
    BankBinding.objects.filter(pk=card.binding_id).update(cancelled_action_code=code)
    payment = charge_saved_card(card, mit_order(card.wallet), reason="U", idempotency_key="c-1")
    assert payment.status == S.DECLINED and payment.action_code == code
    card.refresh_from_db()
    assert not card.active and card.deactivation_text == f"declined by the bank: action code {code}"


def test_merchant_initiated_payment_on_a_card_expired_at_the_bank(client, shopper):
    card = save_card(client, shopper)
    BankBinding.objects.filter(pk=card.binding_id).update(expiry="202001")
    payment = charge_saved_card(card, mit_order(card.wallet), reason="U", idempotency_key="e-1")
    assert payment.status == S.DECLINED and payment.action_code == 101
    card.refresh_from_db()
    assert not card.active


def test_a_removed_card_cannot_be_charged(client, shopper):
    card = save_card(client, shopper)
    remove_card(card)
    with pytest.raises(CardNotChargeable) as err:
        charge_saved_card(card, mit_order(card.wallet), reason="U", idempotency_key="r-1")
    assert err.value.reason == CardNotChargeable.REMOVED
    assert not Payment.objects.filter(idempotency_key="r-1").exists()


def test_a_card_unbound_at_the_gateway_fails_cleanly(client, shopper):
    card = save_card(client, shopper)
    get_client().unbind_card(card.binding_id)  # removed behind the shop's back
    payment = charge_saved_card(card, mit_order(card.wallet), reason="U", idempotency_key="u-1")
    assert payment.status == S.FAILED
    assert BankOrder.objects.filter(binding_id=card.binding_id, status=2).count() == 1  # the first


def test_the_same_idempotency_key_never_charges_twice(client, shopper):
    card = save_card(client, shopper)
    order = mit_order(card.wallet)
    first = charge_saved_card(card, order, reason="R", idempotency_key="period-2")
    again = charge_saved_card(card, order, reason="R", idempotency_key="period-2")
    assert again.pk == first.pk and first.status == S.PAID
    assert (
        Exchange.objects.filter(operation="instantPayment.do", payment__saved_card=card).count()
        == 1
    )
    with pytest.raises(ValueError):
        charge_saved_card(card, mit_order(card.wallet), reason="R", idempotency_key="period-2")


def test_an_unknown_outcome_is_settled_by_sync_and_never_charged_twice(client, shopper):
    card = save_card(client, shopper)
    order = mit_order(card.wallet)
    set_fault("drop_after", endpoint="instantPayment.do")
    payment = charge_saved_card(card, order, reason="R", idempotency_key="period-3")
    assert payment.status == S.OUTCOME_UNKNOWN
    # The caller's retry finds the same payment and does not call the gateway again.
    again = charge_saved_card(card, order, reason="R", idempotency_key="period-3")
    assert again.pk == payment.pk
    assert Exchange.objects.filter(payment=payment, operation="instantPayment.do").count() == 1
    sync()
    payment.refresh_from_db()
    assert payment.status == S.PAID
    assert BankOrder.objects.filter(order_number=payment.order_number).count() == 1
    assert charge_saved_card(card, order, reason="R", idempotency_key="period-3").status == S.PAID


def test_a_charge_that_certainly_failed_frees_its_key(client, shopper):
    card = save_card(client, shopper)
    order = mit_order(card.wallet)
    set_fault("http429", endpoint="instantPayment.do")  # refused: certainly not carried out
    with pytest.raises(GatewayUnavailable):
        charge_saved_card(card, order, reason="U", idempotency_key="retry-me")
    first = Payment.objects.get(idempotency_key="retry-me")
    assert first.status == S.FAILED
    second = charge_saved_card(card, order, reason="U", idempotency_key="retry-me")
    assert second.pk != first.pk and second.status == S.PAID


# --- removing, reconciling ---------------------------------------------------------------


def test_the_shopper_removes_a_card(client, shopper):
    card = save_card(client, shopper)
    page = client.get(CARDS_URL)
    assert page.status_code == 200 and "444455" not in page.content.decode()  # last four only
    assert "3333" in page.content.decode()
    response = client.post(CARDS_URL, {"remove": str(card.public_id)})
    assert response.status_code == 303
    card.refresh_from_db()
    assert not card.active and card.unbind == SavedCard.Unbind.DONE
    assert not bank_binding(card).active
    after = client.get(CARDS_URL).content.decode()
    assert f'data-card="{card.public_id}"' not in after and "no saved cards" in after


def test_a_shopper_cannot_remove_someone_elses_card(client, shopper):
    card = save_card(client, shopper)
    other = get_user_model().objects.create_user("eve", "eve@shop.example", "pw-eve-2026")
    client.force_login(other)
    assert client.post(CARDS_URL, {"remove": str(card.public_id)}).status_code == 400
    assert client.post(CARDS_URL, {"remove": "not-a-uuid"}).status_code == 400
    card.refresh_from_db()
    assert card.usable() and bank_binding(card).active


def test_the_cards_page_needs_a_signed_in_shopper(client):
    response = client.get(CARDS_URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_removal_does_not_wait_for_the_gateway(client, shopper):
    card = save_card(client, shopper)
    set_fault("http500_before", endpoint="unBindCard.do", calls=1)
    client.post(CARDS_URL, {"remove": str(card.public_id)})
    card.refresh_from_db()
    assert not card.active and card.unbind == SavedCard.Unbind.PENDING
    assert bank_binding(card).active  # the gateway never heard of it
    order = shopper_order(client, shopper)
    assert str(card.public_id) not in client.get(card_url(order)).content.decode()
    out = sync()
    card.refresh_from_db()
    assert card.unbind == SavedCard.Unbind.DONE and not bank_binding(card).active
    assert "1 unbound" in out


def test_reconciliation_with_get_bindings(client, shopper):
    kept = save_card(client, shopper)
    gone = save_card(client, shopper, CHALLENGE)
    wallet = kept.wallet
    get_client().unbind_card(gone.binding_id)  # unbound at the gateway
    get_client().extend_binding(kept.binding_id, "203912")  # renewed card
    counts = reconcile_wallet(wallet)
    kept.refresh_from_db()
    gone.refresh_from_db()
    assert kept.expiry == "203912" and kept.usable()
    assert not gone.active and gone.deactivation_reason
    assert counts["deactivated"] == 1 and counts["updated"] == 1
    # A binding the shop lost track of comes back, without the first payment's reference.
    lost = kept.binding_id
    SavedCard.objects.filter(pk=kept.pk).delete()
    reconcile_wallet(wallet)
    found = SavedCard.objects.get(wallet=wallet, binding_id=lost)
    assert found.usable() and not found.network_reference
    with pytest.raises(CardNotChargeable) as err:
        charge_saved_card(found, mit_order(wallet), reason="U", idempotency_key="lost-1")
    assert err.value.reason == CardNotChargeable.NO_REFERENCE


def test_sync_compares_wallets_that_are_due(client, shopper, settings):
    card = save_card(client, shopper)
    get_client().unbind_card(card.binding_id)
    out = sync()
    card.refresh_from_db()
    assert not card.active and "1 wallet(s) compared" in out
    Wallet.objects.update(checked_at=timezone.now())
    assert "wallet(s) compared" not in sync()  # not due again yet


def test_a_binding_activity_callback_compares_the_wallet(client, shopper, settings):
    card = save_card(client, shopper)
    get_client().unbind_card(card.binding_id)
    settings.CHECKOUT = {**settings.CHECKOUT, "CALLBACK_SECRETS": ["sandbox-callback-secret"]}
    from checkout.checksum import sign_hmac as sign

    params = {
        "bindingId": card.binding_id,
        "clientId": card.wallet.client_id,
        "operation": "bindingActivityChanged",
        "status": "0",
    }
    params["checksum"] = sign(params, "sandbox-callback-secret")
    assert client.get(reverse("jcc_checkout:callback"), params).status_code == 200
    card.refresh_from_db()
    assert not card.active


def test_deleting_the_account_unbinds_every_card(client, shopper):
    first = save_card(client, shopper)
    second = save_card(client, shopper, CHALLENGE)
    set_fault("http500_before", endpoint="unBindCard.do", calls=1)
    shopper.delete()
    wallet = Wallet.objects.get(pk=first.wallet_id)
    assert wallet.closed_at is not None
    states = dict(SavedCard.objects.values_list("pk", "unbind"))
    # One unbind failed (the gateway was down): it stays as a tombstone for checkout_sync.
    assert sorted(states.values()) == [SavedCard.Unbind.DONE, SavedCard.Unbind.PENDING]
    sync()
    for card in (first, second):
        card.refresh_from_db()
        assert card.unbind == SavedCard.Unbind.DONE and not bank_binding(card).active


# --- the admin ---------------------------------------------------------------------------


def operator(name: str, *codenames: str):
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(name, f"{name}@shop.example", "pw-op-2026")
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def charge_url(card: SavedCard) -> str:
    return reverse("admin:jcc_checkout_savedcard_charge", args=[card.pk])


def test_charging_a_saved_card_from_the_admin(client, shopper):
    card = save_card(client, shopper)
    client.force_login(operator("clerk", "view_savedcard", "view_payment"))
    assert client.get(charge_url(card)).status_code == 403  # no charge permission
    client.force_login(operator("boss", "charge_saved_card", "view_savedcard", "view_payment"))
    page = client.get(charge_url(card))
    assert page.status_code == 200
    assert "Submitting this form twice charges once" in page.content.decode()
    key = page.context["form"].initial["key"]
    data = {"amount": "12.90", "reason": "R", "description": "Month 2", "key": key}
    first = client.post(charge_url(card), data)
    again = client.post(charge_url(card), data)  # a double submit
    assert first.status_code == again.status_code == 302
    payment = Payment.objects.get(idempotency_key=f"admin:{key}")
    assert payment.status == S.PAID and payment.amount == 1290 and payment.tii == "R"
    assert payment.order.wallet == card.wallet
    assert Payment.objects.filter(saved_card=card).count() == 1
    bad = client.post(charge_url(card), {**data, "amount": "twelve", "key": "other"})
    assert bad.status_code == 200 and Payment.objects.filter(saved_card=card).count() == 1


def test_deactivating_from_the_admin_unbinds(client, shopper):
    card = save_card(client, shopper)
    changelist = reverse("admin:jcc_checkout_savedcard_changelist")
    client.force_login(operator("viewer", "view_savedcard"))
    page = client.get(changelist).content.decode()
    assert 'value="deactivate"' not in page and 'value="charge"' not in page
    client.post(changelist, {"action": "deactivate", "_selected_action": [card.pk]})
    card.refresh_from_db()
    assert card.usable()  # an action the user was not offered does nothing
    client.force_login(operator("clerk", "view_savedcard", "change_savedcard"))
    response = client.post(
        reverse("admin:jcc_checkout_savedcard_changelist"),
        {"action": "deactivate", "_selected_action": [card.pk]},
    )
    assert response.status_code == 302
    card.refresh_from_db()
    assert not card.active and card.unbind == SavedCard.Unbind.DONE
    assert not bank_binding(card).active
