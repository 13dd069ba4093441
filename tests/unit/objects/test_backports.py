"""Objects sent to a service of an older release: backported to a version it
knows, they are taken; sent as they are, they are refused, and without a
conductor nobody backports them for it (docs/architecture.md, "Upgrades")."""

from oslo_utils import uuidutils
from oslo_versionedobjects import exception as ovo_exception
import pytest

from nativesnap.common import rpc
from nativesnap.common import states
from nativesnap.compute import rpcapi
from nativesnap import context as ns_context
from nativesnap.objects import base
from nativesnap.objects import server as server_obj
from tests.unit.objects import older

# Server as a compute service built before provision_state knew it.
SERVER_1_2 = older.older_class(server_obj.Server, "1.2", {"provision_state"})


def _bare_metal_server():
    return server_obj.Server(
        id=uuidutils.generate_uuid(), name="metal", project_id="p",
        driver="baremetal", hypervisor_ref="node-1", host="h",
        status=states.ACTIVE, origin=states.ADOPTED,
        provision_state=states.PROVISION_ACTIVE, flatten_ref=None,
        task_wait_info={"reason": "r"})


def test_a_server_backported_to_1_2_is_taken_by_a_service_knowing_only_1_2(
        monkeypatch):
    primitive = _bare_metal_server().obj_to_primitive(target_version="1.2")
    assert primitive["nativesnap_object.version"] == "1.2"
    assert "provision_state" not in primitive["nativesnap_object.data"]
    older.knows_only(monkeypatch, SERVER_1_2)
    taken = rpc.ObjectSerializer().deserialize_entity(None, primitive)
    assert type(taken) is SERVER_1_2
    assert (taken.name, taken.driver, taken.task_wait_info) == (
        "metal", "baremetal", {"reason": "r"})
    assert "provision_state" not in taken.fields


def test_a_server_sent_as_it_is_is_refused_by_a_service_knowing_only_1_2(
        monkeypatch):
    primitive = _bare_metal_server().obj_to_primitive()
    older.knows_only(monkeypatch, SERVER_1_2)
    with pytest.raises(ovo_exception.IncompatibleObjectVersion):
        rpc.ObjectSerializer().deserialize_entity(None, primitive)


@pytest.mark.parametrize("rpc_version", sorted(rpcapi.OBJECT_VERSIONS))
def test_every_object_backports_to_the_versions_each_rpc_version_carried(
        rpc_version):
    versions = rpcapi.OBJECT_VERSIONS[rpc_version]
    classes = base.NativesnapObjectRegistry.obj_classes()
    for name, version in versions.items():
        obj = classes[name][0]()
        primitive = obj.obj_to_primitive(target_version=version,
                                         version_manifest=versions)
        assert primitive["nativesnap_object.version"] == version
        back = base.NativesnapObject.obj_from_primitive(primitive)
        assert back.obj_name() == name


def test_a_field_a_backported_server_lacks_is_read_from_the_record(database):
    """An upgraded compute service gets a Server at 1.2 from an API still
    capped: the field it lacks comes from the database, not an error."""
    context = ns_context.get_admin_context()
    server = _bare_metal_server()
    server._context = context
    server.create()
    primitive = server.obj_to_primitive(target_version="1.2")
    taken = rpc.ObjectSerializer().deserialize_entity(context, primitive)
    assert type(taken) is server_obj.Server
    assert not taken.obj_attr_is_set("provision_state")
    assert taken.provision_state == states.PROVISION_ACTIVE
    assert "provision_state" not in taken.obj_what_changed()
