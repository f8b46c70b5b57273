"""The README's "Backfill a range of days" from the Dagster UI, end to end: `dagster dev` on the repo's
workspace.yaml and dagster.yaml, a backfill of all four assets launched as the *Materialize…* dialog launches
it, run by the real daemon, and every day green in the UI and stored in InfluxDB. `pytest -s` prints where
the wall time went (the backfill daemon ticks every 30 s, so most of it is waiting)."""

from __future__ import annotations

from pathlib import Path

import pytest

from octograph_pipeline.demo import prepare_dagster_home

from .conftest import API_KEY
from .dagster_ui import DagsterDev, timing_breakdown

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
ASSETS = ["account", "tariff_rates", "meter_consumption", "priced_consumption"]
DAYS = ["2024-11-01", "2024-11-02", "2024-11-03"]
BACKFILL_TIMEOUT = 150  # seconds: a few 30 s daemon ticks and two short runs


@pytest.fixture
def dagster_dev(tmp_path, make_config):
    """`dagster dev` on a fresh DAGSTER_HOME; no step retries, so a failure shows at once."""
    config = make_config(pipeline={"retries": "0", "api_retries": "0"})
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


def test_a_ui_backfill_of_three_days_materialises_every_asset(dagster_dev, influx):
    backfill = dagster_dev.wait_for_backfill(dagster_dev.launch_asset_backfill(ASSETS, DAYS), BACKFILL_TIMEOUT)
    print_timings(backfill)

    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    assert all(run["status"] == "SUCCESS" for run in backfill["runs"])
    for asset in ASSETS:
        assert dagster_dev.materialized_partitions(asset) == set(DAYS), asset
        counts = backfill["assets"][asset]
        assert counts["numPartitionsMaterialized"] == counts["numPartitionsTargeted"] == len(DAYS), counts
    # A range run reports each check once for the whole range: the evaluations carry no partition.
    executions = dagster_dev.check_executions("meter_consumption", "complete_intervals")
    evaluations = [execution for execution in executions if execution["evaluation"]]
    assert evaluations and all(e["evaluation"]["success"] for e in evaluations), evaluations
    for measurement, field in (
        ("meter_consumption", "usage_kwh"),
        ("electricity_pricing", "unit_price_inc_vat_price"),
        ("electricity_consumption", "total_cost_inc_vat_pence"),
    ):
        series = influx.query(
            f"SELECT count({field}) FROM {measurement} WHERE time >= '2024-11-01T00:00:00Z' "
            "AND time < '2024-11-04T00:00:00Z' GROUP BY time(1d) fill(none)"
        )
        days = {row[0]: row[1] for row in series[0]["values"]} if series else {}
        assert len(days) == len(DAYS) and all(days.values()), (measurement, days)
