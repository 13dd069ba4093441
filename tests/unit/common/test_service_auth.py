"""The auth plugin for calls on a user's behalf: the user's token, endpoints
from the request's catalog (or a configured URL), and with [service_user]
send_service_user_token the service user's token as X-Service-Token; none at
all for a context without a token (the service's own work)."""

import logging

from keystoneauth1 import session as ks_session
from oslo_config import cfg
import pytest

from nativesnap.common import service_auth
from nativesnap.conf import service_user as service_user_conf
from nativesnap import context as ns_context

USER_TOKEN = "user-token-3a9f"
SERVICE_TOKEN = "service-token-81c2"
PROJECT = "5e7a1ce"
CATALOG = [{"type": "volumev3", "name": "cinderv3", "endpoints": [
    {"region": "RegionOne", "publicURL": f"http://public:8776/v3/{PROJECT}",
     "internalURL": f"http://internal:8776/v3/{PROJECT}"},
    {"region": "RegionTwo", "publicURL": f"http://two:8776/v3/{PROJECT}"}]}]


def make_conf(tmp_path, **options):
    """[service_user] read from a file, as the services read theirs."""
    path = tmp_path / "nativesnap.conf"
    lines = ["[service_user]"] + [f"{k} = {v}" for k, v in options.items()]
    path.write_text("\n".join(lines) + "\n")
    conf = cfg.ConfigOpts()
    service_user_conf.register_opts(conf)
    conf([], project="nativesnap", default_config_files=[str(path)],
         default_config_dirs=[])
    return conf


@pytest.fixture(autouse=True)
def _fresh_service_user():
    service_auth.reset()
    yield
    service_auth.reset()


def user_context(token=USER_TOKEN, catalog=CATALOG):
    return ns_context.RequestContext(auth_token=token, user_id="u1",
                                     project_id=PROJECT, roles=["member"],
                                     service_catalog=catalog)


def headers(auth):
    return auth.get_headers(ks_session.Session())


def test_disabled_the_plugin_sends_the_users_token_only(tmp_path):
    auth = service_auth.user_auth(user_context(), make_conf(tmp_path))
    assert headers(auth) == {"X-Auth-Token": USER_TOKEN}
    session = ks_session.Session()
    assert auth.get_project_id(session) == PROJECT
    assert auth.get_user_id(session) == "u1"


def test_enabled_the_service_users_token_goes_along_as_x_service_token(tmp_path):
    conf = make_conf(tmp_path, send_service_user_token="true",
                     auth_type="admin_token", endpoint="http://unused",
                     token=SERVICE_TOKEN)
    auth = service_auth.user_auth(user_context(), conf)
    assert headers(auth) == {"X-Auth-Token": USER_TOKEN,
                             "X-Service-Token": SERVICE_TOKEN}
    # Endpoints and the project stay the user's.
    assert auth.get_project_id(ks_session.Session()) == PROJECT
    assert auth.get_endpoint(ks_session.Session(), service_type="volumev3",
                             interface="public") == (
        f"http://public:8776/v3/{PROJECT}")


def test_enabled_without_auth_type_warns_and_sends_the_users_token_only(
        tmp_path, caplog):
    conf = make_conf(tmp_path, send_service_user_token="true")
    with caplog.at_level(logging.WARNING):
        auth = service_auth.user_auth(user_context(), conf)
    assert headers(auth) == {"X-Auth-Token": USER_TOKEN}
    assert "auth_type is not set" in caplog.text


def test_a_context_without_a_token_gets_no_plugin(tmp_path):
    conf = make_conf(tmp_path, send_service_user_token="true",
                     auth_type="admin_token", endpoint="http://x", token="t")
    assert service_auth.user_auth(None, conf) is None
    assert service_auth.user_auth(ns_context.get_admin_context(), conf) is None
    noauth2 = ns_context.RequestContext(user_id="alice", project_id="p1",
                                        roles=["member"])
    assert service_auth.user_auth(noauth2, conf) is None


@pytest.mark.parametrize("filters,url", [
    ({"interface": ["internal", "public"]}, f"http://internal:8776/v3/{PROJECT}"),
    ({"interface": ["public"], "region_name": "RegionTwo"},
     f"http://two:8776/v3/{PROJECT}"),
    ({"interface": None}, f"http://public:8776/v3/{PROJECT}"),
])
def test_endpoints_come_from_the_requests_catalog(tmp_path, filters, url):
    auth = service_auth.user_auth(user_context(), make_conf(tmp_path))
    assert auth.get_endpoint(ks_session.Session(), service_type="volumev3",
                             **filters) == url


def test_a_configured_endpoint_override_wins_over_the_catalog(tmp_path):
    auth = service_auth.user_auth(user_context(catalog=[]), make_conf(tmp_path),
                                  endpoint_override="http://fixed:8776/v3")
    assert auth.get_endpoint(ks_session.Session(),
                             service_type="volumev3") == "http://fixed:8776/v3"


def test_the_plugin_never_shows_the_token(tmp_path):
    auth = service_auth.user_auth(user_context(), make_conf(tmp_path))
    assert USER_TOKEN not in repr(auth) and USER_TOKEN not in str(auth)
