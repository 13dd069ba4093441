"""pytest plugin: a real one-node Ceph cluster, the RBD storage of the libvirt
driver's RBD support.

Use it from a test module with::

    pytest_plugins = ["tests.ceph_fixtures"]

Fixture:
  ceph  (session) the cluster ``tools/start-ceph`` makes and starts: one
        monitor on 127.0.0.1 (msgr2), one bluestore OSD, cephx, Ceph 16.2 from
        Debian. ``make test`` passes its ceph.conf in NATIVESNAP_TEST_CEPH_CONF;
        run by hand, the fixture runs tools/start-ceph itself (≈ 10 s the first
        time, ≈ 0.6 s when the cluster is up). A cluster that cannot be started
        or reached fails every test that uses it, loudly: it never skips. See
        ``CephCluster``.

What the tests should know about this cluster:
  - Pools ``vms`` and ``images``, one copy of everything (size 1), both
    ``rbd pool init``-ed. No manager daemon: ``ceph pg stat`` and the other
    commands a manager serves hang (the monitor's own commands, librados and
    librbd work).
  - Users: ``nativesnap`` (``profile rbd`` on both pools), ``nativesnap-ro-images``
    (``profile rbd`` on ``vms``, ``profile rbd-read-only`` on ``images``: it may
    read images and clone them into ``vms``; a clone into ``images`` fails with
    ``rbd.PermissionError``), and ``admin`` (everything; the helpers below act
    as admin unless told otherwise). Each has a keyring file beside ceph.conf,
    which names them by pattern (``keyring = <dir>/ceph.$name.keyring``): a
    client given the conf and its id needs nothing else.
  - ``require_min_compat_client`` is mimic: new clones are format 2 (no
    snapshot protection needed; a snapshot with clones can be removed and
    lingers in the trash namespace until its last clone goes).
  - The cluster lives for the whole host, not one test session: images a test
    leaves behind are there for the next session. Name images uniquely and
    remove them (``remove_image``).
  - QEMU reads images as ``rbd:<pool>/<image>:id=<user>:conf=<ceph.conf>``
    (``qemu_path``); a libvirt domain reaches them as a network disk with a
    ``ceph`` secret (``libvirt_secret``, ``rbd_disk_xml``), the way Nova
    attaches RBD disks.

The monitor's and the OSD's log tails are added to the report of every failing
test that used the fixture.
"""

import base64
import contextlib
import dataclasses
import os
import re
import subprocess
import time

import pytest

from tests import fixtures

START_SCRIPT = os.path.join(fixtures.REPO, "tools", "start-ceph")
CONF_ENV = "NATIVESNAP_TEST_CEPH_CONF"
START_TIMEOUT = 300  # a first start is ≈ 10 s; waiting for a concurrent start's lock too
NATIVESNAP_USER = "nativesnap"
READ_ONLY_IMAGES_USER = "nativesnap-ro-images"
ADMIN_USER = "admin"
USERS = (NATIVESNAP_USER, READ_ONLY_IMAGES_USER, ADMIN_USER)
POOLS = ("vms", "images")
CONNECT_TIMEOUT = 10
# librados' own bounds: without them a connection to a dead monitor waits
# 300 s (client_mount_timeout) and an I/O to a stuck OSD forever.
CLIENT_TIMEOUTS = {
    "client_mount_timeout": str(CONNECT_TIMEOUT),
    "rados_mon_op_timeout": "30",
    "rados_osd_op_timeout": "60",
}
# How long remove_image retries an image that still has watchers (a QEMU that
# is closing it).
REMOVE_TIMEOUT = 45
MON_HOST = re.compile(r"^\[?(?:v[12]:)?([0-9.]+):(\d+)")


class CephError(RuntimeError):
    """The cluster could not be started, reached, or does not look as
    tools/start-ceph makes it."""


def _bindings():
    """Debian's librados/librbd bindings (python3-rados, python3-rbd)."""
    try:
        import rados
        import rbd
    except ImportError as e:
        raise CephError(f"the Ceph Python bindings do not import ({e}): install "
                        "python3-rados and python3-rbd (tools/setup-host) and use a "
                        "venv made with /usr/bin/python3 -m venv --system-site-packages"
                        ) from None
    return rados, rbd


def start_cluster():
    """The path of the cluster's ceph.conf: NATIVESNAP_TEST_CEPH_CONF, else
    what tools/start-ceph (idempotent) prints, which is then exported for the
    processes the tests start."""
    path = os.environ.get(CONF_ENV)
    if path:
        return path
    try:
        out = subprocess.run([START_SCRIPT], check=False, capture_output=True, text=True,
                             timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        stderr = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        raise CephError(f"tools/start-ceph did not finish within {START_TIMEOUT} s; its "
                        f"stderr:\n{(stderr or '')[-4000:]}") from None
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        raise CephError(f"tools/start-ceph failed ({out.returncode}); its stderr:\n"
                        f"{out.stderr[-4000:]}")
    os.environ[CONF_ENV] = lines[-1]
    return lines[-1]


def _read_conf(path):
    """{section: {option: value}} of a ceph.conf; option names with blanks
    (Ceph takes "mon host" and "mon_host" alike)."""
    sections, current = {}, None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.split("#", 1)[0].split(";", 1)[0].strip()
            if not line:
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1].strip(), {})
            elif "=" in line and current is not None:
                key, value = line.split("=", 1)
                current[" ".join(key.strip().replace("_", " ").split())] = value.strip()
    return sections


def _keyring_key(path):
    with open(path, encoding="utf-8") as f:
        match = re.search(r"^\s*key\s*=\s*(\S+)\s*$", f.read(), re.MULTILINE)
    if not match:
        raise CephError(f"no key in keyring {path}")
    return match.group(1)


def _xml_attr(value):
    return (str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


@dataclasses.dataclass(frozen=True)
class CephUser:
    name: str        # the id: "nativesnap"
    entity: str      # "client.nativesnap"
    keyring: str     # path of its keyring file
    key: str         # its cephx key (base64), as a libvirt ceph secret holds it


@dataclasses.dataclass(frozen=True)
class ParentSpec:
    pool: str
    image: str
    snap: str


@dataclasses.dataclass(frozen=True)
class SnapInfo:
    name: str
    id: int
    size: int
    protected: bool
    children: tuple  # "pool/image" of each clone of this snapshot


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    pool: str
    name: str
    id: str
    size: int
    features: int      # rbd.RBD_FEATURE_* bits
    op_features: int   # rbd.RBD_OPERATION_FEATURE_* bits
    parent: ParentSpec | None
    clone_format: int | None   # 1 or 2 for a clone, None otherwise
    snapshots: tuple           # SnapInfo, oldest first

    def snapshot(self, name):
        for snap in self.snapshots:
            if snap.name == name:
                return snap
        raise KeyError(f"{self.pool}/{self.name} has no snapshot {name!r}")


class CephCluster:
    """The running one-node cluster and what a test needs to use it.

    Attributes: ``conf_path`` (its ceph.conf), ``fsid``, ``mon_host``
    (``127.0.0.1:PORT``, the monitor's msgr2 address), ``mon_addr`` and
    ``mon_port``, ``users`` ({name: CephUser}: ``nativesnap``,
    ``nativesnap-ro-images``, ``admin``), ``pools`` (``("vms", "images")``),
    ``log_paths`` ({daemon: its log}).
    """

    def __init__(self, conf_path):
        self.conf_path = os.path.abspath(conf_path)
        self.fsid = self.mon_host = None
        self._admin = None
        if not os.path.isfile(self.conf_path):
            raise CephError(f"{CONF_ENV}={conf_path}: no such file (run tools/start-ceph)")
        conf = _read_conf(self.conf_path)
        glob = conf.get("global", {})
        self.fsid = glob.get("fsid")
        match = MON_HOST.match(glob.get("mon host", ""))
        if not self.fsid or not match:
            raise CephError(f"{self.conf_path} names no fsid or mon host")
        self.mon_addr, self.mon_port = match.group(1), int(match.group(2))
        self.mon_host = f"{self.mon_addr}:{self.mon_port}"
        keyring_pattern = glob.get("keyring", "")
        if "$name" not in keyring_pattern:
            raise CephError(f"{self.conf_path}: keyring is not a $name pattern "
                            f"({keyring_pattern!r})")
        self.users = {}
        for name in USERS:
            entity = f"client.{name}"
            path = (keyring_pattern.replace("$cluster", "ceph")
                    .replace("$name", entity))
            if not os.path.isfile(path):
                raise CephError(f"no keyring {path} for {entity} (run tools/start-ceph)")
            self.users[name] = CephUser(name, entity, path, _keyring_key(path))
        self.pools = POOLS
        self.log_paths = {}
        for daemon, section in (("mon.a", "mon"), ("osd.0", "osd")):
            log_file = conf.get(section, {}).get("log file")
            if log_file:
                self.log_paths[daemon] = log_file.replace("$name", daemon)

    def __repr__(self):
        return f"<CephCluster {self.fsid} mon {self.mon_host} conf {self.conf_path}>"

    # --- connections --------------------------------------------------------

    def _connect(self, user):
        rados, _ = _bindings()
        if user not in self.users:
            raise KeyError(f"no user {user!r}; known: {sorted(self.users)}")
        cluster = rados.Rados(conffile=self.conf_path, rados_id=user,
                              conf={"keyring": self.users[user].keyring, **CLIENT_TIMEOUTS})
        try:
            cluster.connect(timeout=CONNECT_TIMEOUT)
        except Exception as e:
            cluster.shutdown()
            raise CephError(f"cannot connect to Ceph {self.fsid} at {self.mon_host} as "
                            f"client.{user}: {e}; is it running? (tools/start-ceph)") from e
        return cluster

    @contextlib.contextmanager
    def rados(self, user=NATIVESNAP_USER):
        """A connected ``rados.Rados`` as ``client.<user>`` (bounded connect
        and operation timeouts), shut down afterwards."""
        cluster = self._connect(user)
        try:
            yield cluster
        finally:
            cluster.shutdown()

    @contextlib.contextmanager
    def ioctx(self, pool, user=NATIVESNAP_USER):
        """An I/O context on ``pool`` as ``client.<user>``."""
        with self.rados(user) as cluster, cluster.open_ioctx(pool) as ioctx:
            yield ioctx

    @contextlib.contextmanager
    def _helper_ioctx(self, pool, user):
        """An I/O context for the helpers: on the session's admin connection,
        or on a connection of its own for another user."""
        if user is None or user == ADMIN_USER:
            if self._admin is None:
                self._admin = self._connect(ADMIN_USER)
            with self._admin.open_ioctx(pool) as ioctx:
                yield ioctx
        else:
            with self.ioctx(pool, user) as ioctx:
                yield ioctx

    def close(self):
        if self._admin is not None:
            self._admin.shutdown()
            self._admin = None

    def check(self):
        """Connect as client.nativesnap and make sure the fsid and the pools
        are what tools/start-ceph made; raises CephError."""
        with self.rados(NATIVESNAP_USER) as cluster:
            fsid = cluster.get_fsid()
            if fsid != self.fsid:
                raise CephError(f"the monitor at {self.mon_host} is of cluster {fsid}, "
                                f"not {self.fsid} of {self.conf_path}")
            for pool in self.pools:
                with cluster.open_ioctx(pool) as ioctx:
                    # One object listing: the pool's placement groups answer.
                    next(iter(ioctx.list_objects()), None)
        return self

    # --- images -------------------------------------------------------------

    def create_image(self, pool, name, size_bytes, features=None, user=None):
        """A new format 2 image with the cluster's default features (or
        ``features``); returns ``"pool/name"``."""
        _, rbd = _bindings()
        with self._helper_ioctx(pool, user) as ioctx:
            rbd.RBD().create(ioctx, name, int(size_bytes), old_format=False,
                             features=features)
        return f"{pool}/{name}"

    def image_exists(self, pool, name):
        _, rbd = _bindings()
        with self._helper_ioctx(pool, None) as ioctx:
            return name in rbd.RBD().list(ioctx)

    def image_info(self, pool, name):
        """An ImageInfo: size, features, parent (and clone format), snapshots
        with their protection and clones."""
        _, rbd = _bindings()
        with self._helper_ioctx(pool, None) as ioctx, \
                rbd.Image(ioctx, name, read_only=True) as image:
            try:
                spec = image.get_parent_image_spec()
                parent = ParentSpec(spec["pool_name"], spec["image_name"], spec["snap_name"])
            except rbd.ImageNotFound:
                parent = None
            op_features = image.op_features()
            clone_format = None
            if parent is not None:
                clone_format = (2 if op_features & rbd.RBD_OPERATION_FEATURE_CLONE_CHILD
                                else 1)
            snaps = []
            for snap in image.list_snaps():
                image.set_snap(snap["name"])
                children = tuple(f"{c['pool']}/{c['image']}" for c in image.list_children2()
                                 if not c.get("trash"))
                image.set_snap(None)
                snaps.append(SnapInfo(snap["name"], snap["id"], snap["size"],
                                      image.is_protected_snap(snap["name"]), children))
            return ImageInfo(pool=pool, name=name, id=image.id(), size=image.size(),
                             features=image.features(), op_features=op_features,
                             parent=parent, clone_format=clone_format,
                             snapshots=tuple(snaps))

    def write(self, pool, name, offset, data, user=None):
        """Write ``data`` at ``offset`` through librbd and flush it."""
        _, rbd = _bindings()
        with self._helper_ioctx(pool, user) as ioctx, rbd.Image(ioctx, name) as image:
            written = image.write(bytes(data), int(offset))
            image.flush()
        if written != len(data):
            raise CephError(f"wrote {written} of {len(data)} bytes to {pool}/{name}")
        return written

    def read(self, pool, name, offset, length, snapshot=None, user=None):
        """``length`` bytes at ``offset`` (of ``snapshot``, if given) through librbd."""
        _, rbd = _bindings()
        with self._helper_ioctx(pool, user) as ioctx, \
                rbd.Image(ioctx, name, snapshot=snapshot, read_only=True) as image:
            return image.read(int(offset), int(length))

    def remove_image(self, pool, name, children="remove", timeout=REMOVE_TIMEOUT):
        """Remove an image with its snapshots; returns False if there was none.

        Clones of its snapshots are removed first (recursively) with
        ``children="remove"``, or flattened and kept with ``"flatten"``;
        ``"fail"`` raises CephError if there is any. Protected snapshots are
        unprotected. An image that still has watchers (a QEMU closing it) is
        retried for ``timeout`` s.
        """
        if children not in ("remove", "flatten", "fail"):
            raise ValueError(f"children must be remove, flatten or fail, not {children!r}")
        _, rbd = _bindings()
        with self._helper_ioctx(pool, None) as ioctx:
            try:
                image = rbd.Image(ioctx, name)
            except rbd.ImageNotFound:
                return False
            with image:
                for snap in list(image.list_snaps()):
                    image.set_snap(snap["name"])
                    clones = list(image.list_children2())
                    image.set_snap(None)
                    for child in clones:
                        self._release_child(child, children, f"{pool}/{name}@{snap['name']}")
                    if image.is_protected_snap(snap["name"]):
                        image.unprotect_snap(snap["name"])
                    image.remove_snap(snap["name"])
            deadline = time.monotonic() + timeout
            while True:
                try:
                    rbd.RBD().remove(ioctx, name)
                    return True
                except rbd.ImageNotFound:
                    return True
                except (rbd.ImageBusy, rbd.ImageHasSnapshots) as e:
                    if time.monotonic() >= deadline:
                        raise CephError(f"{pool}/{name} still cannot be removed after "
                                        f"{timeout} s: {e}") from e
                    time.sleep(0.5)

    def _release_child(self, child, how, parent):
        _, rbd = _bindings()
        spec = f"{child['pool']}/{child['image']}"
        if child.get("trash"):
            # A clone removed to the trash still holds its parent snapshot.
            with self._helper_ioctx(child["pool"], None) as ioctx:
                rbd.RBD().trash_remove(ioctx, child["id"], force=True)
        elif how == "fail":
            raise CephError(f"{parent} has the clone {spec}")
        elif how == "remove":
            self.remove_image(child["pool"], child["image"], children="remove")
        else:
            with self._helper_ioctx(child["pool"], None) as ioctx, \
                    rbd.Image(ioctx, child["image"]) as image:
                image.flatten()

    def qemu_path(self, pool, name, user=NATIVESNAP_USER):
        """The image as QEMU's rbd driver names it (``qemu-img info <path>``)."""
        def esc(value):
            return str(value).replace("\\", "\\\\").replace(":", "\\:")
        return f"rbd:{esc(pool)}/{esc(name)}:id={esc(user)}:conf={esc(self.conf_path)}"

    # --- libvirt ------------------------------------------------------------

    def libvirt_secret(self, conn, user=NATIVESNAP_USER):
        """The UUID of a libvirt ``ceph`` secret holding ``client.<user>``'s
        key (usage name ``client.<user> secret``), defined if there is none
        and set to the current key either way. It stays defined (persistent)
        after the tests, like a deployment's."""
        import libvirt

        usage = f"client.{user} secret"
        key = self.users[user].key
        xml = (f"<secret ephemeral='no' private='no'>"
               f"<description>nativesnap test Ceph {self.fsid}: client.{user}</description>"
               f"<usage type='ceph'><name>{_xml_attr(usage)}</name></usage></secret>")
        for attempt in range(2):
            try:
                secret = conn.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_CEPH, usage)
            except libvirt.libvirtError as e:
                if e.get_error_code() != libvirt.VIR_ERR_NO_SECRET:
                    raise
                try:
                    secret = conn.secretDefineXML(xml)
                except libvirt.libvirtError:
                    if attempt:
                        raise
                    continue  # defined meanwhile by another process: look it up
            # libvirt keeps the raw key; it hands QEMU its base64 again.
            secret.setValue(base64.b64decode(key))
            return secret.UUIDString()
        raise CephError(f"could not define the libvirt secret {usage!r}")

    def rbd_disk_xml(self, pool, image, user, secret_uuid, target, bus="virtio",
                     serial=None, cache=None):
        """A ``<disk type='network'>`` element for ``pool/image``, reached
        through the monitor with cephx as ``client.<user>``, the key in
        libvirt secret ``secret_uuid``."""
        cache_attr = f" cache='{_xml_attr(cache)}'" if cache else ""
        serial_xml = f"\n  <serial>{_xml_attr(serial)}</serial>" if serial else ""
        return (
            "<disk type='network' device='disk'>\n"
            f"  <driver name='qemu' type='raw'{cache_attr}/>\n"
            f"  <auth username='{_xml_attr(user)}'>\n"
            f"    <secret type='ceph' uuid='{_xml_attr(secret_uuid)}'/>\n"
            "  </auth>\n"
            f"  <source protocol='rbd' name='{_xml_attr(pool)}/{_xml_attr(image)}'>\n"
            f"    <host name='{_xml_attr(self.mon_addr)}' port='{self.mon_port}'/>\n"
            "  </source>\n"
            f"  <target dev='{_xml_attr(target)}' bus='{_xml_attr(bus)}'/>"
            f"{serial_xml}\n"
            "</disk>")

    # --- diagnostics --------------------------------------------------------

    def log_tail(self, daemon, chars=4000):
        path = self.log_paths.get(daemon)
        if not path:
            return f"(no log file for {daemon} in {self.conf_path})"
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                f.seek(max(0, os.path.getsize(path) - chars))
                return f.read()
        except FileNotFoundError:
            return f"({path} was not written)"


@pytest.fixture(scope="session")
def ceph():
    _bindings()
    cluster = CephCluster(start_cluster())
    try:
        cluster.check()
        yield cluster
    finally:
        cluster.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    cluster = getattr(item, "funcargs", {}).get("ceph")
    if report.failed and isinstance(cluster, CephCluster):
        for daemon, path in cluster.log_paths.items():
            report.sections.append((f"Ceph {daemon} log (tail of {path})",
                                    cluster.log_tail(daemon)))
