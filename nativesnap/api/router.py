"""The static route list of API v1 and the application factory."""

import re

from nativesnap.api import auth
from nativesnap.api import console
from nativesnap.api.extensions import assisted_volume_snapshots as avs
from nativesnap.api.extensions import baremetal_nodes
from nativesnap.api.extensions import images
from nativesnap.api.extensions import openapi as openapi_ext
from nativesnap.api.extensions import quota_sets
from nativesnap.api.extensions import server_snapshots
from nativesnap.api.extensions import servers
from nativesnap.api.extensions import services
from nativesnap.api.extensions import snapshot_policies
from nativesnap.api.extensions import versions
from nativesnap.api import wsgi
from nativesnap.conf import CONF
from nativesnap.scheduler import api as scheduler_api

# Paths answered without a token: the version documents only (DESIGN §2).
PUBLIC_PATHS = frozenset({"", "/v1"})
# Paths a bare-metal node's agent calls with its node's X-Agent-Token instead
# of a user's X-Auth-Token (auth.agent_token; docs/baremetal.md, "Heartbeat").
# The route template matches too, which is how the OpenAPI document knows.
AGENT_PATHS = re.compile(
    r"^/v1/baremetal/nodes/(?P<node_id>[^/]+)/heartbeat/?\Z")


def route_list(compute_api):
    """(path template, {HTTP method: (controller, method name)}), in full;
    ``compute_api`` is the API side of the seam (nativesnap.compute.api)."""
    versions_ctl = versions.VersionsController()
    servers_ctl = servers.ServersController(compute_api)
    snapshots_ctl = server_snapshots.ServerSnapshotsController(compute_api)
    all_snapshots_ctl = server_snapshots.SnapshotsController()
    openapi_ctl = openapi_ext.OpenAPIController(PUBLIC_PATHS, AGENT_PATHS)
    images_ctl = images.ImagesController(compute_api)
    avs_ctl = avs.AssistedVolumeSnapshotsController(compute_api)
    nova_avs_ctl = avs.NovaAssistedVolumeSnapshotsController(compute_api)
    nodes_ctl = baremetal_nodes.BaremetalNodesController(compute_api)
    services_ctl = services.ServicesController(compute_api)
    # Snapshot policies and quotas: their API side, over the compute API
    # (a prune's deletes are the compute API's).
    policy_api = scheduler_api.PolicyAPI(compute_api)
    policies_ctl = snapshot_policies.SnapshotPoliciesController(policy_api)
    server_policies_ctl = snapshot_policies.ServerSnapshotPoliciesController(
        policy_api)
    quotas_ctl = quota_sets.QuotaSetsController(policy_api)
    routes = [
        ("/", {"GET": (versions_ctl, "index")}),
        ("/v1", {"GET": (versions_ctl, "show")}),
        ("/v1/openapi.json", {"GET": (openapi_ctl, "show")}),
        ("/v1/servers", {"GET": (servers_ctl, "index"),
                         "POST": (servers_ctl, "create")}),
        ("/v1/servers/{server_id}", {"GET": (servers_ctl, "show"),
                                     "DELETE": (servers_ctl, "delete")}),
        ("/v1/servers/{server_id}/action", {"POST": (servers_ctl, "action")}),
        ("/v1/servers/{server_id}/snapshots", {"GET": (snapshots_ctl, "index"),
                                               "POST": (snapshots_ctl, "create")}),
        ("/v1/servers/{server_id}/snapshots/{snapshot_id}",
         {"GET": (snapshots_ctl, "show"), "DELETE": (snapshots_ctl, "delete")}),
        ("/v1/servers/{server_id}/snapshots/{snapshot_id}/action",
         {"POST": (snapshots_ctl, "action")}),
        ("/v1/servers/{server_id}/snapshot-policies",
         {"GET": (server_policies_ctl, "index"),
          "POST": (server_policies_ctl, "create")}),
        ("/v1/servers/{server_id}/snapshot-policies/{policy_id}",
         {"DELETE": (server_policies_ctl, "delete")}),
        ("/v1/snapshots", {"GET": (all_snapshots_ctl, "index")}),
        ("/v1/snapshot-policies", {"GET": (policies_ctl, "index"),
                                   "POST": (policies_ctl, "create")}),
        ("/v1/snapshot-policies/{policy_id}",
         {"GET": (policies_ctl, "show"), "PUT": (policies_ctl, "update"),
          "DELETE": (policies_ctl, "delete")}),
        ("/v1/snapshot-policies/{policy_id}/action",
         {"POST": (policies_ctl, "action")}),
        ("/v1/images", {"GET": (images_ctl, "index")}),
        ("/v1/images/{image_id}", {"GET": (images_ctl, "show"),
                                   "DELETE": (images_ctl, "delete")}),
        ("/v1/baremetal/nodes", {"GET": (nodes_ctl, "index"),
                                 "POST": (nodes_ctl, "create")}),
        ("/v1/baremetal/nodes/{node_id}", {"GET": (nodes_ctl, "show"),
                                           "DELETE": (nodes_ctl, "delete")}),
        ("/v1/baremetal/nodes/{node_id}/heartbeat",
         {"POST": (nodes_ctl, "heartbeat")}),
        ("/v1/os-services", {"GET": (services_ctl, "index")}),
        ("/v1/os-services/{service_id}", {"PUT": (services_ctl, "update")}),
        ("/v1/os-quota-sets/{project_id}",
         {"GET": (quotas_ctl, "show"), "PUT": (quotas_ctl, "update"),
          "DELETE": (quotas_ctl, "delete")}),
        ("/v1/os-assisted-volume-snapshots", {"GET": (avs_ctl, "index"),
                                              "POST": (avs_ctl, "create")}),
        ("/v1/os-assisted-volume-snapshots/{snapshot_id}",
         {"DELETE": (avs_ctl, "delete")}),
        # Cinder's Nova client, with a Nova endpoint of <nativesnap>/v2.1.
        ("/v2.1/os-assisted-volume-snapshots", {"POST": (nova_avs_ctl, "create")}),
        ("/v2.1/os-assisted-volume-snapshots/{snapshot_id}",
         {"DELETE": (nova_avs_ctl, "delete")}),
    ]
    openapi_ctl.routes = routes
    return routes


def make_app(compute_api):
    """The WSGI application: the API, behind keystone when configured."""
    router = wsgi.Router(route_list(compute_api))
    strategy = CONF.api.auth_strategy
    agents = {"agent_paths": AGENT_PATHS, "agent_auth": auth.agent_token}
    if strategy == "keystone":
        app = wsgi.APIApplication(router, auth.keystone, PUBLIC_PATHS)
        # Public and agent paths only ever reach this one.
        public = wsgi.APIApplication(router, auth.noauth2, PUBLIC_PATHS,
                                     **agents)
        return console.mount(
            auth.wrap_keystone(app, public, PUBLIC_PATHS, AGENT_PATHS))
    return console.mount(
        wsgi.APIApplication(router, auth.noauth2, PUBLIC_PATHS, **agents))
