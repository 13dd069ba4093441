"""The body schema of POST /v1/baremetal/nodes: what it accepts, what it
refuses with a message naming the field, and that no message ever echoes a
secret."""

import copy

import pytest

from nativesnap.api.extensions import baremetal_nodes as nodes_ext
from nativesnap.api.schemas import baremetal_nodes as schema
from nativesnap.api import validation
from nativesnap import exception

TOKEN = "agent-token-0123456789abcdef"
PASSWORD = "bmc-Pa55word!"
MINIMAL = {"node": {"name": "rack1-n1", "agent_url": "https://10.0.0.5:9999",
                    "agent_token": TOKEN}}
REDFISH = {"interface": "redfish", "address": "https://10.0.0.9",
           "system_id": "/redfish/v1/Systems/1", "username": "root",
           "password": PASSWORD, "verify_ca": False}


def body(**fields):
    out = copy.deepcopy(MINIMAL)
    out["node"].update(fields)
    return out


def refused(instance):
    with pytest.raises(exception.ValidationError) as info:
        validation.validate(schema.create, instance)
    message = str(info.value)
    assert TOKEN not in message and PASSWORD not in message, message
    return message


@pytest.mark.parametrize("instance", [
    MINIMAL,
    body(agent_url="http://[fd00::5]:9999/agent"),
    body(agent_url="https://bm-agent.example.org"),
    body(root_device_hint={"serial": "S3Z1NB0K", "wwn": "0x5000c500a1b2c3d4",
                           "size": 40, "name": "/dev/sda"}),
    body(root_device_hint={"size": 1}),
    body(power={"interface": "none"}),
    body(power=REDFISH),
    body(power={"interface": "redfish", "address": "http://bmc:8000",
                "system_id": "1"}),
    body(agent_token="t" * 16),
    body(agent_token="t" * 4096),
])
def test_valid_bodies_are_accepted(instance):
    validation.validate(schema.create, instance)


@pytest.mark.parametrize("instance,words", [
    ({"node": {"name": "n", "agent_token": TOKEN}}, ["agent_url", "required"]),
    ({"node": {"name": "n", "agent_url": "https://a"}},
     ["agent_token", "required"]),
    ({"node": {"agent_url": "https://a", "agent_token": TOKEN}},
     ["name", "required"]),
    (body(agent_url="ftp://10.0.0.5/agent"), ["node/agent_url", "http://"]),
    (body(agent_url="10.0.0.5:9999"), ["node/agent_url", "https://"]),
    (body(agent_url="https://user:pw@10.0.0.5"), ["node/agent_url",
                                                  "user:password@"]),
    (body(agent_url="https://a b"), ["node/agent_url"]),
    (body(agent_token="short"), ["node/agent_token", "16"]),
    (body(agent_token="t" * 4097), ["node/agent_token", "4096"]),
    (body(agent_token=TOKEN + "\n"), ["node/agent_token", "control"]),
    (body(agent_token=12345678901234567), ["node/agent_token", "string"]),
    (body(name=""), ["node/name"]),
    (body(name="n" * 256), ["node/name", "255"]),
    (body(root_device_hint={"size": "big"}), ["node/root_device_hint/size",
                                              "integer"]),
    (body(root_device_hint={"size": 0}), ["node/root_device_hint/size", ">= 1"]),
    (body(root_device_hint={"vendor": "x"}), ["unknown field", "vendor"]),
    (body(root_device_hint={}), ["node/root_device_hint", "at least 1"]),
    (body(root_device_hint="sda"), ["node/root_device_hint", "object"]),
    (body(colour="blue"), ["unknown field", "colour"]),
    ({"node": MINIMAL["node"], "extra": 1}, ["unknown field", "extra"]),
    (body(power={"interface": "ipmi"}), ["node/power/interface", "redfish"]),
    (body(power={}), ["interface", "required"]),
    (body(power={"interface": "redfish", "system_id": "1"}),
     ["address", "required", "node/power"]),
    (body(power={"interface": "redfish", "address": "https://b"}),
     ["system_id", "required"]),
    (body(power={"interface": "none", "address": "https://b",
                 "password": PASSWORD}), ["node/power", "redfish"]),
    (body(power=dict(REDFISH, address="ftp://b")), ["node/power/address"]),
    (body(power=dict(REDFISH, verify_ca="no")), ["node/power/verify_ca",
                                                 "boolean"]),
    (body(power=dict(REDFISH, password=PASSWORD + "\x00")),
     ["node/power/password", "control"]),
    (body(power=dict(REDFISH, password="")), ["node/power/password"]),
    (body(power=dict(REDFISH, ipmi=True)), ["unknown field", "ipmi"]),
])
def test_invalid_bodies_are_refused_naming_the_field(instance, words):
    message = refused(instance).lower()
    for word in words:
        assert word.lower() in message, (word, message)


def test_the_secrets_are_write_only_in_the_documented_schema():
    node = schema.create["properties"]["node"]["properties"]
    assert node["agent_token"]["writeOnly"] is True
    assert node["power"]["properties"]["password"]["writeOnly"] is True
    assert node["agent_url"]["format"] == "uri"


def test_a_bad_port_is_refused_after_the_schema():
    with pytest.raises(exception.ValidationError, match="port"):
        nodes_ext._check_port("node/agent_url", "https://10.0.0.5:99999")
    nodes_ext._check_port("node/agent_url", "https://10.0.0.5:9999")


def test_node_values_default_to_no_power_and_verify_the_ca():
    values = nodes_ext.node_values(MINIMAL["node"])
    assert values["power_interface"] == "none"
    assert values["redfish_verify_ca"] is True
    assert values["root_device_hint"] is None
    assert values["redfish_password"] is None
    values = nodes_ext.node_values(body(power=REDFISH)["node"])
    assert (values["power_interface"], values["redfish_address"],
            values["redfish_system_id"], values["redfish_username"],
            values["redfish_password"], values["redfish_verify_ca"]) == (
        "redfish", "https://10.0.0.9", "/redfish/v1/Systems/1", "root",
        PASSWORD, False)
