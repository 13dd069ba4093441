"""Faults of the environment around real guests: libvirtd restarted in the
middle of a snapshot and of a block job, a guest agent that takes the freeze
and hangs, the overlay directory's filesystem filling up, qemu-img failing.

Each test ends, after a restart of its own nativesnap-api, with: the server
idle and running, its data intact (checksums computed inside the guest), no
guest frozen (guest-fsfreeze-status), no file nobody uses, and the operation
either completed or recorded in ``error`` with a fault that says why.

The libvirtd restarts use a libvirtd of the module's own
(``private_libvirtd.py``): the machine's libvirtd serves other tests at the
same time.
"""

import errno
import os
import signal

import libvirt
import pytest

from tests import fixtures
from tests.functional import libvirt_helpers as lh
from tests.functional import private_libvirtd

pytest_plugins = ["tests.functional.guest_fixtures"]

KIB = 1024
MIB = 1024 * KIB

# The test guest's fsfreeze hook, with a hang on demand: when
# /run/hang-agent holds "<delay> <seconds>", the next freeze stops qemu-ga
# (SIGSTOP) <delay> s after the hook starts (0: at once, before the freeze
# is carried out, so the freeze request is never answered; later: after the
# freeze was answered) and lets it go on <seconds> s later (SIGCONT).
HANGING_HOOK = b"""#!/bin/sh
echo "$1 $(cut -d' ' -f1 /proc/uptime)" >>/run/fsfreeze-hook.log
if [ "$1" = freeze ] && [ -e /run/hang-agent ]; then
  read -r delay seconds </run/hang-agent
  rm -f /run/hang-agent
  qga=$PPID
  if [ "$delay" = 0 ]; then
    (sleep "$seconds"; kill -CONT "$qga") </dev/null >/dev/null 2>&1 &
    kill -STOP "$qga"
  else
    (sleep "$delay"; kill -STOP "$qga"; sleep "$seconds"; kill -CONT "$qga") \\
      </dev/null >/dev/null 2>&1 &
  fi
fi
"""

# A qemu-img whose convert writes its output and then fails, as a copy that
# broke at its end would; every other command is the real qemu-img.
FAILING_QEMU_IMG = """#!/bin/sh
if [ "$1" = convert ]; then
  /usr/bin/qemu-img "$@" >/dev/null 2>&1
  echo "qemu-img: error while writing at byte 1048576: Input/output error (injected by the fault test)" >&2
  exit 1
fi
exec /usr/bin/qemu-img "$@"
"""


# --- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_libvirtd():
    daemon = private_libvirtd.PrivateLibvirtd().start()
    yield daemon
    daemon.cleanup()


@pytest.fixture
def own_guests(own_libvirtd, guest_images, tmp_path):
    """Guests on the module's own libvirtd."""
    from tests.functional import guest_fixtures  # the plugin, loaded by now

    factory = guest_fixtures.GuestFactory(own_libvirtd.connect(), guest_images,
                                          tmp_path / "guests")
    os.makedirs(factory.base_dir)
    yield factory
    factory.cleanup()


@pytest.fixture
def make_api(tmp_path):
    """make_api(extra_conf, env): a libvirt nativesnap-api of this test's own
    (sqlite), killed afterwards."""
    servers = []

    def make(extra_conf=None, env=None, name="state"):
        state = str(tmp_path / name)
        os.makedirs(state)
        # A hung agent's thaw then fails after libvirt's 5 s handshake plus
        # 2 s, not 5 + 5: the hang tests wait less.
        conf = {"libvirt": {"agent_timeout": "2"}}
        for section, values in (extra_conf or {}).items():
            conf.setdefault(section, {}).update(values)
        api = fixtures.APIServer(state, fixtures.sqlite_url(state),
                                 drivers=("libvirt",), extra_conf=conf, env=env)
        api.manage("db", "sync")
        servers.append(api)
        return api.start()

    yield make
    for api in servers:
        api.kill()


@pytest.fixture
def small_filesystem(tmp_path):
    """A 64 MiB ext4 filesystem, loop-mounted; unmounted afterwards."""
    with lh.small_filesystem(tmp_path) as mountpoint:
        yield mountpoint


# --- helpers -------------------------------------------------------------------------


def _wait_for_log(api, text, count=1, timeout=60):
    return api.wait_for(lambda: api.read_log().count(text) >= count,
                        timeout=timeout, interval=0.05,
                        what=f"{text!r} in the service log ({count}x)")


def _reattach(factory, daemon, guests):
    """The test's own libvirt connection after a restart of libvirtd."""
    conn = daemon.connect()
    factory.conn = conn
    for guest in guests:
        guest.conn = conn
        guest.domain = conn.lookupByUUIDString(guest.uuid)
        guest.wait_for_agent(timeout=60)


def _restart_api(api):
    """SIGTERM nativesnap-api and start it again (start-up recovery runs)."""
    api.stop()
    api.start()


def _assert_healthy(api, guest, server_id, overlay_path=None):
    """No task left, nothing creating/deleting, every recorded frozen file
    present, no file in the server's directory that no snapshot or disk
    uses, no thaw pending, the guest running and thawed."""
    overlay_path = overlay_path or os.path.join(api.state_dir, "libvirt")
    srv = lh.server(api, server_id)
    assert srv["task_state"] is None and srv["status"] == "ACTIVE", srv
    snaps = lh.snapshots(api, server_id)
    assert not [s for s in snaps.values() if s["status"] in ("creating", "deleting")]
    info = lh.driver_info(api, server_id)
    used = set()
    for sid, record in info.get("snapshots", {}).items():
        for path in record["disks"].values():
            assert os.path.exists(path), (sid, path)
            used.add(path)
        used.add(record.get("memory_file"))
    for path in lh.active_disks(guest).values():
        used |= set(lh.backing_chain(path))
    directory = os.path.join(overlay_path, server_id)
    names = os.listdir(directory) if os.path.isdir(directory) else []
    assert [n for n in names if os.path.join(directory, n) not in used] == []
    pending = os.path.join(overlay_path, ".thaw-pending")
    assert not os.path.isdir(pending) or os.listdir(pending) == []
    assert guest.fsfreeze_status() == "thawed"
    return snaps


def _spawn(api, snapshot_id, linked):
    resp = api.request("POST", "/v1/servers", token=lh.ADMIN, json={
        "server": {"name": f"spawn-linked-{linked}", "snapshot_id": snapshot_id,
                   "linked": linked}})
    assert resp.status_code == 202, resp.text
    return lh.wait_idle(api, resp.json()["server"]["id"], timeout=300)


def _no_domain(conn, name):
    try:
        conn.lookupByName(name)
    except libvirt.libvirtError as e:
        return e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
    return False


# --- libvirtd not answering ------------------------------------------------------------


def test_a_server_is_shown_from_its_record_while_libvirtd_answers_nothing(
        own_libvirtd, own_guests, make_api):
    sync_interval = 2
    api = make_api({"libvirt": {"uri": own_libvirtd.uri},
                    "DEFAULT": {"status_sync_interval": str(sync_interval)}})
    guest = own_guests(disks=1)
    srv = lh.adopt(api, guest)
    os.kill(own_libvirtd.pid(), signal.SIGSTOP)  # libvirtd takes, never answers
    try:
        # A libvirt call would hang a request until libvirt's keepalive gave
        # up (about 30 s): each one answers within 2 s, from the record.
        for path in (f"/v1/servers/{srv['id']}", "/v1/servers",
                     f"/v1/servers/{srv['id']}/snapshots"):
            for _ in range(3):
                resp = api.request("GET", path, token=lh.ADMIN, timeout=2)
                assert resp.status_code == 200, resp.text
        shown = api.request("GET", f"/v1/servers/{srv['id']}", token=lh.ADMIN,
                            timeout=2).json()["server"]
        assert (shown["status"], shown["task_state"]) == ("ACTIVE", None)
    finally:
        os.kill(own_libvirtd.pid(), signal.SIGCONT)

    # A guest stopped and started from outside shows within the sync interval
    # (libvirt's lifecycle events record it sooner).
    guest.lookup().destroy()
    api.wait_for(lambda: lh.server(api, srv["id"])["status"] == "SHUTOFF",
                 timeout=sync_interval + 1, interval=0.05,
                 what="the server shown SHUTOFF")
    guest.lookup().create()
    api.wait_for(lambda: lh.server(api, srv["id"])["status"] == "ACTIVE",
                 timeout=sync_interval + 1, interval=0.05,
                 what="the server shown ACTIVE again")
    guest.wait_for_agent(timeout=60)


# --- libvirtd restarted --------------------------------------------------------------


def test_libvirtd_restarted_while_a_create_holds_the_guest_frozen_and_the_create_completes(
        own_libvirtd, own_guests, make_api):
    api = make_api({"libvirt": {"uri": own_libvirtd.uri},
                    "fault_injection": {
                        "failpoints": "libvirt.create.after_freeze=sleep:3"}})
    guest = own_guests(disks=1)
    srv = lh.adopt(api, guest)
    a = guest.write_random("/data/f", 256 * KIB)
    resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots", token=lh.ADMIN,
                       json={"snapshot": {"name": "across-a-restart"}})
    assert resp.status_code == 202, resp.text
    snap_id = resp.json()["snapshot"]["id"]
    _wait_for_log(api, "Failpoint libvirt.create.after_freeze fired")
    own_libvirtd.restart()  # the guest is frozen, the disks not switched yet

    lh.wait_idle(api, srv["id"])
    _reattach(own_guests, own_libvirtd, [guest])
    snap = lh.snapshots(api, srv["id"])[snap_id]
    # nativesnap found the connection dead before the snapshot call, opened a
    # new one and went on: the guest was still frozen, so the snapshot is
    # application-consistent, and the thaw went through the new connection.
    assert snap["status"] == "available", snap
    assert snap["consistency"] == "application" and snap["frozen_ms"] >= 3000
    assert "The connection to libvirtd was lost; reconnecting" in api.read_log()
    assert guest.fsfreeze_status() == "thawed"

    guest.write_random("/data/f", 64 * KIB)
    _restart_api(api)
    _assert_healthy(api, guest, srv["id"])
    lh.revert(api, srv["id"], snap_id)
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == a
    _assert_healthy(api, guest, srv["id"])


def test_libvirtd_restarted_during_block_jobs_and_both_merges_finish(
        own_libvirtd, own_guests, make_api):
    api = make_api({"libvirt": {"uri": own_libvirtd.uri},
                    "fault_injection": {
                        "failpoints": "libvirt.delete.block_job_started=sleep:3"}})
    guest = own_guests(disks=1)
    srv = lh.adopt(api, guest)
    guest.write_random("/data/f", 64 * KIB)
    s1 = lh.snapshot(api, srv["id"], name="s1")
    guest.write_random("/data/f", 4 * MIB)
    s2 = lh.snapshot(api, srv["id"], name="s2")
    c = guest.write_random("/data/f", 1 * MIB)
    fired = 0
    # s1: its child (s2's frozen file) is an intermediate layer of the running
    # chain (intermediate blockCommit); then s2: its child is the active layer
    # (active commit, which must pivot after the restart).
    for snap in (s1, s2):
        resp = api.request("DELETE", f"/v1/servers/{srv['id']}/snapshots/{snap['id']}",
                           token=lh.ADMIN)
        assert resp.status_code == 202, resp.text
        fired += 1
        _wait_for_log(api, "Failpoint libvirt.delete.block_job_started fired",
                      count=fired)
        own_libvirtd.restart()  # the block job runs in QEMU meanwhile
        lh.wait_idle(api, srv["id"])
        gone = api.request("GET", f"/v1/servers/{srv['id']}/snapshots/{snap['id']}",
                           token=lh.ADMIN)
        assert gone.status_code == 404, gone.text
    _reattach(own_guests, own_libvirtd, [guest])
    assert guest.sha256("/data/f") == c
    assert lh.driver_info(api, srv["id"])["snapshots"] == {}
    chain = lh.backing_chain(lh.active_disks(guest)["vda"])
    assert chain == [guest.disks[0].path], chain  # both layers merged away
    # One reconnection per restart, found by the polling of the block job.
    assert api.read_log().count("The connection to libvirtd was lost; "
                                "reconnecting") == 2

    _restart_api(api)
    _assert_healthy(api, guest, srv["id"])
    s3 = lh.snapshot(api, srv["id"], name="s3")
    guest.write_random("/data/f", 64 * KIB)
    lh.revert(api, srv["id"], s3["id"])
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == c


# --- a guest agent that hangs ----------------------------------------------------------


def _install_hanging_hook(guest, delay, seconds):
    guest.write_file("/etc/qemu/fsfreeze-hook", HANGING_HOOK)
    guest.run(["chmod", "0755", "/etc/qemu/fsfreeze-hook"])
    guest.write_file("/run/hang-agent", f"{delay} {seconds}\n".encode())


def test_agent_that_takes_the_freeze_and_hangs_is_bounded_and_the_late_freeze_is_undone(
        make_api, make_guest):
    """The agent stops before freezing and never answers the request; when it
    comes back it carries the freeze out, long after nativesnap gave up."""
    api = make_api({"libvirt": {"max_freeze_seconds": "2"}})
    guest = make_guest(disks=1)
    srv = lh.adopt(api, guest)
    a = guest.write_random("/data/f", 256 * KIB)
    _install_hanging_hook(guest, delay=0, seconds=12)
    snap = lh.snapshot(api, srv["id"], name="hung-freeze")
    # Bounded by max_freeze_seconds: the freeze request timed out at 2 s and
    # the snapshot was taken crash-consistent while the agent still hung
    # (it had not come back: nothing was thawed yet).
    assert snap["consistency"] == "crash" and snap["frozen_ms"] is None, snap
    log = api.read_log()
    assert "did not answer the freeze request within 2.0 s" in log
    assert f"Guest {guest.uuid} thawed" not in log

    # The agent wakes up, freezes the guest late, and the background thaw
    # (which had kept trying) undoes it.
    _wait_for_log(api, f"Guest {guest.uuid} thawed", timeout=90)
    guest.wait_for_agent(timeout=60)
    assert guest.fsfreeze_status() == "thawed"
    guest.write_random("/data/g", 64 * KIB)  # writable again

    _restart_api(api)
    _assert_healthy(api, guest, srv["id"])
    lh.revert(api, srv["id"], snap["id"])
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == a
    assert not guest.exists("/data/g")


def test_agent_that_answers_the_freeze_then_hangs_is_thawed_after_a_service_restart(
        make_api, make_guest):
    """The agent freezes the guest, answers, and stops before the thaw; the
    watchdog's and the create's own thaw go unanswered; the service is
    restarted meanwhile, and its successor thaws the guest when the agent
    comes back."""
    api = make_api({"libvirt": {"max_freeze_seconds": "2"},
                    "fault_injection": {
                        "failpoints": "libvirt.create.after_freeze=sleep:3"}})
    guest = make_guest(disks=1)
    srv = lh.adopt(api, guest)
    a = guest.write_random("/data/f", 256 * KIB)
    _install_hanging_hook(guest, delay=1, seconds=25)
    snap = lh.snapshot(api, srv["id"], name="hung-thaw")
    # The watchdog fired at 2 s (so the snapshot, taken at 3 s, is recorded
    # crash-consistent) and no thaw was confirmed.
    assert snap["consistency"] == "crash" and snap["frozen_ms"] is None, snap
    log = api.read_log()
    assert "stayed frozen 2.0 s, the cap: thawing it" in log
    assert "thawing it again in the background until its agent answers" in log
    marker = os.path.join(api.state_dir, "libvirt", ".thaw-pending", guest.uuid)
    assert os.path.exists(marker)

    offset = len(api.read_log())
    _restart_api(api)  # while the agent still hangs
    assert f"Guest {guest.uuid} was left possibly frozen by an earlier run" in \
        api.read_log()[offset:]
    _wait_for_log(api, f"Guest {guest.uuid} thawed", timeout=90)
    assert not os.path.exists(marker)
    guest.wait_for_agent(timeout=60)
    assert guest.fsfreeze_status() == "thawed"
    guest.write_random("/data/g", 64 * KIB)

    _restart_api(api)
    _assert_healthy(api, guest, srv["id"])
    lh.revert(api, srv["id"], snap["id"])
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == a


# --- the overlay directory fills up ------------------------------------------------------


def _fill(directory, leave):
    """A file taking all but ``leave`` bytes of the filesystem's free space."""
    filler = os.path.join(directory, "filler")
    st = os.statvfs(directory)
    size = st.f_bavail * st.f_frsize - leave
    with open(filler, "ab") as f:
        while size > 0:
            try:
                os.posix_fallocate(f.fileno(), os.fstat(f.fileno()).st_size, size)
                break
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                size -= 64 * KIB  # ext4 needs some blocks for the extent tree
        if leave == 0:  # top up to the last block
            try:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
    return filler


def test_full_overlay_filesystem_fails_create_and_full_spawn_with_507_and_leaves_nothing(
        small_filesystem, make_api, make_guest, libvirt_conn):
    overlays = small_filesystem
    api = make_api({"libvirt": {"overlay_path": overlays}})
    guest = make_guest(disks=1)
    srv = lh.adopt(api, guest)
    a = guest.write_random("/data/f", 256 * KIB)

    # 1. Full before the create: no overlay can be made, whether the server's
    # directory is still to be made (its first snapshot) or exists already
    # (it had snapshots before: qemu-img create fails).
    directory = os.path.join(overlays, srv["id"])
    for had_snapshots in (False, True):
        if had_snapshots:
            os.unlink(filler)
            s0 = lh.snapshot(api, srv["id"], name="s0")
            lh.delete_snapshot(api, srv["id"], s0["id"])  # merged back: chain of 1
        filler = _fill(overlays, leave=0)
        failed = lh.snapshot(api, srv["id"], name="no-room", expect="error")
        assert failed["fault"]["code"] == 507, failed["fault"]
        message = failed["fault"]["message"]
        assert "No space left on device" in message and overlays in message
        if had_snapshots:
            assert "qemu-img create failed" in message
        assert not os.path.isdir(directory) or os.listdir(directory) == []
        assert lh.active_disks(guest)["vda"] == guest.disks[0].path  # untouched
        assert guest.fsfreeze_status() == "thawed"
        assert guest.sha256("/data/f") == a
    b = guest.write_random("/data/f", 256 * KIB)  # its own disk, outside

    # 2. Room for overlays, not for a full copy: the spawn fails part-way.
    os.unlink(filler)
    s1 = lh.snapshot(api, srv["id"], name="s1")
    c = guest.write_random("/data/f", 16 * MIB)  # into s1's overlay, here
    s2 = lh.snapshot(api, srv["id"], name="s2")
    filler = _fill(overlays, leave=4 * MIB)
    new = _spawn(api, s2["id"], linked=False)
    assert new["status"] == "ERROR" and new["fault"]["code"] == 507, new
    message = new["fault"]["message"]
    assert "No space left on device" in message and overlays in message
    assert "error while writing" in message  # the copy had started: part-way
    assert not os.path.exists(os.path.join(overlays, new["id"]))
    assert _no_domain(libvirt_conn, f"nativesnap-{new['id']}")
    # The copy filled the filesystem before it failed; the idle guest, whose
    # active layer is there too, wrote nothing meanwhile and still runs.
    assert guest.lookup().state()[0] == libvirt.VIR_DOMAIN_RUNNING
    resp = api.request("DELETE", f"/v1/servers/{new['id']}", token=lh.ADMIN)
    assert resp.status_code == 204, resp.text

    os.unlink(filler)
    assert guest.sha256("/data/f") == c

    # 3. The guest's own writes into its active layer, on the full
    # filesystem, are QEMU's business: it stops the guest on ENOSPC (the
    # disk's default werror=enospc), nativesnap shows PAUSED, and once space
    # is freed, a resume lets the write finish.
    filler = _fill(overlays, leave=0)
    pid = guest.agent("guest-exec", {
        "path": "/bin/sh", "arg": ["-c", "head -c 8388608 /dev/urandom >/data/big; "
                                         "sync"], "capture-output": True})["pid"]
    api.wait_for(lambda: lh.server(api, srv["id"])["status"] == "PAUSED",
                 timeout=120, interval=0.2, what="the guest paused on ENOSPC")
    assert guest.lookup().state() == [libvirt.VIR_DOMAIN_PAUSED,
                                      libvirt.VIR_DOMAIN_PAUSED_IOERROR]
    os.unlink(filler)
    guest.lookup().resume()
    done = api.wait_for(lambda: (lambda st: st if st.get("exited") else None)(
        guest.agent("guest-exec-status", {"pid": pid})), timeout=120,
        interval=0.2, what="the guest's write to finish")
    assert done["exitcode"] == 0, done
    assert lh.server(api, srv["id"])["status"] == "ACTIVE"
    assert guest.sha256("/data/f") == c

    guest.write_random("/data/f", 64 * KIB)
    _restart_api(api)
    _assert_healthy(api, guest, srv["id"], overlay_path=overlays)
    for snap, expected in ((s2, c), (s1, b)):
        lh.revert(api, srv["id"], snap["id"])
        guest.wait_for_agent(timeout=60)
        assert guest.sha256("/data/f") == expected
    _assert_healthy(api, guest, srv["id"], overlay_path=overlays)
    guest.cleanup()  # closes its files on the small filesystem before unmount


# --- qemu-img fails ------------------------------------------------------------------------


def test_failing_qemu_img_convert_fails_export_and_full_spawn_cleanly(
        make_api, make_guest, libvirt_conn, tmp_path):
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    (wrappers / "qemu-img").write_text(FAILING_QEMU_IMG)
    (wrappers / "qemu-img").chmod(0o755)
    api = make_api(env={"PATH": f"{wrappers}:{os.environ['PATH']}"})
    guest = make_guest(disks=1)
    srv = lh.adopt(api, guest)
    a = guest.write_random("/data/f", 256 * KIB)
    s1 = lh.snapshot(api, srv["id"], name="s1")  # qemu-img create: the real one
    guest.write_random("/data/f", 64 * KIB)

    resp = api.request("POST", f"/v1/servers/{srv['id']}/snapshots/{s1['id']}/action",
                       token=lh.ADMIN, json={"export": {"image_name": "img"}})
    assert resp.status_code == 202, resp.text
    image_id = resp.json()["image"]["id"]
    lh.wait_idle(api, srv["id"])
    shown = api.request("GET", f"/v1/servers/{srv['id']}/snapshots/{s1['id']}",
                        token=lh.ADMIN,
                        headers={"OpenStack-API-Version": "snapshot 1.1"}).json()
    image = {i["id"]: i for i in shown["snapshot"]["images"]}[image_id]
    assert image["status"] == "error", image
    assert "injected by the fault test" in image["fault"]["message"]
    assert "qemu-img convert failed" in image["fault"]["message"]
    store = os.path.join(api.state_dir, "images")
    assert [n for n in os.listdir(store) if n != ".staging"] == []
    assert os.listdir(os.path.join(store, ".staging")) == []  # the partial copy went
    assert shown["snapshot"]["status"] == "available"

    new = _spawn(api, s1["id"], linked=False)
    assert new["status"] == "ERROR", new
    assert "injected by the fault test" in new["fault"]["message"]
    assert _no_domain(libvirt_conn, f"nativesnap-{new['id']}")
    assert not os.path.exists(os.path.join(api.state_dir, "libvirt", new["id"]))
    resp = api.request("DELETE", f"/v1/servers/{new['id']}", token=lh.ADMIN)
    assert resp.status_code == 204, resp.text

    _restart_api(api)
    _assert_healthy(api, guest, srv["id"])
    lh.revert(api, srv["id"], s1["id"])  # the snapshot is still whole
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == a
    _assert_healthy(api, guest, srv["id"])
