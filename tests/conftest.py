"""Shared pytest fixtures: the databases every database test runs against."""

import pytest

from tests import fixtures


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database URL: once a file-backed sqlite, once real PostgreSQL."""
    if request.param == "sqlite":
        yield fixtures.sqlite_url(str(tmp_path))
    else:
        with fixtures.postgresql_database() as url:
            yield url
