"""Policies of snapshot policies (/v1/snapshot-policies) and of their
attachments to servers (/v1/servers/{server_id}/snapshot-policies).

A snapshot policy belongs to a project, as a server does: its members manage
it (another project's answers 404, as its servers do) and administrators
manage every project's. Attaching a policy is a change of the server, so it
is authorised against the server's project; the policy must be of the same
project (docs/scheduler.md)."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:snapshot_policies:%s"
BASE_PATH = "/v1/snapshot-policies"
SERVER_PATH = "/v1/servers/{server_id}/snapshot-policies"

rules = [
    policy.DocumentedRuleDefault(
        PREFIX % "list", base.PROJECT_MEMBER_OR_ADMIN,
        "List the snapshot policies of the caller's project.",
        [{"method": "GET", "path": BASE_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "list:all_projects", base.ADMIN,
        "List the snapshot policies of every project (all_projects=1).",
        [{"method": "GET", "path": BASE_PATH + "?all_projects=1"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "show", base.PROJECT_MEMBER_OR_ADMIN,
        "Show a snapshot policy, with its last and next run per server.",
        [{"method": "GET", "path": BASE_PATH + "/{policy_id}"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "create", base.PROJECT_MEMBER_OR_ADMIN,
        "Create a snapshot policy (in another project: project_id in the "
        "body, administrators).",
        [{"method": "POST", "path": BASE_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "update", base.PROJECT_MEMBER_OR_ADMIN,
        "Change a snapshot policy's schedule, what it takes or what it keeps.",
        [{"method": "PUT", "path": BASE_PATH + "/{policy_id}"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "delete", base.PROJECT_MEMBER_OR_ADMIN,
        "Delete a snapshot policy (it is detached; its snapshots stay).",
        [{"method": "DELETE", "path": BASE_PATH + "/{policy_id}"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "prune", base.PROJECT_MEMBER_OR_ADMIN,
        "Apply a policy's retention now, or preview it (dry_run=true).",
        [{"method": "POST", "path": BASE_PATH + "/{policy_id}/action (prune)"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "server:list", base.PROJECT_MEMBER_OR_ADMIN,
        "List the snapshot policies attached to a server.",
        [{"method": "GET", "path": SERVER_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "server:attach", base.PROJECT_MEMBER_OR_ADMIN,
        "Attach a snapshot policy of the server's project to a server.",
        [{"method": "POST", "path": SERVER_PATH}]),
    policy.DocumentedRuleDefault(
        PREFIX % "server:detach", base.PROJECT_MEMBER_OR_ADMIN,
        "Detach a snapshot policy from a server (its snapshots stay).",
        [{"method": "DELETE", "path": SERVER_PATH + "/{policy_id}"}]),
]


def list_rules():
    return rules
