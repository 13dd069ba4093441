"""The compute RPC client under ``[upgrade_levels] compute``
(docs/architecture.md, "Upgrades"): capped, it sends objects backported to
what the capped version carried and refuses, unsent, what the compute
services may not know; uncapped the newest travel; a cap this release does
not know stops the API side's start. Messages go over the in-process
transport to a stand-in compute service that records what it received."""

import threading

from oslo_config import cfg
import oslo_messaging as messaging
from oslo_utils import uuidutils
import pytest

from nativesnap.common import rpc
from nativesnap.common import states
from nativesnap.compute import api as compute_api
from nativesnap.compute import manager as compute_manager
from nativesnap.compute import rpcapi
from nativesnap.conf import upgrade_levels
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap.objects import base
from nativesnap.objects import image as image_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj
from tests.unit.objects import older

HOST = "rpcapi-test-host"
WAIT = 15


class StandInCompute:
    """The compute endpoint of an RPC API ``version``: records what its
    casts bring."""

    def __init__(self, version):
        self.target = messaging.Target(version=version)
        self.received = []
        self.arrived = threading.Event()

    def _record(self, method, **kwargs):
        self.received.append((method, kwargs))
        self.arrived.set()

    @messaging.expose
    def create_snapshot(self, context, server, snapshot, reservation):
        self._record("create_snapshot", server=server, snapshot=snapshot)

    @messaging.expose
    def abort_task(self, context, server):
        self._record("abort_task", server=server)

    def wait(self):
        assert self.arrived.wait(WAIT), "nothing arrived"
        return self.received[-1]


@pytest.fixture
def compute_of():
    """``compute_of(version)``: a stand-in compute service of that RPC API
    version serving HOST, stopped afterwards."""
    servers = []

    def start(version):
        endpoint = StandInCompute(version)
        server = rpc.get_server(
            messaging.Target(topic=rpcapi.TOPIC, server=HOST), [endpoint])
        server.start()
        servers.append(server)
        return endpoint

    yield start
    for server in servers:
        server.stop()
        server.wait()
    rpc.cleanup()


def _client(config, cap):
    config("compute", cap, group="upgrade_levels")
    return rpcapi.ComputeAPI()


@pytest.fixture
def sent(monkeypatch):
    """``sent(client)``: the list of (method, version) of the messages the
    client hands its transport from now on (they go on to it)."""
    def watch(client):
        messages = []
        transport = client.client.transport
        send = transport._send

        def recording(target, ctxt, message, *args, **kwargs):
            messages.append((message["method"], message.get("version")))
            return send(target, ctxt, message, *args, **kwargs)

        monkeypatch.setattr(transport, "_send", recording)
        return messages

    yield watch
    rpc.cleanup()


def _server(host=HOST):
    return server_obj.Server(
        id=uuidutils.generate_uuid(), name="metal", project_id="p",
        driver="baremetal", hypervisor_ref="node-1", host=host,
        status=states.ACTIVE, origin=states.ADOPTED,
        provision_state=states.PROVISION_SNAPSHOT_WAIT,
        task_state=states.SNAPSHOT_WAIT, task_id=uuidutils.generate_uuid(),
        task_wait_info={"reason": "agent"})


def _snapshot(server):
    return snapshot_obj.ServerSnapshot(
        id=uuidutils.generate_uuid(), server_id=server.id, project_id="p",
        name="s", status=states.CREATING)


def _context():
    return ns_context.RequestContext(user_id="u", project_id="p")


# --- capped -------------------------------------------------------------------


def test_a_server_sent_to_an_older_compute_is_backported_without_provision_state(
        config, compute_of, monkeypatch):
    # The compute service of RPC API 1.1 knows Server 1.2, not 1.3.
    server_1_2 = older.older_class(server_obj.Server, "1.2",
                                   {"provision_state"})
    older.knows_only(monkeypatch, server_1_2)
    compute = compute_of("1.1")
    client = _client(config, "1.1")
    server = _server()
    snapshot = _snapshot(server)
    client.create_snapshot(_context(), server, snapshot, "r-1")
    method, got = compute.wait()
    assert method == "create_snapshot"
    assert type(got["server"]) is server_1_2
    assert got["server"].VERSION == "1.2"
    assert "provision_state" not in got["server"].fields
    assert (got["server"].id, got["server"].task_wait_info) == (
        server.id, {"reason": "agent"})
    assert got["snapshot"].id == snapshot.id


def test_abort_task_to_a_compute_capped_at_1_1_is_refused_and_nothing_is_sent(
        config, sent):
    client = _client(config, "1.1")
    messages = sent(client)
    with pytest.raises(exception.ComputeTooOld) as raised:
        client.abort_task(_context(), _server())
    assert messages == []
    assert raised.value.code == 409
    assert raised.value.message == (
        f"The compute service of host {HOST} speaks the compute RPC API up "
        "to 1.1 ([upgrade_levels] compute); abort_task needs 1.2: upgrade "
        "it, then raise or unset the cap.")


@pytest.mark.parametrize("operation", ["export_snapshot", "delete_image"])
def test_exports_and_image_deletes_to_a_compute_capped_at_1_0_are_refused(
        config, sent, operation):
    client = _client(config, "1.0")
    messages = sent(client)
    with pytest.raises(exception.ComputeTooOld,
                       match=f"up to 1.0 .*; {operation} needs 1.1"):
        if operation == "export_snapshot":
            client.prepare_task(_context(), _server(), states.EXPORTING,
                                request={"disk_format": "qcow2"})
        else:
            client.delete_image(_context(), image_obj.Image(
                id=uuidutils.generate_uuid(), host=HOST))
    assert messages == []


@pytest.mark.parametrize("cap", ["1.1", None])
def test_a_method_goes_at_the_version_that_brought_it(config, sent, cap):
    client = _client(config, cap)
    messages = sent(client)
    nobody = f"nobody-{uuidutils.generate_uuid()}"   # the casts stay queued
    client.release_reservation(_context(), nobody, "r-1")
    client.resume_task(_context(), _server(nobody), {"event": "heartbeat"})
    assert messages == [("release_reservation", "1.0"),
                        ("resume_task", "1.0")]


# --- uncapped ----------------------------------------------------------------


def test_uncapped_the_newest_object_versions_travel(config, compute_of):
    compute = compute_of(rpcapi.RPC_API_VERSION)
    client = _client(config, None)
    assert client.client.version_cap is None
    server = _server()
    client.create_snapshot(_context(), server, _snapshot(server), "r-1")
    _, got = compute.wait()
    assert type(got["server"]) is server_obj.Server
    assert got["server"].VERSION == server_obj.Server.VERSION
    assert got["server"].provision_state == states.PROVISION_SNAPSHOT_WAIT
    compute.arrived.clear()
    client.abort_task(_context(), server)
    assert compute.wait()[0] == "abort_task"


# --- the cap's value ----------------------------------------------------------


def test_a_cap_that_is_no_version_is_refused_naming_the_option(tmp_path):
    conf = cfg.ConfigOpts()
    upgrade_levels.register_opts(conf)
    path = tmp_path / "nativesnap.conf"
    path.write_text("[upgrade_levels]\ncompute = latest\n")
    conf(["--config-file", str(path)])
    with pytest.raises(cfg.ConfigFileValueError,
                       match="option compute .*'latest' is not an RPC API "
                             "version: give it as N.M"):
        conf.upgrade_levels.compute


def test_a_cap_this_release_does_not_know_stops_the_api_sides_start(config):
    config("compute", "1.7", group="upgrade_levels")
    with pytest.raises(cfg.ConfigFileValueError,
                       match=r"compute = 1.7 is not a compute RPC API version "
                             r"of this release; use one of 1.0, 1.1, 1.2, 1.3"):
        compute_api.API()   # what nativesnap-api builds at start


# --- the tables ---------------------------------------------------------------


def test_every_method_the_compute_serves_has_the_version_that_brought_it():
    exposed = {name for name in dir(compute_manager.ComputeManager)
               if getattr(getattr(compute_manager.ComputeManager, name),
                          "exposed", False)}
    assert set(rpcapi.METHOD_VERSIONS) == exposed
    # A version may bring only objects (1.3: ServerSnapshot 1.1), none newer.
    assert _tuple(max(rpcapi.METHOD_VERSIONS.values(), key=_tuple)) <= \
        _tuple(rpcapi.RPC_API_VERSION)


def test_the_newest_rpc_version_carries_the_objects_at_their_versions():
    """An object version bumped without a new RPC API version fails here:
    add one, with its row in OBJECT_VERSIONS (the compute services of 1.2
    do not know the new object version)."""
    classes = base.NativesnapObjectRegistry.obj_classes()
    newest = rpcapi.OBJECT_VERSIONS[rpcapi.RPC_API_VERSION]
    assert {name: classes[name][0].VERSION for name in newest} == newest


def test_each_rpc_version_carried_what_the_one_before_did_or_newer():
    versions = sorted(rpcapi.OBJECT_VERSIONS, key=_tuple)
    assert versions[-1] == rpcapi.RPC_API_VERSION
    for before, after in zip(versions, versions[1:]):
        old, new = rpcapi.OBJECT_VERSIONS[before], rpcapi.OBJECT_VERSIONS[after]
        assert set(old) <= set(new)
        for name, version in old.items():
            assert _tuple(new[name]) >= _tuple(version), (name, before, after)


def _tuple(version):
    return tuple(int(n) for n in version.split("."))
