"""The benchmarks keep running: `bench/api --quick` finishes against a real
nativesnap-api, `bench/vmware --samples 1` against the vCenter simulator,
`bench/glance` (a small disk) against a real Glance, and each writes valid
JSON with every figure. No timing is asserted (figures are
read against their targets in the benchmark's own table)."""

import json
import os
import subprocess
import sys

from tests import fixtures


def test_bench_api_quick_runs_and_writes_every_figure_as_json(tmp_path):
    out = tmp_path / "api.json"
    done = subprocess.run([sys.executable, os.path.join(fixtures.REPO, "bench", "api"),
                           "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    text = json.dumps(result)
    for figure in ("list", "mixed", "errors"):
        assert figure in text
    assert "machine" in result


def test_bench_vmware_runs_against_the_simulator_and_counts_soap_calls(tmp_path):
    out = tmp_path / "vmware.json"
    done = subprocess.run([sys.executable, os.path.join(fixtures.REPO, "bench",
                                                        "vmware"),
                           "--samples", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {r["operation"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"create", "revert", "delete", "linked spawn",
                         "full spawn"}
    assert rows["create"]["soap_calls"]["CreateSnapshot_Task"] == 1
    # A create is its task and PropertyCollector reads: no per-property reads
    # (no RetrieveProperties, no one-property fetches), no other call.
    assert set(rows["create"]["soap_calls"]) == {"CreateSnapshot_Task",
                                                 "RetrievePropertiesEx"}
    assert all(r["nativesnap_ms"] > 0 and r["pyvmomi_ms"] > 0
               for r in rows.values())


def test_bench_glance_exports_a_small_disk_and_reports_throughput_and_memory(
        tmp_path):
    out = tmp_path / "glance.json"
    done = subprocess.run([sys.executable, os.path.join(fixtures.REPO, "bench",
                                                        "glance"),
                           "--size-mib", "32", "--samples", "1", "--json",
                           str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    rows = {r["operation"]: r for r in result["rows"]}
    assert set(rows) == {"local copy", "glance upload", "export"}
    assert all(r["median_s"] > 0 and r["mib_per_s"] > 0 for r in rows.values())
    assert result["rss_peak_above_idle_mib"] >= 0
    assert result["export_over_floor"] > 0


def test_bench_rbd_measures_every_figure_on_a_256_mib_image(tmp_path):
    # bench/rbd against the one-node Ceph (tools/start-ceph) and a running
    # test guest: one sample of each figure, ≈ 15-20 s.
    out = tmp_path / "rbd.json"
    done = subprocess.run([sys.executable, os.path.join(fixtures.REPO, "bench", "rbd"),
                           "--sizes-mib", "256", "--samples", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    rows = {r["key"]: r for r in result["rows"]}
    figures = ("create_total_ms", "create_frozen_ms", "create_direct_snap_ms",
               "revert_api_ms", "revert_api_agent_ms", "rollback_ms", "clone_swap_ms",
               "export_clone_ms", "export_flatten_ms", "export_copy_ms",
               "export_api_ms", "export_api_flat_ms")
    ratios = ("rollback_ms[256MiB]/clone_swap_ms[256MiB]",
              "export_copy_ms[256MiB]/export_clone_ms[256MiB]",
              "export_flatten_ms[256MiB]/export_clone_ms[256MiB]")
    assert {f"{f}[256MiB]" for f in figures} | set(ratios) <= set(rows), sorted(rows)
    for row in rows.values():
        value = row["ratio"] if row["count"] is None else row["median_ms"]
        assert value > 0, row
    assert result["machine"]["nproc"] and result["machine"]["ceph"]


def test_bench_baremetal_streams_and_restores_a_small_disk(tmp_path):
    # bench/baremetal: the agent streams a 256 MiB loop device with 10 % and
    # 50 % data to the WebDAV server of tools/start-webdav and writes it back.
    out = tmp_path / "baremetal.json"
    done = subprocess.run([sys.executable, os.path.join(fixtures.REPO, "bench", "baremetal"),
                           "--size-mib", "256", "--fills", "10,50", "--samples", "1",
                           "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["fill_percent"] for r in rows] == [10, 50]
    assert all(r["stream_mib_s"] > 0 and r["restore_mib_s"] > 0
               and r["wire_over_allocated"] < 1.05 for r in rows), rows


def test_bench_scale_quick_drives_creates_over_computes_and_writes_json(tmp_path):
    # bench/scale --quick: a small filled PostgreSQL database, the API with
    # two workers over RabbitMQ, 1 and 2 nativesnap-compute processes (fake
    # driver); ≈ 30 s.
    out = tmp_path / "scale.json"
    done = subprocess.run([sys.executable, os.path.join(fixtures.REPO, "bench", "scale"),
                           "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["fill"]["snapshots"] == result["config"]["snapshots"]
    assert set(result["page"]) == {"default limit", "limit=50"}
    assert all(p["count"] > 0 for p in result["page"].values())
    assert [r["computes"] for r in result["rounds"]] == [1, 2]
    for r in result["rounds"]:
        assert r["creates"]["accepted"] > 0, r["creates"]
        assert r["completed"]["snapshots_by_status"].get("available", 0) > 0
        assert r["rpc_round_trip_idle"]["count"] > 0
        assert r["bound"]
    assert "machine" in result


def test_bench_scheduler_times_runs_of_every_state_at_two_small_sizes(tmp_path):
    # bench/scheduler.py at 20 and 50 servers, one sample: the scheduler
    # against a filled PostgreSQL database, takes and deletes counted by a
    # stand-in compute API; a few seconds.
    out = tmp_path / "scheduler.json"
    done = subprocess.run([sys.executable, os.path.join(fixtures.REPO, "bench",
                                                        "scheduler.py"),
                           "--sizes", "20,50", "--samples", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [s["servers"] for s in result["sizes"]] == [20, 50]
    for size in result["sizes"]:
        n = size["servers"]
        assert (size["find"]["takes"], size["find"]["deletes"]) == (0, 0)
        assert (size["due"]["takes"], size["prune"]["deletes"]) == (n, 7 * n)
        assert all(size[s]["median_s"] > 0 for s in ("find", "due", "prune"))
    assert set(result["ratios"]) == {"find", "due", "prune"}
    assert "machine" in result


def test_bench_console_draws_every_snapshot_of_a_small_tree(tmp_path):
    # bench/console.py: nativesnap-api (fake driver), one server with 50
    # snapshots in a tree with forks, one warm-up and one measured load of
    # its page in headless Chromium; a few seconds.
    out = tmp_path / "console.json"
    done = subprocess.run([sys.executable, os.path.join(fixtures.REPO, "bench",
                                                        "console.py"),
                           "--snapshots", "50", "--branches", "5", "--samples", "1",
                           "--json", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "snapshot nodes drawn" in done.stdout
    result = json.loads(out.read_text())
    assert result["tree"]["forks"] == 5
    summary = result["summary"]
    assert summary["nodes"] == [50]
    assert summary["requests_snapshot_list"] == [1]
    assert summary["rendered_ms"]["median"] > 0 and summary["api_list_median_ms"] > 0
    assert "machine" in result
