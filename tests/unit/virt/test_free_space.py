"""What each driver reports as the free space where a server's next snapshot
would land (the storage guard's input): the fake's configured share of its
100 GiB; libvirt's per disk backend (the filesystem of the server's overlay
directory for qcow2 disks, the Ceph pool of RBD disks, ``ceph df detail``
read once), the tightest; vSphere's tightest datastore of the VM. The
hypervisors are stand-ins here; tests/functional/test_*_free_space.py ask
the real ones."""

import json
import os
import types
import uuid

from pyVmomi import vim
import pytest
import rados

from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.virt import driver
from nativesnap.virt import fake
from nativesnap.virt.libvirt import ceph
from nativesnap.virt.libvirt import driver as libvirt_driver
from nativesnap.virt.libvirt import storage
from nativesnap.virt.vmware import driver as vmware_driver

GIB = 1024 ** 3
VOLUME_ID = "4c1f6d2e-9b0a-4f57-8e21-3a6b5c7d8e9f"


def _server(ref="ref-1", **driver_info):
    return types.SimpleNamespace(id=str(uuid.uuid4()), hypervisor_ref=ref,
                                 driver_info=driver_info)


# --- the fake ------------------------------------------------------------------


def test_the_fake_reports_all_of_its_100_gib_free_by_default():
    space = fake.FakeDriver().free_space(None, _server())
    assert (space.free_bytes, space.total_bytes) == (100 * GIB, 100 * GIB)
    assert space.percent_free == 100.0


def test_the_fake_reports_the_configured_share_free(config):
    config("free_percent", 4.2, group="fake")
    space = fake.FakeDriver().free_space(None, _server())
    assert space.total_bytes == 100 * GIB
    assert space.free_bytes == int(4.2 * GIB)
    assert str(space) == "the fake's storage has 4.2 % free"


@pytest.mark.parametrize("value", [-1, 100.5])
def test_the_fake_s_free_percent_is_a_share(value):
    with pytest.raises(ValueError):
        CONF.set_override("free_percent", value, group="fake")
    assert CONF.fake.free_percent == 100.0


# --- libvirt: the qcow2 backend's filesystem -----------------------------------


def test_a_qcow2_disk_s_free_space_is_its_overlay_directory_s_filesystem(
        tmp_path):
    space = storage.QCOW2_FILE.free_space([], str(tmp_path))
    st = os.statvfs(tmp_path)
    assert space.total_bytes == st.f_blocks * st.f_frsize
    # What QEMU (unprivileged) may still write, as df's Avail; other tests
    # write meanwhile.
    assert abs(space.free_bytes - st.f_bavail * st.f_frsize) < 256 * 1024 ** 2
    assert space.where == f"libvirt overlay directory {tmp_path}"


def test_a_server_directory_not_made_yet_is_measured_at_its_parent(
        tmp_path, monkeypatch):
    asked = []

    def statvfs(path):
        asked.append(path)
        return types.SimpleNamespace(f_blocks=1000, f_bavail=42, f_frsize=4096)

    monkeypatch.setattr(storage.os, "statvfs", statvfs)
    where = tmp_path / "overlays" / "server-1"
    space = storage.filesystem_space(str(where), "the overlays")
    assert asked == [str(tmp_path)]
    assert (space.free_bytes, space.total_bytes) == (42 * 4096, 1000 * 4096)
    assert space.percent_free == pytest.approx(4.2)


def test_a_filesystem_without_a_size_tells_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(storage.os, "statvfs", lambda path: types.SimpleNamespace(
        f_blocks=0, f_bavail=0, f_frsize=4096))
    assert storage.filesystem_space(str(tmp_path), "proc") is None


# --- libvirt: Ceph's figures -----------------------------------------------------


class StubRados:
    """The connection ceph.Cluster keeps: mon_command answers ``answer``
    (or raises it)."""

    def __init__(self, answer):
        self.answer = answer
        self.commands = []
        self.shut_down = False

    def mon_command(self, command, inbuf):
        self.commands.append(json.loads(command))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def shutdown(self):
        self.shut_down = True


def _df(*pools):
    return (0, json.dumps({"stats": {}, "pools": [
        {"name": name, "id": index, "stats": stats}
        for index, (name, stats) in enumerate(pools, 1)]}).encode(), "")


def _cluster(answer):
    cluster = ceph.Cluster()
    cluster._rados = StubRados(answer)
    return cluster


def test_a_pool_s_free_space_is_what_may_still_be_written_of_it():
    cluster = _cluster(_df(
        ("vms", {"stored": 30 * GIB, "max_avail": 70 * GIB, "quota_bytes": 0}),
        # The quota leaves less than the disks would.
        ("images", {"stored": 8 * GIB, "max_avail": 70 * GIB,
                    "quota_bytes": 10 * GIB}),
        ("over", {"stored": 12 * GIB, "max_avail": 70 * GIB,
                  "quota_bytes": 10 * GIB}),
        ("old", {"bytes_used": 1 * GIB, "max_avail": 3 * GIB})))
    assert cluster.pool_space() == {
        "vms": (70 * GIB, 100 * GIB), "images": (2 * GIB, 10 * GIB),
        "over": (0, 10 * GIB), "old": (3 * GIB, 4 * GIB)}
    assert cluster._rados.commands == [
        {"prefix": "df", "detail": "detail", "format": "json"}]


def test_pools_without_figures_are_left_out():
    # A monitor that never heard from a manager daemon reports no pools, or
    # pools of zeros.
    assert _cluster(_df()).pool_space() == {}
    assert _cluster(_df(("vms", {"stored": 0, "max_avail": 0}))
                    ).pool_space() == {}


def test_a_refused_df_is_a_driver_error_naming_it():
    cluster = _cluster((-13, b"", "access denied"))
    with pytest.raises(exception.DriverError) as raised:
        cluster.pool_space()
    assert "ceph df" in str(raised.value) and "access denied" in str(raised.value)


def test_a_broken_connection_is_dropped_for_the_next_call():
    cluster = _cluster(rados.TimedOut("timed out"))
    stub = cluster._rados
    with pytest.raises(exception.DriverError) as raised:
        cluster.pool_space()
    assert "TimedOut" in str(raised.value)
    assert stub.shut_down and cluster._rados is None


class StubCephCalls:
    """ceph.Cluster as the RBD backend uses it for the storage guard."""

    def __init__(self, space, data_pools=None):
        self.space = space
        self.data_pools = data_pools or {}
        self.df_calls = 0

    def data_pool(self, pool, image):
        return self.data_pools.get(f"{pool}/{image}", pool)

    def pool_space(self):
        self.df_calls += 1
        return dict(self.space)


# --- libvirt: the driver, per disk backend --------------------------------------

DISKS = {
    "qcow2": "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
             "<source file='/images/{target}.qcow2'/><target dev='{target}'/>"
             "</disk>",
    "rbd": "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
           "<source protocol='rbd' name='{source}'/><target dev='{target}'/>"
           "</disk>",
    "raw": "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
           "<source file='/images/{target}.raw'/><target dev='{target}'/></disk>",
    "volume": "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
              "<source protocol='rbd' name='volumes/volume-x'/>"
              "<target dev='{target}'/><serial>" + VOLUME_ID + "</serial></disk>",
    "cdrom": "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
             "<source file='/images/{target}.iso'/><target dev='{target}'/>"
             "<readonly/></disk>",
}


class StubDomain:
    def __init__(self, disks):
        self.xml = ("<domain type='qemu'><name>d</name><devices>"
                    + "".join(DISKS[kind].format(target=target, source=source)
                              for kind, target, source in disks)
                    + "</devices></domain>")

    def XMLDesc(self, flags):  # noqa: N802 - libvirt's name
        return self.xml


class StubHost:
    def __init__(self, domains):
        self.domains = domains

    def find(self, ref):
        return self.domains.get(ref)


@pytest.fixture
def libvirt_free(config, tmp_path, monkeypatch):
    """free(disks, ceph_space, statvfs, data_pools) -> the libvirt driver's
    FreeSpace of a server with ``disks`` [(kind, target, rbd source)]; the
    overlays' filesystem has ``statvfs`` (f_blocks, f_bavail) blocks of 1 KiB
    and Ceph's pools ``ceph_space``."""
    config("overlay_path", str(tmp_path / "overlays"), group="libvirt")
    seen = {}

    def free(disks, ceph_space=None, statvfs=(1000, 500), data_pools=None):
        calls = StubCephCalls(ceph_space or {}, data_pools)
        monkeypatch.setattr(storage.RBD, "_cluster", calls)

        def fake_statvfs(path):
            seen.setdefault("statvfs", []).append(path)
            return types.SimpleNamespace(f_blocks=statvfs[0],
                                         f_bavail=statvfs[1], f_frsize=1024)

        monkeypatch.setattr(storage.os, "statvfs", fake_statvfs)
        drv = libvirt_driver.LibvirtDriver()
        drv.host = StubHost({"dom-1": StubDomain(disks)})
        server = _server("dom-1")
        seen.update(server=server, calls=calls)
        return drv.free_space(None, server)

    free.seen = seen
    return free


def test_qcow2_disks_report_the_server_s_overlay_directory(libvirt_free,
                                                           tmp_path):
    space = libvirt_free([("qcow2", "vda", None), ("qcow2", "vdb", None),
                          ("cdrom", "hdc", None)], statvfs=(1000, 42))
    server = libvirt_free.seen["server"]
    directory = os.path.join(str(tmp_path / "overlays"), server.id)
    assert space == driver.FreeSpace(42 * 1024, 1000 * 1024,
                                     f"libvirt overlay directory {directory}")
    # Measured once for both disks, where the directory will be (not made).
    assert libvirt_free.seen["statvfs"] == [str(tmp_path)]
    assert not os.path.exists(directory)


def test_rbd_disks_report_their_pool_read_once(libvirt_free):
    space = libvirt_free([("rbd", "vda", "vms/a"), ("rbd", "vdb", "vms/b")],
                         ceph_space={"vms": (30, 100), "images": (1, 100)})
    assert space == driver.FreeSpace(30, 100, "Ceph pool vms")
    assert libvirt_free.seen["calls"].df_calls == 1
    assert "statvfs" not in libvirt_free.seen


def test_the_tightest_place_of_mixed_disks_is_reported(libvirt_free):
    disks = [("qcow2", "vda", None), ("rbd", "vdb", "vms/a"),
             ("rbd", "vdc", "fast/b")]
    ceph_space = {"vms": (10, 100), "fast": (40, 100)}
    assert libvirt_free(disks, ceph_space, statvfs=(1000, 500)).where == \
        "Ceph pool vms"
    assert libvirt_free(disks, ceph_space, statvfs=(1000, 50)).where.startswith(
        "libvirt overlay directory ")


def test_an_rbd_image_with_a_data_pool_reports_the_data_pool(libvirt_free):
    space = libvirt_free([("rbd", "vda", "vms/a")],
                         ceph_space={"vms": (90, 100), "ec-data": (5, 100)},
                         data_pools={"vms/a": "ec-data"})
    assert space == driver.FreeSpace(5, 100, "Ceph pool ec-data")


def test_a_pool_without_figures_leaves_the_other_places(libvirt_free):
    assert libvirt_free([("rbd", "vda", "vms/a")], ceph_space={}) is None
    space = libvirt_free([("qcow2", "vda", None), ("rbd", "vdb", "vms/a")],
                         ceph_space={})
    assert space.where.startswith("libvirt overlay directory ")


def test_volumes_and_disks_no_backend_takes_are_left_out(libvirt_free):
    assert libvirt_free([("raw", "vda", None), ("volume", "vdb", None)],
                        ceph_space={"volumes": (1, 100)}) is None
    assert libvirt_free.seen["calls"].df_calls == 0


def test_a_domain_that_is_gone_tells_nothing():
    drv = libvirt_driver.LibvirtDriver()
    drv.host = StubHost({})
    assert drv.free_space(None, _server("gone")) is None


# --- vSphere: the VM's datastores ------------------------------------------------


class StubSession:
    """The vSphere session: VM ``vm-1`` on ``datastores`` ({moid: props})."""

    def __init__(self, datastores):
        self.datastores = {vim.Datastore(moid): props
                           for moid, props in datastores.items()}
        self.asked = []

    def managed(self, cls, moid):
        return cls(moid)

    def retrieve(self, objs, props_by_type, verb="read"):
        ((kind, paths),) = props_by_type.items()
        self.asked.append((kind, sorted(paths)))
        if kind is vim.VirtualMachine:
            return {objs[0]: {"datastore": list(self.datastores)}}
        return {o: self.datastores[o] for o in objs}


def _vmware_free(datastores):
    drv = vmware_driver.VMwareDriver()
    drv.session = StubSession(datastores)
    return drv.free_space(None, _server("uuid-1", moref="vm-1")), drv.session


def _store(name, free, capacity, accessible=True):
    return {"name": name, "summary.freeSpace": free,
            "summary.capacity": capacity, "summary.accessible": accessible}


def test_the_vm_s_tightest_datastore_is_reported():
    space, session = _vmware_free({
        "datastore-1": _store("LocalDS_0", 60 * GIB, 100 * GIB),
        "datastore-2": _store("shared", 5 * GIB, 50 * GIB)})
    assert space == driver.FreeSpace(5 * GIB, 50 * GIB, "datastore shared")
    assert session.asked == [
        (vim.VirtualMachine, ["datastore"]),
        (vim.Datastore, sorted(vmware_driver.DATASTORE_SPACE))]


def test_datastores_without_figures_are_left_out():
    space, _session = _vmware_free({
        "datastore-1": _store("gone", 0, 100 * GIB, accessible=False),
        "datastore-2": _store("new", None, None),
        "datastore-3": _store("ok", 80 * GIB, 100 * GIB)})
    assert space.where == "datastore ok"
    assert _vmware_free({"datastore-1": _store("gone", 0, 100 * GIB,
                                               accessible=False)})[0] is None


def test_a_vm_on_no_datastore_tells_nothing():
    space, session = _vmware_free({})
    assert space is None
    assert len(session.asked) == 1  # no datastore read


def test_a_vm_that_is_gone_tells_nothing():
    drv = vmware_driver.VMwareDriver()
    drv.session = StubSession({})
    drv.session.retrieve = lambda *args, **kwargs: {}  # not under its moref
    drv.finder = types.SimpleNamespace(by_instance_uuid=lambda uuid: None)
    assert drv.free_space(None, _server("uuid-1", moref="vm-1")) is None
