"""Fixtures of the unit tests: a migrated database, configuration overrides."""

import pytest

from nativesnap.conf import CONF
from nativesnap.db import api as db_api
from nativesnap.db import migration
from nativesnap import objects
from tests import fixtures

objects.register_all()

# As the services do at start-up, with no configuration file: every option has
# its default unless a test overrides it.
CONF([], project="nativesnap", default_config_files=[], default_config_dirs=[])


def _migrated(url):
    db_api.configure(url)
    migration.db_sync()


@pytest.fixture
def database(db_url):
    """The ``db_url`` database (sqlite, then real PostgreSQL), configured as
    nativesnap's database and migrated to head; disposed of afterwards."""
    _migrated(db_url)
    yield db_url
    db_api.dispose()


@pytest.fixture
def sqlite_database(tmp_path):
    """A migrated file-backed sqlite database, for tests that need just one."""
    url = fixtures.sqlite_url(str(tmp_path))
    _migrated(url)
    yield url
    db_api.dispose()


@pytest.fixture
def config():
    """``config(name, value, group=None)`` overrides an option for one test;
    every override is cleared afterwards."""
    overridden = []

    def override(name, value, group=None):
        CONF.set_override(name, value, group=group)
        overridden.append((name, group))

    yield override
    for name, group in reversed(overridden):
        CONF.clear_override(name, group=group)
