"""nativesnap-agent: the small HTTP + JSON service that runs on a bare-metal
node (in a ramdisk, standing in for Ironic's agent) and does what only the
node itself can do with its root disk: stream it out as a sparse qcow2 image
to a WebDAV URL (``snapshot.stream_image``) and write a stored image back onto
it (``deploy.write_image``). docs/baremetal-agent.md describes the API.

Why it is its own room: the agent ships to a ramdisk on its own, so it imports
nothing of nativesnap outside this package (checked by
tests/unit/test_layers.py) and needs only the standard library, webob,
cheroot, jsonschema, requests and qemu-img.

Modules: ``cmd`` (options, the server), ``api`` (routes, authentication, JSON
errors), ``commands`` (request schemas, one-command-at-a-time runner),
``imaging`` (the two commands), ``qcow2stream`` (the forward-only qcow2
writer), ``rootdev`` (which disk is the root disk), ``heartbeat`` (telling the
conductor where the agent is).
"""

from importlib import metadata as _metadata


def _version():
    try:
        return _metadata.version("nativesnap")
    except _metadata.PackageNotFoundError:
        return "0.0.0"


VERSION = _version()
