"""Keystone's default roles, over HTTP with real tokens: a nativesnap-api
(fake driver) with ``[api] auth_strategy = keystone`` behind the session's
real Keystone (tests/keystone_fixtures.py), whose tokens keystonemiddleware
validates with the ``nativesnap`` service user (docs/policy.md):

- a reader of project A lists and shows A's servers, snapshots and images,
  and is refused (403) every change, which changes nothing;
- a member of project A snapshots A's server, and project B's server is a
  404 to them;
- an administrator with ``all_projects=1`` sees both projects' servers (a
  member asking for it is refused);
- a token Keystone declares expired, a token revoked in Keystone, and the
  noauth2 header ``admin:admin-project`` are refused with 401.
"""

import datetime
import time

import pytest

from tests.functional import helpers as h

pytest_plugins = ["tests.keystone_fixtures"]

YEARLY = {"cron": "0 3 1 1 *", "keep_last": 2}


@pytest.fixture(scope="module")
def ks_api(keystone, tmp_path_factory):
    server = keystone.start_api(str(tmp_path_factory.mktemp("api-keystone-roles")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tokens(keystone):
    """A project-scoped token of each test user (valid for Keystone's hour)."""
    return {user: keystone.token(user)
            for user in ("A-reader", "A-member", "B-member", "A-admin")}


@pytest.fixture(scope="module")
def world(ks_api, keystone, tokens):
    """A server in each project (adopted by the administrator), and in
    project A a snapshot and an exported image (made by A's member)."""
    admin, member = tokens["A-admin"], tokens["A-member"]
    server_a = h.adopt(ks_api, project_id=keystone.projects["project-A"],
                       token=admin)
    server_b = h.adopt(ks_api, project_id=keystone.projects["project-B"],
                       token=admin)
    snapshot = h.available_snapshot(ks_api, server_a["id"], token=member)
    image = h.export(ks_api, server_a["id"], snapshot["id"], token=member)
    h.wait_idle(ks_api, server_a["id"], token=member)
    return {"server_a": server_a, "server_b": server_b, "snapshot": snapshot,
            "image": image}


def test_a_reader_lists_and_shows_servers_snapshots_and_images(ks_api, tokens,
                                                               world):
    reader = tokens["A-reader"]
    server_id, snapshot_id = world["server_a"]["id"], world["snapshot"]["id"]
    assert h.list_ids(ks_api, "/v1/servers", reader) == [server_id]
    assert h.get_server(ks_api, server_id, reader)["id"] == server_id
    assert h.list_ids(ks_api, h.snapshot_path(server_id), reader) == [snapshot_id]
    assert h.list_ids(ks_api, "/v1/snapshots", reader) == [snapshot_id]
    assert h.get_snapshot(ks_api, server_id, snapshot_id, reader)["id"] == snapshot_id
    assert h.list_ids(ks_api, "/v1/images", reader) == [world["image"]["id"]]
    image = h.ok(ks_api.request("GET", f"/v1/images/{world['image']['id']}",
                                token=reader))["image"]
    assert image["snapshot_id"] == snapshot_id


def test_a_reader_is_refused_every_mutation_with_403_and_nothing_changes(
        ks_api, tokens, world):
    reader = tokens["A-reader"]
    server_id, snapshot_id = world["server_a"]["id"], world["snapshot"]["id"]
    snapshot = h.snapshot_path(server_id, snapshot_id)
    mutations = [
        ("POST", h.snapshot_path(server_id), {"snapshot": {"name": "by-reader"}}),
        ("DELETE", snapshot, None),
        ("POST", f"/v1/servers/{server_id}/action",
         {"revert": {"snapshot_id": snapshot_id}}),
        ("POST", "/v1/servers", {"server": {
            "name": "spawned-by-reader", "snapshot_id": snapshot_id,
            "linked": True}}),
        ("DELETE", f"/v1/servers/{server_id}", None),
        ("POST", snapshot + "/action", {"export": {"image_name": "by-reader"}}),
        ("DELETE", f"/v1/images/{world['image']['id']}", None),
        ("POST", "/v1/snapshot-policies",
         {"snapshot_policy": {"name": "by-reader", **YEARLY}}),
    ]
    with h.changes_nothing(ks_api):
        for method, path, body in mutations:
            resp = ks_api.request(method, path, token=reader, json=body)
            assert resp.status_code == 403, (
                f"{method} {path}: {resp.status_code} {resp.text[:300]}")
            h.assert_fault(resp, 403)


def test_a_member_snapshots_their_projects_server(ks_api, tokens, world):
    member = tokens["A-member"]
    server_id = world["server_a"]["id"]
    snapshot = h.available_snapshot(ks_api, server_id, token=member,
                                    name="by-member")
    assert snapshot["project_id"] == world["server_a"]["project_id"]
    assert snapshot["id"] in h.list_ids(ks_api, h.snapshot_path(server_id),
                                        tokens["A-reader"])


def test_another_projects_server_is_a_404_to_a_member(ks_api, tokens, world):
    member = tokens["A-member"]
    server_b = world["server_b"]["id"]
    with h.changes_nothing(ks_api):
        h.assert_fault(ks_api.request("GET", f"/v1/servers/{server_b}",
                                      token=member), 404)
        h.assert_fault(ks_api.request("POST", h.snapshot_path(server_b),
                                      token=member,
                                      json={"snapshot": {"name": "not-mine"}}),
                       404)
        h.assert_fault(ks_api.request("DELETE", f"/v1/servers/{server_b}",
                                      token=member), 404)
    assert h.list_ids(ks_api, "/v1/servers", member) == [world["server_a"]["id"]]
    # B's own member sees it.
    assert h.list_ids(ks_api, "/v1/servers", tokens["B-member"]) == [server_b]


def test_an_admin_with_all_projects_sees_both_projects_servers(ks_api, tokens,
                                                               world):
    ids = h.list_ids(ks_api, "/v1/servers?all_projects=1", tokens["A-admin"])
    assert sorted(ids) == sorted([world["server_a"]["id"],
                                  world["server_b"]["id"]])
    h.assert_fault(ks_api.request("GET", "/v1/servers?all_projects=1",
                                  token=tokens["A-member"]), 403)


def _refused_by_keystone(resp):
    assert resp.status_code == 401, f"{resp.status_code} {resp.text[:300]}"
    assert "www-authenticate" in {k.lower() for k in resp.headers}
    assert "servers" not in resp.text


def test_an_expired_token_is_refused_with_401(ks_api, keystone):
    token, expires = keystone.expiring_token("A-reader", seconds=4)
    assert ks_api.request("GET", "/v1/servers", token=token).status_code == 200
    # Keystone's clock and ours are the same machine's: past its expiry
    # (to the second), Keystone answers that the token is not found.
    remaining = (expires - datetime.datetime.now(datetime.timezone.utc)
                 ).total_seconds()
    time.sleep(max(0.0, remaining) + 1.0)
    _refused_by_keystone(ks_api.request("GET", "/v1/servers", token=token))


def test_a_revoked_token_is_refused_with_401_at_once(ks_api, keystone):
    token = keystone.token("A-member")
    assert ks_api.request("GET", "/v1/servers", token=token).status_code == 200
    keystone.revoke(token)
    # keystonemiddleware's token cache is off (authtoken_conf): the very
    # next request is validated by Keystone, which knows the revocation.
    _refused_by_keystone(ks_api.request("GET", "/v1/servers", token=token))


def test_the_noauth2_header_is_refused_with_401(ks_api, world):
    _refused_by_keystone(ks_api.request("GET", "/v1/servers",
                                        token="admin:admin-project"))
    _refused_by_keystone(ks_api.request(
        "GET", f"/v1/servers/{world['server_a']['id']}",
        token=f"admin:{world['server_a']['project_id']}"))
