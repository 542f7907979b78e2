"""The shopper's own saved cards: the list, and removing one.

For shops whose shoppers sign in with Django's auth: the page lists the signed-in user's
cards. A shop whose wallets belong to another model builds its own page on
``checkout.services.saved_cards`` (``shopper_cards``, ``remove_card``).
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from checkout.models import SavedCard
from checkout.services.bindings import wallet_for
from checkout.services.saved_cards import remove_card, shopper_cards

__all__ = ["saved_cards"]


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def saved_cards(request: HttpRequest) -> HttpResponse:
    """List the signed-in shopper's saved cards; POST ``remove=<card id>`` removes one."""
    wallet = wallet_for(request.user, create=False)
    if request.method == "POST":
        card = None
        try:
            public_id = uuid.UUID(request.POST.get("remove", ""))
        except ValueError:
            public_id = None
        if wallet is not None and public_id is not None:
            card = wallet.cards.filter(public_id=public_id, unbind=SavedCard.Unbind.NONE).first()
        if card is None:
            return render(
                request,
                "checkout/saved_cards.html",
                {"cards": shopper_cards(wallet), "error": _("That card is not in your list.")},
                status=400,
            )
        remove_card(card)
        messages.success(
            request,
            _("The card ending in %(last4)s was removed.") % {"last4": card.last4 or "…"},
        )
        response = HttpResponseRedirect(request.path)
        response.status_code = 303
        return response
    return render(request, "checkout/saved_cards.html", {"cards": shopper_cards(wallet)})
