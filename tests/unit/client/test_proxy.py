"""The proxy's logic without a server: pages, lookups, bounded waits."""

import time

import pytest

from nativesnap.client import exceptions
from nativesnap.client import proxy
from nativesnap.client import resource as res

SERVER = "11111111-1111-4111-8111-111111111111"
SNAP = "22222222-2222-4222-8222-222222222222"


class FakeConnection:
    """Answers GETs from a table of url -> body (or a list of bodies, one per
    call: the states a polled resource goes through)."""

    api_version = (1, 1)

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def get_json(self, url, params=None, **kwargs):
        self.calls.append((url, params))
        answer = self.answers[url]
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def snap_view(status, progress=0, fault=None, **extra):
    return {"snapshot": dict(id=SNAP, server_id=SERVER, name="s", status=status,
                             progress=progress, fault=fault, **extra)}


SNAP_URL = f"/v1/servers/{SERVER}/snapshots/{SNAP}"


def test_a_listing_follows_next_links_and_sends_the_query_only_first():
    conn = FakeConnection({
        "/v1/servers": {"servers": [{"id": "a"}, {"id": "b"}], "servers_links": [
            {"rel": "next", "href": "http://api/v1/servers?limit=2&marker=b"}]},
        "http://api/v1/servers?limit=2&marker=b": {
            "servers": [{"id": "c"}, {"id": "d"}], "servers_links": [
                {"rel": "next", "href": "http://api/v1/servers?limit=2&marker=d"}]},
        "http://api/v1/servers?limit=2&marker=d": {"servers": []},
    })
    p = proxy.Proxy(conn)
    assert [s.id for s in p.servers(limit=2, status="ACTIVE")] == list("abcd")
    assert conn.calls[0] == ("/v1/servers", {"limit": 2, "status": "ACTIVE"})
    assert [params for _, params in conn.calls[1:]] == [None, None]


def test_a_listing_is_lazy_and_paginated_false_reads_one_page():
    conn = FakeConnection({
        "/v1/snapshots": {"snapshots": [{"id": "a"}], "snapshots_links": [
            {"rel": "next", "href": "http://api/v1/snapshots?marker=a"}]},
        "http://api/v1/snapshots?marker=a": {"snapshots": [{"id": "b"}]},
    })
    p = proxy.Proxy(conn)
    first = next(p.snapshots(all_projects=True))
    assert first.id == "a" and len(conn.calls) == 1  # no second page yet
    assert conn.calls[0][1] == {"all_projects": "1"}
    assert [s.id for s in p.snapshots(paginated=False)] == ["a"]


def test_find_by_name_refuses_an_ambiguous_name_and_names_a_missing_one():
    conn = FakeConnection({"/v1/servers": {"servers": [
        {"id": "a", "name": "web"}, {"id": "b", "name": "web"},
        {"id": "c", "name": "db"}]}})
    p = proxy.Proxy(conn)
    assert p.find_server("db").id == "c"
    with pytest.raises(exceptions.NoUniqueMatch, match="2 servers are named 'web'"):
        p.find_server("web")
    with pytest.raises(exceptions.NotFound, match="No server with ID or name 'x'"):
        p.find_server("x")


def test_a_snapshot_id_alone_needs_its_server():
    with pytest.raises(exceptions.ClientException, match="give the server"):
        proxy.Proxy(FakeConnection({})).get_snapshot(SNAP)


def test_wait_for_status_polls_until_the_status_and_reports_progress():
    conn = FakeConnection({SNAP_URL: [snap_view("creating", 0),
                                      snap_view("creating", 40),
                                      snap_view("available", 100)]})
    seen = []
    snap = res.Snapshot(snap_view("creating")["snapshot"])
    done = proxy.Proxy(conn).wait_for_status(snap, "AVAILABLE", timeout=5,
                                             interval=0.001, callback=seen.append)
    assert done.status == "available" and seen == [0, 40, 100]


def test_wait_for_status_raises_on_a_failure_status_with_the_fault():
    conn = FakeConnection({SNAP_URL: [snap_view("creating"), snap_view(
        "error", fault={"code": 500, "message": "disk full"})]})
    snap = res.Snapshot(snap_view("creating")["snapshot"])
    with pytest.raises(exceptions.ResourceFailure) as err:
        proxy.Proxy(conn).wait_for_status(snap, "available", timeout=5,
                                          interval=0.001)
    assert str(err.value) == (f"snapshot {SNAP} ('s') went to status 'error': "
                              "disk full")
    assert err.value.resource.status == "error"


def test_wait_for_status_is_bounded_by_its_timeout():
    conn = FakeConnection({SNAP_URL: [snap_view("creating", 10)]})
    snap = res.Snapshot(snap_view("creating")["snapshot"])
    started = time.monotonic()
    with pytest.raises(exceptions.WaitTimeout) as err:
        proxy.Proxy(conn).wait_for_status(snap, "available", timeout=0.2,
                                          interval=0.05)
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 1.0
    assert "Timed out after 0.2 s" in str(err.value)
    assert "(it is creating, 10%)" in str(err.value)
    with pytest.raises(ValueError):
        proxy.Proxy(conn).wait_for_status(snap, "available", timeout=None)


def test_wait_for_delete_ends_at_404_and_fails_on_error_deleting():
    gone = FakeConnection({SNAP_URL: [snap_view("deleting"),
                                      exceptions.NotFound("gone")]})
    snap = res.Snapshot(snap_view("deleting")["snapshot"])
    assert proxy.Proxy(gone).wait_for_delete(snap, timeout=5,
                                             interval=0.001) is None
    stuck = FakeConnection({SNAP_URL: [snap_view(
        "error_deleting", fault={"code": 500, "message": "merge failed"})]})
    with pytest.raises(exceptions.ResourceFailure, match="merge failed"):
        proxy.Proxy(stuck).wait_for_delete(snap, timeout=5, interval=0.001)


def test_wait_for_task_ends_when_the_task_does_and_reports_its_fault():
    url = f"/v1/servers/{SERVER}"
    view = {"id": SERVER, "name": "web", "status": "ACTIVE"}
    ok = FakeConnection({url: [{"server": dict(view, task_state="reverting",
                                               fault=None)},
                               {"server": dict(view, task_state=None,
                                               fault=None)}]})
    server = res.Server(dict(view, task_state="reverting"))
    assert proxy.Proxy(ok).wait_for_task(server, timeout=5,
                                         interval=0.001).task_state is None
    failed = FakeConnection({url: [{"server": dict(view, task_state=None, fault={
        "code": 500, "message": "revert broke"})}]})
    with pytest.raises(exceptions.ResourceFailure, match="revert broke"):
        proxy.Proxy(failed).wait_for_task(server, timeout=5, interval=0.001)


def test_an_image_is_followed_through_its_snapshots_view():
    image_view = {"id": "img", "name": "i", "status": "active", "progress": 100}
    conn = FakeConnection({SNAP_URL: snap_view("available", images=[image_view])})
    image = res.Image({"id": "img", "status": "saving"}, snapshot_id=SNAP,
                      server_id=SERVER)
    found = proxy.Proxy(conn).get_image(image)
    assert found.status == "active" and found.snapshot_id == SNAP
    conn.api_version = (1, 0)
    with pytest.raises(exceptions.UnsupportedVersion, match="1.1"):
        proxy.Proxy(conn).get_image(image)


def test_resources_are_read_only_views_of_the_api_fields():
    server = res.Server({"id": "a", "name": "web", "status": "ACTIVE"})
    assert server.name == server["name"] == "web" and server.get("x") is None
    with pytest.raises(AttributeError):
        server.status = "ERROR"
    with pytest.raises(AttributeError, match="no field 'nope'"):
        server.nope
    assert server.to_dict() == {"id": "a", "name": "web", "status": "ACTIVE"}
    assert repr(server) == "<Server id='a' name='web' status='ACTIVE'>"
