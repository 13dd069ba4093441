"""``include_volumes`` behind a real Keystone: the Cinder snapshots belong to
the user's project, and nativesnap's requests to Cinder carry its service
token (issue 21; docs/keystone.md, "Calls nativesnap makes on a user's
behalf").

The parts, all real: the session's Keystone (tests/keystone_fixtures.py); a
cinder-api with ``auth_strategy = keystone`` (``cinder_keystone`` in
tests/cinder_fixtures.py) whose own keystonemiddleware validates every token
with Keystone, in Keystone's catalog as ``volumev3``, with a probe filter
after keystonemiddleware that records what it made of each request's tokens
(tests/cinder_service_token_probe.py); a nativesnap-api (libvirt driver)
with ``[api] auth_strategy = keystone``, ``[service_user]
send_service_user_token = true`` and no Cinder URL of its own (it takes
Cinder's from the user's catalog); a TCG guest whose data disk is a Cinder
volume of project-A laid out as Cinder's NFS driver does.

What is proved:

- a member of project-A snapshots the server (adopted by project-A's
  administrator) with ``include_volumes``: the snapshot ends ``available``,
  and Cinder's snapshot record (read by Cinder's object layer, as an
  administrator) is ``available`` in project-A, made by the member, not in
  nativesnap's ``service`` project; the member sees it through Cinder's API,
  project-B's member does not;
- every request nativesnap made to Cinder for it (the creation, the status
  update) came with the member's token for project-A and a service token
  that Cinder's keystonemiddleware validated with Keystone as the
  ``nativesnap`` user with the ``service`` role;
- the probe's service fields come only from a validated service token: a
  request with only a user token, even with forged ``X-Service-*`` headers,
  shows none.

Every wait is bounded, so a hung part fails the test instead of holding the
run: Keystone and cinder-api start within 90 s each, each Cinder row the tool
makes or reads within 60 s, the guest's boot within 60 s, the snapshot's
task within 120 s (libvirt_helpers), every HTTP request within 30 s.
Serial (tests/conftest.py): it runs a libvirt guest and the session's
Keystone and Cinder.
"""

import pytest
import requests

from tests.functional import libvirt_helpers as lh

pytest_plugins = ["tests.keystone_fixtures", "tests.cinder_fixtures",
                  "tests.functional.guest_fixtures"]

REQUEST_TIMEOUT = 30
# tests/keystone_fixtures.py's service user and project (not imported here:
# pytest loads that module as a plugin and rewrites its asserts).
SERVICE_USER = "nativesnap"
SERVICE_PROJECT = "service"
USER_AGENT = "nativesnap-test"


@pytest.fixture(scope="module")
def ks_api(keystone, cinder_keystone, tmp_path_factory):
    """A libvirt nativesnap-api behind Keystone that calls the Keystone
    Cinder found in the user's catalog."""
    server = keystone.start_api(str(tmp_path_factory.mktemp("api-keystone-cinder")),
                                drivers=("libvirt",),
                                extra_conf=cinder_keystone.nativesnap_conf())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tokens(keystone, cinder_keystone):
    """Project-scoped tokens, taken once Cinder is in the catalog."""
    return {user: keystone.token(user) for user in ("A-member", "B-member", "A-admin")}


def _cinder(cinder_keystone, method, project_id, path, token, headers=None):
    """A request of the test's own to the Keystone Cinder."""
    return requests.request(
        method, f"{cinder_keystone.endpoint}/{project_id}{path}",
        headers={"X-Auth-Token": token, "User-Agent": USER_AGENT,
                 **(headers or {})},
        timeout=REQUEST_TIMEOUT)


def test_member_include_volumes_cinder_snapshots_are_theirs_and_carry_a_service_token(
        ks_api, keystone, cinder_keystone, tokens, make_guest):
    project_a = keystone.projects["project-A"]
    member = keystone.users["A-member"]
    guest = make_guest(disks=2, boot=False)
    _directory, volumes = lh.as_cinder_volumes(guest, cinder_keystone,
                                               targets=("vdb",))
    guest.boot()
    assert cinder_keystone.volume(volumes["vdb"])["project_id"] == project_a

    srv = lh.adopt(ks_api, guest, token=tokens["A-admin"])  # admin-only
    assert srv["project_id"] == project_a
    seen = len(cinder_keystone.records())

    snap = lh.snapshot(ks_api, srv["id"], name="with-volume", token=tokens["A-member"],
                       include_volumes=True)  # waits for "available"

    assert [v["volume_id"] for v in snap["volumes"]] == [volumes["vdb"]]
    cinder_snapshot_id = snap["volumes"][0]["snapshot_id"]
    record = cinder_keystone.snapshot(cinder_snapshot_id)
    assert record["status"] == "available", record
    assert record["project_id"] == project_a, record
    assert record["project_id"] != keystone.projects[SERVICE_PROJECT]
    assert record["user_id"] == member.id, record

    # Nativesnap's requests, as Cinder's keystonemiddleware saw them.
    made = cinder_keystone.records()[seen:]
    creates = [r for r in made if r["method"] == "POST"
               and r["path"] == f"/v3/{project_a}/snapshots"]
    assert len(creates) == 1, made
    create = creates[0]
    assert create["status"] == 202, create
    assert create["service_token_sent"] is True, create
    assert create["service_identity_status"] == "Confirmed", create
    assert create["service_user_name"] == SERVICE_USER, create
    assert create["service_user_id"] == keystone.users[SERVICE_USER].id, create
    assert create["service_project_name"] == SERVICE_PROJECT, create
    assert "service" in create["service_roles"], create
    assert create["identity_status"] == "Confirmed", create
    assert create["user_id"] == member.id, create
    assert create["project_id"] == project_a, create
    assert "member" in create["roles"] and "admin" not in create["roles"], create
    status_updates = [r for r in made if r["method"] == "POST" and r["path"]
                      == f"/v3/{project_a}/snapshots/{cinder_snapshot_id}/action"]
    assert status_updates and all(r["status"] == 202 for r in status_updates), made
    for request in made:  # the creation, the status update, any read
        assert request["user_agent"] != USER_AGENT, request
        assert (request["service_user_name"], request["user_id"],
                request["project_id"]) == (SERVICE_USER, member.id,
                                           project_a), request

    # It is project-A's in Cinder's API too: its member sees it, B's does not.
    mine = _cinder(cinder_keystone, "GET", project_a,
                   f"/snapshots/{cinder_snapshot_id}", tokens["A-member"])
    assert mine.status_code == 200, mine.text
    assert mine.json()["snapshot"]["volume_id"] == volumes["vdb"]
    theirs = _cinder(cinder_keystone, "GET", keystone.projects["project-B"],
                     f"/snapshots/{cinder_snapshot_id}", tokens["B-member"])
    assert theirs.status_code == 404, theirs.text


def test_a_request_with_only_a_user_token_shows_no_service_identity_even_if_forged(
        keystone, cinder_keystone, tokens):
    project_a = keystone.projects["project-A"]
    seen = len(cinder_keystone.records())

    resp = _cinder(cinder_keystone, "GET", project_a, "/snapshots", tokens["A-member"],
                   headers={"X-Service-User-Name": SERVICE_USER,
                            "X-Service-Roles": "service",
                            "X-Service-Identity-Status": "Confirmed"})

    assert resp.status_code == 200, resp.text
    (record,) = [r for r in cinder_keystone.records()[seen:]
                 if r["user_agent"] == USER_AGENT]
    assert record["service_token_sent"] is False, record
    assert record["service_user_name"] is None, record
    assert record["service_roles"] is None, record
    assert record["service_identity_status"] is None, record
    assert record["identity_status"] == "Confirmed", record
    assert record["user_id"] == keystone.users["A-member"].id, record
    assert record["project_id"] == project_a, record
