"""Snapshot policies in the client without a server: the requests the proxy
sends for policies, their attachments to servers, prunes and queued
mutations (microversion 1.2), and what ``nativesnap policy ...``, ``server
add|remove policy``, ``server policy list`` and ``--queue`` do with them."""

import configparser
import io
import json
import os

import pytest
import requests
from requests import adapters

from nativesnap.client import client as ns_client
from nativesnap.client.commands import policies as cmds
from nativesnap.client import commands
from nativesnap.client import exceptions
from nativesnap.client import proxy
from nativesnap.client import resource as res
from nativesnap.client import shell

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
SERVER = "11111111-1111-4111-8111-111111111111"
SNAP = "22222222-2222-4222-8222-222222222222"
POLICY = "44444444-4444-4444-8444-444444444444"
OTHER = "55555555-5555-4555-8555-555555555555"
POLICIES = "/v1/snapshot-policies"
ATTACHED = f"/v1/servers/{SERVER}/snapshot-policies"

OUTCOME = {"at": "2026-12-03T03:00:00Z", "taken": SNAP,
           "kept": [{"snapshot_id": SNAP, "rule": "keep_last"}],
           "pruned": ["66666666-6666-4666-8666-666666666666"],
           "skipped": [{"snapshot_id": OTHER, "reason": "it has linked "
                                                       "clones"}],
           "error": None}


def policy_view(policy_id=POLICY, name="nightly", **changes):
    return dict({
        "id": policy_id, "name": name, "description": None,
        "project_id": "demo", "user_id": "admin", "interval_minutes": None,
        "cron": "0 3 * * *", "timezone": "Europe/Paris", "memory": False,
        "quiesce": "preferred", "include_volumes": False,
        "name_template": "{policy}-{time:%Y%m%d-%H%M}", "keep_last": 3,
        "keep_hourly": 0, "keep_daily": 7, "keep_weekly": 4,
        "keep_monthly": 0, "keep_yearly": 0, "enabled": True,
        "created_at": "2026-12-01T00:00:00Z", "updated_at": None,
        "last_run": "2026-12-03T03:00:00Z",
        "next_run": "2026-12-04T03:00:00Z",
        "servers": [{"server_id": SERVER,
                     "attached_at": "2026-12-01T00:00:00Z",
                     "last_run": "2026-12-03T03:00:00Z",
                     "next_run": "2026-12-04T03:00:00Z",
                     "outcome": OUTCOME}],
        "links": [{"rel": "self", "href": f"http://api{POLICIES}/{POLICY}"}]},
        **changes)


PRUNE = [{"server_id": SERVER,
          "keep": [{"snapshot_id": SNAP, "name": "nightly-1",
                    "scheduled_at": "2026-12-03T03:00:00Z",
                    "rule": "keep_daily"}],
          "remove": [{"snapshot_id": OTHER, "name": "nightly-0",
                      "scheduled_at": "2026-11-01T03:00:00Z"}],
          "skip": [{"snapshot_id": "77777777-7777-4777-8777-777777777777",
                    "reason": "it has linked clones"}]}]


class Answer:
    def __init__(self, body):
        self.body = body

    def json(self):
        return self.body


class RecordingConnection:
    """Records every request with its keyword arguments; answers from a table
    of (method, url) -> body (GETs by url), or raises an exception there."""

    def __init__(self, answers=None, api_version=(1, 1),
                 server_versions=((1, 0), (1, 2))):
        self.answers = answers or {}
        self.api_version = api_version
        self._server_versions = server_versions
        self.sent = []

    def server_versions(self):
        return self._server_versions

    def request(self, method, url, **kwargs):
        self.sent.append((method, url, kwargs))
        answer = self.answers.get((method, url))
        if isinstance(answer, Exception):
            raise answer
        return Answer(answer)

    def get_json(self, url, params=None, **kwargs):
        self.sent.append(("GET", url, {"params": params}))
        answer = self.answers[url]
        if isinstance(answer, Exception):
            raise answer
        return answer.pop(0) if isinstance(answer, list) else answer


# --- the proxy: policies ---------------------------------------------------


def test_create_sends_the_envelope_without_the_fields_not_given():
    conn = RecordingConnection({("POST", POLICIES): {
        "snapshot_policy": policy_view()}})
    policy = proxy.Proxy(conn).create_snapshot_policy(
        "nightly", cron="0 3 * * *", timezone="Europe/Paris", keep_daily=7,
        description=None, enabled=False)
    assert isinstance(policy, res.SnapshotPolicy) and policy.id == POLICY
    assert conn.sent == [("POST", POLICIES, {"json": {"snapshot_policy": {
        "name": "nightly", "cron": "0 3 * * *", "timezone": "Europe/Paris",
        "keep_daily": 7, "enabled": False}}})]


def test_a_field_a_policy_does_not_have_is_refused_before_any_request():
    conn = RecordingConnection()
    with pytest.raises(TypeError, match="keep_forever"):
        proxy.Proxy(conn).create_snapshot_policy("p", keep_forever=1)
    with pytest.raises(TypeError, match="status"):
        proxy.Proxy(conn).update_snapshot_policy(POLICY, status="x")
    assert conn.sent == []


def test_update_puts_every_given_field_so_none_clears_one():
    url = f"{POLICIES}/{POLICY}"
    conn = RecordingConnection({("PUT", url): {
        "snapshot_policy": policy_view(enabled=False)}})
    policy = proxy.Proxy(conn).update_snapshot_policy(
        res.SnapshotPolicy(policy_view()), enabled=False, description=None)
    assert policy.enabled is False
    assert conn.sent == [("PUT", url, {"json": {"snapshot_policy": {
        "enabled": False, "description": None}}})]


def test_the_listing_asks_for_every_project_only_when_told():
    conn = RecordingConnection({POLICIES: {"snapshot_policies": [
        policy_view(), policy_view(OTHER, "hourly")]}})
    p = proxy.Proxy(conn)
    assert [x.name for x in p.snapshot_policies()] == ["nightly", "hourly"]
    list(p.snapshot_policies(all_projects=True))
    assert [kw["params"] for _, _, kw in conn.sent] == [
        {}, {"all_projects": "1"}]


def test_find_takes_an_id_or_a_unique_name():
    conn = RecordingConnection({
        POLICIES: {"snapshot_policies": [
            policy_view(), policy_view(OTHER, "dup"),
            policy_view(SNAP, "dup")]},
        f"{POLICIES}/{POLICY}": {"snapshot_policy": policy_view()}})
    p = proxy.Proxy(conn)
    assert p.find_snapshot_policy(POLICY).name == "nightly"
    assert conn.sent[-1][1] == f"{POLICIES}/{POLICY}"
    assert p.find_snapshot_policy("nightly").id == POLICY
    with pytest.raises(exceptions.NoUniqueMatch, match="'dup'"):
        p.find_snapshot_policy("dup")
    with pytest.raises(exceptions.NotFound,
                       match="No snapshot policy with ID or name 'x'"):
        p.find_snapshot_policy("x")


def test_delete_may_ignore_a_missing_policy():
    url = f"{POLICIES}/{POLICY}"
    conn = RecordingConnection({("DELETE", url): exceptions.NotFound("gone")})
    p = proxy.Proxy(conn)
    assert p.delete_snapshot_policy(POLICY, ignore_missing=True) is None
    with pytest.raises(exceptions.NotFound):
        p.delete_snapshot_policy(POLICY)


def test_prune_sends_the_action_with_dry_run_in_the_query():
    url = f"{POLICIES}/{POLICY}/action"
    conn = RecordingConnection({("POST", url): {"prune": PRUNE}})
    p = proxy.Proxy(conn)
    assert p.prune_snapshot_policy(POLICY, dry_run=True) == PRUNE
    p.prune_snapshot_policy(res.SnapshotPolicy(policy_view()),
                            server=res.Server({"id": SERVER}))
    assert conn.sent == [
        ("POST", url, {"json": {"prune": {}},
                       "params": {"dry_run": "true"}}),
        ("POST", url, {"json": {"prune": {"server_id": SERVER}},
                       "params": None})]


def test_attachments_are_a_servers_subresource():
    conn = RecordingConnection({
        ("POST", ATTACHED): {"snapshot_policy": policy_view()},
        ATTACHED: {"snapshot_policies": [policy_view()]}})
    p = proxy.Proxy(conn)
    policy = p.attach_snapshot_policy(res.Server({"id": SERVER}), POLICY)
    assert policy.attachment(SERVER)["outcome"]["taken"] == SNAP
    assert policy.attachment(OTHER) is None
    assert [x.id for x in p.server_snapshot_policies(SERVER)] == [POLICY]
    p.detach_snapshot_policy(SERVER, policy)
    assert conn.sent == [
        ("POST", ATTACHED, {"json": {"policy_id": POLICY}}),
        ("GET", ATTACHED, {"params": None}),
        ("DELETE", f"{ATTACHED}/{POLICY}", {})]


def test_a_policy_refetches_itself():
    conn = RecordingConnection({f"{POLICIES}/{POLICY}": {
        "snapshot_policy": policy_view(enabled=False)}})
    policy = res.SnapshotPolicy(policy_view())
    assert policy.refetch(proxy.Proxy(conn)).enabled is False
    assert policy.path == f"{POLICIES}/{POLICY}"


# --- the proxy: queued mutations ---------------------------------------------

SNAPS = f"/v1/servers/{SERVER}/snapshots"


def test_without_queue_nothing_changes_in_the_requests():
    conn = RecordingConnection({
        ("POST", SNAPS): {"snapshot": {"id": SNAP, "server_id": SERVER}},
        ("DELETE", f"{SNAPS}/{SNAP}"): {"snapshot": {"id": SNAP}}})
    p = proxy.Proxy(conn)
    p.create_snapshot(SERVER, "s")
    p.delete_snapshot(SNAP, server=SERVER)
    p.revert_server(SERVER, SNAP)
    assert conn.sent == [
        ("POST", SNAPS, {"json": {"snapshot": {"name": "s"}}}),
        ("DELETE", f"{SNAPS}/{SNAP}", {}),
        ("POST", f"/v1/servers/{SERVER}/action",
         {"json": {"revert": {"snapshot_id": SNAP}}})]


@pytest.mark.parametrize("negotiated,sent", [((1, 1), {"microversion": (1, 2)}),
                                             ((1, 2), {})])
def test_queue_sends_the_flag_at_microversion_1_2_at_least(negotiated, sent):
    conn = RecordingConnection({
        ("POST", SNAPS): {"snapshot": {"id": SNAP, "status": "queued"}},
        ("DELETE", f"{SNAPS}/{SNAP}"): {"snapshot": {"id": SNAP}}},
        api_version=negotiated)
    p = proxy.Proxy(conn)
    assert p.create_snapshot(SERVER, "s", queue=True).status == "queued"
    p.delete_snapshot(SNAP, server=SERVER, queue=True)
    p.revert_server(SERVER, SNAP, power_on=False, queue=True)
    assert conn.sent == [
        ("POST", SNAPS, dict(sent, json={"snapshot": {"name": "s",
                                                      "queue": True}})),
        ("DELETE", f"{SNAPS}/{SNAP}", dict(sent, params={"queue": "true"})),
        ("POST", f"/v1/servers/{SERVER}/action", dict(sent, json={
            "revert": {"snapshot_id": SNAP, "power_on": False,
                       "queue": True}}))]


def test_queue_on_a_server_without_1_2_fails_before_any_request():
    conn = RecordingConnection(server_versions=((1, 0), (1, 1)))
    with pytest.raises(exceptions.UnsupportedVersion,
                       match="needs microversion 1.2; the server offers up "
                             "to 1.1"):
        proxy.Proxy(conn).create_snapshot(SERVER, "s", queue=True)
    assert conn.sent == []


class Transport(adapters.BaseAdapter):
    """requests' transport for the real client: answers every request with
    ``{"version": ...}`` for GET /v1 and an empty snapshot otherwise, and
    keeps the requests."""

    def __init__(self):
        super().__init__()
        self.requests = []

    def send(self, request, **kwargs):
        self.requests.append(request)
        resp = requests.Response()
        resp.status_code = 200
        resp.headers["Content-Type"] = "application/json"
        body = ({"version": {"id": "v1", "min_version": "1.0",
                             "version": "1.2"}}
                if request.path_url == "/v1" else
                {"snapshot": {"id": SNAP, "status": "queued"}})
        resp._content = json.dumps(body).encode()
        resp.request, resp.url = request, request.url
        return resp

    def close(self):
        pass


def test_the_real_client_sends_the_microversion_header_of_a_queued_request():
    from keystoneauth1 import session as ks_session
    from keystoneauth1 import token_endpoint

    transport = Transport()
    http = requests.Session()
    http.mount("http://", transport)
    session = ks_session.Session(
        auth=token_endpoint.Token("http://api:8779", "admin:demo"),
        session=http)
    client = ns_client.Client("http://api:8779", session=session)
    client.create_snapshot(SERVER, "plain")
    client.create_snapshot(SERVER, "waits", queue=True)
    client.delete_snapshot(SNAP, server=SERVER, queue=True)
    sent = [(r.method, r.path_url, r.headers.get("OpenStack-API-Version"),
             json.loads(r.body) if r.body else None)
            for r in transport.requests if r.path_url != "/v1"]
    negotiated = "snapshot " + client.api_version
    assert sent == [
        ("POST", f"{SNAPS}", negotiated, {"snapshot": {"name": "plain"}}),
        ("POST", f"{SNAPS}", "snapshot 1.2",
         {"snapshot": {"name": "waits", "queue": True}}),
        ("DELETE", f"{SNAPS}/{SNAP}?queue=true", "snapshot 1.2", None)]


def test_wait_for_task_may_wait_for_a_queued_request_too():
    url = f"/v1/servers/{SERVER}"
    idle = {"id": SERVER, "task_state": None, "fault": None, "queued": []}
    queued = dict(idle, queued=[{"id": "q1", "action": "revert",
                                 "origin": "user"}])
    conn = RecordingConnection({url: [
        {"server": dict(queued, task_state="snapshotting")},
        {"server": queued},                    # between the two tasks
        {"server": dict(idle, task_state="reverting")},
        {"server": idle}]})
    server = res.Server(idle)
    done = proxy.Proxy(conn).wait_for_task(server, timeout=5, interval=0.001,
                                           queued_action="revert")
    assert done.task_state is None and len(conn.sent) == 4
    # Other actions in the queue do not hold it.
    conn.answers[url] = [{"server": dict(queued, queued=[
        {"id": "q2", "action": "create_snapshot"}])}]
    assert proxy.Proxy(conn).wait_for_task(
        server, timeout=5, interval=0.001, queued_action="revert")


# --- the commands -----------------------------------------------------------


class FakeClient:
    def __init__(self, policies=None):
        self.calls = []
        self.policies = policies or [res.SnapshotPolicy(policy_view())]

    def find_server(self, ref, all_projects=False):
        return res.Server({"id": SERVER, "name": ref, "task_state": None})

    def find_snapshot_policy(self, ref, all_projects=False):
        self.calls.append(("find_policy", ref))
        return res.SnapshotPolicy(policy_view())

    def snapshot_policies(self, all_projects=False):
        self.calls.append(("list", all_projects))
        return iter(self.policies)

    def server_snapshot_policies(self, server):
        self.calls.append(("server_list", server.id))
        return iter(self.policies)

    def create_snapshot_policy(self, name, **attrs):
        self.calls.append(("create", name, attrs))
        return res.SnapshotPolicy(policy_view(name=name, servers=[]))

    def update_snapshot_policy(self, policy, **attrs):
        self.calls.append(("update", policy.id, attrs))
        return res.SnapshotPolicy(policy_view(**attrs))

    def delete_snapshot_policy(self, policy):
        self.calls.append(("delete", policy.id))

    def prune_snapshot_policy(self, policy, server=None, dry_run=False):
        self.calls.append(("prune", policy.id, server and server.id, dry_run))
        return PRUNE

    def attach_snapshot_policy(self, server, policy):
        self.calls.append(("attach", server.id, policy.id))
        return res.SnapshotPolicy(policy_view())

    def detach_snapshot_policy(self, server, policy):
        self.calls.append(("detach", server.id, policy.id))

    def find_snapshot(self, ref, server=None):
        return res.Snapshot({"id": SNAP, "server_id": SERVER, "name": ref})

    def create_snapshot(self, server, name, **kwargs):
        self.calls.append(("create_snapshot", kwargs["queue"]))
        return res.Snapshot({"id": SNAP, "name": name, "status": "queued"})

    def delete_snapshot(self, snapshot, queue=None):
        self.calls.append(("delete_snapshot", queue))
        return res.Snapshot({"id": SNAP, "name": "s", "status": "deleting"})

    def revert_server(self, server, snapshot, power_on=None, queue=None):
        self.calls.append(("revert_server", queue))

    def wait_for_task(self, server, **kwargs):
        self.calls.append(("wait_for_task", kwargs.get("queued_action")))
        return res.Server({"id": SERVER, "task_state": None})


def command(name, client=None):
    app = shell.NativesnapApp(name.split(), stdin=io.StringIO(),
                              stdout=io.StringIO(), stderr=io.StringIO())
    client = client or FakeClient()
    app.client_manager = type("CM", (), {"native": client})()
    return commands.COMMANDS[name](app, None, cmd_name=name), client


def run(name, argv, client=None):
    cmd, client = command(name, client)
    parsed = cmd.get_parser(f"nativesnap {name}").parse_args(argv)
    return cmd.take_action(parsed), client.calls


def shown(result):
    columns, values = result
    return dict(zip(columns, values))


def test_create_sends_the_options_given_and_nothing_else():
    result, calls = run("policy create", [
        "nightly", "--cron", "0 3 * * *", "--timezone", "Europe/Paris",
        "--keep-daily", "7", "--keep-weekly", "4", "--quiesce", "required",
        "--memory", "--name-template", "{server}-{time:%H%M}", "--disable"])
    assert calls == [("create", "nightly", {
        "cron": "0 3 * * *", "timezone": "Europe/Paris", "keep_daily": 7,
        "keep_weekly": 4, "quiesce": "required", "memory": True,
        "name_template": "{server}-{time:%H%M}", "enabled": False})]
    assert shown(result)["name"] == "nightly"
    _, calls = run("policy create", ["h", "--interval-hours", "1",
                                     "--keep-last", "24"])
    assert calls[0][2] == {"interval_hours": 1, "keep_last": 24}


@pytest.mark.parametrize("argv", [
    ["p", "--keep-last", "1"],                                 # no schedule
    ["p", "--interval-minutes", "5", "--cron", "* * * * *"],   # two
    ["p", "--interval-minutes", "0"],                          # not >= 1
    ["p", "--interval-hours", "-1"],
    ["p", "--cron", "* * * * *", "--keep-last", "x"],
    ["p", "--cron", "* * * * *", "--quiesce", "sometimes"],
])
def test_create_usage_errors_exit_2(argv, capsys):
    cmd, _ = command("policy create")
    with pytest.raises(SystemExit) as info:
        cmd.get_parser("nativesnap policy create").parse_args(argv)
    assert info.value.code == 2


def test_show_prints_last_and_next_run_and_each_servers_outcome():
    result, calls = run("policy show", ["nightly"])
    assert calls == [("find_policy", "nightly")]
    columns, _ = result
    assert "links" not in columns
    assert columns[:3] == ("id", "name", "description")
    fields = shown(result)
    assert fields["next_run"] == "2026-12-04T03:00:00Z"
    assert fields["last_run"] == "2026-12-03T03:00:00Z"
    servers = fields["servers"]
    assert servers.machine_readable() == policy_view()["servers"]
    line = servers.human_readable()
    assert line.startswith(f"{SERVER}: last run 2026-12-03T03:00:00Z, "
                           "next run 2026-12-04T03:00:00Z; ")
    assert (f"took {SNAP}, kept 1, pruned 1, skipped {OTHER} (it has linked "
            "clones)") in line


def test_an_outcome_line_says_when_there_was_no_run_or_an_error():
    assert cmds.outcome_text(None) == "no run yet"
    text = cmds.outcome_text({"at": "t", "taken": None, "kept": [],
                              "pruned": [], "skipped": [
                                  {"snapshot_id": None,
                                   "reason": "quota exceeded"}],
                              "error": "boom"})
    assert text == ("at t, took nothing, kept 0, pruned 0, skipped (quota "
                    "exceeded), error: boom")


def test_list_shows_the_schedule_and_retention_readably():
    client = FakeClient([res.SnapshotPolicy(policy_view()),
                         res.SnapshotPolicy(policy_view(
                             OTHER, "hourly", cron=None, interval_minutes=60,
                             keep_last=24, keep_daily=0, keep_weekly=0,
                             servers=[])),
                         res.SnapshotPolicy(policy_view(
                             SNAP, "often", cron=None, interval_minutes=15))])
    (titles, rows), calls = run("policy list", ["--all-projects"], client)
    assert calls == [("list", True)]
    assert titles == tuple(t for t, _ in cmds.LIST_COLUMNS)
    rows = [dict(zip(titles, row)) for row in rows]
    assert [(r["Schedule"], r["Retention"]) for r in rows] == [
        ("cron 0 3 * * * Europe/Paris", "last 3, daily 7, weekly 4"),
        ("every 1 h", "last 24"), ("every 15 min", "last 3, daily 7, weekly 4")]
    (titles, rows), _ = run("policy list", ["--long"], client)
    assert titles == tuple(t for t, _ in cmds.LONG_COLUMNS)
    assert [dict(zip(titles, r))["Servers"] for r in rows] == [1, 0, 1]


def test_set_sends_only_what_changes_and_enable_disable():
    result, calls = run("policy set", [
        "nightly", "--keep-daily", "14", "--no-memory", "--enable",
        "--name", "daily"])
    assert calls == [("find_policy", "nightly"), ("update", POLICY, {
        "keep_daily": 14, "memory": False, "enabled": True,
        "name": "daily"})]
    assert shown(result)["name"] == "daily"
    _, calls = run("policy set", ["nightly", "--disable"])
    assert calls[-1] == ("update", POLICY, {"enabled": False})
    _, calls = run("policy set", ["nightly", "--interval-minutes", "30"])
    assert calls[-1] == ("update", POLICY, {"interval_minutes": 30})


def test_set_without_a_change_is_a_usage_error_before_any_request(capsys):
    cmd, client = command("policy set")
    parsed = cmd.get_parser("nativesnap policy set").parse_args(["nightly"])
    with pytest.raises(SystemExit) as info:
        cmd.take_action(parsed)
    assert info.value.code == 2 and client.calls == []
    assert "nothing to change" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cmd.get_parser("x").parse_args(["p", "--enable", "--disable"])
    with pytest.raises(SystemExit):
        cmd.get_parser("x").parse_args(["p", "--memory", "--no-memory"])


def test_delete_deletes_each_policy():
    _, calls = run("policy delete", ["nightly", POLICY])
    assert calls == [("find_policy", "nightly"), ("delete", POLICY),
                     ("find_policy", POLICY), ("delete", POLICY)]


def test_prune_prints_one_row_per_snapshot_kept_removed_or_skipped():
    (titles, rows), calls = run("policy prune", ["nightly", "--server", "web1",
                                                 "--dry-run"])
    assert calls == [("find_policy", "nightly"),
                     ("prune", POLICY, SERVER, True)]
    assert titles == ("Server ID", "Action", "Snapshot ID", "Name",
                      "Scheduled At", "Why")
    rows = list(rows)
    assert [(r[1], r[5]) for r in rows] == [
        ("keep", "keep_daily"), ("remove", None),
        ("skip", "it has linked clones")]
    assert rows[1] == (SERVER, "remove", OTHER, "nightly-0",
                       "2026-11-01T03:00:00Z", None)
    _, calls = run("policy prune", ["nightly"])
    assert calls[-1] == ("prune", POLICY, None, False)


def test_server_add_and_remove_policy():
    result, calls = run("server add policy", ["web1", "nightly"])
    assert calls == [("find_policy", "nightly"),
                     ("attach", SERVER, POLICY)]
    assert shown(result)["id"] == POLICY
    _, calls = run("server remove policy", ["web1", "nightly"])
    assert calls[-1] == ("detach", SERVER, POLICY)


def test_server_policy_list_shows_the_run_on_that_server():
    (titles, rows), calls = run("server policy list", ["web1"])
    assert calls == [("server_list", SERVER)]
    row = dict(zip(titles, next(iter(rows))))
    assert row["Attached At"] == "2026-12-01T00:00:00Z"
    assert row["Next Run"] == "2026-12-04T03:00:00Z"
    assert row["Outcome"].human_readable().startswith(
        f"at 2026-12-03T03:00:00Z, took {SNAP}")
    assert row["Outcome"].machine_readable() == OUTCOME


@pytest.mark.parametrize("name,argv,call", [
    ("snapshot create", ["s", "--server", "web1"], ("create_snapshot", None)),
    ("snapshot create", ["s", "--server", "web1", "--queue"],
     ("create_snapshot", True)),
    ("snapshot delete", ["s"], ("delete_snapshot", None)),
    ("snapshot delete", ["s", "--queue"], ("delete_snapshot", True)),
    ("server revert", ["web1", SNAP], ("revert_server", None)),
    ("server revert", ["web1", SNAP, "--queue"], ("revert_server", True)),
])
def test_queue_options(name, argv, call):
    _, calls = run(name, argv)
    assert calls[0] == call


def test_a_queued_revert_waits_for_its_turn_then_its_task():
    _, calls = run("server revert", ["web1", SNAP, "--queue", "--wait"])
    assert calls == [("revert_server", True), ("wait_for_task", "revert")]
    _, calls = run("server revert", ["web1", SNAP, "--wait"])
    assert calls == [("revert_server", None), ("wait_for_task", None)]


# --- registration and documentation -------------------------------------------

NEW_COMMANDS = {
    "policy create": cmds.CreatePolicy, "policy list": cmds.ListPolicy,
    "policy show": cmds.ShowPolicy, "policy set": cmds.SetPolicy,
    "policy delete": cmds.DeletePolicy, "policy prune": cmds.PrunePolicy,
    "server add policy": cmds.AddPolicyServer,
    "server remove policy": cmds.RemovePolicyServer,
    "server policy list": cmds.ListPolicyServer,
}


def test_the_policy_commands_are_registered_for_both_clis():
    for name, cls in NEW_COMMANDS.items():
        assert commands.COMMANDS[name] is cls
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(REPO, "setup.cfg"))
    osc = cfg["options.entry_points"]["openstack.native.v1"]
    for name, cls in NEW_COMMANDS.items():
        entry = (f"native_{name.replace(' ', '_')} = "
                 f"nativesnap.client.commands.policies:{cls.__name__}")
        assert entry in osc


def test_docs_mention_every_command_and_the_queue_option():
    with open(os.path.join(REPO, "docs", "client.md"), encoding="utf-8") as f:
        docs = f.read()
    for name in commands.COMMANDS:
        assert f"nativesnap {name}" in docs or f"`{name}" in docs, name
    assert "--queue" in docs
