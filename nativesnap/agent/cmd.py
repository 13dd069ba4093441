"""``nativesnap-agent``: options, logging, the HTTP(S) server, shutdown.

Why the options look like this: the agent is started by a ramdisk's init
with everything on its command line except the secret. The token is read
from a file (``--token-file``), never taken from argv (visible in ``ps``) and
never logged. TLS is on when ``--cert-file`` and ``--key-file`` are given
(cheroot's builtin ssl adapter). With ``--conductor-url`` and ``--node-id``
the agent heartbeats its own URL (``--advertise-url``, else derived from
``--listen``). SIGTERM/SIGINT stop it: a running command is given
``--shutdown-grace`` seconds to end before the process exits.

Exit status: 0 after a clean stop, 2 for bad options or files.
"""

import argparse
import functools
import json
import logging
import os
import signal
import socket
import sys
import threading

from cheroot import wsgi
from cheroot.ssl import builtin

from nativesnap import agent
from nativesnap.agent import api, commands, heartbeat, imaging, rootdev

LOG = logging.getLogger("nativesnap.agent")


def _listen(value):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _hint(value):
    try:
        hint = json.loads(value)
        rootdev.validate_hint(hint)
    except (json.JSONDecodeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return hint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="nativesnap-agent",
        description="The bare-metal node agent of nativesnap: streams the root "
                    "disk to WebDAV as qcow2 and writes images back to it.")
    add = parser.add_argument
    add("--listen", type=_listen, default=("0.0.0.0", 9999),
        help="HOST:PORT to serve on (default 0.0.0.0:9999; port 0 picks one)")
    add("--token-file", required=True,
        help="file holding the shared token clients must send as X-Agent-Token")
    add("--cert-file", help="PEM certificate: serve HTTPS (with --key-file)")
    add("--key-file", help="PEM private key of --cert-file")
    add("--conductor-url", help="base URL of the conductor to heartbeat to")
    add("--conductor-ca-file", help="CA bundle verifying an https conductor")
    add("--node-id", help="this node's id at the conductor")
    add("--heartbeat-interval", type=float, default=30.0,
        help="seconds between heartbeats (default 30)")
    add("--advertise-url",
        help="the URL the conductor reaches this agent at (default from --listen)")
    add("--root-device-hint", type=_hint,
        help='JSON object with any of serial, wwn, size (GiB), name, '
             'e.g. \'{"name": "/dev/sda"}\'')
    add("--allow-loop-devices", action="store_true",
        help="let loop devices be the root device (tests only)")
    add("--image-ca-file",
        help="CA bundle verifying https image URLs for uploads")
    add("--command-timeout", type=float, default=6 * 3600,
        help="seconds a command may run before it fails (default 21600)")
    add("--shutdown-grace", type=float, default=10.0,
        help="seconds a running command gets at shutdown (default 10)")
    add("--sysfs-root", default="/sys", help=argparse.SUPPRESS)
    add("--debug", action="store_true", help="log at DEBUG level")
    args = parser.parse_args(argv)
    if bool(args.cert_file) != bool(args.key_file):
        parser.error("--cert-file and --key-file go together")
    if bool(args.conductor_url) != bool(args.node_id):
        parser.error("--conductor-url and --node-id go together")
    if args.heartbeat_interval <= 0:
        parser.error("--heartbeat-interval must be positive")
    return args


def read_token(path):
    """The token in ``path`` (surrounding whitespace stripped)."""
    with open(path, encoding="utf-8") as f:
        token = f.read().strip()
    if not token:
        raise ValueError(f"{path} holds no token")
    if os.stat(path).st_mode & 0o077:
        LOG.warning("%s is readable by group or others; make it 0600", path)
    return token


def build_app(args, token):
    """The WSGI app wired to the two commands on the root device."""
    find = functools.partial(rootdev.find_root_device, args.root_device_hint,
                             args.allow_loop_devices, args.sysfs_root)

    def stream_image(params, command):
        device = find()
        return imaging.stream_image(device.path, params, command,
                                    args.command_timeout, args.image_ca_file)

    def write_image(params, command):
        device = find()
        return imaging.write_image(device.path, params, command,
                                   args.command_timeout, args.image_ca_file)

    runner = commands.CommandRunner({commands.STREAM_IMAGE: stream_image,
                                     commands.WRITE_IMAGE: write_image})
    return api.AgentApp(token, runner, find, agent.VERSION)


def own_url(args, bound):
    if args.advertise_url:
        return args.advertise_url.rstrip("/")
    host, port = bound[0], bound[1]
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if args.cert_file else "http"
    return f"{scheme}://{host}:{port}"


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    try:
        token = read_token(args.token_file)
        app = build_app(args, token)
        server = wsgi.Server(args.listen, app, numthreads=4,
                             server_name="nativesnap-agent", timeout=60)
        if args.cert_file:
            server.ssl_adapter = builtin.BuiltinSSLAdapter(args.cert_file,
                                                           args.key_file)
        server.prepare()
    except (OSError, ValueError) as exc:
        LOG.error("cannot start: %s", exc)
        return 2
    url = own_url(args, server.bind_addr)
    LOG.info("nativesnap-agent %s serving on %s", agent.VERSION, url)
    beats = None
    if args.conductor_url:
        beats = heartbeat.Heartbeat(args.conductor_url, args.node_id, token,
                                    url, agent.VERSION, args.heartbeat_interval,
                                    args.conductor_ca_file)
        beats.start()

    def stop(signum, _frame):
        LOG.info("signal %s: stopping", signum)
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve()
    finally:
        if beats:
            beats.stop()
        if not app.runner.wait_idle(args.shutdown_grace):
            LOG.warning("a command was still running at shutdown")
        server.stop()
    LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
