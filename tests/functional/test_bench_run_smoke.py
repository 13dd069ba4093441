"""`bench/run --quick` keeps running: nativesnap against Nova's cold and live
image-copy snapshots (bench/baseline.py) on a real TCG test guest, through the
real API. It must exit 0 and write valid JSON holding every figure and the
baseline / nativesnap ratios. No timing is asserted."""

import json
import os
import subprocess
import sys

from tests import fixtures


def test_bench_run_quick_writes_the_ratios_as_json(tmp_path):
    out = tmp_path / "run.json"
    done = subprocess.run([sys.executable, os.path.join(fixtures.REPO, "bench", "run"),
                           "--quick", "--output", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["benchmark"] == "run" and report["config"]["quick"] is True
    assert report["machine"]["accelerator"].startswith("TCG")
    rows = {row["key"]: row for row in report["table"]}
    for key in ("nativesnap_total_ms", "nativesnap_frozen_ms"):
        assert rows[f"{key}[1GiB]"]["count"] >= 1
        assert rows[f"{key}[1GiB]"]["ratio_over_nativesnap"] is None
    for key in ("cold_total_ms", "cold_paused_ms", "live_total_ms", "live_frozen_ms",
                "live_late_total_ms", "live_late_frozen_ms"):
        row = rows[f"{key}[1GiB]"]
        assert row["count"] >= 1 and row["median_ms"] > 0
        assert isinstance(row["ratio_over_nativesnap"], (int, float))
    # The baselines copied the data written in the guest (not a sparse image).
    details = report["results"]["cold_total_ms[1GiB]"]["detail"]
    assert all(d["image_bytes"] > 200 * 1024 * 1024 for d in details)
    assert "baseline / nativesnap" in done.stdout
