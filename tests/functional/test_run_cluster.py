"""`make run-cluster` (tools/run-cluster) as a developer runs it: it sets up
what is missing, says `ready` once the API serves and the registry shows its
compute service up, stops both services on Ctrl-C and exits 0; a second run
creates nothing again (docs/deployment.md).

It runs on a port, a state directory, a database and a compute host name of
its own, on the machine's PostgreSQL, RabbitMQ and libvirtd, which the script
starts only if they are not running; so it is not in tests/conftest.py's
parallel list (it shares libvirtd and the broker) and runs in the serial
pass.
"""

import os
import signal
import subprocess
import time
import uuid

import pytest
import sqlalchemy as sa

from tests import fixtures

SCRIPT = os.path.join(fixtures.REPO, "tools", "run-cluster")
READY_TIMEOUT = 90


@pytest.fixture
def cluster_env(tmp_path):
    suffix = uuid.uuid4().hex[:8]
    env = dict(os.environ, STATE_DIR=str(tmp_path / "cluster"),
               API_PORT=str(fixtures.free_port()),
               COMPUTE_HOST=f"smoke-{suffix}",
               DATABASE=f"nativesnap_smoke_{suffix}",
               VENV=os.path.dirname(fixtures.BIN))
    yield env
    admin = sa.create_engine(fixtures.postgresql_admin_url(),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{env["DATABASE"]}"'))
    admin.dispose()


def run_until_ready_then_interrupt(env, log_path):
    """Run the script in a session of its own, as a terminal would; once it
    says ready, Ctrl-C its whole process group. Returns (exit code, output)."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([SCRIPT], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while "run-cluster: ready:" not in _read(log_path):
            assert proc.poll() is None, _read(log_path)
            assert time.monotonic() < deadline, _read(log_path)
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return code, _read(log_path)


def _read(path):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")


def test_run_cluster_serves_both_roles_stops_them_on_ctrl_c_and_is_idempotent(
        cluster_env, tmp_path):
    code, out = run_until_ready_then_interrupt(cluster_env, tmp_path / "first.log")
    assert code == 0, out
    assert f"creating database {cluster_env['DATABASE']}" in out
    assert (f"ready: API on http://127.0.0.1:{cluster_env['API_PORT']} (2 workers), "
            f"compute host {cluster_env['COMPUTE_HOST']} (libvirt)") in out
    # Both roles' logs, each prefixed with its role.
    assert "api     | " in out and "compute | " in out
    assert "nativesnap-compute stopped" in out and "run-cluster: stopped" in out
    state = cluster_env["STATE_DIR"]
    for role in ("api", "compute"):
        assert os.stat(os.path.join(state, f"{role}.conf")).st_mode & 0o777 == 0o600
    with open(os.path.join(state, "compute.conf")) as f:
        assert f"host = {cluster_env['COMPUTE_HOST']}" in f.read()

    code, out = run_until_ready_then_interrupt(cluster_env, tmp_path / "again.log")
    assert code == 0, out
    assert "creating database" not in out and "run-cluster: wrote" not in out, out
