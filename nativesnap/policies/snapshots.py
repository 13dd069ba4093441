"""Policies of server snapshots (/v1/servers/{id}/snapshots and
/v1/snapshots): a project's readers list and show them, its members take,
delete and export them."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:snapshots:%s"
BASE_PATH = "/v1/servers/{server_id}/snapshots"

rules = [
    policy.DocumentedRuleDefault(
        name=PREFIX % "list",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List snapshots of a server, or all of the caller's "
                    "project's snapshots.",
        operations=[{"method": "GET", "path": BASE_PATH},
                    {"method": "GET", "path": "/v1/snapshots"}],
        scope_types=base.PROJECT_SCOPE,
        deprecated_rule=base.deprecated_project_rule(PREFIX % "list")),
    policy.DocumentedRuleDefault(
        name=PREFIX % "list:all_projects",
        check_str=base.ADMIN,
        description="List snapshots of every project (all_projects=1).",
        operations=[{"method": "GET", "path": "/v1/snapshots?all_projects=1"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "show",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show a snapshot.",
        operations=[{"method": "GET", "path": BASE_PATH + "/{snapshot_id}"}],
        scope_types=base.PROJECT_SCOPE,
        deprecated_rule=base.deprecated_project_rule(PREFIX % "show")),
    policy.DocumentedRuleDefault(
        name=PREFIX % "create",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Snapshot a server.",
        operations=[{"method": "POST", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "delete",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Delete a snapshot.",
        operations=[{"method": "DELETE",
                     "path": BASE_PATH + "/{snapshot_id}"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "export",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Export a snapshot's disk state as an image into the "
                    "image store.",
        operations=[{"method": "POST",
                     "path": BASE_PATH + "/{snapshot_id}/action (export)"}],
        scope_types=base.PROJECT_SCOPE),
]


def list_rules():
    return rules
