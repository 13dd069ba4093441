"""Snapshot policies, their attachments and quotas through a real
nativesnap-api (fake driver; sqlite and PostgreSQL):

- a member creates, reads, lists, changes and deletes their project's
  policies, attaches them to their servers and detaches them; another
  project's policy is a 404 to them;
- bad input (an invalid cron expression, a zero or negative interval, an
  unknown time zone, retention all zeros, an unknown property) answers 400
  naming the field, and nothing is stored;
- an administrator limits the snapshots per server to 2: the third snapshot
  is refused with a 403 naming the limit, and nothing changes;
- from microversion 1.2, a snapshot asked for with ``"queue": true`` while
  the server is busy waits in its queue (shown in the server view) and is
  taken once the running task ends.
"""

import pytest

from tests.functional import helpers as h

BASE = "/v1/snapshot-policies"
V1_2 = {h.MICROVERSION: "snapshot 1.2"}
# Attached policies run on 1 January at 03:00 only: never during a test.
YEARLY = {"cron": "0 3 1 1 *", "keep_last": 2}


def _create(api, token, **fields):
    body = dict(name=h.unique("policy-"), **(fields or YEARLY))
    resp = api.request("POST", BASE, token=token,
                       json={"snapshot_policy": body})
    return h.ok(resp, 201)["snapshot_policy"], resp


def _policy_rows(api, project):
    return h.db_query(api, "SELECT id, name, interval_minutes, cron, timezone "
                           "FROM snapshot_policies WHERE project_id = :p",
                      p=project)


def _attachment_rows(api, server_id):
    return h.db_query(api, "SELECT policy_id FROM policy_attachments "
                           "WHERE server_id = :s", s=server_id)


def test_a_member_manages_the_policies_of_their_project(api):
    token, project = h.project_token()
    created, resp = _create(api, token, interval_hours=6, keep_last=4,
                            keep_daily=7, timezone="Europe/Paris",
                            quiesce="off", memory=True)
    path = f"{BASE}/{created['id']}"
    assert resp.headers["Location"] == api.url + path
    assert (created["interval_minutes"], created["cron"]) == (360, None)
    assert (created["project_id"], created["timezone"]) == (
        project, "Europe/Paris")
    assert (created["keep_last"], created["keep_daily"],
            created["keep_weekly"]) == (4, 7, 0)
    assert created["enabled"] is True and created["next_run"]
    assert h.ok(api.request("GET", path, token=token))[
        "snapshot_policy"] == created
    listed = h.ok(api.request("GET", BASE, token=token))["snapshot_policies"]
    assert [p["id"] for p in listed] == [created["id"]]

    changed = h.ok(api.request("PUT", path, token=token, json={
        "snapshot_policy": {"cron": "15 2 * * 1-5", "keep_daily": 0,
                            "enabled": False}}))["snapshot_policy"]
    assert (changed["cron"], changed["interval_minutes"]) == (
        "15 2 * * 1-5", None)
    assert changed["enabled"] is False and changed["next_run"] is None
    assert changed["keep_last"] == 4 and changed["name"] == created["name"]
    assert _policy_rows(api, project) == [
        (created["id"], created["name"], None, "15 2 * * 1-5",
         "Europe/Paris")]

    resp = api.request("DELETE", path, token=token)
    assert resp.status_code == 204 and resp.content == b""
    h.assert_fault(api.request("GET", path, token=token), 404, created["id"])
    assert _policy_rows(api, project) == []


def test_attach_list_and_detach(api):
    token, project = h.project_token()
    server = h.adopt(api, project_id=project)
    first, _ = _create(api, token)
    second, _ = _create(api, token, interval_hours=24 * 365, keep_daily=3,
                        enabled=False)
    path = f"/v1/servers/{server['id']}/snapshot-policies"
    for policy in (first, second):
        view = h.ok(api.request("POST", path, token=token, json={
            "policy_id": policy["id"]}))["snapshot_policy"]
        [attached] = view["servers"]
        assert attached["server_id"] == server["id"]
        assert attached["last_run"] is None and attached["outcome"] is None
    listed = h.ok(api.request("GET", path, token=token))["snapshot_policies"]
    assert {p["id"] for p in listed} == {first["id"], second["id"]}
    h.assert_fault(api.request("POST", path, token=token, json={
        "policy_id": first["id"]}), 409, "already attached")

    resp = api.request("DELETE", f"{path}/{first['id']}", token=token)
    assert resp.status_code == 204
    h.assert_fault(api.request("DELETE", f"{path}/{first['id']}",
                               token=token), 404, "not attached")
    assert _attachment_rows(api, server["id"]) == [(second["id"],)]
    # Deleting a policy detaches it.
    h.ok(api.request("DELETE", f"{BASE}/{second['id']}", token=token), 204)
    assert _attachment_rows(api, server["id"]) == []


def test_a_prune_preview_changes_nothing(api):
    token, project = h.project_token()
    server = h.adopt(api, project_id=project)
    policy, _ = _create(api, token)
    path = f"/v1/servers/{server['id']}/snapshot-policies"
    h.ok(api.request("POST", path, token=token, json={"policy_id": policy["id"]}))
    h.available_snapshot(api, server["id"], token)  # a person's: never pruned
    with h.changes_nothing(api):
        resp = api.request("POST", f"{BASE}/{policy['id']}/action?dry_run=true",
                           token=token, json={"prune": {}})
        [plan] = h.ok(resp)["prune"]
    assert plan == {"server_id": server["id"], "keep": [], "remove": [],
                    "skip": []}
    resp = api.request("POST", f"{BASE}/{policy['id']}/action", token=token,
                       json={"prune": {"server_id": server["id"]}})
    assert h.ok(resp, 202)["prune"][0]["remove"] == []


def test_another_projects_policy_is_a_404(api):
    policy, _ = _create(api, h.ALICE)
    path = f"{BASE}/{policy['id']}"
    bob_server = h.adopt(api, project_id=h.PROJECT_B)
    for method, suffix, body in (
            ("GET", "", None), ("DELETE", "", None),
            ("PUT", "", {"snapshot_policy": {"name": "bob's now"}}),
            ("POST", "/action", {"prune": {}})):
        resp = api.request(method, path + suffix, token=h.BOB, json=body)
        h.assert_fault(resp, 404, policy["id"])
    listed = h.ok(api.request("GET", BASE, token=h.BOB))["snapshot_policies"]
    assert policy["id"] not in [p["id"] for p in listed]
    # Nor can it be attached to one of their servers, even by an admin.
    attach = f"/v1/servers/{bob_server['id']}/snapshot-policies"
    for token in (h.BOB, h.ADMIN):
        h.assert_fault(api.request("POST", attach, token=token, json={
            "policy_id": policy["id"]}), 404, policy["id"])
    shown = h.ok(api.request("GET", path, token=h.ALICE))["snapshot_policy"]
    assert shown["name"] == policy["name"] and shown["servers"] == []
    everything = h.ok(api.request("GET", BASE + "?all_projects=1"))
    assert policy["id"] in [p["id"] for p in everything["snapshot_policies"]]
    h.assert_fault(api.request("GET", BASE + "?all_projects=1", token=h.BOB),
                   403)


BAD_POLICIES = {
    "invalid-cron": ({"cron": "61 25 * * *", "keep_last": 1}, "cron"),
    "cron-of-four-fields": ({"cron": "0 3 * *", "keep_last": 1}, "cron"),
    "zero-interval": ({"interval_minutes": 0, "keep_last": 1},
                      "interval_minutes"),
    "negative-interval": ({"interval_hours": -2, "keep_last": 1},
                          "interval_hours"),
    "unknown-time-zone": ({"cron": "0 3 * * *", "timezone": "Mars/Olympus",
                           "keep_last": 1}, "timezone"),
    "retention-all-zeros": ({"interval_hours": 1, "keep_last": 0,
                             "keep_daily": 0}, "retention"),
    "no-retention": ({"interval_hours": 1}, "retention"),
    "unknown-property": ({"interval_hours": 1, "keep_last": 1,
                          "keep_forever": True}, "keep_forever"),
    "two-schedules": ({"interval_hours": 1, "cron": "0 * * * *",
                       "keep_last": 1}, "cron"),
    "unknown-placeholder": ({"interval_hours": 1, "keep_last": 1,
                             "name_template": "{policy}-{host}"},
                            "name_template"),
}


@pytest.mark.parametrize("case", sorted(BAD_POLICIES))
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(api, case):
    fields, where = BAD_POLICIES[case]
    token, project = h.project_token()
    with h.changes_nothing(api):
        resp = api.request("POST", BASE, token=token, json={
            "snapshot_policy": dict(name="bad", **fields)})
        h.assert_fault(resp, 400, where)
    assert _policy_rows(api, project) == []


def test_a_bad_update_is_a_400_and_changes_nothing(api):
    token, project = h.project_token()
    policy, _ = _create(api, token)
    before = _policy_rows(api, project)
    for fields, where in (({"cron": "0 0 31 2 * *"}, "cron"),
                          ({"timezone": "Nowhere/Town"}, "timezone"),
                          ({"interval_minutes": 0}, "interval_minutes"),
                          ({"keep_last": 0}, "retention")):
        resp = api.request("PUT", f"{BASE}/{policy['id']}", token=token,
                           json={"snapshot_policy": fields})
        h.assert_fault(resp, 400, where)
    assert _policy_rows(api, project) == before


def test_a_snapshot_over_the_per_server_quota_is_a_403_and_changes_nothing(api):
    token, project = h.project_token()
    quota = f"/v1/os-quota-sets/{project}"
    server = h.adopt(api, project_id=project)
    for _ in range(2):
        h.available_snapshot(api, server["id"], token)
    resp = api.request("PUT", quota, json={"quota_set": {
        "snapshots_per_server": 2}})
    assert h.ok(resp)["quota_set"] == {"id": project, "snapshots": -1,
                                       "snapshots_per_server": 2}
    # Members read their own project's quotas, and may not change them.
    shown = h.ok(api.request("GET", quota + "?usage=true", token=token))
    assert shown["quota_set"]["snapshots"] == {"limit": -1, "in_use": 2}
    h.assert_fault(api.request("PUT", quota, token=token, json={
        "quota_set": {"snapshots_per_server": 100}}), 403)
    h.assert_fault(api.request("GET", quota, token=h.BOB), 403)

    with h.changes_nothing(api):
        resp = api.request("POST", h.snapshot_path(server["id"]), token=token,
                           json={"snapshot": {"name": "third"}})
        message = h.assert_fault(resp, 403, "quota exceeded",
                                 "snapshots_per_server", "2 of 2",
                                 server["id"])
    assert "forbidden" in resp.json()
    listed = h.ok(api.request("GET", h.snapshot_path(server["id"]),
                              token=token))["snapshots"]
    assert len(listed) == 2, message

    # Back to the defaults (unlimited): the snapshot is taken.
    resp = api.request("DELETE", quota)
    assert resp.status_code == 204
    h.available_snapshot(api, server["id"], token)


def test_a_project_quota_counts_every_server(api):
    token, project = h.project_token()
    quota = f"/v1/os-quota-sets/{project}"
    first = h.adopt(api, project_id=project)
    second = h.adopt(api, project_id=project)
    h.available_snapshot(api, first["id"], token)
    h.ok(api.request("PUT", quota, json={"quota_set": {"snapshots": 1}}))
    with h.changes_nothing(api):
        resp = api.request("POST", h.snapshot_path(second["id"]), token=token,
                           json={"snapshot": {"name": "over"}})
        h.assert_fault(resp, 403, "snapshots", "1 of 1", project)
    h.ok(api.request("DELETE", quota), 204)


def test_a_queued_snapshot_waits_for_the_running_task_then_is_taken(api):
    token, project = h.project_token()
    server = h.adopt(api, project_id=project, prefix="slow-")
    first = h.create_snapshot(api, server["id"], token, wait=False)
    h.assert_fault(api.request("POST", h.snapshot_path(server["id"]),
                               token=token, headers=V1_2,
                               json={"snapshot": {"name": "now"}}), 409)
    resp = api.request("POST", h.snapshot_path(server["id"]), token=token,
                       headers=V1_2,
                       json={"snapshot": {"name": "later", "queue": True}})
    queued = h.ok(resp, 202)["snapshot"]
    assert queued["status"] == "queued" and queued["policy_id"] is None
    shown = h.ok(api.request("GET", f"/v1/servers/{server['id']}",
                             token=token, headers=V1_2))["server"]
    assert [(q["action"], q["snapshot_id"]) for q in shown["queued"]] == [
        ("create_snapshot", queued["id"])]
    taken = api.wait_for(
        lambda: (lambda s: s if s["status"] == "available" else None)(
            h.get_snapshot(api, server["id"], queued["id"], token)),
        timeout=30, what="the queued snapshot to be taken")
    assert taken["parent_id"] == first["id"]
    h.wait_idle(api, server["id"], token)
    shown = h.ok(api.request("GET", f"/v1/servers/{server['id']}",
                             token=token, headers=V1_2))["server"]
    assert shown["queued"] == []
