"""nativesnap-api's start-up refusals and its listening socket: several
worker processes need a broker (the all-in-one process runs the compute
service, which cannot be forked), a broker means several processes write
the database so sqlite is refused, and the all-in-one default (sqlite,
in-process, one worker) stays allowed. Refusals happen before anything is
touched: no state directory, no database file. The worker processes
themselves are proved in tests/functional/test_cluster_api_workers.py."""

import socket

import pytest

from nativesnap.cmd import api as api_cmd
from nativesnap.common import service
from nativesnap.conf import CONF

RABBIT = "rabbit://user:secret@127.0.0.1:5672/"
POSTGRESQL = "postgresql+psycopg2://user:secret@127.0.0.1/nativesnap"


@pytest.fixture
def no_parsing(monkeypatch):
    """main() with the configuration of the ``config`` overrides, not argv."""
    monkeypatch.setattr(service, "parse_args", lambda argv, description=None: None)


def test_workers_is_one_by_default_and_bounded(config):
    assert CONF.api.workers == 1
    for bad in (0, -1, 65):
        with pytest.raises(ValueError):
            config("workers", bad, group="api")
    config("workers", 64, group="api")
    assert CONF.api.workers == 64


def test_the_all_in_one_default_is_allowed(config, tmp_path):
    config("connection", f"sqlite:///{tmp_path}/nativesnap.sqlite",
           group="database")
    assert CONF.transport_url is None or "inprocess" in CONF.transport_url
    api_cmd.check_deployment()  # returns: nothing refused


def test_several_workers_without_a_broker_are_refused(config, capsys):
    config("workers", 2, group="api")
    with pytest.raises(SystemExit) as exc:
        api_cmd.check_deployment()
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "[api] workers = 2 needs a broker" in err
    assert "cannot be forked" in err


def test_with_a_broker_sqlite_is_refused(config, capsys):
    config("transport_url", RABBIT)
    config("connection", "sqlite:////var/lib/nativesnap/nativesnap.sqlite",
           group="database")
    with pytest.raises(SystemExit) as exc:
        api_cmd.check_deployment()
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "nativesnap-api with a broker" in err
    assert "several processes write this database" in err
    assert "Use PostgreSQL" in err and "docs/deployment.md" in err
    assert "secret" not in err


@pytest.mark.parametrize("workers", [1, 4])
def test_with_a_broker_and_postgresql_workers_are_allowed(config, workers):
    config("transport_url", RABBIT)
    config("connection", POSTGRESQL, group="database")
    config("workers", workers, group="api")
    api_cmd.check_deployment()


def test_main_refuses_before_touching_state_or_database(config, no_parsing,
                                                        tmp_path, capsys):
    state = tmp_path / "state"
    config("state_path", str(state))
    config("transport_url", RABBIT)
    config("connection", f"sqlite:///{state}/nativesnap.sqlite",
           group="database")
    config("workers", 2, group="api")
    with pytest.raises(SystemExit):
        api_cmd.main(["nativesnap-api"])
    assert "sqlite" in capsys.readouterr().err
    assert not state.exists()


def test_port_zero_binds_one_port_for_all_workers(config):
    config("host", "127.0.0.1", group="api")
    config("port", 0, group="api")
    sock = api_cmd.bind_socket()
    try:
        host, port = sock.getsockname()[:2]
        assert host == "127.0.0.1" and port > 0
        # Not listening until a worker serves: a client is refused meanwhile,
        # as by one process starting.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, port), timeout=5).close()
        sock.listen(1)  # what the first worker's cheroot does
        with socket.create_connection((host, port), timeout=5):
            pass
        assert not sock.get_inheritable()  # nothing exec'd gets it
    finally:
        sock.close()


def test_a_busy_port_exits_with_a_message(config, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        config("host", "127.0.0.1", group="api")
        config("port", port, group="api")
        with pytest.raises(SystemExit) as exc:
            api_cmd.bind_socket()
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "in use" in err

