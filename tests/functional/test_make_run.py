"""`make run` — the README's first command — serves the API with its embedded
defaults (sqlite in /var/lib/nativesnap, the libvirt driver) on 127.0.0.1:8779."""

import os
import signal
import subprocess
import time

import requests

from tests import fixtures

URL = "http://127.0.0.1:8779"


def _answers():
    try:
        return requests.get(URL + "/v1", timeout=2)
    except requests.ConnectionError:
        return None


def test_make_run_serves_the_version_document_and_the_server_list_on_8779():
    assert _answers() is None, "something already listens on 127.0.0.1:8779"
    log = open(os.path.join(fixtures.REPO, ".make-run-test.log"), "wb")
    proc = subprocess.Popen(["make", "run"], cwd=fixtures.REPO, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        resp = None
        while resp is None:
            assert proc.poll() is None, open(log.name).read()[-3000:]
            assert time.monotonic() < deadline, "make run did not answer in 240 s"
            time.sleep(0.5)
            resp = _answers()
        assert resp.status_code == 200
        assert resp.json()["version"]["id"] == "v1"
        servers = requests.get(URL + "/v1/servers", timeout=5,
                               headers={"X-Auth-Token": "admin:demo"})
        assert servers.status_code == 200
        assert isinstance(servers.json()["servers"], list)
        assert "libvirt" in open(log.name).read()  # the default driver is loaded
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
        os.unlink(log.name)
    assert _answers() is None  # SIGTERM stopped it
