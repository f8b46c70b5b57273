"""Data-quality checks as pure functions: each returns one row per problem (an empty frame means pass).

The assets turn these into Dagster asset checks, so a short day or an unpriced half-hour shows in the UI
with the meter and the intervals named.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pandas as pd

from octograph_pipeline.core import days
from octograph_pipeline.core import schema as s
from octograph_pipeline.core.frames import price_lookup, with_columns

MAX_LISTED = 12


@dataclass(frozen=True)
class Check:
    """An asset check as the UI names and describes it; a `warning` check fails as a warning, not an error."""

    name: str
    description: str
    warning: bool = False


# Warnings: readings often arrive a day or two late (the late-data sensor fetches them again).
COMPLETE_INTERVALS = Check(
    "complete_intervals", "Every meter point reported every interval of each day (46/48/50 half-hours).", True
)
NO_NEGATIVE_IMPORT = Check("no_negative_import", "No import meter reported negative usage.")
EVERY_INTERVAL_PRICED = Check(
    "every_interval_priced", "Every consumption interval has a unit rate and a standing charge."
)
STANDING_CHARGE_ONE_DAY = Check(
    "standing_charge_one_day", "Standing charge costs add up to one day's charge per meter point and day."
)
EVERY_INTERVAL_HAS_INTENSITY = Check(
    "every_interval_has_intensity",
    "Every electricity interval met a known grid intensity (its region's forecast), so its emissions are counted.",
)


def _clock_times(times: pd.Series, tz: ZoneInfo) -> str:
    shown = ", ".join(times.dt.tz_convert(tz).dt.strftime("%H:%M").head(MAX_LISTED))
    return shown + (f" (+{len(times) - MAX_LISTED} more)" if len(times) > MAX_LISTED else "")


def expected_intervals(segments: pd.DataFrame, tz: ZoneInfo, resolution: int) -> pd.DataFrame:
    """Every interval each meter point should report: those of its agreement segments (tenancy included),
    with the segment (its start and tariff) each belongs to."""
    rows = [
        pd.DataFrame(
            {
                s.FUEL: segment[s.FUEL],
                s.METER_POINT: segment[s.METER_POINT],
                s.TARIFF_CODE_TAG: segment[s.TARIFF_CODE_TAG],
                "segment_start": segment["segment_start"],
                s.TIME: days.interval_starts(segment["segment_start"], segment["segment_end"], resolution, tz),
            }
        )
        for _, segment in segments.drop_duplicates([*s.POINT_KEY, "segment_start"]).iterrows()
    ]
    if not rows:
        no_times = pd.Series(dtype="datetime64[ns, UTC]")
        return pd.DataFrame(
            {**{key: pd.Series(dtype=object) for key in [*s.POINT_KEY, s.TARIFF_CODE_TAG]},
             "segment_start": no_times, s.TIME: no_times}
        )  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def missing_intervals(
    consumption: pd.DataFrame, segments: pd.DataFrame, tz: ZoneInfo, resolution: int
) -> pd.DataFrame:
    """Per meter point and local day, the expected intervals (46/48/50 half-hours in London) not reported
    by any of its meters (a replaced meter's serials together cover the point)."""
    columns = ["meter", "day", "expected", "reported", "missing_intervals"]
    expected = expected_intervals(segments, tz, resolution)
    present = with_columns(consumption, s.POINT_KEY)[[*s.POINT_KEY, s.TIME]].drop_duplicates()
    present[s.TIME] = present[s.TIME].astype(expected[s.TIME].dtype)
    merged = expected.merge(present, on=[*s.POINT_KEY, s.TIME], how="left", indicator=True)
    merged["day"] = days.keys(merged[s.TIME], tz)
    merged["missing"] = merged["_merge"] == "left_only"
    per_day = merged.groupby([*s.POINT_KEY, "day"], sort=True)["missing"].agg(["size", "sum"])
    short = per_day[per_day["sum"] > 0]
    if short.empty:
        return pd.DataFrame(columns=columns)
    missing = merged[merged["missing"]].sort_values(s.TIME).groupby([*s.POINT_KEY, "day"])[s.TIME]
    return pd.DataFrame(
        {
            "meter": [f"{fuel} {point}" for fuel, point, _ in short.index],
            "day": [day for *_, day in short.index],
            "expected": short["size"].to_numpy(),
            "reported": (short["size"] - short["sum"]).to_numpy(),
            "missing_intervals": [_clock_times(missing.get_group(key), tz) for key in short.index],
        },
        columns=columns,
    )


def negative_import(consumption: pd.DataFrame, tz: ZoneInfo) -> pd.DataFrame:
    """Import meters cannot run backwards: a negative reading is a data error, not export."""
    if consumption.empty:
        return pd.DataFrame(columns=["meter", "day", "interval", s.USAGE_KWH])
    bad = consumption[~consumption[s.IS_EXPORT].astype(bool) & (consumption[s.USAGE_KWH] < 0)]
    local = bad[s.TIME].dt.tz_convert(tz)
    return pd.DataFrame(
        {
            "meter": bad[s.FUEL] + " " + bad[s.METER_POINT] + " / " + bad[s.METER_SERIAL_NUMBER],
            "day": local.dt.strftime("%Y-%m-%d"),
            "interval": local.astype(str),
            s.USAGE_KWH: bad[s.USAGE_KWH],
        }
    ).reset_index(drop=True)


def unpriced_intervals(details: pd.DataFrame, tz: ZoneInfo) -> pd.DataFrame:
    """Consumption intervals with no unit rate or standing charge, per meter and day."""
    columns = ["meter", "day", "tariff_code", "unpriced_intervals"]
    if details.empty:
        return pd.DataFrame(columns=columns)
    bad = details[details[s.TOTAL_COST["exc"]].isna()]
    bad = bad.assign(day=days.keys(bad[s.TIME], tz))
    problems = [
        {
            "meter": f"{key[0]} {key[1]} / {key[2]}",
            "day": day,
            "tariff_code": ", ".join(sorted(set(group[s.TARIFF_CODE_TAG]))),
            "unpriced_intervals": _clock_times(group[s.TIME].sort_values(), tz),
        }
        for (*key, day), group in bad.groupby([*s.METER_KEY, "day"])
    ]
    return pd.DataFrame(problems, columns=columns)


def standing_charge_mismatches(
    details: pd.DataFrame, prices: pd.DataFrame, segments: pd.DataFrame, tz: ZoneInfo, resolution: int
) -> pd.DataFrame:
    """Per meter point and day, standing charge costs must add up to the day's charge for the time under
    each agreement (one whole day's charge when a single tariff covered the day).

    Days with readings still missing are left to `complete_intervals` (a warning: late data is normal);
    their charge is short by the missing intervals' share until the readings arrive and the day is re-run."""
    intervals = expected_intervals(segments, tz, resolution)
    if intervals.empty or details.empty:
        return pd.DataFrame(columns=["meter", "day", "charged_pence", "expected_pence"])
    intervals["day"] = days.keys(intervals[s.TIME], tz)
    standing = price_lookup(prices)[s.STANDING_CHARGE["exc"]]
    intervals["daily"] = standing.reindex(
        pd.MultiIndex.from_frame(intervals[[s.TARIFF_CODE_TAG, s.TIME]])
    ).to_numpy()
    intervals["per_day"] = days.intervals_per_day(intervals[s.TIME], resolution, tz)
    # Standing charges are daily: any of a segment's prices on a day tells that day's charge, and the segment
    # owes it for its share of the day's intervals.
    segment = intervals.groupby([*s.POINT_KEY, "segment_start", "day"]).agg(
        daily=("daily", "mean"), count=(s.TIME, "size"), per_day=("per_day", "first")
    )
    segment["expected"] = segment["daily"] * segment["count"] / segment["per_day"]
    expected = segment.reset_index().groupby([*s.POINT_KEY, "day"])["expected"].sum(min_count=1)
    charged = details.groupby([*s.POINT_KEY, days.keys(details[s.TIME], tz).rename("day")])[
        s.STANDING_CHARGE_COST["exc"]
    ].sum(min_count=1)
    both = pd.concat({"charged_pence": charged, "expected_pence": expected}, axis=1).fillna(0.0)
    due = intervals.groupby([*s.POINT_KEY, "day"]).size()
    reported = details.drop_duplicates([*s.POINT_KEY, s.TIME])
    got = reported.groupby([*s.POINT_KEY, days.keys(reported[s.TIME], tz).rename("day")]).size()
    complete = got.reindex(due.index, fill_value=0) >= due
    both = both[complete.reindex(both.index, fill_value=True)]
    bad = both[(both["charged_pence"] - both["expected_pence"]).abs() > 1e-6]
    return pd.DataFrame(
        {
            "meter": [f"{fuel} {point}" for fuel, point, _ in bad.index],
            "day": [day for *_, day in bad.index],
            "charged_pence": bad["charged_pence"].round(6).to_numpy(),
            "expected_pence": bad["expected_pence"].round(6).to_numpy(),
        }
    )


def missing_intensity(emissions: pd.DataFrame, tz: ZoneInfo) -> pd.DataFrame:
    """Electricity intervals whose grid intensity is unknown, per meter point and day: their grams are not zero,
    they are missing from the day's total."""
    columns = ["meter", "day", "region", "intervals_without_intensity"]
    if emissions.empty:
        return pd.DataFrame(columns=columns)
    bad = emissions[(emissions[s.FUEL] == "electricity") & emissions[s.INTENSITY].isna()]
    bad = bad.assign(day=days.keys(bad[s.TIME], tz))
    problems = [
        {
            "meter": f"{fuel} {point}" + (" (export)" if exported else ""),
            "day": day,
            "region": ", ".join(sorted(set(group[s.REGION]))),
            "intervals_without_intensity": _clock_times(group[s.TIME].sort_values(), tz),
        }
        for (fuel, point, exported, day), group in bad.groupby([*s.POINT_KEY, s.IS_EXPORT, "day"])
    ]
    return pd.DataFrame(problems, columns=columns)


def markdown(frame: pd.DataFrame, limit: int = 50) -> str:
    """A small markdown table for Dagster metadata (the first `limit` rows)."""
    if frame.empty:
        return "(none)"
    shown = frame.head(limit)
    lines = ["| " + " | ".join(map(str, shown.columns)) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in shown.itertuples(index=False)]
    if len(frame) > limit:
        lines.append(f"\n… and {len(frame) - limit} more rows")
    return "\n".join(lines)
