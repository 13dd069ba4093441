"""Exports into a real Glance (tests/glance_fixtures.py) through nativesnap's
HTTP API, with ``[image] backend = glance``: a real guest's snapshot becomes an
active Glance image equal to the snapshot's disk state, traced back by its
properties and checked by both sides' checksums; a Glance image the caller
made is filled, not duplicated; Glance killed or nativesnap killed in the
middle of an upload leaves no image ``queued`` or ``saving`` in Glance; bad
requests are refused before anything is made; and a location is registered
without data crossing the host.

The module's nativesnap-api is restarted with a failpoint armed for the
cases that stop something in the middle: nativesnap is killed at each step
of the Glance store (docs/reliability.md), and Glance is killed while
``image.export.uploading`` holds an upload whose first MiB is sent (Glance's
image is ``saving``).
"""

import functools
import hashlib
import http.server
import io
import os
import subprocess
import threading
import uuid

from glanceclient import exc as glance_exc
import pytest

from tests import fixtures
from tests.functional import client_helpers as cli
from tests.functional import libvirt_helpers as lh

pytest_plugins = ["tests.glance_fixtures", "tests.functional.guest_fixtures"]

KIB = 1024
WAIT = 60
PROJECT = lh.ADMIN.split(":")[1]  # the project nativesnap's requests act in
OTHER_PROJECT = "proj-glance-other"
# nativesnap's own identity towards Glance: a service user with Glance's
# admin role (only an administrator may create images owned by the
# server's project; docs/images.md).
SERVICE_PROJECT = "proj-nativesnap-service"
SERVICE_ROLES = ("admin", "member", "reader")
UPLOADING = "image.export.uploading"
# How long the upload is held in the middle while Glance is killed.
UPLOAD_HOLD = 10


class Service:
    """This module's nativesnap-api, exporting to the test Glance: one state
    directory and database, started again with a failpoint when a case
    needs one."""

    def __init__(self, state_dir, glance):
        self.state_dir = state_dir
        self.db_url = fixtures.sqlite_url(state_dir)
        self.glance = glance
        self.api = None
        self.armed = False
        fixtures.APIServer(state_dir, self.db_url, extra_conf=self.conf()
                           ).manage("db", "sync")

    def conf(self, failpoint=None):
        conf = {
            "image": {"backend": "glance", "discard_retry_interval": "1"},
            "glance": {"auth_type": "admin_token",
                       "endpoint": self.glance.endpoint,
                       "token": self.glance.token(SERVICE_PROJECT,
                                                  roles=SERVICE_ROLES),
                       "endpoint_override": self.glance.endpoint,
                       "timeout": "20", "status_timeout": "30"}}
        if failpoint:
            conf["fault_injection"] = {"failpoints": failpoint}
        return conf

    def start(self, failpoint=None):
        self.stop()
        self.api = fixtures.APIServer(self.state_dir, self.db_url,
                                      drivers=("libvirt", "fake"),
                                      extra_conf=self.conf(failpoint))
        self.armed = bool(failpoint)
        return self.api.start(timeout=WAIT)

    def unarmed(self):
        if self.armed or self.api is None or self.api.proc.poll() is not None:
            self.start()
        return self.api

    def wait_fired(self, name):
        self.api.wait_for(lambda: f"Failpoint {name} fired" in
                          self.api.read_log(), timeout=WAIT,
                          what=f"failpoint {name}")

    def stop(self):
        if self.api is not None:
            self.api.kill()


@pytest.fixture(scope="module")
def service(glance, tmp_path_factory):
    svc = Service(str(tmp_path_factory.mktemp("api-glance")), glance)
    yield svc
    svc.stop()


@pytest.fixture
def api(service, glance):
    """The unarmed service, with Glance up (a case may have stopped it)."""
    if not glance.running:
        glance.start()
    return service.unarmed()


@pytest.fixture(scope="module")
def exported(service, glance, make_module_guest):
    """A running guest adopted by the service, with data written before and
    after one snapshot: (server, snapshot, guest)."""
    if not glance.running:
        glance.start()
    api = service.unarmed()
    guest = make_module_guest(disks=1)
    server = lh.adopt(api, guest)
    guest.write_random("/data/f", 256 * KIB)
    snap = lh.snapshot(api, server["id"], name="to-glance")
    guest.write_random("/data/f", 256 * KIB)
    return server, snap, guest


def _export(api, server, snap, expect=202, **fields):
    body = {"export": dict({"image_name": "exported <&>"}, **fields)}
    resp = api.request(
        "POST", f"/v1/servers/{server['id']}/snapshots/{snap['id']}/action",
        token=lh.ADMIN, json=body)
    assert resp.status_code == expect, resp.text
    return resp.json()


def _image(api, image_id, token=lh.ADMIN):
    resp = api.request("GET", f"/v1/images/{image_id}", token=token)
    assert resp.status_code == 200, resp.text
    return resp.json()["image"]


def _exported_image(api, server, snap, **fields):
    image_id = _export(api, server, snap, **fields)["image"]["id"]
    lh.wait_idle(api, server["id"])
    return _image(api, image_id)


def _gone_from_glance(glance, image_id):
    try:
        glance.image(image_id)
    except glance_exc.HTTPNotFound:
        return True
    return False


def _unfinished(glance, snap):
    """Glance images of exports of ``snap`` left half-made: queued or saving."""
    return [i for i in glance.images()
            if i.get("nativesnap_snapshot_id") == snap["id"]
            and i["status"] in ("queued", "saving")]


def _digests(path):
    digests = {"md5": hashlib.md5(usedforsecurity=False),
               "sha256": hashlib.sha256(), "sha512": hashlib.sha512()}
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            for digest in digests.values():
                digest.update(block)
    return {name: d.hexdigest() for name, d in digests.items()}


def test_export_is_an_active_glance_image_equal_to_the_snapshot_and_traced_back(
        api, glance, exported, tmp_path):
    server, snap, _guest = exported
    image = _exported_image(api, server, snap)
    assert image["status"] == "active" and image["backend"] == "glance"
    assert image["location"] == f"glance://{image['id']}"
    assert image["fault"] is None and image["progress"] == 100
    found = glance.image(image["id"])
    assert found["status"] == "active" and found["owner"] == PROJECT
    assert (found["disk_format"], found["container_format"]) == (
        "qcow2", "bare")
    assert found["name"] == "exported <&>" and found["visibility"] == "private"
    assert (found["nativesnap_snapshot_id"], found["nativesnap_server_id"],
            found["nativesnap_hypervisor"]) == (snap["id"], server["id"],
                                                "libvirt")
    # The bytes Glance serves are the snapshot's disk state, and the
    # checksums of Glance, of nativesnap and of the download agree.
    path = str(tmp_path / "downloaded.qcow2")
    assert glance.download(image["id"], path) == image["size_bytes"]
    digests = _digests(path)
    assert found["size"] == image["size_bytes"]
    assert found["checksum"] == digests["md5"]
    assert (found["os_hash_algo"], found["os_hash_value"]) == (
        "sha512", digests["sha512"])
    assert image["sha256"] == digests["sha256"]
    frozen = lh.driver_info(api, server["id"])["snapshots"][snap["id"]][
        "disks"]["vda"]
    compare = subprocess.run(["qemu-img", "compare", "-U", path, frozen],
                             capture_output=True, text=True, timeout=120)
    assert compare.returncode == 0, compare.stdout + compare.stderr
    # The CLI lists it; a delete through nativesnap removes it from Glance.
    listed = cli.ok_json(cli.run(api, "image", "list", "--snapshot",
                                 snap["id"], "-f", "json", token=lh.ADMIN))
    assert [(i["ID"], i["Status"]) for i in listed] == [(image["id"],
                                                         "active")]
    resp = api.request("DELETE", f"/v1/images/{image['id']}", token=lh.ADMIN)
    assert resp.status_code == 204, resp.text
    assert _gone_from_glance(glance, image["id"])
    assert image["id"] not in glance.stored_files()
    assert api.request("GET", f"/v1/images/{image['id']}",
                       token=lh.ADMIN).status_code == 404


def test_export_fills_the_glance_image_the_caller_made_without_another(
        api, glance, exported):
    server, snap, _guest = exported
    made = glance.client(project_id=PROJECT, user_id="alice").images.create(
        name="made by the caller", disk_format="qcow2",
        container_format="bare")
    before = {i["id"] for i in glance.images()}
    image = _exported_image(api, server, snap, image_ref=made["id"])
    assert image["status"] == "active", image["fault"]
    assert image["location"] == f"glance://{made['id']}"
    assert image["id"] != made["id"]
    assert {i["id"] for i in glance.images()} == before  # nothing new
    found = glance.image(made["id"])
    assert found["status"] == "active" and found["name"] == "made by the caller"
    assert found["nativesnap_snapshot_id"] == snap["id"]
    assert found["size"] == image["size_bytes"]
    assert api.request("DELETE", f"/v1/images/{image['id']}",
                       token=lh.ADMIN).status_code == 204
    assert _gone_from_glance(glance, made["id"])


def test_bad_export_requests_are_refused_and_make_nothing_anywhere(
        api, glance):
    resp = api.request("POST", "/v1/servers", token=lh.ADMIN, json={
        "server": {"name": "refused", "driver": "fake",
                   "hypervisor_ref": f"glance-{uuid.uuid4()}"}})
    assert resp.status_code == 201, resp.text
    server = resp.json()["server"]
    snap = lh.snapshot(api, server["id"], name="never-exported")
    theirs = glance.client(project_id=OTHER_PROJECT).images.create(
        name="another project's", disk_format="qcow2", container_format="bare")
    full = glance.client(project_id=PROJECT).images.create(
        name="already active", disk_format="raw", container_format="bare")
    glance.client(project_id=PROJECT).images.upload(full["id"],
                                                    io.BytesIO(b"data"))
    before = sorted(i["id"] for i in glance.images())
    cases = [({"image_ref": "not-a-uuid"}, 400, "image_ref"),
             ({"disk_format": "vhdx-but-not"}, 400, "disk_format"),
             ({"image_ref": theirs["id"]}, 404, theirs["id"]),
             ({"image_ref": str(uuid.uuid4())}, 404, "could not be found"),
             ({"image_ref": full["id"]}, 409, "active")]
    for fields, status, said in cases:
        answer = _export(api, server, snap, expect=status, **fields)
        assert said in str(answer), (fields, answer)
    assert sorted(i["id"] for i in glance.images()) == before
    assert glance.image(theirs["id"])["status"] == "queued"
    listed = api.request("GET", f"/v1/images?snapshot_id={snap['id']}",
                         token=lh.ADMIN).json()["images"]
    assert listed == []
    assert lh.server(api, server["id"])["task_state"] is None


def test_glance_killed_mid_upload_ends_the_export_in_error_and_nothing_stays_in_glance(
        service, glance, exported):
    server, snap, _guest = exported
    # The upload is held after its first MiB for UPLOAD_HOLD s: Glance is
    # killed within that hold, as soon as the evidence is seen (failpoint
    # fired, Glance's image 'saving', the upload request not ended), each
    # waited for with a bounded poll well inside the hold.
    api = service.start(failpoint=f"{UPLOADING}=sleep:{UPLOAD_HOLD}@1")
    image_id = _export(api, server, snap)["image"]["id"]
    service.wait_fired(UPLOADING)
    glance.wait_status(image_id, "saving", timeout=UPLOAD_HOLD / 2)
    assert glance.requests_logged("PUT", f"/v2/images/{image_id}/file") == 0
    glance.stop(kill=True)  # a crash: Glance's record stays 'saving'
    lh.wait_idle(api, server["id"], timeout=WAIT)
    image = _image(api, image_id)
    assert image["status"] == "error"
    # The cause: the upload itself (not a later call) got no answer, the
    # connection to Glance cut off (ImageServiceCallFailed, 502).
    fault = image["fault"]
    assert fault["code"] == 502, fault
    assert fault["message"].startswith(
        f"Glance call upload of image {image_id} failed: Glance did not "
        "answer: "), fault
    assert "Unable to establish connection to" in fault["message"], fault
    assert f"/v2/images/{image_id}/file" in fault["message"], fault
    # Glance is down: what nativesnap made there is deleted once it is back
    # (the compute service tries every [image] discard_retry_interval).
    glance.start()
    api.wait_for(lambda: _gone_from_glance(glance, image_id), timeout=WAIT,
                 what="the half-made Glance image to be deleted")
    assert _unfinished(glance, snap) == []
    assert api.request("DELETE", f"/v1/images/{image_id}",
                       token=lh.ADMIN).status_code == 204
    again = _exported_image(service.unarmed(), server, snap)
    assert again["status"] == "active", again["fault"]


@pytest.mark.parametrize("failpoint", [
    "image.export.before_create", "image.export.before_upload", UPLOADING,
    "image.export.after_upload"])
def test_kill_9_of_nativesnap_at_each_glance_step_is_cleaned_up_at_restart(
        service, glance, exported, failpoint):
    server, snap, _guest = exported
    api = service.start(failpoint=f"{failpoint}=crash@1")
    image_id = _export(api, server, snap)["image"]["id"]
    assert api.proc.wait(WAIT) == -9
    assert f"Failpoint {failpoint} fired" in api.read_log()
    api = service.unarmed()  # start-up recovery runs before it answers
    image = _image(api, image_id)
    assert image["status"] == "error"
    assert "interrupted by a restart" in image["fault"]["message"]
    api.wait_for(lambda: _gone_from_glance(glance, image_id), timeout=WAIT,
                 what="the interrupted upload's Glance image to be deleted")
    assert _unfinished(glance, snap) == []
    assert lh.server(api, server["id"])["task_state"] is None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_add_location_makes_an_image_of_data_served_elsewhere_without_upload(
        glance, tmp_path):
    """The store call the RBD export uses: Glance reads the data where it is
    (here an http URL; Glance refuses file:// locations)."""
    from oslo_config import cfg

    from nativesnap.conf import glance as glance_conf
    from nativesnap.image import glance as glance_store
    from nativesnap.objects import image as image_obj

    served = tmp_path / "served"
    served.mkdir()
    disk = served / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk),
                    "16M"], check=True, timeout=60)
    handler = functools.partial(_QuietHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    conf_path = tmp_path / "nativesnap.conf"
    fixtures.write_conf(str(conf_path), {"glance": {
        "auth_type": "admin_token", "endpoint": glance.endpoint,
        "token": glance.token(SERVICE_PROJECT, roles=SERVICE_ROLES),
        "endpoint_override": glance.endpoint, "status_timeout": "30"}})
    conf = cfg.ConfigOpts()
    glance_conf.register_opts(conf)
    conf(["--config-file", str(conf_path)], project="nativesnap",
         default_config_files=[])
    store = glance_store.GlanceImageStore(conf, str(tmp_path / "staging"))
    image = image_obj.Image(id=str(uuid.uuid4()), name="by location",
                            project_id=PROJECT, disk_format="qcow2",
                            snapshot_id=str(uuid.uuid4()),
                            server_id=str(uuid.uuid4()), store_ref=None)
    store.assign(image)
    files_before = glance.stored_files()
    try:
        url = f"http://127.0.0.1:{httpd.server_port}/disk.qcow2"
        location = store.add_location(None, image, url, hypervisor="libvirt")
        assert location == f"glance://{image.id}"
        found = glance.image(image.id)
        assert found["status"] == "active" and found["owner"] == PROJECT
        assert found["nativesnap_hypervisor"] == "libvirt"
        assert found["size"] == os.path.getsize(disk)
        assert glance.stored_files() == files_before  # no data was copied
        image.status = "active"
        store.delete(None, image)
        assert _gone_from_glance(glance, image.id)
        assert disk.exists()  # Glance leaves the served data alone
    finally:
        httpd.shutdown()
