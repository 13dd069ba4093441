"""The defaults in code against Keystone's default roles, rule by rule: a
project's reader lists and shows, its member also changes, an admin does
everything (with the admin role alone), Cinder's service user only calls
os-assisted-volume-snapshots; another project's users, and users with none
of the default roles, get nothing."""

import pytest

from nativesnap.api import auth
from nativesnap.api import wsgi
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap import policies
from nativesnap import policy

READER, MEMBER, ADMIN, ADMIN_OR_SERVICE = ("reader", "member", "admin",
                                           "admin_or_service")

# Every rule of the API and who it is for. A new rule must be added here:
# test_every_rule_is_classified fails until it is.
EXPECTED = {
    "nativesnap:servers:list": READER,
    "nativesnap:servers:list:all_projects": ADMIN,
    "nativesnap:servers:show": READER,
    "nativesnap:servers:adopt": ADMIN,
    "nativesnap:servers:spawn": MEMBER,
    "nativesnap:servers:spawn:node": ADMIN,
    "nativesnap:servers:delete": MEMBER,
    "nativesnap:servers:revert": MEMBER,
    "nativesnap:servers:abort_snapshot": MEMBER,
    "nativesnap:servers:retry_snapshot": MEMBER,
    "nativesnap:snapshots:list": READER,
    "nativesnap:snapshots:list:all_projects": ADMIN,
    "nativesnap:snapshots:show": READER,
    "nativesnap:snapshots:create": MEMBER,
    "nativesnap:snapshots:delete": MEMBER,
    "nativesnap:snapshots:export": MEMBER,
    "nativesnap:images:list": READER,
    "nativesnap:images:list:all_projects": ADMIN,
    "nativesnap:images:show": READER,
    "nativesnap:images:delete": MEMBER,
    "nativesnap:snapshot_policies:list": READER,
    "nativesnap:snapshot_policies:list:all_projects": ADMIN,
    "nativesnap:snapshot_policies:show": READER,
    "nativesnap:snapshot_policies:create": MEMBER,
    "nativesnap:snapshot_policies:update": MEMBER,
    "nativesnap:snapshot_policies:delete": MEMBER,
    "nativesnap:snapshot_policies:prune": MEMBER,
    "nativesnap:snapshot_policies:server:list": READER,
    "nativesnap:snapshot_policies:server:attach": MEMBER,
    "nativesnap:snapshot_policies:server:detach": MEMBER,
    "nativesnap:os_quota_sets:show": READER,
    "nativesnap:os_quota_sets:update": ADMIN,
    "nativesnap:os_quota_sets:delete": ADMIN,
    "nativesnap:os_services:list": ADMIN,
    "nativesnap:os_services:update": ADMIN,
    "nativesnap:baremetal_nodes:create": ADMIN,
    "nativesnap:baremetal_nodes:list": ADMIN,
    "nativesnap:baremetal_nodes:show": ADMIN,
    "nativesnap:baremetal_nodes:delete": ADMIN,
    "nativesnap:os_assisted_volume_snapshots:create": ADMIN_OR_SERVICE,
    "nativesnap:os_assisted_volume_snapshots:delete": ADMIN_OR_SERVICE,
    "nativesnap:os_assisted_volume_snapshots:list": ADMIN_OR_SERVICE,
}

# The check string each kind of rule has by default.
CHECK_STR = {READER: "rule:project_reader_or_admin",
             MEMBER: "rule:project_member_or_admin",
             ADMIN: "rule:context_is_admin",
             ADMIN_OR_SERVICE: "rule:admin_or_service"}


def ctx(roles, project="p1", user="u", **kwargs):
    return ns_context.RequestContext(user_id=user, project_id=project,
                                     roles=roles, **kwargs)


# Who calls, and the kinds of rule each passes on a resource of project p1.
CALLERS = {
    # Keystone's implied roles: a member's token carries reader too.
    "reader of p1": (ctx(["reader"]), {READER}),
    "member of p1": (ctx(["member", "reader"]), {READER, MEMBER}),
    # What noauth2 gives 'admin', and an admin of another project.
    "admin": (ctx(["admin", "member", "reader"], project="ops"),
              {READER, MEMBER, ADMIN, ADMIN_OR_SERVICE}),
    # Implied roles are not needed for an admin to pass everywhere.
    "admin role alone": (ctx(["admin"], project="ops"),
                         {READER, MEMBER, ADMIN, ADMIN_OR_SERVICE}),
    "admin role alone in p1": (ctx(["admin"]),
                               {READER, MEMBER, ADMIN, ADMIN_OR_SERVICE}),
    "service user": (ctx(["service"], project="services", user="cinder"),
                     {ADMIN_OR_SERVICE}),
    "member of p2": (ctx(["member", "reader"], project="p2"), set()),
    "reader of p2": (ctx(["reader"], project="p2"), set()),
    # A role that is none of Keystone's defaults, on the right project.
    "other role on p1": (ctx(["creator"]), set()),
    "no role on p1": (ctx([]), set()),
}


@pytest.fixture(autouse=True)
def fresh_enforcer(tmp_path, config):
    policy.reset()
    policy.get_enforcer()  # registers [oslo_policy]
    config("policy_file", str(tmp_path / "no-such-policy.yaml"),
           group="oslo_policy")
    config("policy_dirs", [], group="oslo_policy")
    policy.reset()
    yield
    policy.reset()


def test_every_rule_is_classified():
    registered = {r.name for r in policies.list_rules()
                  if r.name.startswith("nativesnap:")}
    assert registered == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_default_is_the_kinds_rule_project_scoped(name):
    rule = {r.name: r for r in policies.list_rules()}[name]
    assert rule.check_str == CHECK_STR[EXPECTED[name]]
    assert rule.scope_types == ["project"]


def test_the_base_rules():
    rules = {r.name: r.check_str for r in policies.list_rules()
             if not r.name.startswith("nativesnap:")}
    assert rules == {
        "context_is_admin": "role:admin",
        "admin_or_service": "role:admin or role:service",
        "project_reader_or_admin":
            "rule:context_is_admin or (role:reader and project_id:%(project_id)s)",
        "project_member_or_admin":
            "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
    }


@pytest.mark.parametrize("caller", sorted(CALLERS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_who_passes_each_rule(name, caller):
    context, passes = CALLERS[caller]
    allowed = EXPECTED[name] in passes
    # The target of a project's resource (or listing), and the empty one the
    # project-less routes are checked against.
    for target in ({"project_id": "p1"}, {}):
        if target == {} and EXPECTED[name] in (READER, MEMBER):
            continue  # project rules always get the project
        assert bool(policy.authorize(context, name, target, fatal=False)) \
            is allowed, (caller, name, target)
        if not allowed:
            with pytest.raises(exception.Forbidden):
                policy.authorize(context, name, target)


def _not_found():
    return exception.ServerNotFound(server_id="s-1")


@pytest.mark.parametrize("name", sorted(n for n, kind in EXPECTED.items()
                                        if kind == MEMBER))
def test_a_reader_is_refused_changes_in_their_project_with_403(name):
    with pytest.raises(exception.Forbidden) as info:
        policy.authorize_resource(ctx(["reader"]), name, "p1", _not_found())
    assert info.value.code == 403


@pytest.mark.parametrize("name", sorted(n for n, kind in EXPECTED.items()
                                        if kind in (READER, MEMBER)))
@pytest.mark.parametrize("roles", [["reader"], ["member", "reader"]])
def test_another_projects_resource_is_a_404_for_readers_and_members(
        name, roles):
    with pytest.raises(exception.ServerNotFound) as info:
        policy.authorize_resource(ctx(roles, project="p2"), name, "p1",
                                  _not_found())
    assert info.value.code == 404


@pytest.mark.parametrize("name", sorted(n for n, kind in EXPECTED.items()
                                        if kind in (READER, MEMBER)))
def test_an_admin_acts_on_any_projects_resource(name):
    assert policy.authorize_resource(ctx(["admin"], project="ops"), name, "p1",
                                     _not_found()) is None


def test_a_system_scoped_token_is_refused_with_403_not_an_error():
    # Every rule is for project scope; oslo.policy enforces scope types.
    system_admin = ctx(["admin", "member", "reader"], project=None,
                       system_scope="all")
    assert not policy.authorize(system_admin, "nativesnap:servers:list:all_projects",
                                {}, fatal=False)
    with pytest.raises(exception.Forbidden):
        policy.authorize(system_admin, "nativesnap:servers:list:all_projects", {})


# oslo.policy warns of each deprecated default it or's in: expected here.
@pytest.mark.filterwarnings("ignore:Policy .* was deprecated:UserWarning")
def test_the_old_defaults_come_back_only_without_enforce_new_defaults(config):
    # enforce_new_defaults = True (oslo.policy's default): the roles rule.
    other_role = ctx(["creator"])
    reader = ctx(["reader"])
    assert not policy.authorize(other_role, "nativesnap:servers:show",
                                {"project_id": "p1"}, fatal=False)
    assert not policy.authorize(reader, "nativesnap:servers:delete",
                                {"project_id": "p1"}, fatal=False)
    # False: the deprecated defaults are or'ed in, any role on the project
    # passes the project rules as before; other projects still do not.
    config("enforce_new_defaults", False, group="oslo_policy")
    policy.reset()
    for name in ("nativesnap:servers:show", "nativesnap:servers:delete",
                 "nativesnap:os_quota_sets:show",
                 "nativesnap:snapshot_policies:server:list"):
        assert policy.authorize(other_role, name, {"project_id": "p1"},
                                fatal=False), name
        assert policy.authorize(reader, name, {"project_id": "p1"},
                                fatal=False), name
        assert not policy.authorize(ctx(["member"], project="p2"), name,
                                    {"project_id": "p1"}, fatal=False), name
    assert not policy.authorize(other_role, "nativesnap:servers:adopt",
                                {"project_id": "p1"}, fatal=False)


def test_a_policy_file_keeps_ruling_a_rule_it_sets(tmp_path, config):
    # An operator's file written for the old defaults keeps its meaning: a
    # rule it names is that rule, whatever the new default.
    path = tmp_path / "policy.yaml"
    path.write_text('"nativesnap:servers:show": "project_id:%(project_id)s"\n'
                    '"project_member_or_admin": '
                    '"rule:context_is_admin or project_id:%(project_id)s"\n')
    config("policy_file", str(path), group="oslo_policy")
    policy.reset()
    other_role = ctx(["creator"])
    for name in ("nativesnap:servers:show", "nativesnap:servers:delete",
                 "nativesnap:snapshots:create"):
        assert policy.authorize(other_role, name, {"project_id": "p1"},
                                fatal=False), name
    # A read rule the file does not name has the new default.
    assert not policy.authorize(other_role, "nativesnap:snapshots:show",
                                {"project_id": "p1"}, fatal=False)


def _noauth2(token):
    req = wsgi.Request.blank("/v1/servers", headers={"X-Auth-Token": token})
    return auth.noauth2(req)


def test_noauth2_gives_admin_every_role_and_others_member_and_reader():
    admin = _noauth2("admin:ops")
    assert sorted(admin.roles) == ["admin", "member", "reader"]
    assert admin.project_id == "ops"
    alice = _noauth2("alice:p1")
    assert sorted(alice.roles) == ["member", "reader"]
    assert alice.project_id == "p1"
    assert policy.authorize(alice, "nativesnap:snapshots:create",
                            {"project_id": "p1"})
    assert not policy.authorize(alice, "nativesnap:servers:adopt",
                                {"project_id": "p1"}, fatal=False)
