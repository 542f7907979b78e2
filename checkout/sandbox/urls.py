"""The sandbox gateway's URLs. Mount it where the real gateway has ``/payment/``."""

from django.urls import path

from checkout.sandbox import api, views

__all__ = ["app_name", "urlpatterns"]

app_name = "checkout_sandbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("rest/instantPayment.do", api.instant_payment, name="instant_payment"),
    path("rest/getOrderStatusExtended.do", api.order_status, name="order_status"),
    path("rest/deposit.do", api.deposit, name="deposit"),
    path("rest/reverse.do", api.reverse_order, name="reverse"),
    path("rest/refund.do", api.refund, name="refund"),
    path("rest/register.do", api.register, name="register"),
    path("rest/paymentOrderBinding.do", api.payment_order_binding, name="payment_order_binding"),
    path("rest/getBindings.do", api.get_bindings, name="get_bindings"),
    path("rest/unBindCard.do", api.unbind_card, name="unbind_card"),
    path("rest/bindCard.do", api.bind_card, name="bind_card"),
    path("rest/extendBinding.do", api.extend_binding, name="extend_binding"),
    # The ACS page, where JCC's acsUrl points (its "white page").
    path("rest/getwhitepageurl.do", views.acs, name="acs"),
    path("acsRedirect.do", views.acs_redirect, name="acs_redirect"),
    path("se/keys.do", api.keys, name="keys"),
    path("sandbox/orders/", views.orders, name="orders"),
    path("sandbox/orders/<uuid:order_id>/", views.order_detail, name="order"),
    path("sandbox/callbacks/", views.callbacks, name="callbacks"),
    path("sandbox/bindings/", views.bindings, name="bindings"),
    path("sandbox/bindings/<uuid:binding_id>/", views.binding_action, name="binding_action"),
    path("sandbox/callback-key.pem", views.callback_public_key, name="callback_key"),
]
