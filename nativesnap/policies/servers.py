"""Policies of /v1/servers: a project's readers list and show its servers,
its members change them; adopting and choosing a bare-metal node are the
administrators'."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:servers:%s"
BASE_PATH = "/v1/servers"

rules = [
    policy.DocumentedRuleDefault(
        name=PREFIX % "list",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List the servers of the caller's project.",
        operations=[{"method": "GET", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE,
        deprecated_rule=base.deprecated_project_rule(PREFIX % "list")),
    policy.DocumentedRuleDefault(
        name=PREFIX % "list:all_projects",
        check_str=base.ADMIN,
        description="List servers of every project (all_projects=1).",
        operations=[{"method": "GET", "path": BASE_PATH + "?all_projects=1"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "show",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show a server.",
        operations=[{"method": "GET", "path": BASE_PATH + "/{server_id}"}],
        scope_types=base.PROJECT_SCOPE,
        deprecated_rule=base.deprecated_project_rule(PREFIX % "show")),
    policy.DocumentedRuleDefault(
        name=PREFIX % "adopt",
        check_str=base.ADMIN,
        description="Put an existing hypervisor object under nativesnap's "
                    "management.",
        operations=[{"method": "POST", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "spawn",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Spawn a new server from a snapshot of the caller's "
                    "project.",
        operations=[{"method": "POST", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "delete",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Delete a server: a spawned one is destroyed, an adopted "
                    "one forgotten.",
        operations=[{"method": "DELETE", "path": BASE_PATH + "/{server_id}"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "revert",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Revert a server in place to one of its snapshots.",
        operations=[{"method": "POST",
                     "path": BASE_PATH + "/{server_id}/action (revert)"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "spawn:node",
        check_str=base.ADMIN,
        description="Name the bare-metal node a spawned server goes on "
                    "('node'); without it, the first free node is taken.",
        operations=[{"method": "POST", "path": BASE_PATH + " (node)"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "abort_snapshot",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Give up a bare-metal server's snapshot that waits for "
                    "its agent or has failed.",
        operations=[{"method": "POST",
                     "path": BASE_PATH + "/{server_id}/action (abort_snapshot)"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "retry_snapshot",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Take a bare-metal server's failed snapshot again.",
        operations=[{"method": "POST",
                     "path": BASE_PATH + "/{server_id}/action (retry_snapshot)"}],
        scope_types=base.PROJECT_SCOPE),
]


def list_rules():
    return rules
