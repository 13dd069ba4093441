"""Policies of /v1/os-services: the compute services are the operator's
(Nova's os-services is admin-only too)."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:os_services:%s"
BASE_PATH = "/v1/os-services"

rules = [
    policy.DocumentedRuleDefault(
        name=PREFIX % "list",
        check_str=base.ADMIN,
        description="List the compute services: host, drivers, up or down, "
                    "enabled or disabled.",
        operations=[{"method": "GET", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "update",
        check_str=base.ADMIN,
        description="Disable a compute service (its servers' changes are "
                    "refused, 409) or enable it again.",
        operations=[{"method": "PUT", "path": BASE_PATH + "/{service_id}"}],
        scope_types=base.PROJECT_SCOPE),
]


def list_rules():
    return rules
