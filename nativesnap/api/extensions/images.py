"""/v1/images: every exported snapshot, whatever its store, kept after its
snapshot and server are gone (docs/images.md)."""

from nativesnap.api.extensions import common
from nativesnap.api.schemas import images as schema
from nativesnap.api import validation
from nativesnap.api.views import common as common_view
from nativesnap.api.views import images as view
from nativesnap.api import wsgi
from nativesnap import exception
from nativesnap.objects import image as image_obj
from nativesnap import policy
from nativesnap.policies import images as image_policies

POLICY = image_policies.PREFIX
FILTERS = ("status", "snapshot_id", "server_id")


class ImagesController(wsgi.Controller):
    def __init__(self, compute_api):
        self.compute_api = compute_api

    @wsgi.expected_errors((400, 403))
    @validation.query_schema(schema.index_query)
    def index(self, req):
        """List exported images (the caller's project; all with all_projects)."""
        context = req.context
        params = dict(req.GET)
        all_projects = common.is_true(params.get("all_projects", "0"))
        if all_projects:
            policy.authorize(context, POLICY % "list:all_projects", {})
        policy.authorize(context, POLICY % "list",
                         {"project_id": context.project_id})
        page = common.page_params(params)
        filters = {key: params[key].lower() if key.endswith("_id") else params[key]
                   for key in FILTERS if params.get(key)}
        images = image_obj.ImageList.get_all(
            context, project_id=None if all_projects else context.project_id,
            filters=filters, **page)
        items = [view.show(req, i) for i in images]
        body = {"images": items}
        links = common_view.next_link(req, items, page["limit"])
        if links:
            body["images_links"] = links
        return body

    @staticmethod
    def _get(context, image_id, action):
        try:
            image = image_obj.Image.get_by_id(context, image_id)
        except exception.ImageNotFound:
            policy.authorize(context, action, {"project_id": context.project_id})
            raise
        policy.authorize_resource(context, action, image.project_id,
                                  exception.ImageNotFound(image_id=image_id))
        return image

    @wsgi.expected_errors(404)
    def show(self, req, image_id):
        """Show an exported image."""
        return {"image": view.show(req, self._get(req.context, image_id,
                                                  POLICY % "show"))}

    @wsgi.response(204)
    @wsgi.expected_errors((404, 409, 502))
    def delete(self, req, image_id):
        """Delete an exported image from its store, and its record."""
        image = self._get(req.context, image_id, POLICY % "delete")
        self.compute_api.delete_image(req.context, image)
