"""Policy enforcement (nativesnap/policy.py) with the defaults in code: own
project passes, another project's resource is invisible (404), admin-only
rules refuse members. Rule by rule and role by role:
tests/unit/policies/test_roles.py."""

import pytest

from nativesnap.conf import CONF
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap import policies
from nativesnap import policy


@pytest.fixture(autouse=True)
def fresh_enforcer(tmp_path, config):
    policy.reset()
    policy.get_enforcer()  # registers [oslo_policy]
    # Point at a policy file that does not exist: the defaults in code rule.
    config("policy_file", str(tmp_path / "no-such-policy.yaml"),
           group="oslo_policy")
    config("policy_dirs", [], group="oslo_policy")
    policy.reset()
    yield
    policy.reset()


def member(project="p1", user="alice"):
    return ns_context.RequestContext(user_id=user, project_id=project,
                                     roles=["member", "reader"])


def admin(project="admin-project"):
    return ns_context.RequestContext(user_id="admin", project_id=project,
                                     roles=["admin", "member", "reader"])


# The rules of a project's resources: its readers' (lists, shows) and its
# members' (changes); tests/unit/policies/test_roles.py tells them apart.
PROJECT_RULES = sorted(
    r.name for r in policies.list_rules()
    if r.name.startswith("nativesnap:")
    and r.check_str in ("rule:project_reader_or_admin",
                        "rule:project_member_or_admin"))
ADMIN_RULES = ["nativesnap:servers:adopt", "nativesnap:servers:list:all_projects",
               "nativesnap:snapshots:list:all_projects",
               "nativesnap:baremetal_nodes:create",
               "nativesnap:baremetal_nodes:list",
               "nativesnap:baremetal_nodes:show",
               "nativesnap:baremetal_nodes:delete",
               "nativesnap:servers:spawn:node",
               "nativesnap:snapshot_policies:list:all_projects",
               "nativesnap:os_quota_sets:update",
               "nativesnap:os_quota_sets:delete"]


def test_every_documented_rule_has_a_default_in_code():
    names = {r.name for r in policies.list_rules()}
    assert set(ADMIN_RULES) <= names
    assert {"nativesnap:servers:show", "nativesnap:servers:revert",
            "nativesnap:snapshots:create", "nativesnap:snapshots:delete",
            "nativesnap:snapshots:export",
            "nativesnap:snapshot_policies:create",
            "nativesnap:snapshot_policies:prune",
            "nativesnap:snapshot_policies:server:attach",
            "nativesnap:os_quota_sets:show"} <= set(PROJECT_RULES)
    assert len(names) == len(policies.list_rules())  # no rule registered twice


def test_defaults_work_without_a_policy_file():
    assert not CONF.find_file(CONF.oslo_policy.policy_file)
    assert policy.authorize(member(), "nativesnap:servers:show",
                            {"project_id": "p1"})


@pytest.mark.parametrize("action", PROJECT_RULES)
def test_member_of_the_same_project_passes(action):
    assert policy.authorize_resource(
        member("p1"), action, "p1",
        not_found=exception.ServerNotFound(server_id="x")) is None


@pytest.mark.parametrize("action", PROJECT_RULES)
def test_member_of_another_project_gets_not_found(action):
    not_found = exception.SnapshotNotFound(snapshot_id="s-1")
    with pytest.raises(exception.SnapshotNotFound) as info:
        policy.authorize_resource(member("p2"), action, "p1", not_found=not_found)
    assert info.value is not_found
    assert info.value.code == 404


@pytest.mark.parametrize("action", PROJECT_RULES)
def test_admin_passes_for_any_project(action):
    assert policy.authorize_resource(
        admin(), action, "p1",
        not_found=exception.ServerNotFound(server_id="x")) is None


@pytest.mark.parametrize("action", ADMIN_RULES)
def test_admin_only_rules_refuse_members_with_403(action):
    with pytest.raises(exception.Forbidden) as info:
        policy.authorize(member("p1"), action, {"project_id": "p1"})
    assert info.value.code == 403
    assert action in str(info.value)


@pytest.mark.parametrize("action", ADMIN_RULES)
def test_admin_only_rules_pass_for_admins(action):
    assert policy.authorize(admin(), action, {"project_id": "p1"})


def test_admin_only_rule_refuses_a_member_of_the_owning_project_with_403():
    # Own project, but the rule is admin-only: forbidden, not hidden.
    with pytest.raises(exception.Forbidden):
        policy.authorize_resource(member("p1"), "nativesnap:servers:adopt", "p1",
                                  not_found=exception.ServerNotFound(server_id="x"))


def test_service_role_is_admin_or_service_but_not_admin():
    service = ns_context.RequestContext(user_id="cinder", project_id="services",
                                        roles=["service"])
    assert policy.authorize(service, "admin_or_service", {})
    assert not policy.authorize(service, "context_is_admin", {}, fatal=False)
    assert not policy.authorize(member(), "admin_or_service", {}, fatal=False)


def test_unregistered_action_is_forbidden():
    with pytest.raises(exception.Forbidden):
        policy.authorize(admin(), "nativesnap:no:such:rule", {})


def test_policy_file_overrides_a_default(tmp_path, config):
    path = tmp_path / "policy.yaml"
    path.write_text('"nativesnap:snapshots:delete": "rule:context_is_admin"\n')
    config("policy_file", str(path), group="oslo_policy")
    policy.reset()
    with pytest.raises(exception.Forbidden):
        # Own project, denied by the operator's stricter rule: 403, not 404.
        policy.authorize_resource(member("p1"), "nativesnap:snapshots:delete",
                                  "p1", not_found=exception.NotFound())
    with pytest.raises(exception.NotFound):
        policy.authorize_resource(member("p2"), "nativesnap:snapshots:delete",
                                  "p1", not_found=exception.NotFound())
    policy.authorize_resource(admin(), "nativesnap:snapshots:delete", "p1",
                              not_found=exception.NotFound())


@pytest.mark.parametrize("action", [r for r in ADMIN_RULES
                                    if r.startswith("nativesnap:baremetal")])
def test_baremetal_node_rules_refuse_members_and_services_with_403(action):
    # Nodes belong to no project: the rules are checked against an empty
    # target, and neither a member nor a service user passes.
    service = ns_context.RequestContext(user_id="cinder", project_id="services",
                                        roles=["service"])
    for caller in (member("p1"), service):
        with pytest.raises(exception.Forbidden):
            policy.authorize(caller, action, {})
    assert policy.authorize(admin(), action, {})
