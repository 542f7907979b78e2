"""What the gateway answers, as frozen types, and the tolerant parsers that build them.

The parsers accept every spelling quirk the gateway is known for (numbers as strings,
capitalised keys in ``instantPayment``'s ``orderStatus`` block, blocks left out) and raise
``ValueError`` for values the app cannot represent; the transport maps that onto its
exceptions. Card numbers are kept only when the gateway masked them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from checkout.cards import masked_pan
from checkout.money import currency as currency_info

__all__ = [
    "AcsForm",
    "Binding",
    "BindingInfo",
    "CardAuthInfo",
    "InstantPaymentResult",
    "OperationResult",
    "OrderStatus",
    "PaymentAmountInfo",
    "SeTokenKey",
    "error_code",
    "error_text",
    "parse_bindings",
    "parse_instant_payment",
    "parse_order_status",
    "parse_setoken_keys",
]

# --- answers --------------------------------------------------------------------------


@dataclass(frozen=True)
class InstantPaymentResult:
    """The answer of instantPayment.do."""

    order_id: str
    order_number: str
    order_status: int | None
    action_code: int | None
    acs_url: str
    pa_req: str
    term_url: str
    is_3ds2: bool
    masked_pan: str
    expiration: str
    approval_code: str
    amount: int | None
    currency: str
    info: str
    error_message: str
    redirect: str = ""
    three_ds_method_url: str = ""
    three_ds_method_url_server: str = ""
    three_ds_method_data: str = ""
    three_ds_server_trans_id: str = ""
    packed_creq: str = ""
    cardholder_name: str = ""
    #: The ``orderStatus`` block as sent: its ``ErrorCode``, ``OrderNumber``, amounts and
    #: numeric ``currency``; whether any 3-D Secure field (``acsUrl``, ``is3DSVer2``,
    #: ``threeDSMethod…``) appeared in the answer at all.
    error_code: int | None = None
    has_status_block: bool = False
    status_error_code: int | None = None
    status_order_number: str = ""
    approved_amount: int | None = None
    deposit_amount: int | None = None
    status_currency: str = ""
    mentions_3ds: bool = False

    @property
    def three_ds_method_step(self) -> bool:
        """3DS2 method step without acsUrl (API-NOTES §2.2): authentication, not failure."""
        return not self.acs_url and self.is_3ds2 and bool(self.three_ds_method_url)

    @property
    def requires_3ds(self) -> bool:
        """The shopper must go through 3-D Secure (acsRedirect.do handles both versions)."""
        return bool(self.acs_url) or self.three_ds_method_step

    @property
    def approved(self) -> bool:
        """Held (1) or charged (2) without 3-D Secure; still confirm with a status query."""
        return self.order_status in (1, 2) and not self.requires_3ds

    @property
    def declined(self) -> bool:
        return not self.requires_3ds and not self.approved


@dataclass(frozen=True)
class CardAuthInfo:
    """Card details of an order as the gateway reports them (number already masked)."""

    masked_pan: str = ""
    expiration: str = ""
    cardholder_name: str = ""
    approval_code: str = ""
    payment_system: str = ""


@dataclass(frozen=True)
class PaymentAmountInfo:
    """Amounts of an order in minor units (0 when the gateway omits the block)."""

    payment_state: str = ""
    approved: int = 0
    deposited: int = 0
    refunded: int = 0


@dataclass(frozen=True)
class BindingInfo:
    """``bindingInfo`` of a status answer: the stored credential an order made or used.

    ``auth_ref_num`` and ``auth_at`` are the network reference and time of the binding's
    first payment, which a merchant-initiated payment quotes.
    """

    client_id: str = ""
    binding_id: str = ""
    auth_ref_num: str = ""
    auth_at: datetime | None = None


@dataclass(frozen=True)
class Binding:
    """One stored credential as getBindings.do lists it (number already masked)."""

    binding_id: str
    masked_pan: str = ""
    expiry: str = ""
    payment_system: str = ""


@dataclass(frozen=True)
class OrderStatus:
    """The answer of getOrderStatusExtended.do."""

    order_number: str
    order_id: str
    order_status: int | None
    action_code: int | None
    action_code_description: str
    amount: int
    currency: str
    currency_code: str
    date: datetime | None
    card: CardAuthInfo
    amounts: PaymentAmountInfo
    error_message: str
    auth_date: datetime | None = None
    payment_way: str = ""
    order_description: str = ""
    binding: BindingInfo | None = None
    tii: str = ""


@dataclass(frozen=True)
class OperationResult:
    """The answer of deposit.do, reverse.do or refund.do (errorCode 0)."""

    error_message: str
    error_code: int = 0


@dataclass(frozen=True)
class SeTokenKey:
    """A public key for seToken encryption, as listed by se/keys.do."""

    key_value: str
    protocol_version: str
    expires_at: datetime | None


@dataclass(frozen=True)
class AcsForm:
    """Data of the auto-submitting POST form to the issuer's ACS (regular redirect)."""

    url: str
    fields: dict[str, str] = field(default_factory=dict)


# --- tolerant parsing -------------------------------------------------------------------


def _int(value: Any) -> int | None:
    """``int(str(x))`` for numbers that arrive as numbers or strings; None if absent."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return None
        return int(number) if number.is_integer() else None


def _str(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _from_ms(value: Any) -> datetime | None:
    ms = _int(value)
    if ms is None or ms <= 0:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _folded(block: Any) -> dict[str, Any]:
    # instantPayment's orderStatus block capitalises some keys (ErrorCode, Pan, Amount).
    if not isinstance(block, Mapping):
        return {}
    return {str(key).lower(): value for key, value in block.items()}


def _block(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def error_text(data: Mapping[str, Any]) -> str:
    return _str(data.get("errorMessage") or data.get("error") or "")


def _alpha_currency(numeric: str) -> str:
    if not numeric:
        return ""
    try:
        return currency_info(numeric).code
    except ValueError:
        return ""


#: orderStatus values the API documents (API-NOTES §4.3; -1 is a generic decline).
ORDER_STATUSES = range(-1, 9)
#: Amounts in minor units have at most 12 digits (API-NOTES §2.1).
AMOUNTS = range(10**12)
#: actionCode values fit a 32-bit integer (the model field that keeps them).
ACTION_CODES = range(-(2**31), 2**31)
#: Gateway order ids are UUIDs: 36 characters.
MAX_ORDER_ID_LENGTH = 36


def _in_range(name: str, value: int | None, allowed: range) -> None:
    """ValueError for a value the app cannot represent or interpret (None is absent)."""
    if value is not None and value not in allowed:
        # The value itself may be thousands of digits long: name the field only.
        raise ValueError(f"{name} out of range")


def _check_order_id(order_id: str) -> None:
    if len(order_id) > MAX_ORDER_ID_LENGTH:
        raise ValueError("orderId longer than 36 characters")


def _amount(value: Any, name: str) -> int | None:
    amount = _int(value)
    _in_range(name, amount, AMOUNTS)
    return amount


def parse_instant_payment(data: Mapping[str, Any]) -> InstantPaymentResult:
    """Build an InstantPaymentResult from a decoded instantPayment.do answer.

    Raises ValueError for ids and codes out of range (the client maps it onto its
    exceptions).
    """
    raw_status = data.get("orderStatus")
    status = _folded(raw_status)
    order_status = _int(status.get("orderstatus")) if status else _int(raw_status)
    order_id = _str(data.get("orderId"))
    action_code = _int(data.get("actionCode", status.get("actioncode")))
    _check_order_id(order_id)
    _in_range("orderStatus", order_status, ORDER_STATUSES)
    _in_range("actionCode", action_code, ACTION_CODES)
    return InstantPaymentResult(
        order_id=order_id,
        order_number=_str(data.get("orderNumber") or status.get("ordernumber")),
        order_status=order_status,
        action_code=action_code,
        acs_url=_str(data.get("acsUrl")),
        pa_req=_str(data.get("paReq")),
        term_url=_str(data.get("termUrl")),
        is_3ds2=_bool(data.get("is3DSVer2")),
        masked_pan=masked_pan(
            status.get("pan") or status.get("maskedpan") or data.get("maskedPan")
        ),
        expiration=_str(status.get("expiration")),
        approval_code=_str(status.get("approvalcode")),
        amount=_int(status.get("amount")),
        currency=_str(status.get("currency")),
        info=_str(data.get("info")),
        error_message=error_text(data)
        or (_str(status.get("errormessage")) if _int(status.get("errorcode")) else ""),
        redirect=_str(data.get("redirect")),
        three_ds_method_url=_str(data.get("threeDSMethodURL") or data.get("threeDSMethodUrl")),
        three_ds_method_url_server=_str(
            data.get("threeDSMethodURLServer") or data.get("threeDSMethodUrlServer")
        ),
        three_ds_method_data=_str(data.get("threeDSMethodDataPacked")),
        three_ds_server_trans_id=_str(data.get("threeDSServerTransId")),
        packed_creq=_str(data.get("packedCReq")),
        cardholder_name=_str(status.get("cardholdername")),
        error_code=_int(data.get("errorCode")),
        has_status_block=bool(status),
        status_error_code=_int(status.get("errorcode")),
        status_order_number=_str(status.get("ordernumber")),
        approved_amount=_amount(status.get("approvedamount"), "approvedAmount"),
        deposit_amount=_amount(status.get("depositamount"), "depositAmount"),
        status_currency=_str(status.get("currency")),
        mentions_3ds=any(
            key == "acsurl" or key == "is3dsver2" or key.startswith("threedsmethod")
            for key in (str(name).lower() for name in data)
        ),
    )


def parse_order_status(data: Mapping[str, Any], *, order_id: str = "") -> OrderStatus:
    """Build an OrderStatus from a decoded getOrderStatusExtended.do answer.

    Raises ValueError for ids, codes and amounts out of range (the client maps it onto
    its exceptions).
    """
    md_order = ""
    attributes = data.get("attributes")
    if isinstance(attributes, list):
        for attribute in attributes:
            if isinstance(attribute, Mapping) and attribute.get("name") == "mdOrder":
                md_order = _str(attribute.get("value"))
                break
    card = _block(data, "cardAuthInfo")
    amounts = _block(data, "paymentAmountInfo")
    numeric = _str(data.get("currency"))
    order_status = _int(data.get("orderStatus"))
    action_code = _int(data.get("actionCode"))
    amount = _int(data.get("amount")) or 0
    approved = _int(amounts.get("approvedAmount")) or 0
    deposited = _int(amounts.get("depositedAmount")) or 0
    refunded = _int(amounts.get("refundedAmount")) or 0
    _check_order_id(md_order or order_id)
    _in_range("orderStatus", order_status, ORDER_STATUSES)
    _in_range("actionCode", action_code, ACTION_CODES)
    for name, value in (
        ("amount", amount),
        ("approvedAmount", approved),
        ("depositedAmount", deposited),
        ("refundedAmount", refunded),
    ):
        _in_range(name, value, AMOUNTS)
    return OrderStatus(
        order_number=_str(data.get("orderNumber")),
        order_id=md_order or order_id,
        order_status=order_status,
        action_code=action_code,
        action_code_description=_str(data.get("actionCodeDescription")),
        amount=amount,
        currency=numeric,
        currency_code=_alpha_currency(numeric),
        date=_from_ms(data.get("date")),
        card=CardAuthInfo(
            masked_pan=masked_pan(card.get("maskedPan") or card.get("pan")),
            expiration=_str(card.get("expiration")),
            cardholder_name=_str(card.get("cardholderName")),
            approval_code=_str(card.get("approvalCode")),
            payment_system=_str(card.get("paymentSystem")),
        ),
        amounts=PaymentAmountInfo(
            payment_state=_str(amounts.get("paymentState")),
            approved=approved,
            deposited=deposited,
            refunded=refunded,
        ),
        error_message=error_text(data),
        auth_date=_from_ms(data.get("authDateTime")),
        payment_way=_str(data.get("paymentWay")),
        order_description=_str(data.get("orderDescription")),
        binding=_binding_info(_block(data, "bindingInfo")),
        tii=_str(data.get("tii")),
    )


def _binding_info(block: Mapping[str, Any]) -> BindingInfo | None:
    if not block:
        return None
    return BindingInfo(
        client_id=_str(block.get("clientId")),
        binding_id=_str(block.get("bindingId")),
        auth_ref_num=_str(block.get("authRefNum")),
        auth_at=_from_ms(block.get("authDateTime")),
    )


def parse_bindings(data: Mapping[str, Any]) -> list[Binding]:
    """The stored credentials listed by getBindings.do (entries without an id skipped)."""
    entries = data.get("bindings")
    if not isinstance(entries, list):
        return []
    bindings = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not _str(entry.get("bindingId")):
            continue
        bindings.append(
            Binding(
                binding_id=_str(entry.get("bindingId")),
                masked_pan=masked_pan(entry.get("maskedPan")),
                expiry=_str(entry.get("expiryDate")),
                payment_system=_str(entry.get("paymentSystem")),
            )
        )
    return bindings


def parse_setoken_keys(data: Mapping[str, Any]) -> list[SeTokenKey]:
    """The keys listed by se/keys.do (entries without a key value are skipped)."""
    keys = data.get("keys")
    if not isinstance(keys, list):
        return []
    result = []
    for entry in keys:
        if not isinstance(entry, Mapping) or not entry.get("keyValue"):
            continue
        result.append(
            SeTokenKey(
                key_value=_str(entry.get("keyValue")),
                protocol_version=_str(entry.get("protocolVersion")),
                expires_at=_from_ms(entry.get("keyExpiration")),
            )
        )
    return result


def error_code(data: Mapping[str, Any]) -> int:
    """errorCode as an int: "0", 0 and absent all mean success; ``success`` wins if present."""
    if "success" in data:
        success = data["success"]
        if _bool(success):
            return 0
        code = _int(data.get("errorCode"))
        return code if code else -1
    raw = data.get("errorCode")
    if raw is None or raw == "":
        return 0
    code = _int(raw)
    if code is None:
        raise ValueError(f"errorCode is not a number: {raw!r}")
    return code
