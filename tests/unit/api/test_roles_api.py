"""Keystone's default roles through the WSGI application in-process (sqlite,
the real compute API and PolicyAPI, a recording RPC client): a project's
reader lists and shows but gets 403 on every change and nothing is cast or
stored; another project's reader gets 404; Cinder's service user reaches
os-assisted-volume-snapshots only. noauth2 stands in for Keystone here, with
the roles a Keystone token of each user would carry
(tests/unit/policies/test_roles.py has every rule; docs/policy.md)."""

from oslo_utils import uuidutils
import pytest

from nativesnap.api import auth
from nativesnap import context as ns_context
from nativesnap.objects import policy as policy_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj
from tests.unit.api.test_baremetal_api import fault
from tests.unit.api.test_snapshot_policies_api import OWNER
from tests.unit.api.test_snapshot_policies_api import PolicyApp
from tests.unit.compute.test_baremetal_provision import register_compute

READER = "rita:p1"
OTHER_READER = "otto:p2"
SERVICE = "cinder:services"
ROLES = {"rita": ["reader"], "otto": ["reader"], "cinder": ["service"]}


@pytest.fixture
def app(sqlite_database, default_policies, monkeypatch):
    noauth2 = auth.noauth2

    def with_roles(req):
        # noauth2's context, with the roles of ROLES' users instead.
        context = noauth2(req)
        if context.user_id not in ROLES:
            return context
        return ns_context.RequestContext(
            user_id=context.user_id, project_id=context.project_id,
            roles=ROLES[context.user_id], request_id=context.request_id)

    monkeypatch.setattr(auth, "noauth2", with_roles)
    register_compute()
    return PolicyApp()


@pytest.fixture
def owned(app):
    """A server of p1 with a snapshot and an attached snapshot policy."""
    server = app.server()
    snap = app.snapshot(server)
    view = app.create()
    resp = app.request("POST", f"/v1/servers/{server.id}/snapshot-policies",
                       body={"policy_id": view["id"]})
    assert resp.status_code == 200, resp.text
    return server, snap, view["id"]


def _reads(server, snap, policy_id):
    return [
        "/v1/servers", f"/v1/servers/{server.id}",
        f"/v1/servers/{server.id}/snapshots",
        f"/v1/servers/{server.id}/snapshots/{snap.id}", "/v1/snapshots",
        "/v1/images", "/v1/snapshot-policies",
        f"/v1/snapshot-policies/{policy_id}",
        f"/v1/servers/{server.id}/snapshot-policies", "/v1/os-quota-sets/p1",
    ]


def _changes(server, snap, policy_id):
    snaps = f"/v1/servers/{server.id}/snapshots"
    return [
        ("POST", snaps, {"snapshot": {"name": "s1"}}),
        ("DELETE", f"{snaps}/{snap.id}", None),
        ("POST", f"{snaps}/{snap.id}/action", {"export": {"image_name": "i"}}),
        ("POST", f"/v1/servers/{server.id}/action",
         {"revert": {"snapshot_id": snap.id}}),
        ("POST", "/v1/servers", {"server": {"snapshot_id": snap.id,
                                            "name": "copy"}}),
        ("DELETE", f"/v1/servers/{server.id}", None),
        ("POST", "/v1/snapshot-policies",
         {"snapshot_policy": {"name": "daily", "interval_hours": 24,
                              "keep_last": 3}}),
        ("PUT", f"/v1/snapshot-policies/{policy_id}",
         {"snapshot_policy": {"name": "mine"}}),
        ("POST", f"/v1/snapshot-policies/{policy_id}/action", {"prune": {}}),
        ("DELETE", f"/v1/snapshot-policies/{policy_id}", None),
        ("DELETE", f"/v1/servers/{server.id}/snapshot-policies/{policy_id}",
         None),
        # An image id that is nobody's: the reader may not delete at all (403),
        # so nothing is said of the id.
        ("DELETE", f"/v1/images/{uuidutils.generate_uuid()}", None),
    ]


def _state(app, server):
    return (sorted(s.id for s in server_obj.ServerList.get_all(app.context)),
            sorted(s.id for s in snapshot_obj.ServerSnapshotList.get_all(
                app.context)),
            sorted((p.id, p.name) for p in policy_obj.SnapshotPolicyList.get_all(
                app.context)))


def test_a_reader_lists_and_shows_their_projects_resources(app, owned):
    for path in _reads(*owned):
        resp = app.request("GET", path, token=READER)
        assert resp.status_code == 200, (path, resp.text)
    server, snap, _ = owned
    assert [s["id"] for s in app.request("GET", "/v1/servers", token=READER
                                         ).json["servers"]] == [server.id]


def test_a_reader_gets_403_on_every_change_and_nothing_changes(app, owned):
    before = _state(app, owned[0])
    for method, path, body in _changes(*owned):
        resp = app.request(method, path, token=READER, body=body)
        fault(resp, 403)
    assert _state(app, owned[0]) == before
    assert app.rpc.casts == [] and app.rpc.prepared == []


def test_a_member_of_the_project_may_make_the_same_changes(app, owned):
    server, snap, policy_id = owned
    resp = app.request("POST", f"/v1/servers/{server.id}/snapshots",
                       token=OWNER, body={"snapshot": {"name": "s1"}})
    assert resp.status_code == 202, resp.text
    resp = app.request("PUT", f"/v1/snapshot-policies/{policy_id}",
                       token=OWNER, body={"snapshot_policy": {"name": "mine"}})
    assert resp.status_code == 200, resp.text


def test_another_projects_reader_gets_404_and_sees_none_of_it(app, owned):
    server, snap, policy_id = owned
    for path in (f"/v1/servers/{server.id}",
                 f"/v1/servers/{server.id}/snapshots",
                 f"/v1/servers/{server.id}/snapshots/{snap.id}",
                 f"/v1/snapshot-policies/{policy_id}",
                 f"/v1/servers/{server.id}/snapshot-policies"):
        fault(app.request("GET", path, token=OTHER_READER), 404)
    fault(app.request("DELETE", f"/v1/servers/{server.id}",
                      token=OTHER_READER), 404)
    assert app.request("GET", "/v1/servers", token=OTHER_READER
                       ).json["servers"] == []
    fault(app.request("GET", "/v1/servers?all_projects=1",
                      token=OTHER_READER), 403)


def test_the_service_role_reaches_only_assisted_volume_snapshots(app, owned):
    resp = app.request("GET", "/v1/os-assisted-volume-snapshots",
                       token=SERVICE)
    assert resp.status_code == 200, resp.text
    fault(app.request("GET", "/v1/os-assisted-volume-snapshots", token=READER),
          403)
    fault(app.request("GET", "/v1/os-assisted-volume-snapshots", token=OWNER),
          403)
    fault(app.request("GET", "/v1/servers", token=SERVICE), 403)
    fault(app.request("GET", "/v1/os-services", token=SERVICE), 403)
    fault(app.request("GET", f"/v1/servers/{owned[0].id}", token=SERVICE), 404)
