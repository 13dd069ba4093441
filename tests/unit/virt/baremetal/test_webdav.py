"""The bare-metal driver's WebDAV store: one-time credentials in the
htpasswd file (salted hashes, removed after), verification of an upload
against the agent's account (size, sha256, qemu-img check), the store."""

import base64
import hashlib
import os
import subprocess

import pytest

from nativesnap import exception
from nativesnap.virt.baremetal import webdav

SNAP = "0b6d4c4e-7a4e-4a55-9d8c-6f0e6f1d2a10"


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    users = tmp_path / "htpasswd"
    users.write_text("nativesnap:$5$salt$hash\n")
    os.chmod(users, 0o640)
    made = webdav.WebDAVStore("http://127.0.0.1:8780/", str(root), str(users))
    made.ensure()
    return made


def _lines(store):
    with open(store.user_file) as f:
        return f.read().splitlines()


def test_a_grant_adds_a_salted_hash_only_and_a_revoke_removes_it(store):
    user = webdav.transfer_user(SNAP, "stream")
    old_umask = os.umask(0o077)   # the service's umask must not narrow it
    try:
        password = store.grant(user)
    finally:
        os.umask(old_umask)
    (line,) = [entry for entry in _lines(store) if entry.startswith(user + ":")]
    assert password not in line
    raw = base64.b64decode(line.split(":", 1)[1][len("{SSHA}"):])
    digest, salt = raw[:20], raw[20:]
    assert hashlib.sha1(password.encode() + salt).digest() == digest
    assert oct(os.stat(store.user_file).st_mode & 0o777) == "0o640"
    store.revoke(user)
    assert _lines(store) == ["nativesnap:$5$salt$hash"]


def test_a_second_grant_replaces_the_first_password(store):
    user = webdav.transfer_user(SNAP, "deploy")
    first = store.grant(user)
    second = store.grant(user)
    assert first != second
    assert len([e for e in _lines(store) if e.startswith(user + ":")]) == 1


def test_urls_and_paths_are_named_by_the_snapshot_id(store):
    assert store.incoming_url(SNAP) == (
        f"http://127.0.0.1:8780/incoming/{SNAP}.qcow2")
    assert store.image_url(SNAP) == f"http://127.0.0.1:8780/images/{SNAP}.qcow2"
    assert store.incoming_path(SNAP).endswith(f"/incoming/{SNAP}.qcow2")


def _upload(store, tmp_path):
    raw = tmp_path / "raw"
    raw.write_bytes(os.urandom(1 << 20))
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw),
                    store.incoming_path(SNAP)], check=True, timeout=60)
    data = open(store.incoming_path(SNAP), "rb").read()
    return {"bytes_sent": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_a_good_upload_verifies_and_moves_into_the_store_with_its_facts(
        store, tmp_path):
    sent = _upload(store, tmp_path)
    assert store.verify(SNAP, sent) == sent["bytes_sent"]
    store.store(SNAP, {"sha256": sent["sha256"]})
    assert not os.path.exists(store.incoming_path(SNAP))
    assert store.stored(SNAP) == {"sha256": sent["sha256"]}
    store.remove_image(SNAP)
    assert store.stored(SNAP) is None


@pytest.mark.parametrize("change,says", [
    ("size", "bytes arrived"), ("byte", "sha256 differs")])
def test_an_upload_that_differs_from_the_agents_account_is_rejected(
        store, tmp_path, change, says):
    sent = _upload(store, tmp_path)
    if change == "size":
        sent["bytes_sent"] += 1
    else:
        with open(store.incoming_path(SNAP), "r+b") as f:
            f.seek(sent["bytes_sent"] // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(webdav.ImageRejected, match=says):
        store.verify(SNAP, sent)


def test_an_upload_that_is_not_a_sound_qcow2_is_rejected(store):
    data = b"QFI\xfb" + os.urandom(4096)
    with open(store.incoming_path(SNAP), "wb") as f:
        f.write(data)
    sent = {"bytes_sent": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    with pytest.raises(webdav.ImageRejected, match="qemu-img check"):
        store.verify(SNAP, sent)


def test_a_missing_root_or_user_file_is_a_clear_start_error(tmp_path):
    with pytest.raises(exception.DriverError, match="webdav_root"):
        webdav.WebDAVStore("http://x", str(tmp_path / "none"),
                           str(tmp_path / "users")).ensure()
    (tmp_path / "root").mkdir()
    with pytest.raises(exception.DriverError, match="webdav_user_file"):
        webdav.WebDAVStore("http://x", str(tmp_path / "root"),
                           str(tmp_path / "users")).ensure()


def test_a_hashed_copy_is_byte_equal_and_reports_its_progress(tmp_path):
    source = tmp_path / "source"
    source.write_bytes(os.urandom(9 << 20))
    seen = []
    sha = webdav.copy_hashed(str(source), str(tmp_path / "dest"), seen.append)
    assert (tmp_path / "dest").read_bytes() == source.read_bytes()
    assert sha == hashlib.sha256(source.read_bytes()).hexdigest()
    assert seen[-1] == 100 and seen == sorted(seen)
