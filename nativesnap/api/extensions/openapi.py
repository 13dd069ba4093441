"""GET /v1/openapi.json: the API's own OpenAPI 3.1 description."""

from nativesnap.api import openapi
from nativesnap.api import wsgi


class OpenAPIController(wsgi.Controller):
    routes = ()

    def __init__(self):
        self._document = None

    @wsgi.expected_errors(())
    def show(self, req):
        """The OpenAPI 3.1 description of this API."""
        if self._document is None:
            from nativesnap.api import router
            self._document = openapi.build(self.routes, router.PUBLIC_PATHS)
        return self._document
