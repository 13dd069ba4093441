"""Lookups shared by the controllers: load, then authorise against the
resource's own project (another project's resource answers 404)."""

from nativesnap.conf import CONF
from nativesnap import exception
from nativesnap.objects import image as image_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj
from nativesnap import policy


def _get_owned(context, action, load, not_found):
    """``load()``, authorised against the resource's own project; another
    project's answers ``not_found`` (404)."""
    try:
        found = load()
    except type(not_found):
        # Authorise against the caller's own project so that a caller who may
        # not use the action at all learns that (403), not that the id is free.
        policy.authorize(context, action, {"project_id": context.project_id})
        raise
    policy.authorize_resource(context, action, found.project_id, not_found)
    return found


def get_server(context, server_id, action):
    return _get_owned(context, action,
                      lambda: server_obj.Server.get_by_id(context, server_id),
                      exception.ServerNotFound(server_id=server_id))


def get_snapshot(context, server, snapshot_id):
    """A snapshot of ``server``; one of another server answers 404 here."""
    try:
        snapshot = snapshot_obj.ServerSnapshot.get_by_id(context, snapshot_id)
    except exception.SnapshotNotFound:
        raise
    if snapshot.server_id != server.id:
        raise exception.SnapshotNotFound(snapshot_id=snapshot_id)
    return snapshot


def get_any_snapshot(context, snapshot_id, action):
    """A snapshot by id alone, authorised against its own project."""
    snapshot = snapshot_obj.ServerSnapshot.get_by_id(context, snapshot_id)
    policy.authorize_resource(context, action, snapshot.project_id,
                              exception.SnapshotNotFound(snapshot_id=snapshot_id))
    return snapshot


def get_image(context, image_id, action):
    """An exported image, authorised against its own project."""
    return _get_owned(context, action,
                      lambda: image_obj.Image.get_by_id(context, image_id),
                      exception.ImageNotFound(image_id=image_id))


def listing_project(context, params, policy_prefix):
    """The project a listing shows: the caller's, or None (every project)
    with ``all_projects`` for those its policy allows. Authorises the
    listing (``<prefix>:list``, and ``list:all_projects``)."""
    all_projects = is_true(params.get("all_projects", "0"))
    if all_projects:
        policy.authorize(context, policy_prefix % "list:all_projects", {})
    policy.authorize(context, policy_prefix % "list",
                     {"project_id": context.project_id})
    return None if all_projects else context.project_id


def peek(page):
    """``page`` asking for one row more than the page holds: whether it
    comes back says if a next page exists (``split_page``), so a last page
    that happens to be full carries no next link."""
    return dict(page, limit=page["limit"] + 1 if page["limit"] else 0)


def split_page(rows, page):
    """(the page's rows, whether more follow) of rows read with ``peek``."""
    rows = list(rows)
    return rows[:page["limit"]], len(rows) > page["limit"]


def page_params(params, default_sort_key="created_at"):
    """limit, marker, sort_key, sort_dir from a validated query dict."""
    max_limit = CONF.api.max_limit
    limit = min(int(params.get("limit", max_limit)), max_limit)
    return {
        "limit": limit,
        "marker": params["marker"].lower() if params.get("marker") else None,
        "sort_key": params.get("sort_key", default_sort_key),
        "sort_dir": params.get("sort_dir", "desc"),
    }


def is_true(value):
    return str(value).lower() in ("1", "true", "yes")
