"""GET /v1/openapi.json: the API's own OpenAPI 3.1 description."""

from nativesnap.api import openapi
from nativesnap.api import wsgi


class OpenAPIController(wsgi.Controller):
    """Describes ``routes`` (set once the route list is made, which holds
    this controller too); ``public_paths`` answer without a token, paths
    matching ``agent_paths`` take a bare-metal agent's X-Agent-Token."""

    routes = ()

    def __init__(self, public_paths, agent_paths=None):
        self._public_paths = public_paths
        self._agent_paths = agent_paths
        self._document = None

    @wsgi.expected_errors(())
    def show(self, req):
        """The OpenAPI 3.1 description of this API."""
        if self._document is None:
            self._document = openapi.build(self.routes, self._public_paths,
                                           self._agent_paths)
        return self._document
