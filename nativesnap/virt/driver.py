"""The driver contract every hypervisor driver implements (DESIGN §4).

Drivers are handed versioned objects and return typed results; they never save
objects and never import ``nativesnap.db`` or another driver: the compute
manager owns the database, the state machine and the task lock
(docs/architecture.md). A verb a driver cannot do raises
:class:`UnsupportedOperation`, which the API answers with 400 naming the
driver and the verb.

Optional capabilities are interfaces of their own, as Ironic composes a
hardware type from interfaces: a driver offers one by returning an object of
that interface from ``interface(interface_type)``; a driver without it refuses
with one UnsupportedOperation (``VolumeSnapshotInterface`` is the first).

Every driver wait must be bounded; long work reports through ``progress``,
which also raises ``TaskCancelled`` once the manager has cancelled the task
(e.g. on ``task_timeout``), so cancellation is noticed at each progress step.
A verb that must wait for something outside the service (an agent calling
back) does not block a worker for the whole wait: it returns ``Waiting``, the
manager records the wait with its deadline, and ``resume_task`` carries on
when the event comes (or the deadline fails the task).

What happens on the hypervisor between tasks (a guest stopped from outside, a
disk attached) reaches the manager as ``ServerEvent``s through the listener
the manager registers; the manager reads the new state and records it, so no
API request ever asks a driver.
"""

import abc
import dataclasses
import time

from stevedore import driver as stevedore_driver

from nativesnap import exception
from nativesnap.objects import fields

UnsupportedOperation = exception.UnsupportedOperation

NAMESPACE = "nativesnap.virt.drivers"

# Capability names shown in the server view (DESIGN §2); defined with the
# Server object's fields, which the API reads them from.
CAPABILITIES = fields.CAPABILITIES

# Interface types a driver may offer besides its verbs.
VOLUME_SNAPSHOT = "volume_snapshot"
INTERFACE_NAMES = {VOLUME_SNAPSHOT: "assisted volume snapshots"}

# ServerEvent kinds.
EVENT_STATE = "state"  # the object's power state may have changed
EVENT_VOLUMES = "volumes"  # a disk was attached or detached


@dataclasses.dataclass
class AdoptedObject:
    """What a driver found for ``hypervisor_ref`` when asked to adopt it."""

    hypervisor_ref: str  # canonical reference (e.g. a domain UUID)
    name: str  # the hypervisor's own name for it, a default for the server's
    status: str  # one of states.SERVER_STATUSES
    driver_info: dict = dataclasses.field(default_factory=dict)
    #: The provision state a bare-metal node starts in (states.PROVISION_*);
    #: None for drivers without one.
    provision_state: str = None


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
class FreeSpace:
    """Free space where a server's next snapshot would be written, for the
    scheduler's storage guard (``[scheduler] min_free_percent``): the
    filesystem of libvirt's overlays, a Ceph pool, a vSphere datastore.

    ``str()`` is "<where> has 4.2 % free", the start of the reason a skipped
    take records. A driver with several places (several disks) reports the
    tightest (``tightest``); one that cannot tell returns None, never a
    FreeSpace without a size.
    """

    free_bytes: int
    total_bytes: int
    #: what it is, for people: "libvirt overlay directory /var/lib/...",
    #: "Ceph pool vms", "datastore datastore1"
    where: str

    def __post_init__(self):
        if self.total_bytes <= 0 or self.free_bytes < 0:
            raise ValueError(f"{self.where}: free {self.free_bytes} of "
                             f"{self.total_bytes} bytes is not a size")

    @property
    def percent_free(self):
        """Free space in per cent of the total (0..100)."""
        return 100.0 * min(self.free_bytes, self.total_bytes) / self.total_bytes

    def __str__(self):
        return f"{self.where} has {self.percent_free:.1f} % free"


def tightest(spaces):
    """The FreeSpace with the least per cent free among ``spaces`` (Nones,
    places that cannot tell, left out; ties: the fewest bytes free), or None
    when none can tell."""
    known = [s for s in spaces if s is not None]
    if not known:
        return None
    return min(known, key=lambda s: (s.percent_free, s.free_bytes))


@dataclasses.dataclass
class RevertResult:
    status: str  # the server's status afterwards
    server_driver_info: dict | None = None


class Laps:
    """Consecutive parts of a driver call, in ms, for the break-downs a
    driver records in its driver_info (bench/run reports them; nothing
    decides on them). A part named twice adds up."""

    def __init__(self):
        self.parts = {}
        self._last = time.monotonic()

    def lap(self, name):
        now = time.monotonic()
        key = f"{name}_ms"
        self.parts[key] = round(self.parts.get(key, 0)
                                + (now - self._last) * 1000, 1)
        self._last = now


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
    #: A copy the new server's disk still needs, done after the spawn by
    #: ``flatten`` (a handle only this driver reads), or None.
    flatten: str = None


@dataclasses.dataclass
class ExportResult:
    size_bytes: int
    sha256: str = None
    #: Set when the export is a clone in the hypervisor's storage (nothing
    #: was written to ``dest_path``): where it is, for the image store.
    location: str = None
    #: A clone that ``flatten`` makes independent of the snapshot later.
    flatten: str = None
    #: Why a clone was asked for and a copy made instead.
    fallback_reason: str = None


@dataclasses.dataclass
class VolumeAttachment:
    """A Cinder volume attached to a server: the volume's id and the
    hypervisor's name for the disk it is (libvirt: the target, e.g. vdb)."""

    volume_id: str
    device: str


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


@dataclasses.dataclass
class Waiting:
    """What a verb returns instead of its result when it must wait for an
    event from outside the service (e.g. an agent's heartbeat).

    The manager records the wait with the task (``data`` included, so a
    restart loses nothing), frees the worker, and calls ``resume_task`` with
    the event when it comes; at ``timeout`` seconds without it the task fails
    with a fault naming ``reason``.
    """

    timeout: float
    reason: str  # what is awaited, for the fault: "the agent's heartbeat"
    data: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class NodeInfo:
    """An enrolled bare-metal node as a driver sees it: the manager reads the
    record (drivers import no database) through the lookup it registers."""

    id: str
    name: str
    agent_url: str
    agent_token: str = dataclasses.field(repr=False)
    root_device_hint: dict = None
    power_interface: str = "none"
    redfish_address: str = None
    redfish_system_id: str = None
    redfish_username: str = None
    redfish_password: str = dataclasses.field(default=None, repr=False)
    redfish_verify_ca: bool = True


@dataclasses.dataclass
class ServerEvent:
    """Something changed on the hypervisor for one of its objects."""

    hypervisor_ref: str
    kind: str  # EVENT_STATE | EVENT_VOLUMES


class VolumeSnapshotInterface(metaclass=abc.ABCMeta):
    """Cinder's assisted volume snapshots (os-assisted-volume-snapshots) for
    the file-based volumes of a driver's servers; see docs/cinder.md."""

    interface_type = VOLUME_SNAPSHOT

    @abc.abstractmethod
    def attached_volumes(self, context, server):
        """The Cinder volumes attached to ``server``: a list of
        VolumeAttachment. The manager records them, and the API finds a
        volume's server by that record."""

    @abc.abstractmethod
    def validate_create(self, context, server, volume_id, create_info):
        """Refuse (Invalid, 400) an assisted snapshot that cannot be taken,
        before Cinder is answered; nothing is changed."""

    @abc.abstractmethod
    def create(self, context, server, volume_id, create_info, progress):
        """Make ``create_info['new_file']`` (made by Cinder, backed by the
        volume's current file) the file the guest writes; the current file is
        then the snapshot. A VolumeSnapshotResult."""

    @abc.abstractmethod
    def validate_delete(self, context, server, volume_id, delete_info):
        """Refuse (Invalid, 400) a merge that cannot be done, before Cinder is
        answered; nothing is changed."""

    @abc.abstractmethod
    def delete(self, context, server, volume_id, delete_info, progress):
        """Merge a volume snapshot's file out of the chain as ``delete_info``
        says (pull into the active file, or commit into the file below). A
        VolumeSnapshotResult."""

    def reconcile(self, context, server, operation):
        """Bring an assisted volume snapshot that a restart interrupted
        (``operation``: its AssistedVolumeOperation record) to an end; a
        Reconciled whose ``completed`` says whether the hypervisor shows the
        work done. The default cannot tell."""
        return Reconciled(completed=False,
                          reason="the driver cannot tell how far it got")


class ComputeDriver(metaclass=abc.ABCMeta):
    """Base class of virt drivers. ``name`` is the entry-point name."""

    name = "base"

    #: What the driver can do; the server view shows these, per server.
    capabilities = {name: False for name in CAPABILITIES}

    #: Whether the driver's servers live on no one host but are reached over
    #: the network (a vCenter, a node's agent and BMC): any compute service
    #: that runs the driver can serve them, so they are shared among those
    #: services and move when theirs dies (docs/deployment.md).
    host_free = False

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
                        progress, clone_as=None):
        """Write the snapshot's disk state to ``dest_path``; an ExportResult.

        ``clone_as`` (an image id): the image store can record data that
        stays in the hypervisor's storage (``ImageStore.location_schemes``);
        a driver that can clone the snapshot there under that name may do so
        and return the clone's ``location`` instead of writing a file."""
        self._unsupported("export_snapshot")

    def flatten(self, context, handle, progress):
        """Make the clone named by ``handle`` (a SpawnResult's or an
        ExportResult's ``flatten``) independent of its snapshot. Idempotent:
        run again after a restart, it finishes what was cut."""
        self._unsupported("flatten")

    def remove_clone(self, context, image_id):
        """Remove the clone an export by clone made for ``image_id`` (it is
        named by it), if there is one; whether there was. Refuses
        (SnapshotInUse) while something else was cloned from it."""
        return False

    def free_space(self, context, server):
        """Free space where the server's next snapshot would be written: a
        FreeSpace (the tightest place when there are several), or None
        when the driver cannot tell (the default; also when the server's
        hypervisor object is gone, which its snapshot then reports). Read
        only, bounded as any call to the hypervisor; the storage guard
        calls it before each scheduled take. The hypervisor's errors are
        raised as for any verb (DriverError)."""
        return None

    # --- optional interfaces and events ------------------------------------

    def interface(self, interface_type, verb):
        """This driver's implementation of ``interface_type`` (e.g.
        VOLUME_SNAPSHOT), or UnsupportedOperation naming ``verb``."""
        found = self.interfaces().get(interface_type)
        if found is None:
            self._unsupported(verb, INTERFACE_NAMES.get(interface_type,
                                                        interface_type))
        return found

    def interfaces(self):
        """{interface type: implementation} of the optional interfaces."""
        return {}

    def register_event_listener(self, listener):
        """``listener(ServerEvent)`` is called for changes on the hypervisor;
        it must return at once (the manager queues the event)."""
        self._event_listener = listener

    def emit_event(self, event):
        listener = getattr(self, "_event_listener", None)
        if listener is not None:
            listener(event)

    def register_node_lookup(self, lookup):
        """``lookup(context, ref)``: the enrolled bare-metal node whose id or
        name is ``ref``, a NodeInfo (HypervisorObjectNotFound when none)."""
        self._node_lookup = lookup

    def lookup_node(self, context, ref):
        lookup = getattr(self, "_node_lookup", None)
        if lookup is None:
            raise exception.HypervisorObjectNotFound(
                driver=self.name, what="enrolled node", ref=ref)
        return lookup(context, ref)

    def resume_task(self, context, server, task_state, target, data, event,
                    progress):
        """Carry on a verb that returned Waiting (``data`` is what it saved)
        now that ``event`` (a dict) came: the verb's result, or Waiting again.
        ``progress(percent)`` as for the verb itself."""
        self._unsupported("resume_task", "waiting for outside events")

    def list_hypervisor_snapshots(self, context, server):
        """The snapshots the hypervisor holds for the server: a list of dicts
        with at least ``id`` (nativesnap's snapshot id where known). A driver
        that can list them lets the compute service find snapshots removed
        behind its back (they are marked error); one that keeps its own
        record instead (libvirt's external snapshots) does not offer it."""
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
