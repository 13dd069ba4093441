#!/usr/bin/env python3
"""bench/console.py — the web console's first render of a big snapshot tree.

Starts nativesnap-api (cheroot, the fake driver) on 127.0.0.1 with a fresh
sqlite database, as bench/api does, and seeds one server with N snapshots
forming a tree: one snapshot is taken over HTTP, the others are copies of its
row inserted in one transaction through nativesnap's database layer (bench/api's
way), chained by parent_id into a trunk and --branches branches, each forking
off an earlier snapshot of the trunk or of another branch (one fork per
branch), the newest snapshot the server's current one (as after a revert and
new snapshots on that branch).

Then headless Chromium (tests/functional/console_helpers.py: Debian's chromium
and chromedriver) signs in once and loads the server's page afresh
(about:blank first, then /ui/#/servers/<id>: a new document every time, the
token kept in the tab's session storage, the console's files revalidated by
ETag as a returning user's are) once untimed (a warm-up), then --samples
times, and reads from the page itself:

  rendered   performance.mark('nativesnap:tree-rendered').startTime: ms from
             the navigation's start until server.js has built the tree's
             DOM (the mark follows draw());
  painted    the first frame after that mark (a requestAnimationFrame then
             a zero timeout, set by a wrapper of performance.mark injected
             before the page's scripts): style, layout and paint of the tree
             done on the main thread;
  frame      the long-animation-frame entry of the frame that drew the
             tree (Chromium's; only frames over 50 ms have one): its
             scripts (the last answer's parse, draw()) until renderStart,
             then the browser's style, layout and paint until its end;
  wall       from driver.get to the view being ready (body[data-view=server],
             #main[data-ready=true]), seen from Python polling every 5 ms;
  requests   the page's resource timing entries: every request, those to
             the REST API (/v1/...) and those to the snapshot list
             (/v1/servers/<id>/snapshots), with when the last list answer
             ended (so rendered - that = the page's own work after the API);
  nodes      #tree li.node[data-snapshot-id] must count N (the run fails
             otherwise); the first load's tree shape must be the seeded one.

Baseline in the same run: the snapshot list fetched the console's way (the
same pages of limit=1000 with a marker, the same microversion, one
requests.Session) from Python, so the report can say how much of a render
is the API's time. Targets: rendered <= 1 s, one snapshot-list request per
1,000 snapshots (rounded up).

--profile adds one more load under the Chrome DevTools CPU profiler and
prints the console's functions by self time.

Prints a table and writes JSON (default bench/results/console.json). Exit 0
when it ran (missed targets are reported, not failures), 1 when it could not
run or the page drew the wrong tree, 2 for bad arguments.

  bench/console.py                                 1,000 snapshots, 5 samples
  bench/console.py --snapshots 10000 --profile     eleven list requests
  bench/console.py --snapshots 50 --samples 1      smoke run, seconds
"""

import bootstrap

bootstrap.enter_venv(__file__)
REPO = bootstrap.REPO

import argparse  # noqa: E402
import collections  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import requests  # noqa: E402

from tests import fixtures  # noqa: E402


bench_api = bootstrap.load_bench_api()
BenchError = bench_api.BenchError

PROJECT = "bench-project"
TOKEN = f"bench-user:{PROJECT}"      # a project member, not an admin
ADMIN_TOKEN = f"admin:{PROJECT}"
API_VERSION = "snapshot 1.2"         # the console's (api.js VERSION)
PAGE = 1000                          # the console's page (api.js PAGE)
TARGET_RENDER_MS = 1000.0
REQUEST_TIMEOUT = 30                 # seconds, every HTTP request
TASK_WAIT_TIMEOUT = 30               # seconds, for the seeding snapshot
VIEW_TIMEOUT = 120                   # seconds, for a page to be drawn
POLL_INTERVAL = 0.005                # seconds, the wall-time poll
FRAME_WAIT = 0.5                     # seconds, for the paint mark and frame entry
API_BASELINE_WARMUP = 2
CODE = ("nativesnap/api/console/app.js", "nativesnap/api/console/api.js",
        "nativesnap/api/console/server.js", "nativesnap/api/console/tree.js",
        "nativesnap/api/console/dom.js", "nativesnap/api/console/shell.js")

# Injected before the page's own scripts (CDP): a paint mark after the tree's
# mark, and room for many resource timing entries (the default holds 250).
INJECTED = """
(() => {
  performance.setResourceTimingBufferSize(10000);
  window.__benchFrames = [];
  try {
    new PerformanceObserver((list) => {
      for (const f of list.getEntries()) {
        window.__benchFrames.push({start: f.startTime, end: f.startTime + f.duration,
          renderStart: f.renderStart, styleAndLayoutStart: f.styleAndLayoutStart});
      }
    }).observe({type: 'long-animation-frame', buffered: true});
  } catch (e) { /* no long-animation-frame entries in this browser */ }
  const mark = performance.mark.bind(performance);
  performance.mark = function (name, options) {
    const entry = mark(name, options);
    if (name === 'nativesnap:tree-rendered') {
      requestAnimationFrame(() => setTimeout(() => mark('bench:tree-painted'), 0));
    }
    return entry;
  };
})();
"""

# Everything read from the page once it is drawn.
READ_PAGE = """
const id = arguments[0];
const first = (name) => {
  const e = performance.getEntriesByName(name)[0];
  return e ? e.startTime : null;
};
const nav = performance.getEntriesByType('navigation')[0];
const list = `/v1/servers/${id}/snapshots`;
const resources = performance.getEntriesByType('resource').map((r) => {
  const url = new URL(r.name);
  return {path: url.pathname, query: url.search, initiator: r.initiatorType,
          start: r.startTime, end: r.responseEnd, bytes: r.encodedBodySize,
          transfer: r.transferSize};
});
return {
  rendered_ms: first('nativesnap:tree-rendered'),
  server_view_ms: first('nativesnap:server-rendered'),
  painted_ms: first('bench:tree-painted'),
  document_end_ms: nav ? nav.responseEnd : null,
  dom_content_loaded_ms: nav ? nav.domContentLoadedEventEnd : null,
  load_event_ms: nav ? nav.loadEventEnd : null,
  nodes: document.querySelectorAll('#tree li.node[data-snapshot-id]').length,
  branches: document.querySelectorAll('#tree ul.branch').length,
  here: document.querySelectorAll('#you-are-here').length,
  current: (document.querySelector('#tree .card.current') || {dataset: {}}).dataset.snapshotId || null,
  shown_count: (document.getElementById('snapshot-count') || {}).textContent || null,
  elements: document.getElementsByTagName('*').length,
  resources,
  frames: window.__benchFrames || [],
  list_path: list,
};
"""


# --- the tree ---------------------------------------------------------------------------

def plan_tree(count, branches, rng):
    """Parent index (or None) of each of ``count`` snapshots in creation
    order: a trunk, then ``branches`` branches, each forking off a distinct
    earlier snapshot that already has a child (so each makes one fork), their
    lengths as equal as can be. Returns (parents, forks made)."""
    parents = [None]
    if count == 1:
        return parents, 0
    branches = max(0, min(branches, (count - 1) // 2))
    rest = count - 1
    sizes = [rest // (branches + 1) + (1 if i < rest % (branches + 1) else 0)
             for i in range(branches + 1)]
    children = collections.Counter()
    forked = set()
    for i in range(sizes[0]):        # the trunk, from the first snapshot
        parents.append(len(parents) - 1)
        children[len(parents) - 2] += 1
    forks = 0
    for size in sizes[1:]:
        candidates = [i for i in range(len(parents))
                      if children[i] == 1 and i not in forked]
        if candidates:
            parent = rng.choice(candidates)
            forked.add(parent)
            forks += 1
        else:                        # nowhere to fork: continue the newest
            parent = len(parents) - 1
        for _ in range(size):
            parents.append(parent)
            children[parent] += 1
            parent = len(parents) - 1
    return parents, forks


def seed(api, db_url, count, branches, rng):
    """Adopt one server, take one snapshot of it over HTTP, then add
    ``count`` - 1 copies of that row through nativesnap's database layer,
    shaped by plan_tree (bench/api's seeding, as a tree). Returns the
    server id, the snapshot ids in creation order, {id: parent id} and the
    number of forks."""
    from nativesnap import context as ns_context
    from nativesnap.db import api as db
    from nativesnap.db import models

    check = bench_api._check
    server = check(api.request("POST", "/v1/servers", token=ADMIN_TOKEN, json={
        "server": {"name": "console-bench", "driver": "fake",
                   "hypervisor_ref": "console-bench", "project_id": PROJECT}},
        timeout=REQUEST_TIMEOUT), 201, "adopt a server")["server"]
    sid = server["id"]
    first = check(api.request("POST", f"/v1/servers/{sid}/snapshots", token=TOKEN,
                              json={"snapshot": {"name": "snap-0000"}},
                              timeout=REQUEST_TIMEOUT),
                  202, "take a snapshot")["snapshot"]["id"]

    def taken():
        snap = api.request("GET", f"/v1/servers/{sid}/snapshots/{first}",
                           token=TOKEN, timeout=REQUEST_TIMEOUT).json()["snapshot"]
        if snap["status"] == "error":
            raise BenchError(f"the seeding snapshot failed: {snap['fault']}")
        srv = api.request("GET", f"/v1/servers/{sid}", token=TOKEN,
                          timeout=REQUEST_TIMEOUT).json()["server"]
        return snap["status"] == "available" and srv["task_state"] is None
    api.wait_for(taken, timeout=TASK_WAIT_TIMEOUT, interval=0.05,
                 what="the seeding snapshot to be available")

    parents, forks = plan_tree(count, branches, rng)
    db.configure(db_url)
    try:
        ctx = ns_context.get_admin_context()
        template = db.snapshot_get(ctx, first)
        ids = [template["id"]]
        rows = []
        for n in range(1, count):
            row = dict(template)
            row["id"] = str(bench_api._uuid(rng))
            row["name"] = f"snap-{n:04d}"
            row["parent_id"] = ids[parents[n]]
            # Strictly increasing: a child is always newer than its parent.
            row["created_at"] = template["created_at"] + datetime.timedelta(
                milliseconds=n)
            row["updated_at"] = row["created_at"]
            rows.append(row)
            ids.append(row["id"])
        servers = models.Server.__table__
        with db.writer(ctx) as session:
            if rows:
                session.execute(models.Snapshot.__table__.insert(), rows)
            session.execute(servers.update().where(servers.c.id == sid).values(
                current_snapshot_id=ids[-1]))
    finally:
        db.dispose()
    shape = {ids[n]: (None if parents[n] is None else ids[parents[n]])
             for n in range(count)}
    return {"server": sid, "ids": ids, "shape": shape, "forks": forks,
            "current": ids[-1]}


def list_all(session, base, sid):
    """The server's snapshots as api.js listAll fetches them: pages of PAGE
    with a marker until an answer has no next link. Returns (snapshots,
    requests made)."""
    items, marker, made = [], None, 0
    while True:
        params = {"limit": str(PAGE)}
        if marker:
            params["marker"] = marker
        resp = session.get(f"{base}/v1/servers/{sid}/snapshots", params=params,
                           timeout=REQUEST_TIMEOUT)
        made += 1
        data = bench_api._check(resp, 200, "list snapshots")
        page = data.get("snapshots") or []
        items.extend(page)
        if not data.get("snapshots_links") or not page:
            return items, made
        marker = page[-1]["id"]


def console_session():
    session = requests.Session()
    session.headers.update({"X-Auth-Token": TOKEN, "Accept": "application/json",
                            "OpenStack-API-Version": API_VERSION})
    return session


def check_served(api, data):
    """The API serves the seeded tree: every snapshot, the right parents,
    the newest current."""
    with console_session() as session:
        snaps, _ = list_all(session, api.url, data["server"])
    served = {s["id"]: s["parent_id"] for s in snaps}
    current = [s["id"] for s in snaps if s["is_current"]]
    if served != data["shape"] or current != [data["current"]]:
        raise BenchError(f"the seeded snapshots are not served as expected "
                         f"({len(snaps)} listed, current {current})")


def measure_api_list(api, sid, count, samples):
    """Baseline: the whole list fetched the console's way from Python."""
    times = []
    with console_session() as session:
        for i in range(API_BASELINE_WARMUP + samples):
            started = time.perf_counter()
            snaps, made = list_all(session, api.url, sid)
            elapsed = time.perf_counter() - started
            if len(snaps) != count:
                raise BenchError(f"API list: {len(snaps)} snapshots, not {count}")
            if i >= API_BASELINE_WARMUP:
                times.append(elapsed)
    result = bench_api.summary_ms(times)
    result["requests_per_list"] = made
    return result


# --- the browser --------------------------------------------------------------------------

def start_browser(url):
    from tests.functional import console_helpers
    browser = console_helpers.Browser(url)
    browser.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                                   {"source": INJECTED})
    return browser


def wait_ready(browser, timeout=VIEW_TIMEOUT):
    """Poll (every 5 ms) until the server view is drawn or the page fails."""
    deadline = time.monotonic() + timeout
    script = ("const m = document.getElementById('main');"
              "const f = document.getElementById('fault');"
              "if (f && !f.hidden) return 'fault: ' + f.textContent;"
              "return document.body.dataset.view === 'server' && m && "
              "m.dataset.ready === 'true';")
    while True:
        state = browser.driver.execute_script(script)
        if state is True:
            return
        if isinstance(state, str):
            raise BenchError(f"the page shows a fault: {state[:300]}")
        if time.monotonic() >= deadline:
            raise BenchError(f"the server page was not drawn within {timeout} s; "
                             f"console: {browser.console_entries()[-5:]}")
        time.sleep(POLL_INTERVAL)


def load_page(browser, sid):
    """One fresh load of the server's page: its figures as the page saw them."""
    driver = browser.driver
    driver.get("about:blank")
    started = time.perf_counter()
    driver.get(f"{browser.base_url}/ui/#/servers/{sid}")
    wait_ready(browser)
    wall_ms = (time.perf_counter() - started) * 1000.0
    # The paint mark comes one frame after the ready flag, the long frame's
    # entry (only frames over 50 ms have one) a little later: wait for them.
    page = None
    deadline = time.monotonic() + FRAME_WAIT
    while True:
        page = driver.execute_script(READ_PAGE, sid)
        frame = next((f for f in page["frames"] if page["rendered_ms"] is not None
                      and f["start"] <= page["rendered_ms"] <= f["end"]), None)
        if (page["painted_ms"] is not None and frame is not None
                or time.monotonic() >= deadline):
            break
        time.sleep(POLL_INTERVAL)
    resources = page.pop("resources")
    page.pop("frames")
    # The frame that drew the tree: its tasks' scripts until renderStart,
    # then style, layout and paint on the main thread until its end.
    page["frame"] = None if frame is None else {
        "start_ms": frame["start"], "render_start_ms": frame["renderStart"],
        "style_and_layout_start_ms": frame["styleAndLayoutStart"],
        "end_ms": frame["end"]}
    if frame is not None:
        page["frame_scripts_ms"] = frame["renderStart"] - frame["start"]
        page["frame_rendering_ms"] = frame["end"] - frame["renderStart"]
    list_path = page.pop("list_path")
    api_requests = [r for r in resources if r["path"].startswith("/v1/")]
    lists = [r for r in api_requests if r["path"] == list_path]
    page.update({
        "wall_ms": round(wall_ms, 1),
        "requests_total": len(resources) + 1,   # + the document itself
        "requests_api": len(api_requests),
        "requests_snapshot_list": len(lists),
        "snapshot_list_queries": [r["query"] for r in lists],
        "snapshot_list_bytes": sum(r["bytes"] or 0 for r in lists),
        "snapshot_list_start_ms": min((r["start"] for r in lists), default=None),
        "last_list_end_ms": max((r["end"] for r in lists), default=None),
        "api_requests": [{"path": r["path"] + r["query"],
                          "start_ms": round(r["start"], 1),
                          "end_ms": round(r["end"], 1), "bytes": r["bytes"]}
                         for r in api_requests],
    })
    if page["rendered_ms"] is not None and page["last_list_end_ms"] is not None:
        page["after_last_answer_ms"] = page["rendered_ms"] - page["last_list_end_ms"]
    for d in (page, page["frame"] or {}):
        for key, value in list(d.items()):
            if isinstance(value, float):
                d[key] = round(value, 1)
    return page


def check_page(page, data, count):
    if page["nodes"] != count:
        raise BenchError(f"the page drew {page['nodes']} snapshot nodes, not {count}")
    if page["current"] != data["current"]:
        raise BenchError(f"the page marks {page['current']} current, not "
                         f"{data['current']}")
    if page["rendered_ms"] is None:
        raise BenchError("the page set no nativesnap:tree-rendered mark")


def profile_load(browser, sid, top=15):
    """One more load under the DevTools CPU profiler: the console's
    functions (and the browser's own work) by self time."""
    driver = browser.driver
    driver.get("about:blank")
    driver.execute_cdp_cmd("Profiler.enable", {})
    driver.execute_cdp_cmd("Profiler.setSamplingInterval", {"interval": 100})
    driver.execute_cdp_cmd("Profiler.start", {})
    try:
        driver.get(f"{browser.base_url}/ui/#/servers/{sid}")
        wait_ready(browser)
        time.sleep(0.2)
    finally:
        profile = driver.execute_cdp_cmd("Profiler.stop", {})["profile"]
        driver.execute_cdp_cmd("Profiler.disable", {})
    nodes = {n["id"]: n for n in profile["nodes"]}
    deltas = profile.get("timeDeltas") or []
    self_us = collections.Counter()
    for node_id, delta in zip(profile.get("samples") or [], deltas[1:] + [0]):
        frame = nodes[node_id]["callFrame"]
        url = frame.get("url") or ""
        name = frame.get("functionName") or "(anonymous)"
        where = (f"{os.path.basename(url)}:{frame.get('lineNumber', -1) + 1} {name}"
                 if url else name)
        self_us[where] += delta
    idle = {"(idle)", "(program)"}
    busy = sum(v for k, v in self_us.items() if k not in idle)
    rows = [{"function": k, "self_ms": round(v / 1000.0, 1),
             "share_of_busy": round(v / busy, 3) if busy else None}
            for k, v in self_us.most_common() if k not in idle][:top]
    return {"busy_ms": round(busy / 1000.0, 1),
            "program_ms": round(self_us.get("(program)", 0) / 1000.0, 1),
            "by_self_time": rows}


# --- the run ------------------------------------------------------------------------------

def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"count": 0}
    return {"count": len(values), "median": round(statistics.median(values), 1),
            "min": round(min(values), 1), "max": round(max(values), 1)}


def run(args, report):
    state_dir = tempfile.mkdtemp(prefix="nativesnap-bench-console-")
    api = browser = None
    ok = False
    phases = {}
    mark = [time.monotonic()]

    def phase(name):
        now = time.monotonic()
        phases[name] = round(now - mark[0], 2)
        mark[0] = now

    try:
        url = fixtures.sqlite_url(state_dir)
        api = fixtures.APIServer(state_dir, url)
        api.manage("db", "sync")
        api.start(timeout=30)
        phase("start_service")
        data = seed(api, url, args.snapshots, args.branches, random.Random(args.seed))
        check_served(api, data)
        phase("seed")
        report["tree"] = {"snapshots": args.snapshots, "forks": data["forks"],
                          "branches_asked": args.branches,
                          "current": "the newest snapshot (tip of the last branch)"}
        baseline = measure_api_list(api, data["server"], args.snapshots,
                                    max(5, args.samples))
        phase("api_baseline")

        browser = start_browser(api.url)
        browser.sign_in(TOKEN)
        phase("start_browser_and_sign_in")
        warmup = load_page(browser, data["server"])
        check_page(warmup, data, args.snapshots)
        shape = browser.tree_shape()
        if shape != data["shape"]:
            wrong = sum(1 for k, v in data["shape"].items() if shape.get(k) != v)
            raise BenchError(f"the page's tree is not the seeded one ({wrong} "
                             "snapshots under another parent or missing)")
        samples = []
        for _ in range(args.samples):
            page = load_page(browser, data["server"])
            check_page(page, data, args.snapshots)
            samples.append(page)
        phase("samples")
        errors = browser.console_errors()
        if errors:
            raise BenchError(f"the browser console has errors: {errors[:3]}")
        if args.profile:
            report["profile"] = profile_load(browser, data["server"])
            phase("profile")
        version = browser.driver.capabilities.get("browserVersion")
        exit_code = api.stop(timeout=30)
        if exit_code not in (0, None):
            raise BenchError(f"nativesnap-api exited with {exit_code} on SIGTERM")
        ok = True
    finally:
        if browser is not None:
            with contextlib.suppress(Exception):
                browser.quit()
        if api is not None:
            api.kill()
            if not ok:
                with contextlib.suppress(OSError):
                    print("--- nativesnap-api log, last lines ---\n"
                          + api.read_log()[-3000:], file=sys.stderr)
        if args.keep:
            print(f"state kept in {state_dir}", file=sys.stderr)
        else:
            shutil.rmtree(state_dir, ignore_errors=True)
    report["machine"]["chromium"] = version
    report["phase_seconds"] = phases
    report["warmup"] = warmup
    report["samples"] = samples
    report["api_list"] = baseline
    report["summary"] = summarize(samples, baseline, args.snapshots)


def summarize(samples, baseline, count):
    def series(key):
        return stats([s.get(key) for s in samples])

    expected_lists = max(1, math.ceil(count / PAGE))
    lists = sorted({s["requests_snapshot_list"] for s in samples})
    render = series("rendered_ms")
    summary = {
        "rendered_ms": render,
        "painted_ms": series("painted_ms"),
        "wall_ms": series("wall_ms"),
        "dom_content_loaded_ms": series("dom_content_loaded_ms"),
        "snapshot_list_start_ms": series("snapshot_list_start_ms"),
        "last_list_end_ms": series("last_list_end_ms"),
        "after_last_answer_ms": series("after_last_answer_ms"),
        "frame_scripts_ms": series("frame_scripts_ms"),
        "frame_rendering_ms": series("frame_rendering_ms"),
        "requests_total": sorted({s["requests_total"] for s in samples}),
        "requests_api": sorted({s["requests_api"] for s in samples}),
        "requests_snapshot_list": lists,
        "snapshot_list_queries": samples[0]["snapshot_list_queries"],
        "snapshot_list_bytes": samples[0]["snapshot_list_bytes"],
        "nodes": sorted({s["nodes"] for s in samples}),
        "elements": sorted({s["elements"] for s in samples}),
        "expected_snapshot_list_requests": expected_lists,
        "target_render_ms": TARGET_RENDER_MS,
        "render_met": render["median"] <= TARGET_RENDER_MS,
        "requests_met": lists == [expected_lists],
        "api_list_median_ms": baseline["median_ms"],
        "render_over_api_list": round(render["median"] / baseline["median_ms"], 2)
        if baseline["median_ms"] else None,
    }
    return summary


def print_table(report):
    s = report["summary"]
    count = report["config"]["snapshots"]

    def trio(d, unit="ms"):
        return (f"{d['median']:.1f} / {d['min']:.1f} / {d['max']:.1f} {unit}"
                if d.get("count") else "-")

    def nums(values):
        return ", ".join(str(v) for v in values)

    rows = [
        ("tree rendered (mark), median / min / max", trio(s["rendered_ms"]),
         f"<= {TARGET_RENDER_MS:g} ms", "yes" if s["render_met"] else "NO"),
        ("tree painted (next frame)", trio(s["painted_ms"]), "", ""),
        ("wall: driver.get to view ready", trio(s["wall_ms"]), "", ""),
        ("  modules run (DOMContentLoaded)", trio(s["dom_content_loaded_ms"]), "", ""),
        ("  snapshot list asked at", trio(s["snapshot_list_start_ms"]), "", ""),
        ("  last snapshot list answer in", trio(s["last_list_end_ms"]), "", ""),
        ("  page's work after it (parse, tree)", trio(s["after_last_answer_ms"]),
         "", ""),
        ("  the tree's frame: scripts (draw)", trio(s["frame_scripts_ms"]), "", ""),
        ("  the tree's frame: style, layout, paint", trio(s["frame_rendering_ms"]),
         "", ""),
        ("requests, all (document, files, API)", nums(s["requests_total"]), "", ""),
        ("requests to the REST API", nums(s["requests_api"]), "", ""),
        ("snapshot-list requests", nums(s["requests_snapshot_list"]),
         f"= {s['expected_snapshot_list_requests']}",
         "yes" if s["requests_met"] else "NO"),
        ("snapshot nodes drawn", nums(s["nodes"]), f"= {count}", "yes"),
        ("API alone: the same list from Python, median",
         f"{s['api_list_median_ms']:.1f} ms", "", ""),
        ("rendered / API list", f"{s['render_over_api_list']:.2f} x", "", ""),
    ]
    header = ("figure", "value", "target", "met")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(f"{count} snapshots, {report['tree']['forks']} forks; "
          f"{len(report['samples'])} fresh loads after 1 warm-up; "
          f"Chromium {report['machine'].get('chromium')}")
    for line in [header, ["-" * w for w in widths]] + rows:
        print(fmt.format(*line))
    print("snapshot-list requests: " + " ".join(s["snapshot_list_queries"]))
    profile = report.get("profile")
    if profile:
        print(f"\n--- one more load, CPU profile: {profile['busy_ms']} ms busy in "
              f"scripts and the browser's own work ((program) "
              f"{profile['program_ms']} ms) ---")
        for r in profile["by_self_time"]:
            print(f"{r['self_ms']:8.1f} ms  {r['share_of_busy']:6.1%}  {r['function']}")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="The web console's first render of a server's snapshot tree "
                    "(headless Chromium, nativesnap-api with the fake driver).")
    add = parser.add_argument
    add("--snapshots", type=int, default=1000,
        help="snapshots of the server (1000)")
    add("--branches", type=int, default=20,
        help="branches forking off the trunk or each other (20)")
    add("--samples", type=int, default=5,
        help="fresh loads of the page measured, after one warm-up (5)")
    add("--seed", type=int, default=1, help="random seed (1)")
    add("--profile", action="store_true",
        help="one more load under the DevTools CPU profiler")
    add("--keep", action="store_true", help="keep the service's state directory")
    add("--json", default=os.path.join(REPO, "bench", "results", "console.json"),
        help="where to write the results (bench/results/console.json)")
    args = parser.parse_args(argv)
    if not 1 <= args.snapshots <= 100_000:
        parser.error("--snapshots must be in [1, 100000]")
    if not 0 <= args.branches <= 10_000:
        parser.error("--branches must be in [0, 10000]")
    if not 1 <= args.samples <= 100:
        parser.error("--samples must be in [1, 100]")
    return args


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    report = {
        "benchmark": "console",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "git": dict(bench_api.git_info(), console_code_sha256=bootstrap.code_sha256(CODE)),
        "machine": dict(bench_api.machine_info(),
                        loadavg_at_start=bench_api.loadavg()),
        "config": {"snapshots": args.snapshots, "branches": args.branches,
                   "samples": args.samples, "warmup_loads": 1, "seed": args.seed,
                   "database": "sqlite", "driver": "fake",
                   "auth": "noauth2, project member token",
                   "browser": "headless Chromium (console_helpers.Browser), "
                              "1280x800",
                   "load": "about:blank, then /ui/#/servers/<id>: a new document; "
                           "static files revalidated (ETag, no-cache)"},
        "targets": {"rendered_ms": TARGET_RENDER_MS,
                    "snapshot_list_requests_per_1000": 1},
    }
    if not bootstrap.attempt("bench/console.py", run, args, report):
        return 1
    report["machine"]["loadavg_at_end"] = bench_api.loadavg()
    report["elapsed_seconds"] = round(time.monotonic() - started, 1)
    print_table(report)
    bootstrap.write_report(args.json, report)
    met = report["summary"]["render_met"] and report["summary"]["requests_met"]
    print(f"\n{'all targets met' if met else 'targets MISSED'}; "
          f"{report['elapsed_seconds']} s; results in {os.path.relpath(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
