"""nativesnap-agent against real parts: a 4 GiB loop device with a GPT and
an ext4 filesystem holding 512 MiB of files, the nginx WebDAV server of
tools/start-webdav, qemu-img, and the agent as its own process.

The snapshot is streamed once per module (``snapshot``) and then restored
onto the changed device; the other tests use cheap requests or their own
agents without a device.
"""

import http.server
import json
import os
import subprocess
import threading
import time
import uuid

import pytest
import requests

from tests.functional import baremetal_helpers as bm


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("baremetal"))


@pytest.fixture(scope="module")
def webdav():
    url, admin = bm.start_webdav()
    prefix = f"{url}agent-tests-{uuid.uuid4().hex[:8]}/"
    yield prefix, admin
    requests.delete(prefix, auth=admin, timeout=30)


@pytest.fixture(scope="module")
def device(workdir):
    dev = bm.make_block_device(workdir, size=4 * bm.GiB, data_mib=512)
    yield dev
    dev.cleanup()


@pytest.fixture(scope="module")
def agent(workdir, device):
    agent = bm.Agent(workdir, device=device.path).start()
    yield agent
    assert agent.stop() == 0


@pytest.fixture(scope="module")
def snapshot(agent, device, webdav):
    """Stream the device once; also try a second command while it runs."""
    prefix, admin = webdav
    url = f"{prefix}nodes/n1/snap-1.qcow2"
    started = time.monotonic()
    command = agent.command("snapshot.stream_image",
                            {"url": url, "username": admin[0],
                             "password": admin[1], "image_name": "snap-1"})
    second = agent.request("POST", "/v1/commands", json={
        "name": "deploy.write_image", "params": {"url": url}})
    # the device's own sha256, read by the test while the agent streams
    original = device.sha256()
    done = agent.wait(command["id"], timeout=120)
    return {"url": url, "command": command, "done": done, "second": second,
            "original_sha256": original, "seconds": time.monotonic() - started}


def _qemu_img(*argv, timeout=120):
    return subprocess.run(["qemu-img", *argv], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_stream_image_sends_only_the_data_as_qcow2_equal_to_the_device(
        snapshot, device):
    done = snapshot["done"]
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == 100
    result = done["result"]
    assert result["device"] == device.path
    assert result["virtual_size"] == device.size
    assert result["cluster_size"] == 65536
    assert 512 * bm.MiB <= result["allocated_bytes"] < 600 * bm.MiB
    assert result["bytes_sent"] <= result["allocated_bytes"] * 1.05
    stored = bm.webdav_path(snapshot["url"])
    assert os.path.getsize(stored) == result["bytes_sent"]
    assert bm.sha256_file(stored) == result["sha256"]
    assert result["device_sha256"] == snapshot["original_sha256"]
    check = _qemu_img("check", "-f", "qcow2", stored)
    assert check.returncode == 0, check.stdout + check.stderr
    compare = _qemu_img("compare", "-f", "raw", "-F", "qcow2", device.path, stored)
    assert compare.returncode == 0, compare.stdout + compare.stderr


def test_a_second_command_while_one_runs_is_409(snapshot):
    second = snapshot["second"]
    assert second.status_code == 409
    assert snapshot["command"]["id"] in second.json()["error"]


def test_neither_the_password_nor_the_token_is_logged(snapshot, agent, webdav):
    assert snapshot["done"]["status"] == "succeeded"
    log = agent.log_text()
    assert "streaming" in log and snapshot["url"] in log
    assert webdav[1][1] not in log
    assert agent.token not in log
    status = agent.get(f"/v1/commands/{snapshot['command']['id']}").text
    assert webdav[1][1] not in status


def test_write_image_restores_a_changed_device_exactly(snapshot, agent, device,
                                                       webdav):
    assert snapshot["done"]["status"] == "succeeded"
    _, admin = webdav
    # Damage the filesystem's files and write into its free (zero) space.
    device.overwrite(bm.PART_START + 300 * bm.MiB, os.urandom(8 * bm.MiB))
    device.overwrite(3 * bm.GiB, os.urandom(4 * bm.MiB))
    assert device.read_files() != device.files
    command = agent.command("deploy.write_image", {
        "url": snapshot["url"], "username": admin[0], "password": admin[1],
        "expected_sha256": snapshot["original_sha256"]})
    done = agent.wait(command["id"], timeout=120)
    assert done["status"] == "succeeded", done["error"]
    assert done["result"] == {
        "device": device.path,
        "bytes_read": snapshot["done"]["result"]["bytes_sent"],
        "device_sha256": snapshot["original_sha256"]}
    assert device.read_files() == device.files
    # The agent read the whole device back (its cache dropped) for the sha256
    # above; independently, the device now equals the image, which equals
    # the original device (the streaming test).
    compare = _qemu_img("compare", "-f", "raw", "-F", "qcow2", device.path,
                        bm.webdav_path(snapshot["url"]))
    assert compare.returncode == 0, compare.stdout + compare.stderr


def test_commands_fail_clearly_on_a_wrong_url_or_credentials(snapshot, agent,
                                                             webdav):
    prefix, admin = webdav
    started = time.monotonic()
    done = agent.wait(agent.command("snapshot.stream_image", {
        "url": prefix + "other.qcow2", "username": admin[0], "password": "wrong",
        "image_name": "x"})["id"])
    assert done["status"] == "failed" and "HTTP 401" in done["error"], done
    assert time.monotonic() - started < 3      # before reading the device
    for params, fragment in [
            ({"url": snapshot["url"], "username": admin[0], "password": "wrong"},
             "HTTP 401"),
            ({"url": prefix + "missing.qcow2", "username": admin[0],
              "password": admin[1]}, "HTTP 404")]:
        done = agent.wait(agent.command("deploy.write_image", params)["id"])
        assert done["status"] == "failed" and fragment in done["error"], done


def test_a_wrong_or_missing_token_is_401(agent):
    for token in ("", "wrong", agent.token + "x"):
        response = agent.get("/v1/status", token=token)
        assert response.status_code == 401
        assert "X-Agent-Token" in response.json()["error"]
    response = agent.request("POST", "/v1/commands", token="wrong",
                             json={"name": "snapshot.stream_image", "params": {}})
    assert response.status_code == 401


def test_the_root_device_is_the_hinted_loop_device(agent, device):
    status = agent.get("/v1/status").json()
    assert status["root_device"]["path"] == device.path
    assert status["root_device"]["size_bytes"] == device.size
    assert status["busy"] is False and status["version"]


def test_loop_devices_are_skipped_without_the_flag(workdir, device):
    hinted = bm.Agent(workdir, "--root-device-hint",
                      json.dumps({"name": device.path})).start()
    default = bm.Agent(workdir).start()
    try:
        status = hinted.get("/v1/status").json()
        assert status["root_device"] is None
        assert "loop device" in status["root_device_error"]
        chosen = default.get("/v1/status").json()["root_device"]
        assert chosen is None or not chosen["name"].startswith("loop")
    finally:
        assert hinted.stop() == 0 and default.stop() == 0


class _Conductor:
    """A tiny HTTP server standing in for the conductor's heartbeat route."""

    def __init__(self):
        self.beats = []
        beats = self.beats

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                beats.append((self.path, self.headers.get("X-Agent-Token"),
                              json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_beats(self, count, timeout=15):
        deadline = time.monotonic() + timeout
        while len(self.beats) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.beats)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def conductor():
    conductor = _Conductor()
    yield conductor
    conductor.close()


def test_heartbeats_reach_the_conductor_with_token_and_agent_url(workdir,
                                                                 conductor):
    agent = bm.Agent(workdir, "--conductor-url", conductor.url, "--node-id",
                     "node-7", "--heartbeat-interval", "0.2").start()
    try:
        beats = conductor.wait_beats(2)
    finally:
        assert agent.stop() == 0
    assert len(beats) >= 2
    path, token, body = beats[0]
    assert path == "/v1/baremetal/nodes/node-7/heartbeat"
    assert token == agent.token
    assert body["agent_url"] == agent.url
    assert body["agent_version"]


def test_with_a_certificate_the_agent_answers_over_https(workdir, conductor):
    tls = bm.self_signed_cert(workdir)
    agent = bm.Agent(workdir, "--conductor-url", conductor.url, "--node-id", "n",
                     tls=tls).start()
    try:
        response = agent.get("/v1/status")
        assert response.status_code == 200 and "version" in response.json()
        assert agent.get("/v1/status", token="wrong").status_code == 401
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{agent.port}/v1/status", timeout=5)
        beats = conductor.wait_beats(1)
    finally:
        assert agent.stop() == 0
    assert beats[0][2]["agent_url"] == f"https://127.0.0.1:{agent.port}"
