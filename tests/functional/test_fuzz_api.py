"""Fuzzing the real nativesnap-api over HTTP with schemathesis.

Every operation of ``/v1/openapi.json`` (fetched from the running service,
with a token) is sent requests that schemathesis generates from the very
schemas the API enforces: valid ones (positive) and ones breaking the schema
(negative), as an admin and as a project member of the same project, now and
then without a token or with a malformed one, with microversion headers both
served and not. Path and body ids that are well-formed UUIDs are aimed, for
part of the cases, at real resources (seeded servers, their snapshots, an
image exported from one and an enrolled bare-metal node, remade whenever the
fuzzer deletes them; the heartbeat aimed at that node carries its agent
token, and part of the bare-metal actions go to a bare-metal server record in
'snapshot failed'), so the handlers, the manager and the fake driver are
reached and not only the validators. A share of the requests is then spoilt below what a schema can
describe, which schemathesis cannot generate: a JSON string holding a lone
UTF-16 surrogate, a path or a query string that is not UTF-8 once
percent-decoded.

Every answer must be:
- never a 5xx;
- for a 4xx, Nova's fault body ``{"<name>": {"code": N, "message": "..."}}``
  with the name of the status and N equal to it;
- documented: its status is listed for the operation, its Content-Type and
  body conform to the documented schema (schemathesis's conformance checks);
- for a negative case, refused (4xx): data the schema forbids never succeeds;
- for a spoilt request, refused with a documented 4xx.
And the service log shows no trace, no "database is locked" and no deadlock.

CI runs a short, derandomized run (FUZZ_EXAMPLES per operation and mode).
``make fuzz`` runs the full one: NATIVESNAP_FUZZ_EXAMPLES sets the examples
per operation and mode, NATIVESNAP_FUZZ_REPORT a directory that receives a
JSON report per database (figures per operation); docs/reliability.md has the
figures of a full run.
"""

import collections
import datetime
import json
import os
import time
import urllib.parse
import uuid

import hypothesis
from hypothesis import strategies as st
import requests
import schemathesis
from schemathesis import checks as st_checks
from schemathesis.core import failures as st_failures
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks
import sqlalchemy as sa

from nativesnap.api import validation
from tests.functional import helpers as h

# A short run for CI: examples per operation and generation mode.
FUZZ_EXAMPLES = int(os.environ.get("NATIVESNAP_FUZZ_EXAMPLES", "25"))
REPORT_DIR = os.environ.get("NATIVESNAP_FUZZ_REPORT")

PROJECT = "fuzz-project"
ADMIN = f"admin:{PROJECT}"
MEMBER = f"member:{PROJECT}"
# What is drawn per case besides the request schemathesis makes. Hypothesis
# tries the simplest choice (the first of each list) first, so every
# operation's first case is sent by the admin, with no microversion header,
# aimed at a freshly made server: it gets past the validators.
# Who sends the case: mostly the two real identities.
TOKENS = [ADMIN, MEMBER] * 4 + [None, "not a token"]
# The microversion header: mostly served versions, some not.
MICROVERSIONS = [None, "snapshot 1.1", None, "snapshot 1.0", "snapshot latest",
                 "compute 2.1, snapshot 1.1", "snapshot 1.2", "snapshot 1.3",
                 "snapshot 1.x"]
# How well-formed ids in the path and body are aimed: at a fresh server made
# for the case, at the long-lived seed servers, or left as generated.
AIMS = ["fresh", "seed", "seed", "other-server", "generated", "generated"]
# Now and then the request is spoilt below what a schema can describe (and so
# schemathesis can generate): a JSON string holding a lone UTF-16 surrogate, a
# path or query string that is not UTF-8 once percent-decoded.
MANGLES = [None] * 9 + ["surrogate-in-body", "not-utf8-path", "not-utf8-query"]

CHECKS = [st_checks.not_a_server_error, openapi_checks.status_code_conformance,
          openapi_checks.content_type_conformance,
          openapi_checks.response_schema_conformance,
          openapi_checks.negative_data_rejection]
LOG_PROBLEMS = ("Traceback", "database is locked", "deadlock detected",
                "Unexpected error")


def _content_type(resp):
    value = resp.headers.get("content-type") or ""
    # schemathesis's Response has lists of values; requests' has strings.
    return value[0] if isinstance(value, list) else value


def nova_fault_problem(resp):
    """What is wrong with a 4xx answer as a Nova fault body, or None."""
    code = resp.status_code
    ctype = _content_type(resp)
    if not ctype.startswith("application/json"):
        return f"Content-Type {ctype!r}"
    try:
        body = resp.json()
    except ValueError:
        return "the body is not JSON"
    name = h.FAULT_NAMES.get(code)
    if not isinstance(body, dict) or list(body) != [name]:
        return f"the body is not {{{name!r}: ...}}: {str(body)[:200]}"
    inner = body[name]
    if not isinstance(inner, dict) or inner.get("code") != code:
        return f"the fault's code is not {code}: {str(inner)[:200]}"
    message = inner.get("message")
    if not isinstance(message, str) or not message.strip():
        return "the fault has no message"
    return None


class Seeds:
    """Real resources of the fuzz project that cases are aimed at: a server
    with two available snapshots, another server with one (both checked and
    remade after the fuzzer got a DELETE through), or a "fresh" server with
    one snapshot, remade after any DELETE or spawn got through (so no clone
    depends on it, and deleting it can succeed). A fake ``volumes-<id>``
    server has volume ``<id>`` attached (another after every assisted create
    that got through), and the cases' volume ids are aimed at it, so
    assisted volume snapshot requests reach the compute service and the
    driver. A snapshot policy of the fuzz project (disabled, so the
    scheduler leaves the seeds alone) is attached to the seed server, and
    policy ids in paths and bodies are aimed at it, prunes at that server,
    quota sets at the fuzz project; the policy and the project's quotas are
    put back after every change that got through (a quota of 0 would refuse
    the seeds' own snapshots).
    """

    def __init__(self, api):
        self.api = api
        self.server = self.other_server = self.volume_server = None
        self.volume_id = str(uuid.uuid4())
        self.snapshots, self.other_snapshots = [], []
        self.image = None
        self.node = None
        self.node_token = None
        self.bare_metal = None
        self.service = None
        self.policy = None
        self.stale = True
        self.fresh = None
        self.aimed = None
        self.requests = 0

    def _call(self, method, path, **kwargs):
        self.requests += 1
        return self.api.request(method, path, token=ADMIN, **kwargs)

    def _live_server(self, server_id, prefix="fuzz-seed-", ref=None):
        if server_id is not None:
            resp = self._call("GET", f"/v1/servers/{server_id}")
            if resp.status_code == 200:
                return server_id
        body = h.ok(self._call("POST", "/v1/servers", json={"server": {
            "name": "fuzz-seed", "driver": "fake",
            "hypervisor_ref": ref or h.unique(prefix),
            "project_id": PROJECT}}),
            201)
        return body["server"]["id"]

    def _wait_idle(self, server_id):
        self.api.wait_for(
            lambda: h.ok(self._call("GET", f"/v1/servers/{server_id}"))[
                "server"]["task_state"] is None,
            timeout=30, what=f"seed server {server_id} to be idle")

    def _available(self, server_id, count):
        self._wait_idle(server_id)
        listed = h.ok(self._call(
            "GET", f"/v1/servers/{server_id}/snapshots?status=available"
                   "&limit=50"))["snapshots"]
        ids = [s["id"] for s in listed]
        while len(ids) < count:
            resp = self._call("POST", h.snapshot_path(server_id),
                              json={"snapshot": {"name": "fuzz-seed"}})
            ids.append(h.ok(resp, 202)["snapshot"]["id"])
            self._wait_idle(server_id)
        return ids[:count]

    def refresh(self):
        if not self.stale:
            return
        # The fuzz project's own quotas, back to the defaults (unlimited).
        resp = self._call("DELETE", f"/v1/os-quota-sets/{PROJECT}")
        assert resp.status_code == 204, resp.text
        self.server = self._live_server(self.server)
        self.other_server = self._live_server(self.other_server)
        self.volume_server = self._live_server(
            self.volume_server, ref=f"volumes-{self.volume_id}")
        self.snapshots = self._available(self.server, 2)
        self.other_snapshots = self._available(self.other_server, 1)
        self.image = self._active_image(self.image)
        self.node = self._live_node(self.node)
        self.service = self._enabled_service()
        self.policy = self._seed_policy(self.policy)
        self.stale = False

    def _seed_policy(self, policy_id):
        """The seed policy, as made (a case may have changed it), attached
        to the seed server (remade once deleted)."""
        seed = {"name": "fuzz-seed", "cron": "0 3 1 1 *", "keep_last": 2,
                "enabled": False, "timezone": "UTC", "description": None,
                "memory": False, "quiesce": "preferred",
                "include_volumes": False, "name_template": "{policy}-{server}"}
        if policy_id is not None:
            path = f"/v1/snapshot-policies/{policy_id}"
            resp = self._call("PUT", path, json={"snapshot_policy": dict(
                seed, **{f"keep_{rule}": 0 for rule in (
                    "hourly", "daily", "weekly", "monthly", "yearly")})})
            if resp.status_code != 200:
                policy_id = None
        if policy_id is None:
            resp = self._call("POST", "/v1/snapshot-policies",
                              json={"snapshot_policy": dict(
                                  seed, project_id=PROJECT)})
            policy_id = h.ok(resp, 201)["snapshot_policy"]["id"]
        resp = self._call("POST",
                          f"/v1/servers/{self.server}/snapshot-policies",
                          json={"policy_id": policy_id})
        assert resp.status_code in (200, 409), resp.text
        return policy_id

    def _enabled_service(self):
        """The id of this API's own compute service, enabled again (a
        case may have disabled it, and every mutation would then be
        refused)."""
        services = h.ok(self._call("GET", "/v1/os-services"))["services"]
        service_id = services[0]["id"]
        if services[0]["status"] != "enabled":
            h.ok(self._call("PUT", f"/v1/os-services/{service_id}",
                            json={"service": {"status": "enabled"}}))
        return service_id

    def _active_image(self, image_id):
        """An image exported from a seed snapshot (remade once deleted)."""
        if image_id is not None:
            resp = self._call("GET", f"/v1/images/{image_id}")
            if resp.status_code == 200:
                return image_id
        resp = self._call(
            "POST", h.snapshot_path(self.server, self.snapshots[0]) + "/action",
            json={"export": {"image_name": "fuzz-seed"}})
        image_id = h.ok(resp, 202)["image"]["id"]
        self._wait_idle(self.server)
        return image_id

    def _live_node(self, node_id):
        """An enrolled bare-metal node (remade once deleted)."""
        if node_id is not None:
            resp = self._call("GET", f"/v1/baremetal/nodes/{node_id}")
            if resp.status_code == 200:
                return node_id
        self.node_token = "fuzz-seed-token-" + h.unique()
        resp = self._call("POST", "/v1/baremetal/nodes", json={"node": {
            "name": h.unique("fuzz-seed-node-"),
            "agent_url": "https://127.0.0.1:9999",
            "agent_token": self.node_token}})
        return h.ok(resp, 201)["node"]["id"]

    def bare_metal_server(self):
        """A bare-metal server of the fuzz project in provision state
        'snapshot failed', put back in it before every case aimed at it, so
        that abort_snapshot and retry_snapshot get past their checks. No
        bare-metal driver runs here: the record is written into the
        database as the driver's adopt writes it."""
        engine = h.db_engine(self.api)
        try:
            with engine.begin() as conn:
                reset = self.bare_metal is not None and conn.execute(sa.text(
                    "UPDATE servers SET provision_state = 'snapshot failed', "
                    "task_state = NULL, task_id = NULL WHERE id = :id"),
                    {"id": self.bare_metal}).rowcount
                if not reset:
                    self.bare_metal = str(uuid.uuid4())
                    conn.execute(sa.text(
                        "INSERT INTO servers (id, name, project_id, driver, "
                        "hypervisor_ref, host, status, origin, linked, "
                        "capabilities, driver_info, provision_state, "
                        "created_at) VALUES (:id, 'fuzz-bm', :project, "
                        "'baremetal', :id, 'fuzz-bm-host', 'ACTIVE', "
                        "'adopted', :false, '{}', '{}', 'snapshot failed', "
                        ":now)"),
                        {"id": self.bare_metal, "project": PROJECT,
                         "false": False, "now": datetime.datetime.utcnow()})
        finally:
            engine.dispose()
        return self.bare_metal

    def agent_token(self, case, token):
        """The X-Agent-Token a case of an agent's route sends: the seed
        node's when it is aimed at that node and sent by a real identity,
        a wrong one for a malformed identity, none without one."""
        if token is None:
            return None
        params = case.path_parameters or {}
        if token in (ADMIN, MEMBER) and params.get("node_id") == self.node:
            return self.node_token
        return "not the agent token"

    def _target(self, aim):
        if aim == "fresh":
            if self.fresh is None:
                server = self._live_server(None)
                self.fresh = server, self._available(server, 1)
            return self.fresh
        if aim == "seed":
            return self.server, self.snapshots
        return self.other_server, self.other_snapshots

    def aim(self, case, aim, pick, positive):
        """Point the case's well-formed ids (path, list marker, body) at real
        resources, and, in a positive case, an adoption at the fake driver."""
        self.aimed = aim
        if aim == "generated":
            return
        self.refresh()
        server, snapshots = self._target(aim)
        own = snapshots[pick % len(snapshots)]
        params = case.path_parameters or {}
        if _uuid(params.get("server_id")):
            params["server_id"] = server
            body = case.body
            if (isinstance(body, dict) and pick % 2 == 0 and set(body) & {
                    "abort_snapshot", "retry_snapshot"}):
                params["server_id"] = self.bare_metal_server()
        if _uuid(params.get("image_id")):
            params["image_id"] = self.image
        if _uuid(params.get("node_id")):
            params["node_id"] = self.node
        if _uuid(params.get("service_id")):
            params["service_id"] = self.service
        if _uuid(params.get("policy_id")):
            params["policy_id"] = self.policy
        if "project_id" in params and pick % 3 != 2:
            params["project_id"] = PROJECT
        if _uuid(params.get("snapshot_id")):
            # Now and then a snapshot of another server under this one.
            params["snapshot_id"] = own if pick % 3 != 2 else (
                self.snapshots[0] if server != self.server
                else self.other_snapshots[0])
        query = case.query or {}
        self._aim_delete_info(query)
        if _uuid(query.get("marker")):
            # A marker from the listing itself: a page after it.
            query["marker"] = {"/v1/servers": server,
                               "/v1/images": self.image,
                               "/v1/baremetal/nodes": self.node}.get(
                case.operation.path, own)
        body = case.body
        if isinstance(body, dict) and _uuid(body.get("policy_id")):
            body["policy_id"] = self.policy  # an attach
        if isinstance(body, dict) and len(body) == 1:
            inner = next(iter(body.values()))
            if (isinstance(inner, dict) and "prune" in body
                    and _uuid(inner.get("server_id"))):
                inner["server_id"] = self.server  # the policy's server
            if isinstance(inner, dict) and _uuid(inner.get("snapshot_id")):
                inner["snapshot_id"] = own
            if isinstance(inner, dict) and _uuid(inner.get("volume_id")):
                inner["volume_id"] = self.volume_id
            # Not in a negative case: its broken field may be the driver.
            if (positive and isinstance(inner, dict) and "server" in body
                    and "hypervisor_ref" in inner and pick % 2 == 0):
                inner["driver"] = "fake"  # adopt for real

    def _aim_delete_info(self, query):
        """An assisted delete's delete_info (JSON) at the seeded volume."""
        try:
            info = json.loads(query.get("delete_info") or "null")
        except (TypeError, ValueError):
            return
        if isinstance(info, dict) and _uuid(info.get("volume_id")):
            info["volume_id"] = self.volume_id
            query["delete_info"] = json.dumps(info)

    def saw(self, label, status):
        if not 200 <= status < 300:
            return
        if label.startswith("POST ") and "os-assisted-volume-snapshots" in label:
            # The volume's chain now holds the case's new_file, which the
            # next cases (the same generated names, on the other route)
            # could not add again: they get a volume of their own.
            self.volume_id = str(uuid.uuid4())
            self.volume_server = None
            self.stale = True
        if label.startswith(("PUT /v1/os-services", "PUT /v1/os-quota-sets",
                             "PUT /v1/snapshot-policies")):
            # Enabled, unlimited, as seeded again before the next case.
            self.stale = True
        deleted = label.startswith("DELETE ")
        spawned = label == "POST /v1/servers" and self.aimed == "fresh"
        if deleted:
            self.stale = True
        if deleted or spawned:
            self.fresh = None  # gone, or a clone depends on it: make another


def _uuid(value):
    return isinstance(value, str) and validation.UUID_RE.fullmatch(value)


class Report:
    """Figures per operation, and the first failures in detail."""

    def __init__(self, database, examples):
        self.database = database
        self.examples = examples
        self.operations = collections.defaultdict(
            lambda: {"cases": 0, "positive": 0, "negative": 0,
                     "statuses": collections.Counter(),
                     "by_token": collections.Counter(),
                     "mangled": collections.Counter()})
        self.failures = []
        self.started = time.monotonic()

    def record(self, label, mode, token, resp, mangled):
        entry = self.operations[label]
        entry["cases"] += 1
        entry[mode] += 1
        entry["statuses"][resp.status_code] += 1
        entry["by_token"][token.split(":")[0] if token else "none"] += 1
        if mangled:
            entry["mangled"][mangled] += 1

    def fail(self, label, mode, resp, problem, case, mangled):
        if len(self.failures) < 50:
            self.failures.append({
                "operation": label, "mode": mode, "mangled": mangled,
                "status": resp.status_code, "problem": problem[:2000],
                "body": resp.text[:500],
                "url": str(getattr(resp.request, "url", ""))[:1000],
                "case": case.as_curl_command()[:1000]})

    def summary(self, seed_requests):
        total = sum(e["cases"] for e in self.operations.values())
        server_errors = sum(n for e in self.operations.values()
                            for code, n in e["statuses"].items() if code >= 500)
        return {
            "database": self.database,
            "examples_per_operation_and_mode": self.examples,
            "operations": {label: {
                "cases": e["cases"], "positive": e["positive"],
                "negative": e["negative"],
                "statuses": dict(sorted(e["statuses"].items())),
                "by_token": dict(sorted(e["by_token"].items())),
                "mangled": dict(sorted(e["mangled"].items()))}
                for label, e in sorted(self.operations.items())},
            "fuzz_requests": total,
            "seed_requests": seed_requests,
            "server_errors": server_errors,
            "failures": len(self.failures),
            "seconds": round(time.monotonic() - self.started, 1),
        }


def _modes(operation):
    """Negative cases need something to break: a parameter or a body."""
    has_input = bool(list(operation.iter_parameters())) or bool(
        list(operation.body))
    return ([GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if has_input
            else [GenerationMode.POSITIVE])


def _with_surrogate(value, done):
    """``value`` with a lone UTF-16 surrogate added to its first string."""
    if done[0]:
        return value
    if isinstance(value, str):
        done[0] = True
        return value + "\ud800"
    if isinstance(value, list):
        return [_with_surrogate(v, done) for v in value]
    if isinstance(value, dict):
        return {_with_surrogate(k, done): _with_surrogate(v, done)
                for k, v in value.items()}
    return value


def mangle(kwargs, how, pick):
    """The request ``kwargs`` (for requests) spoilt below what a schema can
    describe, or None when ``how`` does not apply to it."""
    kwargs = dict(kwargs)
    if how == "surrogate-in-body":
        if "json" not in kwargs:
            return None
        done = [False]
        body = _with_surrogate(kwargs.pop("json"), done)
        if not done[0]:
            return None
        kwargs["data"] = json.dumps(body).encode()  # "\ud800" as an escape
        return kwargs
    url = urllib.parse.urlsplit(kwargs["url"])
    if how == "not-utf8-path":
        segments = (url.path or "/").split("/")
        index = 1 + pick % (len(segments) - 1)
        segments[index] += ("%FF", "%C3%28", "%ED%A0%80")[pick % 3]
        kwargs["url"] = f"{url.scheme}://{url.netloc}" + "/".join(segments)
        return kwargs
    if how == "not-utf8-query":
        params = dict(kwargs.get("params") or {})
        name, value = (params.popitem() if params else ("limit", "1"))
        kwargs["params"] = params
        kwargs["url"] += (f"?{urllib.parse.quote(str(name))}="
                          f"{urllib.parse.quote(str(value))}%FE")
        return kwargs
    raise AssertionError(how)


def _documented_statuses(document, operation):
    return {int(code) for code in document["paths"][operation.path][
        operation.method.lower()]["responses"]}


def _fuzz_operation(api, document, operation, mode, seeds, report, session):
    label = operation.label
    documented = _documented_statuses(document, operation)
    # An agent's route (the heartbeat) takes its node's X-Agent-Token.
    agent_route = {"agentToken": []} in document["paths"][operation.path][
        operation.method.lower()].get("security", [])
    strategy = st.tuples(operation.as_strategy(generation_mode=mode),
                         st.sampled_from(TOKENS), st.sampled_from(MICROVERSIONS),
                         st.sampled_from(AIMS), st.integers(0, 5),
                         st.sampled_from(MANGLES))

    @hypothesis.settings(
        max_examples=FUZZ_EXAMPLES, derandomize=True, database=None,
        deadline=None, suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        verbosity=hypothesis.Verbosity.quiet)
    @hypothesis.given(strategy)
    def run(drawn):
        case, token, microversion, aim, pick, how = drawn
        seeds.aim(case, aim, pick, mode == GenerationMode.POSITIVE)
        headers = {}
        if token is not None:
            headers["X-Auth-Token"] = token
        if agent_route:
            agent_token = seeds.agent_token(case, token)
            if agent_token is not None:
                headers["X-Agent-Token"] = agent_token
        if microversion is not None:
            headers[h.MICROVERSION] = microversion
        mangled = how and mangle(case.as_transport_kwargs(
            base_url=api.url, headers=headers), how, pick)
        if mangled:
            resp = session.request(**mangled, timeout=30)
        else:
            resp = case.call(base_url=api.url, headers=headers, session=session,
                             timeout=30)
        report.record(label, mode.value, token, resp, how if mangled else None)
        seeds.saw(label, resp.status_code)
        problems = []
        if resp.status_code >= 500:
            problems.append(f"server error {resp.status_code}")
        elif resp.status_code >= 400:
            problem = nova_fault_problem(resp)
            if problem:
                problems.append(f"not a Nova fault: {problem}")
        if mangled:
            # The case no longer describes the request: no schema checks, but
            # it must be refused, with a documented status.
            if resp.status_code < 400:
                problems.append(f"a {how} request was accepted")
            if resp.status_code not in documented:
                problems.append(f"undocumented status {resp.status_code}")
        else:
            try:
                case.validate_response(resp, checks=CHECKS, headers=headers)
            except st_failures.FailureGroup as group:
                problems.extend(f"{f.title}: {f.message}"
                                for f in group.exceptions)
        for problem in problems:
            report.fail(label, mode.value, resp, problem, case,
                        how if mangled else None)

    run()


def run_fuzz(api, database):
    """Fuzz every documented operation; returns the report."""
    document = h.ok(api.request("GET", "/v1/openapi.json", token=MEMBER))
    schema = schemathesis.openapi.from_dict(document)
    # The token is drawn per case (TOKENS); schemathesis must not make its own
    # (nor drop it as a "negative" case, which would never reach a validator).
    schema.config.generation.update(with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    report = Report(database, FUZZ_EXAMPLES)
    seeds = Seeds(api)
    with requests.Session() as session:
        for operation in operations:
            for mode in _modes(operation):
                _fuzz_operation(api, document, operation, mode, seeds, report,
                                session)
    documented = {f"{method.upper()} {path}"
                  for path, item in document["paths"].items() for method in item}
    return report, documented, seeds


def test_fuzzing_every_route_gives_no_5xx_and_only_documented_nova_faults(api):
    log_before = len(api.read_log())
    database = "postgresql" if api.db_url.startswith("postgresql") else "sqlite"
    report, documented, seeds = run_fuzz(api, database)
    summary = report.summary(seeds.requests)
    if REPORT_DIR:
        os.makedirs(REPORT_DIR, exist_ok=True)
        with open(os.path.join(REPORT_DIR, f"fuzz-{database}.json"), "w") as f:
            json.dump({**summary, "failure_details": report.failures}, f,
                      indent=2)
    print(json.dumps(summary, indent=1))
    # Every route was fuzzed, as both identities, and reached past the
    # validators (some 2xx) on every operation.
    assert set(summary["operations"]) == documented
    for label, entry in summary["operations"].items():
        assert entry["by_token"].get("admin") and entry["by_token"].get(
            "member"), (label, entry)
        assert any(200 <= code < 300 for code in entry["statuses"]), (label, entry)
    assert report.failures == [], json.dumps(report.failures[:10], indent=1)
    assert summary["server_errors"] == 0
    log = api.read_log()[log_before:]
    for problem in LOG_PROBLEMS:
        assert problem not in log, log[max(0, log.find(problem) - 2000):][:4000]
