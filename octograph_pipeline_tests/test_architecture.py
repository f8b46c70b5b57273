"""The layers of docs/architecture.md hold, and the docs name the modules the package has."""

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "octograph_pipeline"
PURE = ["days", "pricing", "frames", "comparison", "checks", "metadata", "influx/schema", "octopus/models"]
PURE += ["octopus/tariffs"]
WITHOUT_DAGSTER = [*PURE, "config", "net", "octopus/client", "octopus/graphql", "influx/store", "influx/local"]
WITHOUT_DAGSTER += ["simulator", "dagster_home"]


def modules() -> list[str]:
    """Every module of the package as docs name it (`influx/store`), packages' __init__ files left out."""
    return sorted(
        str(path.relative_to(PACKAGE).with_suffix(""))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and path.parent.name != "simulator"
    ) + ["simulator"]


def files_of(module: str) -> list[Path]:
    path = PACKAGE / module
    return sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


def imported(path: Path) -> set[str]:
    """Top-level names of every module the file imports, at any depth of the code (lazy imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def calls(path: Path) -> set[str]:
    return {
        node.func.id
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


@pytest.mark.parametrize("module", WITHOUT_DAGSTER)
def test_no_dagster_below_the_wiring(module):
    for path in files_of(module):
        assert "dagster" not in imported(path), path


@pytest.mark.parametrize("module", PURE)
def test_the_pure_layer_does_no_io(module):
    (path,) = files_of(module)
    assert not imported(path) & {"requests", "urllib3", "influxdb_client", "socket", "subprocess"}, path
    assert "open" not in calls(path), path


def test_every_module_has_a_layer():
    wiring = ["partitions", "resources", "assets", "influx/io_manager", "jobs", "schedules", "definitions"]
    wiring += ["runs", "instance", "daemon"]
    entry_points = ["cli", "demo"]
    assert sorted([*WITHOUT_DAGSTER, *wiring, *entry_points]) == modules()


def test_the_architecture_page_and_the_readme_name_every_module():
    page = (REPO / "docs" / "architecture.md").read_text()
    described = set(re.findall(r"\*\*`octograph_pipeline/([a-z_/]+?)(?:\.py|/)`\*\*", page))
    assert described == set(modules())
    readme = (REPO / "README.md").read_text()
    tree = readme[readme.index("## Development") :]
    for module in modules():
        name = module.split("/")[-1]
        assert re.search(rf"^\s+{re.escape(name)}(\.py|/)\s", tree, re.MULTILINE), f"README tree lacks {module}"
