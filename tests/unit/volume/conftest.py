"""The scripted Cinder peer of cinder_peer.py as a fixture: peers made by a
test are shut down after it."""

import threading

import pytest

from tests.unit.volume.cinder_peer import Peer


@pytest.fixture
def peer_factory():
    peers = []

    def make(*script):
        peer = Peer(script)
        threading.Thread(target=peer.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.release.set()
        peer.shutdown()
        peer.server_close()
