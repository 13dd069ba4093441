"""The web console (/ui/) on a real libvirt TCG guest: a memory snapshot
taken and reverted through the page alone, checked from inside the guest.

Everything the user does to snapshots goes through the page (the take form,
the tree, the details panel, the confirmation dialog); the API is only read,
to check that the page told the truth, and the guest agent writes and reads
the data. One guest, one nativesnap-api with the libvirt driver and one
browser for the module; serial (it uses libvirtd, see tests/conftest.py)."""

import time

import pytest

from tests.functional import console_helpers
from tests.functional import libvirt_helpers as lh

pytest_plugins = ["tests.functional.guest_fixtures"]

KIB = 1024

# Records, from the moment it is installed, every snapshot card the page ever
# drew with a progress bar and every task the server header ever showed busy:
# a create or revert may be over before a test polling the DOM could look.
WATCH = """
window.nsSeen = {progress: {}, busyTasks: []};
const record = () => {
  for (const card of document.querySelectorAll('#tree .card[data-snapshot-id]')) {
    if (card.querySelector('progress.progress')) {
      const status = card.querySelector('.status').textContent;
      const seen = window.nsSeen.progress[card.dataset.snapshotId] || [];
      if (!seen.includes(status)) seen.push(status);
      window.nsSeen.progress[card.dataset.snapshotId] = seen;
    }
  }
  const task = document.querySelector('#server-task .task.busy');
  if (task && !window.nsSeen.busyTasks.includes(task.textContent)) {
    window.nsSeen.busyTasks.push(task.textContent);
  }
};
new MutationObserver(record).observe(document.getElementById('main'),
                                     {childList: true, subtree: true});
record();
"""

CARD = '#tree .card[data-snapshot-id="{}"]'


@pytest.fixture(scope="module")
def guest(make_module_guest):
    return make_module_guest(disks=1)


@pytest.fixture(scope="module")
def browser(libvirt_api):
    browser = console_helpers.Browser(libvirt_api.url)
    yield browser
    browser.quit()


def card_id_named(browser, name):
    return browser.driver.execute_script("""
        for (const card of document.querySelectorAll('#tree .card[data-snapshot-id]')) {
          if (card.querySelector('.snap-name').textContent === arguments[0]) {
            return card.dataset.snapshotId;
          }
        }
        return null;""", name)


def page_task_idle(browser):
    """The server header as last drawn after the revert (not the stale one
    marked before it) shows no task."""
    return browser.driver.execute_script("""
        const head = document.getElementById('server-head');
        return Boolean(head && head.dataset.stale !== 'true'
                       && head.querySelector('#server-task .task.idle'));""")


def take_memory_snapshot_on_the_page(browser, name):
    """The take form with memory ticked; waits for the node to be available.
    Returns (its id, whether its progress bar was seen while creating)."""
    memory = browser.find("#snap-memory")
    assert memory.is_enabled(), "a running libvirt guest is offered memory snapshots"
    browser.find("#snap-name").send_keys(name)
    memory.click()
    assert memory.is_selected()
    browser.click("#take-submit")

    snap_id = browser.wait(lambda: card_id_named(browser, name), timeout=30,
                           what="the new snapshot's node in the tree")
    card = CARD.format(snap_id)
    browser.wait(lambda: browser.text(f"{card} .status") == "available", timeout=60,
                 what="the snapshot to show available on the page")
    seen = browser.driver.execute_script("return window.nsSeen;")
    progress_seen = snap_id in seen["progress"]
    if progress_seen:
        assert seen["progress"][snap_id] == ["creating"], seen
    assert browser.find_all(f"{card} .badge.memory"), "the node shows RAM"
    assert not browser.find_all(f"{card} progress"), "no bar once available"
    assert browser.find_all(f"{card}.current"), "the new snapshot is current"
    return snap_id, progress_seen


def revert_on_the_page(browser, snap_id):
    """Select the snapshot, Revert, check the dialog, confirm."""
    browser.select_snapshot(snap_id)
    assert browser.find("#details").get_attribute("data-snapshot-id") == snap_id
    revert = browser.find("#action-revert")
    assert revert.is_enabled()
    # Anything drawn after this is the page's answer to the revert.
    browser.driver.execute_script(
        "document.getElementById('server-head').dataset.stale = 'true';")
    revert.click()
    browser.wait(lambda: browser.driver.execute_script(
        "return document.getElementById('dialog').open;"), timeout=10,
        what="the confirmation dialog")
    assert "memory saved in the snapshot" in browser.text("#dialog-body")
    browser.click("#dialog-confirm")
    browser.wait(lambda: not browser.driver.execute_script(
        "return document.getElementById('dialog').open;"), timeout=10,
        what="the dialog to close")


def test_a_memory_snapshot_taken_and_reverted_from_the_console_brings_back_the_guests_disk_and_running_ram(
        libvirt_api, guest, browser):
    began = time.monotonic()
    srv = lh.adopt(libvirt_api, guest)
    assert srv["capabilities"]["memory"], srv["capabilities"]

    # The state to come back to: a file on the data disk, a marker only in
    # RAM (tmpfs) and the kernel's boot id (new at every boot).
    before = guest.write_random("/data/f", 128 * KIB)
    guest.write_file("/run/ram/marker", b"at-snapshot")
    boot_id = guest.read_file("/proc/sys/kernel/random/boot_id")

    browser.sign_in(lh.ADMIN)
    browser.go(f"#/servers/{srv['id']}", "server")
    assert browser.text("#server-name") == guest.name
    browser.driver.execute_script(WATCH)

    # --- take a memory snapshot from the page -----------------------------------
    snap_id, progress_seen = take_memory_snapshot_on_the_page(browser, "with-ram")
    card = CARD.format(snap_id)
    snap = lh.snapshots(libvirt_api, srv["id"])[snap_id]
    assert snap["status"] == "available" and snap["memory"] is True, snap
    assert snap["consistency"] == "memory" and snap["is_current"], snap
    assert lh.server(libvirt_api, srv["id"])["task_state"] is None

    # --- change the guest, then revert from the page -------------------------------
    after = guest.write_random("/data/f", 128 * KIB)
    assert after != before
    guest.write_file("/run/ram/marker", b"after-snapshot")

    revert_on_the_page(browser, snap_id)

    done = lh.wait_idle(libvirt_api, srv["id"], timeout=60)
    assert done["fault"] is None, done["fault"]
    browser.wait(lambda: page_task_idle(browser), timeout=30,
                 what="the page to show the server's task idle after the revert")
    assert browser.find("#fault").get_attribute("hidden") is not None, \
        browser.text("#fault")
    assert browser.find_all(f"{card}.current")
    assert lh.server(libvirt_api, srv["id"])["task_state"] is None
    assert lh.snapshots(libvirt_api, srv["id"])[snap_id]["is_current"]

    # --- inside the guest: the disk as it was, and the RAM too (no boot) ----------------
    guest.wait_for_agent(timeout=30)
    assert guest.sha256("/data/f") == before
    assert guest.read_file("/run/ram/marker") == b"at-snapshot"
    assert guest.read_file("/proc/sys/kernel/random/boot_id") == boot_id

    assert browser.console_errors() == []
    seen = browser.driver.execute_script("return window.nsSeen;")
    print(f"progress bar seen while creating: {progress_seen}; busy tasks seen: "
          f"{seen['busyTasks']}; {time.monotonic() - began:.1f} s")
