"""With [api] auth_strategy = keystone, keystonemiddleware's auth_token guards
every route but the version documents and the bare-metal agents' heartbeat
(which their node's X-Agent-Token guards), and the noauth2 header means
nothing."""

import datetime
import uuid

import pytest
import sqlalchemy as sa

from tests import fixtures
from tests.functional import helpers as h


@pytest.fixture(scope="module")
def keystone_api(tmp_path_factory):
    state = str(tmp_path_factory.mktemp("api-keystone"))
    port = fixtures.free_port()  # nothing listens there: no keystone is reachable
    server = fixtures.APIServer(state, fixtures.sqlite_url(state), extra_conf={
        "api": {"auth_strategy": "keystone"},
        "keystone_authtoken": {
            "www_authenticate_uri": f"http://127.0.0.1:{port}/identity",
            "auth_url": f"http://127.0.0.1:{port}/identity",
            "auth_type": "password", "username": "nativesnap",
            "password": "secret", "project_name": "service",
            "user_domain_name": "Default", "project_domain_name": "Default",
            "http_connect_timeout": "1", "http_request_max_retries": "0"},
    })
    server.manage("db", "sync")
    server.start()
    yield server
    server.stop()


def test_keystone_strategy_keeps_version_documents_public(keystone_api):
    assert keystone_api.request("GET", "/", token=None).status_code == 200
    assert keystone_api.request("GET", "/v1", token=None).status_code == 200


def test_keystone_strategy_rejects_requests_without_a_token_with_401(keystone_api):
    resp = keystone_api.request("GET", "/v1/servers", token=None)
    assert resp.status_code == 401
    assert "www-authenticate" in {k.lower() for k in resp.headers}


def test_keystone_strategy_does_not_accept_a_noauth2_token(keystone_api):
    # The token cannot be validated (no keystone answers), so it is refused:
    # never taken as "admin:project" the way noauth2 would.
    resp = keystone_api.request("GET", "/v1/servers", token="admin:admin-project")
    assert resp.status_code in (401, 503)
    assert "servers" not in resp.text


def test_the_heartbeat_takes_the_agent_token_and_no_keystone_token(
        keystone_api):
    node_id, token = str(uuid.uuid4()), "agent-token-" + uuid.uuid4().hex
    engine = h.db_engine(keystone_api)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO baremetal_nodes (id, name, agent_url, "
                "agent_token, power_interface, redfish_verify_ca, created_at) "
                "VALUES (:id, 'ks-node', 'https://10.0.0.5:9999', :token, "
                "'none', :true, :now)"),
                {"id": node_id, "token": token, "true": True,
                 "now": datetime.datetime.utcnow()})
    finally:
        engine.dispose()
    path = f"/v1/baremetal/nodes/{node_id}/heartbeat"
    body = {"agent_url": "https://10.0.0.17:9999", "agent_version": "0.1.0"}
    # Not keystone's 401 (no keystone answers here): the agent token's.
    refused = keystone_api.request("POST", path, token=None, json=body)
    assert refused.status_code == 401 and "X-Agent-Token" in refused.text
    resp = keystone_api.request("POST", path, token=None, json=body,
                                headers={"X-Agent-Token": token})
    assert resp.status_code == 202, resp.text
    assert token not in keystone_api.read_log()
