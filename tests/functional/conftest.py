"""Functional fixtures: a real nativesnap-api process over HTTP, per database."""

import pytest

from tests import fixtures


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, tmp_path_factory):
    """A running nativesnap-api with the fake driver, on sqlite or PostgreSQL."""
    state = str(tmp_path_factory.mktemp("api-" + request.param))
    if request.param == "sqlite":
        server = fixtures.APIServer(state, fixtures.sqlite_url(state))
        server.manage("db", "sync")
        server.start()
        yield server
        server.stop()
    else:
        with fixtures.postgresql_database() as url:
            server = fixtures.APIServer(state, url)
            server.manage("db", "sync")
            server.start()
            yield server
            server.stop()


@pytest.fixture(scope="module")
def libvirt_api(tmp_path_factory):
    """A running nativesnap-api with the libvirt driver on qemu:///system."""
    state = str(tmp_path_factory.mktemp("api-libvirt"))
    server = fixtures.APIServer(state, fixtures.sqlite_url(state),
                                drivers=("libvirt",))
    server.manage("db", "sync")
    server.start()
    yield server
    server.stop()
