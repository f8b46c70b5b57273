"""Messy real households through Dagster into the real InfluxDB: Economy 7, a mid-day tariff switch, a house
move, SMETS1/SMETS2 gas with a CV series, replaced and silent meters, gaps, duplicates, coarser resolutions,
tomorrow's Agile prices, and each asset check failing on a bad day and passing on a good one."""

import datetime as dt
import logging

import dagster as dg
import pandas as pd
import pytest

from octograph_pipeline.days import window as local_days_window
from octograph_pipeline.definitions import build_definitions
from octograph_pipeline.influx import schema
from octograph_pipeline.influx.store import InfluxV1Store, quote_identifier
from octograph_pipeline.jobs import CONSUMPTION_JOB, PRICES_JOB, DaysRun
from octograph_pipeline.octopus.client import OctopusClient
from octograph_pipeline.partitions import range_tags
from octograph_pipeline.pricing import gas_volume_to_kwh, select_payment_method
from octograph_pipeline.simulator import OctopusSimulator, all_scenarios, serve

from .conftest import API_KEY, LONDON, check_outcomes, materialize_days

pytestmark = pytest.mark.integration

METER_TAGS = {"included_tags": "electricity_mpan,gas_mprn,meter_serial_number"}


def window(day: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    date = dt.date.fromisoformat(day)
    return local_days_window(date, date, LONDON)


def read(influx: InfluxV1Store, measurement, day: str, last: str | None = None, **tags) -> pd.DataFrame:
    start, _ = window(day)
    _, end = window(last or day)
    return influx.read([measurement], start, end, tags)


def rates(api: str, tariff: str, component: str, day: str) -> pd.DataFrame:
    with OctopusClient(api, API_KEY) as client:
        return select_payment_method(client.rates(tariff, component, *window(day)), "DIRECT_DEBIT")


def rate_at(table: pd.DataFrame, moment: pd.Timestamp) -> float:
    row = table[
        (table["valid_from"].isna() | (table["valid_from"] <= moment))
        & (table["valid_to"].isna() | (table["valid_to"] > moment))
    ]
    assert len(row) == 1, (moment, row)
    return float(row["value_exc_vat"].iloc[0])


def assert_checks(run: DaysRun, **expected: bool) -> dict:
    outcomes = check_outcomes(run)
    assert {name: outcomes[name].passed for name in expected} == expected
    return outcomes


def problems(outcome) -> str:
    return outcome.details


# --- Economy 7 ---------------------------------------------------------------------------------------------

E7 = "E-2R-VAR-22-11-01-C"


@pytest.mark.parametrize(
    ("day", "options", "night_half_hours"),
    [
        (
            "2024-06-12",
            {"unit_rate_low_start": "00:30", "unit_rate_low_end": "07:30", "unit_rate_low_timezone": "UTC"},
            14,
        ),
        (
            "2024-03-31",
            {"unit_rate_low_start": "00:30", "unit_rate_low_end": "07:30", "unit_rate_low_timezone": "UTC"},
            14,
        ),
        (
            "2024-10-27",
            {"unit_rate_low_start": "00:30", "unit_rate_low_end": "07:30", "unit_rate_low_timezone": "UTC"},
            14,
        ),
        ("2024-03-31", {}, 12),  # the seed's default: 01:00-08:00 local, one hour short in spring
        ("2024-10-27", {"unit_rate_low_start": "0", "unit_rate_low_end": "7"}, 16),  # non-smart, local clock
    ],
)
def test_economy7_prices_night_half_hours_at_the_night_rate(
    household_config, influx, households_api, day, options, night_half_hours
):
    run = materialize_days(household_config("A-E7000001", octopus=options, influxdb=METER_TAGS), day)
    assert run.success
    assert_checks(run, complete_intervals=True, every_interval_priced=True, standing_charge_one_day=True)
    prices = read(influx, schema.ELECTRICITY_PRICING, day, tariff_code=E7)
    night = rate_at(rates(households_api, E7, "night-unit-rates", day), window(day)[0])
    day_rate = rate_at(rates(households_api, E7, "day-unit-rates", day), window(day)[0])
    counts = prices["unit_price_exc_vat_price"].value_counts()
    assert counts[night] == night_half_hours
    assert counts[day_rate] == len(prices) - night_half_hours

    # The day's cost is each half-hour's usage at its own register's rate plus one standing charge.
    usage = read(influx, schema.ELECTRICITY_CONSUMPTION, day, electricity_mpan="1100000000071")
    joined = usage.merge(prices[["time", "unit_price_exc_vat_price"]], on="time")
    standing = rate_at(rates(households_api, E7, "standing-charges", day), window(day)[0])
    expected = (joined["usage_kwh"] * joined["unit_price_exc_vat_price"]).sum() + standing
    assert usage["total_cost_exc_vat_pence"].sum() == pytest.approx(expected, abs=1e-9)


def test_export_tariff_with_open_zero_standing_charge(household_config, influx):
    run = materialize_days(household_config("A-E7000001", influxdb=METER_TAGS), "2024-06-12")
    assert run.success
    export = read(influx, schema.ELECTRICITY_CONSUMPTION, "2024-06-12", electricity_mpan="1100000000072")
    assert set(export["tariff_code"]) == {"E-1R-AGILE-OUTGOING-19-05-13-C"}
    assert len(export) == 48
    assert (export["standing_charge_cost_exc_vat_pence"] == 0).all()
    assert (export["usage_kwh"] <= 0).all() and export["usage_kwh"].sum() < 0
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


def test_moved_out_property_counts_only_while_lived_in(household_config, influx, tmp_path):
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

    # SMETS2: m³ × volume correction × that day's calorific value / 3.6; raw m³ kept alongside.
    smets2 = readings[readings["meter_serial_number"] == "G4S2000011"]
    assert set(smets2["unit"]) == {"m3"}
    # Each reading uses its gas day's CV (05:00-05:00 local); before the first published value, the fixed one.
    gas_day = (smets2["time"].dt.tz_convert(LONDON) - pd.Timedelta(hours=5)).dt.day
    cv_values = gas_day.map({12: 38.8, 13: 39.0, 14: 39.5})
    for day in (13, 14):
        one_day = smets2["time"].dt.tz_convert(LONDON).dt.day == day
        assert one_day.sum() == 48
        expected = (smets2["consumption"] * 1.02264 * cv_values / 3.6)[one_day].sum()
        assert smets2.loc[one_day, "usage_kwh"].sum() == pytest.approx(expected, abs=1e-9)
    assert set(cv_values.dropna()) == {38.8, 39.0, 39.5}
    assert gas_volume_to_kwh(1.0, 1.02264, 39.5) == pytest.approx(11.220633, abs=1e-6)
    # SMETS1 reports kWh already: no conversion.
    smets1 = readings[readings["meter_serial_number"] == "G4S1000022"]
    assert set(smets1["unit"]) == {"kWh"}
    assert (smets1["usage_kwh"] == smets1["consumption"]).all()
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


def test_materialisation_metadata_has_numbers_and_tables(config_file, influx):
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
    assert min(imported, exported, gas) > 0
    assert metadata["electricity_import_kwh"].value == round(imported, 3)
    assert metadata["electricity_export_kwh"].value == round(exported, 3)
    assert metadata["gas_kwh"].value == round(gas, 3)
    for vat in ("inc", "exc"):
        pence = sum(total(f"sum(total_cost_{vat}_vat_pence)", name) for name in (electricity, "gas_consumption"))
        assert metadata[f"net_cost_{vat}_vat_gbp"].value == round(pence / 100, 2)
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
