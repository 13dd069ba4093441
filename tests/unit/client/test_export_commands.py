"""The client's export without a server: the body ``export_snapshot`` sends
(``image_ref`` only when given, as the API's export action takes it) and what
``snapshot export --image-ref`` passes on."""

import io

import pytest

from nativesnap.client import commands
from nativesnap.client import proxy
from nativesnap.client import resource as res
from nativesnap.client import shell

SERVER = "11111111-1111-4111-8111-111111111111"
SNAP = "22222222-2222-4222-8222-222222222222"
IMAGE = "33333333-3333-4333-8333-333333333333"
GLANCE_IMAGE = "44444444-4444-4444-8444-444444444444"
SNAP_VIEW = {"id": SNAP, "server_id": SERVER, "name": "before-upgrade",
             "status": "available", "progress": 100, "fault": None}
IMAGE_VIEW = {"id": IMAGE, "name": "golden", "snapshot_id": SNAP,
              "server_id": SERVER, "status": "saving", "progress": 0,
              "fault": None}
ACTION = f"/v1/servers/{SERVER}/snapshots/{SNAP}/action"


class Answer:
    def __init__(self, body):
        self.body = body

    def json(self):
        return self.body


class RecordingConnection:
    api_version = (1, 1)

    def __init__(self):
        self.sent = []

    def request(self, method, url, json=None, **kwargs):
        self.sent.append((method, url, json))
        return Answer({"image": IMAGE_VIEW})


@pytest.mark.parametrize("kwargs,body", [
    ({}, {"image_name": "golden"}),
    ({"disk_format": "raw"}, {"image_name": "golden", "disk_format": "raw"}),
    ({"image_ref": GLANCE_IMAGE},
     {"image_name": "golden", "image_ref": GLANCE_IMAGE}),
    ({"image_ref": None}, {"image_name": "golden"}),
    ({"disk_format": "qcow2", "image_ref": GLANCE_IMAGE},
     {"image_name": "golden", "disk_format": "qcow2",
      "image_ref": GLANCE_IMAGE})])
def test_export_sends_image_ref_only_when_given(kwargs, body):
    conn = RecordingConnection()
    image = proxy.Proxy(conn).export_snapshot(res.Snapshot(SNAP_VIEW),
                                              "golden", **kwargs)
    assert conn.sent == [("POST", ACTION, {"export": body})]
    assert isinstance(image, res.Image) and image.id == IMAGE
    assert (image.snapshot_id, image.server_id) == (SNAP, SERVER)


def test_export_by_id_with_its_server_sends_image_ref_too():
    conn = RecordingConnection()
    proxy.Proxy(conn).export_snapshot(SNAP, "golden", server=SERVER,
                                      image_ref=GLANCE_IMAGE)
    assert conn.sent == [("POST", ACTION, {"export": {
        "image_name": "golden", "image_ref": GLANCE_IMAGE}})]


class FakeClient:
    def __init__(self):
        self.calls = []

    def find_snapshot(self, ref, server=None):
        return res.Snapshot(dict(SNAP_VIEW, name=ref))

    def export_snapshot(self, snapshot, image_name, disk_format=None,
                        server=None, image_ref=None):
        self.calls.append(("export_snapshot", snapshot.name, image_name,
                           disk_format, image_ref))
        return res.Image(IMAGE_VIEW)

    def wait_for_status(self, resource, status, failures=(), **kwargs):
        self.calls.append(("wait_for_status", status, failures))
        return res.Image(dict(IMAGE_VIEW, status="active", progress=100))


def run(argv):
    name = "snapshot export"
    app = shell.NativesnapApp(name.split(), stdout=io.StringIO(),
                              stderr=io.StringIO())
    client = FakeClient()
    app.client_manager = type("CM", (), {"native": client})()
    cmd = commands.COMMANDS[name](app, None, cmd_name=name)
    parsed = cmd.get_parser(f"nativesnap {name}").parse_args(argv)
    return client.calls, cmd.take_action(parsed)


def test_snapshot_export_passes_image_ref_only_when_given():
    calls, (columns, values) = run(["before-upgrade", "--image-name", "golden"])
    assert calls == [("export_snapshot", "before-upgrade", "golden", None,
                      None)]
    assert dict(zip(columns, values))["id"] == IMAGE
    calls, (columns, values) = run([
        "before-upgrade", "--image-name", "golden", "--image-ref",
        GLANCE_IMAGE, "--disk-format", "raw", "--wait"])
    assert calls == [("export_snapshot", "before-upgrade", "golden", "raw",
                      GLANCE_IMAGE),
                     ("wait_for_status", "active", ("error",))]
    assert dict(zip(columns, values))["status"] == "active"


def test_snapshot_export_documents_image_ref_in_its_help_and_examples():
    name = "snapshot export"
    app = shell.NativesnapApp(name.split())
    cmd = commands.COMMANDS[name](app, None, cmd_name=name)
    help_text = cmd.get_parser(f"nativesnap {name}").format_help()
    assert "--image-ref UUID" in help_text
    assert "--image-ref" in cmd.get_epilog()
