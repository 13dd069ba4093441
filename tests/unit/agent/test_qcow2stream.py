"""The forward-only qcow2 writer makes images qemu-img 7.2 accepts as valid
(`qemu-img check` clean: no errors, no leaks) and equal to their source
(`qemu-img compare`), for every shape of device: empty, full, scattered
clusters, a size that is not a multiple of the cluster size, and more than one
L2 table's worth (> 512 MiB virtual)."""

import hashlib
import os
import subprocess

import pytest

from nativesnap.agent import qcow2stream as q

C = q.CLUSTER_SIZE
MiB = 1 << 20


def _device(path, size, writes=()):
    """A sparse file of ``size`` bytes with ``(offset, data)`` written."""
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, data in writes:
            f.seek(offset)
            f.write(data)
    return str(path)


def _check_and_compare(device, image):
    check = subprocess.run(["qemu-img", "check", "-f", "qcow2", image],
                           capture_output=True, text=True, timeout=60,
                           check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No errors were found" in check.stdout
    compare = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2",
                              device, image],
                             capture_output=True, text=True, timeout=120,
                             check=False)
    assert compare.returncode == 0, compare.stdout + compare.stderr


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 * MiB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stream(tmp_path, device):
    image = str(tmp_path / "out.qcow2")
    scan, written, sha = q.write_file(device, image)
    assert written == os.path.getsize(image) == q.image_size(scan)
    assert sha == _sha256(image)
    assert scan.device_sha256 == _sha256(device)
    _check_and_compare(device, image)
    return scan, written, image


def test_an_empty_device_is_only_metadata(tmp_path):
    device = _device(tmp_path / "dev", 64 * MiB)
    scan, written, _ = _stream(tmp_path, device)
    assert scan.allocated_bytes == 0
    # header, L1, refcount table, one refcount block; no L2, no data
    assert written == 4 * C


def test_a_full_device_is_every_cluster_plus_metadata(tmp_path):
    device = _device(tmp_path / "dev", 8 * MiB, [(0, os.urandom(8 * MiB))])
    scan, written, _ = _stream(tmp_path, device)
    assert scan.allocated_bytes == 8 * MiB
    assert written == 8 * MiB + 5 * C      # + one L2 table


def test_scattered_clusters_are_the_only_data_sent(tmp_path):
    writes = [(0, b"boot"), (3 * C + 17, b"x" * 10), (100 * C, os.urandom(5 * C)),
              (300 * C - 1, b"yz"), (1000 * C + C - 1, b"\x01")]
    device = _device(tmp_path / "dev", 80 * MiB, writes)
    scan, written, _ = _stream(tmp_path, device)
    # clusters 0, 3, 100-104, 299, 300, 1000
    assert scan.data_clusters == 10
    assert written == 10 * C + 5 * C


@pytest.mark.parametrize("size", [5 * MiB + 37 * 512, 5 * MiB + 12345])
def test_a_size_not_a_multiple_of_the_cluster_size_keeps_its_tail(tmp_path,
                                                                  size):
    # a block device is whole sectors; a file that is not is rounded up
    device = _device(tmp_path / "dev", size, [(size - 100, os.urandom(100)),
                                              (C, b"a")])
    scan, _, image = _stream(tmp_path, device)
    info = subprocess.run(["qemu-img", "info", "--output=json", image],
                          capture_output=True, text=True, timeout=30, check=True)
    assert f'"virtual-size": {-(-size // 512) * 512}' in info.stdout
    assert scan.allocated_bytes == C + size % C


def test_more_than_one_l2_table_of_virtual_size(tmp_path):
    size = 1024 * MiB + 3 * C        # two and a bit L2 tables' worth
    writes = [(512 * MiB - 10, b"across the first L2 boundary"),
              (700 * MiB + 5 * C, os.urandom(3 * C)),
              (size - C, os.urandom(C))]
    device = _device(tmp_path / "dev", size, writes)
    scan, written, _ = _stream(tmp_path, device)
    layout = q.plan(scan.size, scan.bitmap)
    assert layout.l1_entries == 3
    assert layout.l2_tables == [0, 1, 2]
    assert written == layout.data_offset + scan.data_clusters * C


def test_data_runs_coalesce_adjacent_clusters_up_to_the_read_size():
    bitmap = bytearray(200)
    bitmap[3:150] = b"\x01" * 147
    bitmap[199] = 1
    assert list(q.data_runs(bitmap, max_clusters=64)) == [
        (3, 64), (67, 64), (131, 19), (199, 1)]


@pytest.mark.parametrize("clusters,data", [
    (1, 0), (32768, 32768), (40000, 32700), (5_000_000, 200_000),
    (5_000_000, 4_900_000)])
def test_the_layout_counts_every_cluster_it_uses(clusters, data):
    bitmap = bytearray(clusters)
    bitmap[:data] = b"\x01" * data
    layout = q.plan(clusters * C, bitmap)
    total = layout.total_clusters
    # the refcount blocks cover every cluster of the image, and no more
    # blocks are used than needed
    assert layout.refblocks * q.REFCOUNTS_PER_BLOCK >= total
    assert (layout.refblocks - 1) * q.REFCOUNTS_PER_BLOCK < total
    assert layout.refcount_table_clusters * q.TABLE_ENTRIES >= layout.refblocks
    assert layout.l1_entries * q.L2_ENTRIES >= clusters
    assert layout.data_offset == (1 + layout.l1_clusters
                                  + layout.refcount_table_clusters
                                  + layout.refblocks + len(layout.l2_tables)) * C


def test_the_header_is_a_version_3_header_with_16_bit_refcounts():
    layout = q.plan(10 * MiB, bytearray(160))
    header = q.header(layout)
    assert header[:8] == b"QFI\xfb\x00\x00\x00\x03"
    assert len(header) == C
    assert int.from_bytes(header[96:100], "big") == 4      # refcount_order
    assert int.from_bytes(header[100:104], "big") == 104   # header_length


def test_progress_reaches_the_image_size(tmp_path):
    device = _device(tmp_path / "dev", 16 * MiB, [(MiB, os.urandom(MiB))])
    seen = []
    scan = q.scan(device, progress=seen.append)
    assert seen[-1] == 16 * MiB
    produced = []
    total = sum(len(p) for p in q.generate(scan, progress=produced.append))
    assert produced[-1] == total == q.image_size(scan)
