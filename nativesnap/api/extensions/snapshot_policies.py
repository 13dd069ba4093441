"""/v1/snapshot-policies and /v1/servers/{server_id}/snapshot-policies:
schedules with retention, and the servers they are attached to
(docs/scheduler.md).

A policy is its project's, as a server is: another project's answers 404.
The work is nativesnap.scheduler.api's; a prune that is not a dry run hands
its deletes to the compute API, queued behind each server's running task,
so it answers 202."""

from nativesnap.api.extensions import common
from nativesnap.api.schemas import snapshot_policies as schema
from nativesnap.api import validation
from nativesnap.api.views import snapshot_policies as view
from nativesnap.api import wsgi
from nativesnap import exception
from nativesnap import policy
from nativesnap.policies import snapshot_policies as policy_rules
from nativesnap.scheduler import api as scheduler_api

POLICY = policy_rules.PREFIX


def get_policy(policy_api, context, policy_id, action):
    """The policy, authorised against its own project: another project's
    answers 404, as if it did not exist."""
    not_found = exception.PolicyNotFound(policy_id=policy_id)
    try:
        found = policy_api.get_policy(context, policy_id)
    except exception.PolicyNotFound:
        # A caller who may not use the action at all learns that (403).
        policy.authorize(context, action, {"project_id": context.project_id})
        raise
    policy.authorize_resource(context, action, found.project_id, not_found)
    return found


def _next_run(one):
    return scheduler_api.next_run(one) if one.enabled else None


def views(req, policy_api, policies):
    attached = policy_api.attachments(req.context, [p.id for p in policies])
    return [view.show(req, p, attached[p.id], _next_run(p)) for p in policies]


def one_body(req, policy_api, one):
    return {"snapshot_policy": views(req, policy_api, [one])[0]}


class SnapshotPoliciesController(wsgi.Controller):
    actions = {"prune": ("_prune", schema.prune)}

    def __init__(self, policy_api):
        self.policy_api = policy_api

    def _location(self, req, policy_id):
        return f"{req.base_url()}/v1/snapshot-policies/{policy_id}"

    @wsgi.expected_errors((400, 403))
    @validation.query_schema(schema.index_query)
    def index(self, req):
        """List snapshot policies (the caller's project; all with
        all_projects)."""
        context = req.context
        project_id = common.listing_project(context, dict(req.GET), POLICY)
        policies = self.policy_api.list_policies(context,
                                                 project_id=project_id)
        return {"snapshot_policies": views(req, self.policy_api, policies)}

    @wsgi.response(201)
    @wsgi.expected_errors((400, 403))
    def create(self, req, body):
        """Create a snapshot policy."""
        context = req.context
        inner = body.get("snapshot_policy") if isinstance(body, dict) else None
        project_id = (inner.get("project_id") if isinstance(inner, dict)
                      else None)
        # Policy first: a member learns that another project's policies are
        # not theirs to make (403) before anything is said about the body.
        policy.authorize(context, POLICY % "create", {
            "project_id": project_id if isinstance(project_id, str)
            else context.project_id})
        validation.validate(schema.create, body)
        created = self.policy_api.create_policy(context, dict(inner))
        return wsgi.ResponseObject(
            one_body(req, self.policy_api, created), code=201,
            headers={"Location": self._location(req, created.id)})

    @wsgi.expected_errors(404)
    def show(self, req, policy_id):
        """Show a snapshot policy: its last and next run, per server."""
        found = get_policy(self.policy_api, req.context, policy_id,
                           POLICY % "show")
        return one_body(req, self.policy_api, found)

    @wsgi.expected_errors((400, 404))
    @validation.schema(schema.update)
    def update(self, req, policy_id, body):
        """Change a snapshot policy."""
        context = req.context
        found = get_policy(self.policy_api, context, policy_id,
                           POLICY % "update")
        changed = self.policy_api.update_policy(context, found,
                                                body["snapshot_policy"])
        return one_body(req, self.policy_api, changed)

    @wsgi.response(204)
    @wsgi.expected_errors(404)
    def delete(self, req, policy_id):
        """Delete a snapshot policy; its snapshots stay, no longer pruned."""
        context = req.context
        found = get_policy(self.policy_api, context, policy_id,
                           POLICY % "delete")
        self.policy_api.delete_policy(context, found)

    @wsgi.expected_errors((400, 404, 409))
    @validation.query_schema(schema.action_query)
    def action(self, req, policy_id, body):
        """Prune: apply the policy's retention now, or preview it."""
        return self.dispatch_action(req, body, policy_id=policy_id)

    def _prune(self, req, policy_id, body):
        context = req.context
        found = get_policy(self.policy_api, context, policy_id,
                           POLICY % "prune")
        server_id = body["prune"].get("server_id")
        dry_run = common.is_true(req.GET.get("dry_run", "0"))
        plans = self.policy_api.prune(
            context, found, server_id=server_id.lower() if server_id else None,
            dry_run=dry_run)
        return wsgi.ResponseObject(view.prune(plans),
                                   code=200 if dry_run else 202)


SnapshotPoliciesController.create.body_schema = schema.create
SnapshotPoliciesController.action.wsgi_codes = (200, 202)
SnapshotPoliciesController.action.success_texts = {
    200: "dry_run=true: what the prune would keep, remove and skip per "
         "server; nothing changed.",
    202: "Accepted: the removals are queued as deletes behind each server's "
         "running task; the body says what is kept, removed and skipped."}


class ServerSnapshotPoliciesController(wsgi.Controller):
    """/v1/servers/{server_id}/snapshot-policies: the policies attached to
    a server (several may be)."""

    def __init__(self, policy_api):
        self.policy_api = policy_api

    @wsgi.expected_errors(404)
    def index(self, req, server_id):
        """List the snapshot policies attached to a server."""
        context = req.context
        server = common.get_server(context, server_id, POLICY % "server:list")
        policies = self.policy_api.server_policies(context, server)
        return {"snapshot_policies": views(req, self.policy_api, policies)}

    @wsgi.expected_errors((400, 404, 409))
    @validation.schema(schema.attach)
    def create(self, req, server_id, body):
        """Attach a snapshot policy of the server's project to it."""
        context = req.context
        server = common.get_server(context, server_id,
                                   POLICY % "server:attach")
        policy_id = body["policy_id"].lower()
        found = get_policy(self.policy_api, context, policy_id,
                           POLICY % "server:attach")
        self.policy_api.attach(context, server, found)
        return one_body(req, self.policy_api, found)

    @wsgi.response(204)
    @wsgi.expected_errors(404)
    def delete(self, req, server_id, policy_id):
        """Detach a snapshot policy from a server; its snapshots stay."""
        context = req.context
        server = common.get_server(context, server_id,
                                   POLICY % "server:detach")
        self.policy_api.detach(context, server, policy_id)
