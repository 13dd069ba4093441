"""The WebDAV side of bare-metal images: one-time credentials, the files an
agent uploads, their verification, and the stored snapshots.

Why files on this host: the WebDAV server (tools/start-webdav) serves
``[baremetal] webdav_root`` at ``webdav_url`` from the compute service's host,
as Ironic's conductor serves deploy images from its ``http_root``. An agent
PUTs a snapshot to ``incoming/<snapshot id>.qcow2``; nativesnap then checks
it where it lies (size and sha256 against what the agent says it sent,
``qemu-img check``) and renames it into ``images/<snapshot id>.qcow2``, the
store, with its facts beside it in ``<snapshot id>.json``. A restore or a
spawn has the agent read it back from there. Names are the snapshot's UUID,
never a user's label.

Each transfer gets its own user in the server's htpasswd file (nginx re-reads
it on every request) with a random password, removed once the transfer
ended; so a credential the agent held is worthless afterwards. Only the
salted hash ({SSHA}) is written; the password goes to the agent in the
command and nowhere else.
"""

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import subprocess

from oslo_log import log as logging

from nativesnap import exception

LOG = logging.getLogger(__name__)

INCOMING = "incoming"
IMAGES = "images"
CHUNK = 4 << 20
QEMU_IMG_TIMEOUT = 600


class ImageRejected(exception.DriverError):
    """An uploaded image failed verification: nothing is stored."""


def transfer_user(snapshot_id, purpose):
    """The one-time WebDAV user of one transfer (e.g. ``stream-<id>``)."""
    return f"{purpose}-{snapshot_id}"


def _ssha(password):
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


class WebDAVStore:
    def __init__(self, url, root, user_file):
        self.url = url.rstrip("/")
        self.root = root
        self.user_file = user_file

    # --- layout ------------------------------------------------------------

    def ensure(self):
        """Make incoming/ and images/ as the server's own user owns its root
        (its workers write incoming files and read images)."""
        if not os.path.isdir(self.root):
            raise exception.DriverError(
                driver="baremetal", verb="start",
                reason=f"[baremetal] webdav_root {self.root} is not a directory "
                       "(start the WebDAV server: tools/start-webdav)")
        if not os.path.isfile(self.user_file):
            raise exception.DriverError(
                driver="baremetal", verb="start",
                reason=f"[baremetal] webdav_user_file {self.user_file} does not "
                       "exist (tools/start-webdav makes it)")
        owner = os.stat(self.root)
        for name in (INCOMING, IMAGES):
            path = os.path.join(self.root, name)
            os.makedirs(path, exist_ok=True)
            os.chown(path, owner.st_uid, owner.st_gid)
            os.chmod(path, 0o750)   # whatever the service's umask

    def incoming_path(self, snapshot_id):
        return os.path.join(self.root, INCOMING, f"{snapshot_id}.qcow2")

    def incoming_url(self, snapshot_id):
        return f"{self.url}/{INCOMING}/{snapshot_id}.qcow2"

    def image_path(self, snapshot_id):
        return os.path.join(self.root, IMAGES, f"{snapshot_id}.qcow2")

    def image_url(self, snapshot_id):
        return f"{self.url}/{IMAGES}/{snapshot_id}.qcow2"

    def _facts_path(self, snapshot_id):
        return os.path.join(self.root, IMAGES, f"{snapshot_id}.json")

    # --- one-time credentials ----------------------------------------------

    @contextlib.contextmanager
    def _users_locked(self):
        with open(self.user_file + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _rewrite_users(self, user, line=None):
        """Drop ``user``'s line and, with ``line``, add it anew: written to a
        temporary file and renamed, with the file's owner and mode."""
        with self._users_locked():
            with open(self.user_file) as f:
                lines = [entry for entry in f.read().splitlines()
                         if entry and entry.split(":", 1)[0] != user]
            if line is not None:
                lines.append(line)
            info = os.stat(self.user_file)
            tmp = f"{self.user_file}.{secrets.token_hex(4)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                os.fchmod(f.fileno(), info.st_mode & 0o777)   # not the umask's
                f.write("".join(entry + "\n" for entry in lines))
                f.flush()
                os.fsync(f.fileno())
            os.chown(tmp, info.st_uid, info.st_gid)
            os.replace(tmp, self.user_file)

    def grant(self, user):
        """A new random password for ``user``, valid until ``revoke``."""
        password = secrets.token_urlsafe(32)
        self._rewrite_users(user, f"{user}:{_ssha(password)}")
        return password

    def revoke(self, user):
        self._rewrite_users(user)

    # --- uploads and the store --------------------------------------------

    def remove_incoming(self, snapshot_id):
        """Remove what an upload left; whether there was something."""
        try:
            os.unlink(self.incoming_path(snapshot_id))
            return True
        except FileNotFoundError:
            return False

    def verify(self, snapshot_id, sent):
        """Check the uploaded file against the agent's account of it
        (``sent``: its ``bytes_sent`` and ``sha256``) and ``qemu-img
        check``; ImageRejected, naming what differs, otherwise."""
        path = self.incoming_path(snapshot_id)
        size = os.path.getsize(path)
        if size != sent["bytes_sent"]:
            raise self._rejected(f"{size} bytes arrived, the agent sent "
                                 f"{sent['bytes_sent']}")
        if sha256_of(path) != sent["sha256"]:
            raise self._rejected("its sha256 differs from the one the agent "
                                 "computed while sending: the file was "
                                 "changed on the way or at rest")
        check = subprocess.run(
            ["qemu-img", "check", "-f", "qcow2", "--output=json", path],
            capture_output=True, text=True, timeout=QEMU_IMG_TIMEOUT,
            check=False)
        if check.returncode != 0:
            raise self._rejected("qemu-img check found it damaged: "
                                 f"{(check.stderr or check.stdout)[-300:]}")
        return size

    @staticmethod
    def _rejected(reason):
        return ImageRejected(driver="baremetal", verb="store the snapshot",
                             reason=f"the uploaded image was refused: {reason}")

    def store(self, snapshot_id, facts):
        """Move a verified upload into the store, its ``facts`` beside it
        (written first: a stored image always has them)."""
        facts_path = self._facts_path(snapshot_id)
        tmp = facts_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(facts, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, facts_path)
        os.replace(self.incoming_path(snapshot_id), self.image_path(snapshot_id))
        _fsync_dir(os.path.join(self.root, IMAGES))

    def stored(self, snapshot_id):
        """The facts of a stored image, or None when it is not stored."""
        if not os.path.exists(self.image_path(snapshot_id)):
            return None
        try:
            with open(self._facts_path(snapshot_id)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def remove_image(self, snapshot_id):
        for path in (self.image_path(snapshot_id),
                     self._facts_path(snapshot_id)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_hashed(source, dest, progress):
    """Copy ``source`` to ``dest`` (fsynced), hashing what is written; its
    sha256. ``progress(percent)`` as it goes."""
    total = os.path.getsize(source) or 1
    done = 0
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(dest, "wb") as out:
        while chunk := src.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            progress(int(100 * done / total))
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
