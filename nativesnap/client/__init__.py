"""Python bindings of the nativesnap API, and the ``nativesnap`` CLI.

    from nativesnap.client import Client, exceptions

    c = Client("http://127.0.0.1:8779", token="admin:demo")
    server = c.find_server("web1")
    snap = c.create_snapshot(server, "before-upgrade")
    snap = c.wait_for_status(snap, "available", timeout=300)

See docs/client.md.
"""

from nativesnap.client.client import Client
from nativesnap.client import exceptions
from nativesnap.client.resource import BaremetalNode
from nativesnap.client.resource import Image
from nativesnap.client.resource import Server
from nativesnap.client.resource import Service
from nativesnap.client.resource import Snapshot

__all__ = ["BaremetalNode", "Client", "Image", "Server", "Service", "Snapshot",
           "exceptions"]
