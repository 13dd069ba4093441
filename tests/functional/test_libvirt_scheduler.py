"""A snapshot policy on a real libvirt TCG guest (docs/scheduler.md): every
minute, ``keep_last 2``, five rounds on the scheduler's clock file.

Before the policy the user takes a snapshot of their own; after the first
round a linked server is spawned from the policy's first snapshot. Each
round writes new data inside the guest, moves the clock a minute on and
waits for the run: the policy takes one snapshot, then prunes by merging
layers. After every round: the policy holds the two newest slots, all
``available``; the manual snapshot and the linked server's source are still
there (the prune skips the source and says why); the libvirt driver's record
and the disk's qcow2 chain hold no more than the live snapshots (the chain
does not grow round after round). At the end the linked server boots on the
data of the first round, and reverting to the newest policy snapshot and to
the manual one gives back, inside the guest, the data written before each
(checksums the guest computes).

The module adopts one booted guest and leaves libvirtd as it found it: the
linked server is deleted (its domain and files with it), then the policy,
every snapshot and the adopted server; the guest fixture removes the guest.
"""

import datetime
import os

import pytest

from tests import fixtures
from tests import guest as guestlib
from tests.functional import libvirt_helpers as lh
from tests.functional import scheduler_helpers as sh

pytest_plugins = ["tests.functional.guest_fixtures"]

TOKEN = lh.ADMIN
KIB = 1024
ROUNDS = 5
WAIT = 90  # bound of every wait on the service or a guest
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture(scope="module")
def sched_api(tmp_path_factory):
    """nativesnap-api with the libvirt driver whose scheduler runs every
    0.2 s on a clock file (left in the past: nothing attached is due)."""
    state = str(tmp_path_factory.mktemp("api-libvirt-scheduler"))
    clock = sh.Clock(os.path.join(state, "clock"))
    clock.start_in_the_past()
    server = fixtures.APIServer(
        state, fixtures.sqlite_url(state), drivers=("libvirt",),
        extra_conf=sh.scheduler_conf(clock, scheduler={"min_free_percent": 1}))
    server.manage("db", "sync")
    server.clock = clock
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def guest(make_module_guest):
    return make_module_guest(disks=1)


@pytest.fixture(scope="module")
def adopted(sched_api, guest, libvirt_conn):
    """The guest adopted as a server; afterwards the policies, spawned
    servers and snapshots this module made are deleted and the server is
    forgotten (the guest fixture then removes the domain)."""
    made = {"server": lh.adopt(sched_api, guest, TOKEN), "policies": [],
            "spawned": []}
    yield made
    _clean_up(sched_api, libvirt_conn, made)


def _clean_up(api, conn, made):
    server_id = made["server"]["id"]
    problems = []

    def expect(resp, *codes):
        if resp.status_code not in codes:
            problems.append(f"{resp.request.method} {resp.request.url}: "
                            f"{resp.status_code} {resp.text[:300]}")

    for policy_id in made["policies"]:
        expect(api.request("DELETE", f"{sh.POLICIES}/{policy_id}",
                           token=TOKEN), 204, 404)
    for spawned in made["spawned"]:
        expect(api.request("DELETE", f"/v1/servers/{spawned}", token=TOKEN),
               204, 404)
        if guestlib.Guest.attach(conn, spawned) is not None:
            problems.append(f"the domain of spawned server {spawned} is left")
    try:
        lh.wait_idle(api, server_id, timeout=WAIT, token=TOKEN)
        left = sorted(lh.snapshots(api, server_id, TOKEN).values(),
                      key=lambda s: s["created_at"], reverse=True)
        for snap in left:
            lh.delete_snapshot(api, server_id, snap["id"], token=TOKEN)
    except AssertionError as e:
        problems.append(str(e)[:500])
    expect(api.request("DELETE", f"/v1/servers/{server_id}", token=TOKEN),
           204)
    assert not problems, problems


def _spawn_linked(api, snapshot_id, made):
    resp = api.request("POST", "/v1/servers", token=TOKEN, json={"server": {
        "name": "linked-to-policy-snapshot", "snapshot_id": snapshot_id,
        "linked": True, "power_on": False}})
    assert resp.status_code == 202, resp.text
    spawned = resp.json()["server"]["id"]
    made["spawned"].append(spawned)
    done = lh.wait_idle(api, spawned, timeout=WAIT, token=TOKEN)
    assert done["linked"] and done["fault"] is None, done
    return spawned


def _check_round(api, guest, server_id, policy, manual, linked_source,
                 round_no, at, found):
    """What must hold after round ``round_no`` (its run at ``at``);
    returns the length of the disk's qcow2 chain."""
    outcome = found["outcome"]
    snaps = lh.snapshots(api, server_id, TOKEN)
    assert all(s["status"] == "available" for s in snaps.values()), snaps
    assert manual in snaps and snaps[manual]["name"] == "manual"
    taken = sh.policy_snapshots(api, TOKEN, server_id, policy)
    assert outcome["taken"] == taken[-1]["id"]
    kept = [s for s in taken if s["id"] != linked_source]
    slots = [sh.parse_time(s["scheduled_at"]) for s in kept]
    if linked_source is None:
        assert slots == [at], slots
    else:
        # keep_last 2 keeps the two newest slots; the linked server's
        # source, older, stays beside them.
        assert linked_source in snaps
        assert slots == [at - MINUTE, at][-min(round_no - 1, 2):], slots
    if round_no >= 3:
        (skip,) = [s for s in outcome["skipped"]
                   if s["snapshot_id"] == linked_source]
        assert "linked server" in skip["reason"], skip
        assert linked_source not in outcome["pruned"]
    if round_no >= 4:
        assert len(outcome["pruned"]) == 1, outcome
        assert outcome["pruned"][0] not in snaps
    # The driver's record and the disk's chain hold only live snapshots:
    # the pruned layers were merged away.
    recorded = lh.driver_info(api, server_id)["snapshots"]
    assert set(recorded) == set(snaps), (set(recorded), set(snaps))
    chain = lh.backing_chain(lh.active_disks(guest)["vda"])
    assert len(chain) <= len(snaps) + 1, (chain, snaps)
    return len(chain)


def test_a_minutely_policy_keeps_two_prunes_by_merging_and_the_data_stays(
        sched_api, guest, adopted, libvirt_conn):
    api = sched_api
    server_id = adopted["server"]["id"]
    manual_sum = guest.write_random("/data/f", 64 * KIB)
    manual = lh.snapshot(api, server_id, name="manual", token=TOKEN)["id"]
    policy = sh.create_policy(api, TOKEN, interval_minutes=1,
                              keep_last=2)["id"]
    adopted["policies"].append(policy)
    sh.attach(api, TOKEN, server_id, policy)

    base = sh.future_base()
    sums, chains, linked_source = {}, {}, None
    for round_no in range(1, ROUNDS + 1):
        sums[round_no] = guest.write_random("/data/f", 64 * KIB)
        at = api.clock.set(base + (round_no - 1) * MINUTE)
        found = sh.wait_round(api, TOKEN, policy, server_id, at,
                              timeout=WAIT)
        chains[round_no] = _check_round(api, guest, server_id, policy, manual,
                                        linked_source, round_no, at, found)
        if round_no >= 4:
            assert chains[round_no] <= chains[round_no - 1], chains
        if round_no == 1:
            linked_source = found["outcome"]["taken"]
            spawned = _spawn_linked(api, linked_source, adopted)
    assert len(set(sums.values()) | {manual_sum}) == ROUNDS + 1

    # The linked server reads the first round's state, untouched by the
    # merges of the later rounds' prunes.
    clone = guestlib.Guest.attach(libvirt_conn, spawned)
    clone.domain.create()
    clone.wait_for_agent(timeout=WAIT)
    assert clone.sha256("/data/f") == sums[1]
    clone.domain.destroy()

    newest = sh.policy_snapshots(api, TOKEN, server_id, policy)[-1]
    assert sh.parse_time(newest["scheduled_at"]) == at
    lh.revert(api, server_id, newest["id"], token=TOKEN)
    guest.wait_for_agent(timeout=WAIT)
    assert guest.sha256("/data/f") == sums[ROUNDS]
    lh.revert(api, server_id, manual, token=TOKEN)
    guest.wait_for_agent(timeout=WAIT)
    assert guest.sha256("/data/f") == manual_sum
