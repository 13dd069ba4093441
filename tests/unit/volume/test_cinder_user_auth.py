"""CinderAPI on a user's behalf, against the scripted local peer of
test_cinder.py: a call made for a context with a token carries that token
(and the [service_user] token when enabled) and names the token's project in
its URL; a call without a user behind it uses [cinder]'s credentials."""

import logging

from oslo_config import cfg
import pytest

from nativesnap.common import service_auth
from nativesnap.conf import cinder as cinder_conf
from nativesnap.conf import service_user as service_user_conf
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap.volume import cinder
from tests.unit.volume.cinder_peer import ACCEPTED
from tests.unit.volume.cinder_peer import answer
from tests.unit.volume.cinder_peer import keystone_token
from tests.unit.volume.cinder_peer import PROJECT
from tests.unit.volume.cinder_peer import SECRET_TOKEN
from tests.unit.volume.cinder_peer import SNAPSHOT_ID
from tests.unit.volume.cinder_peer import VOLUME_ID

USER_TOKEN = "user-token-51d0"
SERVICE_TOKEN = "service-user-token-93be"
USER_PROJECT = "ab12cd34"
CREATED = answer(202, {"snapshot": {"id": SNAPSHOT_ID, "status": "creating",
                                    "volume_id": VOLUME_ID}})


@pytest.fixture(autouse=True)
def _fresh_service_user():
    service_auth.reset()
    yield
    service_auth.reset()


def make_conf(tmp_path, cinder_options, service_user=None):
    path = tmp_path / "nativesnap.conf"
    lines = ["[cinder]"] + [f"{k} = {v}" for k, v in cinder_options.items()]
    lines += ["[service_user]"] + [f"{k} = {v}"
                                   for k, v in (service_user or {}).items()]
    path.write_text("\n".join(lines) + "\n")
    conf = cfg.ConfigOpts()
    cinder_conf.register_opts(conf)
    service_user_conf.register_opts(conf)
    conf([], project="nativesnap", default_config_files=[str(path)],
         default_config_dirs=[])
    return conf


def token_options(peer, **options):
    """[cinder] with a fixed service token and Cinder's URL template."""
    return dict({"auth_type": "admin_token", "token": SECRET_TOKEN,
                 "endpoint": f"{peer.url}/v3",
                 "endpoint_template": f"{peer.url}/v3/%(project_id)s",
                 "http_retry_delay": "0.01", "timeout": "5"}, **options)


def user_context(catalog=None):
    return ns_context.RequestContext(
        auth_token=USER_TOKEN, user_id="u1", project_id=USER_PROJECT,
        roles=["member", "reader"], service_catalog=catalog)


def test_a_call_for_a_user_carries_the_users_token_and_names_their_project(
        tmp_path, peer_factory):
    peer = peer_factory(CREATED)
    api = cinder.CinderAPI(make_conf(tmp_path, token_options(peer)))
    api.create_snapshot(PROJECT, VOLUME_ID, "s1", context=user_context())
    (request,) = peer.seen
    assert request["path"] == f"/v3/{USER_PROJECT}/snapshots"
    assert request["headers"]["X-Auth-Token"] == USER_TOKEN
    assert "X-Service-Token" not in request["headers"]


def test_with_the_service_user_enabled_its_token_goes_along(tmp_path, peer_factory):
    peer = peer_factory(ACCEPTED)
    api = cinder.CinderAPI(make_conf(
        tmp_path, token_options(peer),
        {"send_service_user_token": "true", "auth_type": "admin_token",
         "endpoint": "http://unused", "token": SERVICE_TOKEN}))
    api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "available",
                               context=user_context())
    (request,) = peer.seen
    assert request["headers"]["X-Auth-Token"] == USER_TOKEN
    assert request["headers"]["X-Service-Token"] == SERVICE_TOKEN
    assert request["path"] == f"/v3/{USER_PROJECT}/snapshots/{SNAPSHOT_ID}/action"


@pytest.mark.parametrize("context", [
    None, ns_context.get_admin_context(),
    ns_context.RequestContext(user_id="alice", project_id="p1", roles=["member"]),
], ids=["no-context", "admin-context", "noauth2-context"])
def test_a_call_without_a_user_token_uses_the_cinder_credentials(
        tmp_path, peer_factory, context):
    peer = peer_factory(ACCEPTED)
    api = cinder.CinderAPI(make_conf(
        tmp_path, token_options(peer),
        {"send_service_user_token": "true", "auth_type": "admin_token",
         "endpoint": "http://unused", "token": SERVICE_TOKEN}))
    api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "error", context=context)
    (request,) = peer.seen
    assert request["headers"]["X-Auth-Token"] == SECRET_TOKEN
    assert "X-Service-Token" not in request["headers"]
    assert request["path"] == f"/v3/{PROJECT}/snapshots/{SNAPSHOT_ID}/action"


def test_keystone_credentials_are_not_used_for_a_user_and_the_catalog_is_theirs(
        tmp_path, peer_factory):
    """[cinder] is nativesnap's Keystone service user, scoped to its own
    project: for a user, neither its token nor its project is used; Cinder's
    URL comes from the user's catalog, with the user's project in it."""
    cinder_peer = peer_factory(CREATED)
    token_body = keystone_token(cinder_peer.url, "5e7a1ce")
    keystone = peer_factory(answer(201, token_body,
                                   headers={"X-Subject-Token": "svc-token"}))
    conf = make_conf(tmp_path, {
        "auth_type": "v3password", "auth_url": f"{keystone.url}/v3",
        "username": "nativesnap", "password": "pw", "project_name": "service",
        "user_domain_id": "default", "project_domain_id": "default",
        "valid_interfaces": "internal", "http_retry_delay": "0.01",
        "timeout": "5"})
    catalog = [{"type": "volumev3", "name": "cinderv3", "endpoints": [
        {"region": "RegionOne",
         "internalURL": f"{cinder_peer.url}/v3/{USER_PROJECT}",
         "publicURL": "http://public.invalid/v3"}]}]
    view = cinder.CinderAPI(conf).create_snapshot(
        PROJECT, VOLUME_ID, "s1", context=user_context(catalog))
    assert view["id"] == SNAPSHOT_ID
    assert keystone.seen == []  # nativesnap's own token was never needed
    (request,) = cinder_peer.seen
    assert request["path"] == f"/v3/{USER_PROJECT}/snapshots"
    assert request["headers"]["X-Auth-Token"] == USER_TOKEN


def test_the_service_user_authenticates_once_through_keystone(
        tmp_path, peer_factory):
    peer = peer_factory(ACCEPTED)
    keystone = peer_factory(answer(201, keystone_token(peer.url, "5e7a1ce"),
                                   headers={"X-Subject-Token": SERVICE_TOKEN}))
    api = cinder.CinderAPI(make_conf(tmp_path, token_options(peer), {
        "send_service_user_token": "true", "auth_type": "v3password",
        "auth_url": f"{keystone.url}/v3", "username": "nativesnap",
        "password": "pw", "project_name": "service",
        "user_domain_id": "default", "project_domain_id": "default"}))
    for _ in range(2):
        api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "available",
                                   context=user_context())
    assert [r["path"] for r in keystone.seen] == ["/v3/auth/tokens"]
    assert [r["headers"]["X-Service-Token"] for r in peer.seen] == [
        SERVICE_TOKEN, SERVICE_TOKEN]


def test_no_catalog_entry_and_no_configured_url_fails_without_a_token_leak(
        tmp_path, peer_factory, caplog):
    peer = peer_factory(ACCEPTED)
    api = cinder.CinderAPI(make_conf(tmp_path, token_options(
        peer, endpoint_template="")))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(exception.CinderCallFailed) as failed:
        api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "available",
                                   context=user_context())
    assert failed.value.code == 502 and peer.seen == []
    assert USER_TOKEN not in caplog.text and USER_TOKEN not in str(failed.value)


def test_the_users_and_service_tokens_are_in_no_log_record(
        tmp_path, peer_factory, caplog):
    peer = peer_factory(answer(500, {"computeFault": {"message": "x"}}), ACCEPTED)
    api = cinder.CinderAPI(make_conf(
        tmp_path, token_options(peer),
        {"send_service_user_token": "true", "auth_type": "admin_token",
         "endpoint": "http://unused", "token": SERVICE_TOKEN}))
    caplog.set_level(logging.DEBUG)
    api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "available",
                               context=user_context())
    assert len(peer.seen) == 2 and "repeating it" in caplog.text
    assert USER_TOKEN not in caplog.text and SERVICE_TOKEN not in caplog.text
