"""A fake driver for unit and API tests of the API and the manager.

It is never enabled by default and proves nothing about any hypervisor. Its
state is kept in a JSON file under ``[fake] state_file`` so that a restarted
service (crash-recovery tests of the manager) finds what the previous process
left behind.

Behaviour is chosen by the hypervisor reference, so a functional test can pick
per server what the fake does:
- ``missing-*``: adopt answers "no such object" (400);
- ``slow-*``: every task sleeps ``[fake] task_delay`` seconds, reporting progress
  and honouring cancellation, so tests can see a task in flight;
- ``fail-*``: create, delete, revert, spawn and export raise a driver error;
- ``failexport-*``: only export raises it (the snapshot to export can be made);
- ``hang-*``: tasks block (up to ``[fake] hang_seconds``) ignoring cancellation,
  to exercise the manager's timeout path;
- ``volumes-<volume id>``: that Cinder volume is attached to it (as disk
  vdb, a one-file chain), so assisted volume snapshots reach it;
- ``wait-*``: a snapshot's driver call waits (``[fake] wait_seconds``) for an
  outside event (``resume_task``): ``{"result": "ok"}`` finishes it,
  ``{"result": "fail"}`` fails it, ``{"result": "again"}`` waits anew.
Anything else is a running server with every capability. Every server's
snapshots land on one 100 GiB store, ``[fake] free_percent`` of it free, so
tests of the storage guard set the free space they need.
"""

import hashlib
import json
import os
import threading
import time

from oslo_config import cfg

from nativesnap.common import states
from nativesnap import exception
from nativesnap.virt import driver

CONF = cfg.CONF

fake_group = cfg.OptGroup("fake", title="Fake driver (tests only)")
fake_opts = [
    cfg.StrOpt("state_file", default="$state_path/fake-driver.json",
               help="Where the fake keeps its hypervisor objects and snapshots."),
    cfg.FloatOpt("task_delay", default=2.0, min=0,
                 help="Seconds a task on a slow-* server takes."),
    cfg.FloatOpt("hang_seconds", default=30.0, min=0,
                 help="Seconds a task on a hang-* server blocks, uncancellable."),
    cfg.BoolOpt("host_free", default=False,
                help="Whether the fake's servers are host-free (shared among "
                     "the compute services that run it, as vSphere's are)."),
    cfg.FloatOpt("wait_seconds", default=5.0, min=0,
                 help="Seconds a snapshot of a wait-* server waits for its "
                      "outside event before it fails."),
    cfg.FloatOpt("free_percent", default=100.0, min=0, max=100,
                 help="Free space the fake reports for every server's "
                      "snapshots, in per cent of its 100 GiB (the storage "
                      "guard's [scheduler] min_free_percent is compared "
                      "with it)."),
]
CONF.register_group(fake_group)
CONF.register_opts(fake_opts, group=fake_group)

#: the size of the fake's storage (free_space)
FAKE_STORAGE_BYTES = 100 * 1024 ** 3


class FakeDriver(driver.ComputeDriver):
    name = "fake"
    capabilities = {name: True for name in driver.CAPABILITIES}

    @property
    def host_free(self):
        return CONF.fake.host_free

    def __init__(self):
        self._lock = threading.Lock()
        self._state = None
        self.volumes = FakeVolumeSnapshots(self)

    def interfaces(self):
        return {driver.VOLUME_SNAPSHOT: self.volumes}

    # --- persistence ----------------------------------------------------------

    def _load(self):
        if self._state is None:
            path = CONF.fake.state_file
            try:
                with open(path, encoding="utf-8") as f:
                    self._state = json.load(f)
            except FileNotFoundError:
                self._state = {"objects": {}}
        return self._state

    def _store(self):
        path = CONF.fake.state_file
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self._state, f)
        os.replace(tmp, path)

    def _object(self, ref):
        with self._lock:
            objects = self._load()["objects"]
            if ref not in objects:
                objects[ref] = {"status": states.ACTIVE, "snapshots": [],
                                "current": None}
                self._store()
            return objects[ref]

    def _update(self, ref, fn):
        with self._lock:
            obj = self._load()["objects"].setdefault(
                ref, {"status": states.ACTIVE, "snapshots": [], "current": None})
            result = fn(obj)
            self._store()
            return result

    # --- behaviour by reference -------------------------------------------

    def simulate_work(self, server, verb, progress):
        ref = server.hypervisor_ref
        if ref.startswith("hang-"):
            time.sleep(CONF.fake.hang_seconds)
        if ref.startswith("slow-"):
            steps = 10
            for step in range(steps):
                time.sleep(CONF.fake.task_delay / steps)
                progress(int(100 * (step + 1) / steps))
        if ref.startswith("fail-") or (ref.startswith("failexport-")
                                       and verb == "export_snapshot"):
            raise exception.DriverError(driver=self.name, verb=verb,
                                        reason="injected failure (fail-* server)")
        progress(100)

    # --- contract -----------------------------------------------------------------

    def adopt(self, context, hypervisor_ref):
        if hypervisor_ref.startswith("missing"):
            raise exception.HypervisorObjectNotFound(
                driver=self.name, what="object", ref=hypervisor_ref)
        obj = self._object(hypervisor_ref)
        return driver.AdoptedObject(hypervisor_ref=hypervisor_ref,
                                    name=hypervisor_ref, status=obj["status"])

    def get_server_state(self, context, server):
        return self._object(server.hypervisor_ref)["status"]

    def validate_snapshot_request(self, server, kind, memory, quiesce,
                                  include_volumes):
        if include_volumes:
            self._unsupported("create_snapshot", "include_volumes")
        if kind == states.KIND_INTERNAL and quiesce == states.QUIESCE_REQUIRED:
            # Mirrors libvirt: quiescing needs a disk-only (external) snapshot.
            raise exception.Invalid(reason="quiesce 'required' needs kind "
                                           "'external'; internal snapshots "
                                           "cannot quiesce the guest")

    def create_snapshot(self, context, server, snapshot, progress):
        started = time.monotonic()
        self.simulate_work(server, "create_snapshot", progress)
        if server.hypervisor_ref.startswith("wait-"):
            return driver.Waiting(timeout=CONF.fake.wait_seconds,
                                  reason="the fake's outside event",
                                  data={"started": started})
        return self._snapshot_taken(server, snapshot, started)

    def resume_task(self, context, server, task_state, target, data, event,
                    progress):
        if task_state != states.SNAPSHOTTING:
            return super().resume_task(context, server, task_state, target,
                                       data, event, progress)
        result = event.get("result")
        if result == "fail":
            raise exception.DriverError(driver=self.name, verb="create_snapshot",
                                        reason="the outside event said it failed")
        if result == "again":
            return driver.Waiting(timeout=CONF.fake.wait_seconds,
                                  reason="the fake's outside event", data=data)
        return self._snapshot_taken(server, target, time.monotonic())

    def _snapshot_taken(self, server, snapshot, started):
        def add(obj):
            obj["snapshots"].append(snapshot.id)
            obj["current"] = snapshot.id

        self._update(server.hypervisor_ref, add)
        consistency = (states.CONSISTENCY_MEMORY if snapshot.memory else
                       states.CONSISTENCY_CRASH
                       if snapshot.quiesce == states.QUIESCE_OFF
                       else states.CONSISTENCY_APPLICATION)
        return driver.SnapshotResult(
            kind=snapshot.kind or states.KIND_EXTERNAL, consistency=consistency,
            frozen_ms=0 if snapshot.quiesce == states.QUIESCE_OFF else 1,
            paused_ms=1 if snapshot.memory else 0, size_bytes=0,
            memory=snapshot.memory,
            disks=[{"target": "vda", "file": f"{snapshot.id}.qcow2"}],
            driver_info={"elapsed_ms": int((time.monotonic() - started) * 1000)})

    def delete_snapshot(self, context, server, snapshot, progress):
        self.simulate_work(server, "delete_snapshot", progress)

        def remove(obj):
            if snapshot.id in obj["snapshots"]:
                obj["snapshots"].remove(snapshot.id)

        self._update(server.hypervisor_ref, remove)

    def revert_to_snapshot(self, context, server, snapshot, power_on, progress):
        self.simulate_work(server, "revert_to_snapshot", progress)
        status = states.ACTIVE if power_on else states.SHUTOFF

        def revert(obj):
            obj["current"] = snapshot.id
            obj["status"] = status

        self._update(server.hypervisor_ref, revert)
        return driver.RevertResult(status=status)

    def spawn_from_snapshot(self, context, source_server, snapshot, new_server,
                            linked, power_on, progress):
        self.simulate_work(source_server, "spawn_from_snapshot", progress)
        ref = f"spawned-{new_server.id}"
        status = states.ACTIVE if power_on else states.SHUTOFF
        self._update(ref, lambda obj: obj.update(status=status))
        return driver.SpawnResult(hypervisor_ref=ref, status=status,
                                  driver_info={"linked": linked})

    def destroy_server(self, context, server):
        with self._lock:
            self._load()["objects"].pop(server.hypervisor_ref, None)
            self._store()

    def export_snapshot(self, context, server, snapshot, dest_path, disk_format,
                        progress, clone_as=None):
        self.simulate_work(server, "export_snapshot", progress)
        # The fake's "disk state" is a small deterministic blob per snapshot.
        data = f"fake disk state of snapshot {snapshot.id}\n".encode()
        with open(dest_path, "wb") as f:
            f.write(data)
        return driver.ExportResult(size_bytes=len(data),
                                   sha256=hashlib.sha256(data).hexdigest())

    def free_space(self, context, server):
        free = int(FAKE_STORAGE_BYTES * CONF.fake.free_percent / 100)
        return driver.FreeSpace(free_bytes=free, total_bytes=FAKE_STORAGE_BYTES,
                                where="the fake's storage")

    def drop_snapshot(self, ref, snapshot_id):
        """Test helper: a snapshot removed outside nativesnap."""
        self._update(ref, lambda obj: obj["snapshots"].remove(snapshot_id))

    def set_status(self, ref, status, report=True):
        """Test helper: the object's state changes outside nativesnap (a
        guest stopped from outside), reported as an event or, with
        ``report`` false, silently."""
        self._update(ref, lambda obj: obj.update(status=status))
        if report:
            self.emit_event(driver.ServerEvent(ref, driver.EVENT_STATE))

    # --- assisted volume snapshots (FakeVolumeSnapshots) --------------------
    # A volume's chain is a list of file names, the active file first; tests
    # attach one with attach_volume(). The files themselves are not made.

    def attach_volume(self, ref, volume_id, target="vdb", file_name=None):
        """Test helper: attach a volume (a one-file chain) to object ``ref``,
        and report it as the hypervisor reports a disk attached."""
        with self._lock:
            self._load().setdefault("volumes", {})[volume_id] = {
                "ref": ref, "target": target,
                "chain": [file_name or f"volume-{volume_id}"]}
            self._store()
        self.emit_event(driver.ServerEvent(ref, driver.EVENT_VOLUMES))

    def volume_chain(self, volume_id):
        with self._lock:
            return list(self._load().get("volumes", {})[volume_id]["chain"])

    def volumes_of(self, ref):
        """{volume id: its record} of the volumes attached to ``ref``."""
        prefix = "volumes-"
        if ref.startswith(prefix):
            volume_id = ref[len(prefix):].lower()
            with self._lock:
                known = volume_id in self._load().get("volumes", {})
            if not known:
                self.attach_volume(ref, volume_id)
        with self._lock:
            return {vid: dict(v) for vid, v in
                    self._load().get("volumes", {}).items() if v["ref"] == ref}

    def update_volume(self, volume_id, fn):
        with self._lock:
            result = fn(self._load()["volumes"][volume_id]["chain"])
            self._store()
            return result

    def list_hypervisor_snapshots(self, context, server):
        obj = self._object(server.hypervisor_ref)
        return [{"id": sid, "current": sid == obj["current"]}
                for sid in obj["snapshots"]]

    def reconcile(self, context, server, task_state, target):
        if task_state == states.SPAWNING:
            # The new object exists only once spawn_from_snapshot has finished;
            # its placeholder ref ("building:<id>") names nothing to look up.
            ref = f"spawned-{server.id}"
            with self._lock:
                obj = self._load()["objects"].get(ref)
            if obj is None:
                return driver.Reconciled(
                    completed=False, reason="the new server was never created")
            return driver.Reconciled(completed=True, values={
                "hypervisor_ref": ref, "status": obj["status"]})
        obj = self._object(server.hypervisor_ref)
        if task_state == states.SNAPSHOTTING and target is not None:
            if target.id in obj["snapshots"]:
                return driver.Reconciled(completed=True, values={
                    "kind": target.kind or states.KIND_EXTERNAL,
                    "consistency": states.CONSISTENCY_CRASH})
            return driver.Reconciled(completed=False,
                                     reason="no snapshot was found on the hypervisor")
        if task_state == states.DELETING_SNAPSHOT and target is not None:
            if target.id in obj["snapshots"]:
                return driver.Reconciled(completed=False,
                                         reason="the snapshot is still intact")
            return driver.Reconciled(completed=True)
        return driver.Reconciled(completed=True,
                                 values={"status": obj["status"]})


class FakeVolumeSnapshots(driver.VolumeSnapshotInterface):
    """The fake's assisted volume snapshots: chains of names, no files."""

    def __init__(self, fake):
        self.fake = fake

    def attached_volumes(self, context, server):
        return [driver.VolumeAttachment(volume_id=vid, device=v["target"])
                for vid, v in sorted(self.fake.volumes_of(
                    server.hypervisor_ref).items())]

    def _attached(self, server, volume_id):
        if volume_id not in self.fake.volumes_of(server.hypervisor_ref):
            raise exception.DriverError(
                driver=self.fake.name, verb="find the volume's disk",
                reason=f"volume {volume_id} is no longer attached")

    def validate_create(self, context, server, volume_id, create_info):
        self._attached(server, volume_id)
        name = create_info["new_file"]
        if name in self.fake.volume_chain(volume_id):
            raise exception.Invalid(reason=f"new_file {name} is already in the "
                                           "volume's chain")

    def create(self, context, server, volume_id, create_info, progress):
        self.fake.simulate_work(server, "volume_snapshot_create", progress)
        self._attached(server, volume_id)
        new_file = create_info["new_file"]

        def switch(chain):
            chain.insert(0, new_file)
            return list(chain)

        chain = self.fake.update_volume(volume_id, switch)
        return driver.VolumeSnapshotResult(files={"new_file": new_file,
                                                  "chain": chain})

    def validate_delete(self, context, server, volume_id, delete_info):
        self._attached(server, volume_id)

    def delete(self, context, server, volume_id, delete_info, progress):
        self.fake.simulate_work(server, "volume_snapshot_delete", progress)
        top, base = delete_info["file_to_merge"], delete_info["merge_target_file"]

        def merge(chain):
            for name in (top, base):
                if name is not None and name not in chain:
                    raise exception.DriverError(
                        driver=self.fake.name, verb="volume_snapshot_delete",
                        reason=f"{name} is not in the volume's chain")
            if base is None:  # pull into the active file
                del chain[1:chain.index(top) if top else len(chain)]
            elif chain.index(base) <= chain.index(top):
                raise exception.DriverError(
                    driver=self.fake.name, verb="volume_snapshot_delete",
                    reason=f"{base} is not a backing file of {top}")
            else:  # commit top (and what lies between) into base
                del chain[chain.index(top):chain.index(base)]
            return list(chain)

        chain = self.fake.update_volume(volume_id, merge)
        return driver.VolumeSnapshotResult(files={"chain": chain})

    def reconcile(self, context, server, operation):
        chain = self.fake.volume_chain(operation.volume_id)
        request = operation.request or {}
        if operation.action == states.VOLUME_OP_CREATE:
            done = chain[0] == request.get("new_file")
        elif request.get("merge_target_file") is None:
            done = chain[1:2] == ([request["file_to_merge"]]
                                  if request.get("file_to_merge") else [])
        else:
            done = request.get("file_to_merge") not in chain
        return driver.Reconciled(completed=done, reason="" if done else
                                 "the volume's chain is as it was")
