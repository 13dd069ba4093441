"""compute.api's bare-metal node verbs on a real database (sqlite and
PostgreSQL): enrolment records the node, the server adopted on a node is
found by the node's id or name, and a node with a server adopted on it
cannot be deleted (409, nothing removed)."""

from oslo_utils import uuidutils
import pytest

from nativesnap.common import states
from nativesnap.compute import api as compute_api
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap.objects import baremetal_node as node_obj
from nativesnap.objects import server as server_obj

TOKEN = "agent-token-" + "t" * 20


@pytest.fixture
def api(database):
    # The node verbs ask no compute service: no RPC client is needed.
    return compute_api.API(rpcapi=object())


@pytest.fixture
def context():
    return ns_context.RequestContext(user_id="admin", project_id="ops",
                                     roles=["admin"])


def enrol(api, context, name=None, **values):
    return api.enrol_node(context, dict(
        name=name or "node-" + uuidutils.generate_uuid()[:8],
        agent_url="https://10.0.0.5:9999", agent_token=TOKEN,
        power_interface="none", redfish_verify_ca=True, **values))


def adopt_on(context, ref, driver="baremetal"):
    """A server record as the bare-metal driver's adopt would leave it
    (the driver itself is not built yet)."""
    server = server_obj.Server(context)
    server.name = "bm-" + ref[:8]
    server.project_id = "p1"
    server.driver = driver
    server.hypervisor_ref = ref
    server.host = "test-host"
    server.status = states.ACTIVE
    server.origin = states.ADOPTED
    server.create()
    return server


def test_enrol_records_the_node_with_its_secrets(api, context):
    node = enrol(api, context, root_device_hint={"wwn": "0x5000"},
                 redfish_password=None)
    again = node_obj.BaremetalNode.get_by_id(context, node.id)
    assert again.agent_token == TOKEN and again.root_device_hint == {
        "wwn": "0x5000"}
    assert again.power_interface == "none"


def test_the_server_adopted_on_a_node_is_found_by_id_or_by_name(api, context):
    by_id, by_name, free = (enrol(api, context) for _ in range(3))
    on_id = adopt_on(context, by_id.id)
    on_name = adopt_on(context, by_name.name)
    adopt_on(context, free.name, driver="fake")  # not a bare-metal server
    assert api.node_servers(context, [by_id, by_name, free]) == {
        by_id.id: on_id.id, by_name.id: on_name.id}
    assert api.node_servers(context, []) == {}


@pytest.mark.parametrize("by", ["id", "name"])
def test_a_node_with_an_adopted_server_is_not_deleted(api, context, by):
    node = enrol(api, context)
    server = adopt_on(context, getattr(node, by))
    with pytest.raises(exception.Conflict) as info:
        api.delete_node(context, node)
    assert info.value.code == 409
    assert server.id in str(info.value) and node.id in str(info.value)
    assert node_obj.BaremetalNode.get_by_id(context, node.id).id == node.id
    server.destroy()
    api.delete_node(context, node)
    with pytest.raises(exception.NotFound):
        node_obj.BaremetalNode.get_by_id(context, node.id)


def test_a_taken_name_is_a_conflict(api, context):
    enrol(api, context, name="rack1-n1")
    with pytest.raises(exception.Conflict, match="rack1-n1"):
        enrol(api, context, name="rack1-n1")
