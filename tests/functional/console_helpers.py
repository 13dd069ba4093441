"""A real browser for the console's tests: Debian's headless Chromium driven by
selenium through Debian's chromedriver (both installed by tools/setup-host).

One browser per test module (starting one takes about a second). The window's
viewport is 1280x800, the size docs/console.md's screenshots are taken at.
Missing binaries fail the test loudly: the console's claims are only shown
in a real browser.
"""

import os
import time

from selenium import webdriver
from selenium.common import exceptions as selenium_exc
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Where screenshots go: docs/images, which docs/console.md shows.
SCREENSHOT_DIR = os.environ.get("NATIVESNAP_SCREENSHOT_DIR",
                                os.path.join(REPO, "docs", "images"))
WIDTH, HEIGHT = 1280, 800


class Browser:
    """A headless Chromium on ``base_url``'s console."""

    def __init__(self, base_url):
        for path in (CHROMIUM, CHROMEDRIVER):
            if not os.access(path, os.X_OK):
                raise RuntimeError(f"{path} is missing: run tools/setup-host "
                                   "(Debian's chromium and chromium-driver)")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-first-run",
                    "--disable-extensions", "--lang=en-US",
                    f"--window-size={WIDTH},{HEIGHT}"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER),
                                       options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1,
            "mobile": False})
        self.base_url = base_url.rstrip("/")
        # Every browser console entry seen so far (get_log drains Chromium's).
        self.log = []

    # --- navigation ------------------------------------------------------------

    def open(self, fragment="#/servers", view=None):
        """Load the console afresh at ``fragment``; wait for ``view``.

        The page is left first: a URL that differs from the current one in
        its fragment only would be a hash change (or nothing at all), not a
        load, and ``view`` could be the old page's."""
        self.driver.get("about:blank")
        self.driver.get(f"{self.base_url}/ui/{fragment}")
        if view:
            self.wait_view(view)

    def go(self, fragment, view):
        """Move within the loaded console (a hash change, no reload)."""
        self.driver.execute_script(
            "document.getElementById('main').dataset.ready = 'false';"
            "location.hash = arguments[0];", fragment)
        self.wait_view(view)

    def sign_in(self, token, view="servers"):
        self.open("#/servers", view="sign-in")
        self.find("#token").send_keys(token)
        self.click("#sign-in")
        self.wait_view(view)

    def new_session(self):
        """Signed out (by the page's own Sign out, if anyone is signed in):
        the next ``sign_in`` starts afresh."""
        self.open("#/servers")
        self.wait(lambda: self.driver.execute_script(
            "return document.getElementById('main').dataset.ready === 'true' "
            "&& document.body.dataset.view;"), what="a view")
        if self.find("#sign-out").is_displayed():
            self.sign_out()

    def signed_in_token(self):
        """The token the console holds (None when signed out or not on it)."""
        if not self.driver.current_url.startswith(self.base_url + "/"):
            return None
        return self.driver.execute_script(
            "return sessionStorage.getItem('nativesnap.token');")

    def sign_out(self):
        self.click("#sign-out")
        self.wait_view("sign-in")

    def wait_view(self, view, timeout=30):
        self.wait(lambda: self.driver.execute_script(
            "return document.body.dataset.view === arguments[0] && "
            "document.getElementById('main').dataset.ready === 'true';", view),
            timeout=timeout, what=f"the {view} view")

    # --- reading and acting ------------------------------------------------------

    def wait(self, predicate, timeout=30, interval=0.1, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = predicate()
            except (selenium_exc.NoSuchElementException,
                    selenium_exc.StaleElementReferenceException):
                value = None
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for "
                                     f"{what}; console: {self.console_entries()}")
            time.sleep(interval)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def click(self, css):
        self.find(css).click()

    def text(self, css):
        return self.find(css).text

    def select_snapshot(self, snapshot_id):
        self.click(f'#tree .card[data-snapshot-id="{snapshot_id}"]')
        self.wait(lambda: self.find("#details").get_attribute(
            "data-snapshot-id") == snapshot_id, what="the snapshot's details")

    def tree_shape(self):
        """{snapshot id: parent id or None} as the page draws it: the parent
        is the node before it in its list, or the node whose branch it opens."""
        return self.driver.execute_script("""
            const shape = {};
            for (const li of document.querySelectorAll('#tree li.node[data-snapshot-id]')) {
              let parent = null;
              const prev = li.previousElementSibling;
              if (prev && prev.matches('li.node[data-snapshot-id]')) {
                parent = prev.dataset.snapshotId;
              } else {
                const owner = li.parentElement.closest('li.node[data-snapshot-id]');
                if (owner) parent = owner.dataset.snapshotId;
              }
              shape[li.dataset.snapshotId] = parent;
            }
            return shape;""")

    def alert_open(self):
        try:
            self.driver.switch_to.alert.text  # noqa: B018 - raises if none
        except selenium_exc.NoAlertPresentException:
            return False
        return True

    # --- what the page logged, and pictures of it ----------------------------------------

    def console_entries(self):
        self.log.extend(self.driver.get_log("browser"))
        return list(self.log)

    def console_errors(self, allowed=(), since=0):
        """SEVERE browser console entries (from the ``since``-th entry seen,
        see ``console_entries``), but those containing one of ``allowed``
        (a refusal the test caused on purpose)."""
        return [e for e in self.console_entries()[since:]
                if e["level"] == "SEVERE"
                and not any(a in e["message"] for a in allowed)]

    def screenshot(self, name, dark=False):
        """docs/images/<name>.png at 1280x800, light or dark."""
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
            {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})
        try:
            os.makedirs(SCREENSHOT_DIR, exist_ok=True)
            path = os.path.join(SCREENSHOT_DIR, f"{name}.png")
            self.driver.save_screenshot(path)
        finally:
            self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                        {"features": []})
        return path

    def quit(self):
        self.driver.quit()
