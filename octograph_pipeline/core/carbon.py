"""The grid's carbon intensity beside a household's own half-hours: which region's forecast applies to a meter
point, and what each interval emitted. Pure: no I/O, no settings object.

Intensity is grams of CO2 per kWh (the GB Carbon Intensity API's unit), per half-hour, indexed by the interval's
start in UTC. An interval without intensity stays NaN, never 0: a check reports it rather than a clean zero.
"""

from __future__ import annotations

import pandas as pd

from octograph_pipeline.core.tariffs import parse_tariff_code

# The GB Carbon Intensity API's regions (its `regionid`) for the 14 GSP groups, by the letter that ends a tariff
# code (`E-1R-AGILE-24-10-01-C`: London). The API's regions are the distribution network areas, which are the
# GSP groups: https://carbon-intensity.github.io/api-definitions/#region-list.
REGION_OF_GSP_GROUP = {
    "A": (10, "East England"),
    "B": (9, "East Midlands"),
    "C": (13, "London"),
    "D": (6, "North Wales & Merseyside"),
    "E": (8, "West Midlands"),
    "F": (4, "North East England"),
    "G": (3, "North West England"),
    "H": (12, "South England"),
    "J": (14, "South East England"),
    "K": (7, "South Wales"),
    "L": (11, "South West England"),
    "M": (5, "Yorkshire"),
    "N": (2, "South Scotland"),
    "P": (1, "North Scotland"),
}


def region_of_tariff(tariff_code: str) -> int:
    """The API region whose forecast applies to a meter point on this tariff (its GSP group letter)."""
    letter = parse_tariff_code(tariff_code).region
    if letter not in REGION_OF_GSP_GROUP:
        raise ValueError(f"tariff code {tariff_code!r}: {letter!r} is not a GSP group (A to P, without I and O)")
    return REGION_OF_GSP_GROUP[letter][0]


def interval_intensity(intensity: pd.Series, starts: pd.DatetimeIndex, minutes: int) -> pd.Series:
    """The grid's intensity over each interval of `minutes` starting at `starts`: the mean of its half-hours
    (how an hour's or a day's usage spread over them is unknown), NaN if any half-hour is missing."""
    half_hours = minutes // 30
    values = []
    for start in starts:
        wanted = pd.date_range(start, periods=half_hours, freq="30min")
        window = intensity.reindex(wanted)
        values.append(window.mean() if window.notna().all() else float("nan"))
    return pd.Series(values, index=starts, dtype="float64")


def emissions_g(usage_kwh: pd.Series, intensity_g_per_kwh: pd.Series, is_export: bool = False) -> pd.Series:
    """Grams of CO2 per interval: usage times the grid's intensity then. Export displaces the grid's supply, so
    its emissions are avoided: negative, as export's cost is."""
    grams = usage_kwh * intensity_g_per_kwh.reindex(usage_kwh.index)
    return -grams if is_export else grams


def gas_emissions_g(usage_kwh: pd.Series, factor_kg_per_kwh: float) -> pd.Series:
    """Grams of CO2e per interval of gas: a fixed conversion factor (kg CO2e per kWh, gross calorific value)."""
    return usage_kwh * factor_kg_per_kwh * 1000


def cleanest_and_dirtiest(intensity: pd.Series) -> tuple[tuple[pd.Timestamp, float], tuple[pd.Timestamp, float]]:
    """The day's cleanest and dirtiest half-hours (the first of equals), as (start, g/kWh)."""
    known = intensity.dropna()
    if known.empty:
        raise ValueError("no half-hour has an intensity")
    return (known.idxmin(), float(known.min())), (known.idxmax(), float(known.max()))
