"""kill -9 of nativesnap-api at every failpoint of create, delete, revert,
spawn and export, on real guests, and an injected error in each operation.

Each crash case starts the module's nativesnap-api with one failpoint armed
(``[fault_injection] failpoints = <name>=crash``), prepares a guest through
the API, sends the request, and waits for the process to die by SIGKILL at
that step (its log shows the failpoint's warning). The service is started
again without the failpoint; start-up recovery runs before it answers. Then:
the server is idle and running, its guest thawed, no block job left, the
database and libvirt agree, no stray file is left in its directory or the
image store, the data written before the operation reads the same inside the
guest, and the operation has the outcome the table below states (rolled
forward, or rolled back with a fault that says it was interrupted). Every
case ends with the server taking new work.

The error cases arm ``<name>=error@1``: the operation fails once with a fault
naming the failpoint, everything stays consistent without a restart, and the
same operation then succeeds.
"""

import os
import sqlite3
import time

import libvirt
import pytest
import requests

from nativesnap.virt.libvirt import xml as lxml_xml
from tests import fixtures
from tests import guest as guestlib
from tests.functional import libvirt_helpers as lh

pytest_plugins = ["tests.functional.guest_fixtures"]

KIB = 1024
WAIT = 60  # bound of every wait on the service or a guest
V11 = {"OpenStack-API-Version": "snapshot 1.1"}
INTERRUPTED = "interrupted by a restart of the service"


class Service:
    """This module's nativesnap-api: one state directory and database for
    every case, started with a failpoint armed and again without."""

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.db_url = fixtures.sqlite_url(state_dir)
        self.api = None
        self.armed = False
        self._log_offset = 0

    def start(self, failpoint=None):
        extra = ({"fault_injection": {"failpoints": failpoint}}
                 if failpoint else None)
        self.stop()
        self.api = fixtures.APIServer(self.state_dir, self.db_url,
                                      drivers=("libvirt",), extra_conf=extra)
        self._log_offset = (os.path.getsize(self.api.log_path)
                            if os.path.exists(self.api.log_path) else 0)
        self.armed = bool(failpoint)
        return self.api.start()

    def unarmed(self):
        """The service running without failpoints (started if need be)."""
        if self.armed or self.api is None or self.api.proc.poll() is not None:
            self.start()
        return self.api

    def log(self):
        """The log of the process started last."""
        return self.api.read_log()[self._log_offset:]

    def wait_killed_at(self, name):
        """The process died by SIGKILL, and at this failpoint."""
        try:
            code = self.api.proc.wait(WAIT)
        except Exception:
            self.api.kill()
            raise AssertionError(f"nativesnap-api did not die at {name}; log:\n"
                                 f"{self.log()[-3000:]}") from None
        assert code == -9, (code, self.log()[-3000:])
        assert f"Failpoint {name} fired" in self.log(), self.log()[-3000:]

    def stop(self):
        if self.api is not None:
            self.api.kill()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    state = str(tmp_path_factory.mktemp("failpoints"))
    svc = Service(state)
    fixtures.APIServer(state, svc.db_url, drivers=("libvirt",)).manage("db", "sync")
    yield svc
    svc.stop()


def _pivot(dom, deadline):
    """libvirt may see cur == end before QEMU's "ready" event: retry."""
    while True:
        try:
            dom.blockJobAbort("vda", libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
            return
        except libvirt.libvirtError as e:
            if (e.get_error_code() != libvirt.VIR_ERR_BLOCK_COPY_ACTIVE
                    or time.monotonic() > deadline):
                raise
            time.sleep(0.05)


def _flatten(guest):
    """Commit the guest's whole disk chain into its bottom file and point
    its definition there: the next case starts on a chain of one. (The
    bottom file is the guest's own disk until a delete pulled a layer up
    off it; then it is a file a former case left in overlay_path.)"""
    dom = guest.lookup()
    chain = lh.backing_chain(lh.active_disks(guest)["vda"])
    if len(chain) > 1:
        dom.blockCommit("vda", None, None, 0,
                        libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE)
        deadline = time.monotonic() + WAIT
        while True:
            info = dom.blockJobInfo("vda", 0)
            if info and info["end"] and info["cur"] == info["end"] and info.get(
                    "ready", 1):
                break
            assert time.monotonic() < deadline, info
            time.sleep(0.05)
        _pivot(dom, deadline)
        while dom.blockJobInfo("vda", 0):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    bottom = chain[-1]
    inactive = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    if {d.target: d.source for d in lxml_xml.disks(inactive)
            if d.device == "disk"} != {"vda": bottom}:
        guest.conn.defineXML(lxml_xml.set_disk_sources(inactive, {"vda": bottom}))
    assert lh.backing_chain(lh.active_disks(guest)["vda"]) == [bottom]


def _healthy(guest):
    """Running, agent answering, thawed, no block job, a chain of one."""
    try:
        dom = guest.lookup()
        if dom is None or not dom.isActive() or dom.blockJobInfo("vda", 0):
            return False
        guest.wait_for_agent(timeout=WAIT)
        return (guest.fsfreeze_status() == "thawed"
                and len(lh.backing_chain(lh.active_disks(guest)["vda"])) == 1)
    except Exception:
        return False


def _release(service, guest):
    """Forget the servers a case adopted for ``guest`` (the domain is left
    as it is) and flatten its chain. Returns what went wrong, or None."""
    try:
        api = service.unarmed()
        with sqlite3.connect(service.db_url[len("sqlite:///"):]) as db:
            ids = [row[0] for row in db.execute(
                "SELECT id FROM servers WHERE hypervisor_ref = ?", (guest.uuid,))]
        for server_id in ids:
            resp = api.request("DELETE", f"/v1/servers/{server_id}", token=lh.ADMIN)
            if resp.status_code != 204:
                return f"forgetting server {server_id}: {resp.status_code} {resp.text}"
        _flatten(guest)
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return None if _healthy(guest) else "the guest is not back to running, thawed"


@pytest.fixture(scope="module")
def _guest_holder(libvirt_conn, guest_images, tmp_path_factory):
    from tests.functional import guest_fixtures

    factory = guest_fixtures.GuestFactory(libvirt_conn, guest_images,
                                          tmp_path_factory.mktemp("guests"))
    holder = {"factory": factory, "guest": None}
    yield holder
    factory.cleanup()


@pytest.fixture
def guest(_guest_holder, service):
    """The module's booted 1-disk guest, lent to one case at a time: each
    case adopts it as a new server; afterwards the server is forgotten and
    the chain flattened, or the guest replaced when it is not back to
    running, thawed, on a chain of one (a boot costs 4-8 s under TCG)."""
    current = _guest_holder["guest"]
    if current is None or not _healthy(current):
        if current is not None:
            current.cleanup()
        current = _guest_holder["guest"] = _guest_holder["factory"](disks=1)
    yield current
    problem = _release(service, current)
    if problem:
        # The next case gets a new guest, and this one's problem is reported.
        current.cleanup()
        _guest_holder["guest"] = None
        pytest.fail(f"after the case, {problem}")


@pytest.fixture
def spawned_domains(service, libvirt_conn):
    """Removes the domains of spawned servers a failed case may leave."""
    yield
    with sqlite3.connect(service.db_url[len("sqlite:///"):]) as db:
        ids = [row[0] for row in db.execute(
            "SELECT id FROM servers WHERE origin = 'spawned'")]
    for server_id in ids:
        clone = guestlib.Guest.attach(libvirt_conn, server_id)
        if clone is not None:
            if clone.domain.isActive():
                clone.domain.destroy()
            clone.domain.undefine()


def _send(api, method, path, body=None):
    """The request that reaches the failpoint. The task may run before the
    answer is written, so the service can die first: None then."""
    try:
        resp = api.request(method, path, token=lh.ADMIN, json=body)
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        return None
    assert resp.status_code in (201, 202), resp.text
    return resp


def _files(directory):
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return []


def assert_consistent(api, guest, server_id, status="ACTIVE"):
    """No task left, nothing creating/deleting, every recorded frozen and
    memory file present, no stray file in the server's directory, the
    domain running on its definition's disks, no block job, guest thawed."""
    srv = lh.server(api, server_id)
    assert srv["task_state"] is None, srv
    assert srv["status"] == status, srv
    dom = guest.lookup()
    assert dom.isActive() == (status == "ACTIVE")
    snaps = lh.snapshots(api, server_id)
    assert not [s for s in snaps.values() if s["status"] in ("creating", "deleting")]
    info = lh.driver_info(api, server_id)
    records = info.get("snapshots", {})
    assert set(records) >= {sid for sid, s in snaps.items()
                            if s["status"] == "available"}
    used = set()
    for sid, record in records.items():
        for path in list(record["disks"].values()) + [record.get("memory_file")]:
            if path:
                assert os.path.exists(path), (sid, path)
                used.add(path)
    live = lh.active_disks(guest)
    defined = {d.target: d.source for d in lxml_xml.disks(
        dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) if d.device == "disk"}
    assert live == defined
    for target, source in live.items():
        used |= set(lh.backing_chain(source))
        if dom.isActive():
            assert dom.blockJobInfo(target, 0) == {}, target
    directory = os.path.join(api.state_dir, "libvirt", server_id)
    stray = [f for f in _files(directory) if f.endswith((".qcow2", ".mem"))
             and os.path.join(directory, f) not in used]
    assert stray == []
    if dom.isActive():
        assert guest.fsfreeze_status() == "thawed"
    assert _files(os.path.join(api.state_dir, "images", ".staging")) == []
    return srv, snaps


def _adopted(api, guest):
    return guest, lh.adopt(api, guest)


def _takes_new_work(api, guest, server_id):
    """The lock is free and the chain usable: a quiesced snapshot works."""
    snap = lh.snapshot(api, server_id, name="afterwards")
    assert snap["consistency"] == "application"
    assert_consistent(api, guest, server_id)


# --- create ------------------------------------------------------------------

CREATE = [  # failpoint, the snapshot after recovery
    ("manager.create.before_driver", "error"),
    ("libvirt.create.overlays_created", "error"),
    ("libvirt.create.before_freeze", "error"),
    ("libvirt.create.after_freeze", "error"),
    ("libvirt.create.after_snapshot_call", "available"),
    ("libvirt.create.after_thaw", "available"),
    ("manager.create.before_db_save", "available"),
]


@pytest.mark.parametrize("failpoint,outcome", CREATE)
def test_kill_9_during_create_rolls_back_or_forward_with_the_guest_thawed(
        service, guest, failpoint, outcome):
    api = service.start(f"{failpoint}=crash")
    guest, srv = _adopted(api, guest)
    a = guest.write_random("/data/f", 256 * KIB)
    _send(api, "POST", f"/v1/servers/{srv['id']}/snapshots",
          {"snapshot": {"name": "cut"}})
    service.wait_killed_at(failpoint)
    api = service.start()

    _srv, snaps = assert_consistent(api, guest, srv["id"])
    (snap,) = snaps.values()
    assert snap["status"] == outcome, snap
    assert guest.sha256("/data/f") == a
    if outcome == "error":
        assert INTERRUPTED in snap["fault"]["message"]
        assert not snap["is_current"]
        _takes_new_work(api, guest, srv["id"])
        return
    assert snap["is_current"] and snap["fault"] is None
    guest.write_random("/data/f", 64 * KIB)
    lh.revert(api, srv["id"], snap["id"])  # the rolled-forward snapshot is usable
    guest.wait_for_agent(timeout=WAIT)
    assert guest.sha256("/data/f") == a
    _takes_new_work(api, guest, srv["id"])


# --- delete ------------------------------------------------------------------

# "middle": s1 <- s2 <- active, delete s1 (s2's layer is committed into s1's
# file by an intermediate blockCommit). "current": s1 <- active, delete s1 (an
# active blockCommit, with a pivot).
DELETE = [  # failpoint, scenario, the snapshot after recovery
    ("manager.delete.before_driver", "middle", "error_deleting"),
    ("libvirt.delete.block_job_started", "middle", "error_deleting"),
    ("libvirt.delete.block_job_done", "middle", "error_deleting"),
    ("manager.delete.before_db_save", "middle", "gone"),
    ("libvirt.delete.block_job_started", "current", "error_deleting"),
    ("libvirt.delete.before_pivot", "current", "error_deleting"),
    ("libvirt.delete.block_job_done", "current", "gone"),
]


@pytest.mark.parametrize("failpoint,scenario,outcome", DELETE)
def test_kill_9_during_delete_finishes_it_or_keeps_it_retryable_and_data_exact(
        service, guest, failpoint, scenario, outcome):
    api = service.start(f"{failpoint}=crash")
    guest, srv = _adopted(api, guest)
    s1 = lh.snapshot(api, srv["id"], name="s1")
    b = s2 = None
    if scenario == "middle":
        b = guest.write_random("/data/f", 512 * KIB)
        s2 = lh.snapshot(api, srv["id"], name="s2", memory=True)  # quick revert
    c = guest.write_random("/data/f", 64 * KIB)
    _send(api, "DELETE", f"/v1/servers/{srv['id']}/snapshots/{s1['id']}")
    service.wait_killed_at(failpoint)
    api = service.start()

    _srv, snaps = assert_consistent(api, guest, srv["id"])
    assert guest.sha256("/data/f") == c
    if outcome == "gone":
        assert s1["id"] not in snaps
    else:
        assert snaps[s1["id"]]["status"] == outcome
        assert INTERRUPTED in snaps[s1["id"]]["fault"]["message"]
        lh.delete_snapshot(api, srv["id"], s1["id"])  # the retry finishes it
        assert_consistent(api, guest, srv["id"])
    assert guest.sha256("/data/f") == c
    if s2 is not None:
        assert list(lh.snapshots(api, srv["id"])) == [s2["id"]]
        lh.revert(api, srv["id"], s2["id"])  # the later snapshot is exact
        guest.wait_for_agent(timeout=WAIT)
        assert guest.sha256("/data/f") == b
    _takes_new_work(api, guest, srv["id"])


# --- revert ------------------------------------------------------------------

REVERT = [  # failpoint, reverted after recovery
    ("manager.revert.before_driver", False),
    ("libvirt.revert.overlays_created", False),
    ("libvirt.revert.domain_stopped", False),
    ("libvirt.revert.after_define", True),
    ("libvirt.revert.after_start", True),
    ("manager.revert.before_db_save", True),
]


@pytest.mark.parametrize("failpoint,reverted", REVERT)
def test_kill_9_during_revert_leaves_the_guest_running_on_one_whole_state(
        service, guest, failpoint, reverted):
    api = service.start(f"{failpoint}=crash")
    guest, srv = _adopted(api, guest)
    # A memory snapshot: the revert (and a roll-forward) resumes the guest
    # from its saved RAM instead of booting it. It is the current snapshot,
    # so the active layer rests on its frozen file just as the revert's new
    # overlay does: only the overlay's name (the task's id) tells them apart.
    a = guest.write_random("/data/f", 64 * KIB)
    s1 = lh.snapshot(api, srv["id"], name="s1", memory=True)
    c = guest.write_random("/data/f", 64 * KIB)
    _send(api, "POST", f"/v1/servers/{srv['id']}/action",
          {"revert": {"snapshot_id": s1["id"]}})
    service.wait_killed_at(failpoint)
    api = service.start()

    guest.wait_for_agent(timeout=WAIT)  # booted again where it was stopped
    after, snaps = assert_consistent(api, guest, srv["id"])
    assert snaps[s1["id"]]["status"] == "available" and snaps[s1["id"]]["is_current"]
    if reverted:
        assert after["fault"] is None
        assert guest.sha256("/data/f") == a
    else:
        assert INTERRUPTED in after["fault"]["message"]
        assert guest.sha256("/data/f") == c
    _takes_new_work(api, guest, srv["id"])


# --- spawn -------------------------------------------------------------------

SPAWN = [  # failpoint, linked, the new server's status after recovery
    ("manager.spawn.before_driver", True, "ERROR"),
    ("libvirt.spawn.converting", False, "ERROR"),
    ("libvirt.spawn.disks_created", True, "ERROR"),
    ("libvirt.spawn.after_define", True, "SHUTOFF"),
    ("libvirt.spawn.after_start", True, "ACTIVE"),
    ("manager.spawn.before_db_save", False, "ACTIVE"),
]


def _spawned(api, snapshot_id):
    resp = api.request("GET", "/v1/servers", token=lh.ADMIN)
    assert resp.status_code == 200, resp.text
    (new,) = [s for s in resp.json()["servers"]
              if s.get("source_snapshot_id") == snapshot_id]
    return lh.server(api, new["id"])


def _delete_spawned(api, libvirt_conn, new):
    resp = api.request("DELETE", f"/v1/servers/{new['id']}", token=lh.ADMIN)
    assert resp.status_code == 204, resp.text
    assert guestlib.Guest.attach(libvirt_conn, new["id"]) is None
    assert not os.path.exists(os.path.join(api.state_dir, "libvirt", new["id"]))


@pytest.mark.parametrize("failpoint,linked,status", SPAWN)
def test_kill_9_during_spawn_keeps_a_defined_clone_or_removes_every_trace(
        service, guest, libvirt_conn, spawned_domains, failpoint, linked,
        status):
    api = service.start(f"{failpoint}=crash")
    guest, srv = _adopted(api, guest)
    a = guest.write_random("/data/f", 64 * KIB)
    s1 = lh.snapshot(api, srv["id"], name="s1")
    _send(api, "POST", "/v1/servers", {"server": {
        "name": "clone", "snapshot_id": s1["id"], "linked": linked}})
    service.wait_killed_at(failpoint)
    api = service.start()

    assert_consistent(api, guest, srv["id"])
    assert guest.sha256("/data/f") == a
    new = _spawned(api, s1["id"])
    assert new["task_state"] is None and new["status"] == status, new
    clone = guestlib.Guest.attach(libvirt_conn, new["id"])
    new_dir = os.path.join(api.state_dir, "libvirt", new["id"])
    if status == "ERROR":
        assert INTERRUPTED in new["fault"]["message"]
        assert clone is None and not os.path.exists(new_dir)
    else:
        assert new["hypervisor_ref"] == new["id"] and clone is not None
        assert clone.domain.isActive() == (status == "ACTIVE")
        if status == "ACTIVE" and linked:  # one boot of a clone is enough
            clone.wait_for_agent(timeout=WAIT)
            assert clone.sha256("/data/f") == a
    _delete_spawned(api, libvirt_conn, new)
    lh.delete_snapshot(api, srv["id"], s1["id"])  # no clone rests on it now
    _takes_new_work(api, guest, srv["id"])


# --- export ------------------------------------------------------------------

EXPORT = [
    "manager.export.before_driver",
    "libvirt.export.converting",
    "libvirt.export.converted",
    "manager.export.before_rename",
    "manager.export.before_db_save",
]


def _images(api, server_id, snapshot_id):
    resp = api.request("GET", f"/v1/servers/{server_id}/snapshots/{snapshot_id}",
                       token=lh.ADMIN, headers=V11)
    assert resp.status_code == 200, resp.text
    return {i["id"]: i for i in resp.json()["snapshot"]["images"]}


def _export(api, server_id, snapshot_id):
    resp = _send(api, "POST",
                 f"/v1/servers/{server_id}/snapshots/{snapshot_id}/action",
                 {"export": {"image_name": "img"}})
    lh.wait_idle(api, server_id)
    return resp


def _assert_files_of_active_images_only(api, server_id, snapshot_id):
    """Of the snapshot's images, exactly the active ones have a file in the
    store, and nothing is left in staging. (The store is shared by the
    module's cases; a forgotten server's images lose their records but not
    their files, which is not what these cases are about.)"""
    store = os.path.join(api.state_dir, "images")
    files = set(_files(store))
    for image in _images(api, server_id, snapshot_id).values():
        assert (f"{image['id']}.qcow2" in files) == (image["status"] == "active"), \
            image
    assert _files(os.path.join(store, ".staging")) == []


@pytest.mark.parametrize("failpoint", EXPORT)
def test_kill_9_during_export_marks_the_image_failed_and_leaves_no_file(
        service, guest, failpoint):
    api = service.start(f"{failpoint}=crash")
    guest, srv = _adopted(api, guest)
    a = guest.write_random("/data/f", 64 * KIB)
    s1 = lh.snapshot(api, srv["id"], name="s1")
    _send(api, "POST", f"/v1/servers/{srv['id']}/snapshots/{s1['id']}/action",
          {"export": {"image_name": "cut"}})
    service.wait_killed_at(failpoint)
    api = service.start()

    _srv, snaps = assert_consistent(api, guest, srv["id"])
    assert snaps[s1["id"]]["status"] == "available"
    assert guest.sha256("/data/f") == a
    (image,) = _images(api, srv["id"], s1["id"]).values()
    assert image["status"] == "error", image
    assert "interrupted" in image["fault"]["message"]
    _assert_files_of_active_images_only(api, srv["id"], s1["id"])
    _export(api, srv["id"], s1["id"])  # exporting again works
    images = _images(api, srv["id"], s1["id"])
    assert sorted(i["status"] for i in images.values()) == ["active", "error"]
    _assert_files_of_active_images_only(api, srv["id"], s1["id"])


# --- injected errors, no restart ----------------------------------------------


def _assert_fault_names(fault, failpoint):
    assert fault["code"] == 500
    assert f"Failpoint {failpoint} triggered" in fault["message"], fault


def test_an_error_while_frozen_fails_the_create_thaws_and_leaves_no_overlay(
        service, guest):
    failpoint = "libvirt.create.after_freeze"
    api = service.start(f"{failpoint}=error@1")
    guest, srv = _adopted(api, guest)
    a = guest.write_random("/data/f", 64 * KIB)
    snap = lh.snapshot(api, srv["id"], name="fails", expect="error")
    _assert_fault_names(snap["fault"], failpoint)
    assert_consistent(api, guest, srv["id"])
    assert len(lh.backing_chain(lh.active_disks(guest)["vda"])) == 1
    assert guest.sha256("/data/f") == a
    _takes_new_work(api, guest, srv["id"])


def test_an_error_mid_block_job_cancels_the_job_and_the_delete_can_be_retried(
        service, guest):
    failpoint = "libvirt.delete.block_job_started"
    api = service.start(f"{failpoint}=error@1")
    guest, srv = _adopted(api, guest)
    s1 = lh.snapshot(api, srv["id"], name="s1")
    c = guest.write_random("/data/f", 512 * KIB)
    resp = _send(api, "DELETE", f"/v1/servers/{srv['id']}/snapshots/{s1['id']}")
    assert resp is not None
    lh.wait_idle(api, srv["id"])
    snap = lh.snapshots(api, srv["id"])[s1["id"]]
    assert snap["status"] == "error_deleting"
    _assert_fault_names(snap["fault"], failpoint)
    assert_consistent(api, guest, srv["id"])  # no block job left running
    assert guest.sha256("/data/f") == c
    lh.delete_snapshot(api, srv["id"], s1["id"])
    assert guest.sha256("/data/f") == c
    _takes_new_work(api, guest, srv["id"])


def test_an_error_after_the_domain_stopped_puts_it_back_running_on_its_disks(
        service, guest):
    failpoint = "libvirt.revert.domain_stopped"
    api = service.start(f"{failpoint}=error@1")
    guest, srv = _adopted(api, guest)
    a = guest.write_random("/data/f", 64 * KIB)
    s1 = lh.snapshot(api, srv["id"], name="s1")
    c = guest.write_random("/data/f", 64 * KIB)
    resp = _send(api, "POST", f"/v1/servers/{srv['id']}/action",
                 {"revert": {"snapshot_id": s1["id"]}})
    assert resp is not None
    after = lh.wait_idle(api, srv["id"])
    _assert_fault_names(after["fault"], failpoint)
    guest.wait_for_agent(timeout=WAIT)
    assert_consistent(api, guest, srv["id"])
    assert guest.sha256("/data/f") == c
    lh.revert(api, srv["id"], s1["id"])  # the same revert now works
    guest.wait_for_agent(timeout=WAIT)
    assert guest.sha256("/data/f") == a
    assert_consistent(api, guest, srv["id"])


def test_an_error_after_define_removes_the_new_domain_and_its_files(
        service, guest, libvirt_conn, spawned_domains):
    failpoint = "libvirt.spawn.after_define"
    api = service.start(f"{failpoint}=error@1")
    guest, srv = _adopted(api, guest)
    guest.write_random("/data/f", 64 * KIB)
    s1 = lh.snapshot(api, srv["id"], name="s1")
    resp = _send(api, "POST", "/v1/servers", {"server": {
        "name": "clone", "snapshot_id": s1["id"], "linked": True}})
    new = lh.wait_idle(api, resp.json()["server"]["id"])
    assert new["status"] == "ERROR"
    _assert_fault_names(new["fault"], failpoint)
    assert guestlib.Guest.attach(libvirt_conn, new["id"]) is None
    assert not os.path.exists(os.path.join(api.state_dir, "libvirt", new["id"]))
    assert_consistent(api, guest, srv["id"])
    _delete_spawned(api, libvirt_conn, new)
    resp = _send(api, "POST", "/v1/servers", {"server": {
        "name": "clone-2", "snapshot_id": s1["id"], "linked": True,
        "power_on": False}})
    again = lh.wait_idle(api, resp.json()["server"]["id"])
    assert again["status"] == "SHUTOFF" and again["fault"] is None
    _delete_spawned(api, libvirt_conn, again)


def test_an_error_mid_convert_fails_the_export_and_leaves_no_file(
        service, guest):
    failpoint = "libvirt.export.converting"
    api = service.start(f"{failpoint}=error@1")
    guest, srv = _adopted(api, guest)
    s1 = lh.snapshot(api, srv["id"], name="s1")
    _export(api, srv["id"], s1["id"])
    (image,) = _images(api, srv["id"], s1["id"]).values()
    assert image["status"] == "error"
    _assert_fault_names(image["fault"], failpoint)
    _assert_files_of_active_images_only(api, srv["id"], s1["id"])
    assert_consistent(api, guest, srv["id"])
    _export(api, srv["id"], s1["id"])
    images = _images(api, srv["id"], s1["id"])
    assert sorted(i["status"] for i in images.values()) == ["active", "error"]
    _assert_files_of_active_images_only(api, srv["id"], s1["id"])


def test_a_merge_whose_outcome_cannot_be_saved_is_reconciled_at_once(
        service, guest):
    # The database failing as a finished delete is saved: the service
    # reconciles the task at once, as after a crash, and s2's state (now in
    # s1's old file) stays exact without a restart.
    failpoint = "manager.delete.before_db_save"
    api = service.start(f"{failpoint}=error@1")
    guest, srv = _adopted(api, guest)
    s1 = lh.snapshot(api, srv["id"], name="s1")
    b = guest.write_random("/data/f", 512 * KIB)
    s2 = lh.snapshot(api, srv["id"], name="s2", memory=True)
    c = guest.write_random("/data/f", 64 * KIB)
    assert _send(api, "DELETE",
                 f"/v1/servers/{srv['id']}/snapshots/{s1['id']}") is not None
    lh.wait_idle(api, srv["id"])
    assert f"Failpoint {failpoint} fired" in service.log()
    _srv, snaps = assert_consistent(api, guest, srv["id"])
    assert list(snaps) == [s2["id"]] and snaps[s2["id"]]["status"] == "available"
    assert guest.sha256("/data/f") == c
    lh.revert(api, srv["id"], s2["id"])
    guest.wait_for_agent(timeout=WAIT)
    assert guest.sha256("/data/f") == b
    _takes_new_work(api, guest, srv["id"])
