"""Version documents: GET / and GET /v1 (public, no token needed)."""

from nativesnap.api import microversion
from nativesnap.api import wsgi


def _version(req):
    return {
        "id": "v1",
        "status": "CURRENT",
        "version": microversion.fmt(microversion.MAX_VERSION),
        "min_version": microversion.fmt(microversion.MIN_VERSION),
        "updated": "2026-11-23T00:00:00Z",
        "links": [{"rel": "self", "href": f"{req.base_url()}/v1/"},
                  {"rel": "describedby", "type": "application/json",
                   "href": f"{req.base_url()}/v1/openapi.json"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.snapshot+json;"
                                 "version=1"}],
    }


class VersionsController(wsgi.Controller):
    @wsgi.expected_errors(())
    def index(self, req):
        return {"versions": [_version(req)]}

    @wsgi.expected_errors(())
    def show(self, req):
        return {"version": _version(req)}
