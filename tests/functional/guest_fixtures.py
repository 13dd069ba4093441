"""pytest plugin: the tiny test guest (see tests/guest.py) on the real libvirtd.

Use it from a test module with::

    pytest_plugins = ["tests.functional.guest_fixtures"]

Fixtures:
  guest_images       (session) tools/build-test-guest's output, built once
  libvirt_conn       (session) a qemu:///system connection (libvirtd started if needed)
  make_guest         factory: make_guest(disks=1..3 or [DiskSpec...], boot=True,
                     **Guest kwargs) -> Guest,
                     booted (agent answering) unless boot=False; all torn down after the test
  make_module_guest  the same factory, torn down after the module (a guest per module)
  test_guest         a booted 1-disk guest for one test
"""

import pytest

from tests import guest as guestlib


@pytest.fixture(scope="session")
def guest_images():
    return guestlib.build_guest()


@pytest.fixture(scope="session")
def libvirt_conn():
    conn = guestlib.connect()
    yield conn
    conn.close()


class GuestFactory:
    """Makes Guests in one directory and tears every one of them down."""

    def __init__(self, conn, images, base_dir):
        self.conn = conn
        self.images = images
        self.base_dir = str(base_dir)
        self.guests = []

    def __call__(self, disks=1, boot=True, boot_timeout=60, **kwargs):
        guest = guestlib.Guest(self.conn, self.base_dir, self.images, disks=disks,
                               **kwargs)
        self.guests.append(guest)
        if boot:
            guest.boot(boot_timeout)
        return guest

    def cleanup(self):
        errors = []
        for guest in reversed(self.guests):
            try:
                guest.cleanup()
            except Exception as e:  # tear every guest down, then report
                errors.append(str(e))
        self.guests.clear()
        if errors:
            raise guestlib.GuestError("; ".join(errors))


@pytest.fixture
def make_guest(libvirt_conn, guest_images, tmp_path_factory):
    factory = GuestFactory(libvirt_conn, guest_images, tmp_path_factory.mktemp("guests"))
    yield factory
    factory.cleanup()


@pytest.fixture(scope="module")
def make_module_guest(libvirt_conn, guest_images, tmp_path_factory):
    factory = GuestFactory(libvirt_conn, guest_images, tmp_path_factory.mktemp("guests"))
    yield factory
    factory.cleanup()


@pytest.fixture(name="test_guest")
def _test_guest(make_guest):
    return make_guest(disks=1)
