#!/usr/bin/env python3
"""bench/scheduler.py — one run of the snapshot policies' scheduler on a
compute service with thousands of servers under policies: its cost and how
it grows (issue 16: ≤ 1 s per run at 10,000 servers, linear or better;
reported, not asserted).

A PostgreSQL database of its own (migrated as ``nativesnap-manage db sync``
does) gets, by bulk INSERTs, N fake-driver servers on ``bench-host``, each
attached to one of 10 hourly policies (keep_last 3) with 10 available
snapshots it took an hour apart. For each N (filled cumulatively) it times
``Scheduler.run(context)`` from three states of the attachments, set by SQL
before each sample: ``find`` (nothing due or to prune: reading the host's
work), ``due`` (every pair due: deciding each take and recording the run,
one attachment save each) and ``prune`` (every pair to prune: reading the
servers' snapshots, deciding per server what is kept and removed).

Takes and deletes are NOT executed: a stand-in compute API counts them, so
the figures are the scheduler's decision cost — its queries and writes —
not the snapshots'. The storage guard asks the fake driver; the scheduler
logs at INFO (to /dev/null), as a service does. Prints a table (median of
--samples runs, per server, SQL statements, sessions — each also a ping and
a commit or rollback —, CPU, largest/smallest ratio) and writes JSON;
--profile adds a cProfile of one more run of each state at the largest size.
Exit 0 when it ran, 1 when it could not, 2 for bad arguments.

  bench/scheduler.py [--profile]                 1,000 / 3,000 / 10,000 servers
  bench/scheduler.py --sizes 20,50 --samples 1   smoke run, seconds
"""

import bootstrap

bootstrap.enter_venv(__file__)
REPO = bootstrap.REPO

import argparse  # noqa: E402
import cProfile  # noqa: E402
import datetime  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from tests import fixtures  # noqa: E402


bench_api = bootstrap.load_bench_api()
BenchError = bench_api.BenchError

HOST, PROJECT, USER = "bench-host", "bench-project", "bench-user"
UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # the scheduler's clock
HOUR = datetime.timedelta(hours=1)
SERVER_ID = "5c000000-0000-4000-8000-{:012x}"
SNAPSHOT_ID = "5a000000-0000-4000-8000-{:012x}"
POLICY_ID = "5e000000-0000-4000-8000-{:012x}"
TARGET_SECONDS = 1.0
POLICIES = 10  # the servers spread over them
STATES = ("find", "due", "prune")
# The attachments' (next_run_at, prune_due) before a sample (naive UTC).
_FUTURE = (NOW + HOUR).replace(tzinfo=None)
STATE_SQL = {"find": (_FUTURE, False), "due": (NOW.replace(tzinfo=None), False),
             "prune": (_FUTURE, True)}
# The code measured, fingerprinted in the JSON (a working tree is not HEAD).
CODE = ("nativesnap/scheduler/runner.py", "nativesnap/scheduler/api.py",
        "nativesnap/scheduler/prune.py", "nativesnap/db/policies.py",
        "nativesnap/objects/policy.py")


class CountingComputeAPI:
    """Stands for the compute API: counts the takes and deletes asked for
    and makes none (nor the records a real take writes with its snapshot)."""

    def __init__(self):
        self.takes = self.deletes = 0

    def create_snapshot(self, context, server, name, **kwargs):
        self.takes += 1
        return types.SimpleNamespace(id=SNAPSHOT_ID.format(0))

    def delete_snapshot(self, context, server, snapshot, **kwargs):
        self.deletes += 1


def fill(engine, lo, hi, settings):
    """Servers lo .. hi-1, their attachment and snapshots (and the policies
    first), by bulk INSERTs through SQLAlchemy core; returns its seconds."""
    from nativesnap.db import models
    started = time.monotonic()
    per, keep = settings["snapshots"], settings["keep_last"]
    policies = [{"id": POLICY_ID.format(p), "project_id": PROJECT, "user_id": USER,
                 "name": f"hourly-{p}", "interval_minutes": 60, "timezone": "UTC",
                 "memory": False, "quiesce": "preferred", "include_volumes": False,
                 "name_template": "{policy}-{time:%Y%m%d-%H%M}", "enabled": True,
                 **{f"keep_{r}": 0 for r in ("hourly", "daily", "weekly",
                                              "monthly", "yearly")}, "keep_last": keep}
                for p in range(POLICIES)] if lo == 0 else []
    servers, attachments, snapshots = [], [], []
    for g in range(lo, hi):
        sid, pid = SERVER_ID.format(g), POLICY_ID.format(g % POLICIES)
        servers.append({
            "id": sid, "name": f"bench-vm-{g}", "project_id": PROJECT,
            "user_id": USER, "driver": "fake", "hypervisor_ref": f"bench-vm-{g}",
            "host": HOST, "status": "ACTIVE", "origin": "adopted", "linked": False,
            "current_snapshot_id": SNAPSHOT_ID.format(g * per + per - 1)})
        attachments.append({"policy_id": pid, "server_id": sid,
                            "next_run_at": _FUTURE, "prune_due": False})
        for k in range(per):  # a chain, the newest the server's current
            slot = (NOW - (per - k) * HOUR).replace(tzinfo=None)
            snapshots.append({
                "id": SNAPSHOT_ID.format(g * per + k), "server_id": sid,
                "project_id": PROJECT, "user_id": USER, "name": f"hourly-{k}",
                "status": "available", "progress": 100, "kind": "external",
                "quiesce": "preferred", "consistency": "crash",
                "parent_id": SNAPSHOT_ID.format(g * per + k - 1) if k else None,
                "policy_id": pid, "scheduled_at": slot, "created_at": slot,
                "updated_at": slot})
    with engine.begin() as conn:
        for table, rows in ((models.SnapshotPolicy, policies),
                            (models.Server, servers),
                            (models.PolicyAttachment, attachments)):
            if rows:
                conn.execute(table.__table__.insert(), rows)
        for start in range(0, len(snapshots), 20_000):
            conn.execute(models.Snapshot.__table__.insert(),
                         snapshots[start:start + 20_000])
    vacuum(engine, "servers", "snapshots", "snapshot_policies")
    return round(time.monotonic() - started, 2)


def vacuum(engine, *tables):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables + ("policy_attachments",):
            conn.execute(sa.text(f"VACUUM ANALYZE {table}"))


class Bench:
    """The database, the scheduler of ``bench-host`` and what they send."""

    def __init__(self, engine, scheduler, context, settings):
        self.engine, self.scheduler = engine, scheduler
        self.context, self.settings = context, settings
        self.statements = self.sessions = 0
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "checkout", self._session)

    def _statement(self, *args):
        self.statements += 1

    def _session(self, *args):
        self.sessions += 1  # each also a ping and a commit or rollback

    def set_state(self, state):
        from nativesnap.db import models
        next_run_at, prune_due = STATE_SQL[state]
        with self.engine.begin() as conn:
            conn.execute(models.PolicyAttachment.__table__.update().values(
                next_run_at=next_run_at, prune_due=prune_due, outcome=None))
        vacuum(self.engine)

    def one_run(self, state, servers, profile=None):
        """Time one Scheduler.run from ``state``; check what it asked for."""
        self.set_state(state)
        compute = CountingComputeAPI()
        self.scheduler.set_compute_api(compute)
        statements, sessions = self.statements, self.sessions
        cpu, started = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        outcomes = self.scheduler.run(self.context)
        if profile is not None:
            profile.disable()
        seconds = time.perf_counter() - started
        removed = self.settings["snapshots"] - self.settings["keep_last"]
        expected = {"find": (0, 0, 0), "due": (servers, servers, 0),
                    "prune": (servers, 0, servers * removed)}[state]
        got = (len(outcomes), compute.takes, compute.deletes)
        if got != expected:
            raise BenchError(f"{state} at {servers}: (outcomes, takes, deletes) "
                             f"= {got}, expected {expected}")
        return {"seconds": seconds, "cpu_seconds": time.process_time() - cpu,
                "statements": self.statements - statements,
                "sessions": self.sessions - sessions,
                "takes": compute.takes, "deletes": compute.deletes}

    def measure(self, servers):
        result = {}
        for state in STATES:
            runs = [self.one_run(state, servers)
                    for _ in range(self.settings["samples"])]
            median = statistics.median(r["seconds"] for r in runs)
            result[state] = dict(
                {k: runs[0][k] for k in ("statements", "sessions", "takes",
                                         "deletes")},
                median_s=round(median, 4),
                min_s=round(min(r["seconds"] for r in runs), 4),
                max_s=round(max(r["seconds"] for r in runs), 4),
                per_server_ms=round(median * 1000 / servers, 4),
                cpu_s=round(statistics.median(r["cpu_seconds"] for r in runs), 4),
                samples_s=[round(r["seconds"], 4) for r in runs])
            print(f"bench/scheduler.py: {servers} servers, {state}: "
                  f"{median:.3f} s", file=sys.stderr, flush=True)
        return result

    def profile(self, servers):
        """{state: {sort key: top functions}} of one profiled run each."""
        found = {}
        for state in STATES:
            profile = cProfile.Profile()
            self.one_run(state, servers, profile)
            found[state] = {}
            for key in ("tottime", "cumulative"):
                out = io.StringIO()
                pstats.Stats(profile, stream=out).sort_stats(key).print_stats(25)
                found[state][key] = out.getvalue()
        return found


def run(settings, report):
    from nativesnap import context as ns_context
    from nativesnap.conf import CONF
    from nativesnap.db import api as db_api
    from nativesnap.db import migration
    from nativesnap import objects
    from nativesnap.scheduler import runner
    from nativesnap.virt import fake

    objects.register_all()
    CONF([], project="nativesnap", default_config_files=[], default_config_dirs=[])
    log, handler = logging.getLogger("nativesnap"), logging.FileHandler(os.devnull)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    with fixtures.postgresql_database() as url:
        db_api.configure(url)
        try:
            migration.db_sync()
            scheduler = runner.Scheduler(HOST, None, fake.FakeDriver().free_space,
                                         clock=lambda: NOW)
            bench = Bench(db_api.get_engine(), scheduler,
                          ns_context.get_admin_context(), settings)
            filled = 0
            for servers in settings["sizes"]:
                seconds = fill(bench.engine, filled, servers, settings)
                if not filled:  # warm up: statements compiled, pool filled
                    for state in STATES:
                        bench.one_run(state, servers)
                filled = servers
                report["sizes"].append(dict(servers=servers, fill_seconds=seconds,
                                            **bench.measure(servers)))
            if settings["profile"]:
                report["profile"] = bench.profile(filled)
        finally:
            db_api.dispose()
            log.removeHandler(handler)
            handler.close()


def print_table(report):
    header = ("state", "servers", "median s", "min-max s", "per server ms",
              "SQL statements", "sessions", "CPU s", "≤ 1 s")
    lines = []
    for state in STATES:
        for size in report["sizes"]:
            r = size[state]
            met = "" if size is not report["sizes"][-1] else (
                "yes" if r["median_s"] <= TARGET_SECONDS else "NO")
            lines.append((state, size["servers"], f"{r['median_s']:.3f}",
                          f"{r['min_s']:.3f}-{r['max_s']:.3f}",
                          f"{r['per_server_ms']:.3f}", r["statements"],
                          r["sessions"], f"{r['cpu_s']:.3f}", met))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    for line in [header, ["-" * w for w in widths]] + lines:
        print(fmt.format(*line))
    for state, ratio in report["ratios"].items():
        print(f"{state}: {ratio['text']}")
    print("Takes and deletes not executed (a stand-in compute API counts "
          "them): the scheduler's decision cost only.")


def ratios(report):
    small, large = report["sizes"][0], report["sizes"][-1]
    servers = large["servers"] / small["servers"]
    found = {}
    for state in STATES:
        times = large[state]["median_s"] / max(small[state]["median_s"], 1e-9)
        found[state] = {"time_ratio": round(times, 2), "servers_ratio": servers,
                        "text": f"{large['servers']}/{small['servers']} servers "
                                f"({servers:g} x): {times:.2f} x the time"}
    return found


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="The cost of one snapshot-policy scheduler run as the "
                    "servers under policies grow (PostgreSQL, fake driver).")
    add = parser.add_argument
    add("--sizes", default="1000,3000,10000",
        help="servers on the host, increasing (1000,3000,10000)")
    add("--samples", type=int, default=3, help="runs per state and size (3)")
    add("--snapshots", type=int, default=10, help="per server, an hour apart (10)")
    add("--keep-last", type=int, default=3, help="the policies' keep_last (3)")
    add("--profile", action="store_true",
        help="cProfile one more run of each state at the largest size")
    add("--json", default=os.path.join(REPO, "bench", "results", "scheduler.json"))
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",") if n.strip().isdigit()]
    if (len(sizes) != len(args.sizes.split(",")) or sizes != sorted(set(sizes))
            or not 1 <= sizes[0] <= sizes[-1] <= 100_000):
        parser.error("--sizes: increasing numbers in [1, 100000], by commas")
    if not (1 <= args.samples <= 50 and 1 <= args.keep_last < args.snapshots <= 100):
        parser.error("need --samples in [1, 50], 1 <= --keep-last < --snapshots <= 100")
    return args, dict(sizes=sizes, samples=args.samples, snapshots=args.snapshots,
                      keep_last=args.keep_last, profile=args.profile)


def main(argv=None):
    args, settings = parse_args(argv)
    started = time.monotonic()
    report = {
        "benchmark": "scheduler",
        "date": datetime.datetime.now(UTC).isoformat(timespec="seconds"),
        "git": dict(bench_api.git_info(), scheduler_code_sha256=bootstrap.code_sha256(CODE)),
        "machine": dict(bench_api.machine_info(),
                        loadavg_at_start=bench_api.loadavg()),
        "config": dict(settings, host=HOST, policies=POLICIES, database="postgresql",
                       driver="fake (free space)", clock=NOW.isoformat(),
                       compute_api="stand-in: counts takes and deletes, "
                                   "executes none"),
        "targets": {"run_seconds_at_largest": TARGET_SECONDS}, "sizes": []}
    if not bootstrap.attempt("bench/scheduler.py", run, settings, report):
        return 1
    report["machine"]["loadavg_at_end"] = bench_api.loadavg()
    report["ratios"] = ratios(report)
    report["elapsed_seconds"] = round(time.monotonic() - started, 1)
    print_table(report)
    for state, text in report.get("profile", {}).items():
        print(f"\n--- one {state} run, by own time ---\n{text['tottime']}")
    bootstrap.write_report(args.json, report)
    print(f"\n{report['elapsed_seconds']} s; results in {os.path.relpath(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
