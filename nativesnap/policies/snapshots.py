"""Policies of server snapshots (/v1/servers/{id}/snapshots and /v1/snapshots)."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:snapshots:%s"
BASE_PATH = "/v1/servers/{server_id}/snapshots"

rules = [
    policy.DocumentedRuleDefault(
        PREFIX % "list", base.PROJECT_MEMBER_OR_ADMIN,
        "List snapshots of a server, or all of the caller's project's snapshots.",
        [{"method": "GET", "path": BASE_PATH}, {"method": "GET", "path": "/v1/snapshots"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "list:all_projects", base.ADMIN,
        "List snapshots of every project (all_projects=1).",
        [{"method": "GET", "path": "/v1/snapshots?all_projects=1"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "show", base.PROJECT_MEMBER_OR_ADMIN,
        "Show a snapshot.",
        [{"method": "GET", "path": BASE_PATH + "/{snapshot_id}"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "create", base.PROJECT_MEMBER_OR_ADMIN,
        "Snapshot a server.",
        [{"method": "POST", "path": BASE_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "delete", base.PROJECT_MEMBER_OR_ADMIN,
        "Delete a snapshot.",
        [{"method": "DELETE", "path": BASE_PATH + "/{snapshot_id}"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "export", base.PROJECT_MEMBER_OR_ADMIN,
        "Export a snapshot's disk state as an image into the image store.",
        [{"method": "POST", "path": BASE_PATH + "/{snapshot_id}/action (export)"}]),
]


def list_rules():
    return rules
