"""nativesnap-compute refuses a sqlite database, always: its database is
written by the API processes and every other compute service too. The
refusal is the one helper nativesnap-api uses (nativesnap.common.service),
and comes before anything is touched."""

import pytest

from nativesnap.cmd import compute as compute_cmd
from nativesnap.common import service
from nativesnap.conf import CONF


@pytest.fixture
def no_parsing(monkeypatch):
    monkeypatch.setattr(service, "parse_args", lambda argv, description=None: None)


@pytest.mark.parametrize("transport", [
    "rabbit://user:secret@127.0.0.1:5672/", None])
def test_compute_refuses_sqlite_before_touching_anything(
        config, no_parsing, tmp_path, capsys, transport):
    state = tmp_path / "state"
    config("state_path", str(state))
    config("transport_url", transport)
    config("connection", f"sqlite:///{state}/nativesnap.sqlite",
           group="database")
    with pytest.raises(SystemExit) as exc:
        compute_cmd.main(["nativesnap-compute"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "nativesnap-compute cannot use the sqlite database" in err
    assert "several processes write this database" in err
    assert "Use PostgreSQL" in err and "docs/deployment.md" in err
    assert not state.exists()


@pytest.mark.parametrize("url, sqlite", [
    ("sqlite://", True),
    ("sqlite:////var/lib/nativesnap/nativesnap.sqlite", True),
    ("sqlite+pysqlite:///relative.sqlite", True),
    ("postgresql+psycopg2://u:p@127.0.0.1/nativesnap", False),
    ("postgresql://127.0.0.1/nativesnap", False),
    ("mysql+pymysql://u:p@127.0.0.1/nativesnap", False),
    (None, False),
    ("", False),
    ("not a url", False),  # the schema check reports it, with its own message
])
def test_what_counts_as_sqlite(url, sqlite):
    assert service.is_sqlite(url) is sqlite


def test_the_helper_accepts_postgresql(config):
    config("connection", "postgresql+psycopg2://u:p@127.0.0.1/nativesnap",
           group="database")
    service.refuse_shared_sqlite("nativesnap-compute")  # returns


def test_the_default_database_is_sqlite_so_compute_needs_one_configured():
    assert service.is_sqlite(CONF.database.connection)
