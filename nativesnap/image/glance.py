"""The Glance image store: exports become images of OpenStack's image service.

Flow of one export (docs/images.md has the operator's view):

1. ``assign``: before anything is made, the export's record names the Glance
   image it will be (``store_ref``). nativesnap creates its Glance images with
   its own image id, so a record whose ``store_ref`` is its own id always
   points at what may exist in Glance, even after a crash between Glance's
   answer and the next database write. An image the caller created
   (``image_ref`` of the export body, as the Ironic snapshot spec's
   ``image_id``) keeps the caller's id.
2. The driver writes the export to a staging file on the compute host.
3. ``commit``: the Glance image is created (or the caller's is given its
   formats and properties), the staging file is uploaded through
   python-glanceclient, streamed — glanceclient reads a file object in 1 MiB
   pieces, so memory stays flat whatever the size — while nativesnap computes
   MD5 and SHA-512 of the bytes it sends; once Glance says ``active``, its
   ``checksum`` and ``os_hash_value`` must equal nativesnap's.
4. On failure or after a crash, ``discard`` deletes the Glance image nativesnap
   created (never the caller's) and the staging file. Glance down at that
   moment: the record keeps ``store_ref`` and the compute service tries again
   (``pending_discard``), so no image stays ``queued`` or ``saving`` in Glance.

Whose token: an export, a validation or a delete made for a user's request
(a context with a token: Keystone authenticated it) calls Glance with that
user's token, plus the ``[service_user]`` token when configured
(nativesnap.common.service_auth), so Glance's policies judge the user. Work
with no user behind it (retried discards, start-up recovery) uses the
``[glance]`` credentials, which must therefore always be configured.

Every error of a Glance call becomes one exception,
:class:`nativesnap.exception.ImageServiceCallFailed` (502) naming the call and
Glance's answer, or ImageServiceQuotaExceeded (413) for a quota or size limit.
"""

import hashlib
import os
import threading
import time

from glanceclient import client as glance_client
from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from oslo_log import log as logging

from nativesnap.common import failpoints
from nativesnap.common import service_auth
from nativesnap.common import states
from nativesnap import exception
from nativesnap.image import local
from nativesnap.image import store

LOG = logging.getLogger(__name__)

GROUP = "glance"
CONTAINER_FORMAT = "bare"
# Glance statuses (its image state machine).
QUEUED, SAVING, ACTIVE = "queued", "saving", "active"
STATUS_POLL_SECONDS = 0.5
# What nativesnap computes while uploading; Glance's checksum is always MD5 and
# its os_hash_algo is sha512 unless its operator chose another algorithm.
CHECKSUM_ALGO = "md5"
DEFAULT_HASH_ALGO = "sha512"
PROPERTY_SNAPSHOT = "nativesnap_snapshot_id"
PROPERTY_SERVER = "nativesnap_server_id"
PROPERTY_HYPERVISOR = "nativesnap_hypervisor"
MAX_ANSWER_CHARS = 500


class _HashingReader:
    """A file object for glanceclient's upload: hands the staging file's bytes
    on as they are asked for, hashing them and reporting progress."""

    def __init__(self, fileobj, size, progress):
        self._file = fileobj
        self._size = size
        self._progress = progress
        self.sent = 0
        self.hashes = {CHECKSUM_ALGO: hashlib.md5(usedforsecurity=False),
                       DEFAULT_HASH_ALGO: hashlib.new(DEFAULT_HASH_ALGO)}

    def read(self, size=-1):
        if self.sent:
            failpoints.hit("image.export.uploading")
        data = self._file.read(size)
        for digest in self.hashes.values():
            digest.update(data)
        self.sent += len(data)
        if data and self._size:
            self._progress(100.0 * self.sent / self._size)
        return data

    def hexdigest(self, algo):
        return self.hashes[algo].hexdigest()


def _answer(exc):
    text = (getattr(exc, "details", None) or str(exc) or type(exc).__name__)
    text = " ".join(str(text).split())
    return text[:MAX_ANSWER_CHARS]


class GlanceImageStore(store.ImageStore):
    backend = "glance"
    uploads = True

    def __init__(self, conf, staging_path):
        self._conf = conf
        # Staging files live where the local store stages its own.
        self._staging = local.LocalImageStore(staging_path)
        self._lock = threading.Lock()
        self._glance = None  # with [glance]'s credentials
        self._session = None  # for clients with a user's token

    # --- the client ------------------------------------------------------------

    def _client(self, context=None):
        """glanceclient as ``context``'s user when it carries a token, else
        with [glance]'s credentials (which are checked either way: the
        service's own work needs them)."""
        with self._lock:
            if self._glance is None:
                self._glance = self._make_client()
            service_client = self._glance
        user = service_auth.user_auth(context, self._conf)
        if user is None:
            return service_client
        return self._make_client(user)

    def _make_client(self, user=None):
        """A client with the [glance] plugin, or with ``user``'s plugin on
        a session of [glance]'s options (TLS, timeout) shared by them all."""
        conf = self._conf
        if user is None:
            try:
                auth = ks_loading.load_auth_from_conf_options(conf, GROUP)
            except ks_exc.ClientException as exc:
                raise self._unconfigured(_answer(exc)) from exc
            if auth is None:
                raise self._unconfigured("[glance] auth_type is not set")
            session = ks_loading.load_session_from_conf_options(
                conf, GROUP, auth=auth)
        else:
            auth, session = user, self._user_session()
        opts = conf[GROUP]
        return glance_client.Client(
            "2", session=session, auth=auth, service_type=opts.service_type,
            service_name=opts.service_name, interface=opts.valid_interfaces,
            region_name=opts.region_name, endpoint_override=opts.endpoint_override)

    def _user_session(self):
        with self._lock:
            if self._session is None:
                self._session = ks_loading.load_session_from_conf_options(
                    self._conf, GROUP)
            return self._session

    @staticmethod
    def _unconfigured(why):
        return exception.ImageServiceCallFailed(
            call="(none)", id="-", status=None,
            answer=f"nativesnap cannot reach Glance: {why} (docs/images.md)")

    def _call(self, call, image_id, method, *args, **kwargs):
        """``method`` of glanceclient, its errors as nativesnap's exceptions."""
        try:
            return method(*args, **kwargs)
        except glance_exc.HTTPException as exc:
            status = getattr(exc, "code", None)
            cls = (exception.ImageServiceQuotaExceeded if status == 413
                   else exception.ImageServiceCallFailed)
            raise cls(call=call, id=image_id, status=status,
                      answer=f"Glance answered {status}: {_answer(exc)}") from exc
        except (glance_exc.BaseException, ks_exc.ClientException) as exc:
            raise exception.ImageServiceCallFailed(
                call=call, id=image_id, status=None,
                answer=f"Glance did not answer: {_answer(exc)}") from exc

    def _get(self, image_id, glance=None):
        glance = glance or self._client()
        return self._call("get", image_id, glance.images.get, image_id)

    # --- the store interface -----------------------------------------------------

    def ensure(self):
        self._staging.ensure()

    def validate_export(self, context, project_id, disk_format, image_ref):
        """The caller's image must be theirs, empty (``queued``) and of the
        export's formats; another project's image is "not found", as in
        Glance. Without ``image_ref`` only the configuration is checked."""
        glance = self._client(context)
        if image_ref is None:
            return
        try:
            found = self._get(image_ref, glance)
        except exception.ImageServiceCallFailed as exc:
            if exc.status == 404:
                raise exception.ImageNotFound(image_id=image_ref) from exc
            raise
        if found.get("owner") != project_id:
            raise exception.ImageNotFound(image_id=image_ref)
        if found.get("status") != QUEUED:
            raise exception.Conflict(
                f"Glance image {image_ref} is {found.get('status')}; an export "
                f"fills only an image that has no data yet ({QUEUED}).")
        for field, wanted in (("disk_format", disk_format),
                              ("container_format", CONTAINER_FORMAT)):
            if found.get(field) not in (None, wanted):
                raise exception.Invalid(
                    reason=f"Glance image {image_ref} has {field} "
                           f"{found.get(field)}; this export makes {wanted}")

    def assign(self, image):
        if image.store_ref is None:
            image.store_ref = image.id

    def staging(self, image):
        return self._staging.staging(image)

    def commit(self, context, image, result, progress, hypervisor=None):
        """Upload the staging file into ``image``'s Glance image and check
        Glance's checksums; the location ``glance://<id>``."""
        glance = self._client(context)
        self._describe(image, hypervisor, glance)
        failpoints.hit("image.export.before_upload")
        path = self.staging(image)
        with open(path, "rb") as staged:
            reader = _HashingReader(staged, result.size_bytes, progress)
            self._call("upload", image.store_ref, glance.images.upload,
                       image.store_ref, reader, image_size=result.size_bytes)
        failpoints.hit("image.export.after_upload")
        found = self._wait_active(image.store_ref, glance)
        self._verify(found, result.size_bytes, reader, path)
        os.unlink(path)
        return f"glance://{image.store_ref}"

    def _describe(self, image, hypervisor, glance=None):
        """Create the Glance image (nativesnap's own), or give the caller's
        the export's formats and the properties that trace it back."""
        properties = {PROPERTY_SNAPSHOT: image.snapshot_id,
                      PROPERTY_SERVER: image.server_id,
                      PROPERTY_HYPERVISOR: hypervisor}
        properties = {k: v for k, v in properties.items() if v}
        formats = {"disk_format": image.disk_format,
                   "container_format": CONTAINER_FORMAT}
        glance = glance or self._client()
        if image.store_ref == image.id:
            failpoints.hit("image.export.before_create")
            self._call("create", image.id, glance.images.create, id=image.id,
                       name=image.name, owner=image.project_id,
                       visibility="private", **formats, **properties)
        else:
            self._call("update", image.store_ref, glance.images.update,
                       image.store_ref, **formats, **properties)

    def _wait_active(self, image_id, glance=None):
        """Glance's record once ``active``; bounded by [glance] status_timeout."""
        deadline = time.monotonic() + self._conf[GROUP].status_timeout
        while True:
            found = self._get(image_id, glance)
            status = found.get("status")
            if status == ACTIVE:
                return found
            if status != SAVING or time.monotonic() > deadline:
                raise exception.ImageServiceCallFailed(
                    call="upload", id=image_id, status=None,
                    answer=f"the image is {status} after the upload, not "
                           f"{ACTIVE}")
            time.sleep(STATUS_POLL_SECONDS)

    def _verify(self, found, size, reader, path):
        """Glance's size and checksums against what was sent."""
        algo = found.get("os_hash_algo") or DEFAULT_HASH_ALGO
        if algo in reader.hashes:
            ours = reader.hexdigest(algo)
        else:
            ours = _file_digest(path, algo)  # Glance's operator chose another
        expected = ((("size", found.get("size"), size),
                     ("checksum", found.get("checksum"),
                      reader.hexdigest(CHECKSUM_ALGO)),
                     ("os_hash_value", found.get("os_hash_value"), ours)))
        for field, theirs, mine in expected:
            if theirs != mine:
                raise exception.ImageServiceCallFailed(
                    call="upload", id=found["id"], status=None,
                    answer=f"Glance's {field} {theirs} differs from the "
                           f"uploaded data's {mine}")

    def pending_discard(self, image):
        return image.store_ref is not None and image.store_ref == image.id

    def discard(self, context, image):
        """Delete the staging file and the Glance image nativesnap created;
        the caller's image (``image_ref``) is theirs and left as Glance left
        it. Returns the ``store_ref`` the record keeps."""
        self._staging.discard(context, image)
        if not self.pending_discard(image):
            return image.store_ref
        self._delete(image.store_ref, self._client(context))
        return None

    def delete(self, context, image):
        """An exported image: its Glance image goes. A failed export: only
        what ``discard`` would remove (a caller's empty image stays theirs)."""
        if image.status != states.IMAGE_ACTIVE:
            self.discard(context, image)
            return
        self._staging.discard(context, image)
        if image.store_ref is not None:
            self._delete(image.store_ref, self._client(context))

    def _delete(self, image_id, glance=None):
        glance = glance or self._client()
        try:
            self._call("delete", image_id, glance.images.delete, image_id)
        except exception.ImageServiceCallFailed as exc:
            if exc.status != 404:
                raise
            LOG.info("Glance image %s was already gone", image_id)

    def add_location(self, context, image, url, metadata=None, hypervisor=None):
        """Make the data at ``url`` (in Glance's own storage) ``image``'s
        Glance image: no data crosses the host. Glance must allow locations
        (docs/images.md); the location ``glance://<id>``."""
        glance = self._client(context)
        self._describe(image, hypervisor, glance)
        self._call("add_location", image.store_ref, glance.images.add_location,
                   image.store_ref, url, metadata or {})
        self._wait_active(image.store_ref, glance)
        return f"glance://{image.store_ref}"


def _file_digest(path, algo):
    try:
        digest = hashlib.new(algo)
    except ValueError as exc:
        raise exception.ImageServiceCallFailed(
            call="upload", id="-", status=None,
            answer=f"Glance hashes with {algo}, which this host cannot "
                   "compute") from exc
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()
