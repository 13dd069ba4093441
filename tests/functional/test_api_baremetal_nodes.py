"""/v1/baremetal/nodes over HTTP against a real nativesnap-api (fake driver,
sqlite and PostgreSQL): administrators enrol, list, show and delete nodes;
anyone else gets 403; bad input is a 400 that stores nothing; a node with a
server adopted on it cannot be deleted (409); and the agent token and the
BMC password never come back in any answer nor appear in the service log.

No bare-metal driver exists yet, and adopt refuses a driver that is not
enabled (400): the server "adopted on a node" is written into the
service's database as the driver's adopt will write it (driver
``baremetal``, hypervisor_ref the node's id or name).
"""

import copy
import datetime
import uuid

import pytest
import sqlalchemy as sa

from tests import fixtures
from tests.functional import helpers as h
from tests.functional.test_api_openapi import conforms

PATH = "/v1/baremetal/nodes"
TOKEN = "agent-TOKEN-" + uuid.uuid4().hex
PASSWORD = "bmc-PASSWORD-" + uuid.uuid4().hex
SECRETS = (TOKEN, PASSWORD)
REDFISH = {"interface": "redfish", "address": "https://10.0.1.6:8443",
           "system_id": "/redfish/v1/Systems/1", "username": "root",
           "password": PASSWORD, "verify_ca": False}


def node_body(name=None, **fields):
    node = {"name": name or h.unique("node-"),
            "agent_url": "https://10.0.0.5:9999", "agent_token": TOKEN}
    node.update(fields)
    return {"node": node}


def enrol(api, token=h.ADMIN, **fields):
    resp = api.request("POST", PATH, token=token, json=node_body(**fields))
    return h.ok(resp, 201)["node"], resp


def node_ids(api):
    return sorted(h.list_ids(api, f"{PATH}?limit=1000", key="nodes"))


def no_secrets(text):
    for secret in SECRETS:
        assert secret not in text, "a secret was sent back or logged"


def adopt_on(api, ref):
    """A bare-metal server record naming its node by ``ref``."""
    server_id = str(uuid.uuid4())
    engine = h.db_engine(api)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO servers (id, name, project_id, driver, "
                "hypervisor_ref, host, status, origin, linked, capabilities, "
                "driver_info, created_at) VALUES (:id, 'bm', :project, "
                "'baremetal', :ref, 'test-host', 'ACTIVE', 'adopted', :false, "
                "'{}', '{}', :now)"),
                {"id": server_id, "project": h.PROJECT_A, "ref": ref,
                 "false": False, "now": datetime.datetime.utcnow()})
    finally:
        engine.dispose()
    return server_id


def remove_server(api, server_id):
    engine = h.db_engine(api)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM servers WHERE id = :id"),
                         {"id": server_id})
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def doc(api):
    return h.ok(api.request("GET", "/v1/openapi.json"))


def test_enrol_show_list_and_delete_a_node(api, doc):
    hint = {"serial": "S3Z1NB0K", "wwn": "0x5000c500a1b2c3d4", "size": 40,
            "name": "/dev/sda"}
    node, resp = enrol(api, root_device_hint=hint, power=REDFISH)
    conforms(doc, resp)
    assert resp.headers["Location"] == f"{api.url}{PATH}/{node['id']}"
    assert node["root_device_hint"] == hint
    assert node["power"] == {"interface": "redfish",
                             "address": "https://10.0.1.6:8443",
                             "system_id": "/redfish/v1/Systems/1",
                             "username": "root", "verify_ca": False}
    assert node["agent_url"] == "https://10.0.0.5:9999"
    assert node["server_id"] is None and node["last_heartbeat_at"] is None
    assert node["agent_version"] is None and node["created_at"]
    assert set(node) == {"id", "name", "agent_url", "root_device_hint", "power",
                         "last_heartbeat_at", "agent_version", "server_id",
                         "created_at", "updated_at", "links"}
    plain, _ = enrol(api)
    assert plain["power"]["interface"] == "none"
    assert plain["root_device_hint"] is None
    shown = api.request("GET", f"{PATH}/{node['id']}")
    assert conforms(doc, shown)["node"] == node
    listed = api.request("GET", f"{PATH}?sort_key=name&sort_dir=asc")
    names = [n["name"] for n in conforms(doc, listed)["nodes"]]
    assert names == sorted(names) and node["name"] in names
    deleted = api.request("DELETE", f"{PATH}/{node['id']}")
    assert deleted.status_code == 204
    conforms(doc, deleted)
    gone = api.request("GET", f"{PATH}/{node['id']}")
    h.assert_fault(gone, 404, node["id"])
    conforms(doc, gone)
    h.assert_fault(api.request("DELETE", f"{PATH}/{node['id']}"), 404)
    h.assert_fault(api.request("GET", f"{PATH}/not-a-uuid"), 400, "uuid")
    assert node["id"] not in node_ids(api) and plain["id"] in node_ids(api)


def test_listings_page_with_next_links(api, doc):
    ids = {enrol(api)[0]["id"] for _ in range(3)}
    first = api.request("GET", f"{PATH}?limit=2&sort_key=id&sort_dir=asc")
    body = conforms(doc, first)
    assert len(body["nodes"]) == 2 and body["nodes_links"][0]["rel"] == "next"
    items, pages = h.follow_pages(api, f"{PATH}?limit=2", h.ADMIN, key="nodes")
    assert ids <= {n["id"] for n in items} and pages >= 2
    assert len(items) == len({n["id"] for n in items})
    h.assert_fault(api.request("GET", f"{PATH}?sort_key=agent_token"), 400,
                   "sort_key")
    h.assert_fault(api.request("GET", f"{PATH}?marker={uuid.uuid4()}"), 400,
                   "marker")


def test_a_second_node_with_the_same_name_is_a_conflict(api, doc):
    node, _ = enrol(api)
    before = node_ids(api)
    resp = api.request("POST", PATH, json=node_body(name=node["name"]))
    h.assert_fault(resp, 409, node["name"], "unique")
    conforms(doc, resp)
    no_secrets(resp.text)
    assert node_ids(api) == before


@pytest.mark.parametrize("token", [h.ALICE, "member:admin-project"])
def test_non_administrators_get_403_on_every_route(api, doc, token):
    node, _ = enrol(api)
    before = node_ids(api)
    answers = [
        api.request("POST", PATH, token=token, json=node_body()),
        api.request("POST", PATH, token=token, json={"bogus": 1}),
        api.request("GET", PATH, token=token),
        api.request("GET", f"{PATH}?bogus=1", token=token),
        api.request("GET", f"{PATH}/{node['id']}", token=token),
        api.request("GET", f"{PATH}/{uuid.uuid4()}", token=token),
        api.request("DELETE", f"{PATH}/{node['id']}", token=token),
    ]
    for resp in answers:
        h.assert_fault(resp, 403, "nativesnap:baremetal_nodes:")
        conforms(doc, resp)
    assert node_ids(api) == before


BAD_BODIES = [
    ("missing agent_url", {"node": {"name": "n", "agent_token": TOKEN}},
     ["agent_url", "required"]),
    ("ftp agent_url", node_body(agent_url="ftp://10.0.0.5/agent"),
     ["node/agent_url", "http://"]),
    ("credentials in the URL", node_body(agent_url=f"https://u:{PASSWORD}@h"),
     ["node/agent_url"]),
    ("bad port", node_body(agent_url="https://10.0.0.5:99999"), ["port"]),
    ("hint size big", node_body(root_device_hint={"size": "big"}),
     ["node/root_device_hint/size", "integer"]),
    ("unknown key", node_body(colour="blue"), ["unknown field", "colour"]),
    ("unknown hint key", node_body(root_device_hint={"vendor": "x"}),
     ["unknown field", "vendor"]),
    ("short token", node_body(agent_token="short"), ["agent_token", "16"]),
    ("redfish without address", node_body(power={"interface": "redfish",
                                                  "system_id": "1",
                                                  "password": PASSWORD}),
     ["address", "required"]),
    ("redfish settings for none", node_body(power=dict(REDFISH,
                                                       interface="none")),
     ["node/power", "redfish"]),
    ("password with a NUL", node_body(power=dict(REDFISH,
                                                 password=PASSWORD + "\x00")),
     ["node/power/password"]),
    ("no envelope", {"name": "n"}, ["node", "required"]),
]


@pytest.mark.parametrize("label,body,words", BAD_BODIES,
                         ids=[b[0] for b in BAD_BODIES])
def test_bad_input_is_a_400_that_stores_nothing(api, doc, label, body, words):
    before = node_ids(api)
    resp = api.request("POST", PATH, json=copy.deepcopy(body))
    h.assert_fault(resp, 400, *words)
    conforms(doc, resp)
    no_secrets(resp.text)
    assert node_ids(api) == before


@pytest.mark.parametrize("by", ["id", "name"])
def test_a_node_with_an_adopted_server_cannot_be_deleted(api, doc, by):
    node, _ = enrol(api)
    server_id = adopt_on(api, node[by])
    shown = h.ok(api.request("GET", f"{PATH}/{node['id']}"))["node"]
    assert shown["server_id"] == server_id
    listed = h.ok(api.request("GET", f"{PATH}?limit=1000"))["nodes"]
    assert {n["id"]: n["server_id"] for n in listed}[node["id"]] == server_id
    resp = api.request("DELETE", f"{PATH}/{node['id']}")
    h.assert_fault(resp, 409, node["id"], server_id, "delete the server")
    conforms(doc, resp)
    assert node["id"] in node_ids(api)
    # Once the server is gone, the node is free. (This service runs the fake
    # driver only: the record is removed here; test_baremetal_driver.py
    # deletes servers of the real driver through the API.)
    remove_server(api, server_id)
    assert h.ok(api.request("GET", f"{PATH}/{node['id']}"))["node"][
        "server_id"] is None
    assert api.request("DELETE", f"{PATH}/{node['id']}").status_code == 204


def test_adopting_on_a_service_without_the_baremetal_driver_is_refused(api):
    node, _ = enrol(api)
    resp = api.request("POST", "/v1/servers", json={"server": {
        "name": "bm", "driver": "baremetal", "hypervisor_ref": node["id"]}})
    h.assert_fault(resp, 400, "baremetal", "not enabled")


def test_secrets_never_come_back_in_any_answer_nor_the_log(api):
    node, created = enrol(api, power=REDFISH)
    answers = [created,
               api.request("GET", f"{PATH}/{node['id']}"),
               api.request("GET", PATH),
               api.request("GET", f"{PATH}?limit=1"),
               api.request("POST", PATH, json=node_body(name=node["name"],
                                                        power=REDFISH)),
               api.request("POST", PATH, json=node_body(agent_url="ftp://x",
                                                        power=REDFISH)),
               api.request("POST", PATH, token=h.ALICE,
                           json=node_body(power=REDFISH)),
               api.request("DELETE", f"{PATH}/{node['id']}")]
    for resp in answers:
        no_secrets(resp.text)
        no_secrets(str(resp.headers))
    no_secrets(api.read_log())
    assert node["id"] in api.read_log()  # the log is the one being read


@pytest.fixture(scope="module")
def debug_api(tmp_path_factory):
    """A nativesnap-api with [DEFAULT] debug = true."""
    state = str(tmp_path_factory.mktemp("api-debug"))
    server = fixtures.APIServer(state, fixtures.sqlite_url(state), extra_conf={
        "DEFAULT": {"debug": "true"}})
    server.manage("db", "sync")
    server.start()
    yield server
    server.stop()


def test_secrets_stay_out_of_a_debug_log_too(debug_api):
    node, _ = enrol(debug_api, power=REDFISH)
    debug_api.request("GET", f"{PATH}/{node['id']}")
    debug_api.request("POST", PATH, json=node_body(name=node["name"],
                                                   power=REDFISH))
    debug_api.request("POST", PATH, json=node_body(agent_token="x" * 5000))
    debug_api.request("DELETE", f"{PATH}/{node['id']}")
    log = debug_api.read_log()
    assert node["id"] in log
    no_secrets(log)
