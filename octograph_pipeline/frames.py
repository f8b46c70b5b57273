"""API records -> points frames, one function per asset; pure (no I/O), so each is testable on its own.

A points frame has `measurement`, UTC `time`, tag columns (strings) and the measurement's fields; the
IO manager writes it to InfluxDB as it is and hands it back the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pandas as pd

from . import pricing
from .config import Settings
from .influx import schema as s
from .octopus.tariffs import parse_tariff_code

AGREEMENT_FROM, AGREEMENT_TO = s.ACCOUNT_METERS.string_fields
METER_KEY = [s.FUEL, s.METER_POINT, s.METER_SERIAL_NUMBER, s.IS_EXPORT]


def _utc(value) -> pd.Timestamp | None:
    return None if value in (None, "") else pd.Timestamp(value).tz_convert("UTC")


def _iso(moment: pd.Timestamp | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def empty_points() -> pd.DataFrame:
    return _frame([], [s.MEASUREMENT, s.TIME])


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    frame[s.TIME] = pd.to_datetime(frame[s.TIME], utc=True)
    return frame


# --- account ---------------------------------------------------------------------------------------------


def account_points(account: dict, settings: Settings, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """One point per local day, meter and agreement in force that day, stamped at the later of the
    agreement's start and the day's, carrying everything later assets need to know about the meter.

    Per-day points make the result independent of how days are grouped into runs."""
    tz = settings.octopus.tz
    included = set(settings.octopus.included_meters)
    days = [
        (pricing.local_midnight(d, tz), pricing.local_midnight(d + dt.timedelta(days=1), tz))
        for d in pricing.local_dates(start, end, tz)
    ]
    rows = []
    for prop in account.get("properties", []):
        property_tags = {
            "property_id": str(prop.get("id", "")),
            **{tag: prop.get(tag.removeprefix("property_")) or "" for tag in s.PROPERTY_TAGS},
        }
        points = [("electricity", p, p.get("mpan")) for p in prop.get("electricity_meter_points", [])]
        points += [("gas", p, p.get("mprn")) for p in prop.get("gas_meter_points", [])]
        for fuel, point, point_id in points:
            for meter in point.get("meters", []):
                serial = meter.get("serial_number", "")
                if included and serial not in included:
                    continue
                for agreement in point.get("agreements", []):
                    valid_from, valid_to = _utc(agreement.get("valid_from")), _utc(agreement.get("valid_to"))
                    for day_start, day_end in days:
                        if (valid_from is not None and valid_from >= day_end) or (
                            valid_to is not None and valid_to <= day_start
                        ):
                            continue
                        rows.append(
                            {
                                s.MEASUREMENT: s.ACCOUNT_METERS.name,
                                s.TIME: max(valid_from, day_start) if valid_from is not None else day_start,
                                s.ACCOUNT_NUMBER: account.get("number", settings.octopus.account_number),
                                s.FUEL: fuel,
                                s.METER_POINT: str(point_id),
                                s.METER_SERIAL_NUMBER: serial,
                                s.IS_EXPORT: "true" if point.get("is_export") else "false",
                                s.TARIFF_CODE_TAG: agreement["tariff_code"],
                                **property_tags,
                                **settings.influxdb.additional_tags,
                                AGREEMENT_FROM: _iso(valid_from),
                                AGREEMENT_TO: _iso(valid_to),
                            }
                        )
    columns = [s.MEASUREMENT, s.TIME, s.ACCOUNT_NUMBER, *METER_KEY, s.TARIFF_CODE_TAG, "property_id"]
    columns += [*s.PROPERTY_TAGS, *settings.influxdb.additional_tags, AGREEMENT_FROM, AGREEMENT_TO]
    return _frame(rows, columns)


def agreement_segments(account: pd.DataFrame, tz: ZoneInfo) -> pd.DataFrame:
    """The account points with `segment_start`/`segment_end`: each agreement clipped to its point's day."""
    day_end = account[s.TIME].map(
        lambda t: pricing.local_midnight(t.tz_convert(tz).date() + dt.timedelta(days=1), tz)
    )
    valid_to = pd.to_datetime(account[AGREEMENT_TO].replace("", None), utc=True)
    return account.assign(
        segment_start=account[s.TIME],
        segment_end=pd.to_datetime(valid_to.where(valid_to < day_end, day_end), utc=True),
    )


def meters(account: pd.DataFrame) -> pd.DataFrame:
    """One row per physical meter (a meter point with several agreements appears once)."""
    return account.drop_duplicates(METER_KEY).reset_index(drop=True)


def seed_tags(meter: pd.Series, settings: Settings, tariff_code: str) -> dict[str, str]:
    """The seed's tags for one meter: `tariff_code`, the configured `included_tags`, `additional_tags`."""
    electricity = meter[s.FUEL] == "electricity"
    available = {
        "account_number": meter[s.ACCOUNT_NUMBER],
        # Read back from InfluxDB, a tag that was empty is simply absent.
        **{tag: meter.get(tag, "") for tag in s.PROPERTY_TAGS},
        "electricity_mpan": meter[s.METER_POINT] if electricity else "",
        "gas_mprn": "" if electricity else meter[s.METER_POINT],
        "meter_serial_number": meter[s.METER_SERIAL_NUMBER],
        "agreement_tariff_code": tariff_code,
    }
    tags = {tag: available[tag] for tag in settings.influxdb.included_tags}
    return {s.TARIFF_CODE_TAG: tariff_code, **tags, **settings.influxdb.additional_tags}


# --- meter_consumption -----------------------------------------------------------------------------------


def gas_is_volume(settings: Settings, serial_number: str) -> bool:
    """SMETS2 gas meters report m³ (the seed's `gas_meter_types`; SMETS1, reporting kWh, is the default)."""
    return settings.octopus.gas_meter_types.get(serial_number, "SMETS1") == "SMETS2"


def consumption_points(meter: pd.Series, readings: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The meter's readings as reported, plus their energy in kWh (SMETS2 m³ converted)."""
    volume = meter[s.FUEL] == "gas" and gas_is_volume(settings, meter[s.METER_SERIAL_NUMBER])
    usage_kwh = readings["consumption"]
    if volume:
        usage_kwh = pricing.gas_volume_to_kwh(
            usage_kwh, settings.octopus.volume_correction_factor, settings.octopus.calorific_value
        )
    frame = pd.DataFrame(
        {
            s.MEASUREMENT: s.METER_CONSUMPTION.name,
            s.TIME: readings["interval_start"],
            s.ACCOUNT_NUMBER: meter[s.ACCOUNT_NUMBER],
            **{tag: meter[tag] for tag in METER_KEY},
            s.UNIT: "m3" if volume else "kWh",
            **settings.influxdb.additional_tags,
            "consumption": readings["consumption"],
            "usage_kwh": usage_kwh,
        }
    )
    return frame.reset_index(drop=True)


# --- tariff_rates ----------------------------------------------------------------------------------------

RatesLookup = Callable[[str, str], pd.DataFrame]  # (tariff_code, component) -> rate rows


def unit_rates_at(starts: pd.Series, tariff_code: str, rates: RatesLookup, settings: Settings) -> pd.DataFrame:
    """Unit rate in force at each start; two-register (Economy 7) tariffs take the night rate inside the
    seed's local-hour window [unit_rate_low_start, unit_rate_low_end) and the day rate outside it."""
    octopus = settings.octopus

    def in_force(component: str) -> pd.DataFrame:
        return pricing.rate_in_force(
            starts, pricing.select_payment_method(rates(tariff_code, component), octopus.payment_method)
        )

    if not parse_tariff_code(tariff_code).is_economy7:
        return in_force("standard-unit-rates")
    night = pricing.in_low_rate_window(starts, octopus.unit_rate_low_start, octopus.unit_rate_low_end, octopus.tz)
    return in_force("day-unit-rates").where(~night, in_force("night-unit-rates"))


def rate_points(segments: pd.DataFrame, rates: RatesLookup, settings: Settings) -> pd.DataFrame:
    """Prices in force at every interval of every agreement segment, tagged as the seed tags them."""
    tz, resolution = settings.octopus.tz, settings.octopus.resolution_minutes
    frames = []
    for _, meter in segments.iterrows():
        tariff_code = meter[s.TARIFF_CODE_TAG]
        starts = pd.Series(pricing.interval_starts(meter["segment_start"], meter["segment_end"], resolution, tz))
        if starts.empty:
            continue
        unit = unit_rates_at(starts, tariff_code, rates, settings)
        standing = pricing.select_payment_method(
            rates(tariff_code, "standing-charges"), settings.octopus.payment_method
        )
        prices = pricing.tariff_prices(starts, unit, standing)
        frame = prices.assign(
            **{s.MEASUREMENT: s.PRICING_BY_FUEL[meter[s.FUEL]].name, s.TIME: starts},
            **seed_tags(meter, settings, tariff_code),
        )
        frames.append(frame)
    if not frames:
        return empty_points()
    combined = pd.concat(frames, ignore_index=True)
    tags = [c for c in combined.columns if c not in pricing.PRICE_COLUMNS and c != s.TIME]
    return combined.drop_duplicates([*tags, s.TIME]).reset_index(drop=True)


# --- priced_consumption ----------------------------------------------------------------------------------


def tariff_in_force(times: pd.Series, meter_segments: pd.DataFrame) -> pd.Series:
    """The tariff code of the meter's agreement segment containing each time ('' where none does)."""
    utc_ns = "datetime64[ns, UTC]"
    table = meter_segments[["segment_start", "segment_end", s.TARIFF_CODE_TAG]].astype(
        {"segment_start": utc_ns, "segment_end": utc_ns}
    )
    probe = pd.DataFrame({"at": times.astype(utc_ns), "order": range(len(times))})
    joined = pd.merge_asof(
        probe.sort_values("at"), table.sort_values("segment_start"), left_on="at", right_on="segment_start"
    ).sort_values("order")
    inside = joined["segment_end"] > joined["at"]
    return pd.Series(joined[s.TARIFF_CODE_TAG].where(inside, "").fillna("").values, index=times.index)


def priced_points(
    consumption: pd.DataFrame, prices: pd.DataFrame, segments: pd.DataFrame, settings: Settings
) -> pd.DataFrame:
    """Usage × unit price + standing charge per interval for every meter; export usage and cost negative."""
    tz, resolution = settings.octopus.tz, settings.octopus.resolution_minutes
    price_table = prices.drop_duplicates([s.TARIFF_CODE_TAG, s.TIME]).set_index([s.TARIFF_CODE_TAG, s.TIME])
    price_table = price_table[list(pricing.PRICE_COLUMNS)]
    frames = []
    for key, readings in consumption.groupby(METER_KEY, sort=False):
        meter_segments = segments[(segments[METER_KEY] == pd.Series(key, index=METER_KEY)).all(axis=1)]
        if meter_segments.empty:
            continue
        meter = meter_segments.iloc[0]
        readings = readings.reset_index(drop=True)
        tariff_codes = tariff_in_force(readings[s.TIME], meter_segments)
        sign = -1.0 if meter[s.IS_EXPORT] == "true" else 1.0
        usage_kwh = readings["usage_kwh"] * sign
        interval_prices = price_table.reindex(pd.MultiIndex.from_arrays([tariff_codes, readings[s.TIME]]))
        interval_prices.index = readings.index
        costs = pricing.consumption_costs(
            usage_kwh, interval_prices, pricing.intervals_in_local_day(readings[s.TIME], resolution, tz)
        )
        for tariff_code, rows in costs.groupby(tariff_codes, sort=False):
            frames.append(
                pd.DataFrame(
                    {
                        s.MEASUREMENT: s.CONSUMPTION_BY_FUEL[meter[s.FUEL]].name,
                        s.TIME: readings.loc[rows.index, s.TIME],
                        **seed_tags(meter, settings, tariff_code),
                        "usage_kwh": usage_kwh.loc[rows.index],
                    }
                ).join(rows)
            )
    if not frames:
        return empty_points()
    return pd.concat(frames, ignore_index=True)
