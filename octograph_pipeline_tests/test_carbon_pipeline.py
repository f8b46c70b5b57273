"""Carbon through Dagster, on the real InfluxDB and the simulator's Carbon Intensity API: what `carbon_intensity`
and `emissions` store on the clock-change days, the check on a missing half-hour, a day re-run replacing only that
day, failures of the API, and the wiring (off by default, jobs, pools, the schedule)."""

import configparser
import datetime as dt

import dagster as dg
import pandas as pd
import pytest

from octograph_pipeline.clients.carbon import CarbonIntensityClient
from octograph_pipeline.config import load_settings
from octograph_pipeline.core import schema
from octograph_pipeline.definitions import build_definitions
from octograph_pipeline.dev.simulator.carbon import national_actual, national_forecast, regional_forecast
from octograph_pipeline.orchestration.jobs import CONSUMPTION_JOB, PRICES_JOB
from octograph_pipeline.orchestration.runs import run_days

from .helpers import check_outcomes, day_points, materialize_days, read
from .test_orchestration import evaluate

pytestmark = pytest.mark.integration

LONDON_REGION = 13  # the simulated household's tariffs end in C
FACTOR = 0.2  # kg CO2e per kWh of gas: not the default, so the test shows the option is used


@pytest.fixture
def carbon_config(make_config, octopus_api):
    def make(**options):
        carbon = {"enabled": "true", "api_prefix": octopus_api.removesuffix("/v1") + "/carbon"}
        return make_config(carbon={**carbon, "gas_kg_co2e_per_kwh": str(FACTOR)}, **options)

    return make


def utc(times: pd.Series) -> list[dt.datetime]:
    return [moment.to_pydatetime() for moment in times]


def test_the_clock_change_days_store_every_half_hour_and_what_each_meter_point_emitted(carbon_config, influx):
    """46 and 50 half-hours for the nation and London; the values are the API's; each interval's grams are its
    usage (read back) times London's forecast then, export negative, gas at the configured factor."""
    config = carbon_config()
    for day in ("2024-03-31", "2024-10-27"):
        assert materialize_days(config, day).success
    for day, half_hours in (("2024-03-31", 46), ("2024-10-27", 50)):
        grid = read(influx, schema.CARBON_INTENSITY, day)
        assert grid.groupby(schema.REGION).size().to_dict() == {schema.NATIONAL: half_hours, "London": half_hours}
        nation = grid[grid[schema.REGION] == schema.NATIONAL]
        london = grid[grid[schema.REGION] == "London"]
        assert set(london[schema.REGION_ID]) == {str(LONDON_REGION)} and set(nation[schema.REGION_ID]) == {""}
        assert london[schema.INTENSITY_FORECAST].tolist() == [
            regional_forecast(t, LONDON_REGION) for t in utc(london[schema.TIME])
        ]
        assert nation[schema.INTENSITY_FORECAST].tolist() == [
            national_forecast(t) for t in utc(nation[schema.TIME])
        ]
        assert nation[schema.INTENSITY_ACTUAL].tolist() == [national_actual(t) for t in utc(nation[schema.TIME])]
        mix = nation[list(schema.GENERATION_MIX.values())].sum(axis=1)
        assert mix.round(1).eq(100.0).all() and set(nation[schema.INTENSITY_INDEX]) <= {"low", "moderate", "high"}

        emitted = read(influx, schema.EMISSIONS, day)
        readings = read(influx, schema.METER_CONSUMPTION, day)
        assert len(emitted) == len(readings) == 3 * half_hours
        joined = emitted.merge(
            readings[[schema.TIME, schema.METER_POINT, schema.USAGE_KWH]],
            on=[schema.TIME, schema.METER_POINT],
            suffixes=("", "_read"),
        )
        forecast = london.set_index(schema.TIME)[schema.INTENSITY_FORECAST]
        for fuel, exported, sign in (("electricity", False, 1), ("electricity", True, -1), ("gas", False, 1)):
            rows = joined[(joined[schema.FUEL] == fuel) & (joined[schema.IS_EXPORT] == exported)]
            per_kwh = forecast.reindex(rows[schema.TIME]).to_numpy() if fuel == "electricity" else FACTOR * 1000
            assert rows[schema.USAGE_KWH].tolist() == pytest.approx((sign * rows["usage_kwh_read"]).tolist())
            expected = sign * rows["usage_kwh_read"] * per_kwh
            assert rows[schema.EMISSIONS_G].tolist() == pytest.approx(expected.tolist())
            assert (rows[schema.EMISSIONS_G] * sign).sum() > 0, (fuel, exported)


def test_a_missing_half_hour_fails_the_check_on_its_day_only_and_counts_no_zero(carbon_config, simulator, influx):
    gap = dt.datetime(2024, 10, 27, 1, 30, tzinfo=dt.UTC)  # 01:30 GMT, after the clocks went back
    simulator.carbon.missing = {gap}
    run = materialize_days(carbon_config(), "2024-10-26", "2024-10-27")
    assert run.success  # the day is stored; the check says what it lacks
    outcome = check_outcomes(run)["every_interval_has_intensity"]
    assert outcome.days == {"2024-10-26": True, "2024-10-27": False}
    assert "electricity 1900000000001" in outcome.details and "01:30" in outcome.details
    assert "electricity 1900000000002 (export)" in outcome.details
    emitted = read(influx, schema.EMISSIONS, "2024-10-27")
    at_gap = emitted[(emitted[schema.TIME] == pd.Timestamp(gap)) & (emitted[schema.FUEL] == "electricity")]
    assert len(at_gap) == 2 and at_gap[schema.EMISSIONS_G].isna().all() and at_gap[schema.USAGE_KWH].notna().all()
    assert emitted[schema.EMISSIONS_G].notna().sum() == 3 * 50 - 2
    assert (read(influx, schema.CARBON_INTENSITY, "2024-10-27")[schema.TIME] == pd.Timestamp(gap)).sum() == 0


def test_a_day_re_run_replaces_only_that_days_intensity_and_emissions(carbon_config, simulator, influx):
    """A half-hour the API no longer answers must vanish from the re-run day (InfluxDB's overwrite alone would keep
    the old point and its grams); the other day's points stay exactly as they were."""
    config = carbon_config()
    assert materialize_days(config, "2024-10-26", "2024-10-27").success
    before = {day: day_points(influx, day) for day in ("2024-10-26", "2024-10-27")}
    gap = dt.datetime(2024, 10, 27, 12, 0, tzinfo=dt.UTC)
    simulator.carbon.missing = {gap}
    assert materialize_days(config, "2024-10-27").success
    assert day_points(influx, "2024-10-26") == before["2024-10-26"]
    grid = read(influx, schema.CARBON_INTENSITY, "2024-10-27")
    assert len(grid) == 2 * 49 and pd.Timestamp(gap) not in set(grid[schema.TIME])
    emitted = read(influx, schema.EMISSIONS, "2024-10-27")
    assert emitted.loc[emitted[schema.TIME] == pd.Timestamp(gap), schema.EMISSIONS_G].isna().sum() == 2
    simulator.carbon.missing = set()
    assert materialize_days(config, "2024-10-27").success
    assert day_points(influx, "2024-10-27") == before["2024-10-27"]


def test_metadata_shows_each_days_kg_and_its_cleanest_and_dirtiest_half_hours(carbon_config, influx):
    instance = dg.DagsterInstance.ephemeral()
    assert materialize_days(carbon_config(), "2024-10-27", instance=instance).success

    def shown(asset: str) -> dict:
        (record,) = instance.fetch_materializations(
            dg.AssetRecordsFilter(dg.AssetKey(asset), asset_partitions=["2024-10-27"]), limit=1
        ).records
        return {key: value.value for key, value in record.asset_materialization.metadata.items()}

    emitted, grid = (
        read(influx, schema.EMISSIONS, "2024-10-27"),
        read(influx, schema.CARBON_INTENSITY, "2024-10-27"),
    )
    kg = emitted.groupby([schema.FUEL, schema.IS_EXPORT])[schema.EMISSIONS_G].sum() / 1000
    day = shown("emissions")
    assert day["import_kg_co2"] == round(kg["electricity", False], 3)
    assert day["export_kg_co2"] == round(kg["electricity", True], 3) < 0
    assert day["gas_kg_co2"] == round(kg["gas", False], 3)
    assert day["net_kg_co2"] == pytest.approx(kg.sum(), abs=0.002)
    london = grid[grid[schema.REGION] == "London"].set_index(schema.TIME)[schema.INTENSITY_FORECAST]

    def clock(moment) -> str:
        return moment.tz_convert("Europe/London").strftime("%H:%M")

    cleanest = f"{clock(london.idxmin())} ({london.min():.1f} g/kWh)"
    dirtiest = f"{clock(london.idxmax())} ({london.max():.1f} g/kWh)"
    assert (day["cleanest"], day["dirtiest"]) == (cleanest, dirtiest)
    intensity = shown("carbon_intensity")
    assert intensity["half_hours"] == 50 and intensity["region"] == "London"
    assert (intensity["cleanest"], intensity["dirtiest"]) == (cleanest, dirtiest)
    assert "| 2024-10-27 |" not in intensity["per_region"] and "| London | 50 |" in intensity["per_region"]


def test_a_refusal_fails_the_carbon_step_at_once_with_the_apis_words(carbon_config, simulator, influx):
    simulator.inject(400, count=1, path_contains="/carbon/")
    simulator.reset_counts()
    run = materialize_days(carbon_config(), "2024-10-27", raise_on_error=False)
    assert not run.success
    failures = [
        event.event_specific_data.error.message
        for event in run.all_events
        if event.event_type_value == "STEP_FAILURE" and event.step_key == "carbon_intensity"
    ]
    assert len(failures) == 1 and "answered HTTP 400: Bad Request (injected)" in failures[0]  # the API's message
    assert simulator.request_counts["carbon-intensity"] == 1  # not retried: a 400 will not mend
    assert read(influx, schema.CARBON_INTENSITY, "2024-10-27").empty
    # The prices the run fetched before are stored: carbon fails on its own.
    assert len(read(influx, schema.ELECTRICITY_PRICING, "2024-10-27")) > 0


def test_a_server_error_is_retried_within_the_request(carbon_config, simulator, influx):
    simulator.inject(503, count=2, path_contains="/carbon/regional/")
    assert materialize_days(carbon_config(), "2024-10-27").success
    assert len(read(influx, schema.CARBON_INTENSITY, "2024-10-27")) == 2 * 50


def test_carbon_is_off_by_default_and_on_joins_both_jobs_outside_the_octopus_pool(config_file, carbon_config):
    plain = build_definitions(config_file)
    for asset in (schema.Asset.CARBON_INTENSITY, schema.Asset.EMISSIONS):
        with pytest.raises(Exception, match=asset):
            plain.resolve_assets_def(asset)
    defs = build_definitions(carbon_config())
    prices, consumption = defs.resolve_job_def(PRICES_JOB), defs.resolve_job_def(CONSUMPTION_JOB)
    assert schema.Asset.CARBON_INTENSITY in {key.path[-1] for key in prices.asset_layer.selected_asset_keys}
    assert schema.Asset.EMISSIONS in {key.path[-1] for key in consumption.asset_layer.selected_asset_keys}
    grid = defs.resolve_assets_def(schema.Asset.CARBON_INTENSITY)
    assert grid.op.pool is None and grid.op.retry_policy is not None  # another API: Octopus's limit is not its
    assert defs.resolve_assets_def(schema.Asset.EMISSIONS).op.retry_policy is None  # no API: nothing to retry
    assert grid.partitions_def == defs.resolve_assets_def(schema.Asset.TARIFF_RATES).partitions_def  # a day ahead
    # Nor Octopus's shared request pace, while the retries are [pipeline]'s.
    settings = load_settings(carbon_config())
    with CarbonIntensityClient.from_settings(settings) as client:
        assert client.session.get_adapter("https://").pace is None
        assert client.session.get_adapter("https://").max_retries.total == settings.pipeline.api_retries


def test_the_prices_schedule_also_asks_for_yesterday_with_carbon(carbon_config):
    defs = build_definitions(carbon_config())
    schedule = defs.resolve_schedule_def("agile_prices")
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime.fromisoformat("2024-06-12T20:30:00+01:00"),
        repository_def=defs.get_repository_def(),
    )
    (request,) = schedule.evaluate_tick(context).run_requests
    assert (
        request.tags["dagster/asset_partition_range_start"],
        request.tags["dagster/asset_partition_range_end"],
    ) == (
        "2024-06-11",
        "2024-06-13",
    )


def test_the_late_data_sensor_fills_days_carbon_never_ran_for(recent_household):
    """Days materialised before [carbon] was enabled: the sensor asks for their intensity (prices job), then their
    emissions (consumption job), though their costs are complete."""
    _, config, today = recent_household
    week = [(today - dt.timedelta(days=n)).isoformat() for n in range(7, 0, -1)]
    instance = dg.DagsterInstance.ephemeral()
    assert run_days(build_definitions(config), week[0], week[-1], instance=instance).success
    written = configparser.ConfigParser()
    written.read(config)
    carbon_api = written["octopus"]["api_prefix"].removesuffix("/v1") + "/carbon"
    config.write_text(config.read_text() + f"\n[carbon]\nenabled = true\napi_prefix = {carbon_api}\n")
    defs = build_definitions(config)

    def days_of(request) -> tuple[str, str]:
        return request.tags["dagster/asset_partition_range_start"], request.tags[
            "dagster/asset_partition_range_end"
        ]

    first = evaluate(defs, instance, config)
    (prices,) = first.run_requests
    assert prices.job_name == PRICES_JOB and days_of(prices) == (week[0], week[-1])
    assert defs.resolve_job_def(PRICES_JOB).execute_in_process(tags=prices.tags, instance=instance).success
    second = evaluate(defs, instance, config, cursor=first.cursor)
    (consumption,) = second.run_requests
    assert consumption.job_name == CONSUMPTION_JOB and days_of(consumption) == (week[0], week[-1])
    job = defs.resolve_job_def(CONSUMPTION_JOB)
    assert job.execute_in_process(tags=consumption.tags, instance=instance).success
    assert not evaluate(defs, instance, config, cursor=second.cursor).run_requests


def test_a_replaced_meter_and_hourly_readings_give_one_point_per_meter_point_and_interval(
    household_config, households_api, influx
):
    """A meter point's two meters (one replaced the other) are one series of emissions; an hour's reading meets
    the mean of its two half-hours' forecasts."""
    carbon = {"enabled": "true", "api_prefix": households_api.removesuffix("/v1") + "/carbon"}
    assert materialize_days(household_config("A-SWCH0001", carbon=carbon), "2024-07-31", "2024-08-01").success
    emitted = read(influx, schema.EMISSIONS, "2024-07-31", "2024-08-01", meter_point="1300000000001")
    assert len(emitted) == 96 and emitted[schema.TIME].is_unique and emitted[schema.EMISSIONS_G].notna().all()

    hourly = household_config("A-SWCH0001", carbon=carbon, octopus={"resolution_minutes": "60"})
    assert materialize_days(hourly, "2024-06-12").success
    emitted = read(influx, schema.EMISSIONS, "2024-06-12", meter_point="1300000000001")
    grid = read(influx, schema.CARBON_INTENSITY, "2024-06-12", region="London").set_index(schema.TIME)
    assert len(emitted) == 24
    for start, met in zip(emitted[schema.TIME], emitted[schema.INTENSITY], strict=True):
        halves = grid[schema.INTENSITY_FORECAST].reindex([start, start + pd.Timedelta(minutes=30)])
        assert met == pytest.approx(halves.mean())
