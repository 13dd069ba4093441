"""`make demo` keeps working: tools/demo runs end to end against the real
libvirtd (its own nativesnap-api, a TCG guest) and leaves nothing behind."""

import os
import re
import signal
import subprocess
import sys

from tests import guest as guestlib

DEMO = os.path.join(guestlib.REPO, "tools", "demo")
# The demo takes about a minute under TCG; both bounds together stay under
# the suite's pytest timeout (300 s).
TIMEOUT = 180
CLEANUP_GRACE = 60   # after SIGTERM on timeout, for the demo's own clean-up


def run_demo(*args):
    proc = subprocess.Popen([sys.executable, DEMO, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=guestlib.REPO)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the demo cleans up on SIGTERM
        try:
            out, _ = proc.communicate(timeout=CLEANUP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        raise AssertionError(f"tools/demo did not finish within {TIMEOUT} s:\n{out}")
    return proc.returncode, out


def test_demo_runs_end_to_end_and_cleans_up():
    code, out = run_demo()
    assert code == 0, out
    # The revert check: the guest reads file A again after reverting to S1.
    assert re.search(r"^\s+revert to S1\s+[\d,]+ ms\s+guest reads \S+ = A\s+OK", out,
                     re.MULTILINE), out
    assert re.search(r"^demo OK: \d+ steps", out, re.MULTILINE), out

    names = re.findall(r"\b(nativesnap-demo-[0-9a-f]{8})\b", out)
    assert names, out
    conn = guestlib.connect()
    try:
        assert names[0] not in [d.name() for d in conn.listAllDomains()]
    finally:
        conn.close()
