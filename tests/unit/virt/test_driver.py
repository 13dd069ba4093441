"""The driver contract: loading by entry point, UnsupportedOperation for every
verb a driver does not implement, optional interfaces, events, and the
capability names."""

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
    "flatten": ("ctx", "handle", "progress"),
    "list_hypervisor_snapshots": ("ctx", "server"),
    "resume_task": ("ctx", "server", "snapshotting", None, {}, {}, "progress"),
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
             "get_server_state", "attached_volume_ids", "validate_revert",
             "interface", "interfaces", "register_event_listener",
             "emit_event", "remove_clone", "register_node_lookup",
             "lookup_node", "free_space"}
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


def test_a_driver_without_an_interface_refuses_it_with_one_error():
    with pytest.raises(exception.UnsupportedOperation) as info:
        MinimalDriver().interface(driver.VOLUME_SNAPSHOT, "volume_snapshot_create")
    assert info.value.code == 400
    assert str(info.value) == ("The minimal driver does not support "
                               "volume_snapshot_create: assisted volume "
                               "snapshots.")
    assert MinimalDriver().interfaces() == {}


def test_the_fake_offers_the_volume_snapshot_interface():
    offered = fake.FakeDriver().interface(driver.VOLUME_SNAPSHOT, "any")
    assert isinstance(offered, driver.VolumeSnapshotInterface)
    assert offered.interface_type == driver.VOLUME_SNAPSHOT


def test_the_volume_snapshot_interface_verbs_are_required_but_reconcile():
    assert driver.VolumeSnapshotInterface.__abstractmethods__ == {
        "attached_volumes", "validate_create", "create", "validate_delete",
        "delete"}
    outcome = driver.VolumeSnapshotInterface.reconcile(None, None, None, None)
    assert outcome.completed is False and "cannot tell" in outcome.reason


def test_events_reach_the_registered_listener_and_none_is_no_error():
    d = MinimalDriver()
    event = driver.ServerEvent("ref-1", driver.EVENT_STATE)
    d.emit_event(event)  # nobody listens yet
    seen = []
    d.register_event_listener(seen.append)
    d.emit_event(event)
    assert seen == [event]


def test_a_driver_that_cannot_tell_its_free_space_reports_none():
    assert MinimalDriver().free_space("ctx", "server") is None


def test_free_space_is_a_size_with_its_per_cent_free_and_a_label():
    space = driver.FreeSpace(free_bytes=42, total_bytes=1000,
                             where="Ceph pool vms")
    assert space.percent_free == pytest.approx(4.2)
    assert str(space) == "Ceph pool vms has 4.2 % free"
    assert driver.FreeSpace(0, 1, "full").percent_free == 0.0
    assert driver.FreeSpace(1, 1, "empty").percent_free == 100.0


@pytest.mark.parametrize("free,total", [(0, 0), (1, 0), (-1, 10), (5, -1)])
def test_free_space_without_a_size_is_refused(free, total):
    # A driver that has no figures returns None instead.
    with pytest.raises(ValueError) as raised:
        driver.FreeSpace(free, total, "datastore ds1")
    assert "datastore ds1" in str(raised.value)


def test_the_tightest_place_is_the_least_per_cent_free_and_none_can_tell():
    roomy = driver.FreeSpace(50, 100, "roomy")
    tight = driver.FreeSpace(300, 10000, "tight")  # more bytes, fewer per cent
    tie = driver.FreeSpace(3, 100, "tie")  # 3 %, but fewer bytes than tight
    assert driver.tightest([roomy, None, tight]) is tight
    assert driver.tightest(iter([roomy, tight, tie])) is tie
    assert driver.tightest([None, None]) is None
    assert driver.tightest([]) is None


def test_laps_time_consecutive_parts_and_add_up_a_part_named_twice(monkeypatch):
    clock = iter([10.0, 10.25, 10.5, 11.0])
    monkeypatch.setattr(driver.time, "monotonic", lambda: next(clock))
    laps = driver.Laps()
    laps.lap("stop")        # 250 ms after the start
    laps.lap("progress")    # 250 ms
    laps.lap("stop")        # 500 ms more of "stop"
    assert laps.parts == {"stop_ms": 750.0, "progress_ms": 250.0}
