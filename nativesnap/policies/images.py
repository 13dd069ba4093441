"""Policies of exported images (/v1/images): a project's readers list and
show them, its members delete them."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:images:%s"
BASE_PATH = "/v1/images"

rules = [
    policy.DocumentedRuleDefault(
        name=PREFIX % "list",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List the caller's project's exported images.",
        operations=[{"method": "GET", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE,
        deprecated_rule=base.deprecated_project_rule(PREFIX % "list")),
    policy.DocumentedRuleDefault(
        name=PREFIX % "list:all_projects",
        check_str=base.ADMIN,
        description="List the exported images of every project "
                    "(all_projects=1).",
        operations=[{"method": "GET", "path": BASE_PATH + "?all_projects=1"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "show",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show an exported image.",
        operations=[{"method": "GET", "path": BASE_PATH + "/{image_id}"}],
        scope_types=base.PROJECT_SCOPE,
        deprecated_rule=base.deprecated_project_rule(PREFIX % "show")),
    policy.DocumentedRuleDefault(
        name=PREFIX % "delete",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Delete an exported image from its store (the local "
                    "store's file, or Glance's image).",
        operations=[{"method": "DELETE", "path": BASE_PATH + "/{image_id}"}],
        scope_types=base.PROJECT_SCOPE),
]


def list_rules():
    return rules
