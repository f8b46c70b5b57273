"""API records -> points frames, one function per asset; pure (no I/O), so each is testable on its own.

A points frame has `measurement`, UTC `time`, tag columns (strings) and the measurement's fields; the
IO manager writes it to InfluxDB as it is and hands it back the same way.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Collection, Iterator, Mapping
from zoneinfo import ZoneInfo

import pandas as pd

from octograph_pipeline.core import days, pricing
from octograph_pipeline.core import schema as s
from octograph_pipeline.core.models import Account, Agreement, Dispatch
from octograph_pipeline.core.settings import GasConversion, PointTags, PriceRules
from octograph_pipeline.core.tariffs import STANDING_CHARGES, parse_tariff_code

HALF_HOUR = pd.Timedelta(minutes=30)

ACCOUNT_COLUMNS = [
    s.MEASUREMENT, s.TIME, s.ACCOUNT_NUMBER, *s.METER_KEY, s.TARIFF_CODE_TAG, s.PROPERTY_ID, *s.PROPERTY_TAGS,
    s.AGREEMENT_FROM, s.AGREEMENT_TO,
]  # fmt: skip


def _iso(moment: pd.Timestamp | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def empty_points() -> pd.DataFrame:
    return _frame([], [s.MEASUREMENT, s.TIME])


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    frame[s.TIME] = pd.to_datetime(frame[s.TIME], utc=True)
    return frame


# --- account ---------------------------------------------------------------------------------------------


def meter_agreements(account: Account, included_meters: Collection[str] = ()) -> Iterator[dict]:
    """Every (meter, agreement) of the account with the tags later assets need; `included_meters` filters by
    serial number. Validity stays in `valid_from`/`valid_to` (UTC, clipped to the tenancy)."""
    included = set(included_meters)
    for prop in account.properties:
        property_tags = {
            s.PROPERTY_ID: prop.id,
            **{tag: prop.address[tag.removeprefix("property_")] for tag in s.PROPERTY_TAGS},
        }
        for point in prop.meter_points:
            for meter in point.meters:
                if included and meter.serial_number not in included:
                    continue
                for agreement in point.agreements:
                    yield {
                        s.ACCOUNT_NUMBER: account.number,
                        s.FUEL: point.fuel,
                        s.METER_POINT: point.id,
                        s.METER_SERIAL_NUMBER: meter.serial_number,
                        s.IS_EXPORT: point.is_export,
                        s.TARIFF_CODE_TAG: agreement.tariff_code,
                        **property_tags,
                        "agreement": agreement,
                    }


def account_points(
    account: Account,
    start: pd.Timestamp,
    end: pd.Timestamp,
    tz: ZoneInfo,
    tags: PointTags,
    included_meters: Collection[str] = (),
) -> pd.DataFrame:
    """One point per local day, meter and agreement in force that day, stamped at the later of the
    agreement's start and the day's, carrying everything later assets need to know about the meter.

    Per-day points make the result independent of how days are grouped into runs."""
    windows = days.day_windows(start, end, tz)
    rows = []
    for meter_tags in meter_agreements(account, included_meters):
        agreement: Agreement = meter_tags.pop("agreement")
        for day_start, day_end in windows:
            if agreement.in_force(day_start, day_end):
                rows.append(
                    {
                        s.MEASUREMENT: s.ACCOUNT_METERS.name,
                        s.TIME: max(day_start, agreement.valid_from or day_start),
                        **meter_tags,
                        **tags.additional,
                        s.AGREEMENT_FROM: _iso(agreement.valid_from),
                        s.AGREEMENT_TO: _iso(agreement.valid_to),
                    }
                )
    return _frame(rows, list(dict.fromkeys([*ACCOUNT_COLUMNS, *tags.additional])))  # account_number may be both


def with_columns(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`frame` with any of `columns` it lacks added as empty tags: what InfluxDB hands back for a window
    with no points (or a tag never written) has no such columns, and the next step should not care."""
    missing = [column for column in columns if column not in frame.columns]
    return frame.assign(**{column: pd.Series("", index=frame.index, dtype=object) for column in missing})


def agreement_segments(account: pd.DataFrame, tz: ZoneInfo) -> pd.DataFrame:
    """The account points merged into continuous `segment_start`/`segment_end` stretches of one meter under one
    agreement: a year is a handful of segments to price, not one per day. Each point covers its agreement
    from its own time to the end of its local day; points of consecutive days join up. A window without
    agreements (before moving in, say) gives no segments, not an error."""
    account = with_columns(account, ACCOUNT_COLUMNS)
    if account.empty:
        no_times = pd.Series(dtype="datetime64[ns, UTC]")
        return account.assign(segment_start=no_times, segment_end=no_times)
    identity = [c for c in account.columns if c not in (s.MEASUREMENT, s.TIME)]
    valid_to = pd.to_datetime(account[s.AGREEMENT_TO].replace("", None), utc=True)
    day_end = days.next_midnights(account[s.TIME], tz)
    points = account.assign(
        segment_start=account[s.TIME], segment_end=valid_to.where(valid_to < day_end, day_end)
    ).sort_values([*identity, s.TIME], kind="stable")
    same_agreement = (points[identity] == points[identity].shift()).all(axis=1)
    continues = same_agreement & (points["segment_start"] == points["segment_end"].shift())
    segment = (~continues).cumsum().rename("segment")
    merged = points.groupby(segment, sort=False).agg(
        {**{c: "first" for c in points.columns if c != "segment_end"}, "segment_end": "last"}
    )
    return merged.sort_values([s.TIME, *s.METER_KEY], kind="stable").reset_index(drop=True)


def uncovered_days(
    account: Account, start: pd.Timestamp, end: pd.Timestamp, tz: ZoneInfo, included_meters: Collection[str] = ()
) -> list[str]:
    """Meter-point days inside a tenancy with no agreement at all: priced as nothing, so worth a warning."""
    windows = days.day_windows(start, end, tz)
    included = set(included_meters)
    problems = []
    for prop in account.properties:
        for point in prop.meter_points:
            if included and not included & {meter.serial_number for meter in point.meters}:
                continue  # filtered out by included_meters
            missing = [
                day_start.tz_convert(tz).date().isoformat()
                for day_start, day_end in windows
                if prop.lived_in(day_start, day_end)
                and not any(agreement.in_force(day_start, day_end) for agreement in point.agreements)
            ]
            if missing:
                problems.append(f"{point.fuel} meter point {point.id} has no agreement on {days.listing(missing)}")
    return problems


def segments_of(segments: pd.DataFrame, meter_key) -> pd.DataFrame:
    """The segments of one meter, given its `s.METER_KEY` values (a tuple or a row)."""
    return segments[(segments[s.METER_KEY] == pd.Series(list(meter_key), index=s.METER_KEY)).all(axis=1)]


def meters(account: pd.DataFrame) -> pd.DataFrame:
    """One row per physical meter (a meter point with several agreements appears once)."""
    return account.drop_duplicates(s.METER_KEY).reset_index(drop=True)


def seed_tags(meter: pd.Series, tags: PointTags, tariff_code: str) -> dict[str, str]:
    """The seed's tags for one meter: `tariff_code`, the configured `included_tags`, `additional_tags`."""
    available = {
        s.ACCOUNT_NUMBER: meter[s.ACCOUNT_NUMBER],
        # Read back from InfluxDB, a tag that was empty is simply absent.
        **{tag: meter.get(tag, "") for tag in s.PROPERTY_TAGS},
        **{tag: meter[s.METER_POINT] if fuel == meter[s.FUEL] else "" for fuel, tag in s.METER_POINT_TAGS.items()},
        s.METER_SERIAL_NUMBER: meter[s.METER_SERIAL_NUMBER],
        s.AGREEMENT_TARIFF_CODE: tariff_code,
    }
    included = {tag: available[tag] for tag in tags.included}
    return {s.TARIFF_CODE_TAG: tariff_code, **included, **tags.additional}


# --- meter_consumption -----------------------------------------------------------------------------------


def gas_is_volume(
    meter_types: Mapping[str, str], serial_number: str, reported_units: Mapping[str, str] | None = None
) -> bool:
    """Whether a gas meter reports m³: as `meter_types` says (the seed's SMETS2 = m³, SMETS1 = kWh), else as
    Kraken's `consumptionUnits` says (`reported_units`), else the seed's default, SMETS1 (kWh)."""
    configured = meter_types.get(serial_number)
    if configured:
        return configured == "SMETS2"
    return (reported_units or {}).get(serial_number) == "m3"


def gas_meters_to_ask(segments: pd.DataFrame, meter_types: Mapping[str, str]) -> list[str]:
    """Gas meters whose unit `meter_types` (`gas_meter_types`) does not give: Kraken is asked what they report."""
    gas = segments[segments[s.FUEL] == "gas"][s.METER_SERIAL_NUMBER].drop_duplicates()
    return sorted(serial for serial in gas if serial not in meter_types)


# (fuel, meter point, serial number, period_from, period_to, resolution_minutes) -> readings, as the client's
Readings = Callable[[str, str, str, pd.Timestamp, pd.Timestamp, int], pd.DataFrame]


def consumption_frame(
    segments: pd.DataFrame,
    read: Readings,
    tz: ZoneInfo,
    resolution_minutes: int,
    gas: GasConversion,
    tags: PointTags,
    reported_units: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Every meter's readings while it was ours: one `read` per meter, over all of its segments at once; gas in
    m³ or kWh as `gas_is_volume` decides with `reported_units`."""
    parts = []
    for _, meter in meters(segments).iterrows():
        meter_segments = segments_of(segments, meter[s.METER_KEY])
        readings = read(
            meter[s.FUEL],
            meter[s.METER_POINT],
            meter[s.METER_SERIAL_NUMBER],
            meter_segments["segment_start"].min(),
            meter_segments["segment_end"].max(),
            resolution_minutes,
        )
        serial = meter[s.METER_SERIAL_NUMBER]
        m3_to_kwh = (
            gas if meter[s.FUEL] == "gas" and gas_is_volume(gas.meter_types, serial, reported_units) else None
        )
        readings = within_agreements(readings, meter_segments)
        parts.append(consumption_points(meter, readings, tz, tags, m3_to_kwh))
    return pd.concat(parts, ignore_index=True) if parts else empty_points()


def consumption_points(
    meter: pd.Series, readings: pd.DataFrame, tz: ZoneInfo, tags: PointTags, m3_to_kwh: GasConversion | None
) -> pd.DataFrame:
    """The meter's readings as reported, plus their energy in kWh: readings in m³ (`m3_to_kwh` given) converted
    with each day's calorific value."""
    usage_kwh = readings["consumption"]  # the API's name
    volume = m3_to_kwh is not None
    if volume:
        calorific_value = pricing.calorific_value_by_interval(
            readings["interval_start"], tz, m3_to_kwh.calorific_values, m3_to_kwh.calorific_value
        )
        usage_kwh = pricing.gas_volume_to_kwh(usage_kwh, m3_to_kwh.volume_correction_factor, calorific_value)
    frame = pd.DataFrame(
        {
            s.MEASUREMENT: s.METER_CONSUMPTION.name,
            s.TIME: readings["interval_start"],
            s.ACCOUNT_NUMBER: meter[s.ACCOUNT_NUMBER],
            **{tag: meter[tag] for tag in s.METER_KEY},
            s.UNIT: "m3" if volume else "kWh",
            **tags.additional,
            s.CONSUMPTION: readings["consumption"],
            s.USAGE_KWH: usage_kwh,
        }
    )
    return frame.reset_index(drop=True)


# --- tariff_rates ----------------------------------------------------------------------------------------

# (tariff_code, component) -> that component's rate rows for the payment method
TariffRates = Callable[[str, str], pd.DataFrame]
# (tariff_code, component, period_from, period_to) -> rate rows, as the client's `rates`
RatesLookup = Callable[[str, str, pd.Timestamp, pd.Timestamp], pd.DataFrame]


def unit_rates_at(starts: pd.Series, tariff_code: str, rates: TariffRates, rules: PriceRules) -> pd.DataFrame:
    """Unit rate in force at each half-hour; two-register (Economy 7) tariffs take the night rate inside
    [low_rate_start, low_rate_end) in low_rate_tz and the day rate outside it."""

    def in_force(component: str) -> pd.DataFrame:
        return pricing.rate_in_force(starts, rates(tariff_code, component))

    tariff = parse_tariff_code(tariff_code)
    if not tariff.is_economy7:
        (standard,) = tariff.unit_rate_components
        return in_force(standard)
    day, night = tariff.unit_rate_components
    low = pricing.in_low_rate_window(
        starts, rules.low_rate_start, rules.low_rate_end, rules.low_rate_tz or rules.tz
    )
    return in_force(day).where(~low, in_force(night))


def rate_points(
    segments: pd.DataFrame, rates: RatesLookup, rules: PriceRules, tags: PointTags
) -> tuple[pd.DataFrame, list[str]]:
    """Prices in force at every interval of every agreement segment, tagged as the seed tags them, and a
    warning for each stretch without a published unit rate (such intervals get no point, not a made-up price).

    Each tariff's rate components are fetched once, for the span of the segments under that tariff. Prices are
    worked out per half-hour; at a coarser resolution an interval's unit price is the mean of its half-hours'
    prices, which is the exact price for usage spread evenly over the interval.
    """
    tz, resolution = rules.tz, rules.resolution_minutes
    spans = segments.groupby(s.TARIFF_CODE_TAG).agg(start=("segment_start", "min"), end=("segment_end", "max"))

    @functools.cache
    def tariff_rates(tariff_code: str, component: str) -> pd.DataFrame:
        rows = rates(tariff_code, component, *spans.loc[tariff_code, ["start", "end"]])
        return pricing.select_payment_method(rows, rules.payment_method)

    frames, warnings = [], []
    for _, meter in segments.iterrows():
        tariff_code = meter[s.TARIFF_CODE_TAG]
        half_hours = pd.Series(days.interval_starts(meter["segment_start"], meter["segment_end"], 30, tz))
        if half_hours.empty:
            continue
        unit = unit_rates_at(half_hours, tariff_code, tariff_rates, rules)
        prices = pricing.tariff_prices(half_hours, unit, tariff_rates(tariff_code, STANDING_CHARGES))
        prices[s.TIME] = days.interval_of(half_hours, resolution, tz)
        if resolution > 30:
            prices = prices.groupby(s.TIME, as_index=False).mean(skipna=False)
        unpriced = prices[s.UNIT_PRICE["exc"]].isna()
        if unpriced.any():
            first = prices.loc[unpriced, s.TIME].min().tz_convert(tz)
            warnings.append(
                f"{tariff_code}: no unit rate published for {int(unpriced.sum())} intervals from {first}"
            )
        frames.append(
            prices[~unpriced].assign(
                **{s.MEASUREMENT: s.PRICING_BY_FUEL[meter[s.FUEL]].name}, **seed_tags(meter, tags, tariff_code)
            )
        )
    if not frames:
        return empty_points(), warnings
    combined = pd.concat(frames, ignore_index=True)
    tags = [c for c in combined.columns if c not in s.PRICE_COLUMNS and c != s.TIME]
    return combined.drop_duplicates([*tags, s.TIME]).reset_index(drop=True), list(dict.fromkeys(warnings))


# --- intelligent_dispatches -------------------------------------------------------------------------------


def dispatch_points(
    dispatches: list[Dispatch], start: pd.Timestamp, end: pd.Timestamp, tags: PointTags
) -> pd.DataFrame:
    """One point per half-hour of [start, end) a dispatch touches, with its share of the dispatch's kWh, by
    source (smart-charge, bump-charge) and status (completed, planned)."""
    rows = []
    for dispatch in dispatches:
        first = max(dispatch.start.floor("30min"), start)
        for slot in pd.date_range(first, min(dispatch.end, end), freq="30min", inclusive="left"):
            overlap = min(dispatch.end, slot + HALF_HOUR) - max(dispatch.start, slot)
            share = (
                dispatch.kwh * overlap / (dispatch.end - dispatch.start) if dispatch.end > dispatch.start else 0.0
            )
            status = s.COMPLETED if dispatch.completed else "planned"
            rows.append(
                {s.TIME: slot, s.DISPATCH_SOURCE: dispatch.source, s.DISPATCH_STATUS: status, s.SLOT_KWH: share}
            )
    if not rows:
        return empty_points()
    key = [s.TIME, s.DISPATCH_SOURCE, s.DISPATCH_STATUS]
    slots = pd.DataFrame(rows).groupby(key, as_index=False)[s.SLOT_KWH].sum()
    return slots.assign(**{s.MEASUREMENT: s.INTELLIGENT_SLOTS.name, s.SLOT_FLAG: 1.0}, **tags.additional)


def kept_slots(stored: pd.DataFrame, fetched: pd.DataFrame) -> pd.DataFrame:
    """The window's stored slots with what was fetched now over them: Kraken serves completed dispatches for
    about 12 hours only, so a day re-run later must keep what earlier runs saw."""
    parts = [frame for frame in (stored, fetched) if len(frame)]
    if not parts:
        return empty_points()
    both = pd.concat(parts, ignore_index=True)
    key = [s.TIME, s.DISPATCH_SOURCE, s.DISPATCH_STATUS]
    return both.drop_duplicates(key, keep="last").sort_values(key).reset_index(drop=True)


def billed_as_smart_charges(slots: pd.DataFrame) -> pd.Series:
    """Which stored slots are completed smart charges (see `smart_charge_slots`), before the charge cap."""
    source, done = slots[s.DISPATCH_SOURCE], slots[s.DISPATCH_STATUS] == s.COMPLETED
    bumped = slots[s.TIME].isin(slots.loc[source == s.BUMP_CHARGE, s.TIME])
    return done & ((source == s.SMART_CHARGE) | ((source == s.UNKNOWN_SOURCE) & ~bumped))


def smart_charge_slots(slots: pd.DataFrame, rules: PriceRules) -> pd.Series:
    """The half-hours billed at the off-peak rate: those of completed smart-charge dispatches, wherever the car
    was (`meta.location` is not stored: the supplier's half-hourly billing shows it does not decide the rate), and
    of completed dispatches without a source (Kraken documents `meta.source` for planned ones only; public
    clients count them as smart charges) unless a bump charge was planned for that half-hour. At most
    `charge_cap_hours` per midday-to-midday period (Octopus's charge cap), the earliest first."""
    if slots.empty:
        return pd.Series(dtype="datetime64[ns, UTC]")
    times = slots.loc[billed_as_smart_charges(slots), s.TIME].drop_duplicates().sort_values(ignore_index=True)
    return times[pricing.within_charge_cap(times, rules.charge_cap_hours, rules.tz)]


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


def within_agreements(readings: pd.DataFrame, meter_segments: pd.DataFrame) -> pd.DataFrame:
    """Only the readings while the meter was ours: after a move-out the next occupant's usage is not."""
    return readings[tariff_in_force(readings["interval_start"], meter_segments) != ""].reset_index(drop=True)


def priced_points(
    consumption: pd.DataFrame,
    prices: pd.DataFrame,
    segments: pd.DataFrame,
    rules: PriceRules,
    tags: PointTags,
    smart_slots: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Usage × unit price + standing charge per interval for every meter; export usage and cost negative.
    The half-hours of completed smart-charge dispatches (`smart_slots`) of the `intelligent_mpan` import meter
    cost the off-peak unit rate in force at that half-hour (see `pricing.off_peak_rates`).

    Returns the points to write and the same intervals per meter (`s.METER_KEY` columns, tariff, usage, costs)
    for checks and metadata, which need to know the meter even when no tag names it.
    """
    tz, resolution = rules.tz, rules.resolution_minutes
    price_table = price_lookup(prices)
    points, details = [], []
    for key, readings in with_columns(consumption, s.METER_KEY).groupby(s.METER_KEY, sort=False):
        meter_segments = segments_of(segments, key)
        if meter_segments.empty:
            continue
        meter = meter_segments.iloc[0]
        readings = readings.reset_index(drop=True)
        tariff_codes = tariff_in_force(readings[s.TIME], meter_segments)
        sign = -1.0 if meter[s.IS_EXPORT] else 1.0
        usage_kwh = readings[s.USAGE_KWH] * sign
        interval_prices = price_table.reindex(pd.MultiIndex.from_arrays([tariff_codes, readings[s.TIME]]))
        interval_prices.index = readings.index
        if smart_slots is not None and meter[s.METER_POINT] == rules.intelligent_mpan:
            smart = readings[s.TIME].isin(smart_slots) & ~bool(meter[s.IS_EXPORT])
            off_peak = off_peak_lookup(price_table, rules.intelligent_off_peak_start, tz)
            rates = off_peak.reindex(pd.MultiIndex.from_arrays([tariff_codes[smart], readings.loc[smart, s.TIME]]))
            unit = [*s.UNIT_PRICE.values()]
            interval_prices.loc[smart, unit] = rates[unit].to_numpy()
        costs = pricing.consumption_costs(
            usage_kwh, interval_prices, days.intervals_per_day(readings[s.TIME], resolution, tz)
        )
        details.append(
            pd.DataFrame({**dict(zip(s.METER_KEY, key, strict=True)), s.TIME: readings[s.TIME]})
            .assign(tariff_code=tariff_codes, usage_kwh=usage_kwh)
            .join(costs)
        )
        for tariff_code, rows in costs.groupby(tariff_codes, sort=False):
            if not tariff_code:
                continue
            points.append(
                pd.DataFrame(
                    {
                        s.MEASUREMENT: s.CONSUMPTION_BY_FUEL[meter[s.FUEL]].name,
                        s.TIME: readings.loc[rows.index, s.TIME],
                        **seed_tags(meter, tags, tariff_code),
                        s.USAGE_KWH: usage_kwh.loc[rows.index],
                    }
                ).join(rows)
            )
    if not points:
        return empty_points(), pd.DataFrame(columns=[*s.METER_KEY, s.TIME, s.TARIFF_CODE_TAG, s.USAGE_KWH])
    return pd.concat(points, ignore_index=True), pd.concat(details, ignore_index=True)


def off_peak_lookup(price_table: pd.DataFrame, window_start: dt.time, tz: ZoneInfo) -> pd.DataFrame:
    """`price_lookup`'s table with each tariff's off-peak rate in force at each half-hour."""
    if price_table.empty:
        return price_table
    by_tariff = price_table.groupby(level=s.TARIFF_CODE_TAG)
    return pd.concat(
        {
            code: pricing.off_peak_rates(one.droplevel(s.TARIFF_CODE_TAG), window_start, tz)
            for code, one in by_tariff
        },
        names=[s.TARIFF_CODE_TAG, s.TIME],
    )


def price_lookup(prices: pd.DataFrame) -> pd.DataFrame:
    """The pricing points indexed by (tariff_code, time): prices are the same whichever meter they tag.
    No stored prices (the prices job never ran) is an empty table, so every interval shows as unpriced."""
    if prices.empty:
        index = pd.MultiIndex.from_arrays(
            [pd.Index([], dtype=str), pd.DatetimeIndex([], tz="UTC")], names=[s.TARIFF_CODE_TAG, s.TIME]
        )
        return pd.DataFrame({column: pd.Series(dtype=float) for column in s.PRICE_COLUMNS}, index=index)
    table = prices.drop_duplicates([s.TARIFF_CODE_TAG, s.TIME]).set_index([s.TARIFF_CODE_TAG, s.TIME])
    return table[list(s.PRICE_COLUMNS)]
