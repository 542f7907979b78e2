import pytest
import requests


@pytest.mark.django_db(transaction=True)
def test_sandbox_is_served_over_http(sandbox_url):
    from checkout.conf import checkout_settings

    assert sandbox_url == checkout_settings.GATEWAY_URL
    assert requests.get(sandbox_url, timeout=5).status_code == 200


def test_real_hosts_are_unreachable_from_tests():
    with pytest.raises(requests.ConnectionError):
        requests.get("https://gateway-test.jcc.com.cy/payment/se/keys.do", timeout=5)
