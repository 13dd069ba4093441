"""Policies of /v1/baremetal/nodes: enrolling physical machines is an
operator's job (as Ironic's enrolment is), so every rule is admin-only.
Nodes belong to no project; the rules are checked against an empty target."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:baremetal_nodes:%s"
BASE_PATH = "/v1/baremetal/nodes"

rules = [
    policy.DocumentedRuleDefault(
        PREFIX % "create", base.ADMIN,
        "Enrol a bare-metal node: its agent's URL and token, its power "
        "interface (Redfish) and its root-device hint.",
        [{"method": "POST", "path": BASE_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "list", base.ADMIN,
        "List the enrolled bare-metal nodes.",
        [{"method": "GET", "path": BASE_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "show", base.ADMIN,
        "Show an enrolled bare-metal node (never its secrets).",
        [{"method": "GET", "path": BASE_PATH + "/{node_id}"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "delete", base.ADMIN,
        "Delete an enrolled bare-metal node no server is adopted on.",
        [{"method": "DELETE", "path": BASE_PATH + "/{node_id}"}]),
]


def list_rules():
    return rules
