"""What each day's materialisation tells the UI: that day's numbers and small tables, worked out for every day of
a window at once (a year's run attaches 366 of them, so no per-day pandas work). Pure: no Dagster here.

Each function returns {partition key: {label: value}}; numbers are Python ints and floats, tables are
`Markdown` text (the assets wrap those for Dagster), and every requested day gets an entry, zeros included.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from octograph_pipeline.core import days, frames
from octograph_pipeline.core import schema as s

DayMetadata = dict[str, dict[str, object]]


class Markdown(str):
    """A markdown table for the UI (plain text otherwise)."""


def markdown_by_day(table: pd.DataFrame, day: str = "day") -> dict[str, Markdown]:
    """One markdown table per day from rows already aggregated per day (a `day` column), built in one pass."""
    columns = [c for c in table.columns if c != day]
    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    cells = [table[c].astype(str) for c in columns]
    rows = "| " + cells[0].str.cat(cells[1:], sep=" | ") + " |"
    return {key: Markdown(header + text) for key, text in rows.groupby(table[day]).agg("\n".join).items()}


def _joined(values: pd.Series) -> str:
    return ", ".join(sorted(set(values) - {""}))


def _counts(points: pd.DataFrame, row_days: pd.Series, measurements) -> pd.DataFrame:
    """Points per day of each of the asset's measurements."""
    counts = pd.crosstab(row_days, points[s.MEASUREMENT])
    return counts.reindex(columns=[m.name for m in measurements], fill_value=0)


def _assemble(
    partitions: list[str], per_day: pd.DataFrame, counts: pd.DataFrame, tables: dict, empty: dict
) -> DayMetadata:
    """Per requested day: the numbers of `per_day`'s row, points per measurement and the tables, or `empty`."""
    records = per_day.to_dict("index")
    result = {}
    for day in partitions:
        numbers = records.get(day)
        entry = (
            dict(empty)
            if numbers is None
            else {k: getattr(v, "item", lambda v=v: v)() for k, v in numbers.items()}
        )
        for name in counts.columns:
            entry[f"points_{name}"] = int(counts.at[day, name]) if day in counts.index else 0
        for label, by_day in tables.items():
            if day in by_day:
                entry[label] = by_day[day]
        result[day] = entry
    return result


def _clock(times: pd.Series, tz: ZoneInfo) -> pd.Series:
    """Local clock times (HH:MM) of UTC instants."""
    return times.dt.tz_convert(tz).dt.strftime("%H:%M")


def _nothing(partitions: list[str], asset: str, empty: dict) -> DayMetadata:
    """Every day of a window with nothing to show: zeros, and no points."""
    zero_points = {f"points_{m.name}": 0 for m in s.ASSET_MEASUREMENTS[asset]}
    return {day: {**empty, **zero_points} for day in partitions}


def account(points: pd.DataFrame, partitions: list[str], tz: ZoneInfo) -> DayMetadata:
    """Meters and the agreements in force each day."""
    empty = {"meters": 0, "tariff_codes": ""}
    if points.empty:
        return _nothing(partitions, s.Asset.ACCOUNT, empty)
    day = days.keys(points[s.TIME], tz).rename("day")
    agreements = points.assign(day=day).drop_duplicates(["day", *s.METER_KEY, s.TARIFF_CODE_TAG])
    per_day = agreements.groupby("day").agg(
        meters=(s.METER_SERIAL_NUMBER, "size"), tariff_codes=(s.TARIFF_CODE_TAG, _joined)
    )
    table = agreements[["day", *s.METER_KEY, s.TARIFF_CODE_TAG, s.AGREEMENT_FROM, s.AGREEMENT_TO]]
    counts = _counts(points, day, s.ASSET_MEASUREMENTS[s.Asset.ACCOUNT])
    return _assemble(
        partitions, per_day, counts, {"agreements": markdown_by_day(table)}, {"meters": 0, "tariff_codes": ""}
    )


def tariff_rates(points: pd.DataFrame, partitions: list[str], tz: ZoneInfo) -> DayMetadata:
    """The tariffs priced each day, with their lowest, mean and highest unit price and standing charge."""
    if points.empty:
        return _nothing(partitions, s.Asset.TARIFF_RATES, {"tariff_codes": ""})
    day = days.keys(points[s.TIME], tz).rename("day")
    prices = (
        points.groupby([day, s.TARIFF_CODE_TAG])
        .agg(
            intervals=(s.TIME, "nunique"),
            min_unit_p=(s.UNIT_PRICE["inc"], "min"),
            mean_unit_p=(s.UNIT_PRICE["inc"], "mean"),
            max_unit_p=(s.UNIT_PRICE["inc"], "max"),
            standing_p_per_day=(s.STANDING_CHARGE["inc"], "mean"),
        )
        .round(3)
        .reset_index()
    )
    per_day = prices.groupby("day").agg(tariff_codes=(s.TARIFF_CODE_TAG, _joined))
    counts = _counts(points, day, s.ASSET_MEASUREMENTS[s.Asset.TARIFF_RATES])
    return _assemble(partitions, per_day, counts, {"prices_inc_vat": markdown_by_day(prices)}, {})


def _energy_by_kind(frame: pd.DataFrame) -> pd.DataFrame:
    """kWh apart per kind of meter point, as its name says: electricity import, electricity export, gas."""
    exported = frame[s.IS_EXPORT].astype(bool)
    electricity = frame[s.FUEL] == "electricity"
    kwh = frame[s.USAGE_KWH]
    imported, exported_kwh, gas = s.ENERGY
    return pd.DataFrame(
        {
            imported: kwh.where(electricity & ~exported, 0.0),
            exported_kwh: kwh.where(electricity & exported, 0.0).abs(),
            gas: kwh.where(frame[s.FUEL] == "gas", 0.0),
        },
        index=frame.index,
    )


ENERGY = list(s.ENERGY)


def meter_consumption(points: pd.DataFrame, partitions: list[str], tz: ZoneInfo) -> DayMetadata:
    """Intervals per day and the energy reported, import, export and gas apart (kWh); per meter, a table."""
    empty = {"intervals": 0, **dict.fromkeys(ENERGY, 0.0)}
    if points.empty:
        return _nothing(partitions, s.Asset.METER_CONSUMPTION, empty)
    day = days.keys(points[s.TIME], tz).rename("day")
    per_meter = (
        points.groupby([day, *s.METER_KEY])
        .agg(intervals=(s.TIME, "size"), consumption=(s.CONSUMPTION, "sum"), kwh=(s.USAGE_KWH, "sum"))
        .round(3)
        .reset_index()
    )
    energy = _energy_by_kind(points).assign(day=day)
    per_day = energy.groupby("day")[ENERGY].sum().round(3)
    per_day.insert(0, "intervals", points.groupby(day).size())
    counts = _counts(points, day, s.ASSET_MEASUREMENTS[s.Asset.METER_CONSUMPTION])
    return _assemble(partitions, per_day, counts, {"per_meter": markdown_by_day(per_meter)}, empty)


def priced_consumption(
    points: pd.DataFrame, details: pd.DataFrame, partitions: list[str], tz: ZoneInfo
) -> DayMetadata:
    """Per day: kWh of import, export and gas apart, the net cost with and without VAT in GBP (2 places; InfluxDB
    holds pence), the tariffs; per meter, a table."""
    empty = {"intervals": 0, **dict.fromkeys(ENERGY, 0.0), "tariff_codes": ""}
    if details.empty:
        return _nothing(partitions, s.Asset.PRICED_CONSUMPTION, empty)
    day = days.keys(details[s.TIME], tz).rename("day")
    totals = pd.concat([details, _energy_by_kind(details)], axis=1).assign(
        day=day,
        cost_inc_vat_gbp=details[s.TOTAL_COST["inc"]] / 100,
        cost_exc_vat_gbp=details[s.TOTAL_COST["exc"]] / 100,
    )
    per_meter = totals.groupby(["day", s.FUEL, s.METER_POINT]).agg(
        intervals=(s.TIME, "size"),
        kwh=(s.USAGE_KWH, "sum"),
        cost_inc_vat_gbp=("cost_inc_vat_gbp", "sum"),
        tariff_codes=(s.TARIFF_CODE_TAG, _joined),
    )
    per_meter = per_meter.round({"kwh": 3, "cost_inc_vat_gbp": 2}).reset_index()
    per_day = totals.groupby("day").agg(
        intervals=(s.TIME, "size"),
        **{kind: (kind, "sum") for kind in ENERGY},
        net_cost_inc_vat_gbp=("cost_inc_vat_gbp", "sum"),
        net_cost_exc_vat_gbp=("cost_exc_vat_gbp", "sum"),
        tariff_codes=(s.TARIFF_CODE_TAG, _joined),
    )
    per_day = per_day.round({**dict.fromkeys(ENERGY, 3), "net_cost_inc_vat_gbp": 2, "net_cost_exc_vat_gbp": 2})
    counts = _counts(points, days.keys(points[s.TIME], tz), s.ASSET_MEASUREMENTS[s.Asset.PRICED_CONSUMPTION])
    return _assemble(partitions, per_day, counts, {"per_meter": markdown_by_day(per_meter)}, empty)


def tariff_comparison(points: pd.DataFrame, partitions: list[str], tz: ZoneInfo) -> DayMetadata:
    """Per day and meter point: each candidate's total against the actual one, and the cheapest of them."""
    empty = {"cheapest": ""}
    if points.empty:
        return _nothing(partitions, s.Asset.TARIFF_COMPARISON, empty)
    day = days.keys(points[s.TIME], tz).rename("day")
    meter = (points[s.FUEL] + " " + points[s.METER_POINT]).where(
        ~points[s.IS_EXPORT].astype(bool), "export " + points[s.METER_POINT]
    )
    totals = (
        points.assign(day=day, meter=meter)
        .groupby(["day", "meter", s.PRODUCT_CODE], sort=True)
        .agg(
            tariff_codes=(s.TARIFF_CODE_TAG, _joined),
            total_inc_vat_gbp=(s.TOTAL_COST["inc"], "sum"),
            saving_inc_vat_gbp=(s.SAVING["inc"], "sum"),
        )
        .reset_index()
    )
    totals[["total_inc_vat_gbp", "saving_inc_vat_gbp"]] = (
        totals[["total_inc_vat_gbp", "saving_inc_vat_gbp"]] / 100
    ).round(2)
    totals = totals.sort_values(["day", "meter", "total_inc_vat_gbp"], kind="stable")
    best = totals.drop_duplicates(["day", "meter"])
    per_day = (
        (best["meter"] + ": " + best[s.PRODUCT_CODE]).groupby(best["day"]).agg("; ".join).to_frame("cheapest")
    )
    counts = _counts(points, day, s.ASSET_MEASUREMENTS[s.Asset.TARIFF_COMPARISON])
    return _assemble(partitions, per_day, counts, {"totals": markdown_by_day(totals)}, empty)


def intelligent_dispatches(points: pd.DataFrame, partitions: list[str], tz: ZoneInfo) -> DayMetadata:
    """Per day: half-hours and kWh of smart and bump charges, completed and planned."""
    empty = {"smart_charge_slots": 0, "bump_charge_slots": 0, "kwh": 0.0}
    if points.empty:
        return _nothing(partitions, s.Asset.INTELLIGENT_DISPATCHES, empty)
    day = days.keys(points[s.TIME], tz).rename("day")
    smart = frames.billed_as_smart_charges(points)
    bump = (points[s.DISPATCH_STATUS] == s.COMPLETED) & ~smart
    per_day = (
        pd.DataFrame(
            {
                "smart_charge_slots": smart,
                "bump_charge_slots": bump,
                "kwh": points[s.SLOT_KWH].where(smart | bump, 0.0),
            }
        )
        .groupby(day)
        .sum()
    )
    per_day["kwh"] = per_day["kwh"].round(3)
    table = (
        points.assign(day=day)
        .groupby(["day", s.DISPATCH_STATUS, s.DISPATCH_SOURCE])
        .agg(slots=(s.TIME, "size"), first=(s.TIME, "min"), kwh=(s.SLOT_KWH, "sum"))
        .reset_index()
    )
    table["kwh"] = table["kwh"].round(3)
    table["first"] = _clock(table["first"], tz)
    counts = _counts(points, day, s.ASSET_MEASUREMENTS[s.Asset.INTELLIGENT_DISPATCHES])
    return _assemble(partitions, per_day, counts, {"dispatches": markdown_by_day(table)}, empty)


def _extremes(frame: pd.DataFrame, by: list[str], value: str, tz: ZoneInfo) -> pd.DataFrame:
    """Per group of `by`: the cleanest and dirtiest half-hour (local start, g/kWh), the first of equals."""
    known = frame.dropna(subset=[value]).sort_values(s.TIME, kind="stable")
    grouped = known.groupby(by)[value]
    low, high = known.loc[grouped.idxmin()], known.loc[grouped.idxmax()]

    def shown(rows: pd.DataFrame) -> pd.Series:
        text = _clock(rows[s.TIME], tz) + " (" + rows[value].round(1).astype(str) + " g/kWh)"
        return pd.Series(text.to_numpy(), index=pd.MultiIndex.from_frame(rows[by]) if len(by) > 1 else rows[by[0]])

    return pd.concat({"cleanest": shown(low), "dirtiest": shown(high)}, axis=1)


def carbon_intensity(points: pd.DataFrame, partitions: list[str], tz: ZoneInfo) -> DayMetadata:
    """Per day: the nation's half-hours (46 to 50) and, per region, the mean forecast and the cleanest and
    dirtiest half-hours (local time)."""
    empty = {"half_hours": 0, "cleanest": "", "dirtiest": ""}
    if points.empty:
        return _nothing(partitions, s.Asset.CARBON_INTENSITY, empty)
    day = days.keys(points[s.TIME], tz).rename("day")
    frame = points.assign(day=day)
    table = frame.groupby(["day", s.REGION]).agg(
        half_hours=(s.TIME, "size"), mean_g_per_kwh=(s.INTENSITY_FORECAST, "mean")
    )
    table = table.join(_extremes(frame, ["day", s.REGION], s.INTENSITY_FORECAST, tz)).round(1).reset_index()
    # The day's headline: the household's own region (the nation's when it has none).
    own = table[table[s.REGION] != s.NATIONAL]
    headline = (own if len(own) else table).drop_duplicates("day").set_index("day")
    per_day = headline[["cleanest", "dirtiest"]].assign(region=headline[s.REGION])
    nation = table[table[s.REGION] == s.NATIONAL].set_index("day")["half_hours"]
    per_day.insert(0, "half_hours", nation.reindex(per_day.index, fill_value=0))
    counts = _counts(points, day, s.ASSET_MEASUREMENTS[s.Asset.CARBON_INTENSITY])
    return _assemble(partitions, per_day, counts, {"per_region": markdown_by_day(table)}, empty)


def emissions(points: pd.DataFrame, partitions: list[str], tz: ZoneInfo) -> DayMetadata:
    """Per day: kg CO2 of import, export (avoided: negative) and gas apart and net, the intervals whose intensity
    is unknown, and the cleanest and dirtiest half-hours the import met; per meter point, a table."""
    kinds = ["import_kg_co2", "export_kg_co2", "gas_kg_co2"]
    empty = {**dict.fromkeys([*kinds, "net_kg_co2"], 0.0), "intervals_without_intensity": 0}
    if points.empty:
        return _nothing(partitions, s.Asset.EMISSIONS, empty)
    day = days.keys(points[s.TIME], tz).rename("day")
    exported, gas = points[s.IS_EXPORT].astype(bool), points[s.FUEL] == "gas"
    kind = pd.Series(np.where(gas, kinds[2], np.where(exported, kinds[1], kinds[0])), index=points.index)
    kilograms = points[s.EMISSIONS_G] / 1000
    per_day = kilograms.groupby([day, kind.rename("kind")]).sum().unstack(fill_value=0.0)
    per_day = per_day.reindex(columns=kinds, fill_value=0.0)
    per_day["net_kg_co2"] = per_day.sum(axis=1)
    per_day = per_day.round(3)
    unknown = (points[s.FUEL] == "electricity") & points[s.INTENSITY].isna()
    per_day["intervals_without_intensity"] = unknown.groupby(day).sum()
    imported = points[~gas & ~exported]
    extremes = _extremes(imported.assign(day=day), ["day"], s.INTENSITY, tz)
    per_day = per_day.join(extremes.reindex(columns=["cleanest", "dirtiest"])).fillna(
        {"cleanest": "", "dirtiest": ""}
    )
    per_meter = (
        points.assign(day=day, kg_co2=kilograms)
        .groupby(["day", s.FUEL, s.METER_POINT, s.IS_EXPORT])
        .agg(kwh=(s.USAGE_KWH, "sum"), kg_co2=("kg_co2", "sum"), mean_g_per_kwh=(s.INTENSITY, "mean"))
        .round(3)
        .reset_index()
    )
    counts = _counts(points, day, s.ASSET_MEASUREMENTS[s.Asset.EMISSIONS])
    return _assemble(partitions, per_day, counts, {"per_meter_point": markdown_by_day(per_meter)}, empty)
