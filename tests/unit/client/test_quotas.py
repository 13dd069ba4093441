"""Quotas in the client without a server: the os-quota-sets requests the
proxy sends, and what ``nativesnap quota show|set|delete`` do."""

import configparser
import io
import os

import pytest

from nativesnap.client.commands import quotas as cmds
from nativesnap.client import commands
from nativesnap.client import proxy
from nativesnap.client import resource as res
from nativesnap.client import shell

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
URL = "/v1/os-quota-sets/demo"
LIMITS = {"id": "demo", "snapshots": 10, "snapshots_per_server": -1}
USAGE = {"id": "demo", "snapshots": {"limit": 10, "in_use": 7},
         "snapshots_per_server": {"limit": -1, "in_use": 3}}


class Answer:
    def __init__(self, body):
        self.body = body

    def json(self):
        return self.body


class RecordingConnection:
    def __init__(self):
        self.sent = []

    def request(self, method, url, json=None, **kwargs):
        self.sent.append((method, url, json))
        return Answer({"quota_set": dict(LIMITS, **(json or {}).get(
            "quota_set", {}))})

    def get_json(self, url, params=None, **kwargs):
        self.sent.append(("GET", url, params))
        return {"quota_set": USAGE if params else LIMITS}


def test_get_asks_for_usage_only_when_told():
    conn = RecordingConnection()
    p = proxy.Proxy(conn)
    limits = p.get_quota_set("demo")
    assert isinstance(limits, res.QuotaSet)
    assert (limits.id, limits.snapshots) == ("demo", 10)
    assert p.get_quota_set(limits, usage=True).snapshots == {
        "limit": 10, "in_use": 7}
    assert conn.sent == [("GET", URL, None),
                         ("GET", URL, {"usage": "true"})]
    assert limits.describe() == "quota set of project demo"
    assert limits.path == URL


def test_update_sends_the_limits_given_and_delete_reverts():
    conn = RecordingConnection()
    p = proxy.Proxy(conn)
    assert p.update_quota_set("demo", snapshots=100).snapshots == 100
    p.update_quota_set("demo", snapshots=-1, snapshots_per_server=0)
    assert p.delete_quota_set("demo") is None
    assert conn.sent == [
        ("PUT", URL, {"quota_set": {"snapshots": 100}}),
        ("PUT", URL, {"quota_set": {"snapshots": -1,
                                    "snapshots_per_server": 0}}),
        ("DELETE", URL, None)]


def test_a_quota_set_refetches_itself():
    conn = RecordingConnection()
    assert res.QuotaSet(USAGE).refetch(proxy.Proxy(conn)).snapshots == 10


class FakeClient:
    def __init__(self):
        self.calls = []

    def get_quota_set(self, project, usage=False):
        self.calls.append(("get", project, usage))
        return res.QuotaSet(USAGE if usage else LIMITS)

    def update_quota_set(self, project, snapshots=None,
                         snapshots_per_server=None):
        self.calls.append(("update", project, snapshots,
                           snapshots_per_server))
        return res.QuotaSet(dict(LIMITS, snapshots=snapshots))

    def delete_quota_set(self, project):
        self.calls.append(("delete", project))


def command(name):
    app = shell.NativesnapApp(name.split(), stdin=io.StringIO(),
                              stdout=io.StringIO(), stderr=io.StringIO())
    client = FakeClient()
    app.client_manager = type("CM", (), {"native": client})()
    return commands.COMMANDS[name](app, None, cmd_name=name), client


def run(name, argv):
    cmd, client = command(name)
    parsed = cmd.get_parser(f"nativesnap {name}").parse_args(argv)
    return cmd.take_action(parsed), client.calls


def test_show_prints_the_limits():
    (columns, values), calls = run("quota show", ["demo"])
    assert calls == [("get", "demo", False)]
    assert columns == ("id", "snapshots", "snapshots_per_server")
    assert values == ("demo", 10, -1)


def test_show_with_usage_puts_each_use_beside_its_limit():
    (columns, values), _ = run("quota show", ["demo", "--usage"])
    assert dict(zip(columns, values)) == {
        "id": "demo", "snapshots": 10, "snapshots_in_use": 7,
        "snapshots_per_server": -1, "snapshots_per_server_in_use": 3}
    assert columns[1:3] == ("snapshots", "snapshots_in_use")


def test_set_sends_the_limits_minus_one_being_unlimited():
    (columns, values), calls = run("quota set", [
        "demo", "--snapshots", "-1", "--snapshots-per-server", "20"])
    assert calls == [("update", "demo", -1, 20)]
    assert dict(zip(columns, values))["snapshots"] == -1
    _, calls = run("quota set", ["demo", "--snapshots-per-server", "0"])
    assert calls == [("update", "demo", None, 0)]


@pytest.mark.parametrize("argv", [
    ["demo", "--snapshots", "-2"], ["demo", "--snapshots", "many"],
    ["--snapshots", "1"]])
def test_set_usage_errors_exit_2(argv, capsys):
    cmd, _ = command("quota set")
    with pytest.raises(SystemExit) as info:
        cmd.get_parser("nativesnap quota set").parse_args(argv)
    assert info.value.code == 2


def test_set_without_a_limit_is_a_usage_error_before_any_request(capsys):
    cmd, client = command("quota set")
    parsed = cmd.get_parser("nativesnap quota set").parse_args(["demo"])
    with pytest.raises(SystemExit) as info:
        cmd.take_action(parsed)
    assert info.value.code == 2 and client.calls == []
    assert "nothing to change" in capsys.readouterr().err


def test_delete_reverts_to_the_defaults():
    _, calls = run("quota delete", ["demo"])
    assert calls == [("delete", "demo")]


def test_the_quota_commands_are_registered_for_both_clis():
    new = {"quota show": cmds.ShowQuota, "quota set": cmds.SetQuota,
           "quota delete": cmds.DeleteQuota}
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(REPO, "setup.cfg"))
    osc = cfg["options.entry_points"]["openstack.native.v1"]
    for name, cls in new.items():
        assert commands.COMMANDS[name] is cls
        assert (f"native_{name.replace(' ', '_')} = "
                f"nativesnap.client.commands.quotas:{cls.__name__}") in osc
