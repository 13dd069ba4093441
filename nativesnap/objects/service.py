"""The Service object: one compute service in the registry.

A compute service heartbeats every ``[DEFAULT] report_interval`` seconds;
it is *up* while its last heartbeat is younger than ``[DEFAULT]
service_down_time``. The API side reads the registry to refuse, at once and
naming the host, requests for the servers of a host that is down or
disabled, and to find the compute that adopts a server; the compute services
read it to share the servers of host-free drivers (docs/deployment.md).
"""

import datetime

from oslo_utils import timeutils

from nativesnap.conf import CONF
from nativesnap.db import services as db
from nativesnap.objects import base
from nativesnap.objects import fields

BINARY = "nativesnap-compute"


@base.NativesnapObjectRegistry.register
class Service(base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {
        "id": fields.UUIDField(),
        "host": fields.StringField(),
        "binary": fields.StringField(),
        # {driver name: {"host_free": bool}}
        "drivers": fields.JsonField(nullable=True),
        "rpc_version": fields.StringField(nullable=True),
        "disabled": fields.BooleanField(default=False),
        "disabled_reason": fields.StringField(nullable=True),
        "last_seen_at": fields.DateTimeField(nullable=True),
        "created_at": fields.DateTimeField(nullable=True),
        "updated_at": fields.DateTimeField(nullable=True),
    }

    @staticmethod
    def heartbeat(context, host, drivers, rpc_version):
        """``host``'s compute service is alive and runs ``drivers``
        ({name: {"host_free": bool}})."""
        db.heartbeat(context, host, BINARY, drivers, rpc_version)

    @classmethod
    def get_by_id(cls, context, service_id):
        return cls._from_db(context, db.get(context, service_id))

    @classmethod
    def get_by_host(cls, context, host):
        """The service of ``host``, or None when it never registered."""
        row = db.get_by_host(context, host)
        return None if row is None else cls._from_db(context, row)

    @property
    def is_up(self):
        if self.last_seen_at is None:
            return False
        age = timeutils.utcnow(with_timezone=True) - self.last_seen_at
        return age < datetime.timedelta(seconds=CONF.service_down_time)

    @property
    def available(self):
        """Up and not disabled: it takes new work."""
        return self.is_up and not self.disabled

    def runs(self, driver):
        return driver in (self.drivers or {})

    def host_free(self, driver):
        return bool((self.drivers or {}).get(driver, {}).get("host_free"))

    def save(self):
        changes = self.obj_get_changes()
        if changes:
            self._refresh(db.update(self._context, self.id, changes))


@base.NativesnapObjectRegistry.register
class ServiceList(base.NativesnapObjectListBase, base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("Service")}

    @classmethod
    def get_all(cls, context):
        return cls._from_rows(context, Service, db.get_all(context))
