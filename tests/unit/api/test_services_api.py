"""/v1/os-services: administrators list the compute services (up or down,
their drivers) and disable one with a reason; others are refused before
anything is read; bad bodies change nothing."""

import datetime

from oslo_utils import timeutils
import pytest

from nativesnap import context as ns_context
from nativesnap.objects import service as service_obj
from tests.unit.api.test_baremetal_api import App
from tests.unit.api.test_baremetal_api import fault
from tests.unit.api.test_baremetal_api import NO_UUID

ADMIN = "admin:ops"
MEMBER = "alice:p1"


@pytest.fixture
def app(sqlite_database, tmp_path, config, default_policies):
    context = ns_context.get_admin_context()
    service_obj.Service.heartbeat(context, "host-a", {"libvirt": {
        "host_free": False}, "vmware": {"host_free": True}}, "1.2")
    service_obj.Service.heartbeat(context, "host-b", {"libvirt": {
        "host_free": False}}, "1.2")
    gone = service_obj.Service.get_by_host(context, "host-b")
    gone.last_seen_at = timeutils.utcnow() - datetime.timedelta(minutes=5)
    gone.save()
    yield App()


def _by_host(app):
    resp = app.request("GET", "/v1/os-services", token=ADMIN)
    assert resp.status_code == 200, resp.text
    return {s["host"]: s for s in resp.json["services"]}


def test_the_list_shows_each_service_up_or_down_with_its_drivers(app):
    services = _by_host(app)
    assert services["host-a"]["state"] == "up"
    assert services["host-a"]["drivers"] == ["libvirt", "vmware"]
    assert services["host-a"]["host_free_drivers"] == ["vmware"]
    assert services["host-a"]["status"] == "enabled"
    assert services["host-b"]["state"] == "down"
    assert services["host-b"]["binary"] == "nativesnap-compute"


def test_an_administrator_disables_a_service_with_a_reason_and_enables_it(app):
    service_id = _by_host(app)["host-a"]["id"]
    resp = app.request("PUT", f"/v1/os-services/{service_id}", token=ADMIN,
                       body={"service": {"status": "disabled",
                                         "disabled_reason": "firmware"}})
    assert resp.status_code == 200, resp.text
    assert resp.json["service"]["status"] == "disabled"
    assert _by_host(app)["host-a"]["disabled_reason"] == "firmware"
    resp = app.request("PUT", f"/v1/os-services/{service_id}", token=ADMIN,
                       body={"service": {"status": "enabled"}})
    assert resp.json["service"]["status"] == "enabled"
    assert resp.json["service"]["disabled_reason"] is None


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/v1/os-services", None),
    ("PUT", f"/v1/os-services/{NO_UUID}", {"service": {"status": "enabled"}}),
])
def test_members_are_refused(app, method, path, body):
    resp = app.request(method, path, token=MEMBER, body=body)
    fault(resp, 403)


@pytest.mark.parametrize("body", [
    {"service": {"status": "off"}},
    {"service": {"disabled_reason": "x"}},
    {"service": {"status": "disabled", "disabled_reason": "a\nb"}},
    {"service": {"status": "disabled", "host": "other"}},
    {"status": "disabled"},
])
def test_bad_bodies_are_refused_and_change_nothing(app, body):
    before = _by_host(app)
    service_id = before["host-a"]["id"]
    resp = app.request("PUT", f"/v1/os-services/{service_id}", token=ADMIN,
                       body=body)
    fault(resp, 400)
    after = _by_host(app)
    for view in (before, after):
        for service in view.values():
            service.pop("last_seen_at"), service.pop("updated_at")
    assert after == before


def test_an_unknown_service_is_a_404(app):
    resp = app.request("PUT", f"/v1/os-services/{NO_UUID}", token=ADMIN,
                       body={"service": {"status": "enabled"}})
    assert "could not be found" in fault(resp, 404)
