"""The Image object: a snapshot exported into the image store."""

from oslo_utils import uuidutils

from nativesnap.db import api as db
from nativesnap.objects import base
from nativesnap.objects import fields

# The disk formats an export may be written in.
DISK_FORMATS = ("qcow2", "raw")


# Where an export is kept ([image] backend).
BACKENDS = ("local", "glance")
SORT_KEYS = db.IMAGE_SORT_KEYS


@base.NativesnapObjectRegistry.register
class Image(base.NativesnapObject):
    # Version 1.0: initial version
    # Version 1.1: server_id, host, backend, store_ref (a resource of its own)
    # Version 1.2: flatten_progress, fallback_reason
    VERSION = "1.2"

    fields = {
        "id": fields.UUIDField(),
        "snapshot_id": fields.UUIDField(),
        "server_id": fields.UUIDField(nullable=True),
        "host": fields.StringField(nullable=True),
        "backend": fields.StringField(default="local"),
        "store_ref": fields.StringField(nullable=True),
        "project_id": fields.StringField(),
        "name": fields.StringField(),
        "disk_format": fields.StringField(),
        "status": fields.ImageStatusField(),
        "progress": fields.NonNegativeIntegerField(default=0),
        "size_bytes": fields.NonNegativeIntegerField(nullable=True),
        "sha256": fields.StringField(nullable=True),
        "location": fields.StringField(nullable=True),
        "fault": fields.JsonField(nullable=True),
        "flatten_progress": fields.NonNegativeIntegerField(nullable=True),
        "fallback_reason": fields.StringField(nullable=True),
        "created_at": fields.DateTimeField(nullable=True),
        "updated_at": fields.DateTimeField(nullable=True),
    }

    def obj_make_compatible(self, primitive, target_version):
        super().obj_make_compatible(primitive, target_version)
        version = tuple(int(n) for n in target_version.split("."))
        if version < (1, 2):
            for name in ("flatten_progress", "fallback_reason"):
                primitive.pop(name, None)
        if version < (1, 1):
            for name in ("server_id", "host", "backend", "store_ref"):
                primitive.pop(name, None)

    @classmethod
    def get_by_id(cls, context, image_id):
        return cls._from_db(context, db.image_get(context, image_id))

    def destroy(self):
        db.image_destroy(self._context, self.id)

    def create(self):
        values = self.obj_get_changes()
        values.setdefault("id", uuidutils.generate_uuid())
        values.setdefault("progress", 0)
        values.setdefault("backend", "local")
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
    def get_all(cls, context, project_id=None, filters=None,
                sort_key="created_at", sort_dir="desc", limit=None, marker=None):
        return cls._from_rows(context, Image, db.image_get_all(
            context, project_id=project_id, filters=filters, sort_key=sort_key,
            sort_dir=sort_dir, limit=limit, marker=marker))

    @classmethod
    def get_by_snapshots(cls, context, snapshot_ids):
        return cls._from_rows(context, Image,
                              db.image_get_all_by_snapshots(context, snapshot_ids))

    @classmethod
    def get_flattening(cls, context, host):
        return cls._from_rows(context, Image, db.image_get_flattening(context, host))

    @classmethod
    def get_by_status(cls, context, statuses, host=None):
        return cls._from_rows(context, Image,
                              db.image_get_by_status(context, statuses, host))
