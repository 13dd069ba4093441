"""The Ceph cluster of RBD disks, through librados and librbd (Debian's
python3-rados and python3-rbd): the calls the RBD disk backend makes, each
bounded and each failure one error naming what was asked.

Bounded: the connection and every monitor and OSD operation time out after
``[rbd] connect_timeout`` (librados' ``client_mount_timeout``,
``rados_mon_op_timeout``, ``rados_osd_op_timeout``), so a cluster that stops
answering gives an error within that time instead of a worker that hangs.
Long data operations (flatten, rollback) are made of many OSD operations, each
bounded by the same timeout.

One cluster connection is kept and reused (opening one costs a monitor round
trip and an authentication); a call that fails on a broken connection drops it,
and the next call connects again.

Clones: format 2 (no snapshot protection) when the cluster allows it
(``require_min_compat_client`` mimic or later); on an older cluster librbd
refuses an unprotected parent and the snapshot is protected first (format 1),
and unprotected again when its last clone is gone (docs/rbd.md).
"""

import contextlib
import json
import os
import threading

from oslo_log import log as logging

from nativesnap.conf import CONF
from nativesnap import exception

try:
    import rados
    import rbd
except ImportError:  # the host has no Ceph bindings: RBD disks are refused
    rados = rbd = None

LOG = logging.getLogger(__name__)

DRIVER = "libvirt"


def available():
    return rbd is not None


def _error(verb, exc):
    return exception.DriverError(driver=DRIVER, verb=verb,
                                 reason=f"Ceph: {type(exc).__name__}: {exc}")


class Cluster:
    """A connection to the cluster of ``[rbd] ceph_conf`` as ``rbd_user``."""

    def __init__(self, conf=None):
        self._conf = conf or CONF
        self._lock = threading.Lock()
        self._rados = None

    # --- connection -----------------------------------------------------------

    def _connect(self):
        if rados is None:
            raise exception.DriverError(
                driver=DRIVER, verb="reach Ceph",
                reason="the Ceph bindings (python3-rados, python3-rbd) are "
                       "not installed on this host")
        opts = self._conf.rbd
        timeout = str(opts.connect_timeout)
        settings = {"client_mount_timeout": timeout,
                    "rados_mon_op_timeout": timeout,
                    "rados_osd_op_timeout": timeout}
        if opts.keyring:
            settings["keyring"] = opts.keyring
        cluster = rados.Rados(conffile=opts.ceph_conf, rados_id=opts.rbd_user,
                              conf=settings)
        try:
            cluster.connect(timeout=opts.connect_timeout)
        except Exception as e:
            cluster.shutdown()
            raise _error(f"connect to Ceph ({opts.ceph_conf} as "
                         f"client.{opts.rbd_user})", e) from e
        return cluster

    def _cluster(self):
        with self._lock:
            if self._rados is None:
                self._rados = self._connect()
            return self._rados

    def close(self):
        with self._lock:
            if self._rados is not None:
                self._rados.shutdown()
                self._rados = None

    def _drop(self):
        """Forget a connection that failed: the next call makes a new one."""
        with self._lock:
            cluster, self._rados = self._rados, None
        if cluster is not None:
            try:
                cluster.shutdown()
            except Exception:
                pass

    @contextlib.contextmanager
    def _ioctx(self, pool, verb):
        try:
            ioctx = self._cluster().open_ioctx(pool)
        except exception.DriverError:
            raise
        except rados.ObjectNotFound as e:
            raise exception.Invalid(reason=f"Ceph pool {pool!r} does not exist "
                                           "or client."
                                           f"{self._conf.rbd.rbd_user} may not "
                                           "see it") from e
        except rados.Error as e:
            self._drop()
            raise _error(verb, e) from e
        try:
            yield ioctx
        finally:
            ioctx.close()

    @contextlib.contextmanager
    def image(self, pool, name, verb, snapshot=None, read_only=False):
        """An open ``rbd.Image``; librbd's errors as DriverError naming
        ``verb`` (ImageNotFound as itself, for callers that expect it)."""
        with self._ioctx(pool, verb) as ioctx:
            try:
                with rbd.Image(ioctx, name, snapshot=snapshot,
                               read_only=read_only) as img:
                    yield img
            except (rbd.ImageNotFound, exception.NativesnapException):
                raise
            except (rbd.Error, rados.Error) as e:
                if isinstance(e, rados.TimedOut):
                    self._drop()
                raise _error(verb, e) from e

    def fsid(self):
        try:
            return self._cluster().get_fsid()
        except rados.Error as e:
            self._drop()
            raise _error("read the cluster's fsid", e) from e

    # --- images -----------------------------------------------------------------

    def exists(self, pool, name):
        try:
            with self.image(pool, name, f"open {pool}/{name}", read_only=True):
                return True
        except rbd.ImageNotFound:
            return False

    def check_writable(self, pool, name):
        """Invalid naming the image when ``rbd_user`` cannot open it for
        writing (a pool it has no caps on): refused at adopt."""
        try:
            with self.image(pool, name, f"open {pool}/{name}"):
                return
        except rbd.ImageNotFound as e:
            raise exception.Invalid(reason=f"RBD image {pool}/{name} does not "
                                           "exist") from e
        except exception.DriverError as e:
            raise exception.Invalid(
                reason=f"client.{self._conf.rbd.rbd_user} cannot write RBD "
                       f"image {pool}/{name} ({e.kwargs['reason']}); give it "
                       f"'profile rbd pool={pool}' (docs/rbd.md)") from e

    def remove(self, pool, name):
        """Remove an image (gone already is fine)."""
        with self._ioctx(pool, f"remove {pool}/{name}") as ioctx:
            try:
                rbd.RBD().remove(ioctx, name)
            except rbd.ImageNotFound:
                pass
            except (rbd.Error, rados.Error) as e:
                raise _error(f"remove {pool}/{name}", e) from e

    def parent(self, pool, name):
        """(pool, image, snapshot) of a clone's parent, or None."""
        with self.image(pool, name, f"read the parent of {pool}/{name}",
                        read_only=True) as img:
            try:
                spec = img.get_parent_image_spec()
            except rbd.ImageNotFound:
                return None
            return spec["pool_name"], spec["image_name"], spec["snap_name"]

    # --- snapshots ----------------------------------------------------------------

    def create_snapshot(self, pool, name, snapshot):
        with self.image(pool, name, f"snapshot {pool}/{name}") as img:
            try:
                img.create_snap(snapshot)
            except rbd.ImageExists:
                pass  # taken already (a retried create)

    def snapshots(self, pool, name):
        with self.image(pool, name, f"list snapshots of {pool}/{name}",
                        read_only=True) as img:
            return [s["name"] for s in img.list_snaps()]

    def children(self, pool, name, snapshot):
        """(pool, image) of the clones of one snapshot, the trashed ones
        (format 2 clones of a removed parent image) included."""
        with self.image(pool, name, f"list the clones of {pool}/{name}@"
                        f"{snapshot}", snapshot=snapshot, read_only=True) as img:
            return [(c["pool"], c["image"]) for c in img.list_children2()]

    def remove_snapshot(self, pool, name, snapshot):
        """Remove a snapshot nothing clones (gone already is fine)."""
        with self.image(pool, name, f"remove snapshot {snapshot} of "
                        f"{pool}/{name}") as img:
            try:
                if img.is_protected_snap(snapshot):
                    img.unprotect_snap(snapshot)
                img.remove_snap(snapshot)
            except rbd.ImageNotFound:
                pass

    def rollback(self, pool, name, snapshot, progress=None):
        with self.image(pool, name, f"roll {pool}/{name} back to "
                        f"{snapshot}") as img:
            img.rollback_to_snap(snapshot)
            if progress:
                progress(100)

    # --- clones ---------------------------------------------------------------------

    def clone(self, pool, name, snapshot, dest_pool, dest_name):
        """``dest_pool/dest_name``, a copy-on-write clone of the snapshot."""
        verb = f"clone {pool}/{name}@{snapshot} into {dest_pool}/{dest_name}"
        with self._ioctx(pool, verb) as parent, \
                self._ioctx(dest_pool, verb) as child:
            try:
                try:
                    rbd.RBD().clone(parent, name, snapshot, child, dest_name)
                except rbd.InvalidArgument:
                    # A cluster that allows format 1 clones only: protect.
                    with rbd.Image(parent, name) as img:
                        if not img.is_protected_snap(snapshot):
                            img.protect_snap(snapshot)
                    rbd.RBD().clone(parent, name, snapshot, child, dest_name)
            except rbd.PermissionError:
                raise  # the caller falls back to a copy
            except (rbd.Error, rados.Error) as e:
                raise _error(verb, e) from e

    def flatten(self, pool, name, progress=None):
        """Copy the parent's data into a clone; it then needs no parent.
        An exception raised by ``progress`` stops the flatten (librbd is told
        through the callback's return value) and is raised again."""
        stopped = []

        def step(offset, total):
            try:
                if progress and total:
                    progress(int(100 * offset / total))
            except Exception as e:
                stopped.append(e)
                return -1
            return 0
        try:
            with self.image(pool, name, f"flatten {pool}/{name}") as img:
                try:
                    img.flatten(on_progress=step)
                except rbd.InvalidArgument:
                    pass  # it has no parent (flattened already)
        except Exception:
            if stopped:
                raise stopped[0] from None
            raise

    def size(self, pool, name):
        with self.image(pool, name, f"read the size of {pool}/{name}",
                        read_only=True) as img:
            return img.size()

    # --- free space (the storage guard) -------------------------------------------

    def data_pool(self, pool, name):
        """The pool that holds the image's data, where its snapshots'
        copy-on-write data goes: its own pool, or the data pool it was
        created with (``rbd create --data-pool``, an erasure-coded pool).
        An image that is gone is taken to be in its own pool: a snapshot of
        it fails, saying so, without the storage guard's help."""
        verb = f"read the data pool of {pool}/{name}"
        try:
            with self.image(pool, name, verb, read_only=True) as img:
                pool_id = img.data_pool_id()
        except rbd.ImageNotFound:
            return pool
        try:
            return self._cluster().pool_reverse_lookup(pool_id) or pool
        except rados.Error as e:
            self._drop()
            raise _error(verb, e) from e

    def pool_space(self):
        """{pool: (free bytes, total bytes)} as ``ceph df detail`` gives
        them (one monitor command for every pool): free is what can still
        be written to the pool (``max_avail``, its replication accounted
        for; less when its quota leaves less), total that and what is
        stored. A pool without figures is left out: the monitor has them
        from the manager daemon, and reports none without one."""
        verb = "read the pools' free space (ceph df)"
        command = json.dumps({"prefix": "df", "detail": "detail",
                              "format": "json"})
        try:
            ret, out, status = self._cluster().mon_command(command, b"")
        except rados.Error as e:
            self._drop()
            raise _error(verb, e) from e
        if ret != 0:
            raise exception.DriverError(
                driver=DRIVER, verb=verb,
                reason=f"Ceph: {status or os.strerror(-ret)}")
        try:
            pools = json.loads(out)["pools"]
            return dict(filter(None, (_pool_space(p) for p in pools)))
        except (ValueError, KeyError, TypeError) as e:
            raise _error(verb, e) from e

    # --- image metadata (what nativesnap still has to do to an image) -----------

    def set_metadata(self, pool, name, key, value):
        with self.image(pool, name, f"mark {pool}/{name}") as img:
            img.metadata_set(key, value)

    def get_metadata(self, pool, name, key):
        """The value of ``key`` on the image, or None."""
        with self.image(pool, name, f"read the marks of {pool}/{name}",
                        read_only=True) as img:
            try:
                return img.metadata_get(key)
            except KeyError:
                return None

    def remove_metadata(self, pool, name, key):
        with self.image(pool, name, f"unmark {pool}/{name}") as img:
            try:
                img.metadata_remove(key)
            except KeyError:
                pass

    def remove_with_snapshots(self, pool, name):
        """Remove an image and its snapshots (gone already is fine);
        SnapshotInUse naming the clones while one of them has any."""
        try:
            with self.image(pool, name, f"remove {pool}/{name}") as img:
                for snap in img.list_snaps():
                    children = self.children(pool, name, snap["name"])
                    if children:
                        raise exception.SnapshotInUse(
                            snapshot_id=f"{pool}/{name}@{snap['name']}",
                            dependents=", ".join(f"{p}/{i}" for p, i in
                                                 children))
                    if img.is_protected_snap(snap["name"]):
                        img.unprotect_snap(snap["name"])
                    img.remove_snap(snap["name"])
        except rbd.ImageNotFound:
            return
        self.remove(pool, name)


def _pool_space(pool):
    """(name, (free, total)) of one pool of ``ceph df detail``, or None
    when it has no figures."""
    stats = pool["stats"]
    stored = int(stats.get("stored", stats.get("bytes_used", 0)))
    free = int(stats.get("max_avail", 0))
    total = stored + free
    quota = int(stats.get("quota_bytes") or 0)
    if quota:
        free = min(free, max(0, quota - stored))
        total = min(total, quota)
    if total <= 0:
        return None
    return pool["name"], (free, total)
