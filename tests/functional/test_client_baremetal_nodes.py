"""``nativesnap baremetal node create|list|show|delete`` (and ``openstack
native baremetal node ...``) as an operator runs them: the venv's console
scripts against a real nativesnap-api, secrets read from a file and from
standard input, never printed back."""

import subprocess

from tests.functional import client_helpers as cli
from tests.functional import helpers

pytest_plugins = ["tests.functional.client_fixtures"]

TOKEN = "cli-agent-token-" + helpers.unique()
PASSWORD = "cli-bmc-password-" + helpers.unique()
NODE_FIELDS = ["id", "name", "agent_url", "root_device_hint", "power",
               "last_heartbeat_at", "agent_version", "server_id",
               "created_at", "updated_at"]
NODE_LIST = ["ID", "Name", "Agent URL", "Power", "Server ID",
             "Last Heartbeat At"]
NODE_LIST_LONG = NODE_LIST + ["Agent Version", "Root Device Hint",
                              "Redfish Address", "Created At"]


def run_with_stdin(api, *args, token, stdin):
    environ = cli.clean_env(NATIVESNAP_URL=api.url, NATIVESNAP_TOKEN=token)
    return subprocess.run([cli.NATIVESNAP, *args], capture_output=True,
                          text=True, timeout=120, env=environ, input=stdin)


def no_secrets(result):
    for secret in (TOKEN, PASSWORD):
        assert secret not in result.stdout and secret not in result.stderr


def test_create_list_show_and_delete_a_node(client_api, admin_token, tmp_path):
    token_file = tmp_path / "agent.token"
    token_file.write_text(TOKEN + "\n")
    name = helpers.unique("rack1-")
    created = run_with_stdin(
        client_api, "baremetal", "node", "create", name,
        "--agent-url", "https://10.0.0.5:9999",
        "--agent-token-file", str(token_file),
        "--root-device-hint-serial", "S3Z1NB0K", "--root-device-hint-size", "40",
        "--redfish-address", "https://10.0.1.6", "--redfish-system-id",
        "/redfish/v1/Systems/1", "--redfish-username", "root",
        "--redfish-password-file", "-", "--no-redfish-verify-ca",
        "-f", "json", token=admin_token, stdin=PASSWORD + "\n")
    no_secrets(created)
    node = cli.ok_json(created)
    assert list(node) == NODE_FIELDS
    assert node["power"] == {"interface": "redfish",
                             "address": "https://10.0.1.6",
                             "system_id": "/redfish/v1/Systems/1",
                             "username": "root", "verify_ca": False}
    assert node["root_device_hint"] == {"serial": "S3Z1NB0K", "size": 40}
    # The API stored what was read: the same token, without its newline.
    stored = helpers.db_query(
        client_api, "SELECT agent_token, redfish_password FROM "
        "baremetal_nodes WHERE id = :id", id=node["id"])
    assert stored == [(TOKEN, PASSWORD)]

    listed = cli.run(client_api, "baremetal", "node", "list", "-f", "json",
                     token=admin_token)
    no_secrets(listed)
    rows = [r for r in cli.ok_json(listed) if r["ID"] == node["id"]]
    assert rows == [{"ID": node["id"], "Name": name,
                     "Agent URL": "https://10.0.0.5:9999", "Power": "redfish",
                     "Server ID": None, "Last Heartbeat At": None}]
    long_rows = cli.ok_json(cli.run(client_api, "baremetal", "node", "list",
                                    "--long", "-f", "json", token=admin_token))
    assert list(long_rows[0]) == NODE_LIST_LONG

    shown = cli.run(client_api, "baremetal", "node", "show", name, "-f",
                    "json", token=admin_token)
    no_secrets(shown)
    assert cli.ok_json(shown)["id"] == node["id"]

    assert cli.ok(cli.run(client_api, "baremetal", "node", "delete", name,
                          token=admin_token)) == ""
    cli.fails(cli.run(client_api, "baremetal", "node", "show", node["id"],
                      token=admin_token), node["id"], "HTTP 404")


def test_errors_exit_1_with_the_apis_message_and_no_secret(client_api,
                                                          admin_token,
                                                          tmp_path):
    token_file = tmp_path / "agent.token"
    token_file.write_text(TOKEN)
    bad = cli.run(client_api, "baremetal", "node", "create", "n",
                  "--agent-url", "ftp://10.0.0.5", "--agent-token-file",
                  str(token_file), token=admin_token)
    cli.fails(bad, "node/agent_url", "http://", "HTTP 400")
    no_secrets(bad)
    member = cli.run(client_api, "baremetal", "node", "list",
                     token="alice:proj-a")
    cli.fails(member, "nativesnap:baremetal_nodes:list", "HTTP 403")
    # A secret on the command line is a usage error, never a request.
    usage = cli.run(client_api, "baremetal", "node", "create", "n",
                    "--agent-url", "https://a", "--agent-token", TOKEN,
                    token=admin_token)
    assert usage.returncode == 2 and "--agent-token" in usage.stderr


def test_openstack_native_baremetal_node_commands(client_api, admin_token,
                                                  tmp_path):
    token_file = tmp_path / "agent.token"
    token_file.write_text(TOKEN)
    name = helpers.unique("osc-")
    created = cli.openstack(client_api, "native", "baremetal", "node",
                            "create", name, "--agent-url", "http://10.0.0.7:9999",
                            "--agent-token-file", str(token_file), "-f",
                            "json", token=admin_token)
    no_secrets(created)
    node = cli.ok_json(created)
    assert node["power"]["interface"] == "none"
    rows = cli.ok_json(cli.openstack(client_api, "native", "baremetal", "node",
                                     "list", "-f", "json", token=admin_token))
    assert node["id"] in [r["ID"] for r in rows]
    assert cli.ok(cli.openstack(client_api, "native", "baremetal", "node",
                                "delete", node["id"], token=admin_token)) == ""
    out = cli.ok(cli.openstack(client_api, "native", "baremetal", "node",
                               "create", "--help", token=admin_token))
    assert "  openstack native baremetal node create rack1-n1" in out
