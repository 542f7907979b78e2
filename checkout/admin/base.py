"""What every page of the checkout admin shares: read-only access, NUL-safe lists, the audit
inline, links between objects, JSON and money columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from checkout import money

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

__all__ = [
    "AdminMixin",
    "AuditInline",
    "ModelAdmin",
    "NulSafeListMixin",
    "ReadOnlyMixin",
    "TabularInline",
    "change_link",
    "format_money",
    "link_column",
    "money_column",
    "pretty_json",
]

_ModelT = TypeVar("_ModelT", bound=Model)
_ChildT = TypeVar("_ChildT", bound=Model)
_ParentT = TypeVar("_ParentT", bound=Model)

# django-stubs makes the admin classes generic (``ModelAdmin[Payment]``); Django's are not
# subscriptable at run time, so the package subclasses them with ``Generic``. For mypy the
# list mixin is a ModelAdmin, so that its ``super()`` calls are checked; at run time it is a
# plain mixin placed before the ModelAdmin.
if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin, TabularInline

    _ListAdmin = ModelAdmin[Any]
else:

    class ModelAdmin(admin.ModelAdmin, Generic[_ModelT]):
        """Django's ModelAdmin, subscriptable at run time as django-stubs makes it for mypy."""

    class TabularInline(admin.TabularInline, Generic[_ChildT, _ParentT]):
        """Django's TabularInline, subscriptable at run time as django-stubs makes it for mypy."""

    _ListAdmin = object

#: The base of a mixin for the checkout's ModelAdmins: a ModelAdmin for mypy, so that its
#: ``super()`` calls are checked; ``object`` at run time, placed before the ModelAdmin.
AdminMixin = _ListAdmin


class _Priced(Protocol):
    @property
    def currency(self) -> str: ...


def format_money(amount: int, currency: str) -> str:
    """An amount in minor units as the operator's language writes it ("€12.50" in English,
    "12,50 €" in Greek); as stored if the currency is unknown.

    Only what the admin shows: its amount fields read and pre-fill the plain form ("12.50",
    ``checkout.admin.forms.amount_input``) whatever the language, and the notes in the
    history keep ``checkout.money.format_amount``'s.
    """
    try:
        return money.format_money(amount, currency)
    except ValueError:
        return f"{amount} {currency}"


def money_column(
    field: str, description: StrOrPromise, ordering: str | None = None
) -> Callable[[object, _Priced], str]:
    """A display method showing ``field`` (minor units) in the object's currency.

    Assign it in a ModelAdmin or inline class body and name it in ``list_display``,
    ``fields`` or ``readonly_fields``, as a method written by hand would be.
    """

    def column(model_admin: object, obj: _Priced) -> str:
        return format_money(getattr(obj, field), obj.currency)

    column.__name__ = column.__qualname__ = f"{field}_column"
    return admin.display(description=description, ordering=ordering)(column)


def change_link(model_name: str, pk: Any, text: Any) -> SafeString:
    """A link to an object's admin page (escaped)."""
    url = reverse(f"admin:jcc_checkout_{model_name}_change", args=[pk])
    return format_html('<a href="{}">{}</a>', url, text)


def link_column(
    model_name: str, description: StrOrPromise, *, pk: str = "pk", text: str | None = None
) -> Callable[[object, Model], str]:
    """A display method linking to the admin page of the ``model_name`` object whose key is
    the ``pk`` attribute, showing the ``text`` attribute (the object itself by default);
    "—" when the key is empty. Used like ``money_column``."""

    def column(model_admin: object, obj: Model) -> str:
        key = getattr(obj, pk)
        if key is None:
            return "—"
        return change_link(model_name, key, obj if text is None else getattr(obj, text))

    column.__name__ = column.__qualname__ = f"{model_name}_link_column"
    return admin.display(description=description)(column)


def pretty_json(value: Any) -> SafeString:
    """A JSON document, indented, in a ``<pre>`` (escaped)."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


class ReadOnlyMixin:
    """No adding, changing or deleting: what is shown is a record of what happened."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class NulSafeListMixin(_ListAdmin):
    """A list whose filter or search parameters hold NUL answers 400: PostgreSQL refuses the
    query (a server error otherwise)."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if any("\x00" in key + value for key, values in request.GET.lists() for value in values):
            return HttpResponseBadRequest(gettext("Invalid character in the list's parameters."))
        return super().changelist_view(request, extra_context)


class AuditInline(ReadOnlyMixin, TabularInline[_ChildT, _ParentT]):
    """A read-only inline shown to whoever may view payments, oldest record first."""

    ordering = ("created_at", "pk")
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("jcc_checkout.view_payment")
