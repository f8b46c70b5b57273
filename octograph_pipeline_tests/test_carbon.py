"""The carbon arithmetic, without I/O: each GSP group's Carbon Intensity region, and what a household's intervals
emitted, checked by hand on the day the clocks go back (50 half-hours)."""

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from octograph_pipeline.core import metadata
from octograph_pipeline.core import schema as s
from octograph_pipeline.core.carbon import (
    REGION_OF_GSP_GROUP,
    emission_points,
    emissions_g,
    gas_emissions_g,
    interval_intensity,
    region_of_tariff,
)
from octograph_pipeline.core.checks import missing_intensity
from octograph_pipeline.core.days import window
from octograph_pipeline.core.settings import PointTags

LONDON = ZoneInfo("Europe/London")

# The GSP group letter ends the tariff code; the API numbers its regions north to south.
REGIONS = {
    "P": 1, "N": 2, "G": 3, "F": 4, "M": 5, "D": 6, "K": 7,
    "E": 8, "B": 9, "A": 10, "L": 11, "H": 12, "C": 13, "J": 14,
}  # fmt: skip


@pytest.mark.parametrize(("letter", "region"), sorted(REGIONS.items()))
def test_each_of_the_14_gsp_groups_has_its_carbon_intensity_region(letter, region):
    assert region_of_tariff(f"E-1R-AGILE-24-10-01-{letter}") == region
    assert region_of_tariff(f"G-1R-SILVER-24-12-31-{letter}") == region  # gas tariffs name the region too


def test_the_regions_are_the_apis_fourteen_each_once():
    assert sorted(region for region, _ in REGION_OF_GSP_GROUP.values()) == list(range(1, 15))


@pytest.mark.parametrize("letter", ["I", "O"])
def test_a_letter_that_is_no_gsp_group_is_refused_by_name(letter):
    with pytest.raises(ValueError, match=f"'{letter}' is not a GSP group"):
        region_of_tariff(f"E-1R-AGILE-24-10-01-{letter}")


def autumn_day() -> pd.DatetimeIndex:
    start, end = window(dt.date(2024, 10, 27), dt.date(2024, 10, 27), LONDON)
    return pd.date_range(start, end, freq="30min", inclusive="left")


def test_a_clock_change_days_emissions_by_hand():
    half_hours = autumn_day()
    assert len(half_hours) == 50
    usage = pd.Series(0.2, index=half_hours)  # 10 kWh over the day
    intensity = pd.Series([150.0] * 40 + [100.0] * 10, index=half_hours)
    # 40 × 0.2 kWh × 150 g/kWh + 10 × 0.2 kWh × 100 g/kWh
    assert emissions_g(usage, intensity).sum() == pytest.approx(1200 + 200)
    assert emissions_g(usage, intensity, is_export=True).sum() == pytest.approx(-1400)  # avoided
    assert gas_emissions_g(usage, 0.18).sum() == pytest.approx(10 * 0.18 * 1000)


def test_a_half_hour_without_intensity_has_no_emissions_not_zero():
    half_hours = autumn_day()
    intensity = pd.Series(150.0, index=half_hours).drop(half_hours[7])
    grams = emissions_g(pd.Series(0.2, index=half_hours), intensity)
    assert math.isnan(grams[half_hours[7]]) and grams.notna().sum() == 49


def test_an_hours_usage_meets_the_mean_of_its_two_half_hours():
    half_hours = autumn_day()
    intensity = pd.Series([100.0, 200.0] * 25, index=half_hours)
    hours = pd.Series(half_hours[::2])
    assert (interval_intensity(intensity, hours, hours + pd.Timedelta(hours=1)) == 150.0).all()
    one_missing = interval_intensity(intensity.drop(half_hours[3]), hours, hours + pd.Timedelta(hours=1))
    assert math.isnan(one_missing[1]) and one_missing.notna().sum() == 24


def test_a_days_usage_meets_the_mean_of_all_50_half_hours_of_the_long_day():
    half_hours = autumn_day()
    intensity = pd.Series([100.0] * 48 + [350.0] * 2, index=half_hours)
    start, end = window(dt.date(2024, 10, 27), dt.date(2024, 10, 27), LONDON)
    day = interval_intensity(intensity, pd.Series([start]), pd.Series([end]))
    assert day[0] == pytest.approx((48 * 100 + 2 * 350) / 50)  # 110, not the mean of 48


# --- the emissions asset's points, by hand on the 50-half-hour day ------------------------------------------

IMPORT = ("electricity", "1900000000001", "E1", False)
EXPORT = ("electricity", "1900000000002", "E2", True)
GAS = ("gas", "3000000001", "G1", False)
TARIFFS = {
    IMPORT: "E-1R-AGILE-24-10-01-C",
    EXPORT: "E-1R-OUTGOING-FIX-12M-19-05-13-C",
    GAS: "G-1R-SILVER-24-12-31-C",
}


def autumn_household(intensity: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """0.2 kWh per half-hour on each meter point, its agreements over the day, and London's forecast
    (`intensity`) beside a national one that must not be used."""
    half_hours = autumn_day()
    start, end = half_hours[0], half_hours[-1] + pd.Timedelta(minutes=30)
    consumption = pd.concat(
        pd.DataFrame({s.TIME: half_hours, **dict(zip(s.METER_KEY, meter, strict=True)), s.USAGE_KWH: 0.2})
        for meter in TARIFFS
    )
    segments = pd.DataFrame(
        [
            {**dict(zip(s.METER_KEY, meter, strict=True)), s.ACCOUNT_NUMBER: "A-TEST0001",
             s.TARIFF_CODE_TAG: code, "segment_start": start, "segment_end": end}
            for meter, code in TARIFFS.items()
        ]
    )  # fmt: skip
    stored = pd.concat(
        [
            pd.DataFrame({s.TIME: intensity.index, s.REGION: "London", s.REGION_ID: "13",
                          s.INTENSITY_FORECAST: intensity.to_numpy()}),
            pd.DataFrame({s.TIME: half_hours, s.REGION: s.NATIONAL, s.REGION_ID: "", s.INTENSITY_FORECAST: 999.0}),
        ]
    )  # fmt: skip
    return consumption, segments, stored


def test_each_meter_points_emissions_on_the_long_day_by_hand():
    half_hours = autumn_day()
    intensity = pd.Series([150.0] * 40 + [100.0] * 10, index=half_hours)
    points = emission_points(*autumn_household(intensity), LONDON, 30, 0.18231, PointTags(additional={"at": "x"}))
    assert len(points) == 3 * 50 and set(points["at"]) == {"x"}
    totals = points.groupby(s.METER_POINT)[[s.USAGE_KWH, s.EMISSIONS_G]].sum()
    # Import: 40 × 0.2 × 150 + 10 × 0.2 × 100 g; export avoids as much (negative); gas: 10 kWh × 0.18231 kg/kWh.
    assert totals.loc[IMPORT[1]].tolist() == pytest.approx([10.0, 1400.0])
    assert totals.loc[EXPORT[1]].tolist() == pytest.approx([-10.0, -1400.0])
    assert totals.loc[GAS[1]].tolist() == pytest.approx([10.0, 1823.1])
    electricity = points[points[s.FUEL] == "electricity"]
    assert set(electricity[s.REGION]) == {"London"} and set(points.loc[points[s.FUEL] == "gas", s.REGION]) == {""}
    assert points.loc[points[s.FUEL] == "gas", s.INTENSITY].tolist() == pytest.approx([182.31] * 50)


def test_an_interval_without_intensity_keeps_its_usage_and_is_listed_by_the_check():
    half_hours = autumn_day()
    intensity = pd.Series(150.0, index=half_hours).drop(half_hours[7])
    points = emission_points(*autumn_household(intensity), LONDON, 30, 0.18231, PointTags())
    gap = points[points[s.TIME] == half_hours[7]].set_index(s.METER_POINT)
    assert gap[s.USAGE_KWH].tolist() == [0.2, -0.2, 0.2]  # usage kept
    assert gap[s.EMISSIONS_G].isna().tolist() == [True, True, False]  # no grams, not zero; gas needs no grid
    problems = missing_intensity(points, LONDON)
    # 23:00 UTC is 00:00 BST; the 8th half-hour starts at 02:30 BST.
    assert problems.to_dict("records") == [
        {"meter": "electricity 1900000000001", "day": "2024-10-27", "region": "London",
         "intervals_without_intensity": "02:30"},
        {"meter": "electricity 1900000000002 (export)", "day": "2024-10-27", "region": "London",
         "intervals_without_intensity": "02:30"},
    ]  # fmt: skip
    assert missing_intensity(points.dropna(subset=[s.INTENSITY]), LONDON).empty


def test_a_day_of_daily_readings_meets_the_mean_of_its_50_half_hours():
    half_hours = autumn_day()
    intensity = pd.Series([100.0] * 48 + [350.0] * 2, index=half_hours)
    consumption, segments, stored = autumn_household(intensity)
    daily = consumption.groupby(s.METER_KEY, as_index=False).agg(
        **{s.TIME: (s.TIME, "first"), s.USAGE_KWH: (s.USAGE_KWH, "sum")}
    )
    points = emission_points(daily, segments, stored, LONDON, 1440, 0.18231, PointTags())
    imported = points[points[s.METER_POINT] == IMPORT[1]].iloc[0]
    assert imported[s.INTENSITY] == pytest.approx(110.0) and imported[s.EMISSIONS_G] == pytest.approx(1100.0)


def test_the_days_metadata_shows_kg_and_the_cleanest_and_dirtiest_half_hours():
    half_hours = autumn_day()
    intensity = pd.Series([150.0] * 40 + [100.0] * 10, index=half_hours)
    intensity[half_hours[30]] = 300.0
    points = emission_points(*autumn_household(intensity), LONDON, 30, 0.18231, PointTags())
    shown = metadata.emissions(points, ["2024-10-27", "2024-10-28"], LONDON)
    day = shown["2024-10-27"]
    # 150 g → 300 g at one half-hour: +0.2 × 150 g emitted by import, as much avoided by export.
    assert (day["import_kg_co2"], day["export_kg_co2"], day["gas_kg_co2"]) == (1.43, -1.43, 1.823)
    assert day["net_kg_co2"] == 1.823 and day["intervals_without_intensity"] == 0
    # The 31st half-hour starts at 14:00 GMT (15 hours after 23:00 BST's midnight, one of them repeated).
    assert (day["cleanest"], day["dirtiest"]) == ("19:00 (100.0 g/kWh)", "14:00 (300.0 g/kWh)")
    assert shown["2024-10-28"]["net_kg_co2"] == 0.0 and shown["2024-10-28"]["points_emissions"] == 0


def test_two_meters_of_one_meter_point_in_one_half_hour_add_up_to_one_point():
    """A replacement meter reporting the same half-hour as the old one: one point per meter point and interval."""
    half_hours = autumn_day()
    consumption, segments, stored = autumn_household(pd.Series(150.0, index=half_hours))
    second = (*IMPORT[:2], "E1-NEW", False)
    consumption = pd.concat(
        [consumption, consumption[consumption[s.METER_SERIAL_NUMBER] == "E1"].assign(meter_serial_number="E1-NEW")]
    )
    segments = pd.concat([segments, segments.iloc[[0]].assign(meter_serial_number=second[2])])
    points = emission_points(consumption, segments, stored, LONDON, 30, 0.18231, PointTags())
    imported = points[points[s.METER_POINT] == IMPORT[1]]
    assert len(imported) == 50 and imported[s.TIME].is_unique
    assert imported[s.USAGE_KWH].tolist() == pytest.approx([0.4] * 50)
    assert imported[s.EMISSIONS_G].tolist() == pytest.approx([60.0] * 50)


def test_readings_outside_every_agreement_have_no_region_and_are_listed_not_guessed():
    """Readings stored before the account's agreements changed (a day's account re-run alone): no tariff names
    their region, so they have no grams, and the check lists them."""
    half_hours = autumn_day()
    consumption, segments, stored = autumn_household(pd.Series(150.0, index=half_hours))
    segments.loc[segments[s.METER_POINT] == IMPORT[1], "segment_end"] = half_hours[10]
    points = emission_points(consumption, segments, stored, LONDON, 30, 0.18231, PointTags())
    imported = points[points[s.METER_POINT] == IMPORT[1]]
    assert imported[s.EMISSIONS_G].notna().sum() == 10 and set(imported[s.REGION][10:]) == {""}
    (problem,) = missing_intensity(points, LONDON).to_dict("records")
    assert problem["meter"] == f"electricity {IMPORT[1]}" and problem["intervals_without_intensity"].startswith(
        "04:00, 04:30"
    )
