"""The ``nativesnap`` CLI and ``openstack native ...`` against the session's
real Keystone (tests/keystone_fixtures.py), configured as a user of a cloud
is: only OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME,
OS_USER_DOMAIN_NAME and OS_PROJECT_DOMAIN_NAME, no endpoint. They
authenticate with the password, find nativesnap's endpoint in the token's
catalog (service type ``snapshot``, docs/client.md) and list servers through
a nativesnap-api (fake driver, ``[api] auth_strategy = keystone``): a member
sees their project's server only, an administrator with ``--all-projects``
both projects' servers; without the catalog entry the CLI says so.
"""

import subprocess

import pytest

from tests.functional import client_helpers as cli
from tests.functional import helpers as h

pytest_plugins = ["tests.keystone_fixtures"]


@pytest.fixture(scope="module")
def ks_api(keystone, tmp_path_factory):
    server = keystone.start_api(str(tmp_path_factory.mktemp("api-keystone-cli")))
    keystone.register_endpoint(server.url)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def servers(ks_api, keystone):
    """One server in each project, adopted by the administrator: {project: server}."""
    admin = keystone.token("A-admin")
    return {project: h.adopt(ks_api, project_id=keystone.projects[project],
                             token=admin)
            for project in ("project-A", "project-B")}


def os_env(keystone, user):
    """The six OS_* variables of ``user`` in its own project."""
    u = keystone.users[user]
    return {"OS_AUTH_URL": keystone.auth_url, "OS_USERNAME": u.name,
            "OS_PASSWORD": u.password, "OS_PROJECT_NAME": u.project,
            "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default"}


def nativesnap(keystone, user, *args):
    return cli.run(None, *args, token=None, env=os_env(keystone, user))


def openstack(keystone, user, *args, timeout=120):
    return subprocess.run([cli.OPENSTACK, *args], capture_output=True, text=True,
                          timeout=timeout, env=cli.clean_env(**os_env(keystone, user)),
                          stdin=subprocess.DEVNULL)


def _listed(rows):
    return sorted((row["ID"], row.get("Project ID")) for row in rows)


def test_the_cli_finds_the_endpoint_in_the_catalog_and_lists_a_members_servers(
        keystone, servers):
    rows = cli.ok_json(nativesnap(keystone, "A-member", "server", "list",
                                  "--long", "-f", "json"))
    server = servers["project-A"]
    assert _listed(rows) == [(server["id"], keystone.projects["project-A"])]


def test_the_cli_lists_both_projects_servers_for_an_admin_with_all_projects(
        keystone, servers):
    rows = cli.ok_json(nativesnap(keystone, "A-admin", "server", "list",
                                  "--all-projects", "--long", "-f", "json"))
    assert _listed(rows) == sorted((s["id"], keystone.projects[project])
                                   for project, s in servers.items())


def test_the_cli_shows_a_readers_403_from_the_api(keystone, servers):
    cli.fails(nativesnap(keystone, "A-reader", "snapshot", "create", "--server",
                         servers["project-A"]["id"], "by-reader"), "HTTP 403")


def test_without_the_catalog_entry_the_cli_says_to_give_the_url(
        keystone, ks_api, servers):
    keystone.remove_endpoints()
    try:
        cli.fails(nativesnap(keystone, "A-member", "server", "list"),
                  "No 'snapshot' endpoint in the service catalog",
                  "--url or NATIVESNAP_URL")
    finally:
        keystone.register_endpoint(ks_api.url)
    assert cli.ok_json(nativesnap(keystone, "A-member", "server", "list",
                                  "-f", "json"))[0]["ID"] == servers["project-A"]["id"]


def test_openstack_native_finds_the_endpoint_in_the_catalog_for_a_member(
        keystone, servers):
    rows = cli.ok_json(openstack(keystone, "B-member", "native", "server",
                                 "list", "--long", "-f", "json"))
    server = servers["project-B"]
    assert _listed(rows) == [(server["id"], keystone.projects["project-B"])]


def test_openstack_native_lists_both_projects_servers_for_an_admin(
        keystone, servers):
    rows = cli.ok_json(openstack(keystone, "A-admin", "native", "server", "list",
                                 "--all-projects", "--long", "-f", "json"))
    assert _listed(rows) == sorted((s["id"], keystone.projects[project])
                                   for project, s in servers.items())
