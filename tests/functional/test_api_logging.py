"""The request log of a real nativesnap-api: one line per request with method,
path, status, duration and request id, attributed to the request's own
caller, and never the X-Auth-Token value.

oslo.log writes the caller's user and project ids as the line's context
(``alice proj-a``); what must never appear is the token itself, the raw
``<user>:<project>`` header value, nor any part of a token it refused.
"""

import uuid

from tests.functional import helpers as h


def _lines_of(api, request_id):
    return [line for line in api.read_log().splitlines()
            if f"{request_id} \"" in line]


def _logged(api, resp):
    """The request-log line of ``resp`` (found by its request id), parsed."""
    request_id = resp.headers["X-OpenStack-Request-Id"]
    lines = api.wait_for(lambda: _lines_of(api, request_id), timeout=5,
                         what=f"the log line of {request_id}")
    assert len(lines) == 1, lines
    match = h.REQUEST_LOG_RE.search(lines[0])
    assert match, lines[0]
    assert match["request_id"] == request_id
    return match, lines[0]


def test_every_request_is_logged_once_with_method_path_status_time_and_request_id(
        api):
    server = h.adopt(api)
    snapshot = h.available_snapshot(api, server["id"])
    requests = [
        ("GET", "/", None, 200),
        ("GET", f"/v1/servers/{server['id']}", h.ALICE, 200),
        ("GET", f"{h.snapshot_path(server['id'])}?limit=1&sort_dir=asc", h.ALICE,
         200),
        ("POST", h.snapshot_path(server["id"]), h.ALICE, 400),
        ("DELETE", h.snapshot_path(server["id"], snapshot["id"]), h.ALICE, 202),
        ("GET", f"/v1/servers/{uuid.uuid4()}", h.BOB, 404),
        ("PUT", "/v1/servers", h.ALICE, 405),
        ("GET", "/v1/servers", None, 401),
    ]
    for method, path, token, status in requests:
        resp = api.request(method, path, token=token,
                           json={} if method == "POST" else None)
        assert resp.status_code == status, resp.text
        match, _ = _logged(api, resp)
        assert (match["method"], match["path"], int(match["status"])) == (
            method, path, status)
        assert float(match["ms"]) >= 0


def test_a_log_line_carries_its_callers_identity_and_no_other(api):
    user = h.unique("logger")
    token = f"{user}:proj-log"
    # Enough requests that every thread of the server has served this caller.
    for _ in range(80):
        h.ok(api.request("GET", "/v1/servers?limit=1", token=token))
    mine = api.request("GET", "/v1/servers?limit=1", token=token)
    _, line = _logged(api, mine)
    assert f"{user} proj-log" in line
    for _ in range(40):
        refused = api.request("GET", "/v1/servers", token=None)
        assert refused.status_code == 401
        _, line = _logged(api, refused)
        # Refused before authentication: nobody's identity, its own request id.
        assert user not in line
        assert line.count(refused.headers["X-OpenStack-Request-Id"]) == 2


def test_the_token_value_is_never_logged(api):
    user = h.unique("secret-user-")
    project = h.unique("secret-project-")
    token = f"{user}:{project}"
    server = h.adopt(api, project_id=project)
    h.ok(api.request("GET", f"/v1/servers/{server['id']}", token=token))
    h.ok(api.request("POST", h.snapshot_path(server["id"]), token=token,
                     json={"snapshot": {"name": "n"}}), 202)
    h.wait_idle(api, server["id"], token)
    h.assert_fault(api.request("POST", h.snapshot_path(server["id"]), token=token,
                               json={"snapshot": {"bogus": 1}}), 400)
    refused_token = h.unique("refused-token-value-")  # no ':' : not a token
    h.assert_fault(api.request("GET", "/v1/servers", token=refused_token), 401)
    bad_chars = h.unique("bad user ") + ":" + h.unique("proj-")
    h.assert_fault(api.request("GET", "/v1/servers", token=bad_chars), 401)
    log = api.read_log()
    assert f"{user} {project}" in log  # the caller is logged, as context
    assert token not in log
    assert refused_token not in log
    assert bad_chars not in log and bad_chars.split(":")[0] not in log
