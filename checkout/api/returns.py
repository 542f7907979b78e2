"""Where the return view sends a shopper who paid through the API: the front end's
``return_url``, with the payment's id and status in the query."""

from __future__ import annotations

from checkout.api.origins import with_result
from checkout.models import ApiSubmission, Payment

__all__ = ["api_return_url"]


def api_return_url(payment: Payment) -> str | None:
    """The payment's return_url with ``payment`` and ``status`` added; None without one."""
    url = (
        ApiSubmission.objects.filter(payment=payment)
        .exclude(return_url="")
        .values_list("return_url", flat=True)
        .first()
    )
    if not url:
        return None
    return with_result(url, payment=str(payment.public_id), status=str(payment.status))
