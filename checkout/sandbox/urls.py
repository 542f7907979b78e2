from django.urls import path
from django.http import HttpResponse

app_name = "checkout_sandbox"

urlpatterns = [
    path("", lambda request: HttpResponse("JCC sandbox"), name="index"),
]
