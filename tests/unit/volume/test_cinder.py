"""CinderAPI against a scripted local HTTP peer: the URLs and bodies it sends,
which failures it repeats and which it does not, what its errors say.

The peer is a stdlib HTTP server in this process that plays Cinder's (and for
one test Keystone's) side from a script, one step per request; the real
cinder-api is in tests/functional/test_cinder_callbacks.py.
"""

import logging

import pytest

from nativesnap.conf import cinder as cinder_conf
from nativesnap import exception
from nativesnap.volume import cinder
from tests.unit.volume.cinder_peer import ACCEPTED
from tests.unit.volume.cinder_peer import answer
from tests.unit.volume.cinder_peer import DROP
from tests.unit.volume.cinder_peer import keystone_token
from tests.unit.volume.cinder_peer import make_conf
from tests.unit.volume.cinder_peer import noauth_api
from tests.unit.volume.cinder_peer import PROJECT
from tests.unit.volume.cinder_peer import SECRET_TOKEN
from tests.unit.volume.cinder_peer import SNAPSHOT_ID
from tests.unit.volume.cinder_peer import token_api
from tests.unit.volume.cinder_peer import VOLUME_ID
from tests.unit.volume.cinder_peer import WAIT


def test_cinder_section_defaults_are_three_retries_volumev3_and_a_bounded_timeout(
        tmp_path):
    opts = make_conf(tmp_path).cinder
    assert opts.http_retries == 3
    assert opts.service_type == "volumev3"
    assert opts.valid_interfaces == ["internal", "public"]
    assert opts.timeout == cinder_conf.DEFAULT_TIMEOUT
    assert opts.endpoint_template is None
    assert opts.auth_type is None


def test_cinder_section_leaves_keystoneauth_retries_out_so_they_cannot_multiply(
        tmp_path):
    opts = make_conf(tmp_path).cinder
    for name in ("connect_retries", "status_code_retries"):
        assert name not in opts


def test_sample_lists_the_cinder_options_with_the_password_plugin():
    names = {opt.dest for opt in cinder_conf.list_opts()[cinder_conf.cinder_group]}
    assert {"endpoint_template", "http_retries", "timeout", "auth_type",
            "service_type", "endpoint_override", "password", "auth_url"} <= names


def test_no_auth_type_fails_with_a_message_naming_the_option(tmp_path):
    api = cinder.CinderAPI(make_conf(tmp_path, endpoint_template="http://x/v3"))
    with pytest.raises(exception.CinderCallFailed, match=r"\[cinder\] auth_type"):
        api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "creating", "90%")


def test_an_endpoint_template_with_another_placeholder_is_refused_before_sending(
        tmp_path, peer_factory):
    peer = peer_factory(ACCEPTED)
    api = noauth_api(tmp_path, peer, endpoint_template=f"{peer.url}/v3/%(tenant)s")
    with pytest.raises(exception.CinderCallFailed, match="endpoint_template"):
        api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "creating", "90%")
    assert peer.seen == []


# --- what is sent --------------------------------------------------------------


def test_status_update_posts_cinders_action_under_the_calls_project(
        tmp_path, peer_factory):
    peer = peer_factory(ACCEPTED)
    noauth_api(tmp_path, peer).update_snapshot_status(
        PROJECT, SNAPSHOT_ID, "creating", "90%")
    (request,) = peer.seen
    assert request["method"] == "POST"
    assert request["path"] == f"/v3/{PROJECT}/snapshots/{SNAPSHOT_ID}/action"
    assert request["body"] == {"os-update_snapshot_status": {
        "status": "creating", "progress": "90%"}}
    # Cinder's noauth takes "<user>:<project>"; the project must be the URL's.
    assert request["headers"]["X-Auth-Token"] == f"nativesnap:{PROJECT}"


def test_status_update_without_progress_sends_the_status_only(tmp_path, peer_factory):
    peer = peer_factory(ACCEPTED)
    noauth_api(tmp_path, peer).update_snapshot_status(PROJECT, SNAPSHOT_ID,
                                                      "error_deleting")
    assert peer.seen[0]["body"] == {"os-update_snapshot_status": {
        "status": "error_deleting"}}


def test_a_numeric_progress_is_sent_as_a_percentage(tmp_path, peer_factory):
    peer = peer_factory(ACCEPTED)
    noauth_api(tmp_path, peer).update_snapshot_status(PROJECT, SNAPSHOT_ID,
                                                      "creating", 90)
    assert peer.seen[0]["body"]["os-update_snapshot_status"]["progress"] == "90%"


def test_the_project_is_quoted_into_one_path_segment(tmp_path, peer_factory):
    peer = peer_factory(ACCEPTED)
    noauth_api(tmp_path, peer).update_snapshot_status("a/../b", SNAPSHOT_ID,
                                                      "creating", "90%")
    assert peer.seen[0]["path"] == f"/v3/a%2F..%2Fb/snapshots/{SNAPSHOT_ID}/action"


def test_an_id_that_is_not_a_uuid_is_never_sent(tmp_path, peer_factory):
    peer = peer_factory(ACCEPTED)
    api = noauth_api(tmp_path, peer)
    with pytest.raises(exception.CinderCallFailed, match="not sent"):
        api.update_snapshot_status(PROJECT, "../volumes/x", "creating")
    with pytest.raises(exception.CinderCallFailed, match="not sent"):
        api.get_volume(PROJECT, "x/y")
    assert peer.seen == []


def test_create_snapshot_forces_and_returns_cinders_view(tmp_path, peer_factory):
    peer = peer_factory(answer(202, {"snapshot": {
        "id": SNAPSHOT_ID, "status": "creating", "volume_id": VOLUME_ID,
        "name": "s1", "os-extended-snapshot-attributes:progress": "0%"}}))
    view = noauth_api(tmp_path, peer).create_snapshot(
        PROJECT, VOLUME_ID, "s1", description="d", metadata={"k": "v"})
    assert view["id"] == SNAPSHOT_ID and view["status"] == "creating"
    assert view["progress"] == "0%"
    (request,) = peer.seen
    assert request["path"] == f"/v3/{PROJECT}/snapshots"
    sent = request["body"]["snapshot"]
    assert sent["volume_id"] == VOLUME_ID and sent["force"] is True
    assert (sent["name"], sent["description"], sent["metadata"]) == ("s1", "d",
                                                                     {"k": "v"})


def test_get_snapshot_and_volume_read_cinders_views(tmp_path, peer_factory):
    peer = peer_factory(
        answer(200, {"snapshot": {"id": SNAPSHOT_ID, "status": "creating",
                                  "os-extended-snapshot-attributes:progress": "90%",
                                  "os-extended-snapshot-attributes:project_id":
                                      PROJECT}}),
        answer(200, {"volume": {"id": VOLUME_ID, "status": "in-use", "size": 1}}))
    api = noauth_api(tmp_path, peer)
    snapshot = api.get_snapshot(PROJECT, SNAPSHOT_ID)
    assert (snapshot["status"], snapshot["progress"], snapshot["project_id"]) == (
        "creating", "90%", PROJECT)
    assert api.get_volume(PROJECT, VOLUME_ID)["status"] == "in-use"
    assert [r["path"] for r in peer.seen] == [
        f"/v3/{PROJECT}/snapshots/{SNAPSHOT_ID}", f"/v3/{PROJECT}/volumes/{VOLUME_ID}"]


def test_noauth_without_a_template_uses_the_plugins_endpoint_and_the_calls_project(
        tmp_path, peer_factory):
    peer = peer_factory(ACCEPTED)
    api = cinder.CinderAPI(make_conf(
        tmp_path, auth_type="noauth", user_id="nativesnap",
        endpoint=f"{peer.url}/v3", http_retry_delay="0.01", timeout="5"))
    api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "creating", "90%")
    assert peer.seen[0]["path"] == f"/v3/{PROJECT}/snapshots/{SNAPSHOT_ID}/action"
    assert peer.seen[0]["headers"]["X-Auth-Token"] == f"nativesnap:{PROJECT}"


def test_an_incomplete_auth_plugin_configuration_fails_without_an_attempt(tmp_path):
    api = cinder.CinderAPI(make_conf(tmp_path, auth_type="noauth",
                                     endpoint="http://x/v3"))  # no user_id
    with pytest.raises(exception.CinderCallFailed, match="not sent") as failed:
        api.get_volume(PROJECT, VOLUME_ID)
    assert failed.value.attempts == 0


def test_admin_token_is_sent_as_is_and_the_url_names_the_calls_project(
        tmp_path, peer_factory):
    peer = peer_factory(ACCEPTED)
    token_api(tmp_path, peer).update_snapshot_status(PROJECT, SNAPSHOT_ID,
                                                     "creating", "90%")
    assert peer.seen[0]["headers"]["X-Auth-Token"] == SECRET_TOKEN
    assert peer.seen[0]["path"].startswith(f"/v3/{PROJECT}/")


def test_keystone_credentials_call_the_catalogs_cinder_in_the_tokens_project(
        tmp_path, peer_factory):
    cinder_peer = peer_factory(ACCEPTED)
    keystone = peer_factory(answer(201, keystone_token(cinder_peer.url, "5e7a1ce"),
                                   headers={"X-Subject-Token": "keystone-token-1"}))
    api = cinder.CinderAPI(make_conf(
        tmp_path, auth_type="v3password", auth_url=f"{keystone.url}/v3",
        username="nativesnap", password="pw", project_name="service",
        user_domain_id="default", project_domain_id="default",
        valid_interfaces="internal", http_retry_delay="0.01", timeout="5"))
    api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "creating", "90%")
    assert keystone.seen[0]["path"] == "/v3/auth/tokens"
    (request,) = cinder_peer.seen
    # Cinder refuses a URL whose project is not the token's.
    assert request["path"] == f"/v3/5e7a1ce/snapshots/{SNAPSHOT_ID}/action"
    assert request["headers"]["X-Auth-Token"] == "keystone-token-1"


# --- what is repeated ----------------------------------------------------------


def test_dropped_connections_are_repeated_until_cinder_answers(tmp_path, peer_factory):
    peer = peer_factory(DROP, DROP, ACCEPTED)
    noauth_api(tmp_path, peer, http_retries=3).update_snapshot_status(
        PROJECT, SNAPSHOT_ID, "creating", "90%")
    assert len(peer.seen) == 3


def test_5xx_answers_are_repeated(tmp_path, peer_factory):
    peer = peer_factory(answer(503, {"computeFault": {"message": "busy"}}),
                        answer(500, {"computeFault": {"message": "oops"}}), ACCEPTED)
    noauth_api(tmp_path, peer).update_snapshot_status(PROJECT, SNAPSHOT_ID,
                                                      "creating", "90%")
    assert len(peer.seen) == 3


def test_a_timed_out_status_update_is_repeated(tmp_path, peer_factory):
    peer = peer_factory(answer(202, delay=WAIT), ACCEPTED)
    noauth_api(tmp_path, peer, timeout="2").update_snapshot_status(
        PROJECT, SNAPSHOT_ID, "creating", "90%")
    assert len(peer.seen) == 2


def test_retries_stop_after_http_retries_and_the_error_counts_the_attempts(
        tmp_path, peer_factory):
    peer = peer_factory(DROP)
    api = noauth_api(tmp_path, peer, http_retries=2)
    with pytest.raises(exception.CinderCallFailed) as failed:
        api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "creating", "90%")
    assert len(peer.seen) == 3
    assert failed.value.attempts == 3 and failed.value.status is None
    assert failed.value.code == 502
    assert SNAPSHOT_ID in str(failed.value)
    assert "update_snapshot_status(status=creating, progress=90%)" in str(failed.value)


def test_zero_http_retries_means_one_attempt(tmp_path, peer_factory):
    peer = peer_factory(DROP)
    with pytest.raises(exception.CinderCallFailed):
        noauth_api(tmp_path, peer, http_retries=0).get_snapshot(PROJECT, SNAPSHOT_ID)
    assert len(peer.seen) == 1


def test_a_4xx_is_not_repeated_and_its_message_is_in_the_error(tmp_path, peer_factory):
    peer = peer_factory(answer(400, {"badRequest": {
        "code": 400, "message": "Provided snapshot status deleting not allowed "
                                "for snapshot with status creating."}}))
    api = noauth_api(tmp_path, peer, http_retries=3)
    with pytest.raises(exception.CinderCallFailed) as failed:
        api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "deleting", "90%")
    assert len(peer.seen) == 1
    assert failed.value.status == 400 and failed.value.attempts == 1
    message = str(failed.value)
    assert "not allowed for snapshot with status creating" in message
    assert SNAPSHOT_ID in message and "update_snapshot_status" in message


def test_a_404_is_not_repeated(tmp_path, peer_factory):
    peer = peer_factory(answer(404, {"itemNotFound": {"code": 404, "message": "gone"}}))
    with pytest.raises(exception.CinderCallFailed) as failed:
        noauth_api(tmp_path, peer).get_volume(PROJECT, VOLUME_ID)
    assert failed.value.status == 404 and len(peer.seen) == 1
    assert VOLUME_ID in str(failed.value) and "gone" in str(failed.value)


def test_create_snapshot_is_not_repeated_after_a_5xx(tmp_path, peer_factory):
    # Cinder may have made the record before failing: a second creation
    # would leave two.
    peer = peer_factory(answer(500, {"computeFault": {"message": "oops"}}))
    with pytest.raises(exception.CinderCallFailed) as failed:
        noauth_api(tmp_path, peer).create_snapshot(PROJECT, VOLUME_ID, "s1")
    assert failed.value.status == 500 and len(peer.seen) == 1


def test_create_snapshot_is_not_repeated_after_a_timeout(tmp_path, peer_factory):
    peer = peer_factory(answer(202, {"snapshot": {"id": SNAPSHOT_ID}}, delay=WAIT))
    with pytest.raises(exception.CinderCallFailed, match="timed out"):
        noauth_api(tmp_path, peer, timeout="2").create_snapshot(
            PROJECT, VOLUME_ID, "s1")
    assert len(peer.seen) == 1


def test_create_snapshot_is_repeated_when_the_connection_failed(tmp_path, peer_factory):
    peer = peer_factory(DROP, answer(202, {"snapshot": {"id": SNAPSHOT_ID,
                                                        "status": "creating"}}))
    view = noauth_api(tmp_path, peer).create_snapshot(PROJECT, VOLUME_ID, "s1")
    assert view["id"] == SNAPSHOT_ID and len(peer.seen) == 2


def test_a_status_update_answered_204_is_a_failure_not_a_success(
        tmp_path, peer_factory):
    # Cinder's noauth middleware answers 204 to a request without a token,
    # before any action runs: the snapshot was not updated.
    peer = peer_factory(answer(204))
    api = cinder.CinderAPI(make_conf(
        tmp_path, auth_type="none", endpoint=f"{peer.url}/v3",
        endpoint_template=f"{peer.url}/v3/%(project_id)s"))
    with pytest.raises(exception.CinderCallFailed, match="204") as failed:
        api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "creating", "90%")
    assert failed.value.status == 204 and len(peer.seen) == 1


# --- tokens stay secret --------------------------------------------------------


def test_the_token_is_in_no_log_record_and_no_error(tmp_path, peer_factory, caplog):
    peer = peer_factory(DROP, ACCEPTED, answer(400, {"badRequest": {
        "code": 400, "message": "no"}}))
    api = token_api(tmp_path, peer)
    caplog.set_level(logging.DEBUG)
    api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "creating", "90%")
    with pytest.raises(exception.CinderCallFailed) as failed:
        api.update_snapshot_status(PROJECT, SNAPSHOT_ID, "available")
    # The token was used, the requests were logged (keystoneauth logs them at
    # DEBUG), the repetition was logged, and the token is nowhere.
    assert all(r["headers"]["X-Auth-Token"] == SECRET_TOKEN for r in peer.seen)
    assert f"/snapshots/{SNAPSHOT_ID}/action" in caplog.text
    assert "repeating it" in caplog.text
    assert SECRET_TOKEN not in caplog.text
    assert SECRET_TOKEN not in str(failed.value)
