"""Properties of the API's validators, checked by hypothesis over generated
input (derandomized, so a run is repeatable):

- a name of 1-255 characters with no control character (Unicode category Cc:
  C0, DEL and C1) and no leading or trailing white space is accepted unchanged
  by every schema that takes one; an empty, longer, padded or control-character
  name is refused with a message naming the field;
- a description of at most 1024 characters is accepted unless it holds a
  control character other than tab, newline and carriage return;
- check_uuid and the body schemas' uuid accept exactly the canonical
  8-4-4-4-12 hexadecimal form (any case; check_uuid answers it lower-cased),
  judged against Python's uuid module;
- a query ``limit`` is accepted exactly when it is a plain decimal below 10^9
  without leading zeros, and paging then uses min(limit, [api] max_limit);
- whatever a body is, validation raises nothing but ValidationError (400) and
  its message stays short, however long the input;
- whatever an OpenStack-API-Version header holds, parsing raises nothing but
  ValidationError (400) or VersionNotAcceptable (406), and a version it
  returns is one the API serves.
"""

import copy
import unicodedata
import uuid

from hypothesis import example
from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from nativesnap.api.extensions import common
from nativesnap.api import microversion
from nativesnap.api.schemas import server_snapshots as snapshot_schemas
from nativesnap.api.schemas import servers as server_schemas
from nativesnap.api import validation
from nativesnap.conf import CONF
from nativesnap import exception

PROPERTY = settings(max_examples=300, derandomize=True, database=None,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.filter_too_much])

UUID = "0b1a4c8e-7f0e-4c38-9a55-9d5f4f1e2c3a"

# schema, a valid body, where the name goes, the field a message must name
NAMED = {
    "snapshot.create": (snapshot_schemas.create, {"snapshot": {"name": "s"}},
                        ("snapshot", "name")),
    "export": (snapshot_schemas.export, {"export": {"image_name": "i"}},
               ("export", "image_name")),
    "adopt": (server_schemas.adopt,
              {"server": {"name": "n", "driver": "fake", "hypervisor_ref": "r"}},
              ("server", "name")),
    "spawn": (server_schemas.spawn, {"server": {"name": "n", "snapshot_id": UUID}},
              ("server", "name")),
}
SCHEMA_KEYS = st.sampled_from(sorted(NAMED))


def is_control(char):
    return unicodedata.category(char) == "Cc"


# Any character but controls and surrogates (which JSON text cannot carry
# once decoded as UTF-8).
NAME_CHARS = st.characters(exclude_categories=("Cc", "Cs"))
CONTROLS = st.characters(categories=("Cc",))


def _padded_ok(text):
    return not text[0].isspace() and not text[-1].isspace()


valid_names = st.text(NAME_CHARS, min_size=1, max_size=255).filter(_padded_ok)


def _body_with(key, value):
    schema, body, (outer, field) = NAMED[key]
    body = copy.deepcopy(body)
    body[outer][field] = value
    return schema, body, f"'{outer}/{field}'"


def _refused(schema, body, where="request body"):
    with pytest.raises(exception.ValidationError) as info:
        validation.validate(schema, body, where=where)
    assert info.value.code == 400
    return str(info.value)


# --- names -------------------------------------------------------------------


@PROPERTY
@given(key=SCHEMA_KEYS, name=valid_names)
@example(key="snapshot.create", name="x" * 255)
@example(key="export", name="<a&b>'\"; rm -rf / ../../etc/passwd $(id) `id`")
@example(key="adopt", name="名前 — ☃ \U0001F600")
def test_a_name_of_1_to_255_printable_characters_is_accepted_unchanged(key, name):
    schema, body, _ = _body_with(key, name)
    before = copy.deepcopy(body)
    validation.validate(schema, body)
    assert body == before


@PROPERTY
@given(key=SCHEMA_KEYS, name=st.text(NAME_CHARS, min_size=256, max_size=600))
def test_a_name_longer_than_255_characters_is_refused_naming_the_field(key, name):
    schema, body, field = _body_with(key, name)
    message = _refused(schema, body)
    assert field in message
    if _padded_ok(name):
        assert f"is {len(name)} characters long" in message and "255" in message


@pytest.mark.parametrize("key", sorted(NAMED))
def test_an_empty_name_is_refused_naming_the_field(key):
    schema, body, field = _body_with(key, "")
    message = _refused(schema, body)
    assert field in message and "empty" in message


@PROPERTY
@given(key=SCHEMA_KEYS, name=valid_names, control=CONTROLS, where=st.integers(0))
@example(key="snapshot.create", name="ab", control="\x9b", where=1)  # C1 CSI
@example(key="snapshot.create", name="ab", control="\x85", where=1)  # C1 NEL
def test_a_name_holding_a_control_character_is_refused_naming_the_field(
        key, name, control, where):
    where %= len(name) + 1
    name = (name[:where] + control + name[where:])[:255]
    if not any(is_control(c) for c in name):
        name = control  # the cut removed it: a control character alone
    schema, body, field = _body_with(key, name)
    assert field in _refused(schema, body)


@PROPERTY
@given(key=SCHEMA_KEYS, name=valid_names,
       space=st.characters(categories=("Zs", "Zl", "Zp")).filter(str.isspace)
       | st.sampled_from(" \t\n\r\x0b\x0c\x1c\x85\u3000"),
       leading=st.booleans())
def test_a_name_with_leading_or_trailing_white_space_is_refused(
        key, name, space, leading):
    name = (space + name if leading else name + space)
    schema, body, field = _body_with(key, name)
    assert field in _refused(schema, body)


@PROPERTY
@given(key=SCHEMA_KEYS, value=st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2)))
def test_a_name_that_is_no_string_is_refused_naming_the_field(key, value):
    schema, body, field = _body_with(key, value)
    message = _refused(schema, body)
    assert field in message and "string" in message


# --- descriptions ---------------------------------------------------------------

DESCRIPTION_CHARS = NAME_CHARS | st.sampled_from("\t\n\r")


@PROPERTY
@given(description=st.text(DESCRIPTION_CHARS, max_size=1024))
def test_a_description_without_control_characters_is_accepted_unchanged(
        description):
    body = {"snapshot": {"name": "s", "description": description}}
    validation.validate(snapshot_schemas.create, body)
    assert body["snapshot"]["description"] == description


@PROPERTY
@given(description=st.text(DESCRIPTION_CHARS, max_size=100),
       control=CONTROLS.filter(lambda c: c not in "\t\n\r"),
       where=st.integers(0))
def test_a_description_holding_another_control_character_is_refused(
        description, control, where):
    where %= len(description) + 1
    description = description[:where] + control + description[where:]
    message = _refused(snapshot_schemas.create,
                       {"snapshot": {"name": "s", "description": description}})
    assert "'snapshot/description'" in message


@PROPERTY
@given(description=st.text(DESCRIPTION_CHARS, min_size=1025, max_size=1500))
def test_a_description_over_1024_characters_is_refused(description):
    message = _refused(snapshot_schemas.create,
                       {"snapshot": {"name": "s", "description": description}})
    assert "'snapshot/description'" in message and "1024" in message


# --- UUIDs ---------------------------------------------------------------------------


def is_canonical_uuid(value):
    """The oracle: Python's uuid module parses it and prints it back the same
    (ignoring case), i.e. the hyphenated 8-4-4-4-12 hexadecimal form."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _mutations(text):
    """Near misses of a UUID: a character changed, dropped or added."""
    return st.tuples(st.integers(0, len(text)),
                     st.sampled_from(["change", "drop", "add"]),
                     st.characters()).map(
        lambda m: (text[:m[0]] + m[2] + text[m[0] + 1:] if m[1] == "change"
                   else text[:m[0]] + text[m[0] + 1:] if m[1] == "drop"
                   else text[:m[0]] + m[2] + text[m[0]:]))


uuid_texts = st.uuids().map(str)
any_case_uuids = st.tuples(uuid_texts, st.lists(st.booleans(), min_size=36,
                                                 max_size=36)).map(
    lambda t: "".join(c.upper() if up else c for c, up in zip(t[0], t[1])))
uuid_like = st.one_of(any_case_uuids, uuid_texts.flatmap(_mutations),
                      uuid_texts.map(lambda u: u.replace("-", "")),
                      uuid_texts.map(lambda u: "{" + u + "}"),
                      uuid_texts.map(lambda u: "urn:uuid:" + u),
                      st.text(max_size=40))


@PROPERTY
@given(value=uuid_like)
@example(value=UUID + "\n")
@example(value=UUID.replace("a", "\uff41"))  # a fullwidth 'a'
@example(value=UUID.replace("4", "\u0664"))  # an Arabic-Indic digit four
def test_check_uuid_accepts_exactly_the_canonical_form_and_lowercases_it(value):
    if is_canonical_uuid(value):
        assert validation.check_uuid("server_id", value) == value.lower()
    else:
        with pytest.raises(exception.InvalidUUID) as info:
            validation.check_uuid("server_id", value)
        assert info.value.code == 400
        assert "server_id" in str(info.value)
        assert len(str(info.value)) < 200  # a long value is not echoed in full


@PROPERTY
@given(value=uuid_like)
@example(value=UUID + "\n")
def test_body_uuids_are_judged_like_check_uuid(value):
    body = {"revert": {"snapshot_id": value}}
    if is_canonical_uuid(value):
        validation.validate(server_schemas.revert, body)
    else:
        message = _refused(server_schemas.revert, body)
        assert "'revert/snapshot_id'" in message and "UUID" in message


# --- query limit -----------------------------------------------------------------


def is_valid_limit(value):
    return (value.isascii() and value.isdigit() and len(value) <= 9
            and str(int(value)) == value)


limit_texts = st.one_of(
    st.integers(-10, 10 ** 10).map(str),
    st.integers(0, 10 ** 6).map(lambda n: f"0{n}"),
    st.integers(0, 10 ** 6).map(lambda n: f"{n:,}".replace(",", "_")),
    st.integers(0, 1000).map(lambda n: f" {n}"),
    st.integers(0, 1000).map(lambda n: f"{n}\n"),
    st.floats(allow_nan=True).map(str),
    st.text(st.characters(categories=("Nd",)), min_size=1, max_size=4),
    st.text(max_size=12))


@PROPERTY
@given(value=limit_texts)
@example(value="0")
@example(value="999999999")
@example(value="1000000000")
@example(value="\u0661\u0662")  # Arabic-Indic "12": int() would take it
def test_a_query_limit_is_a_plain_decimal_and_paging_caps_it(value):
    params = {"limit": value}
    if is_valid_limit(value):
        validation.validate(snapshot_schemas.index_query, params,
                            where="query string")
        page = common.page_params(params)
        assert page["limit"] == min(int(value), CONF.api.max_limit)
    else:
        message = _refused(snapshot_schemas.index_query, params,
                           where="query string")
        assert "'limit'" in message and "query string" in message


# --- any body ---------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=300),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=300), children, max_size=20),
    max_leaves=60)
SCHEMAS = [snapshot_schemas.create, snapshot_schemas.export,
           server_schemas.adopt, server_schemas.spawn, server_schemas.create,
           server_schemas.revert]


def _envelopes(value):
    """The value alone, and inside each envelope the schemas expect."""
    return st.sampled_from([value] + [{key: value} for key in (
        "snapshot", "export", "server", "revert")])


@PROPERTY
@given(schema=st.sampled_from(SCHEMAS),
       body=json_values.flatmap(_envelopes))
@example(schema=snapshot_schemas.create,
         body={"snapshot": {"name": "n", **{f"unknown-{i}-" + "k" * 300: 1
                                            for i in range(20)}}})
@example(schema=server_schemas.revert,
         body={"revert": {"snapshot_id": UUID}, "k" * 5000: 1})
def test_any_body_is_accepted_or_refused_with_a_short_400(schema, body):
    try:
        validation.validate(schema, body)
    except exception.ValidationError as e:
        assert e.code == 400
        assert len(str(e)) < 600, str(e)[:1000]


# --- microversion header ---------------------------------------------------------

version_numbers = st.one_of(st.integers(0, 3).map(str),
                            st.integers(0, 10 ** 30).map(str),
                            st.text(st.characters(categories=("Nd",)),
                                    min_size=1, max_size=3),
                            st.just("01"), st.just("latest"))
structured_headers = st.builds(
    lambda service, major, minor, extra: f"{service} {major}.{minor}{extra}",
    st.sampled_from(["snapshot", "SNAPSHOT", "Snapshot", "compute", "snap"]),
    version_numbers, version_numbers,
    st.sampled_from(["", ",", ", compute 2.1", " ", " x", "\t", "\n"]))
headers = st.one_of(st.none(), st.text(), structured_headers,
                    st.lists(structured_headers, max_size=3).map(", ".join),
                    st.text(st.characters(max_codepoint=255)))


@PROPERTY
@given(value=headers)
@example(value="snapshot latest")
@example(value="snapshot 1.1")
@example(value="snapshot 1.01")
@example(value="snapshot \u0661.\u0661")
@example(value="snapshot 1.1.1")
@example(value=",,,")
@example(value="snapshot")
def test_a_microversion_header_parses_to_a_served_version_or_a_400_or_406(value):
    try:
        version = microversion.parse_header(value)
    except exception.ValidationError as e:
        assert e.code == 400
        assert len(str(e)) < 300
    except exception.VersionNotAcceptable as e:
        assert e.code == 406
        assert len(str(e)) < 300
    else:
        assert microversion.MIN_VERSION <= version <= microversion.MAX_VERSION


@PROPERTY
@given(major=st.integers(0, 5), minor=st.integers(0, 200),
       service=st.sampled_from(["snapshot", "SNAPSHOT", "Snapshot"]))
def test_a_well_formed_version_is_served_exactly_when_in_range(
        major, minor, service):
    value = f"{service} {major}.{minor}"
    if microversion.MIN_VERSION <= (major, minor) <= microversion.MAX_VERSION:
        assert microversion.parse_header(value) == (major, minor)
    else:
        with pytest.raises(exception.VersionNotAcceptable):
            microversion.parse_header(value)
