"""The service layer: the only code that creates attempts and changes their status.

``transitions`` holds ``transition()``, the one function that assigns a status;
``attempts`` creates orders and sends claimed attempts to the gateway; ``settlement``
asks the gateway where an attempt stands and applies the answer. The names a shop uses
are re-exported here.
"""

from checkout.services.attempts import (
    abandon_payment,
    create_order,
    new_order_number,
    start_payment,
    submit_payment,
)
from checkout.services.settlement import (
    InstantSettlement,
    apply_order_status,
    instant_settlement,
    query_status,
    refresh_payment,
)
from checkout.services.transitions import send_order_paid, transition

__all__ = [
    "InstantSettlement",
    "abandon_payment",
    "apply_order_status",
    "create_order",
    "instant_settlement",
    "new_order_number",
    "query_status",
    "refresh_payment",
    "send_order_paid",
    "start_payment",
    "submit_payment",
    "transition",
]
