"""Policies of os-assisted-volume-snapshots: Cinder calling (its service
user, with the ``service`` role), administrators looking. Checked against an
empty target, as Nova does: Cinder's service user acts for volumes of every
project."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:os_assisted_volume_snapshots:%s"
BASE_PATH = "/v1/os-assisted-volume-snapshots"

rules = [
    policy.DocumentedRuleDefault(
        name=PREFIX % "create",
        check_str=base.ADMIN_OR_SERVICE,
        description="Snapshot an attached volume for Cinder (its remotefs "
                    "drivers); also served at /v2.1 for Cinder's Nova client.",
        operations=[{"method": "POST", "path": BASE_PATH},
                    {"method": "POST",
                     "path": "/v2.1/os-assisted-volume-snapshots"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "delete",
        check_str=base.ADMIN_OR_SERVICE,
        description="Merge a volume snapshot's file out of an attached "
                    "volume's chain for Cinder; also served at /v2.1.",
        operations=[{"method": "DELETE", "path": BASE_PATH + "/{snapshot_id}"},
                    {"method": "DELETE",
                     "path": "/v2.1/os-assisted-volume-snapshots/{snapshot_id}"}],
        scope_types=base.PROJECT_SCOPE),
    policy.DocumentedRuleDefault(
        name=PREFIX % "list",
        check_str=base.ADMIN_OR_SERVICE,
        description="List the recent assisted volume snapshot requests and "
                    "their outcome.",
        operations=[{"method": "GET", "path": BASE_PATH}],
        scope_types=base.PROJECT_SCOPE),
]


def list_rules():
    return rules
