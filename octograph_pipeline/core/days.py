"""Local days, the one place that knows them: a day is a partition; it begins at local midnight; it has 46, 48
or 50 half-hours in London. Everything here takes and returns UTC instants; local time only decides where
days begin and end, because `end - start` of two local datetimes would hide a 23- or 25-hour day. No I/O.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd

GAS_DAY_STARTS = pd.Timedelta(hours=5)  # the UK gas day runs 05:00-05:00 local time


def local_date(moment: dt.datetime | pd.Timestamp, tz: ZoneInfo) -> dt.date:
    """The local date an aware instant falls on."""
    return moment.astimezone(tz).date() if isinstance(moment, dt.datetime) else moment.tz_convert(tz).date()


def today(tz: ZoneInfo) -> dt.date:
    """Today's local date, by the clock."""
    return dt.datetime.now(tz).date()


def midnight(day: dt.date, tz: ZoneInfo) -> pd.Timestamp:
    """The UTC instant at which `day` begins in `tz`."""
    return pd.Timestamp(dt.datetime.combine(day, dt.time(), tz)).tz_convert("UTC")


def window(first: dt.date, last: dt.date, tz: ZoneInfo) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first's local midnight, the local midnight after `last`) in UTC: the API's exclusive `period_to`."""
    return midnight(first, tz), midnight(last + dt.timedelta(days=1), tz)


def dates(start: pd.Timestamp, end: pd.Timestamp, tz: ZoneInfo) -> list[dt.date]:
    """The local dates whose midnights lie in [start, end)."""
    first = start.tz_convert(tz).date()
    days = []
    day = first
    while midnight(day, tz) < end:
        if midnight(day, tz) >= start:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def day_windows(start: pd.Timestamp, end: pd.Timestamp, tz: ZoneInfo) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """[start, end) of each local day in the window, in UTC."""
    return [(midnight(day, tz), midnight(day + dt.timedelta(days=1), tz)) for day in dates(start, end, tz)]


def before(now: dt.datetime, count: int, tz: ZoneInfo) -> list[dt.date]:
    """The `count` local days before `now`'s (complete days, if `now` is the present), oldest first."""
    today = now.astimezone(tz).date()
    return [today - dt.timedelta(days=n) for n in range(count, 0, -1)]


def day_range(first: dt.date, last: dt.date) -> list[str]:
    """The partition keys (YYYY-MM-DD) of first..last."""
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def listing(keys: list[str], shown: int = 5) -> str:
    """Days for a message, runs of consecutive days as ranges (`2024-01-01 .. 2024-12-31, 2025-02-03`): the
    first few ranges, then how many more days."""
    ranges: list[list[dt.date]] = []
    for day in sorted(dt.date.fromisoformat(key) for key in set(keys)):
        if ranges and day - ranges[-1][1] == dt.timedelta(days=1):
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    text = [f"{first} .. {last}" if first != last else str(first) for first, last in ranges[:shown]]
    rest = sum((last - first).days + 1 for first, last in ranges[shown:])
    return ", ".join(text) + (f" and {rest} more days" if rest else "")


def keys(times: pd.Series, tz: ZoneInfo) -> pd.Series:
    """The partition key (local date, YYYY-MM-DD) of each UTC instant (by numpy: strftime is slow)."""
    local = times.dt.tz_convert(tz).dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    return pd.Series(local.astype(str), index=times.index, dtype=object)


def next_midnights(times: pd.Series, tz: ZoneInfo) -> pd.Series:
    """For each UTC instant, the UTC instant its local day ends (the next local midnight)."""
    dates = times.dt.tz_convert(tz).dt.date
    ends = {day: midnight(day + dt.timedelta(days=1), tz) for day in dates.unique()}
    return pd.to_datetime(dates.map(ends), utc=True)


def interval_starts(
    start: pd.Timestamp, end: pd.Timestamp, resolution_minutes: int, tz: ZoneInfo
) -> pd.DatetimeIndex:
    """Interval starts in [start, end) at the API's resolution: half-hours and hours step in UTC (so a
    DST day has 46/50 half-hours); a day interval starts at each local midnight. An interval belongs to
    whatever is in force at its start."""
    if resolution_minutes >= 1440:
        return pd.DatetimeIndex([midnight(day, tz) for day in dates(start, end, tz)], tz="UTC")
    # On the API's grid: a tariff that starts at 13:30 owns the hourly intervals from 14:00.
    freq = f"{resolution_minutes}min"
    return pd.date_range(pd.Timestamp(start).ceil(freq), end, freq=freq, inclusive="left", tz="UTC")


def intervals_per_day(starts: pd.Series, resolution_minutes: int, tz: ZoneInfo) -> pd.Series:
    """For each interval start, how many intervals its local day has (46/48/50 half-hours in London)."""
    if resolution_minutes >= 1440:
        return pd.Series(1, index=starts.index, dtype=int)
    local_day = starts.dt.tz_convert(tz).dt.date
    lengths = {
        day: int((midnight(day + dt.timedelta(days=1), tz) - midnight(day, tz)).total_seconds() // 60)
        for day in local_day.unique()
    }
    return local_day.map(lengths).astype(int) // resolution_minutes


def interval_of(half_hours: pd.Series, resolution_minutes: int, tz: ZoneInfo) -> pd.Series:
    """The start of the interval (at the API's resolution) each half-hour start belongs to."""
    if resolution_minutes >= 1440:
        return (
            half_hours.dt.tz_convert(tz)
            .dt.floor("D", ambiguous=False, nonexistent="shift_forward")
            .dt.tz_convert("UTC")
        )
    return half_hours.dt.floor(f"{resolution_minutes}min")


def gas_days(starts: pd.Series, tz: ZoneInfo) -> pd.Series:
    """The gas day (05:00 to 05:00 UK time) of each interval start, as a date."""
    return (starts.dt.tz_convert(tz) - GAS_DAY_STARTS).dt.date
