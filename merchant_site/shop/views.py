from django.shortcuts import render

from merchant_site.shop.models import Product


def catalogue(request):
    return render(request, "shop/catalogue.html", {"products": Product.objects.all()})
