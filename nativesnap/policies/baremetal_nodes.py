"""Policies of /v1/baremetal/nodes: enrolling physical machines is an
operator's job (as Ironic's enrolment is), so every rule is admin-only.
Nodes belong to no project; the rules are checked against an empty target."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:baremetal_nodes:%s"
BASE_PATH = "/v1/baremetal/nodes"

rules = [
    policy.DocumentedRuleDefault(
        name=PREFIX % "create",
        check_str=base.ADMIN,
        description="Enrol a bare-metal node: its agent's URL and token, its "
                    "power interface (Redfish) and its root-device hint.",
        operations=[{"method": "POST", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "list",
        check_str=base.ADMIN,
        description="List the enrolled bare-metal nodes.",
        operations=[{"method": "GET", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "show",
        check_str=base.ADMIN,
        description="Show an enrolled bare-metal node (never its secrets).",
        operations=[{"method": "GET", "path": BASE_PATH + "/{node_id}"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "delete",
        check_str=base.ADMIN,
        description="Delete an enrolled bare-metal node no server is adopted "
                    "on.",
        operations=[{"method": "DELETE", "path": BASE_PATH + "/{node_id}"}],
        scope_types=base.PROJECT_SCOPE),
]


def list_rules():
    return rules
