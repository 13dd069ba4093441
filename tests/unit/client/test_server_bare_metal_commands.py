"""The client's bare-metal server verbs without a server: the bodies the
proxy sends for abort_snapshot, retry_snapshot and a spawn's node, what the
``server abort-snapshot|retry-snapshot`` commands and ``server spawn
--node`` do, and provision_state in the server's columns."""

import io

import pytest

from nativesnap.client.commands import servers as cmds
from nativesnap.client import commands
from nativesnap.client import exceptions
from nativesnap.client import proxy
from nativesnap.client import resource as res
from nativesnap.client import shell

SERVER = "11111111-1111-4111-8111-111111111111"
SNAP = "22222222-2222-4222-8222-222222222222"
NODE = "33333333-3333-4333-8333-333333333333"
SERVER_VIEW = {"id": SERVER, "name": "bm1", "status": "ACTIVE",
               "task_state": None, "driver": "baremetal",
               "provision_state": "snapshot failed", "fault": None}
SNAP_VIEW = {"id": SNAP, "server_id": SERVER, "name": "nightly",
             "status": "creating", "progress": 0, "fault": None}


class Answer:
    def __init__(self, body):
        self.body = body

    def json(self):
        return self.body


class RecordingConnection:
    api_version = (1, 1)

    def __init__(self, answers=None):
        self.answers = answers or {}
        self.sent = []

    def request(self, method, url, json=None, **kwargs):
        self.sent.append((method, url, json))
        return Answer(self.answers.get((method, url)))

    def get_json(self, url, params=None, **kwargs):
        answer = self.answers[url]
        return answer.pop(0) if isinstance(answer, list) else answer


ACTION = f"/v1/servers/{SERVER}/action"


def test_abort_and_retry_send_their_empty_actions():
    conn = RecordingConnection({("POST", ACTION): {"snapshot": SNAP_VIEW}})
    p = proxy.Proxy(conn)
    assert p.abort_snapshot(res.Server(SERVER_VIEW)) is None
    snapshot = p.retry_snapshot(SERVER)
    assert isinstance(snapshot, res.Snapshot) and snapshot.id == SNAP
    assert conn.sent == [("POST", ACTION, {"abort_snapshot": {}}),
                         ("POST", ACTION, {"retry_snapshot": {}})]


@pytest.mark.parametrize("node,sent", [
    (None, None), ("rack1-n2", "rack1-n2"),
    (res.BaremetalNode({"id": NODE}), NODE)])
def test_a_spawn_sends_its_node_only_when_given(node, sent):
    conn = RecordingConnection({("POST", "/v1/servers"): {
        "server": SERVER_VIEW}})
    proxy.Proxy(conn).spawn_server("copy", SNAP, linked=False, node=node)
    body = conn.sent[0][2]["server"]
    assert body.get("node") == sent
    assert ("node" in body) is (sent is not None)


def test_wait_for_task_may_accept_the_fault_an_abort_leaves():
    url = f"/v1/servers/{SERVER}"
    aborted = dict(SERVER_VIEW, fault={"code": 409, "message": "aborted"})
    conn = RecordingConnection({url: [{"server": dict(
        aborted, task_state="snapshot_wait")}, {"server": aborted}] * 2})
    p = proxy.Proxy(conn)
    server = res.Server(SERVER_VIEW)
    assert p.wait_for_task(server, timeout=5, interval=0.001,
                           fault_is_failure=False).fault["message"] == \
        "aborted"
    with pytest.raises(exceptions.ResourceFailure, match="aborted"):
        p.wait_for_task(server, timeout=5, interval=0.001)


class FakeClient:
    def __init__(self):
        self.calls = []

    def find_server(self, ref, all_projects=False):
        return res.Server(dict(SERVER_VIEW, name=ref))

    def abort_snapshot(self, server):
        self.calls.append(("abort_snapshot", server.name))

    def retry_snapshot(self, server):
        self.calls.append(("retry_snapshot", server.name))
        return res.Snapshot(SNAP_VIEW)

    def wait_for_task(self, server, **kwargs):
        self.calls.append(("wait_for_task", kwargs.get("fault_is_failure")))
        return res.Server(SERVER_VIEW)

    def wait_for_status(self, resource, status, failures=(), **kwargs):
        self.calls.append(("wait_for_status", status, failures))
        return res.Snapshot(dict(SNAP_VIEW, status="available", progress=100))

    def spawn_server(self, name, snapshot, linked=None, power_on=None,
                     node=None):
        self.calls.append(("spawn_server", name, snapshot, node))
        return res.Server(dict(SERVER_VIEW, name=name,
                               provision_state="deploying"))


def run(name, argv):
    stderr = io.StringIO()
    app = shell.NativesnapApp(name.split(), stdout=io.StringIO(),
                              stderr=stderr)
    client = FakeClient()
    app.client_manager = type("CM", (), {"native": client})()
    cmd = commands.COMMANDS[name](app, None, cmd_name=name)
    parsed = cmd.get_parser(f"nativesnap {name}").parse_args(argv)
    return client.calls, cmd.take_action(parsed)


def test_abort_snapshot_asks_and_waits_without_taking_the_abort_for_a_failure():
    calls, _ = run("server abort-snapshot", ["bm1"])
    assert calls == [("abort_snapshot", "bm1")]
    calls, _ = run("server abort-snapshot", ["bm1", "--wait", "--timeout",
                                             "3"])
    assert calls == [("abort_snapshot", "bm1"), ("wait_for_task", False)]


def test_retry_snapshot_shows_the_snapshot_and_waits_for_it():
    calls, (columns, values) = run("server retry-snapshot", ["bm1"])
    shown = dict(zip(columns, values))
    assert calls == [("retry_snapshot", "bm1")]
    assert (shown["id"], shown["status"]) == (SNAP, "creating")
    calls, (columns, values) = run("server retry-snapshot",
                                   ["bm1", "--wait"])
    assert calls[1] == ("wait_for_status", "available", ("error",))
    assert dict(zip(columns, values))["status"] == "available"


def test_spawn_passes_its_node_and_shows_the_provision_state():
    calls, (columns, values) = run("server spawn", [
        "copy", "--snapshot", SNAP, "--full", "--node", "rack1-n2"])
    assert calls == [("spawn_server", "copy", SNAP, "rack1-n2")]
    assert dict(zip(columns, values))["provision_state"] == "deploying"
    calls, _ = run("server spawn", ["copy", "--snapshot", SNAP])
    assert calls[0][-1] is None


def test_the_provision_state_is_a_server_field_and_a_long_column():
    assert "provision_state" in res.Server.fields
    assert ("Provision State", "provision_state") in cmds.LONG_COLUMNS
    assert "provision_state" not in dict(
        (f, t) for t, f in cmds.LIST_COLUMNS)
    columns, values = cmds.base.show_columns(res.Server(SERVER_VIEW),
                                             res.Server.fields)
    assert dict(zip(columns, values))["provision_state"] == "snapshot failed"


@pytest.mark.parametrize("name", ["server abort-snapshot",
                                  "server retry-snapshot"])
def test_the_commands_are_registered_for_both_clis(name):
    assert name in commands.COMMANDS
    app = shell.NativesnapApp(name.split())
    cmd = commands.COMMANDS[name](app, None, cmd_name=name)
    assert f"examples:\n  nativesnap {name}" in cmd.get_epilog()
