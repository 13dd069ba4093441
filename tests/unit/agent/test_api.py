"""The agent's HTTP API: every request needs the token (constant-time
compare), bodies are validated strictly (unknown keys, non-http URLs and
credentials in URLs refused, passwords never echoed), one command at a time
(409), JSON errors for 400/401/404/405/409/413."""

import json
import threading

import pytest
import webob

from nativesnap.agent import api, commands, rootdev

TOKEN = "s3cret-token"
SECRET = "hunter2-very-secret"


class _Blocking:
    """A command handler that runs until released."""

    def __init__(self):
        self.release = threading.Event()
        self.params = []

    def __call__(self, params, command):
        self.params.append(params)
        command.set_progress(42)
        assert self.release.wait(10)
        return {"done": True}


@pytest.fixture
def handler():
    handler = _Blocking()
    yield handler
    handler.release.set()


@pytest.fixture
def app(handler):
    runner = commands.CommandRunner({commands.STREAM_IMAGE: handler,
                                     commands.WRITE_IMAGE: handler}, keep=2)
    device = rootdev.BlockDevice("sda", "/dev/sda", 8 << 30, "SER", None,
                                 False, False)
    return api.AgentApp(TOKEN, runner, lambda: device, "1.2.3")


def _call(app, method, path, body=None, token=TOKEN, raw=None):
    request = webob.Request.blank(path, method=method)
    if token is not None:
        request.headers["X-Agent-Token"] = token
    if raw is not None:
        request.body = raw
    elif body is not None:
        request.body = json.dumps(body).encode()
        request.content_type = "application/json"
    response = request.get_response(app)
    assert response.content_type == "application/json"
    return response.status_code, response.json


def _stream(**params):
    return {"name": "snapshot.stream_image",
            "params": {"url": "http://127.0.0.1:8780/x.qcow2",
                       "username": "u", "password": SECRET,
                       "image_name": "snap", **params}}


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x", TOKEN[:-1]])
def test_a_missing_or_wrong_token_is_401_on_every_route(app, token):
    for method, path in [("GET", "/v1/status"), ("POST", "/v1/commands"),
                         ("GET", "/v1/commands/x"), ("GET", "/nope")]:
        status, body = _call(app, method, path, token=token)
        assert status == 401 and "X-Agent-Token" in body["error"]


def test_status_names_the_version_and_root_device(app):
    status, body = _call(app, "GET", "/v1/status")
    assert status == 200
    assert body == {"version": "1.2.3", "busy": False,
                    "root_device": {"path": "/dev/sda", "size_bytes": 8 << 30,
                                    "serial": "SER", "wwn": None, "name": "sda"}}


def test_status_says_why_there_is_no_root_device(app):
    def none():
        raise rootdev.RootDeviceError("no usable block device of at least 4 GiB")
    app.find_root_device = none
    status, body = _call(app, "GET", "/v1/status")
    assert status == 200 and body["root_device"] is None
    assert "4 GiB" in body["root_device_error"]


def test_a_command_runs_and_a_second_is_refused_while_it_runs(app, handler):
    status, started = _call(app, "POST", "/v1/commands", _stream())
    assert status == 202
    assert started["status"] == "running" and started["progress"] == 0
    assert SECRET not in json.dumps(started)
    status, body = _call(app, "POST", "/v1/commands", _stream())
    assert status == 409 and started["id"] in body["error"]
    assert _call(app, "GET", "/v1/status")[1]["busy"] is True
    handler.release.set()
    assert app.runner.wait_idle(5)
    status, done = _call(app, "GET", f"/v1/commands/{started['id']}")
    assert status == 200
    assert done == {"id": started["id"], "name": "snapshot.stream_image",
                    "status": "succeeded", "progress": 100,
                    "result": {"done": True}, "error": None}
    assert handler.params[0]["password"] == SECRET


def test_a_failing_command_records_its_error(app):
    def boom(params, command):
        raise RuntimeError("disk on fire")
    app.runner = commands.CommandRunner({commands.WRITE_IMAGE: boom})
    _, started = _call(app, "POST", "/v1/commands",
                       {"name": "deploy.write_image",
                        "params": {"url": "https://h/x.qcow2"}})
    assert app.runner.wait_idle(5)
    _, body = _call(app, "GET", f"/v1/commands/{started['id']}")
    assert (body["status"], body["error"], body["result"]) == (
        "failed", "disk on fire", None)


def test_only_the_last_few_finished_commands_are_kept(app, handler):
    handler.release.set()
    ids = []
    for _ in range(4):
        ids.append(_call(app, "POST", "/v1/commands", _stream())[1]["id"])
        assert app.runner.wait_idle(5)
    assert [c["id"] for c in _call(app, "GET", "/v1/commands")[1]["commands"]] == ids[-2:]
    assert _call(app, "GET", f"/v1/commands/{ids[0]}")[0] == 404


@pytest.mark.parametrize("body,fragment", [
    ({"name": "snapshot.stream_image"}, "'params' is a required property"),
    ({"name": "disk.erase", "params": {}}, "body.name"),
    ({"name": "snapshot.stream_image", "params": {}, "x": 1}, "'x' was unexpected"),
    (_stream(color="red"), "'color' was unexpected"),
    (_stream(url="ftp://h/x"), "params.url"),
    (_stream(url="file:///etc/passwd"), "params.url"),
    (_stream(url="http://user:pw@h/x.qcow2"), "must not contain credentials"),
    (_stream(url="http:///x.qcow2"), "with a host"),
    (_stream(url="http://h/a b"), "whitespace"),
    (_stream(image_name=""), "params.image_name"),
    (_stream(password=7), "params.password"),
    (_stream(password=SECRET * 100), "params.password"),
    ({"name": "deploy.write_image",
      "params": {"url": "http://h/x", "expected_sha256": "abc"}},
     "params.expected_sha256"),
    ({"name": "deploy.write_image",
      "params": {"url": "http://h/x", "password": SECRET}}, "'username'"),
    ({"name": "deploy.write_image",
      "params": {"url": "http://h/x", "image_name": "n"}}, "'image_name' was unexpected"),
    ([], "body"),
])
def test_invalid_bodies_are_400_with_a_clear_message_and_no_password(
        app, body, fragment):
    status, answer = _call(app, "POST", "/v1/commands", body)
    assert status == 400, answer
    assert fragment in answer["error"]
    assert SECRET not in answer["error"]
    assert not app.runner.busy


def test_a_body_that_is_not_json_is_400(app):
    status, body = _call(app, "POST", "/v1/commands", raw=b"{nope")
    assert status == 400 and "not valid JSON" in body["error"]


def test_an_oversized_body_is_413(app):
    status, body = _call(app, "POST", "/v1/commands", raw=b" " * (65 * 1024))
    assert status == 413 and "larger than" in body["error"]


def test_unknown_routes_are_404_and_wrong_methods_405(app):
    assert _call(app, "GET", "/v1/nothing")[0] == 404
    assert _call(app, "GET", "/v1/commands/unknown-id")[0] == 404
    status, body = _call(app, "DELETE", "/v1/status")
    assert status == 405 and "DELETE" in body["error"]
    assert _call(app, "PUT", "/v1/commands")[0] == 405


def test_an_empty_token_is_refused_at_construction():
    with pytest.raises(ValueError):
        api.AgentApp("", None, None, "1")
