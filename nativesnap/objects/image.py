"""The Image object: a snapshot exported into the image store."""

from oslo_utils import uuidutils

from nativesnap.db import api as db
from nativesnap.objects import base
from nativesnap.objects import fields

# The disk formats an export may be written in.
DISK_FORMATS = ("qcow2",)


@base.NativesnapObjectRegistry.register
class Image(base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {
        "id": fields.UUIDField(),
        "snapshot_id": fields.UUIDField(),
        "project_id": fields.StringField(),
        "name": fields.StringField(),
        "disk_format": fields.StringField(),
        "status": fields.ImageStatusField(),
        "progress": fields.NonNegativeIntegerField(default=0),
        "size_bytes": fields.NonNegativeIntegerField(nullable=True),
        "sha256": fields.StringField(nullable=True),
        "location": fields.StringField(nullable=True),
        "fault": fields.JsonField(nullable=True),
        "created_at": fields.DateTimeField(nullable=True),
        "updated_at": fields.DateTimeField(nullable=True),
    }

    @classmethod
    def get_by_id(cls, context, image_id):
        return cls._from_db(context, db.image_get(context, image_id))

    def create(self):
        values = self.obj_get_changes()
        values.setdefault("id", uuidutils.generate_uuid())
        values.setdefault("progress", 0)
        self._refresh(db.image_create(self._context, values))

    def save(self):
        changes = self.obj_get_changes()
        if changes:
            self._refresh(db.image_update(self._context, self.id, changes))

    def set_progress(self, progress):
        """Progress of an export (the manager's progress callback calls this,
        as it does ServerSnapshot.set_progress); never backwards, 0..100."""
        progress = max(0, min(100, int(progress)))
        if progress > self.progress:
            self.progress = progress
            self.save()


@base.NativesnapObjectRegistry.register
class ImageList(base.NativesnapObjectListBase, base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("Image")}

    @classmethod
    def get_by_snapshots(cls, context, snapshot_ids):
        return cls._from_rows(context, Image,
                              db.image_get_all_by_snapshots(context, snapshot_ids))

    @classmethod
    def get_by_status(cls, context, statuses):
        return cls._from_rows(context, Image, db.image_get_by_status(context, statuses))
