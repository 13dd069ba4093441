"""Failpoints: the configuration is parsed strictly (an unknown name, action
or count is refused before anything is armed), each action does what it says
(crash is a real SIGKILL, proved in a child process), ``@n`` fires on the n-th
hit only, and an unconfigured failpoint does nothing."""

import ast
import os
import subprocess
import sys

import pytest

from nativesnap.common import failpoints
from nativesnap import exception
from tests import fixtures

PACKAGE = os.path.join(fixtures.REPO, "nativesnap")
BIN = os.path.dirname(sys.executable)


@pytest.fixture(autouse=True)
def _disarm_afterwards():
    yield
    failpoints.configure([])


def test_registry_names_are_unique_dotted_and_described():
    names = [name for name, _ in failpoints.FAILPOINTS]
    assert len(names) == len(set(names))
    for name, description in failpoints.FAILPOINTS:
        layer, operation, step = name.split(".")
        assert layer in ("manager", "libvirt", "baremetal", "image",
                         "scheduler")
        assert operation in ("create", "delete", "revert", "spawn", "export",
                             "assisted", "flatten", "snapshot", "deploy",
                             "take", "prune")
        assert step and description and "\n" not in description


def _placed_failpoints():
    """Every failpoints.hit("<name>") call in the package, by name."""
    placed = {}
    for root, _dirs, files in os.walk(PACKAGE):
        for file_name in files:
            if not file_name.endswith(".py"):
                continue
            path = os.path.join(root, file_name)
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "hit"
                        and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "failpoints"):
                    assert len(node.args) == 1 and isinstance(
                        node.args[0], ast.Constant), (path, node.lineno)
                    placed.setdefault(node.args[0].value, []).append(
                        os.path.relpath(path, fixtures.REPO))
    return placed


# Steps reached on alternative paths: the disk switch is made either by the
# plain snapshot call or by the live memory save, never both in one create.
ALTERNATIVE_PATHS = {"libvirt.create.after_snapshot_call": 2}


def test_every_registered_failpoint_is_placed_once_per_path_and_only_those():
    placed = _placed_failpoints()
    assert set(placed) == failpoints.NAMES
    assert {name: len(where) for name, where in placed.items()
            if len(where) != ALTERNATIVE_PATHS.get(name, 1)} == {}


def test_manager_failpoints_are_in_the_manager_store_ones_in_the_store_and_libvirt_ones_in_the_driver():
    for name, places in _placed_failpoints().items():
        for where in places:
            if name.startswith("manager."):
                assert where.startswith("nativesnap/compute/"), name
            elif name.startswith("image."):
                assert where.startswith("nativesnap/image/"), name
            elif name.startswith("scheduler."):
                assert where.startswith("nativesnap/scheduler/"), name
            elif name.startswith("baremetal."):
                assert where.startswith("nativesnap/virt/baremetal/"), name
            else:
                assert where.startswith("nativesnap/virt/libvirt/"), name


@pytest.mark.parametrize("entry,kind,seconds,nth", [
    ("manager.create.before_driver=crash", "crash", None, None),
    ("libvirt.create.after_freeze=error", "error", None, None),
    ("libvirt.delete.before_pivot=sleep:2.5", "sleep", 2.5, None),
    ("  libvirt.spawn.after_define = error@3 ", "error", None, 3),
    ("manager.export.before_rename=sleep:0.01@1", "sleep", 0.01, 1),
    ("libvirt.revert.after_start=crash@12", "crash", None, 12),
])
def test_valid_entries_parse_to_their_action(entry, kind, seconds, nth):
    (action,) = failpoints.parse([entry]).values()
    assert (action.kind, action.seconds, action.nth) == (kind, seconds, nth)
    assert action.name == entry.split("=")[0].strip()


@pytest.mark.parametrize("entry,says", [
    ("libvirt.create.after_frezee=crash", "did you mean libvirt.create.after_freeze"),
    ("nosuch=crash", "unknown failpoint 'nosuch'"),
    ("manager.create.before_driver", "write <name>=<action>"),
    ("=crash", "write <name>=<action>"),
    ("manager.create.before_driver=", "write <name>=<action>"),
    ("manager.create.before_driver=explode", "unknown action 'explode'"),
    ("manager.create.before_driver=crash:3", "crash takes no argument"),
    ("manager.create.before_driver=sleep", "sleep needs seconds"),
    ("manager.create.before_driver=sleep:0", "sleep needs seconds"),
    ("manager.create.before_driver=sleep:-1", "sleep needs seconds"),
    ("manager.create.before_driver=sleep:nan", "sleep needs seconds"),
    ("manager.create.before_driver=sleep:inf", "sleep needs seconds"),
    ("manager.create.before_driver=sleep:601", "sleep needs seconds"),
    ("manager.create.before_driver=error@0", "the count must be"),
    ("manager.create.before_driver=error@-1", "the count must be"),
    ("manager.create.before_driver=error@x", "the count must be"),
    ("manager.create.before_driver=error@\u0663", "the count must be"),
])
def test_invalid_entries_are_refused_naming_the_entry_and_the_problem(entry, says):
    with pytest.raises(exception.InvalidFailpoint) as caught:
        failpoints.parse([entry])
    assert says in str(caught.value)
    assert repr(entry) in str(caught.value)


def test_a_failpoint_given_twice_is_refused():
    with pytest.raises(exception.InvalidFailpoint, match="given twice"):
        failpoints.parse(["libvirt.create.after_thaw=crash",
                          "libvirt.create.after_thaw=error"])


def test_a_refused_configuration_arms_nothing_not_even_its_valid_entries():
    with pytest.raises(exception.InvalidFailpoint):
        failpoints.configure(["manager.create.before_driver=error", "nosuch=crash"])
    failpoints.hit("manager.create.before_driver")  # nothing armed: no raise


def test_error_raises_a_500_naming_the_failpoint():
    failpoints.configure(["libvirt.export.converted=error"])
    with pytest.raises(exception.FailpointTriggered) as caught:
        failpoints.hit("libvirt.export.converted")
    assert caught.value.code == 500
    assert "libvirt.export.converted" in caught.value.message
    assert isinstance(caught.value, exception.NativesnapException)


def test_only_the_configured_failpoint_fires():
    failpoints.configure(["libvirt.export.converted=error"])
    for name in failpoints.NAMES - {"libvirt.export.converted"}:
        failpoints.hit(name)


def test_at_n_fires_on_the_nth_hit_only():
    failpoints.configure(["manager.delete.before_driver=error@3"])
    failpoints.hit("manager.delete.before_driver")
    failpoints.hit("manager.delete.before_driver")
    with pytest.raises(exception.FailpointTriggered):
        failpoints.hit("manager.delete.before_driver")
    for _ in range(5):
        failpoints.hit("manager.delete.before_driver")


def test_without_at_n_it_fires_on_every_hit():
    failpoints.configure(["manager.delete.before_driver=error"])
    for _ in range(3):
        with pytest.raises(exception.FailpointTriggered):
            failpoints.hit("manager.delete.before_driver")


def test_reconfiguring_disarms_and_restarts_the_counts():
    failpoints.configure(["manager.revert.before_driver=error@2"])
    failpoints.hit("manager.revert.before_driver")
    failpoints.configure(["manager.revert.before_driver=error@2"])
    failpoints.hit("manager.revert.before_driver")  # the first hit again
    with pytest.raises(exception.FailpointTriggered):
        failpoints.hit("manager.revert.before_driver")
    failpoints.configure([])
    failpoints.hit("manager.revert.before_driver")


def test_sleep_pauses_for_its_seconds_then_the_work_goes_on(monkeypatch):
    slept = []
    monkeypatch.setattr(failpoints.time, "sleep", slept.append)
    failpoints.configure(["libvirt.delete.before_pivot=sleep:1.5"])
    failpoints.hit("libvirt.delete.before_pivot")
    assert slept == [1.5]


def test_a_firing_failpoint_logs_one_warning_naming_it(caplog):
    failpoints.configure(["libvirt.create.after_thaw=error@2"])
    caplog.clear()
    with caplog.at_level("WARNING", logger="nativesnap.common.failpoints"):
        failpoints.hit("libvirt.create.after_thaw")
        assert caplog.records == []
        with pytest.raises(exception.FailpointTriggered):
            failpoints.hit("libvirt.create.after_thaw")
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert "Failpoint libvirt.create.after_thaw fired" in record.getMessage()


def test_arming_failpoints_logs_a_warning_that_they_are_on(caplog):
    with caplog.at_level("WARNING", logger="nativesnap.common.failpoints"):
        failpoints.configure(["libvirt.create.after_thaw=crash"])
    assert "Failpoints are enabled" in caplog.text
    assert "libvirt.create.after_thaw=crash" in caplog.text


CRASH_CHILD = """
import logging, sys
logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(message)s")
from nativesnap.common import failpoints
failpoints.configure(["libvirt.create.after_freeze=crash@2"])
failpoints.hit("libvirt.create.after_freeze")
print("first hit passed", flush=True)
failpoints.hit("libvirt.create.after_freeze")
print("still alive after the crash failpoint", flush=True)
"""


def test_crash_sigkills_its_own_process_after_logging_the_warning():
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", CRASH_CHILD],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, (done.returncode, done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    assert "first hit passed" in lines
    assert any("Failpoint libvirt.create.after_freeze fired" in line
               for line in lines), done.stdout
    assert "still alive after the crash failpoint" not in done.stdout


def test_an_unknown_failpoint_in_the_configuration_stops_nativesnap_api(tmp_path):
    conf = tmp_path / "nativesnap.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n"
                    "[fault_injection]\n"
                    "failpoints = libvirt.create.after_freeze=crash, nope=crash\n")
    done = subprocess.run([os.path.join(BIN, "nativesnap-api"), "--config-file",
                           str(conf)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "unknown failpoint 'nope'" in done.stderr
    assert "[fault_injection] failpoints" in done.stderr


class _CountingDict(dict):
    def __init__(self):
        super().__init__()
        self.gets = 0

    def get(self, key, default=None):
        self.gets += 1
        return super().get(key, default)


class _Untouchable:
    def __getattr__(self, name):
        raise AssertionError(f"the no-op path used {name}")

    def __enter__(self):
        raise AssertionError("the no-op path took the lock")

    def __exit__(self, *exc):
        return False


def test_an_unconfigured_hit_is_one_dict_lookup_and_nothing_else(monkeypatch):
    table = _CountingDict()
    monkeypatch.setattr(failpoints, "_active", table)
    monkeypatch.setattr(failpoints, "_count_lock", _Untouchable())
    monkeypatch.setattr(failpoints, "LOG", _Untouchable())
    monkeypatch.setattr(failpoints, "time", _Untouchable())
    monkeypatch.setattr(failpoints, "os", _Untouchable())
    for name in failpoints.NAMES:
        assert failpoints.hit(name) is None
    assert table.gets == len(failpoints.NAMES)
