"""The API side and a compute service on a real (sqlite) database with the
fake driver, in a temp dir, joined by the in-process RPC transport."""

import time

import pytest

from nativesnap.common import rpc
from nativesnap.common import states
from nativesnap.compute import api as compute_api
from nativesnap.compute import manager as compute_manager
from nativesnap.compute import rpcapi as compute_rpcapi
from nativesnap.compute import task_runner
from nativesnap import context as ns_context
from nativesnap.image import local as local_store
from nativesnap.objects import image as image_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj
from nativesnap.virt import fake

WAIT = 15  # bound of every wait; never reached when the code works


class CastsAsCalls(compute_rpcapi.ComputeAPI):
    """The RPC client with each cast made as a call, so that a test goes on
    once the compute service has taken the task (its handler returned)."""

    def _cast(self, context, host, method, version=None, **kwargs):
        self.client.prepare(server=host, timeout=WAIT).call(context, method,
                                                            **kwargs)


class Env:
    """The API side (``manager``), a compute service (``compute``) and
    helpers to drive them."""

    def __init__(self, tmp_path, runner=None, family=None, volume_api=None,
                 sync_interval=0):
        self.tmp_path = tmp_path
        self.family = family if family is not None else []
        for earlier in self.family:
            earlier.compute.stop_serving()  # one compute serves the host
        self.family.append(self)
        self.driver = fake.FakeDriver()
        self.store = local_store.LocalImageStore(str(tmp_path / "images"))
        self.store.ensure()
        self.runner = runner or task_runner.TaskRunner(
            workers=4, queue_size=4, cancel_grace=0.2, watchdog_interval=0.05)
        self.compute = compute_manager.ComputeManager(
            host="test-host", drivers={"fake": self.driver}, runner=self.runner,
            image_store=self.store, volume_api=volume_api)
        self.compute.start(ns_context.get_admin_context(),
                           sync_interval=sync_interval)
        self.manager = compute_api.API(rpcapi=CastsAsCalls())
        self.context = ns_context.RequestContext(
            user_id="alice", project_id="p1", roles=["member", "reader"])

    def restart(self, runner=None, volume_api=None, sync_interval=0):
        """A new compute process: new driver instance (reading the fake's
        state file), new runner, same database and store."""
        return Env(self.tmp_path, runner=runner, family=self.family,
                   volume_api=volume_api, sync_interval=sync_interval)

    def init_host(self):
        self.compute.init_host(ns_context.get_admin_context())
        return self

    # --- objects, always fresh from the database ------------------------------

    def server(self, server_id):
        return server_obj.Server.get_by_id(self.context, server_id)

    def snapshot(self, snapshot_id):
        return snapshot_obj.ServerSnapshot.get_by_id(self.context, snapshot_id)

    def snapshots(self, server_id):
        return list(snapshot_obj.ServerSnapshotList.get_all(
            self.context, server_id=server_id, sort_dir="asc"))

    def images(self, snapshot_id):
        return list(image_obj.ImageList.get_by_snapshots(self.context,
                                                         [snapshot_id]))

    def fake_object(self, ref):
        return self.driver._object(ref)

    # --- actions -------------------------------------------------------------------

    def adopt(self, ref="vm-1", name=None):
        return self.manager.adopt_server(self.context, name, "fake", ref, "p1")

    def wait_idle(self, server_id):
        deadline = time.monotonic() + WAIT
        while True:
            server = self.server(server_id)
            if server.task_state is None:
                return server
            assert time.monotonic() < deadline, (
                f"server {server_id} still {server.task_state} after {WAIT} s")
            time.sleep(0.02)

    def create(self, server_id, name="snap", **kwargs):
        """Snapshot the server and wait for the task to end."""
        snap = self.manager.create_snapshot(self.context, self.server(server_id),
                                            name, **kwargs)
        self.wait_idle(server_id)
        return self.snapshot(snap.id)


@pytest.fixture
def env(sqlite_database, tmp_path, config):
    config("state_path", str(tmp_path))
    config("task_delay", 0.6, group="fake")
    config("hang_seconds", 2.0, group="fake")
    environment = Env(tmp_path)
    yield environment
    for e in environment.family:
        e.compute.stop_serving()
        if isinstance(e.runner, task_runner.TaskRunner):
            e.runner.shutdown(WAIT)
    rpc.cleanup()


def assert_no_task_left(context):
    busy = server_obj.ServerList.get_busy(context, "test-host")
    assert [(s.id, s.task_state) for s in busy] == []
    in_flight = snapshot_obj.ServerSnapshotList.get_by_status(
        context, "test-host", (states.CREATING, states.DELETING))
    assert [(s.id, s.status) for s in in_flight] == []
