"""/v1/os-services: the compute services of the deployment, as the
registry knows them (admin only; docs/deployment.md).

An operator disables a host before maintenance: the changes of its servers
are then refused at once (409 with the reason given) instead of reaching a
service that is about to stop, and host-free servers move to the other
services. Reads of its servers keep working.
"""

from nativesnap.api.schemas import services as schema
from nativesnap.api import validation
from nativesnap.api.views import services as view
from nativesnap.api import wsgi
from nativesnap.policies import services as service_policies
from nativesnap import policy

POLICY = service_policies.PREFIX


class ServicesController(wsgi.Controller):
    def __init__(self, compute_api):
        self.compute_api = compute_api

    @wsgi.expected_errors(403)
    def index(self, req):
        """List the compute services (administrators only)."""
        policy.authorize(req.context, POLICY % "list", {})
        services = self.compute_api.services(req.context)
        return {"services": [view.show(s) for s in services]}

    @wsgi.expected_errors((400, 403, 404))
    def update(self, req, service_id, body):
        """Disable a compute service, with a reason, or enable it."""
        policy.authorize(req.context, POLICY % "update", {})
        validation.validate(schema.update, body)
        inner = body["service"]
        service = self.compute_api.update_service(
            req.context, service_id.lower(), inner["status"] == "disabled",
            inner.get("disabled_reason"))
        return {"service": view.show(service)}


# What the OpenAPI document says: the schema the handler checks after policy.
ServicesController.update.body_schema = schema.update
