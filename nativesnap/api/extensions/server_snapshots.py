"""/v1/servers/{server_id}/snapshots and /v1/snapshots."""

from nativesnap.api.extensions import common
from nativesnap.api import microversion
from nativesnap.api.schemas import server_snapshots as schema
from nativesnap.api import validation
from nativesnap.api.views import common as common_view
from nativesnap.api.views import images as image_view
from nativesnap.api.views import snapshots as view
from nativesnap.api import wsgi
from nativesnap.common import states
from nativesnap import exception
from nativesnap.objects import image as image_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj
from nativesnap.policies import snapshots as snapshot_policies

POLICY = snapshot_policies.PREFIX

# Microversion 1.1: the snapshot view lists its exported images.
IMAGES_IN_VIEW = (1, 1)


def _images_by_snapshot(req, records):
    if not req.is_version(IMAGES_IN_VIEW):
        return None
    found = {s["id"]: [] for s in records}
    for img in image_obj.ImageList.get_by_snapshots(req.context, list(found)):
        found[img.snapshot_id].append(img)
    return found


def _views(req, records, current_ids):
    """The views of snapshots' records (``as_dict()`` of the objects, or
    what ``_page`` read)."""
    images = _images_by_snapshot(req, records)
    policy_fields = req.is_version(microversion.QUEUE)
    return [view.show_record(req, s, current_ids.get(s["server_id"]),
                             None if images is None else images[s["id"]],
                             policy_fields=policy_fields)
            for s in records]


def _page(req, page, **where):
    """(records of a page of the snapshots ``where`` selects, whether more
    follow): only the fields the view shows, without objects (a page holds
    up to 1000)."""
    fields = view.fields(policy_fields=req.is_version(microversion.QUEUE))
    return common.split_page(
        snapshot_obj.ServerSnapshotList.get_records(
            req.context, fields, filters=_filters(dict(req.GET)), **where,
            **common.peek(page)), page)


def queue_asked(req, value, where):
    """Whether a mutation asks to wait in a busy server's queue (``value``:
    the validated ``queue`` of its body or query string, None when absent).
    Microversion 1.2 brought it: before, asking is a 400 that says so."""
    if value is None:
        return False
    if not req.is_version(microversion.QUEUE):
        version = microversion.fmt(microversion.QUEUE)
        raise exception.ValidationError(
            where=where,
            reason=f"'queue' needs microversion {version} or later "
                   f"({microversion.HEADER}: {microversion.SERVICE_TYPE} "
                   f"{version})")
    return common.is_true(value)


def snapshot_body(req, snapshot, current_snapshot_id):
    """``{"snapshot": view}`` as the snapshot routes answer it (with its
    images from microversion 1.1), for answers of other routes."""
    return {"snapshot": _views(req, [snapshot.as_dict()],
                               {snapshot.server_id: current_snapshot_id})[0]}


def _list_body(req, snapshots, current_ids, limit, more):
    items = _views(req, snapshots, current_ids)
    body = {"snapshots": items}
    links = common_view.next_link(req, items, limit, more)
    if links:
        body["snapshots_links"] = links
    return body


def _filters(params):
    return {"status": params["status"]} if params.get("status") else None


class ServerSnapshotsController(wsgi.Controller):
    actions = {"export": ("_export", schema.export)}

    def __init__(self, compute_api):
        self.compute_api = compute_api

    def _location(self, req, server_id, snapshot_id):
        return f"{req.base_url()}/v1/servers/{server_id}/snapshots/{snapshot_id}"

    def _one(self, req, snapshot, current_snapshot_id):
        return snapshot_body(req, snapshot, current_snapshot_id)

    @wsgi.expected_errors((400, 404))
    @validation.query_schema(schema.index_query)
    def index(self, req, server_id):
        context = req.context
        server = common.get_server(context, server_id, POLICY % "list")
        page = common.page_params(dict(req.GET))
        snapshots, more = _page(req, page, server_id=server.id)
        return _list_body(req, snapshots, {server.id: server.current_snapshot_id},
                          page["limit"], more)

    @wsgi.response(202)
    @wsgi.expected_errors((400, 404, 409))
    @validation.schema(schema.create)
    def create(self, req, server_id, body):
        context = req.context
        server = common.get_server(context, server_id, POLICY % "create")
        args = body["snapshot"]
        queue = queue_asked(req, args.get("queue"), "request body")
        current = server.current_snapshot_id  # the task may change it any moment
        snapshot = self.compute_api.create_snapshot(
            context, server, args["name"], description=args.get("description"),
            memory=args.get("memory", False),
            quiesce=args.get("quiesce", states.QUIESCE_PREFERRED),
            kind=args.get("kind"), include_volumes=args.get("include_volumes",
                                                            False),
            queue=queue)
        return wsgi.ResponseObject(
            self._one(req, snapshot, current), code=202,
            headers={"Location": self._location(req, server.id, snapshot.id)})

    @wsgi.expected_errors(404)
    def show(self, req, server_id, snapshot_id):
        context = req.context
        server = common.get_server(context, server_id, POLICY % "show")
        snapshot = common.get_snapshot(context, server, snapshot_id)
        return self._one(req, snapshot, server.current_snapshot_id)

    @wsgi.response(202)
    @wsgi.expected_errors((400, 404, 409))
    @validation.query_schema(schema.delete_query)
    def delete(self, req, server_id, snapshot_id):
        context = req.context
        queue = queue_asked(req, req.GET.get("queue"), "query string")
        server = common.get_server(context, server_id, POLICY % "delete")
        snapshot = common.get_snapshot(context, server, snapshot_id)
        current = server.current_snapshot_id  # the task may change it any moment
        snapshot = self.compute_api.delete_snapshot(context, server, snapshot,
                                                    queue=queue)
        return wsgi.ResponseObject(
            self._one(req, snapshot, current), code=202,
            headers={"Location": self._location(req, server.id, snapshot.id)})

    @wsgi.response(202)
    # 502: the image service (Glance) failed when asked about image_ref.
    @wsgi.expected_errors((400, 404, 409, 502))
    def action(self, req, server_id, snapshot_id, body):
        return self.dispatch_action(req, body, server_id=server_id,
                                    snapshot_id=snapshot_id)

    def _export(self, req, server_id, snapshot_id, body):
        context = req.context
        server = common.get_server(context, server_id, POLICY % "export")
        snapshot = common.get_snapshot(context, server, snapshot_id)
        args = body["export"]
        image = self.compute_api.export_snapshot(
            context, server, snapshot, args["image_name"],
            args.get("disk_format", "qcow2"),
            image_ref=args["image_ref"].lower() if args.get("image_ref") else None)
        return wsgi.ResponseObject(
            {"image": image_view.show(req, image)}, code=202,
            headers={"Location": self._location(req, server.id, snapshot.id)})


class SnapshotsController(wsgi.Controller):
    """GET /v1/snapshots: every snapshot the caller may see."""

    @wsgi.expected_errors((400, 403))
    @validation.query_schema(schema.all_index_query)
    def index(self, req):
        context = req.context
        params = dict(req.GET)
        project_id = common.listing_project(context, params, POLICY)
        page = common.page_params(params)
        snapshots, more = _page(req, page, project_id=project_id)
        current = server_obj.ServerList.current_snapshot_ids(
            context, {s["server_id"] for s in snapshots})
        return _list_body(req, snapshots, current, page["limit"], more)
