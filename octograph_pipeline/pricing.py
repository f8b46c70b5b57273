"""Pure arithmetic: local days as UTC windows, rates onto intervals, costs, gas units. No I/O.

All timestamps are UTC pandas Timestamps; local time only decides where days begin and end, because a
London day is 23, 24 or 25 hours long and `end - start` of two local datetimes would hide that.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd

PRICE_COLUMNS = (
    "unit_price_exc_vat_price",
    "unit_price_inc_vat_price",
    "standing_charge_exc_vat_price",
    "standing_charge_inc_vat_price",
)
COST_COLUMNS = (
    "usage_cost_exc_vat_pence",
    "usage_cost_inc_vat_pence",
    "standing_charge_cost_exc_vat_pence",
    "standing_charge_cost_inc_vat_pence",
    "total_cost_exc_vat_pence",
    "total_cost_inc_vat_pence",
)
KWH_PER_MJ = 1 / 3.6
GAS_DAY_STARTS = pd.Timedelta(hours=5)  # the UK gas day runs 05:00-05:00 local time


def local_midnight(day: dt.date, tz: ZoneInfo) -> pd.Timestamp:
    """The UTC instant at which `day` begins in `tz`."""
    return pd.Timestamp(dt.datetime.combine(day, dt.time(), tz)).tz_convert("UTC")


def next_local_midnights(times: pd.Series, tz: ZoneInfo) -> pd.Series:
    """For each UTC instant, the UTC instant its local day ends (the next local midnight)."""
    dates = times.dt.tz_convert(tz).dt.date
    ends = {day: local_midnight(day + dt.timedelta(days=1), tz) for day in dates.unique()}
    return pd.to_datetime(dates.map(ends), utc=True)


def local_days_window(first: dt.date, last: dt.date, tz: ZoneInfo) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first's local midnight, the local midnight after `last`) in UTC: the API's exclusive `period_to`."""
    return local_midnight(first, tz), local_midnight(last + dt.timedelta(days=1), tz)


def local_dates(start: pd.Timestamp, end: pd.Timestamp, tz: ZoneInfo) -> list[dt.date]:
    """The local dates whose midnights lie in [start, end)."""
    first = start.tz_convert(tz).date()
    days = []
    day = first
    while local_midnight(day, tz) < end:
        if local_midnight(day, tz) >= start:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def interval_starts(
    start: pd.Timestamp, end: pd.Timestamp, resolution_minutes: int, tz: ZoneInfo
) -> pd.DatetimeIndex:
    """Interval starts in [start, end) at the API's resolution: half-hours and hours step in UTC (so a
    DST day has 46/50 half-hours); a day interval starts at each local midnight. An interval belongs to
    whatever is in force at its start."""
    if resolution_minutes >= 1440:
        return pd.DatetimeIndex([local_midnight(day, tz) for day in local_dates(start, end, tz)], tz="UTC")
    # On the API's grid: a tariff that starts at 13:30 owns the hourly intervals from 14:00.
    freq = f"{resolution_minutes}min"
    return pd.date_range(pd.Timestamp(start).ceil(freq), end, freq=freq, inclusive="left", tz="UTC")


def intervals_in_local_day(starts: pd.Series, resolution_minutes: int, tz: ZoneInfo) -> pd.Series:
    """For each interval start, how many intervals its local day has (46/48/50 half-hours in London)."""
    if resolution_minutes >= 1440:
        return pd.Series(1, index=starts.index, dtype=int)
    local_day = starts.dt.tz_convert(tz).dt.date
    lengths = {
        day: int((local_midnight(day + dt.timedelta(days=1), tz) - local_midnight(day, tz)).total_seconds() // 60)
        for day in local_day.unique()
    }
    return local_day.map(lengths).astype(int) // resolution_minutes


def select_payment_method(rates: pd.DataFrame, payment_method: str) -> pd.DataFrame:
    """Rows for the chosen payment method or for none (Agile and export rates have null)."""
    chosen = rates[rates["payment_method"].isna() | (rates["payment_method"] == payment_method)]
    return chosen if len(chosen) or rates.empty else rates


def rate_in_force(at: pd.Series, rates: pd.DataFrame) -> pd.DataFrame:
    """The `value_exc_vat`/`value_inc_vat` of the rate row valid at each instant (NaN where none is).

    A row covers [valid_from, valid_to); a null end is open. Where rows overlap, the latest start wins,
    as newer prices supersede older ones.
    """
    values = ["value_exc_vat", "value_inc_vat"]
    if rates.empty or at.empty:
        return pd.DataFrame({column: float("nan") for column in values}, index=at.index)
    table = rates.assign(
        valid_from=rates["valid_from"].astype("datetime64[ns, UTC]").fillna(pd.Timestamp.min.tz_localize("UTC"))
    ).sort_values("valid_from")
    probe = pd.DataFrame({"at": at.astype("datetime64[ns, UTC]"), "order": range(len(at))}).sort_values("at")
    joined = pd.merge_asof(probe, table, left_on="at", right_on="valid_from", direction="backward")
    expired = joined["valid_to"].notna() & (joined["valid_to"] <= joined["at"])
    joined.loc[expired, values] = float("nan")
    return joined.sort_values("order")[values].set_axis(at.index)


def in_low_rate_window(starts: pd.Series, low_start: dt.time, low_end: dt.time, tz: ZoneInfo) -> pd.Series:
    """Whether each interval start falls in the night window [low_start, low_end) of wall-clock time in `tz`.

    The window may cross midnight. Smart-meter Economy 7 is fixed in UTC (00:30-07:30, 01:30-08:30 in BST);
    older meters switch on local time, so a DST night has one hour more or less at the night rate.
    """
    local = starts.dt.tz_convert(tz)
    minute = local.dt.hour * 60 + local.dt.minute
    start, end = low_start.hour * 60 + low_start.minute, low_end.hour * 60 + low_end.minute
    if start <= end:
        return (minute >= start) & (minute < end)
    return (minute >= start) | (minute < end)


def interval_of(half_hours: pd.Series, resolution_minutes: int, tz: ZoneInfo) -> pd.Series:
    """The start of the interval (at the API's resolution) each half-hour start belongs to."""
    if resolution_minutes >= 1440:
        return (
            half_hours.dt.tz_convert(tz)
            .dt.floor("D", ambiguous=False, nonexistent="shift_forward")
            .dt.tz_convert("UTC")
        )
    return half_hours.dt.floor(f"{resolution_minutes}min")


def tariff_prices(starts: pd.Series, unit: pd.DataFrame, standing_charges: pd.DataFrame) -> pd.DataFrame:
    """Unit price (p/kWh, `unit` already chosen per interval) and the daily standing charge (p/day) in
    force at each interval start. No standing-charge rows (most export tariffs) means zero, not unknown."""
    standing = rate_in_force(starts, standing_charges)
    if standing_charges.empty:
        standing = standing.fillna(0.0)
    return pd.DataFrame(
        {
            "unit_price_exc_vat_price": unit["value_exc_vat"].values,
            "unit_price_inc_vat_price": unit["value_inc_vat"].values,
            "standing_charge_exc_vat_price": standing["value_exc_vat"].values,
            "standing_charge_inc_vat_price": standing["value_inc_vat"].values,
        },
        index=starts.index,
    )


def consumption_costs(usage_kwh: pd.Series, prices: pd.DataFrame, intervals_per_day: pd.Series) -> pd.DataFrame:
    """Cost per interval in pence: usage × unit price plus the day's standing charge spread evenly over the
    day's intervals, so any local day (46, 48 or 50 half-hours) sums to exactly one day's charge.

    Export usage arrives negative and so earns a negative usage cost.
    """
    costs = pd.DataFrame(index=usage_kwh.index)
    for vat in ("exc", "inc"):
        usage_cost = usage_kwh * prices[f"unit_price_{vat}_vat_price"]
        standing_cost = prices[f"standing_charge_{vat}_vat_price"] / intervals_per_day
        costs[f"usage_cost_{vat}_vat_pence"] = usage_cost
        costs[f"standing_charge_cost_{vat}_vat_pence"] = standing_cost
        costs[f"total_cost_{vat}_vat_pence"] = usage_cost + standing_cost
    return costs[list(COST_COLUMNS)]


def gas_volume_to_kwh(cubic_metres, volume_correction_factor: float, calorific_value):
    """SMETS2 gas meters report m³; energy = m³ × volume correction × calorific value (MJ/m³) / 3.6."""
    return cubic_metres * volume_correction_factor * calorific_value * KWH_PER_MJ


def calorific_value_by_interval(
    starts: pd.Series, tz: ZoneInfo, daily: dict[dt.date, float], default: float
) -> pd.Series:
    """The calorific value for each interval's gas day (05:00 to 05:00 UK time, the day CVs are published
    for): the value for that day, else the latest earlier one (values come a day late), else `default`."""
    days = (starts.dt.tz_convert(tz) - GAS_DAY_STARTS).dt.date
    if not daily:
        return pd.Series(default, index=starts.index, dtype=float)
    table = pd.Series(daily).sort_index()
    table.index = pd.to_datetime(table.index)
    looked_up = table.reindex(pd.to_datetime(days), method="ffill").to_numpy()
    return pd.Series(looked_up, index=starts.index, dtype=float).fillna(default)
