"""Every call of the vSphere driver's session is bounded (docs/vmware.md):
each socket by ``[vmware] connect_timeout`` and by the time left to a task's
``[vmware] task_timeout``; a call vCenter did not answer is not repeated,
refused connections are repeated only while time is left, and a task still
running at its deadline is cancelled when vCenter still answers."""

import http.client
import socket
import threading
import time

import pytest
from pyVim import connect
from pyVmomi import vim

from nativesnap import exception
from nativesnap.virt.vmware import faults
from nativesnap.virt.vmware import session as session_mod


@pytest.fixture
def silent_peer():
    """A TCP port that takes connections and never answers (a hung vCenter:
    the kernel completes the handshake, no TLS answer comes)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def vmware(config):
    config("connect_timeout", 30, group="vmware")
    config("api_retry_count", 3, group="vmware")
    config("task_poll_interval", 0.05, group="vmware")
    return config


def _session_on(port):
    """A Session whose stub talks to 127.0.0.1:``port`` (no login)."""
    session = session_mod.Session()
    stub = connect.SoapStubAdapter(host="127.0.0.1", port=port,
                                   version="vim.version.v7_0")
    session._bound_sockets(stub)
    session._stub = stub
    session._content = object()
    return session, vim.ServiceInstance("ServiceInstance", stub)


def test_a_silent_vcenter_fails_a_call_when_the_task_s_time_is_up_not_connect_timeout(
        vmware, silent_peer):
    session, si = _session_on(silent_peer)
    started = time.monotonic()
    with session.deadline(1):
        with pytest.raises(faults.NoAnswer) as raised:
            session.call(si.RetrieveContent, verb="read the content")
    assert time.monotonic() - started < 5  # connect_timeout is 30 s
    assert ("vCenter did not answer within 1 s ([vmware] task_timeout)"
            in raised.value.message)


def test_without_a_deadline_a_silent_vcenter_is_given_connect_timeout_once(
        vmware, silent_peer):
    vmware("connect_timeout", 1, group="vmware")
    session, si = _session_on(silent_peer)
    started = time.monotonic()
    with pytest.raises(faults.NoAnswer) as raised:
        session.call(si.RetrieveContent, verb="read the content")
    # Not repeated (api_retry_count 3): it would wait as long again.
    assert time.monotonic() - started < 3
    assert ("vCenter did not answer within 1 s ([vmware] connect_timeout)"
            in raised.value.message)


def test_a_pooled_connection_gets_the_time_left_before_its_request_goes_out(
        vmware):
    timeouts = []

    class Sock:
        def settimeout(self, value):
            timeouts.append(value)

    class Conn:
        sock = Sock()

    class Stub:
        scheme = None

        def GetConnection(self):
            return Conn()

    session = session_mod.Session()
    stub = Stub()
    session._bound_sockets(stub)
    session.call(stub.GetConnection)
    with session.deadline(2):
        session.call(stub.GetConnection)
    assert timeouts[0] == 30 and 1.5 < timeouts[1] <= 2


def test_a_read_cut_by_refused_connections_is_repeated_api_retry_count_times(
        vmware, monkeypatch):
    monkeypatch.setattr(session_mod, "RETRY_DELAY", 0.01)
    tries = []

    def refused():
        tries.append(1)
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(exception.DriverError) as raised:
        session_mod.Session().call(refused, verb="read")
    assert len(tries) == 4
    assert "vCenter refused the connection" in raised.value.message


def test_refused_connections_are_not_repeated_past_the_task_s_deadline(
        vmware, monkeypatch):
    vmware("api_retry_count", 10, group="vmware")
    monkeypatch.setattr(session_mod, "RETRY_DELAY", 0.2)
    tries = []

    def refused():
        tries.append(time.monotonic())
        raise ConnectionRefusedError(111, "Connection refused")

    session = session_mod.Session()
    started = time.monotonic()
    with session.deadline(1):
        with pytest.raises(exception.DriverError):
            session.call(refused, verb="read")
    # 0.2 + 0.4 s of waits; the next (0.8 s) would pass the deadline.
    assert len(tries) == 3 and time.monotonic() - started < 1


@pytest.mark.parametrize("error,cause", [
    (TimeoutError("timed out"), "vCenter did not answer within 30 s"),
    (http.client.RemoteDisconnected("Remote end closed connection"),
     "vCenter closed the connection without answering"),
    (ConnectionResetError(104, "reset"),
     "vCenter closed the connection without answering")])
def test_a_change_cut_after_it_was_sent_is_not_repeated_its_effect_unknown(
        vmware, error, cause):
    tries = []

    def change():
        tries.append(1)
        raise error

    with pytest.raises(exception.DriverError) as raised:
        session_mod.Session().call(change, changes=True, verb="create it")
    assert len(tries) == 1
    assert cause in raised.value.message
    assert "the call is not repeated, its effect is unknown" in raised.value.message


def test_no_call_is_made_once_the_deadline_has_passed(vmware):
    session = session_mod.Session()
    made = []
    with session.deadline(0.01):
        time.sleep(0.05)
        with pytest.raises(faults.NoAnswer) as raised:
            session.call(lambda: made.append(1), verb="read")
    assert made == []
    assert "0.01 s of [vmware] task_timeout ran out" in raised.value.message


def test_the_deadline_is_the_calling_thread_s_own(vmware):
    session = session_mod.Session()
    seen = []
    with session.deadline(5):
        thread = threading.Thread(target=lambda: seen.append(session.time_left()))
        thread.start()
        thread.join(5)
        assert 4 < session.time_left() <= 5
    assert seen == [None] and session.time_left() is None


class _Task:
    _moId = "task-7"

    def __init__(self, refuse=None):
        self.cancelled = 0
        self.refuse = refuse

    def CancelTask(self):
        self.cancelled += 1
        if self.refuse:
            raise self.refuse


def _states(task, *states):
    """A retrieve answering ``states`` in turn (the last one for ever)."""
    states = list(states)

    def retrieve(objs, props, verb):
        state = states.pop(0) if len(states) > 1 else states[0]
        if isinstance(state, Exception):
            raise state
        return {task: {"info.state": state, "info.progress": 40,
                       "info.result": "done"}}

    return retrieve


def test_a_task_still_running_at_task_timeout_is_cancelled_and_fails(
        vmware, monkeypatch):
    vmware("task_timeout", 1, group="vmware")
    session = session_mod.Session()
    task = _Task()
    running, error = vim.TaskInfo.State.running, vim.TaskInfo.State.error
    monkeypatch.setattr(session, "retrieve", lambda objs, props, verb: {
        task: {"info.state": error if task.cancelled else running,
               "info.progress": 40}})
    progress = []
    started = time.monotonic()
    with pytest.raises(exception.DriverError) as raised:
        session.run_task(lambda: task, verb="create the snapshot",
                         progress=progress.append)
    assert 1 <= time.monotonic() - started < 2
    assert task.cancelled == 1 and set(progress) == {40}
    assert ("the vSphere task did not end within 1 s ([vmware] task_timeout); "
            "vSphere task task-7 was cancelled") in raised.value.message


def test_a_task_that_ends_as_it_is_cancelled_gives_its_result(
        vmware, monkeypatch):
    vmware("task_timeout", 1, group="vmware")
    session = session_mod.Session()
    task = _Task(refuse=vim.fault.InvalidState(msg="the task has ended"))
    monkeypatch.setattr(session, "retrieve", lambda objs, props, verb: {
        task: {"info.state": vim.TaskInfo.State.success if task.cancelled
               else vim.TaskInfo.State.running, "info.result": "done"}})
    assert session.run_task(lambda: task, verb="create the snapshot") == "done"
    assert task.cancelled == 1


def test_a_task_whose_poll_gets_no_answer_is_cancelled_and_may_still_run(
        vmware, monkeypatch):
    session = session_mod.Session()
    task = _Task(refuse=TimeoutError("timed out"))
    silent = faults.NoAnswer(driver="vmware", verb="follow",
                             reason="vCenter did not answer within 1 s")
    monkeypatch.setattr(session, "retrieve", _states(task, silent))
    started = time.monotonic()
    with pytest.raises(exception.DriverError) as raised:
        session.run_task(lambda: task, verb="create the snapshot")
    assert time.monotonic() - started < 1
    assert task.cancelled == 1
    assert ("vCenter did not answer within 1 s while the task was followed; "
            "vSphere task task-7: it could not be cancelled (vCenter did not "
            "answer within 5 s (the bound of a cancel)" in raised.value.message)
    assert raised.value.message.endswith("and may still run")
