"""The BaremetalNode object: a physical machine enrolled for the bare-metal
driver (how its agent and its BMC are reached).

Two fields are secrets, ``agent_token`` and ``redfish_password``: the
conductor presents them to the agent and to Redfish, so they are stored as
given, but they are SecretFields (``'***'`` wherever the object is printed,
e.g. in a log line) and no view of the API shows them.
"""

from oslo_utils import uuidutils

from nativesnap.db import api as db
from nativesnap.objects import base
from nativesnap.objects import fields

# How nativesnap powers a node: not at all, or through its BMC's Redfish.
POWER_INTERFACES = ("none", "redfish")
POWER_NONE = "none"
POWER_REDFISH = "redfish"
# The driver name of servers adopted on nodes (their hypervisor_ref names the
# node by id or by name).
DRIVER = "baremetal"
SORT_KEYS = db.BAREMETAL_NODE_SORT_KEYS
SECRET_FIELDS = ("agent_token", "redfish_password")


class PowerInterfaceField(fields.AutoTypedField):
    AUTO_TYPE = fields.Enum(valid_values=POWER_INTERFACES)


@base.NativesnapObjectRegistry.register
class BaremetalNode(base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {
        "id": fields.UUIDField(),
        "name": fields.StringField(),
        "agent_url": fields.StringField(),
        "agent_token": fields.SecretField(),
        "root_device_hint": fields.JsonField(nullable=True),
        "power_interface": PowerInterfaceField(default=POWER_NONE),
        "redfish_address": fields.StringField(nullable=True),
        "redfish_system_id": fields.StringField(nullable=True),
        "redfish_username": fields.StringField(nullable=True),
        "redfish_password": fields.SecretField(nullable=True),
        "redfish_verify_ca": fields.BooleanField(default=True),
        "last_heartbeat_at": fields.DateTimeField(nullable=True),
        "agent_version": fields.StringField(nullable=True),
        "created_at": fields.DateTimeField(nullable=True),
        "updated_at": fields.DateTimeField(nullable=True),
    }

    @classmethod
    def get_by_id(cls, context, node_id):
        return cls._from_db(context, db.baremetal_node_get(context, node_id))

    @classmethod
    def get_by_ref(cls, context, ref):
        """The node named ``ref`` by id or by name (NotFound, 404)."""
        return cls._from_db(context, db.baremetal_node_get_by_ref(context, ref))

    def create(self):
        values = self.obj_get_changes()
        values.setdefault("id", uuidutils.generate_uuid())
        values.setdefault("power_interface", POWER_NONE)
        values.setdefault("redfish_verify_ca", True)
        self._refresh(db.baremetal_node_create(self._context, values))

    def save(self):
        """Store the changed fields (e.g. a heartbeat's ``last_heartbeat_at``
        and ``agent_version``)."""
        changes = self.obj_get_changes()
        if changes:
            self._refresh(db.baremetal_node_update(self._context, self.id,
                                                   changes))

    def destroy(self):
        db.baremetal_node_destroy(self._context, self.id)

    def refs(self):
        """What a server's hypervisor_ref may hold to name this node."""
        return (self.id, self.name)


@base.NativesnapObjectRegistry.register
class BaremetalNodeList(base.NativesnapObjectListBase, base.NativesnapObject):
    # Version 1.0: initial version
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("BaremetalNode")}

    @classmethod
    def get_all(cls, context, sort_key="created_at", sort_dir="desc",
                limit=None, marker=None):
        return cls._from_rows(context, BaremetalNode, db.baremetal_node_get_all(
            context, sort_key=sort_key, sort_dir=sort_dir, limit=limit,
            marker=marker))
