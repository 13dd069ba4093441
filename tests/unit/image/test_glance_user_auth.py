"""The Glance store on a user's behalf, against a tiny local Glance (a stdlib
HTTP server answering the few v2 routes used): for a context with a token,
Glance is called with the user's token (plus the [service_user] token when
enabled) at the endpoint of the user's catalog; without one, with [glance]'s
credentials. tests/functional/test_image_glance.py runs the real Glance."""

import http.server
import json
import threading
import types
import uuid

from oslo_config import cfg
import pytest

from nativesnap.common import service_auth
from nativesnap.conf import glance as glance_conf
from nativesnap.conf import service_user as service_user_conf
from nativesnap import context as ns_context
from nativesnap import exception
from nativesnap.image import glance

USER_TOKEN = "user-token-0f4e"
SERVICE_TOKEN = "service-user-token-77aa"
GLANCE_TOKEN = "glance-section-token-c3d1"
PROJECT = "ab12cd34"
# Enough of Glance's image schema for glanceclient to build its model.
SCHEMA = {"name": "image", "properties": {"id": {"type": "string"}},
          "additionalProperties": True, "links": []}


class FakeGlance(http.server.ThreadingHTTPServer):
    """GET /v2/schemas/image, GET and DELETE /v2/images/<id> of ``images``;
    every request's method, path and headers recorded in ``seen``."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.images, self.seen = {}, []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body=None):
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _image(self):
        return self.server.images.get(self.path.rsplit("/", 1)[-1])

    def do_GET(self):
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        if self.path == "/v2/schemas/image":
            return self._answer(200, SCHEMA)
        found = self._image()
        return self._answer(200, found) if found else self._answer(404, {})

    def do_DELETE(self):
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        if self.server.images.pop(self.path.rsplit("/", 1)[-1], None) is None:
            return self._answer(404, {})
        return self._answer(204)


@pytest.fixture
def fake_glance():
    server = FakeGlance()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _fresh_service_user():
    service_auth.reset()
    yield
    service_auth.reset()


def make_conf(tmp_path, glance_options, service_user=None):
    path = tmp_path / "nativesnap.conf"
    lines = ["[glance]"] + [f"{k} = {v}" for k, v in glance_options.items()]
    lines += ["[service_user]"] + [f"{k} = {v}"
                                   for k, v in (service_user or {}).items()]
    path.write_text("\n".join(lines) + "\n")
    conf = cfg.ConfigOpts()
    glance_conf.register_opts(conf)
    service_user_conf.register_opts(conf)
    conf([], project="nativesnap", default_config_files=[str(path)],
         default_config_dirs=[])
    return conf


def store_for(tmp_path, fake, service_user=None, **glance_options):
    options = dict({"auth_type": "admin_token", "token": GLANCE_TOKEN,
                    "endpoint": fake.url, "timeout": "5"}, **glance_options)
    return glance.GlanceImageStore(make_conf(tmp_path, options, service_user),
                                   str(tmp_path / "staging"))


def user_context(fake):
    catalog = [{"type": "image", "name": "glance", "endpoints": [
        {"region": "RegionOne", "internalURL": fake.url,
         "publicURL": "http://public.invalid:9292"}]}]
    return ns_context.RequestContext(
        auth_token=USER_TOKEN, user_id="u1", project_id=PROJECT,
        roles=["member"], service_catalog=catalog)


def queued_image(fake):
    image_id = str(uuid.uuid4())
    fake.images[image_id] = {"id": image_id, "owner": PROJECT,
                             "status": "queued"}
    return image_id


def test_a_users_check_of_their_image_goes_with_their_token_to_their_catalogs_glance(
        tmp_path, fake_glance):
    store = store_for(tmp_path, fake_glance)
    store.validate_export(user_context(fake_glance), PROJECT, "qcow2",
                          queued_image(fake_glance))
    assert fake_glance.seen  # the schema, then the image
    for _method, _path, headers in fake_glance.seen:
        assert headers["X-Auth-Token"] == USER_TOKEN
        assert "X-Service-Token" not in headers


def test_with_the_service_user_enabled_its_token_goes_along(tmp_path, fake_glance):
    store = store_for(tmp_path, fake_glance, service_user={
        "send_service_user_token": "true", "auth_type": "admin_token",
        "endpoint": "http://unused", "token": SERVICE_TOKEN})
    image_id = queued_image(fake_glance)
    image = types.SimpleNamespace(id=image_id, store_ref=image_id,
                                  disk_format="qcow2", status="active")
    store.delete(user_context(fake_glance), image)
    method, path, headers = fake_glance.seen[-1]
    assert (method, path) == ("DELETE", f"/v2/images/{image_id}")
    assert headers["X-Auth-Token"] == USER_TOKEN
    assert headers["X-Service-Token"] == SERVICE_TOKEN


@pytest.mark.parametrize("context", [None, ns_context.get_admin_context()],
                         ids=["no-context", "admin-context"])
def test_work_without_a_user_token_uses_the_glance_credentials(
        tmp_path, fake_glance, context):
    """What a retried discard or start-up recovery does."""
    store = store_for(tmp_path, fake_glance, service_user={
        "send_service_user_token": "true", "auth_type": "admin_token",
        "endpoint": "http://unused", "token": SERVICE_TOKEN},
        endpoint_override=fake_glance.url)
    image_id = queued_image(fake_glance)
    image = types.SimpleNamespace(id=image_id, store_ref=image_id,
                                  disk_format="qcow2", status="error")
    assert store.discard(context, image) is None
    method, path, headers = fake_glance.seen[-1]
    assert (method, path) == ("DELETE", f"/v2/images/{image_id}")
    assert headers["X-Auth-Token"] == GLANCE_TOKEN
    assert "X-Service-Token" not in headers


def test_a_configured_endpoint_override_is_used_for_users_too(tmp_path, fake_glance):
    store = store_for(tmp_path, fake_glance, endpoint_override=fake_glance.url)
    context = user_context(fake_glance)
    context.service_catalog = []
    store.validate_export(context, PROJECT, "qcow2", queued_image(fake_glance))
    assert fake_glance.seen[-1][2]["X-Auth-Token"] == USER_TOKEN


def test_the_glance_section_stays_required_for_users_too(tmp_path, fake_glance):
    """Clean-up after a failure may run with no user behind it."""
    store = glance.GlanceImageStore(make_conf(tmp_path, {}),
                                    str(tmp_path / "staging"))
    with pytest.raises(exception.ImageServiceCallFailed,
                       match=r"\[glance\] auth_type is not set"):
        store.validate_export(user_context(fake_glance), PROJECT, "qcow2", None)
    assert fake_glance.seen == []
