"""A real browser look at the Dagster UI: `dagster-webserver` on an instance that materialised three days, its
asset pages rendered by headless Chromium (Debian's `chromium`, installed by scripts/ensure-debian-package.sh), and
the screenshots (plus the rendered DOMs) kept under out/ui/, which git ignores and CI keeps as artifacts."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pytest
import requests

from octograph_pipeline.dev.influxd import free_port

from .browser import HEADLESS
from .helpers import materialize_days
from .processes import started

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "out" / "ui"
DAYS = ("2024-06-10", "2024-06-11", "2024-06-12")
# Asset -> the job (one per partitions definition) whose run materialised it.
ASSET_JOBS = {
    "account": "octopus_prices",
    "tariff_rates": "octopus_prices",
    "meter_consumption": "octopus_consumption",
    "priced_consumption": "octopus_consumption",
}
STARTUP_TIMEOUT = 90  # seconds for the webserver to answer and load the code location
# Virtual time lets the single-page app finish its GraphQL round trips before the DOM is dumped; a second,
# longer try absorbs a slow machine.
VIRTUAL_TIME_BUDGETS_MS = (15_000, 45_000)
CHROMIUM_TIMEOUT = 90  # seconds of real time per chromium run


@dataclass
class Materialised:
    home: Path
    run_ids: dict[str, str]  # job name -> the run that materialised its assets for DAYS


@pytest.fixture
def materialised(tmp_path, config_file) -> Materialised:
    """A persistent DAGSTER_HOME whose runs materialised every asset for DAYS (one run per job)."""
    home = tmp_path / "dagster_home"
    (home / ".nux").mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")  # no first-visit pop-up over the screenshots
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = materialize_days(config_file, DAYS[0], DAYS[-1], instance=instance)
        assert run.success
        for asset in ASSET_JOBS:
            assert set(instance.get_materialized_partitions(dg.AssetKey(asset))) == set(DAYS), asset
        run_ids = {instance.get_run_by_id(run_id).job_name: run_id for run_id in run.run_ids}
    assert set(run_ids) == set(ASSET_JOBS.values())
    return Materialised(home, run_ids)


@pytest.fixture
def webserver(tmp_path, materialised, config_file) -> Iterator[str]:
    """`dagster-webserver` on the repo's workspace.yaml and the materialised instance; yields its base URL once
    the code location has loaded. The whole process group (webserver and code server) is stopped afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)  # carries the test API key variable that config_file names
    env.update(DAGSTER_HOME=str(materialised.home), OCTOGRAPH_CONFIG=str(config_file))
    log = tmp_path / "webserver.log"
    command = [str(REPO / ".venv" / "bin" / "dagster-webserver"), "-w", str(REPO / "workspace.yaml")]
    with (
        log.open("wb") as log_file,
        started(
            [*command, "-h", "127.0.0.1", "-p", str(port)],
            cwd=materialised.home,  # not REPO: its dagster.yaml there would draw a warning
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        ) as process,
    ):
        wait_for_code_location(process, base, log)
        yield base


def wait_for_code_location(process: subprocess.Popen, base: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        assert process.poll() is None, f"dagster-webserver exited with {process.returncode}:\n{tail(log)}"
        try:
            if requests.get(f"{base}/server_info", timeout=5).status_code == 200:
                response = requests.post(
                    f"{base}/graphql", json={"query": "{ assetNodes { assetKey { path } } }"}, timeout=10
                )
                last = response.text[:1000]
                nodes = response.json().get("data", {}).get("assetNodes") or []
                if {"/".join(node["assetKey"]["path"]) for node in nodes} == set(ASSET_JOBS):
                    return
        except (requests.RequestException, ValueError, AttributeError) as error:
            last = repr(error)
        time.sleep(0.5)
    pytest.fail(f"the webserver did not load the four assets in {STARTUP_TIMEOUT} s (last: {last}):\n{tail(log)}")


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


class _VisibleText(HTMLParser):
    HIDDEN = ("script", "style", "noscript", "template")

    def __init__(self):
        super().__init__()
        self.chunks: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.chunks.append(data.strip())


def visible_text(dom: str) -> str:
    parser = _VisibleText()
    parser.feed(dom)
    return " | ".join(parser.chunks)


def render(chromium: str, tmp_path: Path, url: str, name: str, problems: Callable[[str], list[str]]) -> str:
    """The DOM of `url` as headless Chromium renders it, once `problems(dom)` finds none (retrying with a longer
    virtual time budget); the screenshot and DOM are saved as out/ui/`name`.png and .html either way."""
    OUT.mkdir(parents=True, exist_ok=True)
    screenshot, dom_file = OUT / f"{name}.png", OUT / f"{name}.html"
    for attempt, budget in enumerate(VIRTUAL_TIME_BUDGETS_MS):
        screenshot.unlink(missing_ok=True)
        command = [
            chromium,
            *HEADLESS,
            f"--user-data-dir={tmp_path / f'chromium-{name}-{attempt}'}",
            f"--virtual-time-budget={budget}",
            "--dump-dom",
            f"--screenshot={screenshot}",
            url,
        ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"chromium did not render {url} in {CHROMIUM_TIMEOUT} s")
        assert result.returncode == 0, f"chromium failed on {url} ({result.returncode}):\n{result.stderr[-3000:]}"
        dom = result.stdout
        dom_file.write_text(dom)
        found = problems(dom)
        if not found:
            assert screenshot.stat().st_size > 10_000, f"chromium wrote no real screenshot of {url}"
            return dom
    text = visible_text(dom)
    pytest.fail(
        f"{url} (see {dom_file.relative_to(REPO)} and {screenshot.name}):\n- "
        + "\n- ".join(found)
        + f"\nvisible text: {text[:2500]}"
    )


def catalog_problems(dom: str) -> list[str]:
    """Every asset has a row linking to its page, with 3 materialised (and no failed) partitions."""
    found = []
    rows = re.split(r'(?=data-testid="checkbox-)', dom)
    for asset in ASSET_JOBS:
        row = next((row for row in rows if row.startswith(f'data-testid="checkbox-{asset}"')), None)
        if row is None:
            found.append(f"no row for {asset}")
            continue
        text = visible_text("<div " + row)  # the row starts inside its checkbox's tag
        if f'href="/assets/{asset}"' not in row or asset not in text:
            found.append(f"the {asset} row has no link to /assets/{asset}: {text}")
        # The status column: a count after each status icon; the first is the materialised partitions.
        counts = dict(re.findall(r'aria-label="(partition_\w+)"[^>]*>\s*</div>\s*([\d,]+)\s*<', row)[:3])
        if counts.get("partition_success") != str(len(DAYS)) or counts.get("partition_failure") != "0":
            found.append(f"the {asset} row does not show {len(DAYS)} materialised partitions: {text}")
    return found


def partitions_problems(asset: str, run_id: str) -> Callable[[str], list[str]]:
    """The partitions tab, filtered to materialised partitions, lists exactly DAYS and shows the last one's run."""

    def problems(dom: str) -> list[str]:
        text = visible_text(dom)
        found = [
            f"no {expected!r}"
            for expected in (f"Materialized ({len(DAYS)})", f"{len(DAYS)} Partitions Selected")
            if expected not in text
        ]
        listed = set(re.findall(r'title="(\d{4}-\d{2}-\d{2})"', dom))
        if listed != set(DAYS):
            found.append(f"the partition list shows {sorted(listed)}, not {list(DAYS)}")
        if run_id[:8] not in text or ASSET_JOBS[asset] not in text:
            found.append(f"the {DAYS[-1]} details do not show run {run_id[:8]} of {ASSET_JOBS[asset]}")
        return found

    return problems


def test_the_ui_shows_the_four_assets_and_their_materialised_partitions(
    chromium, webserver, materialised, tmp_path
):
    render(chromium, tmp_path, f"{webserver}/assets", "assets", catalog_problems)
    for asset, job in ASSET_JOBS.items():
        render(
            chromium,
            tmp_path,
            f"{webserver}/assets/{asset}?view=partitions&status=MATERIALIZED&partition={DAYS[-1]}",
            f"{asset}_partitions",
            partitions_problems(asset, materialised.run_ids[job]),
        )
