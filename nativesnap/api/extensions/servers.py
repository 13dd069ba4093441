"""/v1/servers: list, show, adopt, spawn, delete, and the actions: revert,
and for bare-metal servers abort_snapshot and retry_snapshot."""

from nativesnap.api.extensions import common
from nativesnap.api.extensions import server_snapshots
from nativesnap.api import microversion
from nativesnap.api.schemas import servers as schema
from nativesnap.api import validation
from nativesnap.api.views import common as common_view
from nativesnap.api.views import servers as view
from nativesnap.api import wsgi
from nativesnap import exception
from nativesnap.objects import server as server_obj
from nativesnap import policy
from nativesnap.policies import servers as server_policies

POLICY = server_policies.PREFIX


class ServersController(wsgi.Controller):
    actions = {"revert": ("_revert", schema.revert),
               "abort_snapshot": ("_abort_snapshot", schema.abort_snapshot),
               "retry_snapshot": ("_retry_snapshot", schema.retry_snapshot)}

    def __init__(self, compute_api):
        self.compute_api = compute_api

    def _location(self, req, server_id):
        return f"{req.base_url()}/v1/servers/{server_id}"

    def _views(self, req, servers):
        """The views of ``servers``; from microversion 1.2 with the
        requests waiting in each one's queue (docs/scheduler.md)."""
        queued = None
        if req.is_version(microversion.QUEUE) and servers:
            queued = self.compute_api.queued_requests(
                req.context, [s.id for s in servers])
        return [view.show(req, s, None if queued is None
                          else queued.get(s.id, [])) for s in servers]

    def _new(self, req, server):
        """The view of a server just made: nothing waits for it yet."""
        return view.show(req, server, [] if req.is_version(microversion.QUEUE)
                         else None)

    @wsgi.expected_errors((400, 403))
    @validation.query_schema(schema.index_query)
    def index(self, req):
        context = req.context
        params = dict(req.GET)
        project_id = common.listing_project(context, params, POLICY)
        page = common.page_params(params)
        filters = {"status": params["status"]} if params.get("status") else None
        servers, more = common.split_page(server_obj.ServerList.get_all(
            context, project_id=project_id, filters=filters,
            **common.peek(page)), page)
        items = self._views(req, servers)
        body = {"servers": items}
        links = common_view.next_link(req, items, page["limit"], more)
        if links:
            body["servers_links"] = links
        return body

    @wsgi.expected_errors(404)
    def show(self, req, server_id):
        server = common.get_server(req.context, server_id, POLICY % "show")
        # The record, kept current by the compute service: no driver is asked.
        return {"server": self._views(req, [server])[0]}

    @wsgi.response(201)
    @wsgi.expected_errors((400, 403, 404, 409))
    def create(self, req, body):
        context = req.context
        inner = body.get("server") if isinstance(body, dict) else None
        if isinstance(inner, dict) and "snapshot_id" in inner:
            return self._spawn(req, body)
        # Policy first: a member learns that adopting is not theirs (403)
        # before anything is said about the body.
        project_id = (inner or {}).get("project_id") if isinstance(
            inner, dict) else None
        policy.authorize(context, POLICY % "adopt",
                         {"project_id": project_id or context.project_id})
        validation.validate(schema.adopt, body)
        server = self.compute_api.adopt_server(
            context, inner["name"], inner["driver"], inner["hypervisor_ref"],
            inner.get("project_id") or context.project_id,
            host=inner.get("host"))
        return wsgi.ResponseObject(
            {"server": self._new(req, server)}, code=201,
            headers={"Location": self._location(req, server.id)})

    def _spawn(self, req, body):
        context = req.context
        inner = body["server"]
        policy.authorize(context, POLICY % "spawn",
                         {"project_id": context.project_id})
        validation.validate(schema.spawn, body)
        if "node" in inner:
            policy.authorize(context, POLICY % "spawn:node",
                             {"project_id": context.project_id})
        snapshot = common.get_any_snapshot(context, inner["snapshot_id"].lower(),
                                           POLICY % "spawn")
        server = self.compute_api.spawn_server(
            context, snapshot, inner["name"], inner.get("linked", True),
            inner.get("power_on", True), node=inner.get("node"))
        return wsgi.ResponseObject(
            {"server": self._new(req, server)}, code=202,
            headers={"Location": self._location(req, server.id)})

    @wsgi.response(204)
    @wsgi.expected_errors((404, 409))
    def delete(self, req, server_id):
        server = common.get_server(req.context, server_id, POLICY % "delete")
        self.compute_api.delete_server(req.context, server)

    @wsgi.response(202)
    @wsgi.expected_errors((400, 404, 409))
    def action(self, req, server_id, body):
        return self.dispatch_action(req, body, server_id=server_id)

    def _revert(self, req, server_id, body):
        context = req.context
        server = common.get_server(context, server_id, POLICY % "revert")
        args = body["revert"]
        queue = server_snapshots.queue_asked(req, args.get("queue"),
                                             "request body")
        snapshot_id = args["snapshot_id"].lower()
        try:
            snapshot = common.get_any_snapshot(context, snapshot_id,
                                               POLICY % "revert")
        except exception.Forbidden:
            raise exception.SnapshotNotFound(snapshot_id=snapshot_id) from None
        if snapshot.project_id != server.project_id:
            raise exception.SnapshotNotFound(snapshot_id=snapshot_id)
        self.compute_api.revert_server(context, server, snapshot,
                                       args.get("power_on", True), queue=queue)
        return wsgi.ResponseObject(
            None, code=202, headers={"Location": self._location(req, server.id)})

    def _abort_snapshot(self, req, server_id, body):
        context = req.context
        server = common.get_server(context, server_id, POLICY % "abort_snapshot")
        self.compute_api.abort_snapshot(context, server)
        return wsgi.ResponseObject(
            None, code=202, headers={"Location": self._location(req, server.id)})

    def _retry_snapshot(self, req, server_id, body):
        context = req.context
        server = common.get_server(context, server_id, POLICY % "retry_snapshot")
        current = server.current_snapshot_id  # the task may change it any moment
        snapshot = self.compute_api.retry_snapshot(context, server)
        location = (f"{req.base_url()}/v1/servers/{server.id}/snapshots/"
                    f"{snapshot.id}")
        return wsgi.ResponseObject(
            server_snapshots.snapshot_body(req, snapshot, current), code=202,
            headers={"Location": location})


# What the OpenAPI document says of create: two bodies, two success codes.
ServersController.create.body_schema = schema.create
ServersController.create.wsgi_codes = (201, 202)
# The actions share one 202: only retry_snapshot's has a body.
ServersController.action.success_texts = {
    202: "Accepted; the work continues in the background. revert and "
         "abort_snapshot answer with no body and the server's Location; "
         "retry_snapshot with {\"snapshot\": ...} (the snapshot taken again, "
         "status creating) and its Location."}
