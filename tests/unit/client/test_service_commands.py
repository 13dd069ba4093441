"""``nativesnap service list|set`` and the proxy's service verbs without a
server: a service is found by host or by ID, set sends the documented body,
the options that do not go together are usage errors, and the commands are
registered for both CLIs."""

import configparser
import io
import os

import pytest

from nativesnap.client.commands import services as cmds
from nativesnap.client import commands
from nativesnap.client import exceptions
from nativesnap.client import proxy
from nativesnap.client import resource as res
from nativesnap.client import shell

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
SERVICE_ID = "5b0f3c2e-8d1a-4e6b-9c7f-0a1b2c3d4e5f"
OTHER_ID = "6c1a4d3f-9e2b-4f7c-8d0a-1b2c3d4e5f60"


def view(service_id=SERVICE_ID, host="compute-1", **changes):
    return dict({"id": service_id, "host": host,
                 "binary": "nativesnap-compute",
                 "drivers": ["fake", "libvirt"], "host_free_drivers": ["fake"],
                 "state": "up", "status": "enabled", "disabled_reason": None,
                 "rpc_version": "1.2",
                 "last_seen_at": "2026-12-03T00:00:05.000000Z",
                 "created_at": "2026-12-03T00:00:00.000000Z",
                 "updated_at": None}, **changes)


class FakeResponse:
    def __init__(self, body):
        self.body = body

    def json(self):
        return self.body


class FakeConnection:
    """The listing on GET; a PUT answers the service with the sent status."""

    def __init__(self, services):
        self.services = services
        self.puts = []

    def get_json(self, url, params=None, **kwargs):
        assert url == "/v1/os-services" and params is None
        return {"services": self.services}

    def request(self, method, url, json=None, **kwargs):
        self.puts.append((method, url, json))
        return FakeResponse({"service": view(
            disabled_reason=json["service"].get("disabled_reason"),
            status=json["service"]["status"])})


@pytest.fixture
def conn():
    return FakeConnection([view(), view(OTHER_ID, "compute-2", state="down")])


def test_services_lists_every_service_as_a_resource(conn):
    services = list(proxy.Proxy(conn).services())
    assert [s.host for s in services] == ["compute-1", "compute-2"]
    assert isinstance(services[0], res.Service)
    assert services[1].state == "down"
    assert services[0].describe() == f"compute service {SERVICE_ID} " \
                                      "(host 'compute-1')"


@pytest.mark.parametrize("ref", ["compute-2", OTHER_ID, OTHER_ID.upper()])
def test_find_service_takes_a_host_or_an_id(conn, ref):
    assert proxy.Proxy(conn).find_service(ref).id == OTHER_ID


def test_find_service_of_an_unknown_host_is_not_found(conn):
    with pytest.raises(exceptions.NotFound, match="ID or host 'compute-9'"):
        proxy.Proxy(conn).find_service("compute-9")


def test_a_service_refetches_itself_from_the_listing(conn):
    client = proxy.Proxy(conn)
    service = res.Service(view(status="disabled"))
    assert service.refetch(client).status == "enabled"


def test_disable_and_enable_send_the_documented_bodies(conn):
    client = proxy.Proxy(conn)
    service = client.disable_service(res.Service(view()), reason="firmware")
    assert (service.status, service.disabled_reason) == ("disabled",
                                                         "firmware")
    client.disable_service(SERVICE_ID)
    client.enable_service(SERVICE_ID)
    path = f"/v1/os-services/{SERVICE_ID}"
    assert conn.puts == [
        ("PUT", path, {"service": {"status": "disabled",
                                   "disabled_reason": "firmware"}}),
        ("PUT", path, {"service": {"status": "disabled"}}),
        ("PUT", path, {"service": {"status": "enabled"}})]


class FakeClient:
    def __init__(self):
        self.calls = []

    def services(self):
        return iter([res.Service(view())])

    def find_service(self, ref):
        self.calls.append(("find", ref))
        return res.Service(view())

    def disable_service(self, service, reason=None):
        self.calls.append(("disable", service.id, reason))
        return res.Service(view(status="disabled", disabled_reason=reason))

    def enable_service(self, service):
        self.calls.append(("enable", service.id))
        return res.Service(view())


def command(cls, name):
    app = shell.NativesnapApp(name.split(), stdin=io.StringIO(),
                              stdout=io.StringIO(), stderr=io.StringIO())
    client = FakeClient()
    app.client_manager = type("CM", (), {"native": client})()
    return cls(app, None, cmd_name=name), client


def run(cls, name, argv):
    cmd, client = command(cls, name)
    parsed = cmd.get_parser(f"nativesnap {name}").parse_args(argv)
    return cmd.take_action(parsed), client.calls


@pytest.mark.parametrize("argv,columns", [
    ([], cmds.LIST_COLUMNS), (["--long"], cmds.LONG_COLUMNS)])
def test_list_shows_the_documented_columns(argv, columns):
    (titles, rows), _ = run(cmds.ListService, "service list", argv)
    assert titles == ("ID", "Host", "Binary", "Drivers", "State", "Status",
                      "Disabled Reason", "Last Seen At") + (
        ("Host-free Drivers", "RPC Version", "Updated At") if argv else ())
    row = dict(zip(titles, next(iter(rows))))
    assert row["Host"] == "compute-1" and row["State"] == "up"
    assert row["Drivers"].human_readable() == '["fake", "libvirt"]'


def test_set_disable_with_a_reason_finds_the_service_and_prints_it():
    (columns, values), calls = run(cmds.SetService, "service set", [
        "compute-1", "--disable", "--reason", "firmware upgrade"])
    assert calls == [("find", "compute-1"),
                     ("disable", SERVICE_ID, "firmware upgrade")]
    assert columns == res.Service.fields
    shown = dict(zip(columns, values))
    assert shown["status"] == "disabled"
    assert shown["disabled_reason"] == "firmware upgrade"


def test_set_disable_without_a_reason_and_enable():
    _, calls = run(cmds.SetService, "service set", ["compute-1", "--disable"])
    assert calls[-1] == ("disable", SERVICE_ID, None)
    (columns, values), calls = run(cmds.SetService, "service set",
                                   [SERVICE_ID, "--enable"])
    assert calls == [("find", SERVICE_ID), ("enable", SERVICE_ID)]
    assert dict(zip(columns, values))["status"] == "enabled"


@pytest.mark.parametrize("argv", [
    ["compute-1"],                                   # neither
    ["compute-1", "--disable", "--enable"],          # both
    ["compute-1", "--reason", "x"],                  # a reason alone
    ["--disable"],                                   # no service
])
def test_usage_errors_exit_2(argv, capsys):
    cmd, _ = command(cmds.SetService, "service set")
    with pytest.raises(SystemExit) as info:
        cmd.get_parser("nativesnap service set").parse_args(argv)
    assert info.value.code == 2


def test_a_reason_with_enable_is_a_usage_error_before_any_request(capsys):
    cmd, client = command(cmds.SetService, "service set")
    parsed = cmd.get_parser("nativesnap service set").parse_args(
        ["compute-1", "--enable", "--reason", "x"])
    with pytest.raises(SystemExit) as info:
        cmd.take_action(parsed)
    assert info.value.code == 2 and client.calls == []
    assert "--reason goes with --disable" in capsys.readouterr().err


def test_every_service_command_has_a_description_and_examples():
    for name, cls in (("service list", cmds.ListService),
                      ("service set", cmds.SetService)):
        cmd, _ = command(cls, name)
        assert cmd.get_description(), name
        assert f"examples:\n  nativesnap {name}" in cmd.get_epilog(), name


def test_the_service_commands_are_in_the_command_table_and_setup_cfg():
    assert {name: cls for name, cls in commands.COMMANDS.items()
            if name.startswith("service ")} == {
        "service list": cmds.ListService, "service set": cmds.SetService}
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(REPO, "setup.cfg"))
    osc = cfg["options.entry_points"]["openstack.native.v1"]
    assert ("native_service_list = "
            "nativesnap.client.commands.services:ListService") in osc
    assert ("native_service_set = "
            "nativesnap.client.commands.services:SetService") in osc
