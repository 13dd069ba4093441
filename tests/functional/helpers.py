"""HTTP helpers shared by the functional tests of the API.

Every helper talks to a real nativesnap-api (``tests.fixtures.APIServer``) over
HTTP; the database helpers read the service's database directly, to prove what
a request did or did not change.
"""

import contextlib
import re
import uuid

import sqlalchemy as sa

ADMIN = "admin:admin-project"
ALICE = "alice:proj-a"
BOB = "bob:proj-b"
PROJECT_A = "proj-a"
PROJECT_B = "proj-b"

MICROVERSION = "OpenStack-API-Version"
V1_1 = {MICROVERSION: "snapshot 1.1"}

FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden",
               404: "itemNotFound", 405: "badMethod", 406: "notAcceptable",
               409: "conflictingRequest", 413: "overLimit", 500: "computeFault",
               502: "badGateway", 503: "serviceUnavailable"}

TABLES = ("servers", "snapshots", "images")


def unique(prefix=""):
    return f"{prefix}{uuid.uuid4().hex}"


def project_token(user="carol"):
    """A token of a fresh project of its own: its listings start empty."""
    project = unique("proj-")
    return f"{user}:{project}", project


# --- answers -------------------------------------------------------------------


def assert_fault(resp, code, *words):
    """``resp`` is Nova's fault body for ``code`` and its message names every
    one of ``words`` (case-insensitive). Returns the message."""
    assert resp.status_code == code, f"{resp.status_code} {resp.text[:500]}"
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    name = FAULT_NAMES[code]
    assert list(body) == [name], body
    assert body[name]["code"] == code
    message = body[name]["message"]
    assert isinstance(message, str) and message
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    return message


def ok(resp, code=200):
    assert resp.status_code == code, f"{resp.status_code} {resp.text[:500]}"
    return resp.json() if resp.content else None


def ok_response(api, method, path, token=ALICE, code=200, **kwargs):
    """The response of a request that must answer ``code``."""
    resp = api.request(method, path, token=token, **kwargs)
    assert resp.status_code == code, f"{resp.status_code} {resp.text[:500]}"
    return resp


# --- servers -------------------------------------------------------------------


def adopt(api, project_id=PROJECT_A, prefix="vm-", name=None, token=ADMIN):
    """Adopt a fresh fake object (``prefix`` picks its behaviour: slow-, fail-)."""
    ref = unique(prefix)
    server = {"name": name or ref, "driver": "fake", "hypervisor_ref": ref}
    if project_id is not None:
        server["project_id"] = project_id
    resp = api.request("POST", "/v1/servers", token=token, json={"server": server})
    return ok(resp, 201)["server"]


def get_server(api, server_id, token=ADMIN):
    return ok(api.request("GET", f"/v1/servers/{server_id}", token=token))["server"]


def wait_idle(api, server_id, token=ADMIN, timeout=30, interval=0.05):
    """Wait (bounded) until the server runs no task; returns its view."""
    return api.wait_for(
        lambda: (lambda s: s if s["task_state"] is None else None)(
            get_server(api, server_id, token)),
        timeout=timeout, interval=interval,
        what=f"server {server_id} to finish its task")


def wait_task(api, server_id, task_state, token=ADMIN, timeout=10):
    """Wait until the server's task_state is ``task_state`` (a task in flight)."""
    return api.wait_for(
        lambda: get_server(api, server_id, token)["task_state"] == task_state,
        timeout=timeout, what=f"server {server_id} to be {task_state}")


def spawn(api, snapshot_id, token=ADMIN, linked=True, wait=True, name=None):
    resp = api.request("POST", "/v1/servers", token=token, json={"server": {
        "name": name or unique("spawned-"), "snapshot_id": snapshot_id,
        "linked": linked}})
    server = ok(resp, 202)["server"]
    return wait_idle(api, server["id"], token) if wait else server


# --- snapshots -----------------------------------------------------------------


def snapshot_path(server_id, snapshot_id=None):
    path = f"/v1/servers/{server_id}/snapshots"
    return path if snapshot_id is None else f"{path}/{snapshot_id}"


def get_snapshot(api, server_id, snapshot_id, token=ADMIN, headers=None):
    return ok(api.request("GET", snapshot_path(server_id, snapshot_id),
                          token=token, headers=headers))["snapshot"]


def create_snapshot(api, server_id, token=ADMIN, name=None, wait=True, **fields):
    """Snapshot a server; with ``wait``, until its task ends (bounded)."""
    body = {"name": name or unique("snap-"), **fields}
    resp = api.request("POST", snapshot_path(server_id), token=token,
                       json={"snapshot": body})
    snapshot = ok(resp, 202)["snapshot"]
    if wait:
        wait_idle(api, server_id, token)
        snapshot = get_snapshot(api, server_id, snapshot["id"], token)
    return snapshot


def available_snapshot(api, server_id, token=ADMIN, **fields):
    snapshot = create_snapshot(api, server_id, token, **fields)
    assert snapshot["status"] == "available", snapshot
    return snapshot


def export(api, server_id, snapshot_id, token=ADMIN, image_name=None):
    resp = api.request("POST", snapshot_path(server_id, snapshot_id) + "/action",
                       token=token, json={"export": {
                           "image_name": image_name or unique("image-")}})
    return ok(resp, 202)["image"]


def revert(api, server_id, snapshot_id, token=ADMIN):
    return api.request("POST", f"/v1/servers/{server_id}/action", token=token,
                       json={"revert": {"snapshot_id": snapshot_id}})


def list_ids(api, path, token=ADMIN, key=None):
    body = ok(api.request("GET", path, token=token))
    key = key or next(k for k in body if not k.endswith("_links"))
    return [item["id"] for item in body[key]]


def follow_pages(api, path, token, key="snapshots", max_pages=1000):
    """Every item of a listing, following its ``next`` links; and the page count."""
    items, pages, url = [], 0, path
    while url:
        pages += 1
        assert pages <= max_pages, "the listing never ends"
        body = ok(api.request("GET", url, token=token))
        items.extend(body[key])
        links = [link["href"] for link in body.get(f"{key}_links", [])
                 if link["rel"] == "next"]
        url = links[0] if links else None
    return items, pages


# --- the database ----------------------------------------------------------------


def db_engine(api):
    return sa.create_engine(api.db_url, poolclass=sa.pool.NullPool)


def db_rows(api):
    """Every row of every table, as plain sorted tuples."""
    engine = db_engine(api)
    try:
        with engine.connect() as conn:
            return {table: sorted(
                tuple(str(v) for v in row)
                for row in conn.execute(sa.text(f"SELECT * FROM {table}")))
                for table in TABLES}
    finally:
        engine.dispose()


def db_query(api, sql, **params):
    engine = db_engine(api)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


@contextlib.contextmanager
def changes_nothing(api):
    """Asserts that the block leaves every row of the database as it was."""
    before = db_rows(api)
    yield
    after = db_rows(api)
    for table in TABLES:
        assert after[table] == before[table], f"table {table} changed"


REQUEST_LOG_RE = re.compile(
    r'(?P<request_id>req-[0-9a-f-]{36}) "(?P<method>[A-Z]+) (?P<path>\S+)" '
    r"status: (?P<status>\d{3}) time: (?P<ms>\d+\.\d) ms")
