"""nativesnap's Cinder calls against the real cinder-api (tests/cinder_fixtures.py).

What nativesnap sends is checked where Cinder keeps it: the rows of Cinder's
database, read through Cinder's own object layer; how many requests Cinder
served is read from its request log.
"""

from oslo_config import cfg
import pytest

from nativesnap.conf import cinder as cinder_conf
from nativesnap import exception
from nativesnap.volume import cinder as cinder_volume
from tests import fixtures

pytest_plugins = ["tests.cinder_fixtures"]


def api_for(tmp_path, sections):
    """CinderAPI configured by ``sections`` written the way the functional
    tests' nativesnap-api gets them (tests.fixtures.APIServer's extra_conf)."""
    server = fixtures.APIServer(str(tmp_path), fixtures.sqlite_url(str(tmp_path)),
                                extra_conf=sections)
    conf = cfg.ConfigOpts()
    cinder_conf.register_opts(conf)
    conf([], project="nativesnap", default_config_files=[server.conf_path],
         default_config_dirs=[])
    return cinder_volume.CinderAPI(conf)


@pytest.fixture
def cinder_api(cinder, tmp_path):
    return api_for(tmp_path, cinder.nativesnap_conf())


@pytest.fixture
def creating_snapshot(cinder):
    return cinder.create_snapshot(cinder.create_volume(), status="creating")


@pytest.fixture
def deleting_snapshot(cinder):
    return cinder.create_snapshot(cinder.create_volume(), status="deleting")


def test_creating_snapshot_updated_to_creating_90_percent_is_in_cinders_database(
        cinder, cinder_api, creating_snapshot):
    cinder_api.update_snapshot_status(cinder.project_id, creating_snapshot,
                                      "creating", "90%")
    row = cinder.snapshot(creating_snapshot)
    assert (row["status"], row["progress"]) == ("creating", "90%")


def test_creating_snapshot_updated_to_error_is_in_cinders_database(
        cinder, cinder_api, creating_snapshot):
    cinder_api.update_snapshot_status(cinder.project_id, creating_snapshot,
                                      "error", "90%")
    assert cinder.snapshot(creating_snapshot)["status"] == "error"


def test_deleting_snapshot_updated_to_deleting_90_percent_is_in_cinders_database(
        cinder, cinder_api, deleting_snapshot):
    cinder_api.update_snapshot_status(cinder.project_id, deleting_snapshot,
                                      "deleting", "90%")
    row = cinder.snapshot(deleting_snapshot)
    assert (row["status"], row["progress"]) == ("deleting", "90%")


def test_deleting_snapshot_updated_to_error_deleting_is_in_cinders_database(
        cinder, cinder_api, deleting_snapshot):
    cinder_api.update_snapshot_status(cinder.project_id, deleting_snapshot,
                                      "error_deleting")
    assert cinder.snapshot(deleting_snapshot)["status"] == "error_deleting"


def test_status_read_back_through_cinders_api_is_what_was_sent(
        cinder, cinder_api, creating_snapshot):
    cinder_api.update_snapshot_status(cinder.project_id, creating_snapshot,
                                      "creating", "90%")
    view = cinder_api.get_snapshot(cinder.project_id, creating_snapshot)
    assert (view["id"], view["status"], view["progress"]) == (
        creating_snapshot, "creating", "90%")


def test_illegal_transition_is_cinders_400_as_cinder_call_failed_sent_once(
        cinder, cinder_api, creating_snapshot):
    path = f"/snapshots/{creating_snapshot}/action"
    with pytest.raises(exception.CinderCallFailed) as failed:
        cinder_api.update_snapshot_status(cinder.project_id, creating_snapshot,
                                          "deleting", "90%")
    assert failed.value.status == 400 and failed.value.attempts == 1
    message = str(failed.value)
    assert creating_snapshot in message
    assert "update_snapshot_status(status=deleting, progress=90%)" in message
    # Cinder's own words: "Provided snapshot status deleting not allowed for
    # snapshot with status creating."
    assert "not allowed for snapshot with status creating" in message
    # A read sent after the failed call returned: once Cinder has logged it,
    # it has logged every attempt of that call.
    cinder_api.get_snapshot(cinder.project_id, creating_snapshot)
    cinder.wait_logged("GET", f"/snapshots/{creating_snapshot} ")
    assert cinder.requests_logged("POST", path) == 1
    row = cinder.snapshot(creating_snapshot)
    assert (row["status"], row["progress"]) == ("creating", None)


def test_status_update_of_an_available_snapshot_is_refused_by_cinder(
        cinder, cinder_api):
    snapshot = cinder.create_snapshot(cinder.create_volume(), status="available")
    with pytest.raises(exception.CinderCallFailed, match="not allowed") as failed:
        cinder_api.update_snapshot_status(cinder.project_id, snapshot, "creating")
    assert failed.value.status == 400
    assert cinder.snapshot(snapshot)["status"] == "available"


def test_unknown_snapshot_is_cinders_404_not_repeated(cinder, cinder_api):
    missing = "7d7f1e2a-0c8b-4c55-9d55-0a7c8f1e2b3c"
    with pytest.raises(exception.CinderCallFailed) as failed:
        cinder_api.update_snapshot_status(cinder.project_id, missing, "creating")
    assert failed.value.status == 404 and failed.value.attempts == 1
    assert missing in str(failed.value)


def test_create_snapshot_of_in_use_volume_is_recorded_then_finalised_available(
        cinder, cinder_api):
    volume = cinder.create_volume(status="in-use")
    view = cinder_api.create_snapshot(cinder.project_id, volume, "with-volumes",
                                      description="server snapshot s1",
                                      metadata={"nativesnap_snapshot": "s1"})
    assert view["status"] == "creating" and view["volume_id"] == volume
    row = cinder.snapshot(view["id"])
    assert (row["status"], row["volume_id"], row["project_id"], row["display_name"]) \
        == ("creating", volume, cinder.project_id, "with-volumes")

    cinder_api.update_snapshot_status(cinder.project_id, view["id"], "available")
    assert cinder.snapshot(view["id"])["status"] == "available"
    # The volume is untouched by its snapshot's life.
    assert cinder.volume(volume)["status"] == "in-use"


def test_get_volume_reads_the_volume_cinder_holds(cinder, cinder_api):
    volume = cinder.create_volume(size_gb=2, status="in-use")
    view = cinder_api.get_volume(cinder.project_id, volume)
    assert (view["id"], view["status"], view["size"]) == (volume, "in-use", 2)


def test_unreachable_cinder_is_tried_http_retries_plus_one_times_then_fails(
        cinder, tmp_path, caplog, creating_snapshot):
    # A port nothing listens on: every attempt is refused.
    nowhere = f"http://127.0.0.1:{fixtures.free_port()}/v3"
    api = api_for(tmp_path, cinder.nativesnap_conf(
        endpoint=nowhere, endpoint_template=nowhere + "/%(project_id)s",
        http_retries=2, http_retry_delay=0.01, timeout=5))
    caplog.set_level("WARNING", logger=cinder_volume.__name__)
    with pytest.raises(exception.CinderCallFailed,
                       match="Unable to establish connection") as failed:
        api.update_snapshot_status(cinder.project_id, creating_snapshot,
                                   "creating", "90%")
    assert failed.value.attempts == 3 and failed.value.status is None
    assert caplog.text.count("repeating it") == 2
    # Nothing reached the real Cinder: its row is as it was.
    assert cinder.snapshot(creating_snapshot)["progress"] is None
