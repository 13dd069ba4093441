"""What a Python bench script does first (bench/console.py, bench/scheduler.py):
run under the repository's venv whatever `python3` is first on PATH (the
service, its console scripts and the test fixtures live there), with the
repository importable, and load bench/api (a script without .py) as a module
for its machine facts, statistics and BenchError.

Only the standard library is imported here: it runs before the venv is."""

import importlib.machinery
import importlib.util
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PYTHON = os.path.join(REPO, ".venv", "bin", "python")


def enter_venv(script):
    """Re-run ``script`` under the venv's python if this is another one;
    then put the repository on sys.path."""
    if (os.path.realpath(sys.prefix) != os.path.realpath(os.path.join(REPO, ".venv"))
            and os.path.exists(VENV_PYTHON)
            and not os.environ.get("NATIVESNAP_BENCH_REEXEC")):
        os.environ["NATIVESNAP_BENCH_REEXEC"] = "1"
        os.execv(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(script), *sys.argv[1:]])
    if REPO not in sys.path:
        sys.path.insert(0, REPO)


def load_bench_api():
    """bench/api as a module."""
    loader = importlib.machinery.SourceFileLoader(
        "nativesnap_bench_api", os.path.join(REPO, "bench", "api"))
    module = importlib.util.module_from_spec(
        importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def attempt(script, run, *args):
    """``run(*args)``; False (its trace and one line on stderr) if it raised."""
    import traceback
    try:
        run(*args)
    except Exception as e:  # noqa: BLE001 — whatever it was, the run failed
        traceback.print_exc()
        print(f"{script}: could not run: {type(e).__name__}: {e}", file=sys.stderr)
        return False
    return True


def write_report(path, report):
    """``report`` as JSON at ``path``, replaced in one step."""
    import json
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, default=str)
        f.write("\n")
    os.replace(path + ".tmp", path)


def code_sha256(paths):
    """A short digest of the files (repository paths) a bench measures."""
    import hashlib
    digest = hashlib.sha256()
    for name in paths:
        with open(os.path.join(REPO, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]
