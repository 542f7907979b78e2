"""Django admin for operators: an audit trail and the back-office actions.

Orders, payments, notifications and the exchange log are read-only here. Every action goes
through the service layer (``checkout.backoffice``, ``checkout.services``), which locks the
payment and records who did what and why; each selected order gets its own success or
failure message.

Importing the package registers the ModelAdmins (Django's autodiscovery imports it):
``base`` holds what the pages share, ``forms`` and ``actions`` the back-office operations,
and ``payments``, ``orders`` and ``audit`` one family of models each.
"""

from __future__ import annotations

from checkout.admin.audit import ExchangeAdmin, NotificationAdmin
from checkout.admin.orders import OrderAdmin
from checkout.admin.payments import PaymentAdmin
from checkout.admin.saved_cards import SavedCardAdmin, WalletAdmin

__all__ = [
    "ExchangeAdmin",
    "NotificationAdmin",
    "OrderAdmin",
    "PaymentAdmin",
    "SavedCardAdmin",
    "WalletAdmin",
]
