"""The Server object: a hypervisor object under nativesnap's management."""

from oslo_log import log as logging
from oslo_utils import timeutils
from oslo_utils import uuidutils

from nativesnap.common import states
from nativesnap.db import api as db
from nativesnap.objects import base
from nativesnap.objects import fields

LOG = logging.getLogger(__name__)

# Columns a server listing may be sorted by (the API's schema offers these).
SORT_KEYS = db.SERVER_SORT_KEYS
CAPABILITIES = fields.CAPABILITIES


@base.NativesnapObjectRegistry.register
class Server(base.NativesnapObject):
    # Version 1.0: initial version
    # Version 1.1: task_wait_until, task_wait_info (tasks waiting for an event)
    # Version 1.2: flatten_progress, flatten_ref (a full spawn's clone
    #              flattened later)
    # Version 1.3: provision_state (bare-metal servers)
    VERSION = "1.3"

    fields = {
        "id": fields.UUIDField(),
        "name": fields.StringField(),
        "project_id": fields.StringField(),
        "user_id": fields.StringField(nullable=True),
        "driver": fields.StringField(),
        "hypervisor_ref": fields.StringField(),
        "host": fields.StringField(),
        "status": fields.ServerStatusField(),
        "task_state": fields.TaskStateField(nullable=True),
        "task_id": fields.UUIDField(nullable=True),
        "task_started_at": fields.DateTimeField(nullable=True),
        "task_target_id": fields.UUIDField(nullable=True),
        "origin": fields.OriginField(),
        "source_snapshot_id": fields.UUIDField(nullable=True),
        "linked": fields.BooleanField(default=False),
        "flatten_progress": fields.NonNegativeIntegerField(nullable=True),
        "flatten_ref": fields.StringField(nullable=True),
        "provision_state": fields.ProvisionStateField(nullable=True),
        "current_snapshot_id": fields.UUIDField(nullable=True),
        "capabilities": fields.JsonField(default={}),
        "driver_info": fields.JsonField(default={}),
        "fault": fields.JsonField(nullable=True),
        "task_wait_until": fields.DateTimeField(nullable=True),
        "task_wait_info": fields.JsonField(nullable=True),
        "created_at": fields.DateTimeField(nullable=True),
        "updated_at": fields.DateTimeField(nullable=True),
    }

    def obj_make_compatible(self, primitive, target_version):
        super().obj_make_compatible(primitive, target_version)
        version = tuple(int(n) for n in target_version.split("."))
        if version < (1, 3):
            primitive.pop("provision_state", None)
        if version < (1, 2):
            primitive.pop("flatten_progress", None)
            primitive.pop("flatten_ref", None)
        if version < (1, 1):
            for name in ("task_wait_until", "task_wait_info"):
                primitive.pop(name, None)

    def obj_load_attr(self, attrname):
        """A field the sender's version lacked (a Server backported for an
        older compute service reaches one already upgraded while the API
        is still capped; docs/architecture.md, "Upgrades") is read from the
        record."""
        if attrname not in self.fields or not self.obj_attr_is_set("id"):
            super().obj_load_attr(attrname)
        LOG.debug("Server %s came without %s; reading it from the record",
                  self.id, attrname)
        row = db.server_get(self._context, self.id)
        setattr(self, attrname, row[attrname])
        self.obj_reset_changes([attrname])

    @classmethod
    def get_by_id(cls, context, server_id):
        return cls._from_db(context, db.server_get(context, server_id))

    @classmethod
    def get_by_ref(cls, context, driver, host, hypervisor_ref):
        row = db.server_find_by_ref(context, driver, host, hypervisor_ref)
        return None if row is None else cls._from_db(context, row)

    def create(self, task_state=None, task_id=None, target_id=None):
        """Insert the server's row. With ``task_state`` the row is inserted
        holding that task's lock (``task_id``), taken as ``begin_task``
        takes it: one INSERT, so no moment, a crash's included, has the
        record without its task (a spawn's BUILD record)."""
        if not self.obj_attr_is_set("id"):
            self.id = uuidutils.generate_uuid()
        if task_state is not None:
            self._take_task(task_state, task_id, target_id, new_row=True)
            # A new row has no provision state to compare and swap.
            self.__dict__.pop("_provision_from", None)
        values = self.obj_get_changes()
        values.setdefault("id", uuidutils.generate_uuid())
        for name in ("capabilities", "driver_info"):
            values.setdefault(name, {})
        values.setdefault("linked", False)
        self._refresh(db.server_create(self._context, values))

    def save(self, expected_task_state=None, expected_task_id=None,
             check_task=True, expected_host=None):
        """Compare-and-swap save of the changed fields.

        By default the row must still be free of tasks (``task_state`` null);
        a task's own saves pass its ``expected_task_state`` and ``task_id``.
        A moved provision state must still be the one it moved from (two
        users' abort and retry cannot both win).
        """
        changes = self.obj_get_changes()
        provision_from = self.__dict__.pop("_provision_from", db.UNCHECKED)
        row = db.server_update(self._context, self.id, changes,
                               expected_task_state=expected_task_state,
                               expected_task_id=expected_task_id,
                               check_task=check_task,
                               expected_provision_state=provision_from,
                               expected_host=expected_host)
        self._refresh(row)

    def _provision(self, event, only_from):
        """Move a bare-metal server's provision_state by ``event`` when it is
        in one of ``only_from`` (docs/baremetal.md); others have none."""
        if self.provision_state in only_from:
            self._move_provision(event)

    def _move_provision(self, event):
        old = self.provision_state
        self.__dict__.setdefault("_provision_from", old)   # checked at save
        self.provision_state = states.next_provision_state(self.id, old, event)
        # The walk is kept in the log, one line per move (docs/baremetal.md).
        LOG.info("Provision state of server %s: %s -> %s (%s)", self.id, old,
                 self.provision_state, event)

    def begin_task(self, task_state, task_id, target_id=None,
                   provision_event=None):
        """Take the server's task lock: null -> ``task_state``, or ServerBusy (409).

        A bare-metal server's provision state moves with it, by
        ``provision_event`` or the task's own (states.PROVISION_START_EVENTS);
        a move its machine refuses is a 409 and nothing is saved."""
        self._take_task(task_state, task_id, target_id, provision_event)
        # The lock is taken on the host the request was checked against.
        self.save(expected_task_state=None, expected_host=self.host)

    def _take_task(self, task_state, task_id, target_id, provision_event=None,
                   new_row=False):
        """Set the fields of a task lock (no task -> ``task_state``, by
        the state machine) for ``begin_task`` or ``create`` to write."""
        # A row not inserted yet has no record to read an unset field from.
        provision_state = (None if new_row and not self.obj_attr_is_set(
            "provision_state") else self.provision_state)
        event = provision_event or states.provision_start_event(
            task_state, provision_state)
        if event is not None and provision_state is not None:
            self._move_provision(event)
        self.task_state = states.next_task_state(self.id, None, task_state)
        self.task_id = task_id
        self.task_target_id = target_id
        self.task_started_at = timeutils.utcnow()

    def end_task(self, task_state, task_id, provision_event=None, **values):
        """Release the task lock held by ``task_id``, saving ``values`` with it
        (and, for a bare-metal server at work, ``provision_event``: done or
        fail)."""
        for name, value in values.items():
            setattr(self, name, value)
        if provision_event is not None:
            self._provision(provision_event, states.PROVISION_AT_WORK)
        self.task_state = states.next_task_state(self.id, task_state,
                                                 states.TASK_END)
        self.task_id = None
        self.task_target_id = None
        self.task_started_at = None
        self.task_wait_until = None
        self.task_wait_info = None
        self.save(expected_task_state=task_state, expected_task_id=task_id)

    def wait_task(self, task_state, task_id, until, info):
        """The task ``task_id`` waits for an outside event until ``until``;
        ``info`` (what it waits for, what its driver needs) is kept with it."""
        self.task_state = states.next_task_state(self.id, task_state,
                                                 states.TASK_WAIT)
        self._provision(states.PROVISION_WAIT, states.PROVISION_AT_WORK)
        self.task_wait_until = until
        self.task_wait_info = info
        self.save(expected_task_state=task_state, expected_task_id=task_id)

    def resume_task(self, task_id, provision_event=states.PROVISION_RESUME):
        """The event came: the waiting task runs again. Conflict when the
        lock has moved on (the deadline passed, or another event won).

        A wait ended by its deadline or by the user is resumed only to be
        failed: ``provision_event`` fail or abort then moves a bare-metal
        server's provision state straight to its failed state."""
        waiting = self.task_state
        self.task_state = states.next_task_state(self.id, waiting,
                                                 states.TASK_RESUME)
        self._provision(provision_event, states.PROVISION_WAITING)
        self.task_wait_until = None
        self.save(expected_task_state=waiting, expected_task_id=task_id)

    def provision(self, event):
        """Move the provision state by ``event`` between tasks (the user's
        abort of a failed snapshot); the lock must be free."""
        self._move_provision(event)
        self.save()

    def set_volume_attachments(self, devices):
        """Record ``{volume id: device}`` as the volumes attached to this
        server (what its driver reports); True when that changed."""
        return db.volume_attachment_set(self._context, self.id, devices)

    @staticmethod
    def move_host(context, server_id, from_host, to_host, only_idle):
        """Give a host-free server to another compute service, if it is
        still ``from_host``'s (and, with ``only_idle``, holds no task)."""
        return db.server_move_host(context, server_id, from_host, to_host,
                                   only_idle)

    def destroy(self):
        db.server_destroy(self._context, self.id)

    def refresh(self):
        self._refresh(db.server_get(self._context, self.id))


@base.NativesnapObjectRegistry.register
class ServerList(base.NativesnapObjectListBase, base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("Server")}

    @classmethod
    def get_all(cls, context, project_id=None, host=None, filters=None,
                sort_key="created_at", sort_dir="desc", limit=None, marker=None):
        rows = db.server_get_all(context, project_id=project_id, host=host,
                                 filters=filters, sort_key=sort_key,
                                 sort_dir=sort_dir, limit=limit, marker=marker)
        return cls._from_rows(context, Server, rows)

    @classmethod
    def get_by_refs(cls, context, driver, refs):
        """Servers of ``driver`` (any host) whose hypervisor_ref is one of
        ``refs``."""
        return cls._from_rows(context, Server,
                              db.server_get_by_refs(context, driver, refs))

    @staticmethod
    def get_hosts_of_driver(context, driver):
        """(id, host, task_state, task_id) of each server of ``driver``."""
        return db.server_hosts_of_driver(context, driver)

    @classmethod
    def get_busy(cls, context, host):
        return cls._from_rows(context, Server, db.server_get_busy(context, host))

    @classmethod
    def get_flattening(cls, context, host):
        return cls._from_rows(context, Server,
                              db.server_get_flattening(context, host))

    @classmethod
    def get_waiting(cls, context, host):
        return cls._from_rows(context, Server, db.server_get_waiting(context, host))

    @staticmethod
    def current_snapshot_ids(context, server_ids):
        """{server id: its current snapshot id} of the given servers."""
        return db.server_current_snapshot_ids(context, server_ids)

    @classmethod
    def get_linked_dependents(cls, context, snapshot_ids):
        return cls._from_rows(context, Server,
                              db.server_get_dependents(context, snapshot_ids))
