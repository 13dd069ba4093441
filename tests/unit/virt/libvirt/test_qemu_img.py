"""qemu-img's failures become faults that say why: a full disk is a 507
naming the full filesystem, anything else a driver error quoting qemu-img."""

import os

from nativesnap import exception
from nativesnap.virt.libvirt import qemu_img


def test_a_full_disk_is_insufficient_storage_naming_the_directory(tmp_path):
    err = qemu_img._failure(
        ["convert", "-p"], "copy a disk",
        "qemu-img: error while writing at byte 2097152: No space left on device\n",
        str(tmp_path))
    assert isinstance(err, exception.InsufficientStorage) and err.code == 507
    assert f"the filesystem of {tmp_path} is full (" in err.message
    assert "KiB free" in err.message
    assert err.message.endswith("qemu-img convert failed: qemu-img: error while "
                                "writing at byte 2097152: No space left on device")


def test_other_failures_are_driver_errors_quoting_qemu_img():
    err = qemu_img._failure(["create"], "create an overlay",
                            "qemu-img: /x: Permission denied", "/x")
    assert isinstance(err, qemu_img.QemuImgError) and err.code == 500
    assert err.message == ("The libvirt driver failed to create an overlay: "
                           "qemu-img create failed: qemu-img: /x: Permission denied")


def test_qemu_img_runs_with_untranslated_messages(monkeypatch):
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    env = qemu_img._env()
    assert env["LC_ALL"] == "C" and env["PATH"] == os.environ["PATH"]
