"""Microversion negotiation and endpoint handling (no network)."""

import pytest

from nativesnap.client import connection
from nativesnap.client import exceptions


def test_negotiation_picks_the_highest_version_both_sides_support():
    assert connection.negotiate((1, 0), (1, 1)) == (1, 1)
    assert connection.negotiate((1, 0), (1, 0)) == (1, 0)  # an older server
    assert connection.negotiate((1, 0), (1, 9)) == (1, 2)  # a newer server
    assert connection.negotiate((1, 0), (1, 9), "latest") == (1, 2)


def test_a_requested_version_is_used_only_if_both_sides_support_it():
    assert connection.negotiate((1, 0), (1, 1), "1.0") == (1, 0)
    with pytest.raises(exceptions.UnsupportedVersion, match="client supports"):
        connection.negotiate((1, 0), (1, 9), "1.5")
    with pytest.raises(exceptions.UnsupportedVersion, match="server offers"):
        connection.negotiate((1, 0), (1, 0), "1.1")


def test_no_common_version_is_a_clear_error():
    with pytest.raises(exceptions.UnsupportedVersion, match="none in common"):
        connection.negotiate((2, 0), (2, 3))


@pytest.mark.parametrize("text", ["1", "1.x", "v1.1", "01.1", " ", "1.1.1"])
def test_malformed_versions_are_refused(text):
    with pytest.raises(exceptions.UnsupportedVersion, match="not a microversion"):
        connection.parse_version(text)


def test_the_endpoint_may_be_given_with_or_without_v1():
    for url in ("http://h:8779", "http://h:8779/", "http://h:8779/v1",
                "http://h:8779/v1/"):
        assert connection.root_endpoint(url) == "http://h:8779"
    assert connection.root_endpoint("https://h/snap/v1") == "https://h/snap"
    with pytest.raises(exceptions.ClientException, match="not an http"):
        connection.root_endpoint("h:8779")


def test_a_session_is_made_with_the_token_plugin_or_no_auth():
    from keystoneauth1 import noauth
    from keystoneauth1 import token_endpoint

    with_token = connection.make_session("http://h:8779", "admin:demo")
    assert isinstance(with_token.auth, token_endpoint.Token)
    assert with_token.get_auth_headers() == {"X-Auth-Token": "admin:demo"}
    anonymous = connection.make_session("http://h:8779")
    assert isinstance(anonymous.auth, noauth.NoAuth)


def _catalog_session(**services):
    """A session whose token's catalog has ``services`` ({type: public URL})."""
    from keystoneauth1 import access
    from keystoneauth1 import fixture
    from keystoneauth1.identity import access as access_plugin
    from keystoneauth1 import session as ks_session

    token = fixture.V3Token()
    token.set_project_scope()
    for service_type, url in services.items():
        token.add_service(service_type).add_endpoint("public", url,
                                                     region="RegionOne")
    auth_ref = access.create(body=token, auth_token="a-token")
    return ks_session.Session(auth=access_plugin.AccessInfoPlugin(auth_ref))


def test_the_endpoint_comes_from_the_catalog_without_v1():
    conn = connection.Connection(_catalog_session(
        identity="http://k:5000/v3", snapshot="http://h:8779/v1"),
        interface="public")
    assert conn.endpoint == "http://h:8779"


def test_a_catalog_without_the_snapshot_service_says_to_give_the_url():
    conn = connection.Connection(_catalog_session(identity="http://k:5000/v3"),
                                 interface="public")
    with pytest.raises(exceptions.ConnectionFailed,
                       match="No 'snapshot' endpoint in the service catalog; "
                             r"give the API's URL \(--url or NATIVESNAP_URL\)"):
        conn.endpoint
