"""Versioned objects: pinned fingerprints, and the status rule of ServerSnapshot."""

from oslo_utils import uuidutils
from oslo_versionedobjects import fixture as ovo_fixture
import pytest

from nativesnap.common import states
from nativesnap import context as ns_context
from nativesnap.db import api as db
from nativesnap import exception
from nativesnap.objects import baremetal_node as node_obj
from nativesnap.objects import base
from nativesnap.objects import image as image_obj
from nativesnap.objects import server as server_obj
from nativesnap.objects import snapshot as snapshot_obj

# A change to an object's fields or remotable methods changes its hash. When this
# test fails, bump the object's VERSION (and say why in its version comment),
# then update the hash here.
EXPECTED_FINGERPRINTS = {
    "Server": "1.3-75f0360c2198f253494ccb9f99b40237",
    "ServerList": "1.0-15ecf022a68ddbb8c2a6739cfc9f8f5e",
    "ServerSnapshot": "1.1-06d4f7f692b1aae5ec86f0d28216fd08",
    "ServerSnapshotList": "1.0-15ecf022a68ddbb8c2a6739cfc9f8f5e",
    "Image": "1.2-adcb751941e3061842fd0464245e796a",
    "ImageList": "1.0-15ecf022a68ddbb8c2a6739cfc9f8f5e",
    "AssistedVolumeOperation": "1.0-9d88b2aaeb96aefd7d576d2d70c02ead",
    "AssistedVolumeOperationList": "1.0-15ecf022a68ddbb8c2a6739cfc9f8f5e",
    "VolumeAttachment": "1.0-f878a8c859d2619339eaa35e71c74710",
    "VolumeAttachmentList": "1.0-15ecf022a68ddbb8c2a6739cfc9f8f5e",
    "BaremetalNode": "1.0-31e8de52bd0f85bbfd76ce838e1fb72a",
    "BaremetalNodeList": "1.0-15ecf022a68ddbb8c2a6739cfc9f8f5e",
    "Service": "1.0-89d4ef9879994dfa114c4ac00096b6db",
    "ServiceList": "1.0-15ecf022a68ddbb8c2a6739cfc9f8f5e",
    "SnapshotPolicy": "1.0-8ac8be85ce47a7615da96814b2aeada4",
    "SnapshotPolicyList": "1.0-15ecf022a68ddbb8c2a6739cfc9f8f5e",
    "PolicyAttachment": "1.0-39604e07b75e1dcaaa02391502291eba",
    "PolicyAttachmentList": "1.0-15ecf022a68ddbb8c2a6739cfc9f8f5e",
    "QueuedRequest": "1.0-9ca64627d62d348105093bde0908fd96",
    "QueuedRequestList": "1.0-15ecf022a68ddbb8c2a6739cfc9f8f5e",
}


def test_object_fingerprints_match_the_pinned_versions():
    checker = ovo_fixture.ObjectVersionChecker(
        base.NativesnapObjectRegistry.obj_classes())
    expected, actual = checker.test_hashes(EXPECTED_FINGERPRINTS)
    assert expected == actual, (
        "Object fields changed without a version bump: bump VERSION of "
        f"{sorted(expected)} and update EXPECTED_FINGERPRINTS")


def test_every_registered_object_has_a_pinned_fingerprint():
    assert set(base.NativesnapObjectRegistry.obj_classes()) == set(
        EXPECTED_FINGERPRINTS)


def test_a_field_change_without_version_bump_changes_the_fingerprint(monkeypatch):
    checker = ovo_fixture.ObjectVersionChecker(
        base.NativesnapObjectRegistry.obj_classes())
    fields = dict(snapshot_obj.ServerSnapshot.fields,
                  extra=snapshot_obj.fields.StringField(nullable=True))
    monkeypatch.setattr(snapshot_obj.ServerSnapshot, "fields", fields)
    expected, actual = checker.test_hashes(EXPECTED_FINGERPRINTS)
    assert set(expected) == {"ServerSnapshot"}
    assert actual["ServerSnapshot"] != expected["ServerSnapshot"]


def test_a_server_backported_to_1_0_has_no_task_wait_fields():
    server = server_obj.Server(id=uuidutils.generate_uuid(), name="n",
                               task_state=states.SNAPSHOT_WAIT,
                               task_wait_info={"reason": "r"})
    primitive = server.obj_to_primitive(target_version="1.0")
    data = primitive["nativesnap_object.data"]
    assert primitive["nativesnap_object.version"] == "1.0"
    assert "task_wait_info" not in data and data["name"] == "n"


def test_a_server_and_an_image_backported_to_1_1_have_no_flatten_fields():
    server = server_obj.Server(id=uuidutils.generate_uuid(), name="n",
                               flatten_progress=40,
                               task_wait_info={"reason": "r"})
    data = server.obj_to_primitive(target_version="1.1")["nativesnap_object.data"]
    assert "flatten_progress" not in data and data["task_wait_info"]
    image = image_obj.Image(id=uuidutils.generate_uuid(), name="i",
                            flatten_progress=0, fallback_reason="why",
                            backend="local")
    data = image.obj_to_primitive(target_version="1.1")["nativesnap_object.data"]
    assert not {"flatten_progress", "fallback_reason"} & set(data)
    assert data["backend"] == "local"


def test_objects_round_trip_through_primitives():
    snap = snapshot_obj.ServerSnapshot(
        id=uuidutils.generate_uuid(), server_id=uuidutils.generate_uuid(),
        project_id="p", name="n", status=states.AVAILABLE, progress=100,
        disks=[{"target": "vda"}], fault=None)
    prim = snap.obj_to_primitive()
    back = snapshot_obj.ServerSnapshot.obj_from_primitive(prim)
    assert back.as_dict() == snap.as_dict()


def test_enum_fields_refuse_values_outside_the_states_module():
    snap = snapshot_obj.ServerSnapshot()
    with pytest.raises(ValueError):
        snap.status = "gone"
    server = server_obj.Server()
    with pytest.raises(ValueError):
        server.task_state = "rebooting"
    image = image_obj.Image()
    with pytest.raises(ValueError):
        image.status = "queued"


def _server_and_snapshot(context):
    server = server_obj.Server(context)
    server.name = "vm"
    server.project_id = "p"
    server.driver = "fake"
    server.hypervisor_ref = "vm-" + uuidutils.generate_uuid()
    server.host = "h"
    server.status = states.ACTIVE
    server.origin = states.ADOPTED
    server.create()
    snap = snapshot_obj.ServerSnapshot(context)
    snap.server_id = server.id
    snap.project_id = "p"
    snap.name = "s"
    snap.create()
    return server, snap


def test_snapshot_save_refuses_a_status_change_and_changes_nothing(database):
    context = ns_context.get_admin_context()
    _, snap = _server_and_snapshot(context)
    assert snap.status == states.CREATING
    snap.status = states.AVAILABLE
    snap.name = "renamed"
    with pytest.raises(ValueError, match="transition"):
        snap.save()
    row = db.snapshot_get(context, snap.id)
    assert row["status"] == states.CREATING
    assert row["name"] == "s"


def test_snapshot_save_stores_other_fields(database):
    context = ns_context.get_admin_context()
    _, snap = _server_and_snapshot(context)
    snap.name = "renamed"
    snap.save()
    assert snapshot_obj.ServerSnapshot.get_by_id(context, snap.id).name == "renamed"


def test_snapshot_transition_moves_status_and_saves_values_together(database):
    context = ns_context.get_admin_context()
    _, snap = _server_and_snapshot(context)
    assert snap.transition(states.CREATE_DONE, progress=100,
                           kind=states.KIND_EXTERNAL) == states.AVAILABLE
    again = snapshot_obj.ServerSnapshot.get_by_id(context, snap.id)
    assert (again.status, again.progress, again.kind) == (
        states.AVAILABLE, 100, states.KIND_EXTERNAL)


def test_snapshot_transition_not_in_the_machine_is_refused_and_changes_nothing(
        database):
    context = ns_context.get_admin_context()
    _, snap = _server_and_snapshot(context)
    with pytest.raises(exception.InvalidStateTransition):
        snap.transition(states.DELETE, name="renamed")
    row = db.snapshot_get(context, snap.id)
    assert (row["status"], row["name"]) == (states.CREATING, "s")


def test_snapshot_progress_never_moves_backwards_and_stays_within_0_100(database):
    context = ns_context.get_admin_context()
    _, snap = _server_and_snapshot(context)
    snap.set_progress(40)
    snap.set_progress(10)
    assert snapshot_obj.ServerSnapshot.get_by_id(context, snap.id).progress == 40
    snap.set_progress(250)
    assert snapshot_obj.ServerSnapshot.get_by_id(context, snap.id).progress == 100


def test_null_fault_stays_none_and_a_fault_round_trips(database):
    context = ns_context.get_admin_context()
    server, snap = _server_and_snapshot(context)
    assert server_obj.Server.get_by_id(context, server.id).fault is None
    assert snapshot_obj.ServerSnapshot.get_by_id(context, snap.id).fault is None
    snap.transition(states.CREATE_FAILED, fault={"code": 500, "message": "m"})
    assert snapshot_obj.ServerSnapshot.get_by_id(context, snap.id).fault == {
        "code": 500, "message": "m"}


def test_a_baremetal_nodes_secrets_are_masked_when_it_is_printed(database):
    context = ns_context.get_admin_context()
    node = node_obj.BaremetalNode(context)
    node.name = "rack1-n1"
    node.agent_url = "https://10.0.0.5:9999"
    node.agent_token = "tok-" + "s3cr3t" * 4
    node.power_interface = node_obj.POWER_REDFISH
    node.redfish_address = "https://10.0.0.9"
    node.redfish_system_id = "/redfish/v1/Systems/1"
    node.redfish_password = "bmc-pa55word"
    node.root_device_hint = {"size": 40}
    node.create()
    again = node_obj.BaremetalNode.get_by_id(context, node.id)
    # Stored as given (the conductor presents them) ...
    assert again.agent_token == "tok-" + "s3cr3t" * 4
    assert again.redfish_password == "bmc-pa55word"
    assert again.root_device_hint == {"size": 40}
    assert again.redfish_verify_ca is True
    # ... and masked wherever the object is printed.
    for text in (repr(again), str(again)):
        assert "s3cr3t" not in text and "pa55word" not in text
        assert "rack1-n1" in text
