"""The database API of bare-metal nodes on sqlite and on real PostgreSQL:
CRUD, unique names, pagination, the lookup of servers adopted on a node, and
errors that never carry the row's secrets."""

from oslo_utils import uuidutils
import pytest

from nativesnap.common import states
from nativesnap import context as ns_context
from nativesnap.db import api as db
from nativesnap import exception

TOKEN = "agent-token-" + "x" * 20
PASSWORD = "bmc-password-42"


def ctx():
    return ns_context.get_admin_context()


def make_node(context, **values):
    row = {"id": uuidutils.generate_uuid(),
           "name": "node-" + uuidutils.generate_uuid()[:8],
           "agent_url": "https://10.0.0.5:9999", "agent_token": TOKEN,
           "power_interface": "none", "redfish_verify_ca": True}
    row.update(values)
    return db.baremetal_node_create(context, row)


def make_server(context, ref, driver="baremetal", host="host-a"):
    return db.server_create(context, {
        "id": uuidutils.generate_uuid(), "name": "bm", "project_id": "p1",
        "driver": driver, "hypervisor_ref": ref, "host": host,
        "status": states.ACTIVE, "origin": states.ADOPTED, "linked": False,
        "capabilities": {}, "driver_info": {}})


def test_node_create_get_update_destroy(database):
    context = ctx()
    created = make_node(context, root_device_hint={"serial": "S1", "size": 40},
                        power_interface="redfish",
                        redfish_address="https://10.0.0.9",
                        redfish_system_id="/redfish/v1/Systems/1",
                        redfish_username="root", redfish_password=PASSWORD,
                        redfish_verify_ca=False)
    got = db.baremetal_node_get(context, created["id"])
    assert got["root_device_hint"] == {"serial": "S1", "size": 40}
    assert got["redfish_verify_ca"] is False
    assert got["agent_token"] == TOKEN and got["redfish_password"] == PASSWORD
    assert got["created_at"] is not None and got["last_heartbeat_at"] is None
    assert make_node(context)["root_device_hint"] is None  # NULL stays None
    updated = db.baremetal_node_update(context, created["id"],
                                       {"agent_version": "1.0.0"})
    assert updated["agent_version"] == "1.0.0"
    assert updated["updated_at"] is not None
    db.baremetal_node_destroy(context, created["id"])
    for call in (lambda: db.baremetal_node_get(context, created["id"]),
                 lambda: db.baremetal_node_destroy(context, created["id"]),
                 lambda: db.baremetal_node_update(context, created["id"],
                                                  {"agent_version": "x"})):
        with pytest.raises(exception.NotFound) as info:
            call()
        assert info.value.code == 404 and created["id"] in str(info.value)


def test_a_second_node_of_the_same_name_is_a_conflict_without_secrets(database):
    context = ctx()
    make_node(context, name="rack1-n1")
    with pytest.raises(exception.Conflict) as info:
        make_node(context, name="rack1-n1", agent_token="other-" + TOKEN)
    assert info.value.code == 409 and "rack1-n1" in str(info.value)
    assert TOKEN not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert len(db.baremetal_node_get_all(context)) == 1


def test_an_unexpected_database_error_withholds_the_rows_secrets(database):
    context = ctx()
    with pytest.raises(exception.DBError) as info:
        # No agent_url: NOT NULL fails, with the statement's parameters.
        db.baremetal_node_create(context, {
            "id": uuidutils.generate_uuid(), "name": "n", "agent_token": TOKEN,
            "power_interface": "none", "redfish_verify_ca": True,
            "redfish_password": PASSWORD})
    text = str(info.value)
    assert TOKEN not in text and PASSWORD not in text
    assert info.value.__suppress_context__


def test_node_pages_return_every_node_once_and_refuse_unknown_markers(database):
    context = ctx()
    ids = {make_node(context)["id"] for _ in range(5)}
    seen, marker = [], None
    while True:
        page = db.baremetal_node_get_all(context, sort_key="name",
                                         sort_dir="asc", limit=2, marker=marker)
        if not page:
            break
        seen += [n["id"] for n in page]
        marker = page[-1]["id"]
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    with pytest.raises(exception.InvalidMarker):
        db.baremetal_node_get_all(context, marker=uuidutils.generate_uuid())
    with pytest.raises(exception.InvalidSortKey):
        db.baremetal_node_get_all(context, sort_key="agent_token")


def test_servers_by_refs_find_a_drivers_servers_on_any_host(database):
    context = ctx()
    node = make_node(context, name="rack1-n2")
    by_id = make_server(context, node["id"], host="host-a")
    by_name = make_server(context, "rack1-n2", host="host-b")
    make_server(context, "rack1-n2", driver="fake")  # another driver's object
    found = db.server_get_by_refs(context, "baremetal",
                                  [node["id"], node["name"]])
    assert sorted(s["id"] for s in found) == sorted([by_id["id"], by_name["id"]])
    assert db.server_get_by_refs(context, "baremetal", []) == []
    assert db.server_get_by_refs(context, "baremetal", ["other"]) == []
