"""Base classes for nativesnap's versioned objects."""

from oslo_versionedobjects import base as ovo_base


class NativesnapObjectRegistry(ovo_base.VersionedObjectRegistry):
    pass


class NativesnapObject(ovo_base.VersionedObject):
    OBJ_PROJECT_NAMESPACE = "nativesnap"
    OBJ_SERIAL_NAMESPACE = "nativesnap_object"

    @classmethod
    def _from_db(cls, context, db_row):
        obj = cls(context)
        for name in obj.fields:
            if name in db_row:
                setattr(obj, name, db_row[name])
        obj.obj_reset_changes()
        return obj

    def _refresh(self, db_row):
        for name in self.fields:
            if name in db_row:
                setattr(self, name, db_row[name])
        self.obj_reset_changes()

    def as_dict(self):
        return {name: getattr(self, name) for name in self.fields
                if self.obj_attr_is_set(name)}


class NativesnapObjectListBase(ovo_base.ObjectListBase):
    @classmethod
    def _from_rows(cls, context, item_cls, rows):
        lst = cls(context)
        lst.objects = [item_cls._from_db(context, r) for r in rows]
        lst.obj_reset_changes()
        return lst
