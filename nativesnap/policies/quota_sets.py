"""Policies of /v1/os-quota-sets: a project's readers may read their own
limits (and usage), as in Nova and Cinder; only administrators change them."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:os_quota_sets:%s"
BASE_PATH = "/v1/os-quota-sets/{project_id}"

rules = [
    policy.DocumentedRuleDefault(
        name=PREFIX % "show",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show a project's snapshot quotas (usage=true: and what "
                    "is used).",
        operations=[{"method": "GET", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE,
        deprecated_rule=base.deprecated_project_rule(PREFIX % "show")),
    policy.DocumentedRuleDefault(
        name=PREFIX % "update",
        check_str=base.ADMIN,
        description="Set a project's snapshot quotas.",
        operations=[{"method": "PUT", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "delete",
        check_str=base.ADMIN,
        description="Put a project's snapshot quotas back to the defaults "
                    "([quota]).",
        operations=[{"method": "DELETE", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE),
]


def list_rules():
    return rules
