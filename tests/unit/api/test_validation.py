"""The request schemas refuse what they must, name the field that is wrong,
and accept any printable name unchanged."""

import copy

import pytest

from nativesnap.api.schemas import server_snapshots as snapshot_schemas
from nativesnap.api.schemas import servers as server_schemas
from nativesnap.api import validation
from nativesnap import exception

UUID = "0b1a4c8e-7f0e-4c38-9a55-9d5f4f1e2c3a"
HOSTILE_NAMES = [
    "<a&b>'\"; rm -rf / ../..",
    "../../etc/passwd",
    "$(reboot) `id` | tee /x && echo ;",
    "<![CDATA[x]]></name><name>",
    "名前 — snapshot ☃",
    "a",
    "x" * 255,
]

# (schema, a valid body, a function putting a name into a body)
NAMED = {
    "snapshot.create": (snapshot_schemas.create, {"snapshot": {"name": "s"}},
                        lambda b, v: b["snapshot"].__setitem__("name", v),
                        "snapshot/name"),
    "export": (snapshot_schemas.export, {"export": {"image_name": "i"}},
               lambda b, v: b["export"].__setitem__("image_name", v),
               "export/image_name"),
    "adopt": (server_schemas.adopt,
              {"server": {"name": "n", "driver": "fake", "hypervisor_ref": "r"}},
              lambda b, v: b["server"].__setitem__("name", v), "server/name"),
    "spawn": (server_schemas.spawn, {"server": {"name": "n", "snapshot_id": UUID}},
              lambda b, v: b["server"].__setitem__("name", v), "server/name"),
}


def refused(schema, body, where="request body"):
    with pytest.raises(exception.ValidationError) as info:
        validation.validate(schema, body, where=where)
    assert info.value.code == 400
    return str(info.value)


@pytest.mark.parametrize("key", sorted(NAMED))
def test_valid_bodies_are_accepted(key):
    schema, body, _, _ = NAMED[key]
    validation.validate(schema, body)


def test_full_valid_bodies_are_accepted():
    validation.validate(snapshot_schemas.create, {"snapshot": {
        "name": "s", "description": "d", "memory": True, "quiesce": "required",
        "kind": "external", "include_volumes": False}})
    validation.validate(snapshot_schemas.create, {"snapshot": {
        "name": "s", "description": None, "kind": None}})
    validation.validate(snapshot_schemas.export, {"export": {
        "image_name": "i", "disk_format": "qcow2"}})
    validation.validate(server_schemas.adopt, {"server": {
        "name": "n", "driver": "libvirt", "hypervisor_ref": "dom",
        "project_id": "demo"}})
    validation.validate(server_schemas.spawn, {"server": {
        "name": "n", "snapshot_id": UUID.upper(), "linked": False,
        "power_on": True}})
    validation.validate(server_schemas.revert, {"revert": {
        "snapshot_id": UUID, "power_on": False}})


@pytest.mark.parametrize("key", sorted(NAMED))
@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_names_with_xml_shell_and_path_characters_are_accepted_unchanged(
        key, name):
    schema, body, put, _ = NAMED[key]
    body = copy.deepcopy(body)
    put(body, name)
    before = copy.deepcopy(body)
    validation.validate(schema, body)
    assert body == before


@pytest.mark.parametrize("key", sorted(NAMED))
def test_256_character_name_is_refused_naming_the_field(key):
    schema, body, put, field = NAMED[key]
    body = copy.deepcopy(body)
    put(body, "x" * 256)
    message = refused(schema, body)
    assert f"'{field}'" in message
    assert "256" in message and "255" in message


@pytest.mark.parametrize("key", sorted(NAMED))
@pytest.mark.parametrize("name", ["a\x00b", "a\nb", "tab\there", "\x1b[31mred",
                                  "del\x7f", "\r", "", " leading", "trailing ",
                                  "newline at the end\n", "\n"], ids=repr)
def test_control_characters_empty_and_padded_names_are_refused(key, name):
    schema, body, put, field = NAMED[key]
    body = copy.deepcopy(body)
    put(body, name)
    message = refused(schema, body)
    assert f"'{field}'" in message


@pytest.mark.parametrize("schema,body,field", [
    (snapshot_schemas.create, {"snapshot": {"name": "s", "bogus": 1}}, "bogus"),
    (snapshot_schemas.create, {"snapshot": {"name": "s"}, "extra": {}}, "extra"),
    (snapshot_schemas.export, {"export": {"image_name": "i", "format": "raw"}},
     "format"),
    (server_schemas.adopt, {"server": {"name": "n", "driver": "fake",
                                       "hypervisor_ref": "r", "zone": "z"}},
     "zone"),
    (server_schemas.spawn, {"server": {"name": "n", "snapshot_id": UUID,
                                       "flavor": "m1"}}, "flavor"),
    (server_schemas.revert, {"revert": {"snapshot_id": UUID, "force": True}},
     "force"),
])
def test_unknown_fields_are_refused_naming_them(schema, body, field):
    message = refused(schema, body)
    assert f"'{field}'" in message
    assert "unknown field" in message


@pytest.mark.parametrize("schema,body,field", [
    (snapshot_schemas.create, {"snapshot": {"name": 5}}, "snapshot/name"),
    (snapshot_schemas.create, {"snapshot": {"name": "s", "memory": "true"}},
     "snapshot/memory"),
    (snapshot_schemas.create, {"snapshot": {"name": "s", "memory": 1}},
     "snapshot/memory"),
    (snapshot_schemas.create, {"snapshot": {"name": "s", "description": 3}},
     "snapshot/description"),
    (snapshot_schemas.create, {"snapshot": {"name": "s", "quiesce": "maybe"}},
     "snapshot/quiesce"),
    (snapshot_schemas.create, {"snapshot": {"name": "s", "kind": "full"}},
     "snapshot/kind"),
    (snapshot_schemas.create, {"snapshot": ["name"]}, "snapshot"),
    (snapshot_schemas.export, {"export": {"image_name": "i",
                                          "disk_format": "vmdk"}},
     "export/disk_format"),
    (server_schemas.spawn, {"server": {"name": "n", "snapshot_id": UUID,
                                       "linked": "yes"}}, "server/linked"),
    (server_schemas.revert, {"revert": {"snapshot_id": UUID, "power_on": None}},
     "revert/power_on"),
    (server_schemas.adopt, {"server": {"name": "n", "driver": "Fake!",
                                       "hypervisor_ref": "r"}}, "server/driver"),
    (server_schemas.adopt, {"server": {"name": "n", "driver": "fake\n",
                                       "hypervisor_ref": "r"}}, "server/driver"),
    (server_schemas.adopt, {"server": {"name": "n", "driver": "fake",
                                       "hypervisor_ref": "dom\n"}},
     "server/hypervisor_ref"),
    (server_schemas.adopt, {"server": {"name": "n", "driver": "fake",
                                       "hypervisor_ref": "r",
                                       "project_id": "demo\n"}},
     "server/project_id"),
])
def test_wrong_types_and_values_are_refused_naming_the_field(schema, body, field):
    assert f"'{field}'" in refused(schema, body)


def test_wrong_type_message_says_what_was_expected_and_what_came():
    message = refused(snapshot_schemas.create,
                      {"snapshot": {"name": "s", "memory": "true"}})
    assert "boolean" in message and "string" in message


@pytest.mark.parametrize("body", [None, [], "snapshot", 3, {}])
def test_body_that_is_no_envelope_is_refused(body):
    message = refused(snapshot_schemas.create, body)
    assert "body" in message or "snapshot" in message


def test_missing_required_field_is_named():
    message = refused(snapshot_schemas.create, {"snapshot": {}})
    assert "'name'" in message
    message = refused(server_schemas.revert, {"revert": {}})
    assert "'snapshot_id'" in message


@pytest.mark.parametrize("value", [
    "not-a-uuid", UUID[:-1], UUID + "0", UUID.replace("-", ""),
    "0b1a4c8e-7f0e-4c38-9a55-9d5f4f1e2c3g", "{" + UUID + "}",
    "0b1a4c8e7f0e-4c38-9a55-9d5f-4f1e2c3a", " " + UUID, UUID + "\n", "",
])
def test_malformed_uuids_are_refused_naming_the_field(value):
    message = refused(server_schemas.spawn,
                      {"server": {"name": "n", "snapshot_id": value}})
    assert "'server/snapshot_id'" in message
    assert "UUID" in message
    message = refused(server_schemas.revert, {"revert": {"snapshot_id": value}})
    assert "'revert/snapshot_id'" in message
    with pytest.raises(exception.InvalidUUID) as info:
        validation.check_uuid("snapshot_id", value)
    assert info.value.code == 400


def test_check_uuid_accepts_and_lowercases_a_uuid():
    assert validation.check_uuid("id", UUID.upper()) == UUID


def test_error_message_does_not_echo_long_input():
    message = refused(snapshot_schemas.create,
                      {"snapshot": {"name": "s", "quiesce": "q" * 5000}})
    assert len(message) < 400


@pytest.mark.parametrize("query,field", [
    ({"limit": "-1"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "10\n"}, "limit"),
    ({"marker": "nope"}, "marker"),
    ({"sort_key": "project_id"}, "sort_key"),
    ({"sort_dir": "up"}, "sort_dir"),
    ({"status": "gone"}, "status"),
    ({"what": "1"}, "what"),
])
def test_query_strings_are_validated_naming_the_parameter(query, field):
    message = refused(snapshot_schemas.index_query, query, where="query string")
    assert f"'{field}'" in message
    assert "query string" in message


def test_valid_query_strings_are_accepted():
    validation.validate(snapshot_schemas.index_query, {
        "limit": "10", "marker": UUID, "sort_key": "name", "sort_dir": "asc",
        "status": "available"}, where="query string")
    validation.validate(snapshot_schemas.all_index_query,
                        {"all_projects": "1"}, where="query string")
    validation.validate(server_schemas.index_query,
                        {"all_projects": "true", "limit": "0"},
                        where="query string")


class _Req:
    def __init__(self, pairs):
        from webob import multidict
        self.GET = multidict.MultiDict(pairs)


def test_a_query_parameter_given_twice_is_refused():
    @validation.query_schema(snapshot_schemas.index_query)
    def handler(self, req):
        return "ran"

    assert handler(None, _Req([("limit", "1")])) == "ran"
    with pytest.raises(exception.ValidationError) as info:
        handler(None, _Req([("limit", "1"), ("limit", "2")]))
    assert "'limit'" in str(info.value)


def test_schema_decorator_validates_before_the_handler_runs():
    ran = []

    @validation.schema(snapshot_schemas.create)
    def handler(self, req, body):
        ran.append(body)

    with pytest.raises(exception.ValidationError):
        handler(None, None, body={"snapshot": {"name": "s", "x": 1}})
    assert ran == []
    handler(None, None, body={"snapshot": {"name": "s"}})
    assert ran == [{"snapshot": {"name": "s"}}]
    assert handler.body_schema is snapshot_schemas.create
