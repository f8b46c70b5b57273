"""Backfills, schedules, the late-data sensor and one-day reruns, evaluated with Dagster's own test APIs
against the real InfluxDB and the simulator."""

import datetime as dt
import time

import dagster as dg
import pandas as pd
import pytest

from octograph_pipeline.clients.influx import InfluxV1Store, quote_identifier
from octograph_pipeline.clients.octopus import RATES_PAGE_SIZE
from octograph_pipeline.definitions import build_definitions
from octograph_pipeline.dev.simulator import OctopusSimulator, serve
from octograph_pipeline.orchestration import resources
from octograph_pipeline.orchestration.jobs import CONSUMPTION_JOB, PRICES_JOB
from octograph_pipeline.orchestration.partitions import MAX_DAYS_PER_RUN
from octograph_pipeline.orchestration.resources import OctographConfig
from octograph_pipeline.orchestration.runs import run_days

from .helpers import ACCOUNT, API_KEY, LONDON, all_points, day_points, materialize_days

pytestmark = pytest.mark.integration


def days(first: str, count: int) -> list[str]:
    start = dt.date.fromisoformat(first)
    return [(start + dt.timedelta(days=n)).isoformat() for n in range(count)]


# --- backfills ---------------------------------------------------------------------------------------------


def test_a_40_day_single_run_backfill_writes_what_40_daily_runs_write(make_config, influx, influxd, simulator):
    """40 days across the October clock change: the same points, far fewer Octopus requests."""
    window = days("2024-10-08", 40)
    ranged = materialize_days(make_config(), window[0], window[-1])
    assert ranged.success
    range_requests = dict(simulator.request_counts)
    range_points = all_points(influx)

    daily_db = InfluxV1Store(influxd.url, influx.database + "_daily")
    daily_db.create_database()
    try:
        simulator.reset_counts()
        config = make_config(influxdb={"bucket": daily_db.database})
        instance = dg.DagsterInstance.ephemeral()
        for day in window:
            assert materialize_days(config, day, instance=instance).success
        daily_requests = dict(simulator.request_counts)
        assert all_points(daily_db) == range_points
    finally:
        daily_db.drop_database()
    # The account once; Kraken's token and gas units; 3 meters, each one request for the whole range; Agile import
    # (since 2024-10-01: its 40 days' 1,922 prices in 2 pages), export and gas, each component once over the days.
    assert range_requests == {
        "account": 1,
        "graphql": 2,
        "consumption": 3,
        "standard-unit-rates": 2 + 1 + 1,
        "standing-charges": 3,
    }
    # Day by day, the same for each of the 40 days (Agile's day one page): 12 requests a day.
    assert daily_requests == {
        "account": 40,
        "graphql": 2 * 40,
        "consumption": 3 * 40,
        "standard-unit-rates": 3 * 40,
        "standing-charges": 3 * 40,
    }
    assert len(ranged.run_ids) == 2  # one run per job for the whole range


def test_a_year_backfill_makes_the_readmes_19_requests(make_config):
    """The README's "19 Octopus requests for a year", on its household (make bench's: import switching to Agile on
    2024-07-01, fixed export, SMETS2 gas whose units come from Kraken). A backfill launches runs of at most
    MAX_DAYS_PER_RUN days (the backfill policy); every request is counted, by endpoint."""
    year = days("2024-01-01", 366)
    simulator = OctopusSimulator(
        seed=1,
        account_number=ACCOUNT,
        api_key=API_KEY,
        start_date=dt.date(2024, 1, 1),
        agile_from=dt.date(2024, 7, 1),
        clock=lambda: dt.datetime(2025, 1, 2, 17, 0, tzinfo=LONDON),
    )
    instance = dg.DagsterInstance.ephemeral()
    with serve(simulator) as api:
        run = materialize_days(make_config(octopus={"api_prefix": api}), year[0], year[-1], instance=instance)
    assert run.success
    assert len(run.run_ids) == 2 * -(-366 // MAX_DAYS_PER_RUN)  # a prices and a consumption run per chunk
    agile_pages = -(-len(days("2024-07-01", 184)) * 48 // RATES_PAGE_SIZE)  # 8,832 half-hourly prices
    assert agile_pages == 6
    assert dict(simulator.request_counts) == {
        "account": 1,  # read once, by the `account` asset
        "graphql": 2,  # Kraken: a token, then the gas meter's units
        "consumption": 3,  # import, export and gas, each one page for the whole year
        # import VAR (to June) and Agile (from July, in pages), export, gas: each once over its days
        "standard-unit-rates": 1 + agile_pages + 1 + 1,
        "standing-charges": 4,  # import VAR, import Agile, export (none published), gas
    }
    assert sum(simulator.request_counts.values()) == 19  # as the README says
    materialized = instance.get_materialized_partitions(dg.AssetKey("priced_consumption"))
    assert materialized == set(year)  # every day's partition is green, not just the runs'


def test_range_run_reports_per_day_numbers(config_file, influx):
    instance = dg.DagsterInstance.ephemeral()
    assert materialize_days(config_file, "2024-03-30", "2024-04-01", instance=instance).success
    for asset in ("account", "tariff_rates", "meter_consumption", "priced_consumption"):
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {
            "2024-03-30",
            "2024-03-31",
            "2024-04-01",
        }

    def day_metadata(day: str) -> dict:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(dg.AssetKey("priced_consumption"), asset_partitions=[day]), limit=1
        ).records
        return records[0].asset_materialization.metadata

    short_day, next_day = day_metadata("2024-03-31"), day_metadata("2024-04-01")
    assert "| electricity | 1900000000001 | 46 |" in short_day["per_meter"].value  # the short day, counted right
    assert short_day["intervals"].value == 3 * 46  # that day's own numbers, not the run's
    assert "| gas | 3000000001 | 48 |" in next_day["per_meter"].value
    assert next_day["intervals"].value == 3 * 48


# --- one failed day, re-run alone ---------------------------------------------------------------------------


def test_a_day_failed_by_api_errors_succeeds_when_rerun_alone(make_config, influx, simulator):
    config = make_config(
        pipeline={"retries": "1", "retry_delay_seconds": "0", "api_retries": "1", "api_backoff_seconds": "0"}
    )
    instance = dg.DagsterInstance.ephemeral()
    assert materialize_days(config, "2024-06-10", "2024-06-12", instance=instance).success
    before = {day: day_points(influx, day) for day in ("2024-06-10", "2024-06-11", "2024-06-12")}
    simulator.reading_scale = 1.5  # the supplier corrects its readings: whatever is written again differs

    simulator.inject(500, count=100, path_contains="/consumption")
    failed = materialize_days(config, "2024-06-11", instance=instance, raise_on_error=False)
    assert not failed.success
    failures = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures and "HTTP 500" in str(failures[-1].event_specific_data.error)
    retries = [e for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 1  # the RetryPolicy tried once more before giving up
    assert {day: day_points(influx, day) for day in before} == before  # nothing written, no day touched

    simulator.clear_faults()
    assert materialize_days(config, "2024-06-11", instance=instance).success
    after = {day: day_points(influx, day) for day in before}
    assert after["2024-06-10"] == before["2024-06-10"] and after["2024-06-12"] == before["2024-06-12"]
    assert after["2024-06-11"] != before["2024-06-11"]  # the day run again, alone, at the corrected scale


def test_the_config_file_is_read_once_per_run(make_config, influx, monkeypatch):
    """Not per asset and per IO manager call (a day was 13 reads): Dagster hands each run one copy of the
    resource, shared with the IO manager, which keeps what it read."""
    reads = []
    read = resources.load_households
    monkeypatch.setattr(resources, "load_households", lambda path: reads.append(path) or read(path))
    run = materialize_days(make_config(), "2024-06-12")
    assert run.success and len(run.results) == 2
    assert len(reads) == 2


def test_final_errors_are_not_retried(make_config, simulator, monkeypatch):
    monkeypatch.setenv("OCTOGRAPH_TEST_OCTOPUS_API_KEY", "sk_live_wrong")
    failed = materialize_days(
        make_config(pipeline={"retry_delay_seconds": "0"}), "2024-06-11", raise_on_error=False
    )
    assert not failed.success
    assert not [e for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert simulator.request_counts["account"] == 1


def test_an_unreachable_api_fails_the_day_in_seconds_not_after_the_retry_policy(make_config):
    """Connection refused: the client tries 3 times, then the step fails at once (the RetryPolicy would wait
    30 + 90 + 210 s between attempts here) and says what to check."""
    config = make_config(
        octopus={"api_prefix": "http://127.0.0.1:9/v1"}, pipeline={"retries": "3", "retry_delay_seconds": "30"}
    )
    began = time.monotonic()
    failed = materialize_days(config, "2024-06-11", raise_on_error=False)
    assert not failed.success
    assert not [e for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "cannot connect to the Octopus API at http://127.0.0.1:9/v1: connection refused" in message
    assert "check [octopus] api_prefix" in message
    assert time.monotonic() - began < 60  # the documented bound for an unreachable API


# --- schedules ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tick", "expected"),
    [
        ("2024-06-13T09:00:00+01:00", "2024-06-12"),
        ("2024-06-13T00:05:00+01:00", "2024-06-12"),  # just after local midnight (still the 12th in UTC)
        ("2024-03-31T09:00:00+01:00", "2024-03-30"),  # the morning the clocks went forward
        ("2024-04-01T09:00:00+01:00", "2024-03-31"),  # yesterday was the 23-hour day
        ("2024-10-28T09:00:00+00:00", "2024-10-27"),  # yesterday was the 25-hour day
        ("2025-01-01T09:00:00+00:00", "2024-12-31"),
    ],
)
def test_daily_schedule_requests_yesterday_in_london(config_file, tick, expected):
    defs = build_definitions(config_file)
    schedule = defs.resolve_schedule_def("daily_consumption")
    assert schedule.execution_timezone == "Europe/London"
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime.fromisoformat(tick))
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == expected
    assert schedule.job_name == CONSUMPTION_JOB


@pytest.mark.parametrize(
    ("tick", "expected"),
    [
        ("2024-10-26T16:30:00+01:00", ("2024-10-26", "2024-10-27")),
        ("2024-03-30T20:30:00+00:00", ("2024-03-30", "2024-03-31")),
        ("2024-06-12T16:30:00+01:00", ("2024-06-12", "2024-06-13")),
    ],
)
def test_agile_prices_schedule_requests_today_and_tomorrow(config_file, tick, expected):
    defs = build_definitions(config_file)
    schedule = defs.resolve_schedule_def("agile_prices")
    assert schedule.cron_schedule == "30 16,20 * * *" and schedule.execution_timezone == "Europe/London"
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime.fromisoformat(tick), repository_def=defs.get_repository_def()
    )
    (request,) = schedule.evaluate_tick(context).run_requests
    # Today's last hour is published today, tomorrow's other hours too: one run over both days.
    assert (
        request.tags["dagster/asset_partition_range_start"],
        request.tags["dagster/asset_partition_range_end"],
    ) == (expected)
    assert schedule.job_name == PRICES_JOB


# --- the late-data sensor ----------------------------------------------------------------------------------


def evaluate(defs: dg.Definitions, instance, config, cursor=None):
    sensor = defs.resolve_sensor_def("late_consumption")
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"octograph": OctographConfig(config_file=str(config))},
        repository_def=defs.get_repository_def(),
    )
    return sensor.evaluate_tick(context)


def test_late_data_sensor_requests_only_incomplete_days(recent_household, influx):
    _, config, today = recent_household
    defs = build_definitions(config)
    instance = dg.DagsterInstance.ephemeral()
    week = [(today - dt.timedelta(days=n)).isoformat() for n in range(7, 0, -1)]
    assert run_days(defs, week[0], week[-1], instance=instance).success

    # Complete: nothing to do.
    result = evaluate(defs, instance, config)
    assert not result.run_requests and "complete" in result.skip_message

    # Three half-hours of one day go missing (late data): only that day is requested, once.
    late_day = week[3]
    start = pd.Timestamp(late_day).tz_localize(LONDON).tz_convert("UTC") + pd.Timedelta(hours=2)
    influx.query(
        f"DELETE FROM {quote_identifier('meter_consumption')} WHERE time >= '{start.isoformat()}' "
        f"AND time < '{(start + pd.Timedelta(minutes=90)).isoformat()}'",
        method="POST",
    )
    result = evaluate(defs, instance, config)
    (request,) = result.run_requests
    assert request.job_name == CONSUMPTION_JOB and request.partition_key == late_day
    again = evaluate(defs, instance, config, cursor=result.cursor)
    assert not again.run_requests  # not again within late_data_retry_hours

    # Running what it asked for completes the day, and the sensor stops asking.
    job = defs.resolve_job_def(CONSUMPTION_JOB)
    assert job.execute_in_process(partition_key=request.partition_key, instance=instance).success
    assert not evaluate(defs, instance, config).run_requests


def test_late_data_sensor_fills_never_materialised_days_prices_first(recent_household, influx):
    _, config, today = recent_household
    defs = build_definitions(config)
    instance = dg.DagsterInstance.ephemeral()
    week = [(today - dt.timedelta(days=n)).isoformat() for n in range(7, 0, -1)]
    assert run_days(defs, week[0], week[4], instance=instance).success  # the last two days never ran

    first = evaluate(defs, instance, config)
    (prices,) = first.run_requests
    assert prices.job_name == PRICES_JOB
    assert (
        prices.tags["dagster/asset_partition_range_start"],
        prices.tags["dagster/asset_partition_range_end"],
    ) == (week[5], week[6])
    assert defs.resolve_job_def(PRICES_JOB).execute_in_process(tags=prices.tags, instance=instance).success

    second = evaluate(defs, instance, config, cursor=first.cursor)
    (consumption,) = second.run_requests
    assert consumption.job_name == CONSUMPTION_JOB
    assert consumption.tags["dagster/asset_partition_range_start"] == week[5]
    assert (
        defs.resolve_job_def(CONSUMPTION_JOB).execute_in_process(tags=consumption.tags, instance=instance).success
    )
    assert not evaluate(defs, instance, config, cursor=second.cursor).run_requests


def test_definitions_snapshot(config_file):
    defs = build_definitions(config_file)
    assert sorted(job.name for job in defs.jobs) == [CONSUMPTION_JOB, PRICES_JOB]
    assert sorted(s.name for s in defs.schedules) == ["agile_prices", "daily_consumption"]
    assert [s.name for s in defs.sensors] == ["late_consumption", "dead_runs"]
    for spec in defs.resolve_assets_def("meter_consumption").check_specs:
        assert spec.description.endswith(
            '"Execution failed" means its step did not run (a fetch failed, say), not that the data failed the '
            "check: each day keeps its last result, listed on the Checks tab."
        ), spec.name
    account = defs.resolve_assets_def("account")
    assert account.backfill_policy == dg.BackfillPolicy.multi_run(MAX_DAYS_PER_RUN)
    assert account.op.pool == "octopus_api"
