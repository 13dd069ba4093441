"""The driver contract every hypervisor driver implements (DESIGN §4).

Drivers are handed versioned objects and return plain values; they never save
objects and never import ``nativesnap.db`` or another driver: the manager owns
the database, the state machine and the task lock. A verb a driver cannot do
raises :class:`UnsupportedOperation`, which the API answers with 400 naming the
driver and the verb.

Every driver wait must be bounded; long work reports through ``progress``,
which also raises ``TaskCancelled`` once the manager has cancelled the task
(e.g. on ``task_timeout``), so cancellation is noticed at each progress step.
"""

import abc
import dataclasses
import unicodedata

from stevedore import driver as stevedore_driver

from nativesnap import exception

UnsupportedOperation = exception.UnsupportedOperation

NAMESPACE = "nativesnap.virt.drivers"

# Capability names shown in the server view (DESIGN §2).
CAPABILITIES = ("memory", "quiesce", "revert_any", "tree", "linked_spawn", "export")


def plain_file_name(what, name):
    """``name`` when it is a plain file name, else Invalid (400). Cinder names
    the files of an assisted volume snapshot; a driver joins them to the
    volume's directory only after this check.

    No '/', no '..', no ':' (QEMU reads a ``proto:`` prefix in a backing name
    as a protocol, e.g. ``json:{...}`` or ``nbd:...``), no control
    characters, 1-255 characters."""
    if (not isinstance(name, str) or not 1 <= len(name) <= 255 or "/" in name
            or ".." in name or ":" in name or name == "."
            or any(unicodedata.category(c) == "Cc" for c in name)):
        shown = repr(name)
        shown = shown if len(shown) <= 60 else shown[:60] + "..."
        raise exception.Invalid(
            reason=f"{what} {shown} is not a plain file name (1-255 "
                   "characters, no '/', '..', ':' or control characters)")
    return name


@dataclasses.dataclass
class AdoptedObject:
    """What a driver found for ``hypervisor_ref`` when asked to adopt it."""

    hypervisor_ref: str  # canonical reference (e.g. a domain UUID)
    name: str  # the hypervisor's own name for it, a default for the server's
    status: str  # one of states.SERVER_STATUSES
    driver_info: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SnapshotResult:
    """What a snapshot turned out to be; the manager saves it with the status."""

    kind: str
    consistency: str
    frozen_ms: int | None = None
    paused_ms: int | None = None
    size_bytes: int | None = None
    memory: bool = False
    disks: list = dataclasses.field(default_factory=list)
    volumes: list = dataclasses.field(default_factory=list)
    driver_info: dict = dataclasses.field(default_factory=dict)
    #: The server's new driver_info, when the snapshot changed it (e.g. the
    #: files its disks now run on); None leaves it as it was.
    server_driver_info: dict | None = None


@dataclasses.dataclass
class RevertResult:
    status: str  # the server's status afterwards
    server_driver_info: dict | None = None


@dataclasses.dataclass
class DeleteResult:
    server_driver_info: dict | None = None
    #: {snapshot id: new driver_info} for other snapshots whose data moved
    #: (e.g. a merge left a later snapshot's state in another file).
    snapshot_driver_info: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SpawnResult:
    hypervisor_ref: str
    status: str
    driver_info: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ExportResult:
    size_bytes: int
    sha256: str


@dataclasses.dataclass
class VolumeDisk:
    """A server's disk that is a Cinder volume: its serial is the volume id."""

    volume_id: str
    target: str  # e.g. vdb
    type: str  # file | block | network
    source: str | None  # the file the guest writes (None for network disks)
    driver_type: str | None  # qcow2 | raw | ...
    protocol: str | None = None


@dataclasses.dataclass
class VolumeSnapshotResult:
    """What an assisted volume snapshot did, for the operation's record."""

    #: The files involved ({"new_file": path} or the merge's files and how
    #: they were merged) and the volume's chain afterwards.
    files: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Reconciled:
    """Outcome of reconciling one interrupted task with the hypervisor.

    ``completed`` True: the work had been done and is kept (rolled forward), with
    ``values`` to record (e.g. a SnapshotResult's fields, a server status).
    ``completed`` False: the driver removed what the work had half-made (rolled
    back) and ``reason`` says what was found.
    """

    completed: bool
    values: dict = dataclasses.field(default_factory=dict)
    reason: str = ""
    server_driver_info: dict | None = None


class ComputeDriver(metaclass=abc.ABCMeta):
    """Base class of virt drivers. ``name`` is the entry-point name."""

    name = "base"

    #: What the driver can do; the server view shows these, per server.
    capabilities = {name: False for name in CAPABILITIES}

    def init_host(self, host):
        """Connect to the hypervisor; called once at service start-up."""

    def cleanup_host(self):
        """Release connections; called at service shutdown."""

    def get_capabilities(self, server):
        """Capabilities of one server (a driver may narrow them per server)."""
        return dict(self.capabilities)

    def _unsupported(self, verb, reason=None):
        raise UnsupportedOperation(driver=self.name, verb=verb, reason=reason)

    # --- servers -------------------------------------------------------------

    @abc.abstractmethod
    def adopt(self, context, hypervisor_ref):
        """Find the hypervisor object named ``hypervisor_ref``; AdoptedObject.

        Raises HypervisorObjectNotFound (400) when there is none.
        """

    @abc.abstractmethod
    def get_server_state(self, context, server):
        """The server's status (states.SERVER_STATUSES) as the hypervisor sees it."""

    def destroy_server(self, context, server):
        """Destroy a spawned server and the files only it owns."""
        self._unsupported("destroy_server")

    def forget_server(self, context, server):
        """Stop managing an adopted server; the hypervisor object is left as is."""

    # --- snapshots ----------------------------------------------------------

    def validate_snapshot_request(self, server, kind, memory, quiesce,
                                  include_volumes):
        """Refuse impossible combinations up front (raise Invalid/Unsupported),
        before the request is accepted. The default accepts everything the
        capabilities allow."""
        caps = self.get_capabilities(server)
        if memory and not caps.get("memory"):
            self._unsupported("create_snapshot", "memory snapshots")
        if include_volumes:
            self._unsupported("create_snapshot", "include_volumes")

    def validate_revert(self, server, snapshot):
        """Refuse a revert the hypervisor or a peer would refuse (raise
        Conflict/Invalid) before it is accepted. The default accepts."""

    def attached_volume_ids(self, server):
        """Ids of the Cinder volumes a server snapshot with include_volumes
        covers (the manager records a Cinder snapshot for each first)."""
        return []

    def create_snapshot(self, context, server, snapshot, progress):
        """Take the snapshot described by ``snapshot``; return a SnapshotResult."""
        self._unsupported("create_snapshot")

    def delete_snapshot(self, context, server, snapshot, progress):
        """Remove the snapshot, keeping every other snapshot's and server's
        data; a DeleteResult (or None when nothing else changed)."""
        self._unsupported("delete_snapshot")

    def revert_to_snapshot(self, context, server, snapshot, power_on, progress):
        """Revert the server in place; a RevertResult."""
        self._unsupported("revert_to_snapshot")

    def spawn_from_snapshot(self, context, source_server, snapshot, new_server,
                            linked, power_on, progress):
        """Make a new hypervisor object from the snapshot; a SpawnResult."""
        self._unsupported("spawn_from_snapshot")

    def export_snapshot(self, context, server, snapshot, dest_path, disk_format,
                        progress):
        """Write the snapshot's disk state to ``dest_path``; an ExportResult."""
        self._unsupported("export_snapshot")

    # --- assisted volume snapshots (Cinder's os-assisted-volume-snapshots) ----

    def find_volume_disk(self, context, server, volume_id):
        """The VolumeDisk of ``server`` that is volume ``volume_id``, or None."""
        self._unsupported("find_volume_disk", "assisted volume snapshots")

    def validate_volume_snapshot_create(self, context, server, disk, create_info):
        """Refuse (Invalid, 400) an assisted snapshot that cannot be taken,
        before Cinder is answered; nothing is changed."""
        self._unsupported("volume_snapshot_create", "assisted volume snapshots")

    def volume_snapshot_create(self, context, server, volume_id, create_info,
                               progress):
        """Make ``create_info['new_file']`` (made by Cinder, backed by the
        volume's current file) the file the guest writes; the current file is
        then the snapshot. A VolumeSnapshotResult."""
        self._unsupported("volume_snapshot_create", "assisted volume snapshots")

    def validate_volume_snapshot_delete(self, context, server, disk, delete_info):
        """Refuse (Invalid, 400) a merge that cannot be done, before Cinder is
        answered; nothing is changed."""
        self._unsupported("volume_snapshot_delete", "assisted volume snapshots")

    def volume_snapshot_delete(self, context, server, volume_id, delete_info,
                               progress):
        """Merge a volume snapshot's file out of the chain as ``delete_info``
        says (pull into the active file, or commit into the file below). A
        VolumeSnapshotResult."""
        self._unsupported("volume_snapshot_delete", "assisted volume snapshots")

    def reconcile_volume_operation(self, context, server, operation):
        """Bring an assisted volume snapshot that a restart interrupted
        (``operation``: its AssistedVolumeOperation record) to an end; a
        Reconciled whose ``completed`` says whether the hypervisor shows the
        work done. The default cannot tell."""
        return Reconciled(completed=False,
                          reason=f"the {self.name} driver cannot tell how far "
                                 "it got")

    def list_hypervisor_snapshots(self, context, server):
        """The snapshots the hypervisor holds for the server: a list of dicts
        with at least ``id`` (nativesnap's snapshot id where known)."""
        self._unsupported("list_hypervisor_snapshots")

    def reconcile(self, context, server, task_state, target):
        """Bring an interrupted task (``task_state``) to an end; a Reconciled.

        ``target`` is the snapshot (or, for a spawn, the source snapshot) the
        task worked on, or None. The default can only say it cannot tell,
        which rolls the record back without touching the hypervisor.
        """
        return Reconciled(completed=False,
                          reason=f"the {self.name} driver cannot reconcile "
                                 f"'{task_state}'")


def load_driver(name):
    """Instantiate the driver registered as ``name`` in the entry-point group."""
    try:
        manager = stevedore_driver.DriverManager(NAMESPACE, name,
                                                 invoke_on_load=True)
    except Exception as e:  # stevedore raises NoMatches and import errors alike
        raise exception.DriverError(driver=name, verb="load",
                                    reason=str(e)) from e
    return manager.driver
