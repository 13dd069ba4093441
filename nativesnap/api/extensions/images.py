"""/v1/images: every exported snapshot, whatever its store, kept after its
snapshot and server are gone (docs/images.md)."""

from nativesnap.api.extensions import common
from nativesnap.api.schemas import images as schema
from nativesnap.api import validation
from nativesnap.api.views import common as common_view
from nativesnap.api.views import images as view
from nativesnap.api import wsgi
from nativesnap.objects import image as image_obj
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
        project_id = common.listing_project(context, params, POLICY)
        page = common.page_params(params)
        filters = {key: params[key].lower() if key.endswith("_id") else params[key]
                   for key in FILTERS if params.get(key)}
        images, more = common.split_page(image_obj.ImageList.get_all(
            context, project_id=project_id, filters=filters,
            **common.peek(page)), page)
        items = [view.show(req, i) for i in images]
        body = {"images": items}
        links = common_view.next_link(req, items, page["limit"], more)
        if links:
            body["images_links"] = links
        return body

    @wsgi.expected_errors(404)
    def show(self, req, image_id):
        """Show an exported image."""
        return {"image": view.show(req, common.get_image(req.context, image_id,
                                                  POLICY % "show"))}

    @wsgi.response(204)
    @wsgi.expected_errors((404, 409, 502))
    def delete(self, req, image_id):
        """Delete an exported image from its store, and its record."""
        image = common.get_image(req.context, image_id, POLICY % "delete")
        self.compute_api.delete_image(req.context, image)
