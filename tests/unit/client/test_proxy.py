"""The proxy's logic without a server: pages, lookups, bounded waits."""

import time

import pytest

from nativesnap.client import exceptions
from nativesnap.client import proxy
from nativesnap.client import resource as res

SERVER = "11111111-1111-4111-8111-111111111111"
SNAP = "22222222-2222-4222-8222-222222222222"
IMAGE = "33333333-3333-4333-8333-333333333333"


class FakeResponse:
    def __init__(self, body=None):
        self.body = body

    def json(self):
        return self.body


class FakeConnection:
    """Answers GETs from a table of url -> body (or a list of bodies, one per
    call: the states a polled resource goes through); other requests from
    (method, url) -> body or exception."""

    api_version = (1, 1)

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def request(self, method, url, **kwargs):
        self.calls.append((method, url))
        answer = self.answers[(method, url)]
        if isinstance(answer, Exception):
            raise answer
        return FakeResponse(answer)

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


def image_view(status="active", progress=100, name="golden", fault=None):
    return dict(id=IMAGE, name=name, snapshot_id=SNAP, server_id=SERVER,
                status=status, progress=progress, fault=fault)


IMAGE_URL = f"/v1/images/{IMAGE}"


def test_images_sends_the_filters_and_follows_images_links():
    conn = FakeConnection({
        "/v1/images": {"images": [image_view()], "images_links": [
            {"rel": "next", "href": "http://api/v1/images?marker=" + IMAGE}]},
        "http://api/v1/images?marker=" + IMAGE: {"images": [
            dict(image_view(), id="other")]},
    })
    snap = res.Snapshot({"id": SNAP, "server_id": SERVER})
    listed = list(proxy.Proxy(conn).images(
        all_projects=True, status="active", snapshot=snap, server=SERVER,
        limit=1, sort_key="name", sort_dir="asc"))
    assert [i.id for i in listed] == [IMAGE, "other"]
    assert all(isinstance(i, res.Image) for i in listed)
    assert conn.calls[0] == ("/v1/images", {
        "all_projects": "1", "status": "active", "snapshot_id": SNAP,
        "server_id": SERVER, "limit": 1, "sort_key": "name",
        "sort_dir": "asc"})
    assert conn.calls[1][1] is None  # the next link carries the query
    assert [i.id for i in proxy.Proxy(conn).images(paginated=False)] == [IMAGE]
    assert conn.calls[-1] == ("/v1/images", {})


def test_get_image_reads_the_images_own_route_at_any_microversion():
    conn = FakeConnection({IMAGE_URL: {"image": image_view()}})
    conn.api_version = (1, 0)
    p = proxy.Proxy(conn)
    by_id = p.get_image(IMAGE)
    by_resource = p.get_image(res.Image({"id": IMAGE, "status": "saving"}))
    assert by_id == by_resource and by_id.status == "active"
    assert by_id.path == IMAGE_URL and by_id.snapshot_id == SNAP
    assert [url for url, _ in conn.calls] == [IMAGE_URL, IMAGE_URL]


def test_find_image_by_id_or_by_a_unique_name():
    conn = FakeConnection({
        IMAGE_URL: {"image": image_view()},
        "/v1/images": {"images": [
            image_view(), dict(image_view(name="twin"), id="b"),
            dict(image_view(name="twin"), id="c")]},
    })
    p = proxy.Proxy(conn)
    assert p.find_image(IMAGE).name == "golden"
    assert conn.calls == [(IMAGE_URL, None)]  # an id is fetched, not searched
    assert p.find_image("golden").id == IMAGE
    p.find_image("golden", all_projects=True)
    assert conn.calls[-1] == ("/v1/images", {"all_projects": "1"})
    with pytest.raises(exceptions.NoUniqueMatch,
                       match=r"2 images are named 'twin': use an ID \(b, c\)"):
        p.find_image("twin")
    with pytest.raises(exceptions.NotFound, match="No image with ID or name 'x'"):
        p.find_image("x")
    image = res.Image(image_view())
    assert p.find_image(image) is image


def test_delete_image_sends_delete_and_ignores_a_missing_one_if_told():
    conn = FakeConnection({("DELETE", IMAGE_URL): None})
    p = proxy.Proxy(conn)
    assert p.delete_image(res.Image(image_view())) is None
    assert p.delete_image(IMAGE) is None
    assert conn.calls == [("DELETE", IMAGE_URL)] * 2
    conn.answers[("DELETE", IMAGE_URL)] = exceptions.NotFound("gone")
    with pytest.raises(exceptions.NotFound):
        p.delete_image(IMAGE)
    assert p.delete_image(IMAGE, ignore_missing=True) is None


def test_an_export_is_followed_on_its_own_route_until_active_or_gone():
    conn = FakeConnection({IMAGE_URL: [{"image": image_view("saving", 0)},
                                       {"image": image_view("saving", 60)},
                                       {"image": image_view("active", 100)}]})
    seen = []
    image = res.Image(image_view("saving", 0))
    done = proxy.Proxy(conn).wait_for_status(
        image, "active", timeout=5, interval=0.001, callback=seen.append)
    assert done.status == "active" and seen == [0, 60, 100]
    assert {url for url, _ in conn.calls} == {IMAGE_URL}
    failed = FakeConnection({IMAGE_URL: [{"image": image_view(
        "error", 0, fault={"code": 500, "message": "store full"})}]})
    with pytest.raises(exceptions.ResourceFailure,
                       match=rf"image {IMAGE} \('golden'\) went to status "
                             "'error': store full"):
        proxy.Proxy(failed).wait_for_status(image, "active", timeout=5,
                                            interval=0.001)
    gone = FakeConnection({IMAGE_URL: [exceptions.NotFound("gone")]})
    assert proxy.Proxy(gone).wait_for_delete(image, timeout=5,
                                             interval=0.001) is None


def test_a_snapshots_view_still_lists_its_images():
    snap = res.Snapshot(snap_view("available", images=[
        {"id": IMAGE, "name": "golden", "status": "active"}])["snapshot"])
    [image] = snap.image_list()
    assert isinstance(image, res.Image) and image.path == IMAGE_URL
    assert image.snapshot_id == SNAP and image.server_id == SERVER


def test_resources_are_read_only_views_of_the_api_fields():
    server = res.Server({"id": "a", "name": "web", "status": "ACTIVE"})
    assert server.name == server["name"] == "web" and server.get("x") is None
    with pytest.raises(AttributeError):
        server.status = "ERROR"
    with pytest.raises(AttributeError, match="no field 'nope'"):
        server.nope
    assert server.to_dict() == {"id": "a", "name": "web", "status": "ACTIVE"}
    assert repr(server) == "<Server id='a' name='web' status='ACTIVE'>"
