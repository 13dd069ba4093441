"""Policies of exported images (/v1/images)."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:images:%s"
BASE_PATH = "/v1/images"

rules = [
    policy.DocumentedRuleDefault(
        PREFIX % "list", base.PROJECT_MEMBER_OR_ADMIN,
        "List the caller's project's exported images.",
        [{"method": "GET", "path": BASE_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "list:all_projects", base.ADMIN,
        "List the exported images of every project (all_projects=1).",
        [{"method": "GET", "path": BASE_PATH + "?all_projects=1"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "show", base.PROJECT_MEMBER_OR_ADMIN,
        "Show an exported image.",
        [{"method": "GET", "path": BASE_PATH + "/{image_id}"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "delete", base.PROJECT_MEMBER_OR_ADMIN,
        "Delete an exported image from its store (the local store's file, or "
        "Glance's image).",
        [{"method": "DELETE", "path": BASE_PATH + "/{image_id}"}]),
]


def list_rules():
    return rules
