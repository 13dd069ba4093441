"""Field types of nativesnap's objects."""

import json

from oslo_versionedobjects import fields

from nativesnap.common import states

# Re-exported so object modules import their field types from one place.
BooleanField = fields.BooleanField
DateTimeField = fields.DateTimeField
IntegerField = fields.IntegerField
ListOfObjectsField = fields.ListOfObjectsField
StringField = fields.StringField
Enum = fields.Enum
AutoTypedField = fields.AutoTypedField
UUIDField = fields.UUIDField
NonNegativeIntegerField = fields.NonNegativeIntegerField

# Capability names of a server (DESIGN §2): what its driver can do for it,
# recorded on the Server and shown in its view.
CAPABILITIES = ("memory", "quiesce", "revert_any", "tree", "linked_spawn", "export")


class Json(fields.FieldType):
    """Any JSON-serialisable value (driver metadata, faults, disk lists)."""

    def coerce(self, obj, attr, value):
        try:
            json.dumps(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{attr} must be JSON-serialisable: {e}") from None
        return value

    def to_primitive(self, obj, attr, value):
        return value

    def from_primitive(self, obj, attr, value):
        return value


class Secret(fields.SensitiveString):
    """A string never printed: its object's repr (and so any log line that
    shows the object) has ``'***'`` in its place. oslo's SensitiveString
    only masks what looks like ``password=...`` inside the value."""

    def stringify(self, value):
        return "'***'"


class SecretField(fields.AutoTypedField):
    AUTO_TYPE = Secret()


class JsonField(fields.AutoTypedField):
    AUTO_TYPE = Json()


class SnapshotStatusField(fields.AutoTypedField):
    AUTO_TYPE = fields.Enum(valid_values=states.SNAPSHOT_STATUSES)


class ServerStatusField(fields.AutoTypedField):
    AUTO_TYPE = fields.Enum(valid_values=states.SERVER_STATUSES)


class TaskStateField(fields.AutoTypedField):
    AUTO_TYPE = fields.Enum(valid_values=states.TASK_STATES)


class ProvisionStateField(fields.AutoTypedField):
    AUTO_TYPE = fields.Enum(valid_values=states.PROVISION_STATES)


class OriginField(fields.AutoTypedField):
    AUTO_TYPE = fields.Enum(valid_values=states.ORIGINS)


class QuiesceField(fields.AutoTypedField):
    AUTO_TYPE = fields.Enum(valid_values=states.QUIESCE_MODES)


class KindField(fields.AutoTypedField):
    AUTO_TYPE = fields.Enum(valid_values=states.KINDS)


class ConsistencyField(fields.AutoTypedField):
    AUTO_TYPE = fields.Enum(valid_values=states.CONSISTENCIES)


class ImageStatusField(fields.AutoTypedField):
    AUTO_TYPE = fields.Enum(valid_values=states.IMAGE_STATUSES)


class VolumeOperationActionField(fields.AutoTypedField):
    AUTO_TYPE = fields.Enum(valid_values=states.VOLUME_OP_ACTIONS)


class VolumeOperationStatusField(fields.AutoTypedField):
    AUTO_TYPE = fields.Enum(valid_values=states.VOLUME_OP_STATUSES)
