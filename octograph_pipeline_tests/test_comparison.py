"""Tariff comparison through Dagster into the real InfluxDB: a hand-computed week across the clock change, the
actual product compared with itself, products missing for the region or the period, Economy 7 meters, one
request per product and rate component; and the product-detail answer parsed without I/O."""

import datetime as dt
import logging
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from octograph_pipeline.cli import main
from octograph_pipeline.config import load_settings
from octograph_pipeline.core import schema
from octograph_pipeline.core.models import parse_product
from octograph_pipeline.core.settings import ConfigError
from octograph_pipeline.definitions import build_definitions
from octograph_pipeline.dev.demo import demo_config
from octograph_pipeline.dev.simulator import serve

from .helpers import LONDON, household_simulator, materialize_days, rates, read

# 21-27 October 2024: Agile import (since 1 October), fixed export, SMETS2 gas; the 27th has 50 half-hours.
FIRST, LAST = "2024-10-21", "2024-10-27"
IMPORT_MPAN, EXPORT_MPAN, GAS_MPRN = "1900000000001", "1900000000002", "3000000001"
GO, GO_TARIFF = "GO-VAR-22-10-14", "E-1R-GO-VAR-22-10-14-C"
GO_CHEAP, GO_DEAR = 8.5 * 1.05, 26.0 * 1.05  # p/kWh inc VAT: 00:30-05:30 local time, and the rest of the day


def compared_points(influx, first=FIRST, last=LAST) -> pd.DataFrame:
    return read(influx, schema.TARIFF_COMPARISON, first, last)


def test_go_on_a_week_across_the_clock_change_equals_a_hand_computed_total(make_config, influx, octopus_api):
    """Usage × Go's rate (cheap 00:30-05:30 by the clock, also on the 25-hour day) + one standing charge a day."""
    config = make_config(comparison={"products": GO})
    assert materialize_days(config, FIRST, LAST).success
    usage = read(influx, schema.METER_CONSUMPTION, FIRST, LAST, meter_point=IMPORT_MPAN)
    local = usage[schema.TIME].dt.tz_convert(LONDON)
    minute = local.dt.hour * 60 + local.dt.minute
    cheap = (minute >= 30) & (minute < 330)
    by_day = usage.assign(
        day=local.dt.date, pence=usage[schema.USAGE_KWH] * cheap.map({True: GO_CHEAP, False: GO_DEAR})
    ).groupby("day")
    assert by_day.size().to_dict()[dt.date(2024, 10, 27)] == 50
    standing = rates(octopus_api, GO_TARIFF, "standing-charges", FIRST)
    assert len(standing) == 1  # one quarterly charge covers the week
    expected = by_day["pence"].sum() + float(standing["value_inc_vat"].iloc[0])

    go = compared_points(influx).query(f"{schema.PRODUCT_CODE} == '{GO}'")
    assert set(go[schema.METER_POINT]) == {IMPORT_MPAN} and set(go[schema.TARIFF_CODE_TAG]) == {GO_TARIFF}
    shown = go.groupby(go[schema.TIME].dt.tz_convert(LONDON).dt.date)[schema.TOTAL_COST["inc"]].sum()
    assert shown.to_dict() == pytest.approx(expected.to_dict(), abs=1e-9)
    # On the 25-hour day 01:00-02:00 comes twice, both times cheap: 12 cheap half-hours, not 10.
    clock_change = cheap[local.dt.date == dt.date(2024, 10, 27)]
    assert clock_change.sum() == 12


def test_the_actual_product_compared_with_itself_costs_exactly_the_actual_cost(make_config, influx):
    config = make_config(comparison={"products": "AGILE-24-10-01", "gas_products": "VAR-22-11-01"})
    assert materialize_days(config, FIRST, LAST).success
    compared = compared_points(influx)
    key = [schema.METER_POINT, schema.TIME]
    for product, meter_point in (("AGILE-24-10-01", IMPORT_MPAN), ("VAR-22-11-01", GAS_MPRN)):
        candidate = compared[(compared[schema.PRODUCT_CODE] == product)].set_index(key).sort_index()
        actual = (
            compared[
                (compared[schema.PRODUCT_CODE] == schema.ACTUAL) & (compared[schema.METER_POINT] == meter_point)
            ]
            .set_index(key)
            .sort_index()
        )
        assert len(candidate) == len(actual) == 7 * 48 + 2
        for column in schema.COST_COLUMNS:
            assert (candidate[column] == actual[column]).all(), (product, column)  # to the last bit
        assert (candidate[schema.SAVING["inc"]] == 0).all()
    # and the actual is what priced_consumption wrote
    priced = read(influx, schema.ELECTRICITY_CONSUMPTION, FIRST, LAST)
    imported = priced[priced[schema.USAGE_KWH] >= 0]
    actual_import = compared.query(
        f"{schema.PRODUCT_CODE} == 'actual' and {schema.METER_POINT} == '{IMPORT_MPAN}'"
    )
    assert actual_import[schema.TOTAL_COST["inc"]].sum() == pytest.approx(imported[schema.TOTAL_COST["inc"]].sum())


def test_products_missing_for_the_region_or_the_period_are_skipped_with_a_warning(make_config, influx):
    """Cosy is not offered in region C, NOPE-24-01-01 does not exist, the 12M fixed starts on 1 November: each
    is warned about; the fixed tariff is compared from its first day, Go on every day."""
    products = "COSY-22-12-08, NOPE-24-01-01, OE-FIX-12M-24-11-01, GO-VAR-22-10-14"
    config = make_config(comparison={"products": products})
    instance = dg.DagsterInstance.ephemeral()
    run = materialize_days(config, "2024-10-30", "2024-11-02", instance=instance)
    assert run.success
    warned = [
        record.user_message
        for run_id in run.run_ids
        for record in instance.all_logs(run_id)
        if record.level == logging.WARNING
    ]
    assert any("COSY-22-12-08: no electricity tariff in region C (meter point 1900000000001)" in m for m in warned)
    assert any("NOPE-24-01-01: Octopus has no such product" in m for m in warned)
    assert any(
        "OE-FIX-12M-24-11-01: no prices for electricity 1900000000001 on 2024-10-30 .. 2024-10-31" in m
        for m in warned
    )
    compared = compared_points(influx, "2024-10-30", "2024-11-02")
    days = compared.groupby(schema.PRODUCT_CODE)[schema.TIME].agg(
        lambda times: sorted(set(times.dt.tz_convert(LONDON).dt.date.astype(str)))
    )
    assert days.to_dict() == {
        schema.ACTUAL: ["2024-10-30", "2024-10-31", "2024-11-01", "2024-11-02"],
        GO: ["2024-10-30", "2024-10-31", "2024-11-01", "2024-11-02"],
        "OE-FIX-12M-24-11-01": ["2024-11-01", "2024-11-02"],
    }


def test_one_request_per_product_and_rate_component_for_the_whole_run(make_config, influx):
    simulator = household_simulator()
    with serve(simulator) as api:
        config = make_config(
            octopus={"api_prefix": api},
            comparison={"products": "GO-VAR-22-10-14, SILVER-24-12-31", "gas_products": "SILVER-24-12-31"},
        )
        assert materialize_days(config, "2024-06-01", "2024-06-30").success
        without = dict(simulator.request_counts)
        simulator.reset_counts()
        assert materialize_days(make_config(octopus={"api_prefix": api}), "2024-06-01", "2024-06-30").success
    extra = {kind: without[kind] - simulator.request_counts.get(kind, 0) for kind in without}
    # Two products asked once each (SILVER once, for both fuels); Go, Tracker electricity, Tracker gas: a unit
    # rate and a standing charge request each.
    assert {kind: n for kind, n in extra.items() if n} == {
        "products": 2,
        "standard-unit-rates": 3,
        "standing-charges": 3,
    }


def test_economy7_meters_take_the_products_dual_register_tariff_else_its_single_register_one(
    household_config, influx
):
    config = household_config(
        "A-E7000001",
        octopus={"unit_rate_low_start": "00:30", "unit_rate_low_end": "07:30"},
        comparison={"products": "VAR-22-11-01, AGILE-24-10-01"},
    )
    assert materialize_days(config, "2024-03-30", "2024-03-31").success
    compared = compared_points(influx, "2024-03-30", "2024-03-31").query(f"not {schema.IS_EXPORT}")
    tariffs = compared.groupby(schema.PRODUCT_CODE)[schema.TARIFF_CODE_TAG].agg(set).to_dict()
    assert tariffs == {
        schema.ACTUAL: {"E-2R-VAR-22-11-01-C"},
        "VAR-22-11-01": {"E-2R-VAR-22-11-01-C"},
        "AGILE-24-10-01": {"E-1R-AGILE-24-10-01-C"},
    }
    same = compared[compared[schema.PRODUCT_CODE].isin([schema.ACTUAL, "VAR-22-11-01"])]
    totals = same.groupby(schema.PRODUCT_CODE)[schema.TOTAL_COST["exc"]].sum()
    assert totals["VAR-22-11-01"] == totals[schema.ACTUAL]  # the night window priced the same way


def test_without_a_comparison_section_there_is_no_comparison_asset(config_file):
    defs = build_definitions(config_file)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert schema.Asset.TARIFF_COMPARISON not in keys and len(keys) == 4


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("E-1R-AGILE-24-10-01-C", "[comparison] products: 'E-1R-AGILE-24-10-01-C' is a tariff code; give its "
         "product code, 'AGILE-24-10-01'"),
        ("AGILE 24", "[comparison] products: 'AGILE 24' is not an Octopus product code like AGILE-24-10-01"),
    ],
)  # fmt: skip
def test_a_bad_product_code_is_one_clear_error(make_config, value, message):
    with pytest.raises(ConfigError) as error:
        load_settings(make_config(comparison={"products": value}))
    assert str(error.value) == message


PRODUCT = {
    "code": "VAR-22-11-01",
    "display_name": "Flexible Octopus",
    "single_register_electricity_tariffs": {
        "_C": {"direct_debit_monthly": {"code": "E-1R-VAR-22-11-01-C"}, "varying": {"code": "E-1R-VAR-VARY-C"}},
        "_D": {"direct_debit_monthly": {"code": "E-1R-VAR-22-11-01-D"}},
    },
    "dual_register_electricity_tariffs": {"_C": {"direct_debit_monthly": {"code": "E-2R-VAR-22-11-01-C"}}},
    "single_register_gas_tariffs": {"_C": {"direct_debit_monthly": {"code": "G-1R-VAR-22-11-01-C"}}},
    "dual_register_gas_tariffs": {},
}


def test_the_product_detail_gives_the_tariff_per_fuel_registers_region_and_payment_method():
    direct_debit = parse_product(PRODUCT, "DIRECT_DEBIT")
    assert direct_debit.tariff_for("electricity", 1, "C") == "E-1R-VAR-22-11-01-C"
    assert direct_debit.tariff_for("electricity", 2, "C") == "E-2R-VAR-22-11-01-C"
    assert direct_debit.tariff_for("electricity", 2, "D") == "E-1R-VAR-22-11-01-D"  # no dual-register in D
    assert direct_debit.tariff_for("gas", 1, "C") == "G-1R-VAR-22-11-01-C"
    assert direct_debit.tariff_for("electricity", 1, "A") is None
    assert parse_product(PRODUCT, "NON_DIRECT_DEBIT").tariff_for("electricity", 1, "C") == "E-1R-VAR-VARY-C"


def test_the_demo_config_compares_every_meter_kind(tmp_path):
    settings = load_settings(demo_config(tmp_path / "demo.ini", "http://127.0.0.1:1", "http://127.0.0.1:2/v1"))
    comparison = settings.comparison
    assert comparison.products and comparison.export_products and comparison.gas_products


def test_example_config_lists_candidates():
    settings = load_settings(Path(__file__).resolve().parents[1] / "octograph.example.ini")
    assert "AGILE-24-10-01" in settings.comparison.products


def test_the_command_shows_what_the_comparison_skipped(make_config, influx, capsys):
    """Without --verbose, Dagster's log is off; a skipped product is still said, once."""
    config = make_config(comparison={"products": "NOPE-24-01-01, GO-VAR-22-10-14"})
    assert main([f"--config-file={config}", "--from-date=2024-10-30", "--to-date=2024-10-31"]) == 0
    err = capsys.readouterr().err
    assert err.count("octograph: warning: NOPE-24-01-01: Octopus has no such product; not compared\n") == 1
