"""Shared pytest fixtures: the databases every database test runs against;
which tests may run side by side.

`make test` runs in two passes (README.md, "Tests"): first the tests marked
``parallel`` on every CPU at once (pytest-xdist), then the rest one at a time.
A test is ``parallel`` when it shares no real part with another test: the unit
tests, and the functional modules below, which start only nativesnap processes
with the fake driver, each on its own port and its own database. Everything
else (libvirtd and its guests, Ceph, the vCenter simulator, Glance, Keystone,
Cinder's stand-in, loop devices, port 8779) runs alone, so a new module is serial
unless it is listed here.
"""

import os

import pytest

from tests import fixtures

PARALLEL_FUNCTIONAL_MODULES = frozenset(f"test_{name}.py" for name in (
    "api_baremetal_nodes", "api_hostile_input", "api_images", "api_isolation",
    "api_lifecycle", "api_logging", "api_openapi", "api_pagination",
    "api_servers", "api_snapshot_policies", "api_snapshots", "api_validation",
    "auth_keystone",
    "client_api", "client_baremetal_nodes", "client_cli", "client_osc",
    "cluster_api_workers", "cluster_host_free", "cluster_rpc_version_cap",
    "concurrency", "console_fake", "fuzz_api", "scheduler_queue", "scheduler_recovery",
    "security", "smoke"))
UNIT_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unit")


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = str(item.path)
        if (path.startswith(UNIT_TESTS + os.sep)
                or item.path.name in PARALLEL_FUNCTIONAL_MODULES):
            item.add_marker(pytest.mark.parallel)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database URL: once a file-backed sqlite, once real PostgreSQL."""
    if request.param == "sqlite":
        yield fixtures.sqlite_url(str(tmp_path))
    else:
        with fixtures.postgresql_database() as url:
            yield url
