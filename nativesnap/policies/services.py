"""Policies of /v1/os-services: the compute services are the operator's
(Nova's os-services is admin-only too)."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:os_services:%s"
BASE_PATH = "/v1/os-services"

rules = [
    policy.DocumentedRuleDefault(
        PREFIX % "list", base.ADMIN,
        "List the compute services: host, drivers, up or down, enabled or "
        "disabled.",
        [{"method": "GET", "path": BASE_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "update", base.ADMIN,
        "Disable a compute service (its servers' changes are refused, 409) "
        "or enable it again.",
        [{"method": "PUT", "path": BASE_PATH + "/{service_id}"}]),
]


def list_rules():
    return rules
