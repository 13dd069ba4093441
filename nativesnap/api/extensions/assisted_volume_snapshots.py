"""/v1/os-assisted-volume-snapshots (and, for Cinder's Nova client, the same
create and delete under /v2.1): Nova's API for Cinder's remotefs drivers,
and the admin listing of what was asked and how it ended.

Policy is checked first in every handler: a caller who may not use this API
learns that (403) before anything is said about the request.
"""

import json

from nativesnap.api.extensions import common
from nativesnap.api.schemas import assisted_volume_snapshots as schema
from nativesnap.api import validation
from nativesnap.api.views import common as common_view
from nativesnap.api.views import volume_operations as view
from nativesnap.api import wsgi
from nativesnap import exception
from nativesnap.objects import volume_operation as operation_obj
from nativesnap import policy
from nativesnap.policies import assisted_volume_snapshots as avs_policies

POLICY = avs_policies.PREFIX
DELETE_INFO = "query parameter delete_info"


def _delete_info(text):
    """The delete_info query parameter: JSON, valid against its schema."""
    try:
        value = json.loads(text)
    except ValueError as e:
        raise exception.ValidationError(
            where=DELETE_INFO, reason=f"it is not valid JSON ({e})") from None
    wsgi.check_no_surrogates(value)
    validation.validate(schema.delete_info, value, where=DELETE_INFO)
    value["volume_id"] = value["volume_id"].lower()
    return value


class AssistedVolumeSnapshotsController(wsgi.Controller):
    def __init__(self, compute_api):
        self.compute_api = compute_api

    @wsgi.expected_errors((400, 403))
    def create(self, req, body):
        """Snapshot an attached volume for Cinder (Nova's API)."""
        context = req.context
        # Empty target, as Nova: Cinder acts for volumes of every project.
        policy.authorize(context, POLICY % "create", {})
        validation.validate(schema.create, body)
        args = body["snapshot"]
        create_info = dict(args["create_info"])
        create_info["snapshot_id"] = create_info["snapshot_id"].lower()
        answer = self.compute_api.volume_snapshot_create(
            context, args["volume_id"].lower(), create_info)
        return {"snapshot": answer}

    @wsgi.response(204)
    @wsgi.expected_errors((400, 403))
    def delete(self, req, snapshot_id):
        """Merge a volume snapshot's file out of an attached volume's chain
        for Cinder (Nova's API)."""
        context = req.context
        policy.authorize(context, POLICY % "delete", {})
        params = validation.validate_query(schema.delete_query, req)
        delete_info = _delete_info(params["delete_info"])
        self.compute_api.volume_snapshot_delete(context, snapshot_id, delete_info)

    @wsgi.expected_errors((400, 403))
    def index(self, req):
        """List recent assisted volume snapshot requests (administrators)."""
        context = req.context
        policy.authorize(context, POLICY % "list", {})
        params = validation.validate_query(schema.index_query, req)
        page = common.page_params(params)
        filters = {key: params[key].lower() if key.endswith("_id") else params[key]
                   for key in ("volume_id", "server_id", "action", "status")
                   if params.get(key)}
        operations, more = common.split_page(
            operation_obj.AssistedVolumeOperationList.get_all(
                context, filters=filters, limit=common.peek(page)["limit"],
                marker=page["marker"]), page)
        items = [view.show(op) for op in operations]
        body = {"operations": items}
        links = common_view.next_link(req, items, page["limit"], more)
        if links:
            body["operations_links"] = links
        return body


class NovaAssistedVolumeSnapshotsController(AssistedVolumeSnapshotsController):
    """The same create and delete at /v2.1/os-assisted-volume-snapshots, where
    Cinder's Nova client (pinned to compute 2.1) sends them."""


# What the OpenAPI document says of the handlers that validate after policy.
AssistedVolumeSnapshotsController.create.body_schema = schema.create
AssistedVolumeSnapshotsController.delete.query_schema = schema.delete_query
AssistedVolumeSnapshotsController.index.query_schema = schema.index_query
