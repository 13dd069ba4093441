"""A request waiting for its busy server's turn (docs/scheduler.md).

The scheduler's takes and deletes, and a user's mutations sent with
``"queue": true``, do not answer 409 while the server runs another task:
they are recorded here and started in order by the compute service that owns
the server. The record keeps who asked (user, project, roles), so the request
runs with the asker's rights when its turn comes."""

from nativesnap.db import queue as db
from nativesnap.objects import base
from nativesnap.objects import fields

CREATE_SNAPSHOT = "create_snapshot"
DELETE_SNAPSHOT = "delete_snapshot"
REVERT = "revert"
ACTIONS = (CREATE_SNAPSHOT, DELETE_SNAPSHOT, REVERT)
USER = "user"
SCHEDULER = "scheduler"


@base.NativesnapObjectRegistry.register
class QueuedRequest(base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {
        "id": fields.UUIDField(),
        "server_id": fields.UUIDField(),
        "action": fields.StringField(),
        "snapshot_id": fields.UUIDField(nullable=True),
        "params": fields.JsonField(nullable=True),
        "project_id": fields.StringField(),
        "user_id": fields.StringField(nullable=True),
        "roles": fields.JsonField(nullable=True),
        "origin": fields.StringField(),
        "expires_at": fields.DateTimeField(),
        "created_at": fields.DateTimeField(nullable=True),
        "updated_at": fields.DateTimeField(nullable=True),
    }

    def create(self):
        self._refresh(db.create(self._context, self.obj_get_changes()))

    def destroy(self):
        """QueuedRequestNotFound when it was taken or removed already."""
        db.destroy(self._context, self.id)

    @staticmethod
    def remove(context, request_id):
        """``destroy`` in ``context``'s transaction (a request read by the
        compute service is started in its asker's context)."""
        db.destroy(context, request_id)


@base.NativesnapObjectRegistry.register
class QueuedRequestList(base.NativesnapObjectListBase, base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("QueuedRequest")}

    @classmethod
    def get_by_servers(cls, context, server_ids):
        return cls._from_rows(context, QueuedRequest,
                              db.get_all(context, server_ids))

    @classmethod
    def get_by_snapshot(cls, context, snapshot_id):
        return cls._from_rows(context, QueuedRequest,
                              db.get_by_snapshot(context, snapshot_id))

    @staticmethod
    def servers_of_host(context, host):
        return db.servers_of_host(context, host)
