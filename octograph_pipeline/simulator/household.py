"""Deterministic synthetic household and tariff catalogue for the Octopus API simulator.

Pure data and arithmetic, no HTTP: `app.py` turns these rows into JSON responses. Every value is a
function of (seed, meter point, interval start) only, so any query window returns the same numbers,
and rows are computed lazily so paging through years of half-hours stays cheap.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, overload
from zoneinfo import ZoneInfo

Fuel = Literal["electricity", "gas"]
Row = dict[str, Any]

HALF_HOUR = timedelta(minutes=30)
VAT = 1.05
_TWO_TO_MINUS_64 = 2.0**-64
GROUP_BY_CHOICES = ("hour", "day", "week", "month", "quarter")
RATE_TYPES = ("standard-unit-rates", "day-unit-rates", "night-unit-rates", "standing-charges")
DIRECT_DEBIT_AND_NOT = ("DIRECT_DEBIT", "NON_DIRECT_DEBIT")


# --------------------------------------------------------------------------- time helpers


def unit_floats(*parts: object) -> tuple[float, ...]:
    """Eight reproducible uniforms in [0, 1) for a key.

    A hash instead of `random.Random(key)` because it is several times cheaper per value and is
    identical across processes (no PYTHONHASHSEED dependence).
    """
    digest = hashlib.blake2b(":".join(map(str, parts)).encode()).digest()
    return tuple(n * _TWO_TO_MINUS_64 for n in struct.unpack(">8Q", digest))


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """Start of a local calendar day (midnight always exists in Europe/London)."""
    return datetime.combine(day, time(), tzinfo=tz)


def iso_local(instant: datetime, tz: ZoneInfo | Any) -> str:
    """ISO 8601 with the local offset of that instant, `Z` when the offset is zero, as the real API."""
    text = instant.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def iso_utc(instant: datetime) -> str:
    """UTC timestamp with `Z`, the format the real API uses for tariff rates."""
    return iso_local(instant, UTC)


def _epoch(instant: datetime) -> float:
    return instant.timestamp()


def ceil_half_hour(instant: datetime) -> datetime:
    """First half-hour boundary (UTC grid) at or after `instant`."""
    seconds = math.ceil(_epoch(instant) / 1800) * 1800
    return datetime.fromtimestamp(seconds, UTC)


def floor_half_hour(instant: datetime) -> datetime:
    """Last half-hour boundary (UTC grid) at or before `instant`."""
    seconds = math.floor(_epoch(instant) / 1800) * 1800
    return datetime.fromtimestamp(seconds, UTC)


def half_hours(start: datetime, end: datetime) -> int:
    """Number of half-hour starts in [start, end) for a grid-aligned `start`."""
    return max(0, math.ceil((_epoch(end) - _epoch(start)) / 1800))


class LazyRows(Sequence[Row]):
    """A read-only sequence whose rows are built on demand, so count and paging are O(page)."""

    def __init__(self, count: int, make_row: Callable[[int], Row]) -> None:
        self._count = count
        self._make_row = make_row

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self._make_row(i) for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return self._make_row(index)


def doubled(rows: Sequence[Row]) -> Sequence[Row]:
    """Every row twice in a row, like the duplicated readings the real API occasionally returns."""
    return LazyRows(2 * len(rows), lambda i: rows[i // 2])


# --------------------------------------------------------------------------- household model


@dataclass(frozen=True)
class Register:
    identifier: str = "1"
    rate: str = "STANDARD"
    is_settlement_register: bool = True


@dataclass(frozen=True)
class Meter:
    serial_number: str
    registers: tuple[Register, ...] = ()


@dataclass(frozen=True)
class Agreement:
    """A tariff for a meter point over local calendar dates [valid_from, valid_to)."""

    tariff_code: str
    valid_from: date
    valid_to: date | None = None


@dataclass(frozen=True)
class MeterPoint:
    """An MPAN (electricity) or MPRN (gas) with its meters, agreements and how it consumes."""

    fuel: Fuel
    identifier: str
    load_profile: str  # key of LOAD_PROFILES
    meters: tuple[Meter, ...]
    agreements: tuple[Agreement, ...]
    consumption_standard: int
    profile_class: int | None = None
    is_export: bool = False

    def has_meter(self, serial_number: str) -> bool:
        return any(meter.serial_number == serial_number for meter in self.meters)


@dataclass(frozen=True)
class Property:
    """A supply address; readings exist only while the account lived there."""

    id: int
    moved_in: date
    moved_out: date | None
    meter_points: tuple[MeterPoint, ...]
    address_line_1: str = "1 Simulated Street"
    address_line_2: str = ""
    address_line_3: str = ""
    town: str = "Testington"
    county: str = ""
    postcode: str = "TE1 1ST"


@dataclass(frozen=True)
class Household:
    """One Octopus account: the root of the synthetic data, extendable with more properties/meters."""

    account_number: str
    seed: int
    timezone: str
    properties: tuple[Property, ...] = field(default_factory=tuple)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def find_meter_point(
        self, fuel: Fuel, identifier: str, serial_number: str
    ) -> tuple[Property, MeterPoint] | None:
        """The property and meter point for a consumption URL, or None if it is not this account's."""
        for prop in self.properties:
            for point in prop.meter_points:
                if point.fuel == fuel and point.identifier == identifier and point.has_meter(serial_number):
                    return prop, point
        return None

    def readings_window(self, prop: Property, now: datetime) -> tuple[datetime, datetime]:
        """UTC [start, end) of existing half-hour readings: move-in until local midnight today.

        Today's readings are "not yet available", like the real API, which publishes a day later.
        """
        tz = self.tz
        today = now.astimezone(tz).date()
        last_day = min(today, prop.moved_out) if prop.moved_out else today
        return local_midnight(prop.moved_in, tz).astimezone(UTC), local_midnight(last_day, tz).astimezone(UTC)

    def consumption(self, point: MeterPoint, interval_start: datetime) -> float:
        """Reading (kWh, or m³ for gas) for the half-hour starting at `interval_start`, 3 decimals."""
        profile = LOAD_PROFILES[point.load_profile]
        value = profile(self.seed, point.identifier, interval_start.astimezone(UTC), self.tz)
        return round(max(0.0, value), 3)

    def to_json(self) -> Row:
        """The `/v1/accounts/{number}/` body."""
        tz = self.tz

        def stamp(day: date | None) -> str | None:
            return None if day is None else iso_local(local_midnight(day, tz), tz)

        def agreements(point: MeterPoint) -> list[Row]:
            return [
                {
                    "tariff_code": a.tariff_code,
                    "valid_from": stamp(a.valid_from),
                    "valid_to": stamp(a.valid_to),
                }
                for a in point.agreements
            ]

        def electricity(point: MeterPoint) -> Row:
            return {
                "mpan": point.identifier,
                "profile_class": point.profile_class,
                "consumption_standard": point.consumption_standard,
                "meters": [
                    {
                        "serial_number": meter.serial_number,
                        "registers": [
                            {
                                "identifier": r.identifier,
                                "rate": r.rate,
                                "is_settlement_register": r.is_settlement_register,
                            }
                            for r in meter.registers
                        ],
                    }
                    for meter in point.meters
                ],
                "agreements": agreements(point),
                "is_export": point.is_export,
            }

        def gas(point: MeterPoint) -> Row:
            return {
                "mprn": point.identifier,
                "consumption_standard": point.consumption_standard,
                "meters": [{"serial_number": meter.serial_number} for meter in point.meters],
                "agreements": agreements(point),
            }

        return {
            "number": self.account_number,
            "properties": [
                {
                    "id": prop.id,
                    "moved_in_at": stamp(prop.moved_in),
                    "moved_out_at": stamp(prop.moved_out),
                    "address_line_1": prop.address_line_1,
                    "address_line_2": prop.address_line_2,
                    "address_line_3": prop.address_line_3,
                    "town": prop.town,
                    "county": prop.county,
                    "postcode": prop.postcode,
                    "electricity_meter_points": [
                        electricity(p) for p in prop.meter_points if p.fuel == "electricity"
                    ],
                    "gas_meter_points": [gas(p) for p in prop.meter_points if p.fuel == "gas"],
                }
                for prop in self.properties
            ],
        }


def default_household(
    seed: int = 1,
    account_number: str = "A-DEMO0001",
    start_date: date = date(2024, 1, 1),
    agile_from: date = date(2025, 1, 1),
    timezone: str = "Europe/London",
) -> Household:
    """The demo account: import on VAR then Agile, a solar export MPAN on the same meter, and gas."""
    if agile_from > start_date:
        import_agreements: tuple[Agreement, ...] = (
            Agreement("E-1R-VAR-22-11-01-C", start_date, agile_from),
            Agreement("E-1R-AGILE-24-10-01-C", agile_from),
        )
    else:
        import_agreements = (Agreement("E-1R-AGILE-24-10-01-C", start_date),)
    smart_meter = Meter("21E0000001", (Register(),))
    points = (
        MeterPoint(
            "electricity", "1900000000001", "domestic-import", (smart_meter,), import_agreements,
            consumption_standard=2900, profile_class=1,
        ),
        MeterPoint(
            "electricity", "1900000000002", "solar-export", (smart_meter,),
            (Agreement("E-1R-OUTGOING-FIX-12M-19-05-13-C", start_date),),
            consumption_standard=0, profile_class=8, is_export=True,
        ),
        MeterPoint(
            "gas", "3000000001", "gas-heating", (Meter("G4P0000000001"),),
            (Agreement("G-1R-VAR-22-11-01-C", start_date),),
            consumption_standard=11500,
        ),
    )  # fmt: skip
    return Household(account_number, seed, timezone, (Property(1000001, start_date, None, points),))


# --------------------------------------------------------------------------- load profiles


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((hour - centre) / width) ** 2)


def _winter(day_of_year: int) -> float:
    """1 in mid-January, -1 in mid-July."""
    return math.cos(2 * math.pi * (day_of_year - 15) / 365.25)


def _local_hour(local: datetime) -> float:
    """Local clock hour at the middle of the half-hour starting at `local`."""
    return local.hour + local.minute / 60 + 0.25


def domestic_import(seed: int, key: str, start: datetime, tz: ZoneInfo) -> float:
    """kWh: ~0.1-0.2 overnight, a morning peak 07-09 and an evening peak 17-21 up to ~1.0."""
    local = start.astimezone(tz)
    hour, noise = _local_hour(local), unit_floats(seed, key, start.isoformat())
    shape = 0.13 + 0.35 * _bump(hour, 7.9, 0.6) + 0.12 * _bump(hour, 13.0, 2.0) + 0.55 * _bump(hour, 19.0, 1.3)
    season = 1.0 + 0.2 * _winter(local.timetuple().tm_yday)
    kettle = 0.5 * noise[2] if noise[1] < 0.04 and 7 <= hour < 23 else 0.0
    return shape * season * (0.75 + 0.5 * noise[0]) + kettle


def solar_export(seed: int, key: str, start: datetime, tz: ZoneInfo) -> float:
    """kWh: a bell around solar noon, zero at night, longer and taller days in summer, daily clouds."""
    local = start.astimezone(tz)
    summer = -_winter(local.timetuple().tm_yday)  # -1 winter .. 1 summer
    day_length = 12.0 + 4.2 * summer
    solar_noon = 12.0 + (local.dst() or timedelta()).total_seconds() / 3600
    since_sunrise = _local_hour(local) - (solar_noon - day_length / 2)
    if not 0.0 < since_sunrise < day_length:
        return 0.0
    clouds = 0.3 + 0.7 * unit_floats(seed, key, local.date().isoformat())[0]
    flicker = 0.8 + 0.2 * unit_floats(seed, key, start.isoformat())[0]
    peak = 0.75 + 0.6 * summer  # kWh per half-hour at noon on a clear day
    return peak * math.sin(math.pi * since_sunrise / day_length) ** 2 * clouds * flicker


def gas_heating(seed: int, key: str, start: datetime, tz: ZoneInfo) -> float:
    """m³ (SMETS2 gas): heating 06-09 and 17-22 local, stronger in winter; hot water now and then."""
    local = start.astimezone(tz)
    hour, noise = _local_hour(local), unit_floats(seed, key, start.isoformat())
    heating = max(0.0, 0.15 + 0.85 * _winter(local.timetuple().tm_yday))
    if (6 <= hour < 9 or 17 <= hour < 22) and noise[1] < 0.2 + 0.75 * heating:
        return 0.05 + 0.35 * heating * noise[0]
    if 6 <= hour < 23 and noise[1] < 0.08:
        return 0.02 + 0.06 * noise[2]
    return 0.0


LoadProfile = Callable[[int, str, datetime, ZoneInfo], float]
LOAD_PROFILES: dict[str, LoadProfile] = {
    "domestic-import": domestic_import,
    "solar-export": solar_export,
    "gas-heating": gas_heating,
}


# --------------------------------------------------------------------------- consumption rows


def _group_start(local: datetime, group_by: str) -> date | datetime:
    """The local calendar period containing `local`: an hour (datetime) or its first day (date)."""
    day = local.date()
    if group_by == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    if group_by == "week":
        return day - timedelta(days=day.weekday())
    if group_by == "month":
        return day.replace(day=1)
    if group_by == "quarter":
        return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    return day


def _next_group(start: date, group_by: str) -> date:
    if group_by == "week":
        return start + timedelta(days=7)
    if group_by in ("month", "quarter"):
        months = start.month - 1 + (1 if group_by == "month" else 3)
        return date(start.year + months // 12, months % 12 + 1, 1)
    return start + timedelta(days=1)


def _groups(lo: datetime, hi: datetime, group_by: str, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """UTC [start, end) of each local period that overlaps [lo, hi), oldest first.

    Days/weeks/months are walked on local dates, so a DST day spans 23 or 25 hours.
    """
    groups: list[tuple[datetime, datetime]] = []
    first = _group_start(lo.astimezone(tz), group_by)
    if isinstance(first, datetime):  # hours: fixed 60-minute steps on the absolute timeline
        start = first.astimezone(UTC)
        while start < hi:
            groups.append((start, start + timedelta(hours=1)))
            start += timedelta(hours=1)
        return groups
    day = first
    while (start := local_midnight(day, tz).astimezone(UTC)) < hi:
        day = _next_group(day, group_by)
        groups.append((start, local_midnight(day, tz).astimezone(UTC)))
    return groups


def consumption_rows(
    household: Household,
    prop: Property,
    point: MeterPoint,
    now: datetime,
    period_from: datetime | None = None,
    period_to: datetime | None = None,
    *,
    group_by: str | None = None,
    newest_first: bool = True,
    sloppy: bool = False,
    duplicate: bool = False,
) -> Sequence[Row]:
    """Readings with interval_start in [period_from, period_to), as the API's `results` rows.

    `sloppy` adds one half-hour before period_from and one after period_to (the real API does this
    sometimes); `duplicate` repeats every row. Both exist to test the client's defensiveness.
    """
    tz = household.tz
    available_from, available_to = household.readings_window(prop, now)
    lo = ceil_half_hour(period_from) if period_from else available_from
    hi = ceil_half_hour(period_to) if period_to else available_to
    if sloppy:
        lo -= HALF_HOUR if period_from else timedelta()
        hi += HALF_HOUR if period_to else timedelta()
    lo, hi = max(lo, available_from), min(hi, available_to)

    def row(start: datetime, end: datetime, value: float) -> Row:
        return {
            "consumption": value,
            "interval_start": iso_local(start, tz),
            "interval_end": iso_local(end, tz),
        }

    rows: Sequence[Row]
    if group_by is None:
        count = half_hours(lo, hi)

        def half_hour_row(i: int) -> Row:
            start = lo + HALF_HOUR * ((count - 1 - i) if newest_first else i)
            return row(start, start + HALF_HOUR, household.consumption(point, start))

        rows = LazyRows(count, half_hour_row)
    else:
        groups = _groups(lo, hi, group_by, tz) if lo < hi else []
        if newest_first:
            groups.reverse()

        def group_row(i: int) -> Row:
            start, end = groups[i]
            first, last = max(start, lo), min(end, hi)
            total = sum(
                household.consumption(point, first + HALF_HOUR * k) for k in range(half_hours(first, last))
            )
            return row(start, end, round(total, 3))

        rows = LazyRows(len(groups), group_row)
    return doubled(rows) if duplicate else rows


# --------------------------------------------------------------------------- tariffs


@dataclass(frozen=True)
class RateSchedule:
    """How one rate series of a tariff moves: "quarterly" steps, "agile" half-hours or "fixed"."""

    kind: Literal["quarterly", "agile", "fixed"]
    low: float = 0.0  # p/kWh or p/day, exc VAT
    high: float = 0.0
    payment_methods: tuple[str | None, ...] = (None,)
    vat: bool = True


@dataclass(frozen=True)
class Tariff:
    """A tariff code and its rate series; a rate type mapped to None exists but has no rows."""

    code: str
    full_name: str
    is_variable: bool
    rates: dict[str, RateSchedule | None]

    @property
    def fuel(self) -> Fuel:
        return "gas" if self.code.startswith("G-") else "electricity"

    @property
    def product_code(self) -> str:
        """`E-1R-AGILE-24-10-01-C` → `AGILE-24-10-01`: drop fuel, register count and region letter."""
        return self.code[5:-2]

    @property
    def has_day_night(self) -> bool:
        return self.code[2:4] == "2R"


def _catalogue(*tariffs: Tariff) -> dict[str, Tariff]:
    return {tariff.code: tariff for tariff in tariffs}


TARIFFS: dict[str, Tariff] = _catalogue(
    Tariff("E-1R-VAR-22-11-01-C", "Flexible Octopus November 2022 v1", True, {
        "standard-unit-rates": RateSchedule("quarterly", 22.0, 30.0, DIRECT_DEBIT_AND_NOT),
        "standing-charges": RateSchedule("quarterly", 45.0, 55.0, DIRECT_DEBIT_AND_NOT),
    }),
    Tariff("E-2R-VAR-22-11-01-C", "Flexible Octopus November 2022 v1 (Economy 7)", True, {
        "day-unit-rates": RateSchedule("quarterly", 28.0, 32.0, DIRECT_DEBIT_AND_NOT),
        "night-unit-rates": RateSchedule("quarterly", 12.0, 14.0, DIRECT_DEBIT_AND_NOT),
        "standing-charges": RateSchedule("quarterly", 45.0, 55.0, DIRECT_DEBIT_AND_NOT),
    }),
    Tariff("E-1R-AGILE-24-10-01-C", "Agile Octopus October 2024 v1", True, {
        "standard-unit-rates": RateSchedule("agile"),
        "standing-charges": RateSchedule("quarterly", 46.0, 50.0),
    }),
    Tariff("E-1R-OUTGOING-FIX-12M-19-05-13-C", "Outgoing Octopus 12M Fixed May 2019", False, {
        "standard-unit-rates": RateSchedule("fixed", 15.0, vat=False),
        "standing-charges": None,
    }),
    Tariff("G-1R-VAR-22-11-01-C", "Flexible Octopus November 2022 v1", True, {
        "standard-unit-rates": RateSchedule("quarterly", 5.5, 7.5, DIRECT_DEBIT_AND_NOT),
        "standing-charges": RateSchedule("quarterly", 27.0, 32.0, DIRECT_DEBIT_AND_NOT),
    }),
)  # fmt: skip


def agile_price(seed: int, start: datetime, tz: ZoneInfo) -> float:
    """p/kWh exc VAT for the half-hour at `start`: cheap nights, 16-19 peak, rare negative windy nights."""
    local = start.astimezone(tz)
    hour, noise = _local_hour(local), unit_floats(seed, "agile", start.astimezone(UTC).isoformat())
    windy_night = unit_floats(seed, "agile-wind", local.date().isoformat())[0] < 0.12
    if windy_night and 2 <= hour < 5 and noise[1] < 0.6:
        return round(-3.0 + 2.0 * noise[0], 2)
    if hour < 6:
        price = 10.0 + 5.0 * noise[0]
    elif 16 <= hour < 19:
        price = 30.0 + 15.0 * noise[0]
        if noise[1] < 0.01:  # a scarcity spike, still capped
            price *= 3
    elif hour >= 23:
        price = 13.0 + 5.0 * noise[0]
    else:
        price = 17.0 + 9.0 * noise[0]
    return round(min(price, 100.0), 2)


def agile_published_until(now: datetime, tz: ZoneInfo) -> datetime:
    """End (UTC) of published Agile prices: tomorrow's appear at 16:00 local, as in reality."""
    local = now.astimezone(tz)
    days = 2 if local.hour >= 16 else 1
    return local_midnight(local.date() + timedelta(days=days), tz).astimezone(UTC)


def _quarter_start(day: date) -> date:
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def _step_periods(
    seed: int,
    tariff: Tariff,
    rate_type: str,
    schedule: RateSchedule,
    tz: ZoneInfo,
    history_start: date,
    now: datetime,
) -> list[tuple[datetime, datetime | None, float]]:
    """Chronological (valid_from, valid_to, value exc VAT) periods; the current one is open-ended."""
    if schedule.kind == "fixed":
        return [(local_midnight(history_start, tz).astimezone(UTC), None, schedule.low)]
    current = _quarter_start(max(now.astimezone(tz).date(), history_start))
    day, periods = _quarter_start(history_start), []
    while day <= current:
        following = _next_group(day, "quarter")
        noise = unit_floats(seed, tariff.code, rate_type, day.isoformat())[0]
        value = round(schedule.low + (schedule.high - schedule.low) * noise, 4)
        valid_to = None if day == current else local_midnight(following, tz).astimezone(UTC)
        periods.append((local_midnight(day, tz).astimezone(UTC), valid_to, value))
        day = following
    return periods


def _rate_row(
    value_exc_vat: float, vat: bool, valid_from: datetime, valid_to: datetime | None, method: str | None
) -> Row:
    return {
        "value_exc_vat": value_exc_vat,
        "value_inc_vat": round(value_exc_vat * VAT, 4) if vat else value_exc_vat,
        "valid_from": iso_utc(valid_from),
        "valid_to": iso_utc(valid_to) if valid_to else None,
        "payment_method": method,
    }


def rate_rows(
    seed: int,
    tariff: Tariff,
    rate_type: str,
    tz: ZoneInfo,
    history_start: date,
    now: datetime,
    period_from: datetime | None = None,
    period_to: datetime | None = None,
    *,
    sloppy: bool = False,
) -> Sequence[Row]:
    """Rate rows overlapping [period_from, period_to), newest first, as the API's `results`.

    History starts at `history_start` (local midnight); `sloppy` adds one neighbouring row per side.
    """
    schedule = tariff.rates.get(rate_type)
    if schedule is None:
        return []
    if schedule.kind == "agile":
        margin = HALF_HOUR if sloppy else timedelta()
        lo = local_midnight(history_start, tz).astimezone(UTC)
        hi = agile_published_until(now, tz)
        if period_from:  # the half-hour containing period_from overlaps the window
            lo = max(lo, floor_half_hour(period_from) - margin)
        if period_to:
            hi = min(hi, ceil_half_hour(period_to) + margin)
        count = half_hours(lo, hi)

        def agile_row(i: int) -> Row:
            start = lo + HALF_HOUR * (count - 1 - i)
            return _rate_row(agile_price(seed, start, tz), schedule.vat, start, start + HALF_HOUR, None)

        return LazyRows(count, agile_row)

    periods = _step_periods(seed, tariff, rate_type, schedule, tz, history_start, now)
    hits = [
        i
        for i, (valid_from, valid_to, _) in enumerate(periods)
        if (period_to is None or valid_from < period_to)
        and (period_from is None or valid_to is None or valid_to > period_from)
    ]
    if not hits:
        return []
    lo, hi = (max(0, hits[0] - 1), hits[-1] + 2) if sloppy else (hits[0], hits[-1] + 1)
    return [
        _rate_row(
            value if method != "NON_DIRECT_DEBIT" else round(value * 1.05, 4),
            schedule.vat,
            start,
            end,
            method,
        )
        for start, end, value in reversed(periods[lo:hi])
        for method in schedule.payment_methods
    ]


def iter_tariffs(product_code: str) -> Iterator[Tariff]:
    """Catalogue tariffs belonging to a product."""
    return (tariff for tariff in TARIFFS.values() if tariff.product_code == product_code)
