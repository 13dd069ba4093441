"""The bare-metal driver's own decisions: what it refuses up front, how it
adopts an enrolled node (read through the manager's lookup), that every verb
first waits for the agent's heartbeat, and what reconcile does with the
files a restart left (real files, a real store directory)."""

import types

import pytest

from nativesnap.common import states
from nativesnap import exception
from nativesnap.virt.baremetal import driver as bm_driver
from nativesnap.virt.baremetal import webdav
from nativesnap.virt import driver

NODE = driver.NodeInfo(id="5b0c8e4e-1c53-4d1e-9d6a-2d8f8d0f4f11", name="n1",
                       agent_url="http://127.0.0.1:9999", agent_token="t0ken")
SNAP = types.SimpleNamespace(id="0b6d4c4e-7a4e-4a55-9d8c-6f0e6f1d2a10")


@pytest.fixture
def drv(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "htpasswd").write_text("")
    made = bm_driver.BaremetalDriver()
    made.store = webdav.WebDAVStore("http://127.0.0.1:8780", str(root),
                                    str(tmp_path / "htpasswd"))
    made.store.ensure()
    nodes = {NODE.id: NODE, NODE.name: NODE}

    def lookup(context, ref):
        if ref not in nodes:
            raise exception.HypervisorObjectNotFound(
                driver="baremetal", what="enrolled node", ref=ref)
        return nodes[ref]

    made.register_node_lookup(lookup)
    return made


def test_a_node_is_adopted_by_name_as_its_id_in_provision_state_active(drv):
    found = drv.adopt(None, "n1")
    assert found.hypervisor_ref == NODE.id
    assert found.provision_state == states.PROVISION_ACTIVE
    assert "t0ken" not in repr(NODE)


def test_an_unknown_node_is_a_400(drv):
    with pytest.raises(exception.HypervisorObjectNotFound):
        drv.adopt(None, "nope")


@pytest.mark.parametrize("args,says", [
    ((None, True, states.QUIESCE_PREFERRED, False), "memory"),
    ((None, False, states.QUIESCE_REQUIRED, False), "quiescing"),
    ((None, False, states.QUIESCE_OFF, True), "include_volumes"),
    (("internal", False, states.QUIESCE_OFF, False), "kind"),
])
def test_what_a_node_cannot_do_is_refused_naming_the_driver(drv, args, says):
    with pytest.raises(exception.UnsupportedOperation, match=says) as info:
        drv.validate_snapshot_request(None, *args)
    assert "baremetal" in str(info.value)


def test_a_snapshot_first_waits_bounded_for_the_agents_heartbeat(drv):
    server = types.SimpleNamespace(hypervisor_ref=NODE.id)
    waiting = drv.create_snapshot(None, server, SNAP, lambda p: None)
    assert isinstance(waiting, driver.Waiting)
    assert waiting.timeout > 0 and "heartbeat" in waiting.reason


def test_a_restore_of_a_snapshot_whose_image_is_gone_fails_before_waiting(drv):
    server = types.SimpleNamespace(hypervisor_ref=NODE.id)
    with pytest.raises(exception.DriverError, match="missing"):
        drv.revert_to_snapshot(None, server, SNAP, True, lambda p: None)


def test_reconcile_removes_a_cut_upload_and_fails_the_snapshot(drv):
    with open(drv.store.incoming_path(SNAP.id), "wb") as f:
        f.write(b"partial")
    server = types.SimpleNamespace(hypervisor_ref=NODE.id, id="s1")
    outcome = drv.reconcile(None, server, states.SNAPSHOTTING, SNAP)
    assert not outcome.completed and "removed" in outcome.reason


def test_reconcile_keeps_a_stored_image_as_the_finished_snapshot(drv):
    with open(drv.store.incoming_path(SNAP.id), "wb") as f:
        f.write(b"verified")
    drv.store.store(SNAP.id, {"size_bytes": 8, "sha256": "x"})
    server = types.SimpleNamespace(hypervisor_ref=NODE.id, id="s1")
    outcome = drv.reconcile(None, server, states.SNAPSHOTTING, SNAP)
    assert outcome.completed
    assert outcome.values["size_bytes"] == 8
    assert outcome.values["kind"] == states.KIND_EXTERNAL
