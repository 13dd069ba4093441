"""The Python bindings in-process against a real nativesnap-api (fake driver):
every verb, page following, microversion negotiation, typed errors that carry
the API's message and request id, and bounded waits."""

import time

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
import pytest

from nativesnap.client import Client
from nativesnap.client import exceptions
from nativesnap.client import Image
from nativesnap.client import Server
from nativesnap.client import Snapshot
from tests.functional.client_helpers import PAGE_SIZE
from tests.functional import helpers

pytest_plugins = ["tests.functional.client_fixtures"]

MISSING = "00000000-0000-4000-8000-000000000002"


@pytest.fixture
def client(client_api, admin_token):
    return Client(client_api.url, token=admin_token)


def adopt(client, prefix="vm-", **kwargs):
    ref = helpers.unique(prefix)
    return client.adopt_server(kwargs.pop("name", ref), "fake", ref, **kwargs)


def available(client, server, name="snap"):
    snap = client.create_snapshot(server, name)
    return client.wait_for_status(snap, "available", timeout=30, interval=0.05)


class CountingConnection:
    """Counts the GETs the client sends (pages), passing them on."""

    def __init__(self, client):
        self.urls = []
        self._get_json = client._conn.get_json
        client._conn.get_json = self

    def __call__(self, url, **kwargs):
        self.urls.append(url)
        return self._get_json(url, **kwargs)


# --- negotiation --------------------------------------------------------------


def test_client_negotiates_the_highest_shared_microversion_and_sends_it(
        client):
    assert client.server_versions() == ("1.0", "1.2")
    assert client.api_version == "1.2"
    server = adopt(client)
    snap = available(client, server)
    # Only a request sent with 1.1 or later gets a snapshot view with its images.
    assert snap.images == []


def test_a_pinned_microversion_is_sent_and_one_outside_the_range_refused(
        client_api, admin_token):
    old = Client(client_api.url + "/v1/", token=admin_token, api_version="1.0")
    assert old.api_version == "1.0"
    snap = available(old, adopt(old))
    assert "images" not in snap.to_dict()
    with pytest.raises(exceptions.UnsupportedVersion, match="not 1.7"):
        next(Client(client_api.url, token=admin_token,
                    api_version="1.7").servers())
    # What the server itself answers for a version it does not serve: 406.
    with pytest.raises(exceptions.NotAcceptable) as err:
        old._conn.request("GET", "/v1/servers", microversion="1.9")
    assert "between 1.0 and 1.2" in err.value.message


def test_a_keystoneauth_session_works_in_place_of_endpoint_and_token(
        client_api, admin_token):
    session = ks_session.Session(auth=token_endpoint.Token(client_api.url,
                                                           admin_token))
    client = Client(session=session)
    server = adopt(client)
    assert client.endpoint == client_api.url
    assert [s.id for s in client.servers()] == [server.id]


# --- servers ------------------------------------------------------------------


def test_servers_follows_servers_links_across_every_page(client):
    ids = {adopt(client).id for _ in range(PAGE_SIZE * 2 + 1)}
    counter = CountingConnection(client)
    listed = list(client.servers())
    assert {s.id for s in listed} == ids and len(listed) == len(ids)
    assert all(isinstance(s, Server) for s in listed)
    assert len(counter.urls) == 3  # 3 + 3 + 1
    assert "marker=" in counter.urls[1] and counter.urls[1].startswith("http")
    first = list(client.servers(paginated=False))
    assert len(first) == PAGE_SIZE


def test_server_verbs_adopt_get_find_spawn_revert_and_delete(client):
    server = adopt(client, name="web")
    assert server.status == "ACTIVE" and server.origin == "adopted"
    assert client.get_server(server.id) == client.find_server("web")
    snap = available(client, server)

    new = client.spawn_server("copy", snap, linked=True)
    assert new.status == "BUILD"
    new = client.wait_for_status(new, ("ACTIVE", "SHUTOFF"),
                                 failures=("ERROR",), timeout=30, interval=0.05)
    assert new.status == "ACTIVE" and new.source_snapshot_id == snap.id

    second = available(client, server, "second")
    assert client.get_snapshot(second).is_current
    assert client.revert_server(server, snap) is None
    done = client.wait_for_task(server, timeout=30, interval=0.05)
    assert done.task_state is None
    assert client.get_snapshot(snap).is_current

    client.delete_server(new)
    with pytest.raises(exceptions.NotFound):
        client.get_server(new.id)
    client.delete_server(new, ignore_missing=True)


# --- snapshots ----------------------------------------------------------------


def test_snapshots_follow_snapshots_links_per_server_and_for_all(client):
    one, two = adopt(client), adopt(client)
    mine = {available(client, one, f"s{i}").id for i in range(PAGE_SIZE + 2)}
    theirs = available(client, two).id
    assert {s.id for s in client.snapshots(server=one)} == mine
    assert {s.id for s in client.snapshots()} == mine | {theirs}
    assert all(isinstance(s, Snapshot) for s in client.snapshots())
    found = client.find_snapshot("s0", server=one.id)
    assert found.name == "s0" and found.server_id == one.id
    assert client.find_snapshot(found.id).id == found.id


def test_snapshot_create_wait_delete_and_wait_for_delete(client):
    server = adopt(client, prefix="slow-")
    snap = client.create_snapshot(server, "s", description="d", quiesce="off")
    assert snap.status == "creating" and snap.description == "d"
    seen = []
    snap = client.wait_for_status(snap, "available", timeout=30, interval=0.05,
                                  callback=seen.append)
    assert snap.status == "available" and snap.consistency == "crash"
    assert seen[-1] == 100 and seen == sorted(seen)  # progress only grows
    deleting = client.delete_snapshot(snap)
    assert deleting.status == "deleting"
    assert client.wait_for_delete(deleting, timeout=30, interval=0.05) is None
    assert client.delete_snapshot(snap, ignore_missing=True) is None


def test_export_returns_an_image_that_wait_for_status_follows_to_active(client):
    server = adopt(client, prefix="slow-")
    snap = available(client, server)
    image = client.export_snapshot(snap, "golden")
    assert isinstance(image, Image) and image.status == "saving"
    assert image.snapshot_id == snap.id and image.server_id == server.id
    image = client.wait_for_status(image, "active", timeout=30, interval=0.05)
    assert image.size_bytes > 0 and len(image.sha256) == 64
    assert list(image.to_dict()) == list(Image.fields) + ["links"]
    assert [i.id for i in client.get_snapshot(snap).image_list()] == [image.id]


def test_export_sends_image_ref_which_the_local_store_refuses(client):
    """image_ref reaches the API: the local image store has no image service
    to find it in (400, nothing recorded)."""
    snap = available(client, adopt(client))
    with pytest.raises(exceptions.BadRequest,
                       match="image_ref names an image of an image service; "
                             "the local image store has none") as err:
        client.export_snapshot(snap, "golden",
                               image_ref="44444444-4444-4444-8444-444444444444")
    assert err.value.http_status == 400
    assert list(client.images(snapshot=snap)) == []


# --- images -------------------------------------------------------------------


def test_images_list_find_and_delete_exports_across_pages(client):
    server = adopt(client)
    first, second = available(client, server, "a"), available(client, server, "b")
    mine = {client.wait_for_status(client.export_snapshot(first, f"i{n}"),
                                   "active", timeout=30, interval=0.05).id
            for n in range(PAGE_SIZE)}
    last = client.wait_for_status(client.export_snapshot(second, "last"),
                                  "active", timeout=30, interval=0.05)
    counter = CountingConnection(client)
    listed = list(client.images())
    assert {i.id for i in listed} == mine | {last.id}
    assert all(isinstance(i, Image) for i in listed)
    assert len(counter.urls) == 2  # 3 + 1
    assert {i.id for i in client.images(snapshot=first)} == mine
    assert [i.id for i in client.images(server=server.id,
                                        status="active",
                                        snapshot=second.id)] == [last.id]
    assert list(client.images(status="error")) == []

    assert client.find_image("last") == client.get_image(last.id)
    assert client.find_image(last.id).snapshot_id == second.id
    assert client.delete_image(client.find_image("last")) is None
    assert client.wait_for_delete(last, timeout=5, interval=0.05) is None
    with pytest.raises(exceptions.NotFound) as err:
        client.get_image(last.id)
    assert err.value.message == f"Image {last.id} could not be found."
    assert client.delete_image(last, ignore_missing=True) is None
    with pytest.raises(exceptions.NotFound, match="No image with ID or name"):
        client.find_image("last")


def test_an_export_is_followed_at_microversion_1_0_too(client_api,
                                                       admin_token):
    old = Client(client_api.url, token=admin_token, api_version="1.0")
    snap = available(old, adopt(old))
    image = old.wait_for_status(old.export_snapshot(snap, "old"), "active",
                                timeout=30, interval=0.05)
    assert image.status == "active" and image.snapshot_id == snap.id
    assert [i.id for i in old.images()] == [image.id]


def test_an_image_outlives_its_snapshot_and_server(client, client_api):
    server = adopt(client)
    snap = available(client, server)
    image = client.wait_for_status(client.export_snapshot(snap, "kept"),
                                   "active", timeout=30, interval=0.05)
    client.wait_for_delete(client.delete_snapshot(snap), timeout=30,
                           interval=0.05)
    client.delete_server(server)
    client.wait_for_delete(server, timeout=30, interval=0.05)
    kept = client.get_image(image.id)
    assert kept.status == "active" and kept.server_id == server.id
    assert [i.id for i in client.images(server=server)] == [image.id]
    client.delete_image(kept)
    assert list(client.images()) == []


# --- waits --------------------------------------------------------------------


def test_wait_for_status_raises_resource_failure_with_the_fault(client):
    server = adopt(client, prefix="fail-")
    snap = client.create_snapshot(server, "doomed")
    with pytest.raises(exceptions.ResourceFailure) as err:
        client.wait_for_status(snap, "available", timeout=30, interval=0.05)
    assert "went to status 'error'" in str(err.value)
    assert "injected failure" in str(err.value)
    assert err.value.resource.fault["message"] in str(err.value)


def test_wait_for_status_gives_up_at_its_timeout(client, client_api):
    server = adopt(client, prefix="slow-")  # tasks take 1.5 s
    snap = client.create_snapshot(server, "patient")
    started = time.monotonic()
    with pytest.raises(exceptions.WaitTimeout) as err:
        client.wait_for_status(snap, "available", timeout=0.3, interval=0.05)
    assert time.monotonic() - started < 3  # bounded (generous for a busy CI)
    assert "Timed out after 0.3 s" in str(err.value)
    assert err.value.resource.status == "creating"
    helpers.wait_idle(client_api, server.id, client._conn.session.auth.token)


# --- errors -------------------------------------------------------------------


def _raises(exc_type, fn, *args, **kwargs):
    with pytest.raises(exc_type) as err:
        fn(*args, **kwargs)
    assert isinstance(err.value, exceptions.ClientException)
    assert err.value.request_id.startswith("req-")
    return err.value


def test_each_fault_is_a_typed_exception_with_the_api_message_and_request_id(
        client, client_api):
    server = adopt(client, prefix="slow-")
    e404 = _raises(exceptions.NotFound, client.get_snapshot, MISSING, server)
    assert e404.message == f"Snapshot {MISSING} could not be found."
    assert e404.http_status == 404 and e404.fault_name == "itemNotFound"
    assert e404.request_id in client_api.read_log()

    e400 = _raises(exceptions.BadRequest, client.create_snapshot, server, " x")
    assert "'snapshot/name' must be" in e400.message

    client.create_snapshot(server, "busy")
    e409 = _raises(exceptions.Conflict, client.create_snapshot, server, "again")
    assert "busy with task 'snapshotting'" in e409.message
    assert e409.fault_name == "conflictingRequest"

    e413 = _raises(exceptions.RequestTooLarge, client.create_snapshot, server,
                   "big", description="x" * (1024 * 1024 + 1))
    assert e413.fault_name == "overLimit"

    member = Client(client_api.url, token="alice:proj-a")
    e403 = _raises(exceptions.Forbidden, member.adopt_server, "n", "fake", "r")
    assert "Policy" in e403.message

    anonymous = Client(client_api.url)
    e401 = _raises(exceptions.Unauthorized, anonymous.get_server, server.id)
    assert e401.http_status == 401
    helpers.wait_idle(client_api, server.id, client._conn.session.auth.token)


def test_an_unreachable_api_raises_connection_failed():
    client = Client("http://127.0.0.1:9", token="a:b")
    with pytest.raises(exceptions.ConnectionFailed):
        list(client.servers())
