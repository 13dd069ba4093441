"""The Glance image store's decisions, with glanceclient replaced by a stub
(tests/functional/test_image_glance.py runs it against a real Glance): how
Glance's errors become nativesnap's, what a caller's ``image_ref`` must be,
what a failed export removes and what it leaves, and the checksum check."""

import io
import types
import uuid

from glanceclient import exc as glance_exc
from oslo_config import cfg
import pytest

from nativesnap.conf import glance as glance_conf
from nativesnap import exception
from nativesnap.image import glance

PROJECT = "proj-a"


class StubImages:
    """glanceclient's ``images`` manager: records calls, answers from
    ``found`` (id -> dict) or raises what ``errors`` names for a call."""

    def __init__(self):
        self.found, self.errors, self.calls = {}, {}, []

    def _maybe_fail(self, call):
        self.calls.append(call)
        if call in self.errors:
            raise self.errors[call]

    def get(self, image_id):
        self._maybe_fail("get")
        if image_id not in self.found:
            raise glance_exc.HTTPNotFound("no image")
        return self.found[image_id]

    def delete(self, image_id):
        self._maybe_fail("delete")
        if self.found.pop(image_id, None) is None:
            raise glance_exc.HTTPNotFound("no image")

    def create(self, **fields):
        self._maybe_fail("create")
        self.found[fields["id"]] = dict(fields, status="queued")

    def upload(self, image_id, data, image_size=None):
        self._maybe_fail("upload")
        while data.read(1024 * 1024):
            pass


@pytest.fixture
def conf():
    conf = cfg.ConfigOpts()
    glance_conf.register_opts(conf)
    conf([], project="nativesnap", default_config_files=[])
    return conf


@pytest.fixture
def store(conf, tmp_path):
    store = glance.GlanceImageStore(conf, str(tmp_path))
    store._glance = types.SimpleNamespace(images=StubImages())  # noqa: SLF001
    return store


def _image(store_ref=None, image_id=None):
    image_id = image_id or str(uuid.uuid4())
    return types.SimpleNamespace(
        id=image_id, name="img", project_id=PROJECT, disk_format="qcow2",
        snapshot_id=str(uuid.uuid4()), server_id=str(uuid.uuid4()),
        store_ref=store_ref, status="error")


def test_without_an_auth_type_the_store_answers_502_naming_the_option(
        conf, tmp_path):
    store = glance.GlanceImageStore(conf, str(tmp_path))
    with pytest.raises(exception.ImageServiceCallFailed) as raised:
        store.validate_export(None, PROJECT, "qcow2", None)
    assert raised.value.code == 502
    assert "[glance] auth_type is not set" in raised.value.message


@pytest.mark.parametrize("error,cls,code,said", [
    (glance_exc.HTTPOverLimit("image size cap reached"),
     exception.ImageServiceQuotaExceeded, 413,
     "over a quota or size limit: Glance answered 413: image size cap reached"),
    (glance_exc.HTTPForbidden("not permitted to create images owned by x"),
     exception.ImageServiceCallFailed, 502, "create of image"),
    (glance_exc.CommunicationError("connection refused"),
     exception.ImageServiceCallFailed, 502, "Glance did not answer"),
])
def test_glance_errors_become_one_exception_naming_the_call_and_answer(
        store, error, cls, code, said):
    store._glance.images.errors["create"] = error  # noqa: SLF001
    image = _image()
    store.assign(image)
    with pytest.raises(cls) as raised:
        store._describe(image, "libvirt")  # noqa: SLF001
    assert raised.value.code == code
    assert said in raised.value.message and image.id in raised.value.message


def test_a_callers_image_must_be_theirs_queued_and_of_the_export_formats(store):
    images = store._glance.images  # noqa: SLF001
    ref = str(uuid.uuid4())
    cases = [({"owner": "proj-b", "status": "queued"}, exception.ImageNotFound),
             ({"owner": PROJECT, "status": "active"}, exception.Conflict),
             ({"owner": PROJECT, "status": "queued", "disk_format": "raw"},
              exception.Invalid),
             ({"owner": PROJECT, "status": "queued",
               "container_format": "ova"}, exception.Invalid)]
    for fields, cls in cases:
        images.found[ref] = dict(fields, id=ref)
        with pytest.raises(cls):
            store.validate_export(None, PROJECT, "qcow2", ref)
    images.found[ref] = {"id": ref, "owner": PROJECT, "status": "queued",
                         "disk_format": None}
    store.validate_export(None, PROJECT, "qcow2", ref)  # accepted
    with pytest.raises(exception.ImageNotFound):
        store.validate_export(None, PROJECT, "qcow2", str(uuid.uuid4()))


def test_discard_deletes_only_the_glance_image_nativesnap_made(store):
    images = store._glance.images  # noqa: SLF001
    ours = _image()
    store.assign(ours)
    images.found[ours.id] = {"id": ours.id, "status": "saving"}
    assert store.pending_discard(ours)
    assert store.discard(None, ours) is None and ours.id not in images.found
    # Already gone in Glance: nothing left to retry.
    assert store.discard(None, ours) is None
    theirs_id = str(uuid.uuid4())
    theirs = _image(store_ref=theirs_id)
    images.found[theirs_id] = {"id": theirs_id, "status": "queued"}
    assert not store.pending_discard(theirs)
    assert store.discard(None, theirs) == theirs_id
    assert theirs_id in images.found  # the caller's, left as Glance left it


def test_a_discard_glance_cannot_answer_keeps_the_reference_for_a_retry(store):
    images = store._glance.images  # noqa: SLF001
    image = _image()
    store.assign(image)
    images.found[image.id] = {"id": image.id, "status": "saving"}
    images.errors["delete"] = glance_exc.CommunicationError("refused")
    with pytest.raises(exception.ImageServiceCallFailed):
        store.discard(None, image)
    assert image.store_ref == image.id and store.pending_discard(image)


def test_a_checksum_glance_disagrees_with_fails_the_export_naming_it(store):
    reader = glance._HashingReader(io.BytesIO(b"data"), 4,  # noqa: SLF001
                                   lambda percent: None)
    reader.read(1024)
    found = {"id": "x", "size": 4, "checksum": reader.hexdigest("md5"),
             "os_hash_algo": "sha512", "os_hash_value": "0" * 128}
    with pytest.raises(exception.ImageServiceCallFailed) as raised:
        store._verify(found, 4, reader, "/nonexistent")  # noqa: SLF001
    assert "os_hash_value" in raised.value.message
    found["os_hash_value"] = reader.hexdigest("sha512")
    store._verify(found, 4, reader, "/nonexistent")  # noqa: SLF001
