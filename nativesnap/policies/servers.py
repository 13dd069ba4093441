"""Policies of /v1/servers."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:servers:%s"
BASE_PATH = "/v1/servers"

rules = [
    policy.DocumentedRuleDefault(
        PREFIX % "list", base.PROJECT_MEMBER_OR_ADMIN,
        "List the servers of the caller's project.",
        [{"method": "GET", "path": BASE_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "list:all_projects", base.ADMIN,
        "List servers of every project (all_projects=1).",
        [{"method": "GET", "path": BASE_PATH + "?all_projects=1"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "show", base.PROJECT_MEMBER_OR_ADMIN,
        "Show a server.",
        [{"method": "GET", "path": BASE_PATH + "/{server_id}"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "adopt", base.ADMIN,
        "Put an existing hypervisor object under nativesnap's management.",
        [{"method": "POST", "path": BASE_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "spawn", base.PROJECT_MEMBER_OR_ADMIN,
        "Spawn a new server from a snapshot of the caller's project.",
        [{"method": "POST", "path": BASE_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "delete", base.PROJECT_MEMBER_OR_ADMIN,
        "Delete a server: a spawned one is destroyed, an adopted one forgotten.",
        [{"method": "DELETE", "path": BASE_PATH + "/{server_id}"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "revert", base.PROJECT_MEMBER_OR_ADMIN,
        "Revert a server in place to one of its snapshots.",
        [{"method": "POST", "path": BASE_PATH + "/{server_id}/action (revert)"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "spawn:node", base.ADMIN,
        "Name the bare-metal node a spawned server goes on ('node'); without "
        "it, the first free node is taken.",
        [{"method": "POST", "path": BASE_PATH + " (node)"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "abort_snapshot", base.PROJECT_MEMBER_OR_ADMIN,
        "Give up a bare-metal server's snapshot that waits for its agent or "
        "has failed.",
        [{"method": "POST",
          "path": BASE_PATH + "/{server_id}/action (abort_snapshot)"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "retry_snapshot", base.PROJECT_MEMBER_OR_ADMIN,
        "Take a bare-metal server's failed snapshot again.",
        [{"method": "POST",
          "path": BASE_PATH + "/{server_id}/action (retry_snapshot)"}]),
]


def list_rules():
    return rules
