"""Messy real households through Dagster into the real InfluxDB: Economy 7, a mid-day tariff switch, a house
move, SMETS1/SMETS2 gas with a CV series, replaced and silent meters, gaps, duplicates, coarser resolutions,
tomorrow's Agile prices, and each asset check failing on a bad day and passing on a good one."""

import datetime as dt
import logging

import dagster as dg
import pandas as pd
import pytest

from octograph_pipeline.clients.influx import quote_identifier
from octograph_pipeline.clients.octopus import OctopusClient
from octograph_pipeline.core import schema
from octograph_pipeline.core.days import window as local_days_window
from octograph_pipeline.core.pricing import gas_volume_to_kwh, select_payment_method
from octograph_pipeline.definitions import build_definitions
from octograph_pipeline.dev.simulator import OctopusSimulator, all_scenarios, serve
from octograph_pipeline.orchestration.jobs import CONSUMPTION_JOB, PRICES_JOB
from octograph_pipeline.orchestration.partitions import range_tags
from octograph_pipeline.orchestration.runs import DaysRun

from . import helpers
from .helpers import API_KEY, LONDON, check_outcomes, materialize_days, rates, read, window

pytestmark = pytest.mark.integration

METER_TAGS = {"included_tags": "electricity_mpan,gas_mprn,meter_serial_number"}


def api_readings(api: str, fuel: str, point: str, serial: str, day: str, last: str | None = None) -> pd.Series:
    """A meter's readings over local days as the API itself reports them (see `helpers.api_readings`)."""
    return helpers.api_readings(api, fuel, point, serial, window(day)[0], window(last or day)[1])


def by_time(points: pd.DataFrame, column: str) -> dict:
    return dict(zip(points["time"], points[column], strict=True))


def rate_at(table: pd.DataFrame, moment: pd.Timestamp, vat: str = "exc") -> float:
    row = table[
        (table["valid_from"].isna() | (table["valid_from"] <= moment))
        & (table["valid_to"].isna() | (table["valid_to"] > moment))
    ]
    assert len(row) == 1, (moment, row)
    return float(row[f"value_{vat}_vat"].iloc[0])


def assert_checks(run: DaysRun, **expected: bool) -> dict:
    outcomes = check_outcomes(run)
    assert {name: outcomes[name].passed for name in expected} == expected
    return outcomes


def problems(outcome) -> str:
    return outcome.details


# --- Economy 7 ---------------------------------------------------------------------------------------------

E7 = "E-2R-VAR-22-11-01-C"
AGILE_OUTGOING = "E-1R-AGILE-OUTGOING-19-05-13-C"


def clock(first: str, last: str, zone: str) -> list[str]:
    """Local half-hours first..last (inclusive) of one stretch of a clock, e.g. ("02:00", "02:30", "BST")."""
    times = pd.date_range(f"2000-01-01 {first}", f"2000-01-01 {last}", freq="30min")
    return [f"{moment:%H:%M} {zone}" for moment in times]


SMART_E7 = {"unit_rate_low_start": "00:30", "unit_rate_low_end": "07:30", "unit_rate_low_timezone": "UTC"}


@pytest.mark.parametrize(
    ("day", "options", "night"),
    [
        # Smart E7 is fixed in UTC, 00:30-07:30: 01:30-08:30 by the summer clock ...
        ("2024-06-12", SMART_E7, clock("01:30", "08:00", "BST")),
        # ... on the spring day, 00:30 GMT, then 02:00-08:30 BST (01:00-02:00 does not exist) ...
        ("2024-03-31", SMART_E7, clock("00:30", "00:30", "GMT") + clock("02:00", "08:00", "BST")),
        # ... and on the autumn day 01:30 BST, then the second 01:00 (GMT) to 07:30 GMT: 7 hours each day.
        ("2024-10-27", SMART_E7, clock("01:30", "01:30", "BST") + clock("01:00", "07:00", "GMT")),
        # The seed's default: 01:00-08:00 local, one hour short in spring.
        ("2024-03-31", {}, clock("02:00", "07:30", "BST")),
        # Non-smart, by the local clock 00:00-07:00: 01:00 and 01:30 twice in autumn, an hour long.
        (
            "2024-10-27",
            {"unit_rate_low_start": "0", "unit_rate_low_end": "7"},
            clock("00:00", "01:30", "BST") + clock("01:00", "06:30", "GMT"),
        ),
    ],
)
def test_economy7_prices_night_half_hours_at_the_night_rate(
    household_config, influx, households_api, day, options, night
):
    run = materialize_days(household_config("A-E7000001", octopus=options, influxdb=METER_TAGS), day)
    assert run.success
    assert_checks(run, complete_intervals=True, every_interval_priced=True, standing_charge_one_day=True)
    prices = read(influx, schema.ELECTRICITY_PRICING, day, tariff_code=E7)
    night_rate = rate_at(rates(households_api, E7, "night-unit-rates", day), window(day)[0])
    day_rate = rate_at(rates(households_api, E7, "day-unit-rates", day), window(day)[0])
    assert night_rate != day_rate
    # Every half-hour of the local day (46, 48 or 50) has a price: the night rate exactly at the night's.
    half_hours = pd.date_range(*window(day), freq="30min", inclusive="left")
    assert list(prices["time"]) == list(half_hours)
    local = [f"{moment:%H:%M %Z}" for moment in prices["time"].dt.tz_convert(LONDON)]
    assert set(night) <= set(local) and len(set(local)) == len(half_hours)
    shown = dict(zip(local, prices["unit_price_exc_vat_price"], strict=True))
    assert [label for label, price in shown.items() if price == night_rate] == night
    assert shown == {label: night_rate if label in night else day_rate for label in local}

    # The day's cost is each half-hour's usage at its own register's rate plus one standing charge.
    usage = read(influx, schema.ELECTRICITY_CONSUMPTION, day, electricity_mpan="1100000000071")
    joined = usage.merge(prices[["time", "unit_price_exc_vat_price"]], on="time")
    standing = rate_at(rates(households_api, E7, "standing-charges", day), window(day)[0])
    expected = (joined["usage_kwh"] * joined["unit_price_exc_vat_price"]).sum() + standing
    assert usage["total_cost_exc_vat_pence"].sum() == pytest.approx(expected, abs=1e-9)


def test_export_tariff_with_open_zero_standing_charge(household_config, influx, households_api):
    day = "2024-06-12"
    run = materialize_days(household_config("A-E7000001", influxdb=METER_TAGS), day)
    assert run.success
    export = read(influx, schema.ELECTRICITY_CONSUMPTION, day, electricity_mpan="1100000000072")
    assert set(export["tariff_code"]) == {AGILE_OUTGOING}
    assert len(export) == 48
    assert (export["standing_charge_cost_exc_vat_pence"] == 0).all()
    # Each half-hour's export is the API's reading, stored negative, and earns that half-hour's Agile Outgoing
    # price (as the API lists it): a negative cost.
    exported = api_readings(households_api, "electricity", "1100000000072", "21E7000001", day)
    assert list(exported.index) == list(pd.date_range(*window(day), freq="30min", inclusive="left"))
    assert 0 < exported.sum() == pytest.approx(-export["usage_kwh"].sum(), abs=1e-9)
    assert by_time(export, "usage_kwh") == (-exported).to_dict()
    outgoing = rates(households_api, AGILE_OUTGOING, "standard-unit-rates", day)
    assert outgoing["value_exc_vat"].nunique() > 1  # a price per half-hour
    for vat in ("exc", "inc"):
        earned = {t: -kwh * rate_at(outgoing, t, vat) for t, kwh in exported.items()}
        assert by_time(export, f"usage_cost_{vat}_vat_pence") == pytest.approx(earned, abs=1e-12)
        assert by_time(export, f"total_cost_{vat}_vat_pence") == pytest.approx(earned, abs=1e-12)
    # Net cost per day is a single sum over the measurement: import cost minus export earnings.
    net = influx.query(
        "SELECT sum(total_cost_inc_vat_pence) FROM electricity_consumption "
        f"WHERE time >= '{window('2024-06-12')[0].isoformat()}' AND time < '{window('2024-06-12')[1].isoformat()}'"
    )[0]["values"][0][1]
    everything = read(influx, schema.ELECTRICITY_CONSUMPTION, "2024-06-12")
    assert net == pytest.approx(everything["total_cost_inc_vat_pence"].sum())


# --- tariff switches, replaced and silent meters -----------------------------------------------------------

VAR, AGILE = "E-1R-VAR-22-11-01-C", "E-1R-AGILE-24-10-01-C"


def test_mid_day_switch_prices_each_half_hour_with_its_own_tariff(household_config, influx, households_api):
    day = "2024-06-12"
    run = materialize_days(household_config("A-SWCH0001", influxdb=METER_TAGS), day)
    assert run.success
    points = read(influx, schema.ELECTRICITY_CONSUMPTION, day, electricity_mpan="1300000000001")
    local = points["time"].dt.tz_convert(LONDON)
    switch = pd.Timestamp("2024-06-12T13:30:00+01:00")
    assert (points.loc[points["time"] < switch, "tariff_code"] == VAR).all()
    assert (points.loc[points["time"] >= switch, "tariff_code"] == AGILE).all()
    assert points["tariff_code"].value_counts().to_dict() == {VAR: 27, AGILE: 21}
    assert local[points["tariff_code"] == AGILE].min().strftime("%H:%M") == "13:30"

    var_rates, agile_rates = (
        rates(households_api, VAR, "standard-unit-rates", day),
        rates(households_api, AGILE, "standard-unit-rates", day),
    )
    for row in points.itertuples():
        table = var_rates if row.tariff_code == VAR else agile_rates
        assert row.usage_cost_exc_vat_pence == pytest.approx(row.usage_kwh * rate_at(table, row.time), abs=1e-12)
    # Standing charge: each tariff's daily charge for its share of the day, still one day in all.
    var_standing = rate_at(rates(households_api, VAR, "standing-charges", day), window(day)[0])
    agile_standing = rate_at(rates(households_api, AGILE, "standing-charges", day), switch)
    assert points["standing_charge_cost_exc_vat_pence"].sum() == pytest.approx(
        var_standing * 27 / 48 + agile_standing * 21 / 48, abs=1e-9
    )
    checks = assert_checks(run, every_interval_priced=True, standing_charge_one_day=True, complete_intervals=False)
    # Only the meter point that never reports is incomplete (a warning, as for any late data).
    assert "1300000000002" in problems(checks["complete_intervals"])
    assert "1300000000001" not in problems(checks["complete_intervals"])


def test_hourly_resolution_with_a_switch_at_half_past(household_config, influx):
    """At 60 minutes an hour belongs to the tariff in force at its start: 13:00 VAR, 14:00 on Agile."""
    run = materialize_days(
        household_config("A-SWCH0001", octopus={"resolution_minutes": "60"}, influxdb=METER_TAGS), "2024-06-12"
    )
    checks = assert_checks(run, every_interval_priced=True, standing_charge_one_day=True, complete_intervals=False)
    assert "1300000000001" not in problems(checks["complete_intervals"])
    points = read(influx, schema.ELECTRICITY_CONSUMPTION, "2024-06-12", electricity_mpan="1300000000001")
    assert points["tariff_code"].value_counts().to_dict() == {VAR: 14, AGILE: 10}


def test_replaced_meter_serials_together_cover_the_meter_point(household_config, influx):
    run = materialize_days(household_config("A-SWCH0001", influxdb=METER_TAGS), "2024-07-31", "2024-08-01")
    assert run.success
    readings = read(influx, schema.METER_CONSUMPTION, "2024-07-31", "2024-08-01", meter_point="1300000000001")
    by_serial = readings.groupby(readings["time"].dt.tz_convert(LONDON).dt.date)["meter_serial_number"].agg(set)
    assert by_serial.to_dict() == {dt.date(2024, 7, 31): {"21S0000001"}, dt.date(2024, 8, 1): {"21S0000002"}}
    assert len(readings) == 96
    assert "1300000000001" not in problems(check_outcomes(run)["complete_intervals"])


# --- moving house, gas units --------------------------------------------------------------------------------


def test_moved_out_property_counts_only_while_lived_in(household_config, influx, households_api, tmp_path):
    cv = tmp_path / "cv.csv"
    cv.write_text("Applicable For,Value\n13/06/2024,39.0\n14/06/2024,39.5\n")
    config = household_config(
        "A-MOVE0001",
        octopus={"gas_meter_types": "G4S2000011=SMETS2,G4S1000022=SMETS1", "calorific_value_file": str(cv)},
        influxdb={
            "included_tags": ",".join(schema.PROPERTY_TAGS) + ",electricity_mpan,gas_mprn",
            "additional_tags": "location=Home",
        },
    )
    run = materialize_days(config, "2024-06-13", "2024-06-16")
    assert run.success
    assert_checks(run, complete_intervals=True, every_interval_priced=True, standing_charge_one_day=True)
    readings = read(influx, schema.METER_CONSUMPTION, "2024-06-13", "2024-06-16")
    days = readings.groupby("meter_point")["time"].agg(lambda t: sorted(set(t.dt.tz_convert(LONDON).dt.day)))
    assert days.to_dict() == {
        "1200000000011": [13, 14],
        "4000000011": [13, 14],  # the old home, until moving out on the 15th
        "1200000000022": [15, 16],
        "4000000022": [15, 16],  # the new one, from the 15th
    }
    towns = influx.query('SHOW TAG VALUES FROM "electricity_consumption" WITH KEY = "property_town"')
    assert {value for _, value in towns[0]["values"]} == {"Oldtown", "Newtown"}

    # SMETS2: the API's m³ reading × volume correction × that day's calorific value / 3.6; raw m³ kept alongside.
    smets2 = readings[readings["meter_serial_number"] == "G4S2000011"]
    assert set(smets2["unit"]) == {"m3"}
    cubic_metres = api_readings(households_api, "gas", "4000000011", "G4S2000011", "2024-06-13", "2024-06-14")
    assert len(cubic_metres) == 96 and cubic_metres.sum() > 0
    assert by_time(smets2, "consumption") == cubic_metres.to_dict()
    # Each reading uses its gas day's CV (05:00-05:00 local): the file's for the 13th and 14th; before the first
    # published value (00:00-05:00 on the 13th belongs to the gas day of the 12th), the fixed 38.8.
    gas_day = (cubic_metres.index.tz_convert(LONDON) - pd.Timedelta(hours=5)).date
    calorific = {dt.date(2024, 6, 12): 38.8, dt.date(2024, 6, 13): 39.0, dt.date(2024, 6, 14): 39.5}
    expected = {
        moment: m3 * 1.02264 * calorific[day] / 3.6
        for (moment, m3), day in zip(cubic_metres.items(), gas_day, strict=True)
    }
    assert [calorific[day] for day in gas_day] == [38.8] * 10 + [39.0] * 48 + [39.5] * 38
    assert by_time(smets2, "usage_kwh") == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert gas_volume_to_kwh(1.0, 1.02264, 39.5) == pytest.approx(11.220633, abs=1e-6)
    # SMETS1 reports kWh already: the API's reading as it is.
    smets1 = readings[readings["meter_serial_number"] == "G4S1000022"]
    assert set(smets1["unit"]) == {"kWh"}
    kwh = api_readings(households_api, "gas", "4000000022", "G4S1000022", "2024-06-15", "2024-06-16")
    assert len(kwh) == 96 and kwh.sum() > 0
    assert by_time(smets1, "usage_kwh") == by_time(smets1, "consumption") == kwh.to_dict()
    gas = read(influx, schema.GAS_CONSUMPTION, "2024-06-13", "2024-06-16")
    assert gas["usage_kwh"].sum() == pytest.approx(smets2["usage_kwh"].sum() + smets1["usage_kwh"].sum())


# --- gaps, duplicates, negative readings: the consumption checks ------------------------------------------


def test_complete_intervals_check_names_the_meter_and_missing_half_hours(household_config, influx):
    good = materialize_days(household_config("A-GAPS0001"), "2024-06-11")
    assert_checks(good, complete_intervals=True, no_negative_import=True)
    bad = materialize_days(household_config("A-GAPS0001"), "2024-06-12")
    assert bad.success  # a short day is a warning to act on, not a failed run
    evaluation = assert_checks(bad, complete_intervals=False)["complete_intervals"]
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "electricity 1400000000001" in problems(evaluation)
    assert "| 2024-06-12 | 48 | 45 | 02:00, 02:30, 03:00 |" in problems(evaluation)


def test_duplicated_intervals_are_written_once(household_config, influx):
    run = materialize_days(household_config("A-GAPS0001"), "2024-06-13")
    assert_checks(run, complete_intervals=True, every_interval_priced=True, standing_charge_one_day=True)
    # Counted in what the asset handed to InfluxDB, which would store a duplicated interval once anyway.
    (materialization,) = [
        e
        for e in run.all_events
        if e.asset_key == dg.AssetKey("meter_consumption") and e.event_type_value == "ASSET_MATERIALIZATION"
    ]
    assert materialization.materialization.metadata["points_meter_consumption"].value == 48
    assert len(read(influx, schema.METER_CONSUMPTION, "2024-06-13")) == 48


def test_negative_import_check(household_config):
    good = materialize_days(household_config("A-GAPS0001"), "2024-06-13")
    assert_checks(good, no_negative_import=True)
    bad = materialize_days(household_config("A-GAPS0001"), "2024-06-14")
    evaluation = assert_checks(bad, no_negative_import=False)["no_negative_import"]
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "electricity 1400000000001 / 21G0000001" in problems(evaluation)
    assert "2024-06-14 18:00:00+01:00" in problems(evaluation)


# --- the pricing checks on a crafted bad day ----------------------------------------------------------------


def test_pricing_checks_fail_when_prices_are_missing(config_file, influx):
    """Prices are materialised, then two hours of them are lost before consumption is priced."""
    defs = build_definitions(config_file)
    instance = dg.DagsterInstance.ephemeral()
    assert (
        defs.resolve_job_def(PRICES_JOB).execute_in_process(partition_key="2024-06-12", instance=instance).success
    )
    influx.query(
        f"DELETE FROM {quote_identifier('electricity_pricing')} "
        "WHERE time >= '2024-06-12T11:00:00Z' AND time < '2024-06-12T13:00:00Z'",
        method="POST",
    )
    consumption = defs.resolve_job_def(CONSUMPTION_JOB).execute_in_process(
        partition_key="2024-06-12", instance=instance
    )
    checks = assert_checks(DaysRun([consumption]), every_interval_priced=False, standing_charge_one_day=False)
    assert "12:00, 12:30, 13:00, 13:30" in problems(checks["every_interval_priced"])
    assert "electricity 1900000000001" in problems(checks["standing_charge_one_day"])

    repaired = materialize_days(config_file, "2024-06-12", instance=instance)
    assert_checks(repaired, every_interval_priced=True, standing_charge_one_day=True)


# --- resolution --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [60, 1440])
def test_coarser_resolution_prices_with_the_mean_half_hour_rate(make_config, influx, octopus_api, resolution):
    day = "2024-10-27"  # Agile, 25 hours
    run = materialize_days(make_config(octopus={"resolution_minutes": str(resolution)}, influxdb=METER_TAGS), day)
    assert run.success
    assert_checks(run, complete_intervals=True, every_interval_priced=True, standing_charge_one_day=True)
    points = read(influx, schema.ELECTRICITY_CONSUMPTION, day, electricity_mpan="1900000000001")
    assert len(points) == {60: 25, 1440: 1}[resolution]
    agile = rates(octopus_api, AGILE, "standard-unit-rates", day)
    half_hours = pd.date_range(*window(day), freq="30min", inclusive="left")
    prices = pd.Series([rate_at(agile, t) for t in half_hours], index=half_hours)
    buckets = prices.index.floor("60min") if resolution == 60 else [window(day)[0]] * len(prices)
    mean_price = prices.groupby(buckets).mean()
    standing = rate_at(rates(octopus_api, AGILE, "standing-charges", day), window(day)[0])
    expected = (points.set_index("time")["usage_kwh"] * mean_price).sum() + standing
    assert points["total_cost_exc_vat_pence"].sum() == pytest.approx(expected, abs=1e-9)


# --- tomorrow's Agile prices --------------------------------------------------------------------------------


@pytest.mark.parametrize(("clock_hour", "published"), [(17, True), (11, False)])
def test_prices_run_a_day_ahead_once_published(make_config, influx, clock_hour, published):
    """The Agile schedule's run (today..tomorrow): prices published at 16:00 cover 23:00 today to 23:00
    tomorrow, so after 16:00 today is complete and tomorrow lacks only its last hour; before, tomorrow is empty."""
    today = dt.datetime.now(LONDON).date()
    days = [today.isoformat(), (today + dt.timedelta(days=1)).isoformat()]
    clock = dt.datetime.combine(today, dt.time(clock_hour), LONDON)
    simulator = OctopusSimulator(api_key=API_KEY, households=all_scenarios(seed=7), clock=lambda: clock)
    instance = dg.DagsterInstance.ephemeral()
    with serve(simulator) as api:
        defs = build_definitions(make_config(octopus={"api_prefix": api, "account_number": "A-DEMO0001"}))
        assert days[1] in defs.resolve_assets_def("tariff_rates").partitions_def.get_partition_keys()
        assert days[1] not in defs.resolve_assets_def("meter_consumption").partitions_def.get_partition_keys()
        run = defs.resolve_job_def(PRICES_JOB).execute_in_process(tags=range_tags(*days), instance=instance)
    assert run.success
    half_hours = {day: len(pd.date_range(*window(day), freq="30min", inclusive="left")) for day in days}
    agile = {day: len(read(influx, schema.ELECTRICITY_PRICING, day, tariff_code=AGILE)) for day in days}
    # No price is made up before publication: missing intervals get no point, and the run warns.
    if published:
        assert agile == {days[0]: half_hours[days[0]], days[1]: half_hours[days[1]] - 2}
    else:
        assert agile == {days[0]: half_hours[days[0]] - 2, days[1]: 0}
    warnings = [r.user_message for r in instance.all_logs(run.run_id) if r.level == logging.WARNING]
    assert any("no unit rate published" in w for w in warnings)


# --- ranges, payment methods, tags, metadata ----------------------------------------------------------------


def test_a_switch_inside_a_backfill_range(household_config, influx):
    run = materialize_days(household_config("A-SWCH0001", influxdb=METER_TAGS), "2024-06-11", "2024-06-13")
    assert run.success
    points = read(
        influx, schema.ELECTRICITY_CONSUMPTION, "2024-06-11", "2024-06-13", electricity_mpan="1300000000001"
    )
    assert points["tariff_code"].value_counts().to_dict() == {VAR: 48 + 27, AGILE: 21 + 48}


def test_payment_method_selects_its_own_rates(make_config, influx, octopus_api):
    run = materialize_days(make_config(octopus={"payment_method": "NON_DIRECT_DEBIT"}), "2024-06-12")
    assert run.success
    prices = read(influx, schema.ELECTRICITY_PRICING, "2024-06-12", tariff_code=VAR)
    with OctopusClient(octopus_api, API_KEY) as client:
        unit = client.rates(VAR, "standard-unit-rates", *window("2024-06-12"))
    expected = select_payment_method(unit, "NON_DIRECT_DEBIT")["value_inc_vat"]
    assert set(prices["unit_price_inc_vat_price"]) == set(expected)
    assert set(expected) != set(select_payment_method(unit, "DIRECT_DEBIT")["value_inc_vat"])


def test_all_ten_seed_tags_and_additional_tags(make_config, influx):
    tags = (
        "account_number,property_address_line_1,property_address_line_2,property_address_line_3,"
        "property_town,property_postcode,electricity_mpan,gas_mprn,meter_serial_number,agreement_tariff_code"
    )
    config = make_config(influxdb={"included_tags": tags, "additional_tags": "location=Home,owner=Pat"})
    assert materialize_days(config, "2024-06-12").success
    keys = {
        name: {key for (key,) in series["values"]}
        for series in influx.query("SHOW TAG KEYS")
        for name in [series["name"]]
    }
    # Empty address lines are not written (line protocol has no empty tags); the rest are there.
    expected = {
        "tariff_code",
        "account_number",
        "property_address_line_1",
        "property_town",
        "property_postcode",
        "meter_serial_number",
        "agreement_tariff_code",
        "location",
        "owner",
    }
    assert expected | {"electricity_mpan"} <= keys["electricity_consumption"]
    assert expected | {"gas_mprn"} <= keys["gas_consumption"]
    assert expected | {"electricity_mpan"} <= keys["electricity_pricing"]


def test_materialisation_metadata_has_numbers_and_tables(config_file, influx, octopus_api):
    instance = dg.DagsterInstance.ephemeral()
    assert materialize_days(config_file, "2024-06-12", instance=instance).success
    event = instance.get_latest_materialization_event(dg.AssetKey("priced_consumption"))
    metadata = event.asset_materialization.metadata
    # Every figure is what its name says, checked against what InfluxDB holds for the day.
    start, end = local_days_window(dt.date(2024, 6, 12), dt.date(2024, 6, 12), LONDON)
    when = f"time >= '{start.isoformat()}' AND time < '{end.isoformat()}'"

    def total(select: str, measurement: str, where: str = "") -> float:
        (series,) = influx.query(f'SELECT {select} FROM "{measurement}" WHERE {when}{where}')
        return series["values"][0][1]

    electricity = "electricity_consumption"
    # The seed's tags tell export by its tariff (OUTGOING), and store its usage negative.
    imported = total("sum(usage_kwh)", electricity, " AND tariff_code !~ /OUTGOING/")
    exported = -total("sum(usage_kwh)", electricity, " AND tariff_code =~ /OUTGOING/")
    gas = total("sum(usage_kwh)", "gas_consumption")
    # ... which is what the API reported for the day: import and export in kWh, gas in m³ (SMETS2, as Kraken says)
    # at the default volume correction and calorific value.
    day = "2024-06-12"
    api_import = api_readings(octopus_api, "electricity", "1900000000001", "21E0000001", day)
    api_export = api_readings(octopus_api, "electricity", "1900000000002", "21E0000001", day)
    api_gas_m3 = api_readings(octopus_api, "gas", "3000000001", "G4P0000000001", day)
    assert len(api_import) == len(api_export) == len(api_gas_m3) == 48
    assert min(api_import.sum(), api_export.sum(), api_gas_m3.sum()) > 0
    assert imported == pytest.approx(api_import.sum(), abs=1e-9)
    assert exported == pytest.approx(api_export.sum(), abs=1e-9)
    api_gas_kwh = api_gas_m3.sum() * 1.02264 * 38.8 / 3.6
    assert gas == pytest.approx(api_gas_kwh, abs=1e-9)
    assert metadata["electricity_import_kwh"].value == round(imported, 3)
    assert metadata["electricity_export_kwh"].value == round(exported, 3)
    assert metadata["gas_kwh"].value == round(gas, 3)
    midday = window(day)[0] + pd.Timedelta(hours=12)  # VAR and the fixed export price: one price all day

    def price(tariff: str, component: str, vat: str) -> float:
        return rate_at(rates(octopus_api, tariff, component, day), midday, vat)

    gas_tariff, export_tariff = "G-1R-VAR-22-11-01-C", "E-1R-OUTGOING-FIX-12M-19-05-13-C"
    for vat in ("inc", "exc"):
        pence = sum(total(f"sum(total_cost_{vat}_vat_pence)", name) for name in (electricity, "gas_consumption"))
        assert metadata[f"net_cost_{vat}_vat_gbp"].value == round(pence / 100, 2)
        # The API's readings at the API's prices: import and gas with a day's standing charge, export earning.
        expected = (
            api_import.sum() * price(VAR, "standard-unit-rates", vat)
            + price(VAR, "standing-charges", vat)
            - api_export.sum() * price(export_tariff, "standard-unit-rates", vat)
            + api_gas_kwh * price(gas_tariff, "standard-unit-rates", vat)
            + price(gas_tariff, "standing-charges", vat)
        )
        assert pence == pytest.approx(expected, abs=1e-9)
    assert "import_kwh" not in metadata and "net_cost_inc_vat_pence" not in metadata
    readings = instance.get_latest_materialization_event(dg.AssetKey("meter_consumption")).asset_materialization
    assert readings.metadata["gas_kwh"].value == round(gas, 3)
    assert readings.metadata["electricity_import_kwh"].value == round(imported, 3)
    assert metadata["points_electricity_consumption"].value == 96  # import and export
    assert metadata["points_gas_consumption"].value == 48
    assert (
        metadata["tariff_codes"].value
        == "E-1R-OUTGOING-FIX-12M-19-05-13-C, E-1R-VAR-22-11-01-C, G-1R-VAR-22-11-01-C"
    )
    table = metadata["per_meter"].value
    assert "| fuel | meter_point | intervals | kwh | cost_inc_vat_gbp | tariff_codes |" in table
    assert "| gas | 3000000001 | 48 |" in table
    assert all(len(row.split("|")[5].strip().partition(".")[2]) <= 2 for row in table.splitlines()[2:])  # GBP
    account = instance.get_latest_materialization_event(dg.AssetKey("account")).asset_materialization.metadata
    assert account["meters"].value == 3


def test_days_before_the_account_existed_materialise_as_empty(make_config, influx):
    """A back-fill that starts before moving in: those days succeed with nothing to write, not a crash."""
    run = materialize_days(make_config(pipeline={"start_date": "2023-12-01"}), "2023-12-30", "2024-01-02")
    assert run.success
    assert_checks(run, complete_intervals=True, every_interval_priced=True, standing_charge_one_day=True)
    readings = read(influx, schema.METER_CONSUMPTION, "2023-12-30", "2024-01-02")
    assert set(readings["time"].dt.tz_convert(LONDON).dt.date.astype(str)) == {"2024-01-01", "2024-01-02"}


def test_consumption_without_stored_prices_fails_the_check_not_the_run(config_file, influx):
    defs = build_definitions(config_file)
    instance = dg.DagsterInstance.ephemeral()
    assert (
        defs.resolve_job_def(PRICES_JOB).execute_in_process(partition_key="2024-06-12", instance=instance).success
    )
    for measurement in ("electricity_pricing", "gas_pricing"):  # every price of the day lost
        influx.query(f"DROP MEASUREMENT {quote_identifier(measurement)}", method="POST")
    consumption = defs.resolve_job_def(CONSUMPTION_JOB).execute_in_process(
        partition_key="2024-06-12", instance=instance
    )
    assert consumption.success
    checks = assert_checks(DaysRun([consumption]), every_interval_priced=False)
    assert "| 2024-06-12 |" in problems(checks["every_interval_priced"])


def test_consumption_before_its_prices_fails_naming_what_to_materialise(config_file, influx):
    """No green without data: a day whose agreements were never materialised fails, and writes nothing."""
    defs = build_definitions(config_file)
    instance = dg.DagsterInstance.ephemeral()
    run = defs.resolve_job_def(CONSUMPTION_JOB).execute_in_process(
        partition_key="2024-06-12", instance=instance, raise_on_error=False
    )
    assert not run.success
    failure = next(e for e in run.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert (
        "account on 2024-06-12 never materialised" in message and "(or every asset) for these days" in message
    ), message
    assert read(influx, schema.METER_CONSUMPTION, "2024-06-12", "2024-06-12").empty
    # Once the prices job has stored that day, the same run succeeds.
    assert (
        defs.resolve_job_def(PRICES_JOB).execute_in_process(partition_key="2024-06-12", instance=instance).success
    )
    assert (
        defs.resolve_job_def(CONSUMPTION_JOB)
        .execute_in_process(partition_key="2024-06-12", instance=instance)
        .success
    )


def test_priced_consumption_alone_on_a_day_with_nothing_upstream_fails(config_file, influx):
    """The README's re-run of one asset for one day: with nothing stored upstream, it fails rather than writing
    nothing and passing its checks."""
    defs = build_definitions(config_file)
    instance = dg.DagsterInstance.ephemeral()
    assert (
        defs.resolve_job_def(PRICES_JOB).execute_in_process(partition_key="2024-06-12", instance=instance).success
    )
    priced = defs.resolve_job_def(CONSUMPTION_JOB).execute_in_process(
        partition_key="2024-06-12",
        instance=instance,
        asset_selection=[dg.AssetKey("priced_consumption")],
        raise_on_error=False,
    )
    assert not priced.success
    failure = next(e for e in priced.all_events if e.event_type_value == "STEP_FAILURE")
    assert "meter_consumption on 2024-06-12 never materialised" in failure.event_specific_data.error.message
    assert "account" not in failure.event_specific_data.error.message.split("never materialised")[0]
    assert read(influx, schema.ELECTRICITY_CONSUMPTION, "2024-06-12", "2024-06-12").empty
