"""The web console (/ui/, docs/console.md) in a real browser, against a real
nativesnap-api with the fake driver on sqlite (and the bare-metal driver,
whose adopted servers need nothing but an enrolled node's record, so the
server list has two drivers to filter by).

One API process and one headless Chromium for the whole module. Every action
is done by clicking, then checked in the API; every test ends with no SEVERE
entry in the browser's console but those it declares (the network line
Chromium logs for a refusal the test causes on purpose). The screenshots of
docs/console.md are taken here too, of a project of their own.
"""

import os
import uuid

import pytest
import requests
from selenium.webdriver.support.ui import Select

from tests import fixtures
from tests.functional import helpers as h
from tests.functional.console_helpers import Browser

ADMIN = h.ADMIN
ALICE = "alice:project-a"
PROJECT_A = "project-a"
PROJECT_B = "project-b"
# The screenshots' (and the filters') own project: nothing else lands in it.
MARIA = "maria:prod"
PROD = "prod"
XSS = "<img src=x onerror=alert(1)>"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
       "img-src 'self'; connect-src 'self'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
TASK_DELAY = 0.6  # seconds a task of a slow-* server takes


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    state = str(tmp_path_factory.mktemp("api-console"))
    # The bare-metal driver only lists a server here and never transfers: its
    # store is a directory of this API's own, not the WebDAV server the
    # bare-metal tests start (which need not have run before this module).
    webdav_root = os.path.join(state, "webdav")
    os.makedirs(webdav_root)
    user_file = os.path.join(state, "htpasswd")
    open(user_file, "w").close()
    server = fixtures.APIServer(
        state, fixtures.sqlite_url(state), drivers=("fake", "baremetal"),
        extra_conf={"fake": {"task_delay": str(TASK_DELAY)},
                    "baremetal": {"webdav_root": webdav_root,
                                  "webdav_user_file": user_file}})
    server.manage("db", "sync")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(api):
    b = Browser(api.url)
    yield b
    b.quit()


@pytest.fixture
def expected_console_errors():
    """Browser console messages a test causes on purpose (see ``refused``)."""
    return []


@pytest.fixture(autouse=True)
def no_console_errors(browser, expected_console_errors):
    since = len(browser.console_entries())
    yield
    assert browser.console_errors(allowed=expected_console_errors,
                                  since=since) == []
    # What a test allows, it caused: an allowance never hides anything else.
    seen = [e["message"] for e in browser.console_entries()[since:]
            if e["level"] == "SEVERE"]
    for allowed in expected_console_errors:
        assert any(allowed in message for message in seen), (allowed, seen)


def refused(api, path, status):
    """The line Chromium logs for a request to exactly ``path`` that answered
    ``status`` (followed by the status text)."""
    return (f"{api.url}{path} - Failed to load resource: the server responded "
            f"with a status of {status} ")


@pytest.fixture(scope="module")
def fleet(api):
    """A project's servers as an operator's look (the screenshots' and the
    filters' data): {name: server}, and db-01's snapshots by name."""
    servers = {}
    for name in ("web-01", "web-02", "db-01", "db-02"):
        servers[name] = adopt(api, PROD, name=name)
    node = h.ok(api.request("POST", "/v1/baremetal/nodes", json={"node": {
        "name": "rack1-node-07", "agent_url": "https://10.0.0.5:9999",
        "agent_token": uuid.uuid4().hex}}), 201)["node"]
    servers["bm-01"] = h.ok(api.request("POST", "/v1/servers", json={"server": {
        "name": "bm-01", "driver": "baremetal", "hypervisor_ref": node["name"],
        "project_id": PROD}}), 201)["server"]
    take(api, servers["web-01"], "nightly-2024-06-01", MARIA)
    take(api, servers["web-01"], "before-deploy-v2.8", MARIA)
    db = servers["db-01"]["id"]
    snaps = {}
    snaps["initial-install"] = take(api, servers["db-01"], "initial-install", MARIA,
                                    description="PostgreSQL 15, empty cluster")
    snaps["before-upgrade"] = take(api, servers["db-01"], "before-upgrade", MARIA,
                                   memory=True,
                                   description="before the 15 -> 16 upgrade")
    snaps["after-upgrade-16.2"] = take(api, servers["db-01"], "after-upgrade-16.2",
                                       MARIA)
    revert_to(api, db, snaps["before-upgrade"]["id"], MARIA)
    snaps["schema-migration-test"] = take(api, servers["db-01"],
                                          "schema-migration-test", MARIA,
                                          quiesce="off")
    snaps["nightly-2024-06-01"] = take(api, servers["db-01"], "nightly-2024-06-01",
                                       MARIA)
    servers["db-01-staging"] = h.spawn(api, snaps["after-upgrade-16.2"]["id"],
                                       token=MARIA, name="db-01-staging")
    image = h.export(api, db, snaps["before-upgrade"]["id"], token=MARIA,
                     image_name="db-01-before-upgrade")
    wait_image(api, image["id"], MARIA)
    pre = take(api, servers["db-02"], "pre-maintenance", MARIA)
    resp = api.request("POST", f"/v1/servers/{servers['db-02']['id']}/action",
                       token=MARIA, json={"revert": {
                           "snapshot_id": pre["id"], "power_on": False}})
    h.ok(resp, 202)
    servers["db-02"] = h.wait_idle(api, servers["db-02"]["id"], MARIA)
    assert servers["db-02"]["status"] == "SHUTOFF"
    return servers, snaps


# --- helpers ------------------------------------------------------------------------


def adopt(api, project, name=None, prefix="vm-"):
    """A fresh fake server of ``project`` (``prefix`` slow- makes it slow)."""
    return h.adopt(api, project_id=project, prefix=prefix, name=name)


def take(api, server, name, token=ALICE, **fields):
    snapshot = h.create_snapshot(api, server["id"], token, name=name, **fields)
    assert snapshot["status"] == "available", snapshot
    return snapshot


def revert_to(api, server_id, snapshot_id, token=ALICE):
    h.ok(h.revert(api, server_id, snapshot_id, token), 202)
    h.wait_idle(api, server_id, token)


def snapshots(api, server_id, token=ALICE):
    return h.ok(api.request("GET", f"/v1/servers/{server_id}/snapshots?limit=1000",
                            token=token, headers={h.MICROVERSION: "snapshot 1.2"})
                )["snapshots"]


def wait_image(api, image_id, token):
    def active():
        image = h.ok(api.request("GET", f"/v1/images/{image_id}", token=token))["image"]
        assert image["status"] in ("queued", "saving", "active"), image
        return image if image["status"] == "active" else None
    return api.wait_for(active, what=f"image {image_id} to be active")


def as_user(browser, token):
    """The console signed in as ``token`` (a new session if it is another)."""
    if browser.signed_in_token() != token:
        browser.new_session()
        browser.sign_in(token)


def server_page(browser, token, server_id):
    as_user(browser, token)
    browser.open(f"#/servers/{server_id}", view="server")


def card(snapshot_id):
    return f'#tree .card[data-snapshot-id="{snapshot_id}"]'


def current_card_ids(browser):
    return [c.get_attribute("data-snapshot-id")
            for c in browser.find_all("#tree .card.current")]


def dialog_open(browser):
    return browser.driver.execute_script(
        "return document.getElementById('dialog').open;")


def confirm(browser):
    browser.wait(lambda: dialog_open(browser), what="the dialog")
    browser.click("#dialog-confirm")
    browser.wait(lambda: not dialog_open(browser), what="the dialog to close")


def fault_text(browser):
    return browser.wait(
        lambda: browser.find("#fault").is_displayed() and browser.text("#fault"),
        what="a fault")


def row_ids(browser):
    return [r.get_attribute("data-server-id")
            for r in browser.find_all("#servers tr.server-row[data-server-id]")]


def here_after(browser):
    """The snapshot id of the li.node the NOW node follows in its list, or
    else the one whose branch it is in."""
    return browser.driver.execute_script("""
        const here = document.getElementById('you-are-here');
        const prev = here.previousElementSibling;
        if (prev && prev.matches('li.node[data-snapshot-id]')) return prev.dataset.snapshotId;
        const owner = here.parentElement.closest('li.node[data-snapshot-id]');
        return owner ? owner.dataset.snapshotId : null;""")


# --- the tree -----------------------------------------------------------------------


def test_a_tree_of_seven_snapshots_with_two_branches_is_drawn_as_the_api_lists_it(
        api, browser):
    server = adopt(api, PROJECT_A)
    sid = server["id"]
    a, b, c, d = (take(api, server, name) for name in (
        "base-os", "before-upgrade", "upgrade-attempt-1", "upgrade-attempt-1-fixed"))
    revert_to(api, sid, b["id"])
    e, f, g = (take(api, server, name) for name in (
        "upgrade-attempt-2", "config-tuned", "before-go-live"))
    # Back to the end of the first branch: the current snapshot is neither
    # the newest nor on the last branch taken.
    revert_to(api, sid, d["id"])
    listed = snapshots(api, sid)
    assert len(listed) == 7
    expected = {s["id"]: s["parent_id"] for s in listed}
    assert expected[c["id"]] == expected[e["id"]] == b["id"]  # the fork
    assert [s["id"] for s in listed if s["is_current"]] == [d["id"]]

    server_page(browser, ALICE, sid)
    assert browser.tree_shape() == expected
    assert len(browser.find_all("#tree ul.branch")) == 2
    assert current_card_ids(browser) == [d["id"]]
    assert len(browser.find_all("#you-are-here")) == 1
    assert here_after(browser) == d["id"]
    # The NOW node is in the first branch, right after d, not after g.
    assert browser.driver.execute_script(
        "return document.getElementById('you-are-here').previousElementSibling"
        ".dataset.snapshotId;") == d["id"]
    assert browser.text("#snapshot-count") == "7"
    assert browser.text(f"{card(g['id'])} .snap-name") == "before-go-live"


# --- actions by clicks ----------------------------------------------------------------


def test_taking_a_snapshot_by_clicks_shows_its_progress_then_it_is_available(
        api, browser):
    server = adopt(api, PROJECT_A, prefix="slow-")
    server_page(browser, ALICE, server["id"])
    # Every progress bar drawn on a node, whenever it is drawn (a task takes
    # TASK_DELAY seconds: polling the page from here could miss it).
    browser.driver.execute_script("""
        window.progressSeen = [];
        new MutationObserver(() => {
          for (const bar of document.querySelectorAll('#tree .card progress')) {
            const node = bar.closest('.card');
            window.progressSeen.push([node.dataset.snapshotId, node.className]);
          }
        }).observe(document.getElementById('main'), {childList: true, subtree: true});""")
    browser.find("#snap-name").send_keys("before-upgrade")
    browser.click("#take-submit")
    new_id = browser.wait(lambda: browser.find("#details").get_attribute(
        "data-snapshot-id"), what="the new snapshot selected")
    browser.wait(lambda: "status-available" in browser.find(card(new_id)).get_attribute(
        "class"), what="the snapshot to be available on the page")
    seen = browser.driver.execute_script("return window.progressSeen;")
    assert seen, "no progress bar was drawn while the snapshot was created"
    assert {snap_id for snap_id, _ in seen} == {new_id}
    assert any("status-creating" in classes for _, classes in seen), seen
    assert browser.find_all(f"{card(new_id)} progress") == []
    [listed] = snapshots(api, server["id"])
    assert (listed["id"], listed["name"], listed["status"]) == (
        new_id, "before-upgrade", "available")
    assert listed["is_current"]
    browser.wait(lambda: current_card_ids(browser) == [new_id],
                 what="the new snapshot marked current")


def test_revert_by_clicks_says_what_is_lost_and_moves_current_in_the_api_and_page(
        api, browser):
    server = adopt(api, PROJECT_A, name=h.unique("app-"))
    a = take(api, server, "before-upgrade")
    take(api, server, "after-upgrade")
    take(api, server, "config-change")
    server_page(browser, ALICE, server["id"])
    browser.select_snapshot(a["id"])
    browser.click("#action-revert")
    browser.wait(lambda: dialog_open(browser), what="the revert dialog")
    lost = browser.text("#revert-lost")
    assert "config-change" in lost and "is lost" in lost, lost
    assert server["name"] in lost
    assert "before-upgrade" in browser.text("#dialog-title")
    confirm(browser)
    api.wait_for(lambda: [s["id"] for s in snapshots(api, server["id"])
                          if s["is_current"]] == [a["id"]],
                 what="the API's current snapshot to move")
    browser.wait(lambda: current_card_ids(browser) == [a["id"]],
                 what="the page to mark it current")
    browser.wait(lambda: here_after(browser) == a["id"], what="NOW after it")
    h.wait_idle(api, server["id"], ALICE)


def test_delete_by_clicks_removes_the_snapshot_from_the_api_and_the_tree(api, browser):
    server = adopt(api, PROJECT_A)
    old = take(api, server, "nightly-2024-05-30")
    keep = take(api, server, "nightly-2024-05-31")
    server_page(browser, ALICE, server["id"])
    browser.select_snapshot(old["id"])
    browser.click("#action-delete")
    confirm(browser)
    api.wait_for(lambda: [s["id"] for s in snapshots(api, server["id"])] == [keep["id"]],
                 what="the API to stop listing it")
    browser.wait(lambda: not browser.find_all(card(old["id"])),
                 what="its node to disappear")
    assert browser.find_all(card(keep["id"]))
    assert browser.tree_shape() == {keep["id"]: None}


def test_a_delete_refused_for_its_linked_clone_shows_the_api_message_and_the_clone(
        api, browser, expected_console_errors):
    server = adopt(api, PROJECT_A)
    snap = take(api, server, "golden-image")
    clone = h.spawn(api, snap["id"], token=ALICE, name=h.unique("clone-"))
    assert clone["linked"] is True
    path = f"/v1/servers/{server['id']}/snapshots/{snap['id']}"
    expected_console_errors.append(refused(api, path, 409))
    server_page(browser, ALICE, server["id"])
    browser.select_snapshot(snap["id"])
    browser.click("#action-delete")
    confirm(browser)
    shown = fault_text(browser)
    # The same request through the API: refused with the same message.
    message = h.assert_fault(api.request("DELETE", path, token=ALICE), 409,
                             clone["id"])
    assert message in shown, (message, shown)
    assert shown.startswith("Refused (409):"), shown
    links = browser.find_all(
        f'#fault a.server-link[data-server-id="{clone["id"]}"]')
    assert links, "the dependent server is not a link"
    assert all(a.get_attribute("href").endswith(f"#/servers/{clone['id']}")
               for a in links)
    assert [s["id"] for s in snapshots(api, server["id"])] == [snap["id"]]
    assert browser.find_all(card(snap["id"]))


def open_action_dialog(browser, server, snap, action, fields):
    """On ``server``'s page as alice: select ``snap``, click its ``action``
    and fill the dialog's ``fields`` ({css: text})."""
    server_page(browser, ALICE, server["id"])
    browser.select_snapshot(snap["id"])
    browser.click(f"#action-{action}")
    browser.wait(lambda: dialog_open(browser), what=f"the {action} dialog")
    for css, text in fields.items():
        field = browser.find(css)
        field.clear()
        field.send_keys(text)


def test_spawn_by_clicks_makes_a_linked_clone_in_the_api(api, browser):
    server = adopt(api, PROJECT_A)
    snap = take(api, server, "release-2.8")
    name = h.unique("web-canary-")
    open_action_dialog(browser, server, snap, "spawn", {"#spawn-name": name})
    linked = browser.find("#spawn-linked")
    assert linked.is_enabled()  # the fake can make linked clones
    if not linked.is_selected():
        linked.click()
    confirm(browser)

    def spawned():
        found = [s for s in h.ok(api.request("GET", "/v1/servers?limit=1000",
                                             token=ALICE))["servers"]
                 if s["name"] == name]
        return found[0] if found else None
    new = api.wait_for(spawned, what="the spawned server")
    assert new["source_snapshot_id"] == snap["id"]
    assert new["linked"] is True
    assert new["project_id"] == PROJECT_A
    # Listed while its POST may still be starting the spawn task (the record
    # is made first, BUILD with no task yet): wait for the end of the spawn.
    new = api.wait_for(lambda: (lambda s: s if s["status"] != "BUILD" and s[
        "task_state"] is None else None)(h.get_server(api, new["id"], ALICE)),
        what="the spawned server to be built")
    assert new["status"] == "ACTIVE"
    # The page names it: the notice links to it.
    browser.wait(lambda: browser.find_all(
        f'#notice a.server-link[data-server-id="{new["id"]}"]'),
        what="the notice's link to the new server")


def test_export_by_clicks_makes_an_active_image_of_the_snapshot(api, browser):
    server = adopt(api, PROJECT_A)
    snap = take(api, server, "before-upgrade")
    image_name = h.unique("exported-")
    open_action_dialog(browser, server, snap, "export",
                       {"#export-name": image_name})
    confirm(browser)

    def exported():
        images = h.ok(api.request("GET", "/v1/images?limit=1000",
                                  token=ALICE))["images"]
        found = [i for i in images if i["snapshot_id"] == snap["id"]]
        return found if found and found[0]["status"] == "active" else None
    [image] = api.wait_for(exported, what="an active image of the snapshot")
    assert (image["name"], image["disk_format"], image["server_id"]) == (
        image_name, "qcow2", server["id"])
    assert [i["id"] for i in snapshots(api, server["id"])[0]["images"]] == [image["id"]]
    # The details panel lists it once the page has polled.
    browser.wait(lambda: image_name in browser.text('#details dd[data-field="images"]'),
                 what="the export in the details")


def test_a_take_refused_on_a_busy_server_shows_the_api_fault_message(
        api, browser, expected_console_errors):
    server = adopt(api, PROJECT_A, prefix="slow-")
    path = f"/v1/servers/{server['id']}/snapshots"
    expected_console_errors.append(refused(api, path, 409))
    server_page(browser, ALICE, server["id"])
    browser.find("#snap-name").send_keys("refused-take")
    h.ok(api.request("POST", path, token=ALICE,
                     json={"snapshot": {"name": "nightly"}}), 202)
    # The request the page sends, through the API, while the task runs.
    body = {"snapshot": {"name": "refused-take", "memory": False,
                         "quiesce": "preferred", "include_volumes": False}}
    message = h.assert_fault(api.request("POST", path, token=ALICE, json=body),
                             409, "busy")
    browser.click("#take-submit")
    shown = fault_text(browser)
    assert shown.startswith("Refused (409):"), shown
    assert message in shown, (message, shown)
    h.wait_idle(api, server["id"], ALICE)
    assert [s["name"] for s in snapshots(api, server["id"])] == ["nightly"]


# --- the server list ------------------------------------------------------------------


def test_a_member_sees_only_their_project_and_an_admin_sees_all_with_projects(
        api, browser):
    mine = adopt(api, PROJECT_A)
    theirs = adopt(api, PROJECT_B)
    project_a = {s["id"] for s in h.ok(api.request(
        "GET", "/v1/servers?limit=1000", token=ALICE))["servers"]}
    everyone = {s["id"]: s["project_id"] for s in h.ok(api.request(
        "GET", "/v1/servers?limit=1000&all_projects=true"))["servers"]}
    assert mine["id"] in project_a and theirs["id"] not in project_a
    assert set(everyone) - project_a  # others' servers exist

    as_user(browser, ALICE)
    browser.open("#/servers", view="servers")
    assert set(row_ids(browser)) == project_a
    assert len(row_ids(browser)) == len(project_a)
    assert browser.find_all("#all-projects") == []
    assert "Project" not in [th.text.title() for th in browser.find_all("#servers th")]
    assert browser.find_all("#servers td.project") == []

    as_user(browser, ADMIN)
    browser.open("#/servers", view="servers")
    assert browser.find("#all-projects").is_selected()
    assert sorted(row_ids(browser)) == sorted(everyone)
    assert "Project" in [th.text.title() for th in browser.find_all("#servers th")]
    shown_projects = {r.get_attribute("data-server-id"): r.find_element(
        "css selector", "td.project").text
        for r in browser.find_all("#servers tr.server-row")}
    assert shown_projects == everyone
    # Unchecked: the admin's own project only (none of these), no column.
    browser.find("#all-projects").click()
    browser.wait_view("servers")
    browser.wait(lambda: not browser.find("#all-projects").is_selected() and
                 not browser.find_all("#servers td.project"), what="own project")
    own = {s["id"] for s in h.ok(api.request("GET", "/v1/servers?limit=1000"))[
        "servers"]}
    assert set(row_ids(browser)) == own
    assert theirs["id"] not in row_ids(browser)


def test_search_status_and_driver_filters_narrow_the_server_list(api, browser, fleet):
    servers, _ = fleet
    ids = {name: s["id"] for name, s in servers.items()}
    as_user(browser, MARIA)
    browser.open("#/servers", view="servers")
    everyone = set(ids.values())
    total = len(everyone)
    assert set(row_ids(browser)) == everyone

    def shown(names):
        want = {ids[n] for n in names}
        browser.wait(lambda: set(row_ids(browser)) == want,
                     what=f"rows {sorted(names)}", timeout=5)
        assert browser.text("#server-count") == f"{len(want)} of {total}"

    search = browser.find("#server-search")
    search.send_keys("db-0")
    shown(["db-01", "db-02", "db-01-staging"])
    status = Select(browser.find("#server-status"))
    assert sorted(o.text for o in status.options[1:]) == ["ACTIVE", "SHUTOFF"]
    status.select_by_value("SHUTOFF")
    shown(["db-02"])
    status.select_by_value("ACTIVE")
    shown(["db-01", "db-01-staging"])
    search.clear()
    search.send_keys(" ")  # an input event; the value is trimmed to nothing
    shown(["web-01", "web-02", "db-01", "db-01-staging", "bm-01"])
    driver = Select(browser.find("#server-driver"))
    assert sorted(o.text for o in driver.options[1:]) == ["baremetal", "fake"]
    driver.select_by_value("baremetal")
    shown(["bm-01"])
    driver.select_by_value("fake")
    shown(["web-01", "web-02", "db-01", "db-01-staging"])
    status.select_by_value("")
    driver.select_by_value("")
    search.clear()
    search.send_keys(ids["web-02"][:13])  # by id
    shown(["web-02"])
    search.clear()
    search.send_keys("no-such-server")
    browser.wait(lambda: row_ids(browser) == [], what="no rows", timeout=5)
    assert browser.text("#servers td.empty") == "No servers match."
    assert browser.text("#server-count") == f"0 of {total}"


# --- safety ---------------------------------------------------------------------------


def test_an_html_name_shows_as_those_characters_and_never_runs(api, browser):
    server = adopt(api, PROJECT_A, name=XSS)
    snap = take(api, server, XSS)
    as_user(browser, ALICE)
    browser.open("#/servers", view="servers")
    assert browser.text(
        f'#servers tr.server-row[data-server-id="{server["id"]}"] td.name a') == XSS
    assert browser.find_all("#servers img") == []
    assert not browser.alert_open()

    browser.click(f'#servers tr.server-row[data-server-id="{server["id"]}"] td.name a')
    browser.wait_view("server")
    assert browser.text("#server-name") == XSS
    assert browser.text("#crumb-server") == XSS
    assert browser.text(f"{card(snap['id'])} .snap-name") == XSS
    browser.select_snapshot(snap["id"])
    assert browser.text("#details-name") == XSS
    browser.click("#action-revert")
    browser.wait(lambda: dialog_open(browser), what="the revert dialog")
    assert browser.text("#dialog-title") == f"Revert {XSS} to “{XSS}”?"
    assert browser.find_all("#dialog img") == []
    browser.click("#dialog-cancel")
    browser.wait(lambda: not dialog_open(browser), what="the dialog to close")
    assert browser.find_all("#tree img") == [] and browser.find_all("#main img") == []
    assert not browser.alert_open()
    assert [s["is_current"] for s in snapshots(api, server["id"])] == [True]


def test_console_answers_carry_the_security_headers_and_the_json_api_is_unchanged(api):
    def console_headers(resp):
        assert resp.headers["Content-Security-Policy"] == CSP
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Referrer-Policy"] == "no-referrer"

    for path, ctype in (("/ui/", "text/html"), ("/ui/app.js", "text/javascript"),
                        ("/ui/config.json", "application/json")):
        resp = requests.get(api.url + path, timeout=10)
        assert resp.status_code == 200, path
        assert resp.headers["Content-Type"].startswith(ctype), (path, resp.headers)
        console_headers(resp)
    assert requests.get(api.url + "/ui/config.json", timeout=10).json()[
        "auth_strategy"] == "noauth2"
    for path in ("/ui/nothing-here.js", "/ui/app.js/more", "/ui/console.py"):
        resp = requests.get(api.url + path, timeout=10)
        assert resp.status_code == 404, path
        console_headers(resp)
    # The JSON API: JSON as before, none of the console's headers.
    for path, code in (("/v1/servers", 200), ("/v1/no-such-route", 404)):
        resp = api.request("GET", path, token=ALICE)
        assert resp.status_code == code, path
        assert resp.headers["Content-Type"].startswith("application/json")
        resp.json()
        for header in ("Content-Security-Policy", "X-Frame-Options",
                       "Referrer-Policy"):
            assert header not in resp.headers, (path, header)


# --- pictures for docs/console.md -----------------------------------------------------


def test_screenshots_of_the_server_list_and_a_tree_in_light_and_dark(api, browser, fleet):
    servers, snaps = fleet
    as_user(browser, MARIA)
    browser.open("#/servers", view="servers")
    assert len(row_ids(browser)) == len(servers)
    for dark, name in ((False, "console-servers"), (True, "console-servers-dark")):
        browser.screenshot(name, dark=dark)
    browser.open(f"#/servers/{servers['db-01']['id']}", view="server")
    assert len(browser.tree_shape()) == len(snaps)
    browser.select_snapshot(snaps["before-upgrade"]["id"])
    browser.wait(lambda: "db-01-before-upgrade" in browser.text(
        '#details dd[data-field="images"]'), what="the export in the details")
    for dark, name in ((False, "console-tree"), (True, "console-tree-dark")):
        browser.screenshot(name, dark=dark)


def test_the_token_stays_in_session_storage_never_in_urls_cookies_or_the_log(
        api, browser):
    token = "tokenprobe:project-tokenprobe"
    server = adopt(api, "project-tokenprobe", name="probe-01")
    take(api, server, "probe-snap", token=token)
    server_page(browser, token, server["id"])
    browser.select_snapshot(snapshots(api, server["id"], token=token)[0]["id"])
    seen = browser.driver.execute_script("""
        return {urls: [location.href, ...performance.getEntriesByType('resource')
                         .map((e) => e.name)],
                cookie: document.cookie, local: localStorage.length,
                session: sessionStorage.getItem('nativesnap.token')};""")
    assert seen["session"] == token
    assert seen["cookie"] == "" and seen["local"] == 0
    assert len(seen["urls"]) > 3
    assert not [u for u in seen["urls"] if token in u]
    assert token not in api.read_log()
    browser.new_session()
    assert browser.driver.execute_script(
        "return sessionStorage.getItem('nativesnap.token');") is None
