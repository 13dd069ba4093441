"""The python-openstackclient plugin: a real ``openstack`` command loads it
(entry points ``openstack.cli.extension`` and ``openstack.native.v1``) and runs
the same command classes against a real nativesnap-api. noauth2 goes through
keystoneauth's admin_token plugin (``--os-endpoint`` + ``--os-token``)."""

from tests.functional import client_helpers as cli
from tests.functional import helpers

pytest_plugins = ["tests.functional.client_fixtures"]


def test_openstack_native_server_list_lists_servers_through_the_plugin(
        client_api, admin_token):
    server = helpers.adopt(client_api, project_id=None, token=admin_token)
    rows = cli.ok_json(cli.openstack(client_api, "native", "server", "list",
                                     "-f", "json", token=admin_token))
    assert rows == [{"ID": server["id"], "Name": server["name"],
                     "Status": "ACTIVE", "Task State": None, "Driver": "fake",
                     "Hypervisor Ref": server["hypervisor_ref"],
                     "Origin": "adopted"}]


def test_openstack_native_snapshot_create_wait_and_list_as_json(client_api,
                                                                admin_token):
    server = helpers.adopt(client_api, project_id=None, token=admin_token,
                           prefix="slow-")
    created = cli.ok_json(cli.openstack(
        client_api, "native", "snapshot", "create", "--server", server["id"],
        "osc-snap", "--wait", "--timeout", "30", "-f", "json",
        token=admin_token))
    assert created["status"] == "available" and created["images"] == []
    rows = cli.ok_json(cli.openstack(client_api, "native", "snapshot", "list",
                                     "-f", "json", token=admin_token))
    assert [(r["ID"], r["Name"], r["Status"], r["Current"]) for r in rows] == [
        (created["id"], "osc-snap", "available", True)]
    assert list(rows[0]) == ["ID", "Name", "Server ID", "Status", "Progress",
                             "Kind", "Consistency", "Current", "Created At"]


def test_openstack_native_image_list_show_and_delete(client_api, admin_token):
    server = helpers.adopt(client_api, project_id=None, token=admin_token)
    snap = helpers.available_snapshot(client_api, server["id"],
                                      token=admin_token)
    exported = helpers.export(client_api, server["id"], snap["id"],
                              token=admin_token, image_name="osc-image")
    shown = cli.ok_json(cli.openstack(
        client_api, "native", "image", "show", "osc-image", "-f", "json",
        token=admin_token))
    assert shown["id"] == exported["id"] and shown["snapshot_id"] == snap["id"]
    assert "links" not in shown
    rows = cli.ok_json(cli.openstack(client_api, "native", "image", "list",
                                     "--snapshot", snap["id"], "-f", "json",
                                     token=admin_token))
    assert [r["ID"] for r in rows] == [exported["id"]]
    assert list(rows[0]) == ["ID", "Name", "Status", "Progress", "Disk Format",
                             "Size Bytes", "Snapshot ID", "Created At"]
    helpers.wait_idle(client_api, server["id"], admin_token)
    assert cli.ok(cli.openstack(client_api, "native", "image", "delete",
                                exported["id"], token=admin_token)) == ""
    cli.fails(cli.openstack(client_api, "native", "image", "show",
                            exported["id"], token=admin_token),
              f"Image {exported['id']} could not be found.", "HTTP 404")


def test_openstack_native_errors_exit_1_with_the_api_message(client_api,
                                                            admin_token):
    server = helpers.adopt(client_api, project_id=None, token=admin_token)
    missing = "00000000-0000-4000-8000-000000000003"
    cli.fails(cli.openstack(client_api, "native", "snapshot", "show",
                            "--server", server["id"], missing,
                            token=admin_token),
              f"Snapshot {missing} could not be found.", "HTTP 404")


def test_openstack_native_api_version_option_pins_the_microversion(
        client_api, admin_token):
    server = helpers.adopt(client_api, project_id=None, token=admin_token)
    snap = helpers.available_snapshot(client_api, server["id"],
                                      token=admin_token)
    shown = cli.ok_json(cli.openstack(
        client_api, "--os-native-api-version", "1.0", "native", "snapshot",
        "show", snap["id"], "-f", "json", token=admin_token))
    assert shown["id"] == snap["id"] and "images" not in shown


def test_openstack_native_help_shows_the_examples_as_openstack_commands(
        client_api, admin_token):
    out = cli.ok(cli.openstack(client_api, "native", "server", "revert",
                               "--help", token=admin_token))
    assert "usage: openstack native server revert" in out
    assert "  openstack native server revert web1 before-upgrade --wait" in out
