"""The AssistedVolumeOperation object: the record of one of Cinder's
os-assisted-volume-snapshots requests (who asked, for which volume, server
and files, how long it took and how it ended)."""

from oslo_utils import timeutils
from oslo_utils import uuidutils

from nativesnap.common import states
from nativesnap.db import api as db
from nativesnap.objects import base
from nativesnap.objects import fields


@base.NativesnapObjectRegistry.register
class AssistedVolumeOperation(base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {
        "id": fields.UUIDField(),
        "host": fields.StringField(),
        "action": fields.VolumeOperationActionField(),
        "status": fields.VolumeOperationStatusField(),
        "volume_id": fields.UUIDField(),
        "snapshot_id": fields.UUIDField(),
        "server_id": fields.UUIDField(nullable=True),
        "disk": fields.StringField(nullable=True),
        "user_id": fields.StringField(nullable=True),
        "project_id": fields.StringField(nullable=True),
        "request_id": fields.StringField(nullable=True),
        "request": fields.JsonField(nullable=True),
        "files": fields.JsonField(nullable=True),
        "callback": fields.JsonField(nullable=True),
        "finished_at": fields.DateTimeField(nullable=True),
        "duration_ms": fields.NonNegativeIntegerField(nullable=True),
        "fault": fields.JsonField(nullable=True),
        "created_at": fields.DateTimeField(nullable=True),
        "updated_at": fields.DateTimeField(nullable=True),
    }

    @classmethod
    def get_by_id(cls, context, operation_id):
        return cls._from_db(context, db.volume_operation_get(context,
                                                             operation_id))

    def create(self):
        values = self.obj_get_changes()
        values.setdefault("id", uuidutils.generate_uuid())
        values.setdefault("status", states.VOLUME_OP_QUEUED)
        self._refresh(db.volume_operation_create(self._context, values))

    def start(self):
        """Its turn came: queued -> running; Conflict when it is no longer
        queued (it ran out of time waiting, or a restart ended it)."""
        self._refresh(db.volume_operation_update(
            self._context, self.id, {"status": states.VOLUME_OP_RUNNING},
            expected_status=states.VOLUME_OP_QUEUED))

    def finish(self, status, **values):
        """Record the end of a queued or running operation, once: status,
        values, and when it finished and how long it took since it was
        accepted."""
        now = timeutils.utcnow()
        values.update(status=status, finished_at=now)
        if self.created_at is not None:
            started = self.created_at.replace(tzinfo=None)
            values["duration_ms"] = max(
                0, int((now - started).total_seconds() * 1000))
        self._refresh(db.volume_operation_update(
            self._context, self.id, values,
            expected_status=states.VOLUME_OP_IN_FLIGHT))

    def save(self):
        changes = self.obj_get_changes()
        if changes:
            self._refresh(db.volume_operation_update(self._context, self.id,
                                                     changes))


@base.NativesnapObjectRegistry.register
class AssistedVolumeOperationList(base.NativesnapObjectListBase,
                                  base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("AssistedVolumeOperation")}

    @classmethod
    def get_all(cls, context, filters=None, sort_dir="desc", limit=None,
                marker=None):
        rows = db.volume_operation_get_all(context, filters=filters,
                                           sort_dir=sort_dir, limit=limit,
                                           marker=marker)
        return cls._from_rows(context, AssistedVolumeOperation, rows)

    @staticmethod
    def purge(context, before):
        """Remove finished records made before ``before``; how many."""
        return db.volume_operation_purge(context, before)

    @classmethod
    def get_in_flight(cls, context, host=None, server_id=None):
        """Queued and running operations (of ``host``, of ``server_id``),
        oldest first."""
        filters = {"status": states.VOLUME_OP_IN_FLIGHT}
        if host is not None:
            filters["host"] = host
        if server_id is not None:
            filters["server_id"] = server_id
        return cls.get_all(context, filters=filters, sort_dir="asc")
