"""Faults of the Ceph cluster under the libvirt driver's RBD disks, through
the HTTP API, against the real one-node cluster (tests/ceph_fixtures.py) and a
real TCG guest whose root disk is a qcow2 file and whose data disk is an RBD
image.

The OSD is stopped with SIGSTOP: the process stays, its sockets stay open and
nothing answers, so every OSD operation of a client waits until its timeout
([rbd] connect_timeout for nativesnap): a cluster that stops answering, the
failure docs/rbd.md bounds, the same on every run. It is brought back with
SIGCONT and ``ceph osd down 0`` (see ``_bring_back``), and the test checks it
answers again before it ends (the other RBD tests of the run need it),
restarting the OSD with tools/start-ceph as a last resort.
"""

import contextlib
import os
import signal
import subprocess
import time
import uuid

import pytest
import rados

from tests import fixtures
from tests.functional import libvirt_helpers as lh
from tests.functional import rbd_helpers as rbd

pytest_plugins = ["tests.ceph_fixtures", "tests.functional.guest_fixtures"]

KIB = 1024
MIB = 1024 * KIB
SERIAL = "rbd-data"
WAIT = 120
CONNECT_TIMEOUT = 3      # [rbd] connect_timeout of the test's service
MAX_FREEZE = 10          # [libvirt] max_freeze_seconds (the default)
OSD_ID = "0"
OSD = f"osd.{OSD_ID}"
HEALTHY_TIMEOUT = 60
START_CEPH = os.path.join(fixtures.REPO, "tools", "start-ceph")


# --- the OSD, stopped and brought back -----------------------------------------------


def _osd_pid(ceph):
    """The pid of the running ceph-osd, from the pid file its ceph.conf names
    (tools/start-ceph)."""
    path = subprocess.run(["ceph-conf", "--conf", ceph.conf_path, "--name", OSD,
                           "--lookup", "pid_file"], check=True, capture_output=True,
                          text=True, timeout=30).stdout.strip()
    with open(path, encoding="utf-8") as f:
        pid = int(f.read().strip())
    with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
        assert f.read().strip() == "ceph-osd", f"{path} names pid {pid}, not a ceph-osd"
    return pid


def _state(pid):
    """The process's state letter (T: stopped, Z: exited), None when gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def _answers(ceph, timeout=5):
    """Whether the OSD answers: one object written, read back and removed
    in pool vms, each operation bounded by ``timeout`` s."""
    cluster = rados.Rados(conffile=ceph.conf_path, rados_id="admin", conf={
        "client_mount_timeout": str(timeout),
        "rados_mon_op_timeout": str(timeout),
        "rados_osd_op_timeout": str(timeout)})
    name = f"health-{uuid.uuid4()}"
    data = os.urandom(4 * KIB)
    try:
        cluster.connect(timeout=timeout)
        with cluster.open_ioctx("vms") as ioctx:
            ioctx.write_full(name, data)
            same = ioctx.read(name, len(data)) == data
            ioctx.remove_object(name)
            return same
    except rados.Error:
        return False
    finally:
        cluster.shutdown()


def _ceph(ceph, *args):
    return subprocess.run(["ceph", "--conf", ceph.conf_path, "--connect-timeout",
                           "10", *args], capture_output=True, text=True,
                          timeout=30)


def _bring_back(ceph, pid):
    """SIGCONT, then make the OSD serve again, and wait (bounded) until it
    answers.

    A one-OSD cluster's placement groups stay "laggy" after a pause longer
    than their read lease (Ceph 16.2: nothing renews it, client operations
    wait "for readable" until the next peering interval; ceph-container
    issue 1682): ``ceph osd down 0`` starts one (the OSD says it is up
    again at once). Should it still not answer, the OSD is restarted:
    SIGTERM, then tools/start-ceph."""
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass
    _ceph(ceph, "osd", "down", OSD_ID)
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    while time.monotonic() < deadline:
        if _answers(ceph):
            return
        time.sleep(0.2)
    # Last resort, for the other RBD tests of the run: a fresh OSD.
    _restart_osd(ceph, pid)
    raise AssertionError(f"the Ceph OSD did not answer within "
                         f"{HEALTHY_TIMEOUT} s of SIGCONT and 'ceph osd down "
                         f"{OSD_ID}'; it was restarted")


def _restart_osd(ceph, pid):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 30
    while _state(pid) not in (None, "Z"):
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            deadline += 30
        time.sleep(0.2)
    started = subprocess.run([START_CEPH], capture_output=True,
                             text=True, timeout=300)
    assert started.returncode == 0 and _answers(ceph, timeout=30), (
        "the Ceph OSD does not answer after a restart either: "
        f"{started.stderr[-2000:]}")


@contextlib.contextmanager
def _osd_stopped(ceph):
    """The OSD stopped (SIGSTOP) for the block; always brought back."""
    pid = _osd_pid(ceph)
    os.kill(pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 10
        while _state(pid) != "T":
            assert time.monotonic() < deadline, f"ceph-osd {pid} did not stop"
            time.sleep(0.05)
        yield pid
    finally:
        _bring_back(ceph, pid)


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def rbd_api(ceph, tmp_path):
    """nativesnap-api (libvirt driver) acting in Ceph as client.nativesnap,
    every Ceph call bounded by a 3 s connect_timeout."""
    state = str(tmp_path / "state")
    os.makedirs(state)
    api = fixtures.APIServer(state, fixtures.sqlite_url(state),
                             drivers=("libvirt",), extra_conf={
        "rbd": {"ceph_conf": ceph.conf_path, "rbd_user": "nativesnap",
                "connect_timeout": str(CONNECT_TIMEOUT)},
        "libvirt": {"max_freeze_seconds": str(MAX_FREEZE)}})
    api.manage("db", "sync")
    api.start()
    yield api
    api.stop()


@pytest.fixture
def rbd_guest(ceph, libvirt_conn, make_guest):
    """A running guest: vda its qcow2 root file (/data), vdb a 32 MiB RBD
    image of pool vms (client.nativesnap, cephx through a libvirt secret)."""
    image = f"fault-{uuid.uuid4()}"
    ceph.create_image("vms", image, 32 * MIB)
    secret = ceph.libvirt_secret(libvirt_conn, "nativesnap")
    guest = make_guest(disks=1, boot=False)
    rbd.define_with_rbd_disk(libvirt_conn, guest, ceph.rbd_disk_xml(
        "vms", image, "nativesnap", secret, "vdb", serial=SERIAL))
    guest.start(timeout=WAIT)
    guest.rbd_image = image
    yield guest
    guest.cleanup()
    ceph.remove_image("vms", image, children="remove")


# --- the test ------------------------------------------------------------------------------


def test_a_create_while_the_osd_is_stopped_fails_with_the_guest_thawed_and_nothing_half_made(
        rbd_api, rbd_guest, ceph):
    guest = rbd_guest
    server = lh.adopt(rbd_api, guest)
    device = rbd.device(guest, SERIAL)
    data = rbd.write_random(guest, device)  # QEMU takes the exclusive lock
    disks_before = lh.active_disks(guest)
    assert disks_before["vda"] == guest.disks[0].path
    assert disks_before["vdb"] == f"vms/{guest.rbd_image}"
    overlays = os.path.join(rbd_api.state_dir, "libvirt", server["id"])
    pending = os.path.join(rbd_api.state_dir, "libvirt", ".thaw-pending")
    hooks_before = len(guest.fsfreeze_hook_log())

    with _osd_stopped(ceph):
        began = time.monotonic()
        resp = rbd_api.request("POST", f"/v1/servers/{server['id']}/snapshots",
                               token=lh.ADMIN, json={"snapshot": {
                                   "name": "osd-down", "quiesce": "required"}})
        assert resp.status_code == 202, resp.text
        snap_id = resp.json()["snapshot"]["id"]
        idle = lh.wait_idle(rbd_api, server["id"], timeout=60)
        took = time.monotonic() - began
        # Bounded: the RBD snapshot's timeout, its undo's, the thaw.
        assert took < 4 * CONNECT_TIMEOUT + MAX_FREEZE, took
        assert idle["status"] == "ACTIVE" and idle["task_state"] is None, idle
        failed = lh.snapshots(rbd_api, server["id"])[snap_id]
        assert failed["status"] == "error", failed
        message = failed["fault"]["message"]
        assert "Ceph" in message, message
        assert f"vms/{guest.rbd_image}" in message, message
        # Thawed, with Ceph still down: the agent answers and the qcow2 root
        # filesystem takes writes; the freeze was held, and let go in time.
        assert guest.fsfreeze_status() == "thawed"
        root = guest.write_random("/data/after", 64 * KIB, timeout=30)
        hooks = guest.fsfreeze_hook_log()[hooks_before:]
        assert [event for event, _ in hooks] == ["freeze", "thaw"], hooks
        assert hooks[1][1] - hooks[0][1] < MAX_FREEZE + 1, hooks
        # The domain runs on the disks it had; nothing of the snapshot is
        # left in the server's directory or in nativesnap's record.
        assert lh.active_disks(guest) == disks_before
        names = os.listdir(overlays) if os.path.isdir(overlays) else []
        assert names == [], names  # its overlay of vda was removed
        assert not os.path.isdir(pending) or os.listdir(pending) == []  # no thaw owed
        assert snap_id not in lh.driver_info(rbd_api, server["id"]).get(
            "snapshots", {})
    print(f"create with the OSD stopped: error after {took:.1f} s")

    # The OSD answers again: no RBD snapshot of the failed create appeared
    # (none at all), and the guest reads its RBD disk as it was.
    assert ceph.image_info("vms", guest.rbd_image).snapshots == ()
    assert rbd.read_sha256(guest, device) == data
    assert guest.sha256("/data/after") == root
    # The next snapshot is whole: both disks, application-consistent.
    good = lh.snapshot(rbd_api, server["id"], name="after", quiesce="required")
    assert good["consistency"] == "application", good
    assert {d["target"]: d["format"] for d in good["disks"]} == {
        "vda": "qcow2", "vdb": "raw"}
    assert ceph.image_info("vms", guest.rbd_image).snapshot(good["id"])
    assert snap_id not in [s.name for s in
                           ceph.image_info("vms", guest.rbd_image).snapshots]
