"""Policies of snapshot policies (/v1/snapshot-policies) and of their
attachments to servers (/v1/servers/{server_id}/snapshot-policies).

A snapshot policy belongs to a project, as a server does: its readers list
and show it, its members manage it (another project's answers 404, as its
servers do) and administrators manage every project's. Attaching a policy is
a change of the server, so it is authorised against the server's project;
the policy must be of the same project (docs/scheduler.md)."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:snapshot_policies:%s"
BASE_PATH = "/v1/snapshot-policies"
SERVER_PATH = "/v1/servers/{server_id}/snapshot-policies"

rules = [
    policy.DocumentedRuleDefault(
        name=PREFIX % "list",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List the snapshot policies of the caller's project.",
        operations=[{"method": "GET", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE,
        deprecated_rule=base.deprecated_project_rule(PREFIX % "list")),
    policy.DocumentedRuleDefault(
        name=PREFIX % "list:all_projects",
        check_str=base.ADMIN,
        description="List the snapshot policies of every project "
                    "(all_projects=1).",
        operations=[{"method": "GET", "path": BASE_PATH + "?all_projects=1"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "show",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show a snapshot policy, with its last and next run per "
                    "server.",
        operations=[{"method": "GET", "path": BASE_PATH + "/{policy_id}"}],
        scope_types=base.PROJECT_SCOPE,
        deprecated_rule=base.deprecated_project_rule(PREFIX % "show")),
    policy.DocumentedRuleDefault(
        name=PREFIX % "create",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Create a snapshot policy (in another project: "
                    "project_id in the body, administrators).",
        operations=[{"method": "POST", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "update",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Change a snapshot policy's schedule, what it takes or "
                    "what it keeps.",
        operations=[{"method": "PUT", "path": BASE_PATH + "/{policy_id}"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "delete",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Delete a snapshot policy (it is detached; its snapshots "
                    "stay).",
        operations=[{"method": "DELETE", "path": BASE_PATH + "/{policy_id}"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "prune",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Apply a policy's retention now, or preview it "
                    "(dry_run=true).",
        operations=[{"method": "POST",
                     "path": BASE_PATH + "/{policy_id}/action (prune)"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "server:list",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List the snapshot policies attached to a server.",
        operations=[{"method": "GET", "path": SERVER_PATH}],
        scope_types=base.PROJECT_SCOPE,
        deprecated_rule=base.deprecated_project_rule(PREFIX % "server:list")),
    policy.DocumentedRuleDefault(
        name=PREFIX % "server:attach",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Attach a snapshot policy of the server's project to a "
                    "server.",
        operations=[{"method": "POST", "path": SERVER_PATH}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "server:detach",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Detach a snapshot policy from a server (its snapshots "
                    "stay).",
        operations=[{"method": "DELETE", "path": SERVER_PATH + "/{policy_id}"}],
        scope_types=base.PROJECT_SCOPE),
]


def list_rules():
    return rules
