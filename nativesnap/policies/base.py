"""Rules that the resource policies are written in terms of."""

from oslo_policy import policy

ADMIN = "rule:context_is_admin"
ADMIN_OR_SERVICE = "rule:admin_or_service"
PROJECT_MEMBER_OR_ADMIN = "rule:project_member_or_admin"

rules = [
    policy.RuleDefault("context_is_admin", "role:admin",
                       description="Who is an administrator of the whole service."),
    policy.RuleDefault("admin_or_service", "role:admin or role:service",
                       description="Administrators and other OpenStack services "
                                   "(e.g. Cinder calling back)."),
    policy.RuleDefault("project_member_or_admin",
                       "rule:context_is_admin or project_id:%(project_id)s",
                       description="Members of the project that owns the resource, "
                                   "and administrators."),
]


def list_rules():
    return rules
