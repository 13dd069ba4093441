"""Snapshot policies and their attachments to servers (docs/scheduler.md).

A policy is project-scoped and says when to take a snapshot (an interval or
a cron expression in a time zone), what to take and what to keep. Each
attachment of a policy to a server keeps that pair's schedule (``last_run_at``,
``next_run_at``) and the last run's outcome, which the policy's view shows
per server."""

import datetime
import types

from nativesnap.common import states
from nativesnap.db import policies as db
from nativesnap.objects import base
from nativesnap.objects import fields
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj

RETENTION = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly",
             "keep_monthly", "keep_yearly")
DEFAULT_NAME_TEMPLATE = "{policy}-{time:%Y%m%d-%H%M}"


@base.NativesnapObjectRegistry.register
class SnapshotPolicy(base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = dict({
        "id": fields.UUIDField(),
        "project_id": fields.StringField(),
        "user_id": fields.StringField(nullable=True),
        "name": fields.StringField(),
        "description": fields.StringField(nullable=True),
        "interval_minutes": fields.IntegerField(nullable=True),
        "cron": fields.StringField(nullable=True),
        "timezone": fields.StringField(default="UTC"),
        "memory": fields.BooleanField(default=False),
        "quiesce": fields.QuiesceField(default=states.QUIESCE_PREFERRED),
        "include_volumes": fields.BooleanField(default=False),
        "name_template": fields.StringField(default=DEFAULT_NAME_TEMPLATE),
        "enabled": fields.BooleanField(default=True),
        "created_at": fields.DateTimeField(nullable=True),
        "updated_at": fields.DateTimeField(nullable=True),
    }, **{rule: fields.NonNegativeIntegerField(default=0)
          for rule in RETENTION})

    @classmethod
    def get_by_id(cls, context, policy_id):
        return cls._from_db(context, db.policy_get(context, policy_id))

    def create(self):
        self._refresh(db.policy_create(self._context, self.obj_get_changes()))

    def save(self):
        changes = self.obj_get_changes()
        if changes:
            self._refresh(db.policy_update(self._context, self.id, changes))

    def destroy(self):
        db.policy_destroy(self._context, self.id)

    @property
    def retention(self):
        return {rule: getattr(self, rule) for rule in RETENTION}


@base.NativesnapObjectRegistry.register
class SnapshotPolicyList(base.NativesnapObjectListBase, base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("SnapshotPolicy")}

    @classmethod
    def get_all(cls, context, project_id=None, ids=None):
        return cls._from_rows(context, SnapshotPolicy,
                              db.policy_get_all(context, project_id, ids))


@base.NativesnapObjectRegistry.register
class PolicyAttachment(base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {
        "policy_id": fields.UUIDField(),
        "server_id": fields.UUIDField(),
        "last_run_at": fields.DateTimeField(nullable=True),
        "next_run_at": fields.DateTimeField(nullable=True),
        # The last run's outcome for this server (docs/scheduler.md).
        "outcome": fields.JsonField(nullable=True),
        "prune_due": fields.BooleanField(default=False),
        "created_at": fields.DateTimeField(nullable=True),
        "updated_at": fields.DateTimeField(nullable=True),
    }

    @classmethod
    def attach(cls, context, policy_id, server_id, next_run_at):
        return cls._from_db(context, db.attachment_create(
            context, policy_id, server_id, next_run_at))

    @staticmethod
    def detach(context, policy_id, server_id):
        db.attachment_destroy(context, policy_id, server_id)

    def save(self):
        save_attachments(self._context, [self])

    @staticmethod
    def update_all(context, policy_id, **values):
        """Change every attachment of a policy at once."""
        db.attachments_update_all(context, policy_id, values)


@base.NativesnapObjectRegistry.register
class PolicyAttachmentList(base.NativesnapObjectListBase,
                           base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("PolicyAttachment")}

    @classmethod
    def get_all(cls, context, policy_ids=None, server_id=None):
        return cls._from_rows(context, PolicyAttachment, db.attachment_get_all(
            context, policy_ids=policy_ids, server_id=server_id))


def host_work(context, host, due_at=None, prune_due=False):
    """(PolicyAttachment, SnapshotPolicy, Server) of the enabled policies
    attached to ``host``'s servers that are due at ``due_at`` or wait to be
    pruned (with ``prune_due``, only those): one query for a scheduler run.
    A policy of several servers is one object."""
    policies, found = {}, []
    for a, p, s in db.attachments_of_host(context, host, due_at, prune_due):
        policy = policies.get(p["id"])
        if policy is None:
            policy = policies[p["id"]] = SnapshotPolicy._from_db(context, p)
        found.append((PolicyAttachment._from_db(context, a), policy,
                      server_obj.Server._from_db(context, s)))
    return found


def save_attachments(context, attachments):
    """Save the changes of several attachments in one transaction."""
    changes = [(a.policy_id, a.server_id, a.obj_get_changes())
               for a in attachments]
    changes = [c for c in changes if c[2]]
    if changes:
        db.attachments_save(context, changes)
    for attachment in attachments:
        attachment.obj_reset_changes()


def server_snapshots(context, server_ids):
    """{server id: [brief]}: what a prune needs of every snapshot of
    ``server_ids`` (id, server_id, policy_id, status, name, parent_id,
    scheduled_at, created_at, the times aware), not whole objects: a run at
    10,000 servers reads 100,000 of them (docs/performance.md)."""
    found = {}
    for server_id, rows in db.snapshots_of_servers(context,
                                                   server_ids).items():
        found[server_id] = [types.SimpleNamespace(**dict(row, **{
            name: _aware(row[name]) for name in ("scheduled_at",
                                                 "created_at")}))
            for row in rows]
    return found


def snapshots_by_id(context, snapshot_ids):
    """{id: ServerSnapshot} of those of ``snapshot_ids`` that exist."""
    return {row["id"]: snapshot_obj.ServerSnapshot._from_db(context, row)
            for row in db.snapshots_get(context, snapshot_ids)}


def _aware(moment):
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=datetime.timezone.utc)
