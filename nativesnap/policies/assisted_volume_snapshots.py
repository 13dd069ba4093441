"""Policies of os-assisted-volume-snapshots: Cinder calling, administrators
looking. Checked against an empty target, as Nova does: Cinder's service user
acts for volumes of every project."""

from oslo_policy import policy

from nativesnap.policies import base

PREFIX = "nativesnap:os_assisted_volume_snapshots:%s"
BASE_PATH = "/v1/os-assisted-volume-snapshots"

rules = [
    policy.DocumentedRuleDefault(
        PREFIX % "create", base.ADMIN_OR_SERVICE,
        "Snapshot an attached volume for Cinder (its remotefs drivers); also "
        "served at /v2.1 for Cinder's Nova client.",
        [{"method": "POST", "path": BASE_PATH},
         {"method": "POST", "path": "/v2.1/os-assisted-volume-snapshots"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "delete", base.ADMIN_OR_SERVICE,
        "Merge a volume snapshot's file out of an attached volume's chain for "
        "Cinder; also served at /v2.1.",
        [{"method": "DELETE", "path": BASE_PATH + "/{snapshot_id}"},
         {"method": "DELETE",
          "path": "/v2.1/os-assisted-volume-snapshots/{snapshot_id}"}]),
    policy.DocumentedRuleDefault(
        PREFIX % "list", base.ADMIN_OR_SERVICE,
        "List the recent assisted volume snapshot requests and their outcome.",
        [{"method": "GET", "path": BASE_PATH}]),
]


def list_rules():
    return rules
