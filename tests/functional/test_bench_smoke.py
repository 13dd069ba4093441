"""The benchmarks keep running: `bench/api --quick` finishes against a real
nativesnap-api and writes valid JSON with every figure. No timing is asserted
(figures are read against their targets in the benchmark's own table)."""

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
