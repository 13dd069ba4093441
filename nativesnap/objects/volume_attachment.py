"""The VolumeAttachment object: a Cinder volume attached to a server, as the
server's compute service last saw it (it records them when it adopts a
server, when the hypervisor reports a disk attached or detached, and at every
periodic sync). Cinder's assisted snapshots find their server by it."""

from nativesnap.db import api as db
from nativesnap.objects import base
from nativesnap.objects import fields


@base.NativesnapObjectRegistry.register
class VolumeAttachment(base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {
        "server_id": fields.UUIDField(),
        "volume_id": fields.UUIDField(),
        "device": fields.StringField(),
        "created_at": fields.DateTimeField(nullable=True),
        "updated_at": fields.DateTimeField(nullable=True),
    }


@base.NativesnapObjectRegistry.register
class VolumeAttachmentList(base.NativesnapObjectListBase, base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("VolumeAttachment")}

    @classmethod
    def get_by_volume(cls, context, volume_id):
        return cls._from_rows(context, VolumeAttachment,
                              db.volume_attachment_get_all(context,
                                                           volume_id=volume_id))

    @classmethod
    def get_by_server(cls, context, server_id):
        return cls._from_rows(context, VolumeAttachment,
                              db.volume_attachment_get_all(context,
                                                           server_id=server_id))
