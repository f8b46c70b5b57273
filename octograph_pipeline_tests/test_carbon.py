"""The carbon arithmetic, without I/O: each GSP group's Carbon Intensity region, and what a household's intervals
emitted, checked by hand on the day the clocks go back (50 half-hours)."""

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from octograph_pipeline.core.carbon import (
    REGION_OF_GSP_GROUP,
    cleanest_and_dirtiest,
    emissions_g,
    gas_emissions_g,
    interval_intensity,
    region_of_tariff,
)
from octograph_pipeline.core.days import window

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
    hours = half_hours[::2]
    assert (interval_intensity(intensity, hours, 60) == 150.0).all()
    assert math.isnan(interval_intensity(intensity.drop(half_hours[3]), hours, 60)[hours[1]])


def test_the_days_cleanest_and_dirtiest_half_hours():
    half_hours = autumn_day()
    intensity = pd.Series(150.0, index=half_hours)
    intensity[half_hours[3]], intensity[half_hours[44]] = 42.0, 310.0
    assert cleanest_and_dirtiest(intensity) == ((half_hours[3], 42.0), (half_hours[44], 310.0))
    with pytest.raises(ValueError, match="no half-hour has an intensity"):
        cleanest_and_dirtiest(pd.Series([float("nan")], index=half_hours[:1]))
