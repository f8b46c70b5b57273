"""The grid's carbon intensity beside a household's own half-hours: which region's forecast applies to a meter
point, and what each interval emitted; the points of `carbon_intensity` and `emissions`. Pure: no I/O.

Intensity is grams of CO2 per kWh (the GB Carbon Intensity API's unit), per half-hour, indexed by the interval's
start in UTC. An interval without intensity stays NaN, never 0: a check reports it rather than a clean zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from octograph_pipeline.core import days
from octograph_pipeline.core import schema as s
from octograph_pipeline.core.frames import empty_points, segments_of, tariff_in_force, with_columns
from octograph_pipeline.core.settings import PointTags
from octograph_pipeline.core.tariffs import parse_tariff_code

HALF_HOUR = pd.Timedelta(minutes=30)

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

REGION_NAMES = dict(REGION_OF_GSP_GROUP.values())


def region_of_tariff(tariff_code: str) -> int:
    """The API region whose forecast applies to a meter point on this tariff (its GSP group letter)."""
    letter = parse_tariff_code(tariff_code).region
    if letter not in REGION_OF_GSP_GROUP:
        raise ValueError(f"tariff code {tariff_code!r}: {letter!r} is not a GSP group (A to P, without I and O)")
    return REGION_OF_GSP_GROUP[letter][0]


def interval_intensity(intensity: pd.Series, starts: pd.Series, ends: pd.Series) -> pd.Series:
    """The grid's intensity over each interval [start, end) (an hour, or a local day of 46 to 50 half-hours): the
    mean of its half-hours (how the usage spread over them is unknown), NaN if any half-hour is missing.
    `intensity` is indexed by half-hour start; the result by `starts`' index."""
    counts = ((ends - starts) // HALF_HOUR).to_numpy(dtype=np.int64)
    which = np.repeat(np.arange(len(starts)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    half_hours = pd.DatetimeIndex(starts.to_numpy()[which], tz="UTC") + offsets * HALF_HOUR
    values = pd.Series(intensity.reindex(half_hours).to_numpy(), index=which).groupby(level=0)
    mean = values.mean().where(values.count() == values.size())
    return pd.Series(mean.reindex(range(len(starts))).to_numpy(dtype=float), index=starts.index)


def emissions_g(usage_kwh: pd.Series, intensity_g_per_kwh: pd.Series, is_export: bool = False) -> pd.Series:
    """Grams of CO2 per interval: usage times the grid's intensity then. Export displaces the grid's supply, so
    its emissions are avoided: negative, as export's cost is."""
    grams = usage_kwh * intensity_g_per_kwh.reindex(usage_kwh.index)
    return -grams if is_export else grams


def gas_emissions_g(usage_kwh: pd.Series, factor_kg_per_kwh: float) -> pd.Series:
    """Grams of CO2e per interval of gas: a fixed conversion factor (kg CO2e per kWh, gross calorific value)."""
    return usage_kwh * factor_kg_per_kwh * 1000


# --- the assets' points ------------------------------------------------------------------------------------


def regions(segments: pd.DataFrame) -> list[int]:
    """The regions of the electricity meter points, by the tariffs of their agreements in the window."""
    codes = segments.loc[segments[s.FUEL] == "electricity", s.TARIFF_CODE_TAG].unique()
    return sorted({region_of_tariff(code) for code in codes})


def intensity_points(
    national: pd.DataFrame, generation: pd.DataFrame, regional: Mapping[int, pd.DataFrame], tags: PointTags
) -> pd.DataFrame:
    """`carbon_intensity`'s points from the client's frames: the nation's forecast, actual and generation mix
    (tagged `region` = NATIONAL), and each region's forecast and mix (its name, and its `region_id`)."""
    nation = national.merge(generation, on="interval_start", how="left") if len(national) else national

    def points(frame: pd.DataFrame, region: str, region_id: str) -> pd.DataFrame:
        fields = {
            name: frame[column]
            for column, name in (
                ("forecast", s.INTENSITY_FORECAST),
                ("actual", s.INTENSITY_ACTUAL),
                *s.GENERATION_MIX.items(),
            )
            if column in frame
        }
        return pd.DataFrame(
            {
                s.MEASUREMENT: s.CARBON_INTENSITY.name,
                s.TIME: frame["interval_start"],
                s.REGION: region,
                s.REGION_ID: region_id,
                **tags.additional,
                **fields,
                s.INTENSITY_INDEX: frame.get("index", ""),
            }
        )

    parts = [points(nation, s.NATIONAL, "")]
    parts += [points(frame, REGION_NAMES[region], str(region)) for region, frame in sorted(regional.items())]
    parts = [part for part in parts if len(part)]
    return pd.concat(parts, ignore_index=True) if parts else empty_points()


def regional_forecasts(intensity: pd.DataFrame) -> dict[int, pd.Series]:
    """The stored `carbon_intensity` points -> each region's forecast, indexed by half-hour start."""
    intensity = with_columns(intensity, [s.REGION_ID])
    regional = intensity[intensity[s.REGION_ID] != ""]
    return {
        int(region): rows.set_index(s.TIME)[s.INTENSITY_FORECAST].sort_index()
        for region, rows in regional.groupby(s.REGION_ID)
    }


def interval_ends(starts: pd.Series, resolution_minutes: int, tz: ZoneInfo) -> pd.Series:
    """Where each interval ends: `resolution_minutes` later, or at the next local midnight for a day."""
    if resolution_minutes >= 1440:
        return days.next_midnights(starts, tz)
    return starts + pd.Timedelta(minutes=resolution_minutes)


def emission_points(
    consumption: pd.DataFrame,
    segments: pd.DataFrame,
    intensity: pd.DataFrame,
    tz: ZoneInfo,
    resolution_minutes: int,
    gas_kg_co2e_per_kwh: float,
    tags: PointTags,
) -> pd.DataFrame:
    """`emissions`' points: per meter point and interval, its usage (export negative), the intensity it met (the
    forecast of the region its tariff names; gas: the fixed factor) and the grams (export: avoided, negative).
    An interval whose intensity is unknown keeps its usage and has no grams (`missing_intensity` lists it)."""
    forecasts = regional_forecasts(intensity)
    no_forecast = pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    parts = []
    for key, readings in with_columns(consumption, s.METER_KEY).groupby(s.METER_KEY, sort=False):
        fuel, meter_point, _, exported = key
        meter_segments = segments_of(segments, key)
        if meter_segments.empty:
            continue
        starts = readings[s.TIME].reset_index(drop=True)
        usage = readings[s.USAGE_KWH].reset_index(drop=True)
        if fuel == "gas":
            per_kwh = pd.Series(gas_kg_co2e_per_kwh * 1000, index=starts.index)
            grams, region = gas_emissions_g(usage, gas_kg_co2e_per_kwh), ""
        else:
            codes = tariff_in_force(starts, meter_segments)  # '' outside the agreements: no region, no grams
            region_ids = codes.map({code: region_of_tariff(code) for code in set(codes) - {""}})
            ends = interval_ends(starts, resolution_minutes, tz)
            per_kwh = pd.Series(np.nan, index=starts.index)
            for region_id, rows in starts.groupby(region_ids):
                met = interval_intensity(forecasts.get(region_id, no_forecast), rows, ends[rows.index])
                per_kwh[rows.index] = met
            grams, region = emissions_g(usage, per_kwh, bool(exported)), region_ids.map(REGION_NAMES).fillna("")
        parts.append(
            pd.DataFrame(
                {
                    s.MEASUREMENT: s.EMISSIONS.name,
                    s.TIME: starts,
                    s.ACCOUNT_NUMBER: meter_segments[s.ACCOUNT_NUMBER].iloc[0],
                    s.FUEL: fuel,
                    s.METER_POINT: meter_point,
                    s.IS_EXPORT: bool(exported),
                    s.REGION: region,
                    **tags.additional,
                    s.USAGE_KWH: -usage if exported else usage,
                    s.INTENSITY: per_kwh,
                    s.EMISSIONS_G: grams,
                }
            )
        )
    if not parts:
        return empty_points()
    points = pd.concat(parts, ignore_index=True)
    if not points.duplicated([*s.POINT_KEY, s.IS_EXPORT, s.TIME]).any():
        return points
    # One point per meter point and interval: the meters of a point (one replaced by another) add up.
    series = [column for column in points.columns if column not in s.EMISSIONS.fields]
    return (
        points.groupby(series, sort=False, dropna=False)
        .agg(
            **{
                s.USAGE_KWH: (s.USAGE_KWH, "sum"),
                s.INTENSITY: (s.INTENSITY, "first"),
                s.EMISSIONS_G: (s.EMISSIONS_G, lambda grams: grams.sum(min_count=len(grams))),
            }
        )
        .reset_index()
    )
