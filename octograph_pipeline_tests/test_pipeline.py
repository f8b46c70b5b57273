"""End to end through Dagster: the simulator over HTTP -> the four assets -> the real InfluxDB, read back."""

import json

import dagster as dg
import pandas as pd
import pytest

from octograph_pipeline.clients.influx import InfluxV1Store, frame_to_lines
from octograph_pipeline.clients.octopus import OctopusClient
from octograph_pipeline.core import schema
from octograph_pipeline.core.days import window as local_days_window
from octograph_pipeline.core.pricing import select_payment_method
from octograph_pipeline.definitions import build_definitions

from .helpers import API_KEY, LONDON, all_points, materialize_days

pytestmark = pytest.mark.integration

IMPORT_MPAN, EXPORT_MPAN, GAS_MPRN, SERIAL = "1900000000001", "1900000000002", "3000000001", "21E0000001"
TAGGED = {
    "influxdb": {
        "included_tags": "electricity_mpan,gas_mprn,meter_serial_number",
        "additional_tags": "location=Home",
    }
}


def count_by(influx: InfluxV1Store, measurement: str, field: str, tag: str, day: str) -> dict[str, int]:
    start, end = local_days_window(pd.Timestamp(day).date(), pd.Timestamp(day).date(), LONDON)
    series = influx.query(
        f"SELECT count({field}) FROM {measurement} WHERE time >= '{start.isoformat()}' "
        f"AND time < '{end.isoformat()}' GROUP BY {tag}"
    )
    return {s["tags"][tag]: s["values"][0][1] for s in series}


@pytest.mark.parametrize(("day", "half_hours"), [("2024-06-12", 48), ("2024-03-31", 46), ("2024-10-27", 50)])
def test_a_day_writes_one_point_per_half_hour_per_meter(make_config, influx, day, half_hours):
    assert materialize_days(make_config(**TAGGED), day).success
    assert count_by(influx, "meter_consumption", "usage_kwh", "meter_point", day) == {
        IMPORT_MPAN: half_hours,
        EXPORT_MPAN: half_hours,
        GAS_MPRN: half_hours,
    }
    assert count_by(influx, "electricity_consumption", "usage_kwh", "electricity_mpan", day) == {
        IMPORT_MPAN: half_hours,
        EXPORT_MPAN: half_hours,
    }
    assert count_by(influx, "gas_consumption", "usage_kwh", "gas_mprn", day) == {GAS_MPRN: half_hours}
    assert count_by(influx, "electricity_pricing", "unit_price_inc_vat_price", "electricity_mpan", day) == {
        IMPORT_MPAN: half_hours,
        EXPORT_MPAN: half_hours,
    }
    assert count_by(influx, "account_meters", "agreement_valid_from", "meter_point", day) == {
        IMPORT_MPAN: 1,
        EXPORT_MPAN: 1,
        GAS_MPRN: 1,
    }


def expected_day_cost(api_prefix: str, mpan: str, tariff: str, day: str, sign: float) -> tuple[float, float]:
    """Hand computation straight from the API: Σ usage × DIRECT_DEBIT unit rate + one day's standing charge."""
    start, end = local_days_window(pd.Timestamp(day).date(), pd.Timestamp(day).date(), LONDON)
    with OctopusClient(api_prefix, API_KEY) as client:
        usage = client.consumption("electricity", mpan, SERIAL, start, end)
        unit = select_payment_method(client.rates(tariff, "standard-unit-rates", start, end), "DIRECT_DEBIT")
        standing = select_payment_method(client.rates(tariff, "standing-charges", start, end), "DIRECT_DEBIT")
    total = 0.0
    for at, kwh in zip(usage["interval_start"], usage["consumption"], strict=True):
        row = unit[(unit["valid_from"] <= at) & (unit["valid_to"].isna() | (unit["valid_to"] > at))]
        assert len(row) == 1
        total += sign * kwh * row["value_exc_vat"].iloc[0]
    if not standing.empty:
        assert len(standing) == 1
        total += standing["value_exc_vat"].iloc[0]
    return total, sign * usage["consumption"].sum()


@pytest.mark.parametrize(
    ("day", "mpan", "tariff", "sign"),
    [
        ("2024-06-12", IMPORT_MPAN, "E-1R-VAR-22-11-01-C", 1.0),
        ("2024-10-27", IMPORT_MPAN, "E-1R-AGILE-24-10-01-C", 1.0),  # Agile on the 25-hour day
        ("2024-06-12", EXPORT_MPAN, "E-1R-OUTGOING-FIX-12M-19-05-13-C", -1.0),
    ],
)
def test_day_cost_reconciles_with_the_api(make_config, influx, octopus_api, day, mpan, tariff, sign):
    assert materialize_days(make_config(**TAGGED), day).success
    start, end = local_days_window(pd.Timestamp(day).date(), pd.Timestamp(day).date(), LONDON)
    points = influx.read([schema.ELECTRICITY_CONSUMPTION], start, end, {"electricity_mpan": mpan})
    assert set(points["tariff_code"]) == {tariff}
    cost, usage = expected_day_cost(octopus_api, mpan, tariff, day, sign)
    assert points["total_cost_exc_vat_pence"].sum() == pytest.approx(cost, abs=1e-9)
    assert points["usage_kwh"].sum() == pytest.approx(usage, abs=1e-9)
    if sign < 0:
        assert (points["usage_kwh"] <= 0).all() and (points["usage_cost_exc_vat_pence"] <= 0).all()


def test_rematerialising_a_day_leaves_identical_contents(config_file, influx):
    """Same day again: identical contents, and a stray point the pipeline does not produce (an interval at
    12:15 in one of its own series) is gone, which InfluxDB's overwriting alone would not do."""
    assert materialize_days(config_file, "2024-10-27").success
    first = all_points(influx)
    series = influx.query('SELECT * FROM "meter_consumption" GROUP BY * LIMIT 1')[0]
    tags = ",".join(f"{key}={value}" for key, value in sorted(series["tags"].items()) if value)
    stray = pd.Timestamp("2024-10-27T12:15Z").value // 10**9
    influx.write_lines([f"meter_consumption,{tags} consumption=1,usage_kwh=1 {stray}"])
    assert len(all_points(influx)) == len(first) + 1
    assert materialize_days(config_file, "2024-10-27").success
    assert all_points(influx) == first


def test_rematerialising_replaces_points_whose_tags_changed(make_config, influx):
    config = make_config(influxdb={"additional_tags": "location=Home"})
    start, end = local_days_window(pd.Timestamp("2024-06-12").date(), pd.Timestamp("2024-06-12").date(), LONDON)
    stale = pd.DataFrame(
        {
            "measurement": "electricity_consumption",
            "time": [start, end - pd.Timedelta(minutes=30)],
            "tariff_code": "E-1R-OLD-22-01-01-C",
            "location": "Home",
            "usage_kwh": 9.0,
        }
    )
    elsewhere = stale.assign(location="Office")
    influx.write_lines(frame_to_lines(pd.concat([stale, elsewhere])))
    assert materialize_days(config, "2024-06-12").success
    codes = influx.query(
        'SHOW TAG VALUES FROM "electricity_consumption" WITH KEY = "tariff_code" WHERE location = \'Home\''
    )
    assert "E-1R-OLD-22-01-01-C" not in {value for _, value in codes[0]["values"]}
    office = influx.read([schema.ELECTRICITY_CONSUMPTION], start, end, {"location": "Office"})
    assert len(office) == 2  # another configuration's points are not ours to delete


def test_a_range_run_writes_what_one_day_runs_write(make_config, influx, influxd):
    config = make_config()
    assert materialize_days(config, "2024-10-26", "2024-10-28").success
    range_points = all_points(influx)
    other = InfluxV1Store(influxd.url, influx.database + "_daily")
    other.create_database()
    try:
        daily_config = make_config(influxdb={"bucket": other.database})
        for day in ("2024-10-26", "2024-10-27", "2024-10-28"):
            assert materialize_days(daily_config, day).success
        assert all_points(other) == range_points
    finally:
        other.drop_database()


def test_secrets_stay_out_of_logs_run_config_and_metadata(config_file, influx, monkeypatch):
    monkeypatch.setenv("OCTOGRAPH_INFLUXDB_TOKEN", "reader:influx-secret-token")  # 1.x: user:password
    instance = dg.DagsterInstance.ephemeral()
    result = materialize_days(config_file, "2024-06-12", instance=instance)
    assert result.success
    text = ""
    for run_id in result.run_ids:
        text += "".join(dg.serialize_value(record) for record in instance.all_logs(run_id))
        text += json.dumps(instance.get_run_by_id(run_id).run_config, default=str)
    assert len(text) > 10000
    assert API_KEY not in text and "influx-secret-token" not in text


def test_a_rejected_key_fails_clearly_and_writes_nothing(config_file, influx, monkeypatch):
    monkeypatch.setenv("OCTOGRAPH_TEST_OCTOPUS_API_KEY", "sk_live_not_the_right_one")
    result = materialize_days(config_file, "2024-06-12", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "rejected the API key" in str(failure.event_specific_data.error)
    assert "sk_live_not_the_right_one" not in str(failure.event_specific_data.error)
    assert all_points(influx) == []


def test_definitions_load_with_the_expected_assets(config_file):
    defs = build_definitions(config_file)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"account", "tariff_rates", "meter_consumption", "priced_consumption"}
    partitions = defs.resolve_assets_def("priced_consumption").partitions_def
    assert partitions.timezone == "Europe/London"
    assert partitions.get_first_partition_key() == "2024-01-01"
