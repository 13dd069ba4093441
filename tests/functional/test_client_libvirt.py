"""The ``nativesnap`` CLI end to end on a real libvirt/QEMU guest: adopt,
snapshot create --wait, list, revert --wait (the data checked inside the
guest), spawn --wait (the clone reads the snapshot's data), delete."""

from tests.functional import client_helpers as cli
from tests.functional import libvirt_helpers as lh

pytest_plugins = ["tests.functional.guest_fixtures"]

KIB = 1024
TOKEN = lh.ADMIN
WAIT = ("--wait", "--timeout", "180")


def nativesnap(api, *args):
    return cli.run(api, *args, token=TOKEN, timeout=300)


def test_cli_create_list_revert_spawn_delete_on_a_real_guest(
        libvirt_api, make_guest, libvirt_conn):
    from tests import guest as guestlib

    guest = make_guest(disks=1)
    server = cli.ok_json(nativesnap(libvirt_api, "server", "adopt", guest.name,
                                    "--driver", "libvirt", "--hypervisor-ref",
                                    guest.name, "-f", "json"))
    assert server["status"] == "ACTIVE" and server["driver"] == "libvirt"

    before = guest.write_random("/data/f", 128 * KIB)
    result = nativesnap(libvirt_api, "snapshot", "create", "--server",
                        server["id"], "before", *WAIT, "-f", "json")
    snap = cli.ok_json(result)
    assert snap["status"] == "available" and snap["consistency"] == "application"
    assert "Creating snapshot before: done (available)" in result.stderr

    after = guest.write_random("/data/f", 128 * KIB)
    assert after != before
    rows = cli.ok_json(nativesnap(libvirt_api, "snapshot", "list", "--server",
                                  guest.name, "-f", "json"))
    assert [(r["ID"], r["Status"], r["Current"]) for r in rows] == [
        (snap["id"], "available", True)]

    result = nativesnap(libvirt_api, "server", "revert", server["id"], "before",
                        *WAIT)
    cli.ok(result)
    assert "Reverting server" in result.stderr and "done" in result.stderr
    # --wait came back only when the revert was complete: the guest reads the
    # data it had at the snapshot.
    assert lh.server(libvirt_api, server["id"])["task_state"] is None
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == before

    spawned = None
    try:
        spawned = cli.ok_json(nativesnap(
            libvirt_api, "server", "spawn", f"{guest.name}-clone", "--snapshot",
            snap["id"], *WAIT, "-f", "json"))
        assert spawned["status"] == "ACTIVE" and spawned["linked"] is True
        clone = guestlib.Guest.attach(libvirt_conn, spawned["hypervisor_ref"])
        clone.wait_for_agent(timeout=60)
        assert clone.sha256("/data/f") == before

        # The clone rests on the snapshot: deleting it is refused, with the
        # API's message naming the clone.
        cli.fails(nativesnap(libvirt_api, "snapshot", "delete", "--server",
                             server["id"], snap["id"]),
                  spawned["id"], "HTTP 409")
        cli.ok(nativesnap(libvirt_api, "server", "delete", spawned["id"]))
        assert guestlib.Guest.attach(libvirt_conn,
                                     spawned["hypervisor_ref"]) is None
        spawned = None
    finally:
        if spawned is not None:  # a failed assertion above: clean up anyway
            libvirt_api.request("DELETE", f"/v1/servers/{spawned['id']}",
                                token=TOKEN)

    result = nativesnap(libvirt_api, "snapshot", "delete", "--server",
                        server["id"], "before", *WAIT)
    cli.ok(result)
    assert "Deleting snapshot before: done" in result.stderr
    assert cli.ok_json(nativesnap(libvirt_api, "snapshot", "list", "--server",
                                  server["id"], "-f", "json")) == []
    guest.wait_for_agent(timeout=60)
    assert guest.sha256("/data/f") == before  # deleting changed nothing it reads
    cli.ok(nativesnap(libvirt_api, "server", "delete", server["id"]))
