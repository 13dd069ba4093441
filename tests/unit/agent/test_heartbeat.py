"""Heartbeats carry the agent's URL and version with the token, and a
conductor that is down is logged, never fatal."""

import http.server
import json
import socket
import threading

from nativesnap.agent import heartbeat


def test_a_heartbeat_posts_url_and_version_with_the_token():
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["X-Agent-Token"],
                             json.loads(body)))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        beat = heartbeat.Heartbeat(f"http://127.0.0.1:{server.server_port}/",
                                   "node-1", "tok", "http://10.0.0.5:9999",
                                   "0.1.0", interval=60)
        assert beat.beat() is True
    finally:
        server.shutdown()
        server.server_close()
    assert received == [("/v1/baremetal/nodes/node-1/heartbeat", "tok",
                         {"agent_url": "http://10.0.0.5:9999",
                          "agent_version": "0.1.0"})]


def test_a_conductor_that_is_down_is_not_fatal(caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    beat = heartbeat.Heartbeat(f"http://127.0.0.1:{port}", "n", "tok",
                               "http://a:1", "0", interval=0.05)
    assert beat.beat() is False
    beat.start()
    beat.stop()
    assert "heartbeat to" in caplog.text and "tok" not in caplog.text
