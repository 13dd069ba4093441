"""The vSphere driver's free space (the storage guard's input) against the
vCenter API simulator (``tests/vcsim_fixtures.py``, two datastores): a VM
reports its datastore's ``summary.freeSpace`` of ``summary.capacity`` as
vCenter gives them (read with pyvmomi beside it), and a VM with a disk on a
second, fuller datastore reports that one, the tightest.

The simulator's datastores are directories whose figures it reads with
statfs (on ``RefreshDatastore``): the fuller datastore is a 64 MiB ext4 of
the test's own, loop-mounted on the second datastore's directory, so its
figures are the test's to know (``os.statvfs``).
"""

import os
import subprocess
import time
import types
import uuid
import xml.parsers.expat

from pyVmomi import vim
import pytest

from nativesnap.conf import CONF
from nativesnap.virt.vmware import driver as vmware_driver
from tests.functional.vmware_helpers import vm_of
from tests.functional.vmware_helpers import vmware_conf

pytest_plugins = ["tests.vcsim_fixtures"]

MIB = 1024 * 1024
VM0 = "DC0_H0_VM0"
VM1 = "DC0_H0_VM1"


@pytest.fixture(scope="module")
def vcsim_options():
    return {"ds": 2}  # LocalDS_0 (every VM's) and LocalDS_1


@pytest.fixture(scope="module")
def sim(vcsim):
    """pyvmomi's own view of the simulator, to compare with the driver's."""
    return vcsim.connect()


@pytest.fixture
def drv(vcsim):
    """A VMwareDriver logged in to the simulator, as the service starts it."""
    for name, value in vmware_conf(vcsim).items():
        CONF.set_override(name, value, group="vmware")
    started = vmware_driver.VMwareDriver()
    try:
        started.init_host("test-host")
        yield started
    finally:
        started.cleanup_host()
        for name in vmware_conf(vcsim):
            CONF.clear_override(name, group="vmware")


@pytest.fixture
def full_datastore(vcsim):
    """LocalDS_1 on a 64 MiB ext4 of its own, 40 MiB of it written, the
    simulator's figures refreshed; unmounted afterwards."""
    directory = vcsim.datastore_dir("LocalDS_1")
    image = os.path.join(vcsim.dir, f"small-fs-{uuid.uuid4()}.img")
    with open(image, "wb") as f:
        f.truncate(64 * MIB)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", image], check=True,
                   capture_output=True, timeout=60)
    subprocess.run(["mount", "-o", "loop", image, directory], check=True,
                   capture_output=True, timeout=60)
    try:
        with open(os.path.join(directory, "ballast"), "wb") as f:
            f.write(os.urandom(40 * MIB))
            os.fsync(f.fileno())
        yield directory
    finally:
        for _ in range(50):
            done = subprocess.run(["umount", directory], capture_output=True,
                                  text=True, timeout=60)
            if done.returncode == 0:
                break
            time.sleep(0.2)
        else:
            subprocess.run(["umount", "-l", directory], capture_output=True,
                           timeout=60)
            raise AssertionError(f"could not unmount {directory}: {done.stderr}")
        os.unlink(image)


def _datastore(vm, name):
    """The VM's datastore ``name``, from vCenter's own record of the VM."""
    (found,) = [d for d in vm.datastore if d.name == name]
    return found


def _refresh(datastore):
    """vCenter's RefreshDatastore: the simulator reads the figures again
    (statfs) but then fails to encode its empty answer (govmomi 0.24.2 logs
    "invalid response (nil 'Res' field)"), which pyvmomi cannot parse."""
    try:
        datastore.RefreshDatastore()
    except xml.parsers.expat.ExpatError:
        pass


def _server(drv, ref):
    adopted = drv.adopt(None, ref)
    return types.SimpleNamespace(id=str(uuid.uuid4()),
                                 hypervisor_ref=adopted.hypervisor_ref,
                                 driver_info=adopted.driver_info)


def _add_disk(vm, datastore):
    """A new 16 MiB disk of ``vm`` in ``[datastore]``."""
    disks = [d for d in vm.config.hardware.device
             if isinstance(d, vim.vm.device.VirtualDisk)]
    controller = disks[0].controllerKey
    used = {d.unitNumber for d in vm.config.hardware.device
            if getattr(d, "controllerKey", None) == controller}
    disk = vim.vm.device.VirtualDisk(
        key=-1, controllerKey=controller,
        unitNumber=min(set(range(16)) - used - {7}), capacityInKB=16 * 1024,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            diskMode="persistent",
            fileName=f"[{datastore}] guard-{uuid.uuid4()}.vmdk"))
    spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(
        operation="add", fileOperation="create", device=disk)])
    _wait(vm.ReconfigVM_Task(spec))


def _wait(task, timeout=30):
    deadline = time.monotonic() + timeout
    while task.info.state not in ("success", "error"):
        assert time.monotonic() < deadline, "the simulator's task did not end"
        time.sleep(0.05)
    assert task.info.state == "success", task.info.error


def test_a_vm_reports_its_datastore_as_vcenter_gives_it(drv, sim):
    server = _server(drv, f"DC0/vm/{VM0}")
    datastore = _datastore(vm_of(sim, VM0), "LocalDS_0")
    _refresh(datastore)

    space = drv.free_space(None, server)

    assert space.where == "datastore LocalDS_0"
    summary = datastore.summary
    assert (space.free_bytes, space.total_bytes) == (summary.freeSpace,
                                                     summary.capacity)
    assert 0 < space.percent_free <= 100


def test_a_vm_with_a_disk_on_a_fuller_datastore_reports_that_one(
        drv, sim, full_datastore):
    vm = vm_of(sim, VM1)
    _add_disk(vm, "LocalDS_1")
    assert {d.name for d in vm.datastore} == {"LocalDS_0", "LocalDS_1"}
    for name in ("LocalDS_0", "LocalDS_1"):
        _refresh(_datastore(vm, name))
    server = _server(drv, f"DC0/vm/{VM1}")

    space = drv.free_space(None, server)

    assert space.where == "datastore LocalDS_1"
    st = os.statvfs(full_datastore)  # nothing else writes there
    assert (space.free_bytes, space.total_bytes) == (
        st.f_bfree * st.f_bsize, st.f_blocks * st.f_bsize)
    assert space.percent_free < 30  # ≈ 55 MiB usable, 40 of them written
    roomy = _datastore(vm, "LocalDS_0").summary
    assert space.percent_free < 100 * roomy.freeSpace / roomy.capacity
