"""Security properties of a real nativesnap-api beyond project isolation
(which tests/functional/test_api_isolation.py proves route by route, with
the admin-only routes' 403s) and the request log of a default service
(tests/functional/test_api_logging.py):

- the state directory is made 0700 even when it existed wider, and every
  file and directory the service creates in it (the sqlite database and its
  WAL files, the fake driver's state, the image store, exported images) is
  readable by the service's user alone;
- an export's file is named by the image's UUID inside the image store,
  whatever its image name (path traversal, absolute paths, NUL-like escapes):
  nothing is written anywhere else; and the store itself refuses any file
  name but a UUID with a known disk format, so its paths never leave it;
- tokens are never logged, with debug logging on, for noauth2 and for
  keystone (whose middleware sees the raw token).
"""

import os
import stat
import uuid

from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from nativesnap import exception
from nativesnap.image import local as local_store
from tests import fixtures
from tests.functional import helpers as h

# Files the test fixture (not the service) writes into the state directory.
FIXTURE_FILES = {"nativesnap.conf", "api.log"}

# Debug logging, for the libraries that handle tokens and credentials too.
DEBUG_LOGGING = {
    "debug": "true",
    "default_log_levels": ",".join(
        f"{name}=DEBUG" for name in (
            "nativesnap", "keystonemiddleware", "keystoneauth", "oslo_policy",
            "oslo_context", "oslo_db", "routes", "cheroot", "urllib3",
            "requests", "stevedore", "oslo.cache")),
}


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def _tree(top):
    """Every path under ``top`` (relative), files and directories."""
    found = set()
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(root, name), top))
    return found


@pytest.fixture(scope="module")
def private_api(tmp_path_factory):
    """A service on sqlite with debug logging, whose state directory existed
    with mode 0755 before it first started."""
    state = str(tmp_path_factory.mktemp("api-private"))
    os.chmod(state, 0o755)
    server = fixtures.APIServer(state, fixtures.sqlite_url(state),
                                extra_conf={"DEFAULT": DEBUG_LOGGING})
    os.chmod(server.conf_path, 0o600)
    server.manage("db", "sync")
    server.start()
    yield server
    server.stop()


def test_the_state_directory_is_made_0700_though_it_existed_0755(private_api):
    assert _mode(private_api.state_dir) == 0o700


def test_every_file_the_service_creates_is_private_to_its_user(private_api):
    api = private_api
    server = h.adopt(api)
    snapshot = h.available_snapshot(api, server["id"], h.ALICE)
    image = h.export(api, server["id"], snapshot["id"], h.ALICE)
    h.wait_idle(api, server["id"])
    store = os.path.join(api.state_dir, "images")
    expected = {"nativesnap.sqlite", "nativesnap.sqlite-wal",
                "nativesnap.sqlite-shm", "fake-driver.json", "images",
                "images/.staging", f"images/{image['id']}.qcow2"}
    created = _tree(api.state_dir) - FIXTURE_FILES
    assert expected <= created, sorted(created)
    for relative in sorted(created):
        path = os.path.join(api.state_dir, relative)
        mode = _mode(path)
        assert mode & 0o077 == 0, f"{relative} is {oct(mode)}"
        if os.path.isdir(path):
            assert mode == 0o700, f"{relative} is {oct(mode)}"
    assert _mode(os.path.join(store, f"{image['id']}.qcow2")) == 0o600


TRAVERSAL_NAMES = [
    "../../../../../../tmp/{marker}",
    "/tmp/{marker}",
    "..",
    "../{marker}",
    ".staging/../../{marker}",
    "~/{marker}",
    "..\\..\\{marker}",
    "%2e%2e%2f%2e%2e%2f{marker}",
    "{marker}\u2215..\u2215..\u2215x",  # DIVISION SLASH, not "/"
    "file:///tmp/{marker}",
]


@pytest.mark.parametrize("name", TRAVERSAL_NAMES,
                         ids=[f"name-{i}" for i in range(len(TRAVERSAL_NAMES))])
def test_an_export_is_named_by_its_uuid_in_the_store_whatever_its_image_name(
        api, name):
    marker = h.unique("nativesnap-traversal-")
    name = name.format(marker=marker)
    server = h.adopt(api)
    snapshot = h.available_snapshot(api, server["id"], h.ALICE)
    before = _tree(api.state_dir)
    image = h.export(api, server["id"], snapshot["id"], h.ALICE, image_name=name)
    h.wait_idle(api, server["id"])
    shown = h.get_snapshot(api, server["id"], snapshot["id"], h.ALICE,
                           headers=h.V1_1)["images"]
    assert [(i["id"], i["name"], i["status"]) for i in shown] == [
        (image["id"], name, "active")]
    store = os.path.realpath(os.path.join(api.state_dir, "images"))
    path = os.path.join(store, f"{image['id']}.qcow2")
    assert shown[0]["location"] == f"file://{path}"
    with open(path, "rb") as f:
        assert snapshot["id"].encode() in f.read()
    # The only new path in the state directory is the image file; nothing
    # was made anywhere the name points at.
    new = {p for p in _tree(api.state_dir) - before
           if not p.startswith("fake-driver.json.")}
    assert new == {f"images/{image['id']}.qcow2"}
    for top in ("/tmp", os.path.dirname(api.state_dir), api.state_dir, store):
        assert not any(marker in entry for entry in os.listdir(top)), top


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(image_id=st.one_of(st.uuids().map(str), st.text(max_size=60),
                          st.uuids().map(lambda u: "../" + str(u)),
                          st.uuids().map(lambda u: str(u) + "/.."),
                          st.uuids().map(lambda u: "{%s}" % u),
                          st.uuids().map(lambda u: "urn:uuid:%s" % u)),
       disk_format=st.one_of(st.sampled_from(local_store.DISK_FORMATS),
                             st.text(max_size=12)))
@example(image_id="../../etc/passwd", disk_format="qcow2")
@example(image_id=str(uuid.UUID(int=0)), disk_format="qcow2/../../x")
@example(image_id="/" + str(uuid.UUID(int=1)), disk_format="qcow2")
def test_the_image_store_never_builds_a_path_outside_itself(
        tmp_path_factory, image_id, disk_format):
    store = local_store.LocalImageStore(
        str(tmp_path_factory.getbasetemp() / "store-paths" / "images"))
    for build, parent in ((store.final_path, store.path),
                          (store.staging_path, os.path.join(store.path,
                                                            ".staging"))):
        try:
            path = build(image_id, disk_format)
        except exception.Invalid:
            continue
        assert os.path.dirname(path) == parent
        assert os.path.normpath(path) == path
        name = os.path.basename(path)
        assert name == f"{image_id}.{disk_format}"
        assert disk_format in local_store.DISK_FORMATS
        assert "/" not in name and name not in (".", "..")


# --- tokens and logs ---------------------------------------------------------------


def test_no_token_is_logged_with_debug_logging_on(private_api):
    api = private_api
    user, project = h.unique("dbguser-"), h.unique("dbgproj-")
    token = f"{user}:{project}"
    server = h.adopt(api, project_id=project, prefix="slow-")
    h.ok(api.request("GET", "/v1/servers", token=token))
    h.ok(api.request("POST", h.snapshot_path(server["id"]), token=token,
                     json={"snapshot": {"name": "n"}}), 202)
    h.assert_fault(api.request("POST", h.snapshot_path(server["id"]),
                               token=token, json={"snapshot": {"name": "n"}}),
                   409)  # busy: the running task is named, not the caller's token
    h.wait_idle(api, server["id"])
    h.assert_fault(api.request("GET", "/v1/servers?all_projects=1", token=token),
                   403)
    h.assert_fault(api.request("GET", f"/v1/servers/{uuid.uuid4()}", token=token),
                   404)
    h.assert_fault(api.request("POST", h.snapshot_path(server["id"]),
                               token=token, json={"snapshot": {}}), 400)
    refused = h.unique("refused-") + " :" + h.unique("x-")
    h.assert_fault(api.request("GET", "/v1/servers", token=refused), 401)
    log = api.read_log()
    assert " DEBUG " in log  # debug logging is really on
    assert f"{user} {project}" in log  # the caller is logged, as context
    assert token not in log
    assert refused not in log and refused.split(":")[1] not in log


@pytest.fixture(scope="module")
def keystone_debug_api(tmp_path_factory):
    """keystone auth with debug logging; no keystone answers, so every token
    is refused, after the middleware has handled it."""
    state = str(tmp_path_factory.mktemp("api-keystone-debug"))
    port = fixtures.free_port()
    server = fixtures.APIServer(state, fixtures.sqlite_url(state), extra_conf={
        "DEFAULT": DEBUG_LOGGING,
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


def test_no_keystone_token_is_logged_with_debug_logging_on(keystone_debug_api):
    api = keystone_debug_api
    tokens = ["gAAAAAB" + uuid.uuid4().hex * 3, h.unique("opaque-token-")]
    for token in tokens:
        resp = api.request("GET", "/v1/servers", token=token, timeout=60)
        assert resp.status_code in (401, 503), resp.text
        assert token not in resp.text
    log = api.read_log()
    assert " DEBUG " in log
    for token in tokens:
        assert token not in log
        assert token[:24] not in log  # nor a recognisable part of it
