"""The layers of docs/architecture.md are the package's folders, and they hold: no import runs back up, the core
does no I/O, nothing below the wiring imports Dagster, nothing deployed imports `dev`; the docs name every
module."""

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "octograph_pipeline"
# Bottom to top: a module may import its own layer and those below it, never one above.
LAYERS = {
    "core": 0,  # pure: no I/O, no Dagster
    "clients": 1,  # I/O without Dagster
    "config": 1,  # reads the INI file
    "orchestration": 2,  # the Dagster wiring
    "cli": 3,  # entry points
    "daemon": 3,
    "definitions": 3,
    "instance": 3,  # the storages' former address, for older dagster.yaml files
    "dev": 4,  # the simulator, a private influxd, the demo: nothing deployed imports it
}
WITHOUT_DAGSTER = ["core", "clients", "config", "dev/simulator", "dev/influxd", "orchestration/dagster_home"]


def modules() -> list[str]:
    """Every module of the package as docs name it (`clients/influx`), packages' __init__ files left out and the
    simulator as one."""
    return sorted(
        {
            "dev/simulator" if "simulator" in path.parts else str(path.relative_to(PACKAGE).with_suffix(""))
            for path in PACKAGE.rglob("*.py")
            if path.name != "__init__.py" or "simulator" in path.parts
        }
    )


def layer(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def files_of(module: str) -> list[Path]:
    path = PACKAGE / module
    return sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


def imported(path: Path) -> set[str]:
    """Every module the file imports, dotted, at any depth of the code (lazy imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (the package imports by absolute names)"
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def top_level(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported(path)}


def calls(path: Path) -> set[str]:
    return {
        node.func.id
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


def test_every_file_is_in_a_layer():
    assert {layer(path) for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"} <= set(LAYERS)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_import_runs_back_up(path):
    if path == PACKAGE / "__init__.py":
        return
    own = LAYERS[layer(path)]
    for name in imported(path):
        parts = name.split(".")
        if parts[0] == "octograph_pipeline" and len(parts) > 1 and parts[1] in LAYERS:
            assert LAYERS[parts[1]] <= own, f"{path.relative_to(PACKAGE)} imports {name}, a layer above it"


@pytest.mark.parametrize("module", WITHOUT_DAGSTER)
def test_no_dagster_below_the_wiring(module):
    for path in files_of(module):
        assert "dagster" not in top_level(path), path


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")), ids=lambda path: path.name)
def test_the_core_does_no_io(path):
    assert not top_level(path) & {"requests", "urllib3", "influxdb_client", "socket", "subprocess"}, path
    assert "open" not in calls(path), path


def test_the_architecture_page_and_the_readme_name_every_module():
    page = (REPO / "docs" / "architecture.md").read_text()
    described = set(re.findall(r"\*\*`octograph_pipeline/([a-z_/]+?)(?:\.py|/)`\*\*", page))
    assert described == set(modules())
    readme = (REPO / "README.md").read_text()
    tree = readme[readme.index("## Development") :]
    for module in modules():
        name = module.split("/")[-1]
        assert re.search(rf"^\s+{re.escape(name)}(\.py|/)\s", tree, re.MULTILINE), f"README tree lacks {module}"


def test_only_days_works_out_local_dates_from_the_clock():
    """One home for "today": `days.today()` (and `days.local_date()` for an instant)."""
    for path in PACKAGE.rglob("*.py"):
        if path != PACKAGE / "core" / "days.py":
            clock_date = r"date\.today\(|\.now\([^)]*\)\.date\(\)|\.now\([^)]*\)\s*\.astimezone"
            assert not re.search(clock_date, path.read_text()), path


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")), ids=lambda path: path.name)
def test_the_cores_functions_take_what_they_use_not_the_whole_settings(path):
    """A pure function takes the time zone, the price rules or the tags it uses (`settings.PriceRules`,
    `PointTags`, `GasConversion`), so a reader sees what decides its result."""
    whole = {"Settings", "OctopusSettings", "InfluxSettings", "PipelineSettings"}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and path.name != "settings.py":
            for argument in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
                annotation = ast.unparse(argument.annotation) if argument.annotation else ""
                named = set(re.findall(r"\w+", annotation))
                assert not named & whole, f"{path.name}: {node.name}({argument.arg}: {annotation})"
