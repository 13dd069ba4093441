"""/v1/baremetal/nodes: operators enrol the physical machines the
bare-metal driver works on (admin only; docs/baremetal-nodes.md).

Policy comes before everything else, so a non-administrator learns only
that nodes are not theirs (403), whatever the body or the id. Secrets
(the agent's token, the BMC password) go in and never come out.

The heartbeat is no administrator's: a node's agent calls it with its
node's token (X-Agent-Token, checked by auth.agent_token before the body
is read), and it is the event a task waiting for the agent resumes on.
"""

import urllib.parse

from nativesnap.api import auth
from nativesnap.api.extensions import common
from nativesnap.api.schemas import baremetal_nodes as schema
from nativesnap.api import validation
from nativesnap.api.views import baremetal_nodes as view
from nativesnap.api.views import common as common_view
from nativesnap.api import wsgi
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap.objects import baremetal_node as node_obj
from nativesnap.policies import baremetal_nodes as node_policies
from nativesnap import policy

POLICY = node_policies.PREFIX


def _authorize(context, action):
    policy.authorize(context, POLICY % action, {})


def _check_port(where, url):
    """A port the pattern lets through must still be a port."""
    try:
        urllib.parse.urlsplit(url).port
    except ValueError:
        raise exception.ValidationError(
            where="request body",
            reason=f"'{where}' has no valid port (1-65535 after the host)"
        ) from None


def node_values(inner):
    """The record's values from a validated ``node`` body."""
    power = inner.get("power") or {"interface": node_obj.POWER_NONE}
    values = {
        "name": inner["name"],
        "agent_url": inner["agent_url"],
        "agent_token": inner["agent_token"],
        "root_device_hint": inner.get("root_device_hint"),
        "power_interface": power["interface"],
        "redfish_verify_ca": power.get("verify_ca", True),
    }
    for key in ("address", "system_id", "username", "password"):
        values[f"redfish_{key}"] = power.get(key)
    return values


class BaremetalNodesController(wsgi.Controller):
    def __init__(self, compute_api):
        self.compute_api = compute_api

    def _get(self, context, node_id, action):
        _authorize(context, action)
        return node_obj.BaremetalNode.get_by_id(context, node_id)

    @wsgi.expected_errors((400, 403))
    def index(self, req):
        """List the enrolled bare-metal nodes (administrators only)."""
        context = req.context
        _authorize(context, "list")
        params = validation.validate_query(schema.index_query, req)
        page = common.page_params(params)
        nodes, more = common.split_page(node_obj.BaremetalNodeList.get_all(
            context, **common.peek(page)), page)
        servers = self.compute_api.node_servers(context, nodes)
        items = [view.show(req, n, servers.get(n.id)) for n in nodes]
        body = {"nodes": items}
        links = common_view.next_link(req, items, page["limit"], more)
        if links:
            body["nodes_links"] = links
        return body

    @wsgi.expected_errors((403, 404))
    def show(self, req, node_id):
        """Show an enrolled bare-metal node (never its secrets)."""
        node = self._get(req.context, node_id, "show")
        servers = self.compute_api.node_servers(req.context, [node])
        return {"node": view.show(req, node, servers.get(node.id))}

    @wsgi.response(201)
    @wsgi.expected_errors((400, 403, 409))
    def create(self, req, body):
        """Enrol a bare-metal node (administrators only)."""
        context = req.context
        _authorize(context, "create")
        validation.validate(schema.create, body)
        inner = body["node"]
        _check_port("node/agent_url", inner["agent_url"])
        if (inner.get("power") or {}).get("address"):
            _check_port("node/power/address", inner["power"]["address"])
        node = self.compute_api.enrol_node(context, node_values(inner))
        return wsgi.ResponseObject(
            {"node": view.show(req, node)}, code=201,
            headers={"Location":
                     f"{req.base_url()}/v1/baremetal/nodes/{node.id}"})

    @wsgi.response(204)
    @wsgi.expected_errors((403, 404, 409))
    def delete(self, req, node_id):
        """Delete an enrolled node; 409 while a server is adopted on it."""
        node = self._get(req.context, node_id, "delete")
        self.compute_api.delete_node(req.context, node)

    @wsgi.response(202)
    @wsgi.expected_errors(())
    def heartbeat(self, req, node_id, body):
        """Heartbeat of a node's agent (X-Agent-Token, not X-Auth-Token)."""
        node = req.environ.get(auth.AGENT_NODE)
        if node is None or node.id.lower() != node_id:
            # Only auth.agent_token lets a request get here with its node.
            raise exception.NotAuthenticated(
                f"Send the node's agent token as {auth.AGENT_TOKEN_HEADER}.")
        validation.validate(schema.heartbeat, body)
        _check_port("agent_url", body["agent_url"])
        # The agent is no user: the records are the service's own work.
        self.compute_api.heartbeat(ns_context.get_admin_context(), node,
                                   body["agent_url"], body["agent_version"])


# What the OpenAPI document says: the schemas the handlers check after policy.
BaremetalNodesController.create.body_schema = schema.create
BaremetalNodesController.heartbeat.body_schema = schema.heartbeat
BaremetalNodesController.index.query_schema = schema.index_query
