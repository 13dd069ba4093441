"""pytest plugin: a real nativesnap-api for the client and CLI tests.

Use it from a test module with::

    pytest_plugins = ["tests.functional.client_fixtures"]

Fixtures:
  client_api   (module) nativesnap-api with the fake driver on sqlite, pages of
               at most client_helpers.PAGE_SIZE items (so listings span pages)
  admin_token  a noauth2 admin token of a fresh project (its listings start
               empty)
"""

import pytest

from tests import fixtures
from tests.functional.client_helpers import PAGE_SIZE
from tests.functional import helpers


@pytest.fixture(scope="module")
def client_api(tmp_path_factory):
    state = str(tmp_path_factory.mktemp("api-client"))
    server = fixtures.APIServer(state, fixtures.sqlite_url(state), extra_conf={
        "api": {"max_limit": str(PAGE_SIZE)}})
    server.manage("db", "sync")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def admin_token():
    return f"admin:{helpers.unique('proj-')}"
