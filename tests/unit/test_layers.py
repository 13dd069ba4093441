"""The layers of docs/architecture.md hold: the import-linter contracts of
setup.cfg (the API imports neither the database nor a driver, drivers import
no database, the compute side reaches the database only through objects, no
driver imports another), no import circle, and no module calls another
module's private names."""

import ast
import os
import shutil
import subprocess
import sys

import grimp
import pytest

from tests import fixtures

PACKAGE = os.path.join(fixtures.REPO, "nativesnap")
LINT_IMPORTS = os.path.join(os.path.dirname(sys.executable), "lint-imports")
CONTRACTS = 7


def lint_imports(cwd, package_parent):
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", os.path.join(fixtures.REPO, "setup.cfg")],
        cwd=cwd, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=package_parent))


def test_the_import_contracts_are_kept():
    result = lint_imports(fixtures.REPO, fixtures.REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {CONTRACTS} kept, 0 broken." in result.stdout


@pytest.mark.parametrize("module,line,contract", [
    ("api/router.py", "from nativesnap.db import api as _db", "api-database"),
    ("api/router.py", "from nativesnap.virt import fake as _fake",
     "api-drivers"),
    ("compute/manager.py", "from nativesnap.db import api as _db",
     "compute-database"),
    ("virt/fake.py", "from nativesnap.objects import server as _server",
     "drivers-database"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, line,
                                                contract):
    copy = tmp_path / "nativesnap"
    shutil.copytree(PACKAGE, copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / module, "a") as f:
        f.write(f"\n{line}  # noqa\n")
    result = lint_imports(tmp_path, str(tmp_path))
    assert result.returncode != 0
    assert "1 broken" in result.stdout, result.stdout
    broken = [block for block in result.stdout.split("\n\n")
              if "BROKEN" in block]
    assert broken, result.stdout


def test_there_is_no_import_circle():
    graph = grimp.build_graph("nativesnap", include_external_packages=False,
                              cache_dir=None)
    circles = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported == importer or imported.startswith(importer + "."):
                continue  # a package loading one of its own modules
            back = graph.find_shortest_chain(importer=imported,
                                             imported=importer)
            if back:
                circles.add(tuple(sorted((importer, imported))))
    assert sorted(circles) == []


def _project_aliases(tree):
    """Names bound to nativesnap modules by the module's imports."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "nativesnap"):
            for name in node.names:
                aliases[name.asname or name.name] = f"{node.module}.{name.name}"
        elif isinstance(node, ast.Import):
            for name in node.names:
                if name.name.startswith("nativesnap"):
                    aliases[name.asname or name.name] = name.name
    return aliases


def _is_alias(node, aliases):
    """``node`` names a nativesnap module (``module._name``)."""
    return isinstance(node, ast.Name) and node.id in aliases


def _is_collaborator(node):
    """``node`` is an object held by ``self`` (``self.other._name``)."""
    return (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "self" and not node.attr.startswith("_"))


def test_no_module_uses_another_modules_private_names():
    found = []
    for root, _dirs, files in os.walk(PACKAGE):
        for file_name in files:
            if not file_name.endswith(".py"):
                continue
            path = os.path.join(root, file_name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            aliases = _project_aliases(tree)
            where = os.path.relpath(path, fixtures.REPO)
            for node in ast.walk(tree):
                if (isinstance(node, ast.ImportFrom)
                        and (node.module or "").startswith("nativesnap")):
                    found += [f"{where}: from {node.module} import {n.name}"
                              for n in node.names if n.name.startswith("_")]
                if (isinstance(node, ast.Attribute)
                        and node.attr.startswith("_")
                        and not node.attr.startswith("__")
                        and (_is_alias(node.value, aliases)
                             or _is_collaborator(node.value))):
                    found.append(f"{where}:{node.lineno}: "
                                 f"{ast.unparse(node)}")
    assert found == []


def test_the_agent_imports_nothing_of_nativesnap_outside_itself():
    # nativesnap-agent ships to a ramdisk on its own (nativesnap/agent/__init__.py)
    graph = grimp.build_graph("nativesnap", include_external_packages=False,
                              cache_dir=None)
    outside = {(importer, imported)
               for importer in graph.find_descendants("nativesnap.agent")
               | {"nativesnap.agent"}
               for imported in graph.find_modules_directly_imported_by(importer)
               if imported != "nativesnap"
               and not imported.startswith("nativesnap.agent")}
    assert sorted(outside) == []
