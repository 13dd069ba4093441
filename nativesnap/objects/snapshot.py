"""The ServerSnapshot object. Its status moves only through ``transition``."""

from oslo_utils import uuidutils

from nativesnap.common import states
from nativesnap.db import api as db
from nativesnap.db import listings
from nativesnap.db import queue as queue_db
from nativesnap.objects import base
from nativesnap.objects import fields

# Columns a snapshot listing may be sorted by (the API's schema offers these).
SORT_KEYS = db.SNAPSHOT_SORT_KEYS


@base.NativesnapObjectRegistry.register
class ServerSnapshot(base.NativesnapObject):
    # Version 1.0: initial version
    # Version 1.1: policy_id, scheduled_at, delete_attempts, retry_at; the
    #              status queued (docs/scheduler.md)
    VERSION = "1.1"

    fields = {
        "id": fields.UUIDField(),
        "server_id": fields.UUIDField(),
        "project_id": fields.StringField(),
        "user_id": fields.StringField(nullable=True),
        "name": fields.StringField(),
        "description": fields.StringField(nullable=True),
        "status": fields.SnapshotStatusField(),
        "progress": fields.NonNegativeIntegerField(default=0),
        "kind": fields.KindField(nullable=True),
        "memory": fields.BooleanField(default=False),
        "quiesce": fields.QuiesceField(default=states.QUIESCE_PREFERRED),
        "include_volumes": fields.BooleanField(default=False),
        "consistency": fields.ConsistencyField(nullable=True),
        "parent_id": fields.UUIDField(nullable=True),
        "size_bytes": fields.NonNegativeIntegerField(nullable=True),
        "frozen_ms": fields.NonNegativeIntegerField(nullable=True),
        "paused_ms": fields.NonNegativeIntegerField(nullable=True),
        "volumes": fields.JsonField(default=[]),
        "disks": fields.JsonField(default=[]),
        "driver_info": fields.JsonField(default={}),
        "fault": fields.JsonField(nullable=True),
        "created_at": fields.DateTimeField(nullable=True),
        "updated_at": fields.DateTimeField(nullable=True),
        # The policy that took it and the schedule slot it was taken for.
        "policy_id": fields.UUIDField(nullable=True),
        "scheduled_at": fields.DateTimeField(nullable=True),
        # A failed delete is tried again with back-off (docs/scheduler.md).
        "delete_attempts": fields.NonNegativeIntegerField(default=0),
        "retry_at": fields.DateTimeField(nullable=True),
    }

    def obj_make_compatible(self, primitive, target_version):
        super().obj_make_compatible(primitive, target_version)
        version = tuple(int(n) for n in target_version.split("."))
        if version < (1, 1):
            for name in ("policy_id", "scheduled_at", "delete_attempts",
                         "retry_at"):
                primitive.pop(name, None)

    @classmethod
    def get_by_id(cls, context, snapshot_id):
        return cls._from_db(context, db.snapshot_get(context, snapshot_id))

    def create(self):
        values = self.obj_get_changes()
        values.setdefault("id", uuidutils.generate_uuid())
        values.setdefault("status", states.CREATING)
        values.setdefault("progress", 0)
        for name, default in (("volumes", []), ("disks", []), ("driver_info", {})):
            values.setdefault(name, default)
        values.setdefault("memory", False)
        values.setdefault("quiesce", states.QUIESCE_PREFERRED)
        values.setdefault("include_volumes", False)
        self._refresh(db.snapshot_create(self._context, values))

    def save(self):
        """Save changed fields other than ``status`` (see ``transition``)."""
        changes = self.obj_get_changes()
        if "status" in changes:
            raise ValueError("status changes go through ServerSnapshot.transition")
        if changes:
            self._refresh(db.snapshot_update(self._context, self.id, changes))

    def transition(self, event, **values):
        """Move the status by ``event`` through the state machine, saving
        ``values`` in the same compare-and-swap update. Returns the new status;
        reaching ``deleted`` removes the row."""
        new_status = states.next_snapshot_status(self.id, self.status, event)
        if new_status == states.DELETED:
            db.snapshot_destroy(self._context, self.id, expected_status=self.status)
            return new_status
        for name, value in values.items():
            setattr(self, name, value)
        changes = self.obj_get_changes()
        changes["status"] = new_status
        self._refresh(db.snapshot_update(self._context, self.id, changes,
                                         expected_status=self.status))
        return new_status

    def remove_from_tree(self, moved=None):
        """The snapshot is gone from the hypervisor: remove its row in one
        transaction with what follows from that. Its children hang under its
        parent, and snapshots whose data the driver moved record where it is
        now (``moved``: {snapshot id: new driver_info})."""
        with db.writer(self._context):
            db.snapshot_reparent(self._context, self.server_id, self.id,
                                 self.parent_id)
            for snapshot_id, driver_info in (moved or {}).items():
                db.snapshot_update(self._context, snapshot_id,
                                   {"driver_info": driver_info})
            self.transition(states.DELETE_DONE)

    def set_progress(self, progress):
        """Progress never moves backwards and stays within 0..100."""
        progress = max(0, min(100, int(progress)))
        if progress > self.progress:
            self.progress = progress
            self.save()


@base.NativesnapObjectRegistry.register
class ServerSnapshotList(base.NativesnapObjectListBase, base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("ServerSnapshot")}

    @classmethod
    def get_all(cls, context, server_id=None, project_id=None, filters=None,
                sort_key="created_at", sort_dir="desc", limit=None, marker=None):
        rows = db.snapshot_get_all(context, server_id=server_id,
                                   project_id=project_id, filters=filters,
                                   sort_key=sort_key, sort_dir=sort_dir,
                                   limit=limit, marker=marker)
        return cls._from_rows(context, ServerSnapshot, rows)

    @classmethod
    def get_records(cls, context, field_names, server_id=None,
                    project_id=None, filters=None, sort_key="created_at",
                    sort_dir="desc", limit=None, marker=None):
        """What ``get_all`` lists, as read-only records: per snapshot the
        ``as_dict()`` of its object restricted to ``field_names`` (and
        ``id`` and the sort key), without building the objects; for list
        views."""
        rows = listings.snapshot_columns(
            context, field_names, server_id=server_id, project_id=project_id,
            filters=filters, sort_key=sort_key, sort_dir=sort_dir, limit=limit,
            marker=marker)
        return ServerSnapshot._records(context, rows)

    @classmethod
    def get_by_status(cls, context, host, statuses):
        return cls._from_rows(context, ServerSnapshot,
                              db.snapshot_get_by_status(context, host, statuses))

    @classmethod
    def get_deletes_to_retry(cls, context, host, now, max_attempts):
        """``host``'s snapshots left error_deleting whose retry is due."""
        return cls._from_rows(context, ServerSnapshot, queue_db.deletes_to_retry(
            context, host, now, max_attempts))

    @classmethod
    def get_children(cls, context, snapshot_id):
        return cls._from_rows(context, ServerSnapshot,
                              db.snapshot_children(context, snapshot_id))
