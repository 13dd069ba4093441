"""The object serializer of the RPC seam: uncapped, objects travel at their
own versions; given the object versions of an older RPC API version, every
object (and every object inside one) travels backported to them; the
receiver says at debug level what it got older than it knows."""

import logging

from oslo_utils import uuidutils
import pytest

from nativesnap.common import rpc
from nativesnap.common import states
from nativesnap.objects import image as image_obj
from nativesnap.objects import server as server_obj

VERSION = "nativesnap_object.version"
DATA = "nativesnap_object.data"


def _server():
    return server_obj.Server(id=uuidutils.generate_uuid(), name="s",
                             provision_state=states.PROVISION_ACTIVE,
                             flatten_ref="ref", task_wait_info={"r": 1})


def test_uncapped_objects_travel_at_their_own_versions():
    sent = rpc.ObjectSerializer().serialize_entity(None, {"server": _server()})
    assert sent["server"][VERSION] == server_obj.Server.VERSION
    assert sent["server"][DATA]["provision_state"] == states.PROVISION_ACTIVE


def test_capped_objects_and_the_objects_inside_them_travel_backported():
    versions = {"Server": "1.2", "ServerList": "1.0", "Image": "1.1"}
    serializer = rpc.ObjectSerializer(versions)
    image = image_obj.Image(id=uuidutils.generate_uuid(), name="i",
                            fallback_reason="why", backend="local")
    sent = serializer.serialize_entity(None, {
        "servers": [server_obj.ServerList(objects=[_server()])],
        "image": image})
    inner = sent["servers"][0][DATA]["objects"][0]
    assert (inner[VERSION], sent["image"][VERSION]) == ("1.2", "1.1")
    assert "provision_state" not in inner[DATA]
    assert inner[DATA]["flatten_ref"] == "ref"
    assert "fallback_reason" not in sent["image"][DATA]
    assert sent["image"][DATA]["backend"] == "local"


def test_an_object_the_capped_version_did_not_know_is_refused_unsent():
    serializer = rpc.ObjectSerializer({"Server": "1.1"})
    with pytest.raises(ValueError, match="Image objects did not exist"):
        serializer.serialize_entity(None, image_obj.Image(name="i"))


def test_an_object_received_at_an_older_version_stays_at_it_when_sent_on():
    received = rpc.ObjectSerializer().deserialize_entity(
        None, _server().obj_to_primitive(target_version="1.1"))
    again = rpc.ObjectSerializer({"Server": "1.3"}).serialize_entity(
        None, received)
    assert again[VERSION] == "1.1"


def test_an_object_received_older_than_known_is_logged_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="nativesnap.common.rpc")
    serializer = rpc.ObjectSerializer()
    serializer.deserialize_entity(None, _server().obj_to_primitive())
    assert "Received Server" not in caplog.text
    received = serializer.deserialize_entity(
        None, {"server": _server().obj_to_primitive(target_version="1.2")})
    assert received["server"].VERSION == "1.2"
    assert (f"Received Server 1.2 (this service's is "
            f"{server_obj.Server.VERSION})") in caplog.text
