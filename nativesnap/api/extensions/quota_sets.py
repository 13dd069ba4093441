"""/v1/os-quota-sets/{project_id}: how many snapshots a project, and each of
its servers, may hold (Nova's and Cinder's shape; docs/scheduler.md).

A project's members read their own limits; administrators read and set
anyone's. A project without limits of its own has [quota]'s defaults, so
every project id has a quota set: another project's is refused (403), not
hidden, as there is nothing to hide."""

from nativesnap.api.extensions import common
from nativesnap.api.schemas import quota_sets as schema
from nativesnap.api import validation
from nativesnap.api.views import quota_sets as view
from nativesnap.api import wsgi
from nativesnap import policy
from nativesnap.policies import quota_sets as quota_policies

POLICY = quota_policies.PREFIX


def _project(project_id):
    """The path's project id, checked here too: it is no UUID."""
    validation.validate(schema.project_id, project_id,
                        where="path parameter project_id")
    return project_id


class QuotaSetsController(wsgi.Controller):
    # Path parameters that are not UUIDs: what they must be instead.
    path_schemas = {"project_id": schema.project_id}

    def __init__(self, policy_api):
        self.policy_api = policy_api

    @wsgi.expected_errors((400, 403))
    @validation.query_schema(schema.show_query)
    def show(self, req, project_id):
        """Show a project's snapshot quotas (usage=true: and their use)."""
        context = req.context
        project_id = _project(project_id)
        policy.authorize(context, POLICY % "show", {"project_id": project_id})
        usage = common.is_true(req.GET.get("usage", "0"))
        return {"quota_set": view.show(self.policy_api.quota_set_of(
            context, project_id, usage=usage))}

    @wsgi.expected_errors((400, 403))
    def update(self, req, project_id, body):
        """Set a project's snapshot quotas (administrators)."""
        context = req.context
        project_id = _project(project_id)
        policy.authorize(context, POLICY % "update",
                         {"project_id": project_id})
        validation.validate(schema.update, body)
        return {"quota_set": view.show(self.policy_api.update_quota_set(
            context, project_id, body["quota_set"]))}

    @wsgi.response(204)
    @wsgi.expected_errors((400, 403))
    def delete(self, req, project_id):
        """Put a project's snapshot quotas back to the defaults."""
        context = req.context
        project_id = _project(project_id)
        policy.authorize(context, POLICY % "delete",
                         {"project_id": project_id})
        self.policy_api.reset_quota_set(context, project_id)


QuotaSetsController.update.body_schema = schema.update
