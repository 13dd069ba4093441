"""`bench/run --quick` keeps running: nativesnap against Nova's cold and live
image-copy snapshots (bench/baseline.py), memory snapshots, reverts, deletes
and spawns on real TCG test guests through the real API, and bench/api. It
must exit 0 and write valid JSON holding every section's figures (raw
samples, medians, spread) and the baseline / nativesnap ratios. No timing is
asserted."""

import json
import math
import os
import subprocess
import sys

from tests import fixtures

MIB = 1024 * 1024
# Per section, the figures --quick must measure (subject tags as bench/run names them).
EXPECTED = {
    "create": [f"{key}[1GiB]" for key in (
        "nativesnap_total_ms", "nativesnap_frozen_ms", "cold_total_ms",
        "cold_paused_ms", "live_total_ms", "live_frozen_ms", "live_late_total_ms",
        "live_late_frozen_ms")],
    "create_window": [f"{key}[1GiB]" for key in (
        "nativesnap_window_freeze_call_ms", "nativesnap_window_switch_ms",
        "nativesnap_window_thaw_call_ms", "nativesnap_guest_stall_ms",
        "live_freeze_call_ms", "live_guest_stall_ms", "live_late_freeze_call_ms",
        "live_late_guest_stall_ms", "floor_switch_ms", "floor_freeze_thaw_ms",
        "floor_total_ms")],
    "create_latency": [f"nativesnap_latency_{part}_ms[1GiB]" for part in (
        "api", "handoff", "driver_outside_window", "window")],
    "memory": [f"{key}[{ram}]" for ram in ("128MiB", "512MiB") for key in (
        "memory_paused_ms", "memory_total_ms", "memory_observed_stall_ms",
        "memory_delete_ms", "memory_libvirt_floor_ms", "memory_cold_paused_ms", "memory_cold_total_ms")],
    "revert_delete": [f"{key}[100MiB]" for key in (
        "revert_disk_task_ms", "revert_disk_agent_ms", "revert_memory_task_ms",
        "revert_memory_agent_ms", "delete_merge_ms")],
    "revert_parts": [f"revert_part_{part}_ms[{kind}_100MiB]"
                     for kind, last in (("memory", "restore"), ("disk", "start"))
                     for part in ("handoff", "prepare", "overlays", "stop", "define",
                                  last, "cleanup")]
    + [f"revert_floor{part}_ms[memory_100MiB]" for part in ("_destroy", "_restore", "")],
    "spawn": [f"spawn_{kind}_{what}_ms[1GiB]" for kind in ("linked", "full")
              for what in ("defined", "active", "agent", "delete")],
}


def _number(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


def _check_breakdowns(results):
    """The parts add up: the window's to nativesnap's frozen_ms, the
    latency's to POST -> available (wall clocks and rounding aside)."""
    def samples(key):
        return results[f"{key}[1GiB]"]["samples_ms"]
    window = [sum(parts) for parts in zip(*(samples(f"nativesnap_window_{p}_ms") for p in (
        "freeze_call", "switch", "thaw_call", "other")))]
    for total, frozen in zip(window, samples("nativesnap_frozen_ms")):
        assert abs(total - frozen) <= 1.5, (window, samples("nativesnap_frozen_ms"))
    latency = [sum(parts) for parts in zip(*(samples(f"nativesnap_latency_{p}_ms") for p in (
        "api", "handoff", "driver_outside_window", "window", "save", "seen")))]
    for total, measured in zip(latency, samples("nativesnap_total_ms")):
        assert abs(total - measured) <= 5, (latency, samples("nativesnap_total_ms"))
    # A revert's parts add up to its POST -> task end.
    for kind, last in (("memory", "restore"), ("disk", "start")):
        names = ("handoff", "prepare", "overlays", "progress", "stop", "define", last,
                 "cleanup", "save_seen")
        parts = [sum(values) for values in zip(*(
            results[f"revert_part_{name}_ms[{kind}_100MiB]"]["samples_ms"]
            for name in names))]
        task = results[f"revert_{kind}_task_ms[100MiB]"]["samples_ms"]
        for total, measured in zip(parts, task):
            assert abs(total - measured) <= 1.5, (kind, parts, task)
    for method in ("nativesnap", "live", "live_late"):
        writes = results[f"{method}_guest_stall_ms[1GiB]"]["writes"]
        assert all(n > 10 for n in writes), (method, writes)


def test_bench_run_quick_writes_every_section_and_the_ratios_as_json(tmp_path):
    out = tmp_path / "run.json"
    done = subprocess.run([sys.executable, os.path.join(fixtures.REPO, "bench", "run"),
                           "--quick", "--output", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["benchmark"] == "run" and report["config"]["quick"] is True
    machine = report["machine"]
    assert machine["accelerator"].startswith("TCG")
    for when in ("before", "after"):
        assert len(machine[f"load_average_{when}"]) == 3
        assert all(_number(x) for x in machine[f"load_average_{when}"])
        assert "load average" in machine[f"uptime_{when}"]

    # Every section holds its figures: raw samples, and a median and spread
    # computed from them.
    for section, keys in EXPECTED.items():
        assert set(keys) <= set(report["sections"][section]), section
        for key in keys:
            entry = report["results"][key]
            samples, summary = entry["samples_ms"], entry["summary"]
            assert samples and all(_number(v) and v > 0 for v in samples), key
            assert summary["count"] == len(samples)
            assert summary["min_ms"] <= summary["median_ms"] <= summary["max_ms"]
            assert summary["p10_ms"] <= summary["p90_ms"]

    # Parts that may round to 0 (a thread's wake-up, a poll that was on time)
    # are measured too, never negative.
    for key in ("nativesnap_window_other_ms[1GiB]", "nativesnap_latency_save_ms[1GiB]",
                "nativesnap_latency_seen_ms[1GiB]"):
        samples = report["results"][key]["samples_ms"]
        assert samples and all(_number(v) and v >= 0 for v in samples), key
    _check_breakdowns(report["results"])

    rows = {row["key"]: row for row in report["table"]}
    for key in ("nativesnap_total_ms[1GiB]", "nativesnap_frozen_ms[1GiB]"):
        assert rows[key]["count"] >= 1 and rows[key]["ratio_over_nativesnap"] is None
    for key in EXPECTED["create"][2:]:
        assert _number(rows[key]["ratio_over_nativesnap"]), key
    for key in ("memory_cold_paused_ms[128MiB]", "memory_cold_paused_ms[512MiB]",
                "spawn_full_defined_ms[1GiB]", "spawn_full_agent_ms[1GiB]"):
        assert _number(rows[key]["ratio"]), key
    # The targets are read (met or not), never asserted.
    for key in ("memory_paused_ms[128MiB]", "memory_paused_ms[512MiB]",
                "spawn_linked_defined_ms[1GiB]", "nativesnap_frozen_ms[1GiB]",
                "nativesnap_frozen_ms[1GiB]/floor", "revert_memory_task_ms[100MiB]"):
        assert rows[key]["target"] and rows[key]["met"] in (True, False), key

    # The baselines copied the data written in the guest (not a sparse image),
    # and the memory images hold the RAM filled inside the guests.
    details = report["results"]["cold_total_ms[1GiB]"]["detail"]
    assert all(d["image_bytes"] > 200 * MIB for d in details)
    for ram, filled_mib in (("128MiB", 48), ("512MiB", 192)):
        files = report["results"][f"memory_libvirt_floor_ms[{ram}]"]["file_bytes"]
        assert all(size > filled_mib * MIB for size in files), (ram, files)

    # bench/api ran as part of it, and its figures are in the table.
    api = report["api"]["results"]["sqlite"]
    assert api["list_1000"]["count"] >= 50 and _number(api["list_1000"]["median_ms"])
    assert api["mixed"]["requests"] > 0 and _number(api["mixed"]["requests_per_second"])
    assert any(row["section"] == "api" for row in report["table"])
    assert "baseline / nativesnap" in done.stdout
    assert "longest write stall seen inside the guest" in done.stdout
    assert "where nativesnap's POST -> available goes" in done.stdout


def test_prefill_writes_non_zero_data_past_the_filesystem(tmp_path):
    """The full run's 64 GiB disk gets its 16 GiB from the host before boot
    (bench/harness.py prefill): allocated, not zeros, where it was asked."""
    sys.path.insert(0, os.path.join(fixtures.REPO, "bench"))
    try:
        import harness
    finally:
        sys.path.pop(0)
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"],
                   check=True, timeout=60)
    harness.prefill(str(disk), 10, offset_mib=16)   # less than one chunk
    info = json.loads(subprocess.run(["qemu-img", "map", "--output=json", str(disk)],
                                     check=True, capture_output=True, text=True,
                                     timeout=60).stdout)
    data = [(m["start"], m["length"]) for m in info if m["data"]]
    assert data == [(16 * MIB, 10 * MIB)], info
    read = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "read -q -P 1 16M 10M",
                           str(disk)], capture_output=True, text=True, timeout=60)
    assert read.returncode == 0 and not read.stdout.strip(), read.stdout + read.stderr
