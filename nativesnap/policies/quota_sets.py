"""Policies of /v1/os-quota-sets: a project's members may read their own
limits (and usage), as in Nova and Cinder; only administrators change them."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:os_quota_sets:%s"
BASE_PATH = "/v1/os-quota-sets/{project_id}"

rules = [
    policy.DocumentedRuleDefault(
        PREFIX % "show", base.PROJECT_MEMBER_OR_ADMIN,
        "Show a project's snapshot quotas (usage=true: and what is used).",
        [{"method": "GET", "path": BASE_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "update", base.ADMIN,
        "Set a project's snapshot quotas.",
        [{"method": "PUT", "path": BASE_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "delete", base.ADMIN,
        "Put a project's snapshot quotas back to the defaults ([quota]).",
        [{"method": "DELETE", "path": BASE_PATH}]),
]


def list_rules():
    return rules
