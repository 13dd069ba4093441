"""The libvirt driver's Ceph calls (nativesnap/virt/libvirt/ceph.py) against
the real one-node cluster: snapshots, format 2 clones, flatten with progress,
rollback, the clone a user without write on the image pool is refused, an
image a user cannot write refused naming it, and a cluster that does not
answer giving an error within [rbd] connect_timeout."""

import os
import time
import uuid

import pytest
import rbd

from nativesnap import exception
from nativesnap.virt.libvirt import ceph as ceph_calls
from tests.functional import rbd_helpers

pytest_plugins = ["tests.ceph_fixtures"]

MIB = 1024 * 1024


@pytest.fixture
def cluster(ceph):
    client = ceph_calls.Cluster(rbd_helpers.rbd_options(ceph.conf_path))
    yield client
    client.close()


@pytest.fixture
def image(ceph):
    name = f"calls-{uuid.uuid4()}"
    ceph.create_image("vms", name, 16 * MIB)
    ceph.write("vms", name, 0, b"A" * MIB)
    yield name
    ceph.remove_image("vms", name, children="remove")


def test_snapshot_clone_flatten_and_rollback_keep_each_state(ceph, cluster,
                                                             image):
    assert cluster.fsid() == ceph.fsid
    cluster.create_snapshot("vms", image, "s1")
    cluster.create_snapshot("vms", image, "s1")  # a retried create is fine
    ceph.write("vms", image, 0, b"B" * MIB)
    cluster.create_snapshot("vms", image, "s2")
    assert cluster.snapshots("vms", image) == ["s1", "s2"]
    clone = f"calls-clone-{uuid.uuid4()}"
    cluster.clone("vms", image, "s1", "images", clone)
    try:
        assert cluster.parent("images", clone) == ("vms", image, "s1")
        assert cluster.children("vms", image, "s1") == [("images", clone)]
        assert ceph.image_info("images", clone).clone_format == 2
        assert ceph.read("images", clone, 0, MIB) == b"A" * MIB
        seen = []
        cluster.flatten("images", clone, seen.append)
        assert cluster.parent("images", clone) is None and seen
        cluster.flatten("images", clone)  # flattened already: nothing to do
        assert cluster.children("vms", image, "s1") == []
        assert ceph.read("images", clone, 0, MIB) == b"A" * MIB
    finally:
        cluster.remove("images", clone)
    assert not cluster.exists("images", clone)
    ceph.write("vms", image, 0, b"C" * MIB)
    cluster.rollback("vms", image, "s1")
    assert ceph.read("vms", image, 0, MIB) == b"A" * MIB
    cluster.rollback("vms", image, "s2")  # later snapshots are kept
    assert ceph.read("vms", image, 0, MIB) == b"B" * MIB
    cluster.remove_snapshot("vms", image, "s1")
    cluster.remove_snapshot("vms", image, "s1")  # gone already is fine
    assert cluster.snapshots("vms", image) == ["s2"]


def test_a_user_without_write_on_the_image_pool_is_refused_the_clone(
        ceph, image):
    read_only = ceph_calls.Cluster(rbd_helpers.rbd_options(
        ceph.conf_path, user="nativesnap-ro-images"))
    try:
        read_only.create_snapshot("vms", image, "s1")
        with pytest.raises(rbd.PermissionError):
            read_only.clone("vms", image, "s1", "images",
                            f"calls-refused-{uuid.uuid4()}")
        name = f"calls-in-images-{uuid.uuid4()}"
        ceph.create_image("images", name, MIB)
        try:
            with pytest.raises(exception.Invalid) as raised:
                read_only.check_writable("images", name)
            assert f"images/{name}" in str(raised.value)
            assert "client.nativesnap-ro-images" in str(raised.value)
        finally:
            ceph.remove_image("images", name)
        with pytest.raises(exception.Invalid) as raised:
            read_only.check_writable("vms", "no-such-image")
        assert "does not exist" in str(raised.value)
    finally:
        read_only.close()


def test_a_cluster_that_does_not_answer_fails_within_the_timeout(tmp_path,
                                                                 ceph):
    # A monitor address where nothing listens.
    conf = tmp_path / "ceph.conf"
    conf.write_text("[global]\n"
                    f"fsid = {ceph.fsid}\n"
                    "mon host = 127.0.0.1:9\n"
                    f"keyring = {os.path.dirname(ceph.conf_path)}/"
                    "ceph.$name.keyring\n")
    unreachable = ceph_calls.Cluster(rbd_helpers.rbd_options(str(conf), timeout=2))
    began = time.monotonic()
    with pytest.raises(exception.DriverError) as raised:
        unreachable.snapshots("vms", "anything")
    assert time.monotonic() - began < 15
    assert "connect to Ceph" in str(raised.value)
