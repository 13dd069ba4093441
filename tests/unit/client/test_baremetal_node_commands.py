"""``nativesnap baremetal node ...`` without a server: options become the
body the API expects, secrets are read from files or standard input (never
taken from the command line), and the commands are registered for both
CLIs."""

import io

import pytest

from nativesnap.client.commands import baremetal_nodes as cmds
from nativesnap.client import commands
from nativesnap.client import exceptions
from nativesnap.client import resource as res
from nativesnap.client import shell

TOKEN = "agent-token-0123456789"
PASSWORD = "bmc pa55word"
VIEW = {"id": "3f1e0c6a-2b5d-4c1e-9a55-9d5f4f1e2c3a", "name": "n1",
        "agent_url": "https://10.0.0.5:9999", "root_device_hint": None,
        "power": {"interface": "none", "address": None, "system_id": None,
                  "username": None, "verify_ca": True},
        "last_heartbeat_at": None, "agent_version": None, "server_id": None,
        "created_at": "2026-12-03T00:00:00.000000Z", "updated_at": None,
        "links": []}


class FakeClient:
    def __init__(self):
        self.created = None

    def create_baremetal_node(self, name, agent_url, agent_token,
                              root_device_hint=None, power=None):
        self.created = dict(name=name, agent_url=agent_url,
                            agent_token=agent_token,
                            root_device_hint=root_device_hint, power=power)
        return res.BaremetalNode(VIEW)


def run_create(argv, stdin=""):
    app = shell.NativesnapApp(["baremetal", "node", "create"],
                              stdin=io.StringIO(stdin), stdout=io.StringIO(),
                              stderr=io.StringIO())
    client = FakeClient()
    app.client_manager = type("CM", (), {"native": client})()
    cmd = cmds.CreateBaremetalNode(app, None, cmd_name="baremetal node create")
    parsed = cmd.get_parser("nativesnap baremetal node create").parse_args(argv)
    columns, values = cmd.take_action(parsed)
    return client.created, dict(zip(columns, values))


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


def test_the_minimal_create_sends_name_url_and_the_token_from_its_file(
        token_file):
    created, shown = run_create(["n1", "--agent-url", "https://10.0.0.5:9999",
                                 "--agent-token-file", token_file])
    assert created == {"name": "n1", "agent_url": "https://10.0.0.5:9999",
                       "agent_token": TOKEN, "root_device_hint": None,
                       "power": None}
    assert shown["id"] == VIEW["id"] and "links" not in shown


def test_hints_and_redfish_options_make_the_documented_body(token_file,
                                                           tmp_path):
    password = tmp_path / "pw"
    password.write_text(PASSWORD + "\r\n")
    created, _ = run_create([
        "n1", "--agent-url", "https://a", "--agent-token-file", token_file,
        "--root-device-hint-serial", "S1", "--root-device-hint-size", "40",
        "--root-device-hint-wwn", "0x50", "--root-device-hint-name", "/dev/sda",
        "--redfish-address", "https://bmc", "--redfish-system-id", "1",
        "--redfish-username", "root", "--redfish-password-file", str(password),
        "--no-redfish-verify-ca"])
    assert created["root_device_hint"] == {"serial": "S1", "size": 40,
                                           "wwn": "0x50", "name": "/dev/sda"}
    # --power-interface defaults to redfish once a --redfish-* option is given.
    assert created["power"] == {"interface": "redfish", "address": "https://bmc",
                                "system_id": "1", "username": "root",
                                "password": PASSWORD, "verify_ca": False}


def test_secrets_may_come_from_standard_input_but_not_both(token_file):
    created, _ = run_create(["n1", "--agent-url", "https://a",
                             "--agent-token-file", "-"], stdin=TOKEN + "\n")
    assert created["agent_token"] == TOKEN
    created, _ = run_create(["n1", "--agent-url", "https://a",
                             "--agent-token-file", token_file,
                             "--power-interface", "redfish",
                             "--redfish-password-file", "-"], stdin=PASSWORD)
    assert created["power"] == {"interface": "redfish", "password": PASSWORD}
    with pytest.raises(exceptions.ClientException, match="standard input"):
        run_create(["n1", "--agent-url", "https://a", "--agent-token-file", "-",
                    "--redfish-password-file", "-"], stdin=TOKEN)


def test_an_unreadable_or_empty_secret_file_names_the_file_only(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(exceptions.ClientException, match="empty"):
        run_create(["n1", "--agent-url", "https://a",
                    "--agent-token-file", str(empty)])
    with pytest.raises(exceptions.ClientException, match="missing"):
        run_create(["n1", "--agent-url", "https://a",
                    "--agent-token-file", str(tmp_path / "missing")])


@pytest.mark.parametrize("argv", [
    ["n1", "--agent-url", "https://a"],                      # no token file
    ["n1", "--agent-token-file", "t"],                       # no agent URL
    ["n1", "--agent-url", "https://a", "--agent-token-file", "t",
     "--agent-token", TOKEN],                                # no secret flags
    ["n1", "--agent-url", "https://a", "--agent-token-file", "t",
     "--redfish-password", PASSWORD],
    ["n1", "--agent-url", "https://a", "--agent-token-file", "t",
     "--root-device-hint-size", "big"],
    ["n1", "--agent-url", "https://a", "--agent-token-file", "t",
     "--power-interface", "ipmi"],
    ["n1", "--agent-url", "https://a", "--agent-token-file", "t",
     "--redfish-verify-ca", "--no-redfish-verify-ca"],
])
def test_usage_errors_exit_2(argv, capsys):
    app = shell.NativesnapApp(["baremetal", "node", "create"])
    cmd = cmds.CreateBaremetalNode(app, None, cmd_name="baremetal node create")
    with pytest.raises(SystemExit) as info:
        cmd.get_parser("nativesnap baremetal node create").parse_args(argv)
    assert info.value.code == 2


def test_list_rows_flatten_the_power_settings():
    node = res.BaremetalNode(dict(VIEW, power=dict(
        VIEW["power"], interface="redfish", address="https://bmc")))
    titles, rows = cmds.base.list_rows([cmds._row(node)], cmds.LONG_COLUMNS)
    row = dict(zip(titles, next(iter(rows))))
    assert row["Power"] == "redfish" and row["Redfish Address"] == "https://bmc"


def test_the_node_commands_are_in_the_command_table():
    assert {name for name in commands.COMMANDS
            if name.startswith("baremetal node ")} == {
        "baremetal node create", "baremetal node list", "baremetal node show",
        "baremetal node delete"}
