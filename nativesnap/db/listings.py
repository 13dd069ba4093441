"""Read-only listings of chosen columns, for the API's list views.

A page of 1000 snapshots is the API's heaviest read (bench/api). Reading
whole rows (``api.snapshot_get_all``) decodes every JSON column, the driver's
private ``driver_info`` too, which no view shows. A listing here reads only
the columns asked for and decodes their JSON text itself, giving the values
the columns' types give (NULL stays None), with the common empty list ``[]``
made without the parser. Its rows are the same as ``snapshot_get_all``'s
restricted to those columns, in the same order and pages.
"""

import json

from oslo_db.sqlalchemy import types as oslo_types
import sqlalchemy as sa

from nativesnap.db import api
from nativesnap.db import models
from nativesnap import exception

_JSON_TYPES = (oslo_types.JsonEncodedType, models.NullableJson)


def _decode(text):
    """What JsonEncodedType and NullableJson make of a column's text."""
    if text is None:
        return None
    if text == "[]":
        return []
    return json.loads(text)


def _selected(table, names, sort_key):
    """(the columns to select, the names of those holding JSON text). The
    id and a valid sort key are always read: a page's marker needs them."""
    wanted = dict.fromkeys(names)
    wanted["id"] = None
    if sort_key in api.SNAPSHOT_SORT_KEYS:
        wanted[sort_key] = None
    columns, json_names = [], []
    for name in wanted:
        column = table.c[name]
        if isinstance(column.type, _JSON_TYPES):
            json_names.append(name)
            column = sa.type_coerce(column, sa.Text).label(name)
        columns.append(column)
    return columns, json_names


def snapshot_columns(context, names, server_id=None, project_id=None,
                     filters=None, sort_key="created_at", sort_dir="desc",
                     limit=None, marker=None):
    """The rows ``api.snapshot_get_all`` gives for the same arguments, each
    with the columns ``names`` (and ``id`` and the sort key) only."""
    table = models.Snapshot.__table__
    columns, json_names = _selected(table, names, sort_key)
    with api.reader(context) as session:
        query = session.query(*columns)
        if server_id is not None:
            query = query.filter(table.c.server_id == server_id)
        if project_id is not None:
            query = query.filter(table.c.project_id == project_id)
        for key, value in (filters or {}).items():
            query = query.filter(table.c[key] == value)
        rows = api.paginate(session, models.Snapshot, query, sort_key,
                            sort_dir, limit, marker,
                            exception.InvalidMarker(marker=marker))
    if not rows:
        return []
    keys = rows[0]._fields
    result = [dict(zip(keys, row)) for row in rows]
    for name in json_names:
        for row in result:
            row[name] = _decode(row[name])
    return result
