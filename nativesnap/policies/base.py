"""Rules that the resource policies are written in terms of: Keystone's
default roles (``reader``, ``member``, ``admin``, and ``service`` for other
OpenStack services), project-scoped, as Nova and Cinder define their defaults.

- a project's ``reader`` lists and shows its resources;
- a project's ``member`` also changes them;
- ``admin`` may do everything, in every project (the rules name it, rather
  than relying on Keystone's implied roles admin → member → reader);
- ``service`` (Cinder calling back) only where a rule says so
  (``admin_or_service``).

Keystone's implied roles make a member a reader too: a token of a user given
``member`` on a project carries both roles.
"""

from oslo_policy import policy

ADMIN = "rule:context_is_admin"
ADMIN_OR_SERVICE = "rule:admin_or_service"
PROJECT_READER_OR_ADMIN = "rule:project_reader_or_admin"
PROJECT_MEMBER_OR_ADMIN = "rule:project_member_or_admin"

# Every rule of the API is meant for project-scoped tokens (nativesnap's
# resources belong to projects; administrators and services act from theirs).
PROJECT_SCOPE = ["project"]

# The release whose defaults became role-based.
DEPRECATED_SINCE = "0.1.0"
DEPRECATED_REASON = (
    "nativesnap's policies now follow Keystone's default roles: a project's "
    "reader lists and shows, a project's member also makes changes, an admin "
    "does everything. Before, any role on the project did what a member does "
    "now. The old default is or'ed with the new one only with [oslo_policy] "
    "enforce_new_defaults = False; to keep it for good, copy it into the "
    "policy file.")

# The one rule every project rule was before the roles: any role on the
# resource's project, or an administrator.
_OLD_PROJECT_RULE = "rule:context_is_admin or project_id:%(project_id)s"


def deprecated_project_rule(name):
    """The default a read rule (now the reader's) had before the roles:
    ``rule:project_member_or_admin``, under the rule's own name, so that it
    is or'ed with the new default when [oslo_policy] enforce_new_defaults is
    False. A policy file's setting of ``name`` wins either way."""
    return policy.DeprecatedRule(name=name, check_str=PROJECT_MEMBER_OR_ADMIN,
                                 deprecated_reason=DEPRECATED_REASON,
                                 deprecated_since=DEPRECATED_SINCE)


rules = [
    policy.RuleDefault("context_is_admin", "role:admin",
                       description="Who is an administrator of the whole "
                                   "service: every project, every route."),
    policy.RuleDefault("admin_or_service", "role:admin or role:service",
                       description="Administrators and other OpenStack services "
                                   "(e.g. Cinder calling back)."),
    policy.RuleDefault("project_reader_or_admin",
                       "rule:context_is_admin or "
                       "(role:reader and project_id:%(project_id)s)",
                       description="Readers of the project that owns the "
                                   "resource (members too, by Keystone's implied "
                                   "roles), and administrators: what lists and "
                                   "shows."),
    policy.RuleDefault("project_member_or_admin",
                       "rule:context_is_admin or "
                       "(role:member and project_id:%(project_id)s)",
                       description="Members of the project that owns the "
                                   "resource, and administrators: what makes "
                                   "changes.",
                       deprecated_rule=policy.DeprecatedRule(
                           name="project_member_or_admin",
                           check_str=_OLD_PROJECT_RULE,
                           deprecated_reason=DEPRECATED_REASON,
                           deprecated_since=DEPRECATED_SINCE)),
]


def list_rules():
    return rules
