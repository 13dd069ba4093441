"""The driver contract: loading by entry point, UnsupportedOperation for every
verb a driver does not implement, and the capability names."""

import importlib.metadata
import inspect

import pytest

from nativesnap import exception
from nativesnap.virt import driver
from nativesnap.virt import fake

# DESIGN §2: capabilities {memory, quiesce, revert_any, tree, linked_spawn, export}
DESIGN_CAPABILITIES = {"memory", "quiesce", "revert_any", "tree", "linked_spawn",
                       "export"}

# verb -> arguments after ``self``
VERBS = {
    "destroy_server": ("ctx", "server"),
    "create_snapshot": ("ctx", "server", "snapshot", "progress"),
    "delete_snapshot": ("ctx", "server", "snapshot", "progress"),
    "revert_to_snapshot": ("ctx", "server", "snapshot", True, "progress"),
    "spawn_from_snapshot": ("ctx", "source", "snapshot", "new", True, True,
                            "progress"),
    "export_snapshot": ("ctx", "server", "snapshot", "/dev/null", "qcow2",
                        "progress"),
    "list_hypervisor_snapshots": ("ctx", "server"),
    "find_volume_disk": ("ctx", "server", "volume-id"),
    "volume_snapshot_create": ("ctx", "server", "volume-id", {}, "progress"),
    "volume_snapshot_delete": ("ctx", "server", "volume-id", {}, "progress"),
}


class MinimalDriver(driver.ComputeDriver):
    """Implements only what the contract requires."""

    name = "minimal"

    def adopt(self, context, hypervisor_ref):
        raise exception.HypervisorObjectNotFound(driver=self.name, what="object",
                                                 ref=hypervisor_ref)

    def get_server_state(self, context, server):
        return "ACTIVE"


def test_load_driver_loads_the_fake_through_its_entry_point():
    loaded = driver.load_driver("fake")
    assert isinstance(loaded, fake.FakeDriver)
    assert loaded.name == "fake"


def test_drivers_are_registered_in_the_entry_point_group_by_their_name():
    points = {ep.name: ep.value for ep in
              importlib.metadata.entry_points(group=driver.NAMESPACE)}
    assert points["fake"] == "nativesnap.virt.fake:FakeDriver"
    assert points["libvirt"] == "nativesnap.virt.libvirt.driver:LibvirtDriver"
    assert fake.FakeDriver.name == "fake"


def test_unknown_driver_name_raises_driver_error_naming_it():
    with pytest.raises(exception.DriverError) as info:
        driver.load_driver("no-such-driver")
    assert "no-such-driver" in str(info.value)
    assert "load" in str(info.value)


def test_abstract_verbs_must_be_implemented():
    assert driver.ComputeDriver.__abstractmethods__ == {"adopt",
                                                        "get_server_state"}
    with pytest.raises(TypeError):
        driver.ComputeDriver()


def test_verb_list_covers_every_optional_verb_of_the_base_class():
    hooks = {"init_host", "cleanup_host", "get_capabilities", "forget_server",
             "validate_snapshot_request", "reconcile", "adopt",
             "get_server_state", "attached_volume_ids",
             "validate_revert", "validate_volume_snapshot_create",
             "validate_volume_snapshot_delete", "reconcile_volume_operation"}
    public = {name for name, _ in inspect.getmembers(driver.ComputeDriver,
                                                     inspect.isfunction)
              if not name.startswith("_")}
    assert public - hooks == set(VERBS)


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_unimplemented_verb_raises_unsupported_operation_naming_driver_and_verb(
        verb):
    with pytest.raises(exception.UnsupportedOperation) as info:
        getattr(MinimalDriver(), verb)(*VERBS[verb])
    assert info.value.code == 400
    message = str(info.value)
    assert "minimal" in message
    assert verb in message
    assert driver.UnsupportedOperation is exception.UnsupportedOperation


def test_unsupported_operation_message_carries_the_reason():
    error = exception.UnsupportedOperation(driver="vmware", verb="export_snapshot",
                                           reason="no HttpNfcLease")
    assert str(error) == ("The vmware driver does not support export_snapshot: "
                          "no HttpNfcLease.")


def test_capabilities_are_the_six_names_of_the_design():
    assert set(driver.CAPABILITIES) == DESIGN_CAPABILITIES
    assert len(driver.CAPABILITIES) == 6
    assert set(driver.ComputeDriver.capabilities) == DESIGN_CAPABILITIES
    assert not any(driver.ComputeDriver.capabilities.values())
    assert fake.FakeDriver.capabilities == {n: True for n in DESIGN_CAPABILITIES}


def test_get_capabilities_returns_a_copy():
    d = MinimalDriver()
    caps = d.get_capabilities(None)
    caps["memory"] = True
    assert d.get_capabilities(None)["memory"] is False


def test_default_validation_refuses_what_the_capabilities_do_not_allow():
    d = MinimalDriver()
    with pytest.raises(exception.UnsupportedOperation) as info:
        d.validate_snapshot_request(None, None, True, "off", False)
    assert "memory" in str(info.value) and "minimal" in str(info.value)
    with pytest.raises(exception.UnsupportedOperation):
        d.validate_snapshot_request(None, None, False, "off", True)
    d.validate_snapshot_request(None, None, False, "off", False)


def test_default_reconcile_rolls_back_and_says_why():
    outcome = MinimalDriver().reconcile(None, None, "snapshotting", None)
    assert outcome.completed is False
    assert "minimal" in outcome.reason and "snapshotting" in outcome.reason


def test_default_assisted_volume_hooks_refuse_and_cannot_tell():
    d = MinimalDriver()
    for hook in ("validate_volume_snapshot_create",
                 "validate_volume_snapshot_delete"):
        with pytest.raises(exception.UnsupportedOperation) as info:
            getattr(d, hook)(None, None, None, {})
        assert "minimal" in str(info.value)
    outcome = d.reconcile_volume_operation(None, None, None)
    assert outcome.completed is False and "minimal" in outcome.reason


@pytest.mark.parametrize("name", ["volume-x", "volume-1.2", "v" * 255, "a b"])
def test_plain_file_names_pass(name):
    assert driver.plain_file_name("new_file", name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/a", "../a", "a..b",
                                  "a:b", "a\x00b", "a\nb", "a\x85b", "v" * 256,
                                  None, 5])
def test_names_that_are_not_plain_file_names_are_refused_with_400(name):
    with pytest.raises(exception.Invalid) as info:
        driver.plain_file_name("new_file", name)
    assert info.value.code == 400 and "new_file" in str(info.value)
