"""Failpoints: named steps of the lifecycle where the service can be made to
crash or fail on purpose, to prove that start-up recovery and the error paths
leave every server running, thawed, consistent and without stray files.

They are off unless ``[fault_injection] failpoints`` names some (it is empty by
default; production never sets it). Each entry is ``<name>=<action>``, with
``<action>`` one of:

- ``crash``: SIGKILL the service's own process at once, exactly what
  ``kill -9`` does: no handler, no ``finally``, no flush of anything but the
  warning logged just before;
- ``error``: raise :class:`~nativesnap.exception.FailpointTriggered` (500),
  whose message names the failpoint, as a failing step would;
- ``sleep:<seconds>``: pause there (at most ``MAX_SLEEP_SECONDS``), so that a
  test can act from outside at that very step (e.g. restart libvirtd);

optionally followed by ``@<n>``: fire on the n-th time the step is reached
only (counted per failpoint since start-up). Names come from the fixed
``FAILPOINTS`` registry; an unknown name, action or count stops the service at
start-up. A firing failpoint first logs one WARNING line naming itself.

``hit(name)`` is placed at each step. Unconfigured, it costs one dict lookup.
"""

import difflib
import logging as std_logging
import os
import signal
import threading
import time

from oslo_log import log as logging

from nativesnap import exception

LOG = logging.getLogger(__name__)

# A sleep must end: a failpoint pauses a task, it never hangs it.
MAX_SLEEP_SECONDS = 600.0

ACTIONS = ("crash", "error", "sleep")

#: (name, the state the work is in when the failpoint fires).
FAILPOINTS = (
    # --- scheduler (docs/scheduler.md) ---
    ("scheduler.take.before_request",
     "a policy's take is due and decided; nothing is recorded yet"),
    ("scheduler.prune.before_delete",
     "a prune is planned; none of its deletes is requested yet"),
    # --- manager (every driver) ---
    ("manager.create.before_driver",
     "snapshot recorded 'creating', server locked; the driver has not run"),
    ("manager.create.before_db_save",
     "the driver took the snapshot; its outcome is not saved yet"),
    ("manager.delete.before_driver",
     "snapshot recorded 'deleting', server locked; the driver has not run"),
    ("manager.delete.before_db_save",
     "the driver removed the snapshot's data; the row is not removed yet"),
    ("manager.revert.before_driver",
     "server locked for the revert; the driver has not run"),
    ("manager.revert.before_db_save",
     "the driver reverted the server; the outcome is not saved yet"),
    ("manager.spawn.before_driver",
     "new server recorded in BUILD and locked; the driver has not run"),
    ("manager.spawn.before_db_save",
     "the driver made the new server; its reference is not saved yet"),
    ("manager.export.before_driver",
     "image recorded 'saving', server locked; the driver has not run"),
    ("manager.export.before_rename",
     "image written and checksummed in the store's staging directory"),
    ("manager.export.before_db_save",
     "image moved into the store; it is not recorded active yet"),
    ("manager.flatten.progress",
     "a clone (full spawn, export by clone) is being flattened in the "
     "background; its progress is about to be saved"),
    ("manager.assisted.before_driver",
     "an assisted volume snapshot's turn came (recorded running); the driver "
     "has not run"),
    # --- libvirt driver: create ---
    ("libvirt.create.overlays_created",
     "the snapshot's overlays exist; libvirt has not been asked yet"),
    ("libvirt.create.before_freeze",
     "overlays made, quiesced snapshot about to freeze the guest"),
    ("libvirt.create.after_freeze",
     "guest filesystems frozen; the disks are not switched yet"),
    ("libvirt.create.after_snapshot_call",
     "disks switched to the overlays (memory saved); a quiesced guest is "
     "still frozen"),
    ("libvirt.create.after_thaw",
     "quiesced snapshot taken and the guest thawed; nothing recorded yet"),
    # --- libvirt driver: delete (merges) ---
    ("libvirt.delete.block_job_started",
     "a blockCommit/blockRebase of the snapshot's layer is running"),
    ("libvirt.delete.before_pivot",
     "an active commit is ready (layers in sync); the pivot is not done"),
    ("libvirt.delete.block_job_done",
     "a block job ended (after its pivot for an active commit); the merged "
     "file is not removed yet"),
    # --- libvirt driver: revert (external) ---
    ("libvirt.revert.overlays_created",
     "new overlays made on the snapshot's files; the domain still runs"),
    ("libvirt.revert.domain_stopped",
     "the domain is stopped, its definition still names the old disks"),
    ("libvirt.revert.after_define",
     "the definition names the new overlays; the domain is not started"),
    ("libvirt.revert.after_start",
     "the domain runs (or was left off) on the new overlays; the discarded "
     "layers are not removed yet"),
    # --- libvirt driver: spawn ---
    ("libvirt.spawn.converting",
     "a full spawn's qemu-img convert of a disk is running"),
    ("libvirt.spawn.disks_created",
     "the new server's disks exist; its domain is not defined"),
    ("libvirt.spawn.after_define",
     "the new domain is defined; it is not started"),
    ("libvirt.spawn.after_start",
     "the new domain is started (when asked); nothing recorded yet"),
    # --- libvirt driver: export ---
    ("libvirt.export.converting",
     "qemu-img convert of the snapshot's disk into staging is running"),
    ("libvirt.export.converted",
     "the image is written to staging; its checksum is not computed yet"),
    # --- bare-metal driver ---
    ("baremetal.snapshot.before_stream",
     "the agent's heartbeat came and a one-time WebDAV credential is granted; "
     "the agent is not asked to stream yet"),
    ("baremetal.snapshot.before_verify",
     "the agent streamed the disk into incoming/; the upload is not verified"),
    ("baremetal.snapshot.before_store",
     "the upload is verified (size, sha256, qemu-img check); it is not moved "
     "into the store"),
    ("baremetal.deploy.before_write",
     "a restore's or spawn's credential is granted; the agent is not asked "
     "to write yet"),
    # --- image stores ---
    ("image.export.before_create",
     "glance: the staged image is checksummed; no Glance image is made yet"),
    ("image.export.before_upload",
     "glance: the image is made (queued) in Glance; no data is sent yet"),
    ("image.export.uploading",
     "glance: the upload has begun (the first MiB is sent, Glance's image is "
     "saving); it is not complete"),
    ("image.export.after_upload",
     "glance: the data is uploaded; Glance's status and checksums are not "
     "checked yet"),
)

NAMES = frozenset(name for name, _description in FAILPOINTS)
_DESCRIPTIONS = dict(FAILPOINTS)

# name -> _Action. Replaced whole by configure(), never mutated, so hit() can
# read it without a lock; empty unless [fault_injection] failpoints names some.
_active = {}
_count_lock = threading.Lock()


class _Action:
    def __init__(self, name, kind, seconds=None, nth=None, spec=""):
        self.name = name
        self.kind = kind
        self.seconds = seconds
        self.nth = nth
        self.spec = spec
        self.hits = 0

    def fire(self):
        with _count_lock:
            self.hits += 1
            count = self.hits
        if self.nth is not None and count != self.nth:
            return
        LOG.warning("Failpoint %s fired (%s, hit %d): %s", self.name, self.spec,
                    count, _DESCRIPTIONS[self.name])
        if self.kind == "crash":
            # The warning must reach the log before the process vanishes.
            for handler in std_logging.getLogger().handlers:
                handler.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.kind == "error":
            raise exception.FailpointTriggered(name=self.name)
        else:
            time.sleep(self.seconds)


def _invalid(entry, reason):
    return exception.InvalidFailpoint(reason=f"{entry!r}: {reason}")


def _parse_entry(entry):
    name, sep, spec = entry.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec:
        raise _invalid(entry, "write <name>=<action>, the action one of crash, "
                              "error, sleep:<seconds>, optionally @<n>")
    if name not in NAMES:
        close = difflib.get_close_matches(name, sorted(NAMES), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise _invalid(entry, f"unknown failpoint {name!r}{hint} (the list is "
                              "FAILPOINTS in nativesnap/common/failpoints.py "
                              "and docs/reliability.md)")
    action, at, count = spec.partition("@")
    nth = None
    if at:
        if not count.isascii() or not count.isdigit() or int(count) < 1:
            raise _invalid(entry, f"@{count}: the count must be a whole number "
                                  "from 1")
        nth = int(count)
    kind, colon, argument = action.partition(":")
    if kind not in ACTIONS:
        raise _invalid(entry, f"unknown action {kind!r}; use one of "
                              f"{', '.join(ACTIONS)}")
    seconds = None
    if kind == "sleep":
        try:
            seconds = float(argument)
        except ValueError:
            seconds = -1.0
        if not 0 < seconds <= MAX_SLEEP_SECONDS:  # also refuses nan and inf
            raise _invalid(entry, f"sleep needs seconds in (0, "
                                  f"{MAX_SLEEP_SECONDS:g}], not {argument!r}")
    elif colon:
        raise _invalid(entry, f"{kind} takes no argument")
    return _Action(name, kind, seconds=seconds, nth=nth, spec=spec)


def parse(entries):
    """{name: action} for ``[fault_injection] failpoints`` entries; InvalidFailpoint
    for anything not understood (nothing is half-configured)."""
    actions = {}
    for entry in entries or ():
        action = _parse_entry(entry)
        if action.name in actions:
            raise _invalid(entry, f"failpoint {action.name!r} is given twice")
        actions[action.name] = action
    return actions


def configure(entries):
    """Arm the failpoints ``entries`` names (all others off); called at
    start-up with ``[fault_injection] failpoints``. Raises InvalidFailpoint."""
    global _active
    actions = parse(entries)
    _active = actions
    if actions:
        LOG.warning("Failpoints are enabled (testing only): %s",
                    ", ".join(f"{a.name}={a.spec}" for a in actions.values()))


def hit(name):
    """The work has reached step ``name``: fire its failpoint if configured."""
    action = _active.get(name)
    if action is not None:
        action.fire()
