import pytest
import requests


@pytest.mark.django_db(transaction=True)
def test_sandbox_is_served_over_http(sandbox_url):
    from checkout.conf import checkout_settings

    assert sandbox_url == checkout_settings.GATEWAY_URL
    assert requests.get(sandbox_url, timeout=5).status_code == 200


def test_real_hosts_are_unreachable_from_tests(refused_connections):
    with pytest.raises(requests.ConnectionError):
        requests.get("https://gateway-test.jcc.com.cy/payment/se/keys.do", timeout=5)
    assert refused_connections() == ["gateway-test.jcc.com.cy"]


def test_addresses_outside_loopback_are_refused_without_a_lookup(refused_connections):
    # TEST-NET-1: no name to resolve, so only the guard can stop the connection.
    with pytest.raises(requests.ConnectionError):
        requests.get("https://192.0.2.10/payment/se/keys.do", timeout=5)
    assert refused_connections() == ["192.0.2.10"]
