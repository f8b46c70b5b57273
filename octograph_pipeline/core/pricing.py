"""Pure arithmetic: rates onto intervals, costs, gas units. No I/O. Timestamps are UTC (see `days`)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd

from octograph_pipeline.core import days
from octograph_pipeline.core import schema as s

KWH_PER_MJ = 1 / 3.6


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


INTELLIGENT_OFF_PEAK = dt.timedelta(hours=6)  # Intelligent Octopus Go's off-peak window: 23:30-05:30


def off_peak_rates(prices: pd.DataFrame, window_start: dt.time, tz: ZoneInfo) -> pd.DataFrame:
    """The off-peak rate in force at each half-hour of one tariff's half-hourly `prices` (indexed by UTC time),
    as Octopus bills a smart charge outside the window: the window's rate of the price version in force then.

    A new version begins where a price changes other than at the window's edges (a price change at midnight,
    or in the middle of a window or of the day); within a version, the window's last rate before the
    half-hour, else its next one. Beyond the prices at hand, the nearest version's.
    """
    prices = prices.sort_index()
    times = prices.index.to_series()
    window_end = (dt.datetime.combine(dt.date.min, window_start) + INTELLIGENT_OFF_PEAK).time()
    in_window = in_low_rate_window(times, window_start, window_end, tz)
    at_edge = in_window.ne(in_window.shift())
    changed = prices.ne(prices.shift()).any(axis=1) & ~at_edge
    version = changed.cumsum()
    window_rates = prices.where(in_window, axis=0)
    in_version = window_rates.groupby(version).ffill().groupby(version).bfill()
    return in_version.ffill().bfill()


def within_charge_cap(slots: pd.Series, cap_hours: float, tz: ZoneInfo) -> pd.Series:
    """Whether each smart-charge half-hour (UTC starts) is within Octopus's charge cap: up to `cap_hours` of
    smart charging per midday-to-midday period (local time) is billed at the off-peak rate, counted in time order,
    those inside the house's own off-peak window included. Octopus does not say which half-hours count first;
    the earliest first is the order they happen in."""
    wall = slots.dt.tz_convert(tz).dt.tz_localize(None)
    period = (wall - pd.Timedelta(hours=12)).dt.normalize()
    order = slots.sort_values()
    counted = order.groupby(period.loc[order.index]).cumcount()
    return (counted < round(cap_hours * 2)).reindex(slots.index)


def tariff_prices(starts: pd.Series, unit: pd.DataFrame, standing_charges: pd.DataFrame) -> pd.DataFrame:
    """Unit price (p/kWh, `unit` already chosen per interval) and the daily standing charge (p/day) in
    force at each interval start. No standing-charge rows (most export tariffs) means zero, not unknown."""
    standing = rate_in_force(starts, standing_charges)
    if standing_charges.empty:
        standing = standing.fillna(0.0)
    return pd.DataFrame(
        {
            **{s.UNIT_PRICE[vat]: unit[f"value_{vat}_vat"].values for vat in s.VAT},
            **{s.STANDING_CHARGE[vat]: standing[f"value_{vat}_vat"].values for vat in s.VAT},
        },
        index=starts.index,
    )


def consumption_costs(usage_kwh: pd.Series, prices: pd.DataFrame, intervals_per_day: pd.Series) -> pd.DataFrame:
    """Cost per interval in pence: usage × unit price plus the day's standing charge spread evenly over the
    day's intervals, so any local day (46, 48 or 50 half-hours) sums to exactly one day's charge.

    Export usage arrives negative and so earns a negative usage cost.
    """
    costs = pd.DataFrame(index=usage_kwh.index)
    for vat in s.VAT:
        usage_cost = usage_kwh * prices[s.UNIT_PRICE[vat]]
        standing_cost = prices[s.STANDING_CHARGE[vat]] / intervals_per_day
        costs[s.USAGE_COST[vat]] = usage_cost
        costs[s.STANDING_CHARGE_COST[vat]] = standing_cost
        costs[s.TOTAL_COST[vat]] = usage_cost + standing_cost
    return costs[list(s.COST_COLUMNS)]


def gas_volume_to_kwh(cubic_metres, volume_correction_factor: float, calorific_value):
    """SMETS2 gas meters report m³; energy = m³ × volume correction × calorific value (MJ/m³) / 3.6."""
    return cubic_metres * volume_correction_factor * calorific_value * KWH_PER_MJ


def calorific_value_by_interval(
    starts: pd.Series, tz: ZoneInfo, daily: dict[dt.date, float], default: float
) -> pd.Series:
    """The calorific value for each interval's gas day (05:00 to 05:00 UK time, the day CVs are published
    for): the value for that day, else the latest earlier one (values come a day late), else `default`."""
    if not daily:
        return pd.Series(default, index=starts.index, dtype=float)
    table = pd.Series(daily).sort_index()
    table.index = pd.to_datetime(table.index)
    looked_up = table.reindex(pd.to_datetime(days.gas_days(starts, tz)), method="ffill").to_numpy()
    return pd.Series(looked_up, index=starts.index, dtype=float).fillna(default)
