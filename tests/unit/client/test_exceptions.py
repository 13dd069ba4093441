"""The client's exceptions: one class per fault, carrying what the API said."""

import json

import pytest
import requests

from nativesnap.client import exceptions


def response(status, body=None, text=None, request_id="req-1234",
             content_type="application/json"):
    resp = requests.Response()
    resp.status_code = status
    resp.url = "http://api.test/v1/servers"
    resp.headers["Content-Type"] = content_type
    if request_id:
        resp.headers["X-OpenStack-Request-Id"] = request_id
    resp._content = (json.dumps(body) if body is not None else text or "").encode()
    return resp


@pytest.mark.parametrize("status,name,cls", [
    (400, "badRequest", exceptions.BadRequest),
    (401, "unauthorized", exceptions.Unauthorized),
    (403, "forbidden", exceptions.Forbidden),
    (404, "itemNotFound", exceptions.NotFound),
    (405, "badMethod", exceptions.MethodNotAllowed),
    (406, "notAcceptable", exceptions.NotAcceptable),
    (409, "conflictingRequest", exceptions.Conflict),
    (413, "overLimit", exceptions.RequestTooLarge),
    (415, "badMediaType", exceptions.UnsupportedMediaType),
    (500, "computeFault", exceptions.ServerError),
    (501, "notImplemented", exceptions.HTTPNotImplemented),
    (503, "serviceUnavailable", exceptions.ServiceUnavailable),
])
def test_every_fault_of_the_api_maps_to_its_own_class(status, name, cls):
    err = exceptions.from_response(response(
        status, {name: {"code": status, "message": f"why {status}"}}), "GET")
    assert type(err) is cls
    assert isinstance(err, exceptions.ClientException)
    assert err.message == f"why {status}" and err.http_status == status
    assert err.fault_name == name and err.request_id == "req-1234"
    assert err.method == "GET" and err.url == "http://api.test/v1/servers"
    assert str(err) == f"why {status} (HTTP {status}) (Request-ID: req-1234)"


def test_server_errors_share_a_base_and_unknown_codes_still_map():
    assert issubclass(exceptions.ServiceUnavailable, exceptions.ServerError)
    assert type(exceptions.from_response(response(502, text="bad gw",
                                                  content_type="text/plain"))
                ) is exceptions.ServerError
    other = exceptions.from_response(response(418, {"teapot": {"message": "no"}}))
    assert type(other) is exceptions.HttpError and other.http_status == 418


def test_a_body_that_is_not_a_fault_still_gives_a_message():
    plain = exceptions.from_response(response(502, text="<html>Bad Gateway</html>",
                                              content_type="text/html"))
    assert plain.message == "<html>Bad Gateway</html>"
    keystone = exceptions.from_response(response(
        401, {"error": {"code": 401, "message": "The request you have made "
                                                "requires authentication."}}))
    assert keystone.message.startswith("The request you have made")
    empty = exceptions.from_response(response(500, text="", request_id=None))
    assert empty.message and empty.request_id is None


def test_client_side_errors_do_not_claim_an_http_status():
    err = exceptions.NotFound("No server with ID or name 'x' could be found.")
    assert err.http_status == 404  # still a NotFound for callers
    assert str(err) == "No server with ID or name 'x' could be found."
    assert str(exceptions.WaitTimeout("Timed out")) == "Timed out"
