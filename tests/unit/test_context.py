"""The request context carries what calls on the user's behalf need: the
user's token and the catalog keystonemiddleware sends, read from the request,
through the RPC seam's serializer (as dict and as JSON, what RabbitMQ
carries), reduced to the services nativesnap calls, and never logged."""

import json
import logging

from oslo_log import formatters

from nativesnap.common import rpc
from nativesnap import context as ns_context

TOKEN = "gAAAAAB-user-token-7c1e"
CINDER_URL = "http://cinder.example:8776/v3/5e7a1ce"
CATALOG = [
    {"type": "volumev3", "name": "cinderv3",
     "endpoints": [{"region": "RegionOne", "publicURL": CINDER_URL,
                    "internalURL": CINDER_URL}]},
    {"type": "image", "name": "glance",
     "endpoints": [{"region": "RegionOne", "publicURL": "http://glance:9292"}]},
    {"type": "identity", "name": "keystone",
     "endpoints": [{"region": "RegionOne", "publicURL": "http://keystone/v3"}]},
]


def _environ(catalog=CATALOG):
    environ = {"HTTP_X_AUTH_TOKEN": TOKEN, "HTTP_X_USER_ID": "u1",
               "HTTP_X_PROJECT_ID": "5e7a1ce", "HTTP_X_ROLES": "member,reader"}
    if catalog is not None:
        environ["HTTP_X_SERVICE_CATALOG"] = (catalog if isinstance(catalog, str)
                                             else json.dumps(catalog))
    return environ


def test_from_environ_keeps_the_token_and_the_catalog_of_the_services_called():
    ctx = ns_context.RequestContext.from_environ(_environ())
    assert ctx.auth_token == TOKEN and ctx.project_id == "5e7a1ce"
    assert [entry["type"] for entry in ctx.service_catalog] == [
        "volumev3", "image"]


def test_no_catalog_header_or_an_unreadable_one_gives_an_empty_catalog(caplog):
    assert ns_context.RequestContext.from_environ(
        _environ(None)).service_catalog == []
    with caplog.at_level(logging.WARNING):
        ctx = ns_context.RequestContext.from_environ(_environ("{not json " + TOKEN))
    assert ctx.service_catalog == [] and TOKEN not in caplog.text


def test_the_token_and_catalog_survive_the_rpc_serializer_as_json():
    ctx = ns_context.RequestContext.from_environ(_environ())
    serializer = rpc.RequestContextSerializer(rpc.ObjectSerializer())
    on_the_wire = json.loads(json.dumps(serializer.serialize_context(ctx)))
    received = serializer.deserialize_context(on_the_wire)
    assert isinstance(received, ns_context.RequestContext)
    assert received.auth_token == TOKEN
    assert received.service_catalog == ctx.service_catalog
    assert (received.user_id, received.project_id, received.roles) == (
        "u1", "5e7a1ce", ["member", "reader"])


def test_contexts_without_a_user_token_travel_without_one():
    admin = ns_context.get_admin_context()
    back = ns_context.RequestContext.from_dict(admin.to_dict())
    assert back.auth_token is None and back.service_catalog == []
    assert back.is_admin


def test_neither_the_token_nor_the_catalog_is_logged():
    ctx = ns_context.RequestContext.from_environ(_environ())
    values = ctx.get_logging_values()
    assert "service_catalog" not in values
    assert values["auth_token"] == "***"
    # oslo.log's JSON formatter writes every logging value of the context.
    record = logging.LogRecord("nativesnap", logging.INFO, __file__, 1,
                               "message", None, None)
    record.context = ctx
    line = formatters.JSONFormatter().format(record)
    assert TOKEN not in line and CINDER_URL not in line
    assert "5e7a1ce" in line  # the context is there, its secrets are not
    redacted = ctx.redacted_copy()
    assert redacted.auth_token is None and redacted.service_catalog == []
