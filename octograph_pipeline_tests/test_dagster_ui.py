"""The README's UI flows on the real webserver and daemon, started as `make ui` starts them, on a temporary
DAGSTER_HOME: a backfill of all four assets launched as the *Materialize…* dialog launches it, each day's check
results recorded, InfluxDB holding exactly what the same days materialised in-process hold, the asset graph in
headless Chromium showing the checks passed (out/ui/); then a day failed by the API and re-executed from the
backfill page's menu in headless Chromium, and only that day runs again. `pytest -s` prints where the wall
time went."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import time
import uuid
from pathlib import Path

import pytest

from octograph_pipeline.clients.influx import InfluxV1Store
from octograph_pipeline.dev.demo import prepare_dagster_home
from octograph_pipeline.dev.simulator import OctopusSimulator, gaps_household, serve

from .browser import Browser
from .dagster_ui import DagsterDev, timing_breakdown
from .helpers import API_KEY, SIMULATOR_NOW, day_points, materialize_days, write_config
from .test_ui_browser import render

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
# With [carbon], so its two assets go the users' way too: backfilled by the daemon, re-executed from failure.
ASSETS = ["account", "tariff_rates", "meter_consumption", "priced_consumption", "carbon_intensity", "emissions"]
CHECKS = {
    "meter_consumption": ["complete_intervals", "no_negative_import"],
    "priced_consumption": ["every_interval_priced", "standing_charge_one_day"],
    "emissions": ["every_interval_has_intensity"],
}


def carbon_section(octopus_api: str) -> dict[str, str]:
    return {"enabled": "true", "api_prefix": octopus_api.removesuffix("/v1") + "/carbon"}


DAYS = ["2024-11-01", "2024-11-02", "2024-11-03"]
COMPOSE_EVENT_BATCH_SIZE = "1000"  # docker-compose.yml's DAGSTER_EVENT_BATCH_SIZE
BACKFILL_TIMEOUT = 120  # seconds: a few 3 s daemon ticks and two or three short runs


@pytest.fixture
def dagster_ui(tmp_path, make_config, octopus_api):
    """The webserver and daemon on a fresh DAGSTER_HOME; no step retries, so a failure shows at once."""
    config = make_config(pipeline={"retries": "0", "api_retries": "0"}, carbon=carbon_section(octopus_api))
    home = tmp_path / "dagster_home"
    prepare_dagster_home(home)
    env = {"OCTOGRAPH_CONFIG": str(config), "OCTOGRAPH_TEST_OCTOPUS_API_KEY": API_KEY}
    with DagsterDev(REPO / "workspace.yaml", home, env) as dev:
        yield dev


def print_timings(backfill: dict) -> None:
    """Each run's milestones as seconds after the launch click, then where the wall time went."""
    print(f"\nbackfill {backfill['id']}: {backfill['status']} {backfill['seconds']:.1f} s after launch")
    for run in backfill["runs"]:
        days = "..".join(run["tags"].get(f"dagster/asset_partition_range_{end}", "?") for end in ("start", "end"))
        times = {"created": run["creationTime"], **run["events"], "ended": run["endTime"]}
        milestones = ("created", "RUN_ENQUEUED", "RUN_STARTING", "RUN_START", "RUN_SUCCESS", "ended")
        launched = backfill["launched"]
        offsets = " ".join(f"{name} +{times[name] - launched:.1f}" for name in milestones if times.get(name))
        print(f"  run {run['runId'][:8]} {run['jobName']} {days} {run['status']}: {offsets}")
    for phase, seconds in timing_breakdown(backfill):
        print(f"  {seconds:6.1f} s  {phase}")


def run_days_of(run: dict) -> set[str]:
    """The days a run covered: its partition, or its range."""
    tags = run["tags"]
    if "dagster/partition" in tags:
        return {tags["dagster/partition"]}
    first, last = (dt.date.fromisoformat(tags[f"dagster/asset_partition_range_{end}"]) for end in ("start", "end"))
    return {(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)}


def graph_problems(dom: str) -> list[str]:
    """The asset graph draws one node per asset, titled with its name, and each node's "Asset checks" row reads
    "2 / 2 Passed" for an asset with two checks and "–" for one without: an asset named only elsewhere on the
    page (the sidebar, a link), a node missing or drawn twice, or a check not passed, is a problem."""
    from html.parser import HTMLParser

    part_of = re.compile(r"AssetNode_(assetNodeBox|assetName|assetNodeRowBox)__")  # Dagster's CSS module names
    void = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

    class AssetNodes(HTMLParser):
        """Each node of the graph (a div of class AssetNode_assetNodeBox__…): the text of its title
        (AssetNode_assetName__…) and of each of its rows (AssetNode_assetNodeRowBox__…), label first."""

        def __init__(self):
            super().__init__()
            self.nodes: list[dict] = []
            self.open: list[str] = []  # per open element: the part of a node it starts, or ""

        def handle_starttag(self, tag, attrs):
            if tag in void:
                return
            classes = (dict(attrs).get("class") or "").split()
            part = next((match[1] for match in map(part_of.match, classes) if match), "")
            if part == "assetNodeBox":
                self.nodes.append({"name": [], "rows": []})
            elif part == "assetNodeRowBox" and "assetNodeBox" in self.open:
                self.nodes[-1]["rows"].append([])
            self.open.append(part)

        def handle_startendtag(self, tag, attrs):
            pass  # <path …/> and the like: no text

        def handle_endtag(self, tag):
            if tag not in void and self.open:
                self.open.pop()

        def handle_data(self, data):
            if "assetNodeBox" in self.open and data.strip():
                node = self.nodes[-1]
                if "assetName" in self.open:
                    node["name"].append(data.strip())
                elif "assetNodeRowBox" in self.open:
                    node["rows"][-1].append(data.strip())

    parser = AssetNodes()
    parser.feed(dom)
    nodes: dict[str, list[dict[str, str]]] = {}
    for node in parser.nodes:
        rows = {row[0]: " ".join(row[1:]) for row in node["rows"] if row}
        nodes.setdefault(" ".join(node["name"]), []).append(rows)
    found = [] if sorted(nodes) == sorted(ASSETS) else [f"the graph's nodes are {sorted(nodes)}, not {ASSETS}"]
    for asset in ASSETS:
        drawn = nodes.get(asset, [])
        if len(drawn) != 1:
            found.append(f"{len(drawn)} nodes for {asset}")
            continue
        checks = len(CHECKS.get(asset, []))
        expected = f"{checks} / {checks} Passed" if checks else "–"
        if drawn[0].get("Asset checks") != expected:
            found.append(f"{asset}'s node shows Asset checks {drawn[0].get('Asset checks')!r}, not {expected!r}")
    return found


def test_a_ui_backfill_records_each_days_checks_and_a_failed_day_reruns_alone(
    dagster_ui,
    influx,
    influxd,
    octopus_api,
    simulator,
    chromium,
    tmp_path,  # noqa: F811
):
    backfill = dagster_ui.wait_for_backfill(dagster_ui.launch_asset_backfill(ASSETS, DAYS), BACKFILL_TIMEOUT)
    print_timings(backfill)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    assert all(run["status"] == "SUCCESS" for run in backfill["runs"])
    for asset in ASSETS:
        assert dagster_ui.materialized_partitions(asset) == set(DAYS), asset
    # Each day has its own result for every check, as the checks tab and the graph count them.
    for asset, names in CHECKS.items():
        statuses = dagster_ui.check_partition_statuses(asset)
        for name in names:
            assert statuses[name] == dict.fromkeys(DAYS, "SUCCEEDED"), (asset, name, statuses[name])
    # InfluxDB holds what the same days materialised in-process write.
    in_process = InfluxV1Store(influxd.url, f"test_{uuid.uuid4().hex[:12]}")
    in_process.create_database()
    try:
        config = write_config(
            tmp_path / "in_process.ini", in_process, octopus_api, carbon=carbon_section(octopus_api)
        )
        assert materialize_days(config, DAYS[0], DAYS[-1]).success
        for day in DAYS:
            assert day_points(influx, day) == day_points(in_process, day) != [], day
    finally:
        in_process.drop_database()
    render(chromium, tmp_path, f"{dagster_ui.url}/asset-groups/octopus", "asset_graph_checks", graph_problems)

    # A day the API fails: its backfill fails and writes nothing; re-executed from failure, only it runs again.
    before = {day: day_points(influx, day) for day in DAYS}
    failing = DAYS[1]
    simulator.fail_days = {dt.date.fromisoformat(failing)}
    simulator.reading_scale = 1.5  # the supplier corrects its readings: any day run again changes
    failed = dagster_ui.wait_for_backfill(dagster_ui.launch_asset_backfill(ASSETS, [failing]), BACKFILL_TIMEOUT)
    print_timings(failed)
    assert failed["status"] == "COMPLETED_FAILED", failed
    # `account` needs no dated request and the Carbon Intensity API did not fail, so they ran; the prices and
    # readings that day could not be fetched.
    assert dagster_ui.partition_statuses("tariff_rates")[failing] == "FAILED"
    assert dagster_ui.partition_statuses("meter_consumption")[failing] == "FAILED"
    assert {day: day_points(influx, day) for day in DAYS} == before

    simulator.fail_days = set()
    with Browser(chromium) as browser:  # README: Runs, the backfill's row, its ▾ menu, Re-execute from failure
        browser.open(dagster_ui.url)
        browser.click_text("Runs", tag="a")
        browser.click_text(failed["id"], tag="a")
        browser.click_selector("button:has([aria-label=expand_more])", "the backfill's menu")
        browser.click_text("Re-execute from failure")
    rerun = launched_backfill(dagster_ui, after=failed["id"])
    print_timings(rerun)
    # From failure: `account` and `carbon_intensity` had materialised.
    assert set(rerun["assets"]) == set(ASSETS) - {"account", "carbon_intensity"}
    assert rerun["status"] == "COMPLETED_SUCCESS", rerun
    assert all(run_days_of(run) == {failing} for run in rerun["runs"]), [r["tags"] for r in rerun["runs"]]
    after = {day: day_points(influx, day) for day in DAYS}
    assert after[DAYS[0]] == before[DAYS[0]] and after[DAYS[2]] == before[DAYS[2]]
    assert after[failing] != before[failing]  # re-read at the corrected scale
    assert dagster_ui.partition_statuses("priced_consumption")[failing] == "MATERIALIZED"


def test_after_a_failed_backfill_downstream_days_read_missing_on_their_asset_and_failed_on_the_backfill(
    dagster_ui, influx, simulator
):
    """What the README explains: the days whose prices and readings failed read FAILED on those assets'
    Partitions pages; `priced_consumption` never ran for them, so its page shows them Missing, while the
    backfill's page counts them failed (the backfill could not materialise them)."""
    backfill_days = ["2024-11-05", "2024-11-06"]
    simulator.fail_days = {dt.date(2024, 11, 6)}
    failed = dagster_ui.wait_for_backfill(
        dagster_ui.launch_asset_backfill(ASSETS, backfill_days), BACKFILL_TIMEOUT
    )
    assert failed["status"] == "COMPLETED_FAILED", failed
    for asset in ("tariff_rates", "meter_consumption"):
        assert {day: dagster_ui.partition_statuses(asset).get(day) for day in backfill_days} == dict.fromkeys(
            backfill_days, "FAILED"
        )
        assert failed["assets"][asset]["numPartitionsFailed"] == 2
    assert not set(dagster_ui.partition_statuses("priced_consumption")) & set(backfill_days)  # Missing
    assert failed["assets"]["priced_consumption"]["numPartitionsFailed"] == 2
    assert failed["assets"]["account"]["numPartitionsMaterialized"] == 2


GAPS_DAYS = ["2024-06-11", "2024-06-12", "2024-06-13", "2024-06-14"]  # gaps_household: a gap on 06-12, ...


@pytest.fixture
def gaps_api():
    """The simulator serving the household with a missing 90 minutes on 2024-06-12 and negative readings on
    2024-06-14 (and duplicated rows, which are fine, on 2024-06-13)."""
    simulator = OctopusSimulator(api_key=API_KEY, households=[gaps_household(seed=7)], clock=lambda: SIMULATOR_NOW)
    with serve(simulator) as api_prefix:
        yield simulator, api_prefix


def test_on_the_postgres_instance_each_day_shows_its_own_status_and_check_results(
    postgres, gaps_api, influx, tmp_path, monkeypatch
):
    """The compose stack's instance (deploy/dagster.yaml: PostgreSQL, our pooled event log, batched events as
    compose sets them) under the real webserver + daemon: one run over four days records each day's own check
    results (one day failing one check, another day another check, the rest passing), and a day the API fails
    shows as failed while the other days stay materialised."""
    simulator, api_prefix = gaps_api
    monkeypatch.setenv("OCTOGRAPH_TEST_OCTOPUS_API_KEY", API_KEY)
    config = write_config(
        tmp_path / "gaps.ini",
        influx,
        api_prefix,
        octopus={"account_number": "A-GAPS0001"},
        pipeline={"retries": "0", "api_retries": "0"},
        carbon=carbon_section(api_prefix),
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {**postgres, "OCTOGRAPH_CONFIG": str(config), "DAGSTER_EVENT_BATCH_SIZE": COMPOSE_EVENT_BATCH_SIZE}
    with DagsterDev(REPO / "workspace.yaml", home, env) as dagster:
        backfill = dagster.wait_for_backfill(dagster.launch_asset_backfill(ASSETS, GAPS_DAYS), BACKFILL_TIMEOUT)
        print_timings(backfill)
        assert backfill["status"] == "COMPLETED_SUCCESS", backfill
        assert all(run_days_of(run) == set(GAPS_DAYS) for run in backfill["runs"])  # one run per job, all days
        for asset in ASSETS:
            assert dagster.partition_statuses(asset) == dict.fromkeys(GAPS_DAYS, "MATERIALIZED"), asset
        statuses = dagster.check_partition_statuses("meter_consumption")
        expected = {day: "SUCCEEDED" for day in GAPS_DAYS}
        assert statuses["complete_intervals"] == {**expected, "2024-06-12": "FAILED"}
        assert statuses["no_negative_import"] == {**expected, "2024-06-14": "FAILED"}
        priced = dagster.check_partition_statuses("priced_consumption")
        assert priced == {name: expected for name in CHECKS["priced_consumption"]}
        assert dagster.check_partition_statuses("emissions") == {"every_interval_has_intensity": expected}

        simulator.fail_days = {dt.date(2024, 6, 13)}
        failed = dagster.wait_for_backfill(dagster.launch_asset_backfill(ASSETS, ["2024-06-13"]), BACKFILL_TIMEOUT)
        assert failed["status"] == "COMPLETED_FAILED", failed
        for asset in ("tariff_rates", "meter_consumption"):
            assert dagster.partition_statuses(asset) == {
                **dict.fromkeys(GAPS_DAYS, "MATERIALIZED"),
                "2024-06-13": "FAILED",
            }


def test_the_readmes_backfill_steps_clicked_in_chromium(dagster_ui, influx, chromium):
    """README, From the Dagster UI, "Backfill a range of days", click by click in headless Chromium with real
    mouse events and typing: Catalog, select every asset, Materialize selected, Show all partitions, the range
    typed in, Launch backfill. The backfill it launched materialises exactly those days of every asset."""
    with Browser(chromium) as browser:
        browser.open(dagster_ui.url)
        browser.click_text("Catalog", tag="a")
        browser.wait_for("!!document.querySelector('[data-testid=\"checkbox-account\"]')", "the Catalog's assets")
        browser.click_selector("thead input[type=checkbox], input[type=checkbox]:not([data-testid])", "select all")
        browser.click_text("Materialize selected")
        browser.click_text("Show all partitions", until_gone=True)
        browser.type_into("[role=dialog] input[type=text]", f"[{DAYS[0]}...{DAYS[-1]}]", "the partitions field")
        browser.press_enter()
        browser.click_text("Launch backfill")
        browser.wait_for("!document.querySelector('[role=dialog]')", "the dialog closing")
    backfill = launched_backfill(dagster_ui)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    assert {run["jobName"] for run in backfill["runs"]} == {"__ASSET_JOB"}  # as the README says the UI names them
    assert {
        asset: counts["numPartitionsTargeted"] for asset, counts in backfill["assets"].items()
    } == dict.fromkeys(ASSETS, len(DAYS))
    for asset in ASSETS:
        assert dagster_ui.materialized_partitions(asset) == set(DAYS), asset


def launched_backfill(dagster_ui: DagsterDev, after: str | None = None) -> dict:
    """The newest backfill (once there is one newer than `after`, when a click has only just requested it),
    waited for until it ends."""
    query = "{ partitionBackfillsOrError(limit: 1) { ... on PartitionBackfills { results { id } } } }"
    deadline = time.monotonic() + BACKFILL_TIMEOUT
    while True:
        newest = [backfill["id"] for backfill in dagster_ui.graphql(query)["partitionBackfillsOrError"]["results"]]
        if newest and newest[0] != after:
            return dagster_ui.wait_for_backfill(newest[0], BACKFILL_TIMEOUT)
        if time.monotonic() > deadline:
            raise AssertionError(f"no backfill launched after {after} in {BACKFILL_TIMEOUT} s")
        time.sleep(0.5)


def test_the_readmes_rematerialise_one_day_clicked_in_chromium(dagster_ui, influx, simulator, chromium):
    """README, "Re-materialise one day": the asset graph's Materialize all… with that one day. Its prices and
    readings are fetched again (the supplier corrected its readings meanwhile) and only that day changes."""
    first = dagster_ui.wait_for_backfill(dagster_ui.launch_asset_backfill(ASSETS, DAYS), BACKFILL_TIMEOUT)
    assert first["status"] == "COMPLETED_SUCCESS", first
    before = {day: day_points(influx, day) for day in DAYS}
    simulator.reading_scale = 1.5
    with Browser(chromium) as browser:
        browser.open(f"{dagster_ui.url}/asset-groups/octopus")
        browser.click_text("Materialize all")
        browser.click_text("Show all partitions", until_gone=True)
        browser.type_into("[role=dialog] input[type=text]", DAYS[1], "the partitions field")
        browser.press_enter()
        browser.click_text("Launch backfill")
        browser.wait_for("!document.querySelector('[role=dialog]')", "the dialog closing")
    again = launched_backfill(dagster_ui, after=first["id"])
    assert again["status"] == "COMPLETED_SUCCESS", again
    assert {asset: counts["numPartitionsTargeted"] for asset, counts in again["assets"].items()} == dict.fromkeys(
        ASSETS, 1
    )
    after = {day: day_points(influx, day) for day in DAYS}
    assert after[DAYS[0]] == before[DAYS[0]] and after[DAYS[2]] == before[DAYS[2]]
    assert after[DAYS[1]] != before[DAYS[1]]  # re-read at the corrected scale, and re-priced
