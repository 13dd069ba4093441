"""Base classes for nativesnap's versioned objects."""

import datetime
import operator
import re

from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields as ovo_fields

from nativesnap.db import api as db
from nativesnap.objects import fields as ns_fields

# Returned by a fast coercer for a value it does not vouch for.
_SLOW = object()
_JSON_TYPES = frozenset({dict, list, str, int, float, bool})
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                             r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _fast_coercer(field):
    """A function returning what ``field.coerce`` returns for a value (not None)
    of a database row, and _SLOW for any other value, which then goes through
    the field's own coercion. None: no fast path.

    Setting a field through its property coerces the value through several
    layers of calls (and parses a UUID under a fresh warnings filter); for a
    list of a thousand rows that cost more than the query. Each fast path below
    gives the same result as the coercion it stands in for, for the values it
    accepts.
    """
    if field.read_only:
        return None
    kind = type(field._type)
    if kind is ovo_fields.String:
        def fast(v):
            return v if type(v) is str else _SLOW
    elif kind is ovo_fields.Enum:
        valid = frozenset(field._type.valid_values)

        def fast(v):
            return v if type(v) is str and v in valid else _SLOW
    elif kind is ovo_fields.UUID:
        match = _CANONICAL_UUID.fullmatch

        def fast(v):
            return v if type(v) is str and match(v) else _SLOW
    elif kind is ovo_fields.Integer:
        def fast(v):
            return v if type(v) is int else _SLOW
    elif kind is ovo_fields.NonNegativeInteger:
        def fast(v):
            return v if type(v) is int and v >= 0 else _SLOW
    elif kind is ovo_fields.Boolean:
        def fast(v):
            return v if type(v) is bool else _SLOW
    elif kind is ovo_fields.DateTime and field._type.tzinfo_aware:
        utc = datetime.timezone.utc

        def fast(v):
            # A naive timestamp from the database is UTC (as DateTime says).
            if type(v) is datetime.datetime and v.tzinfo is None:
                return v.replace(tzinfo=utc)
            return _SLOW
    elif kind is ns_fields.Json:
        # Json's check is that json.dumps accepts the value. A row of the
        # database layer holds, in its JSON columns, either what json.loads
        # made of the stored text or the very object the column's json.dumps
        # has just written (a create's row): the check holds for both.
        def fast(v):
            return v if type(v) in _JSON_TYPES else _SLOW
    else:
        return None
    return fast


# The value types each fast coercer above vouches for (Enum and UUID: of
# strings it then checks; DateTime: naive datetimes).
_FAST_TYPES = {ovo_fields.String: {str}, ovo_fields.Enum: {str},
               ovo_fields.UUID: {str}, ovo_fields.Integer: {int},
               ovo_fields.NonNegativeInteger: {int},
               ovo_fields.Boolean: {bool}, ovo_fields.DateTime: {datetime.datetime},
               ns_fields.Json: set(_JSON_TYPES)}
_tzinfo = operator.attrgetter("tzinfo")


def _values_check(field, kind):
    """A check of a column's values (none of them None, their types vouched
    for already) standing in for the rest of ``_fast_coercer``'s, or None."""
    if kind is ovo_fields.Enum:
        return frozenset(field._type.valid_values).issuperset
    if kind is ovo_fields.UUID:
        match = _CANONICAL_UUID.fullmatch
        return lambda values: all(map(match, values))
    if kind is ovo_fields.NonNegativeInteger:
        return lambda values: not values or min(values) >= 0
    if kind is ovo_fields.DateTime:
        return lambda values: set(map(_tzinfo, values)) <= {None}
    return None


def _column_coercer(field):
    """``_fast_coercer`` for a whole column: a function of a list of a
    database column's values giving the list of what ``_refresh`` would
    store for them, or _SLOW unless the fast paths vouch for every value
    (None only where the field is nullable). None: no fast path."""
    kind = type(field._type)
    if field.read_only or kind not in _FAST_TYPES or (
            kind is ovo_fields.DateTime and not field._type.tzinfo_aware):
        return None
    nullable = field.nullable
    types = frozenset(_FAST_TYPES[kind] | ({type(None)} if nullable else set()))
    values_ok = _values_check(field, kind)

    def coerce(column):
        if not set(map(type, column)) <= types:
            return _SLOW
        present = [v for v in column if v is not None] if nullable else column
        if values_ok is not None and not values_ok(present):
            return _SLOW
        if kind is ovo_fields.DateTime:
            utc = datetime.timezone.utc
            return [v if v is None else v.replace(tzinfo=utc) for v in column]
        return column
    return coerce


def transaction(context):
    """One database transaction for several objects' saves (nested saves
    with the same context join it): all of them are made, or none."""
    return db.writer(context)


class NativesnapObjectRegistry(ovo_base.VersionedObjectRegistry):
    pass


class NativesnapObject(ovo_base.VersionedObject):
    OBJ_PROJECT_NAMESPACE = "nativesnap"
    OBJ_SERIAL_NAMESPACE = "nativesnap_object"

    @classmethod
    def _from_db(cls, context, db_row):
        obj = cls(context)
        obj._refresh(db_row)
        return obj

    @classmethod
    def _field_plan(cls):
        """(name, storage attribute, fast coercer or None, nullable) per field."""
        plan = cls.__dict__.get("_nativesnap_field_plan")
        if plan is None:
            plan = tuple((name, ovo_base._get_attrname(name), _fast_coercer(field),
                          field.nullable) for name, field in cls.fields.items())
            cls._nativesnap_field_plan = plan
        return plan

    def _refresh(self, db_row):
        """Set the fields a database row holds, with the values setting each
        attribute would store, and mark nothing changed."""
        stored = self.__dict__  # where the fields' properties keep their values
        for name, attrname, fast, nullable in self._field_plan():
            if name not in db_row:
                continue
            value = db_row[name]
            if value is None:
                if nullable:
                    stored[attrname] = None
                    continue
                coerced = _SLOW  # the field's default, or its error
            else:
                coerced = _SLOW if fast is None else fast(value)
            if coerced is _SLOW:
                setattr(self, name, value)  # the field's own coercion
            else:
                stored[attrname] = coerced
        self.obj_reset_changes()

    @classmethod
    def _records(cls, context, rows):
        """Database rows (dicts of one query's columns) as read-only
        records: for each row the dict ``as_dict()`` of the object
        ``_from_db`` makes of it gives, without the object. The values are
        checked a column at a time rather than a field per row (a list of
        1000 has no use for 1000 objects); a column any value of which the
        fast paths do not vouch for sends the whole list through the objects,
        with their coercions and errors. Takes the rows over."""
        if not rows:
            return []
        coercers = cls._column_coercers()
        for name in rows[0].keys() - coercers.keys():
            for row in rows:  # not a field: no object would keep it
                del row[name]
        changed = {}
        for name in rows[0]:
            coerce = coercers[name]
            column = [row[name] for row in rows]
            coerced = _SLOW if coerce is None else coerce(column)
            if coerced is _SLOW:
                return [cls._from_db(context, row).as_dict() for row in rows]
            if coerced is not column:
                changed[name] = coerced
        for name, coerced in changed.items():
            for row, value in zip(rows, coerced):
                row[name] = value
        return rows

    @classmethod
    def _column_coercers(cls):
        """{field name: ``_column_coercer`` of the field}."""
        coercers = cls.__dict__.get("_nativesnap_column_coercers")
        if coercers is None:
            coercers = {name: _column_coercer(field)
                        for name, field in cls.fields.items()}
            cls._nativesnap_column_coercers = coercers
        return coercers

    def as_dict(self):
        """{name: value} of the fields that are set."""
        stored = self.__dict__
        return {name: stored[attrname] for name, attrname, _, _ in self._field_plan()
                if attrname in stored}


class NativesnapObjectListBase(ovo_base.ObjectListBase):
    @classmethod
    def _from_rows(cls, context, item_cls, rows):
        lst = cls(context)
        lst.objects = [item_cls._from_db(context, r) for r in rows]
        lst.obj_reset_changes()
        return lst
