"""Deterministic synthetic household and tariff catalogue for the Octopus API simulator.

Pure data and arithmetic, no HTTP: `app.py` turns these rows into JSON responses. Every value is a
function of (seed, meter point, interval start) only, so any query window returns the same numbers,
and rows are computed lazily so paging through years of half-hours stays cheap.

Besides the tidy demo household, `SCENARIOS` holds messy accounts (Economy 7 with an Agile Outgoing
export, a house move, a mid-day tariff switch with a replaced meter and a meter without data, gaps and
duplicated readings) so the pipeline can be tested against what real accounts look like.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
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
# kWh per m³ of gas: volume correction 1.02264 x calorific value 39.5 MJ/m³ / 3.6 MJ per kWh.
GAS_KWH_PER_M3 = 1.02264 * 39.5 / 3.6
Window = tuple[datetime, datetime]


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
    """A physical meter (serial number) on a meter point, and the quirks of what it reports.

    `installed_from`/`installed_to` (aware datetimes, None = unbounded) limit its readings to the period
    it was installed, for replaced meters. `gaps` are [start, end) windows of interval starts whose
    readings are missing; `duplicates` are windows whose half-hourly rows are returned twice (identical,
    adjacent). `reports_consumption=False` is a meter whose consumption endpoint never has data.
    `unit` is what a gas meter reports: "m3" (SMETS2, the default) or "kWh" (SMETS1); electricity is
    always kWh. `negative` windows report their readings negated, like a faulty or miswired meter.
    """

    serial_number: str
    registers: tuple[Register, ...] = ()
    installed_from: datetime | None = None
    installed_to: datetime | None = None
    gaps: tuple[Window, ...] = ()
    duplicates: tuple[Window, ...] = ()
    negative: tuple[Window, ...] = ()
    reports_consumption: bool = True
    unit: Literal["kWh", "m3"] | None = None

    def __post_init__(self) -> None:
        instants = [
            self.installed_from,
            self.installed_to,
            *(t for w in (*self.gaps, *self.duplicates, *self.negative) for t in w),
        ]
        if any(t is not None and t.tzinfo is None for t in instants):
            raise ValueError(f"meter {self.serial_number}: installed_*/windows must be timezone-aware")


@dataclass(frozen=True)
class Agreement:
    """A tariff for a meter point over [valid_from, valid_to).

    A `date` means local midnight; an aware `datetime` is an exact instant (a mid-day switch), and a
    naive one is local time.
    """

    tariff_code: str
    valid_from: date | datetime
    valid_to: date | datetime | None = None


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

    def meter(self, serial_number: str) -> Meter | None:
        return next((meter for meter in self.meters if meter.serial_number == serial_number), None)


@dataclass(frozen=True)
class Property:
    """A supply address; readings start at move-in.

    They stop at move-out unless `readings_after_move_out`: the real API keeps serving a meter's
    history after the account left (the next occupant's usage), so clients must clip by tenancy.
    """

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
    readings_after_move_out: bool = False


@dataclass(frozen=True)
class Household:
    """One Octopus account: the root of the synthetic data, extendable with more properties/meters."""

    account_number: str
    seed: int
    timezone: str
    properties: tuple[Property, ...] = field(default_factory=tuple)
    # Intelligent Octopus: the import MPAN an EV charger (device `device_id`) draws on during its dispatches.
    ev_mpan: str | None = None
    device_id: str | None = None
    extra_dispatches: tuple[Dispatch, ...] = ()  # beyond the daily ones of `ev_dispatches`
    api_key: str | None = None  # its own key, besides the simulator's shared one

    def dispatches(self, lo: datetime, hi: datetime) -> list[Dispatch]:
        """The EV's dispatches overlapping [lo, hi), oldest first (none without an EV)."""
        if self.ev_mpan is None:
            return []
        tz = self.tz
        day, last = lo.astimezone(tz).date() - timedelta(days=1), hi.astimezone(tz).date()
        found = []
        while day <= last:
            found += [d for d in ev_dispatches(day, tz) if d.start < hi and d.end > lo]
            day += timedelta(days=1)
        extra = [d for d in self.extra_dispatches if d.start < hi and d.end > lo]
        return sorted(found + extra, key=lambda d: d.start)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def find_meter_point(
        self, fuel: Fuel, identifier: str, serial_number: str
    ) -> tuple[Property, MeterPoint] | None:
        """The property and meter point for a consumption URL, or None if it is not this account's."""
        found = self.find_meter(fuel, identifier, serial_number)
        return None if found is None else found[:2]

    def find_meter(
        self, fuel: Fuel, identifier: str, serial_number: str
    ) -> tuple[Property, MeterPoint, Meter] | None:
        """The property, meter point and meter for a consumption URL, or None if not this account's."""
        for prop in self.properties:
            for point in prop.meter_points:
                meter = (
                    point.meter(serial_number) if point.fuel == fuel and point.identifier == identifier else None
                )
                if meter is not None:
                    return prop, point, meter
        return None

    def iter_meter_points(self) -> Iterator[tuple[Property, MeterPoint]]:
        return ((prop, point) for prop in self.properties for point in prop.meter_points)

    def readings_window(self, prop: Property, now: datetime, meter: Meter | None = None) -> Window:
        """UTC [start, end) of existing half-hour readings: move-in until local midnight today.

        Today's readings are "not yet available", like the real API, which publishes a day later.
        Move-out ends them unless the property serves readings after move-out; a `meter` narrows the
        window to its installed period.
        """
        tz = self.tz
        today = now.astimezone(tz).date()
        last_day = min(today, prop.moved_out) if prop.moved_out and not prop.readings_after_move_out else today
        lo = local_midnight(prop.moved_in, tz).astimezone(UTC)
        hi = local_midnight(last_day, tz).astimezone(UTC)
        if meter is not None and meter.installed_from is not None:
            lo = max(lo, ceil_half_hour(meter.installed_from))
        if meter is not None and meter.installed_to is not None:
            hi = min(hi, ceil_half_hour(meter.installed_to))
        return lo, hi

    def consumption(self, point: MeterPoint, interval_start: datetime, meter: Meter | None = None) -> float:
        """Reading (kWh, or m³ for gas) for the half-hour starting at `interval_start`, 3 decimals.

        A gas `meter` whose unit is "kWh" (SMETS1) reports the same gas converted to kWh.
        """
        profile = LOAD_PROFILES[point.load_profile]
        value = max(0.0, profile(self.seed, point.identifier, interval_start.astimezone(UTC), self.tz))
        if point.fuel == "gas" and meter is not None and meter.unit == "kWh":
            value *= GAS_KWH_PER_M3
        if point.identifier == self.ev_mpan:  # the car, charging at EV_KW during its dispatches
            end = interval_start + HALF_HOUR
            value += sum(
                EV_KW * (min(d.end, end) - max(d.start, interval_start)).total_seconds() / 3600
                for d in self.dispatches(interval_start, end)
            )
        if meter is not None and any(a <= interval_start < b for a, b in meter.negative):
            value = -value
        return round(value, 3)

    def earliest_date(self) -> date | None:
        """The first local date any property or agreement of this account starts on."""
        tz = self.tz
        days = [prop.moved_in for prop in self.properties] + [
            _local_date(agreement.valid_from, tz)
            for _, point in self.iter_meter_points()
            for agreement in point.agreements
        ]
        return min(days, default=None)

    def to_json(self) -> Row:
        """The `/v1/accounts/{number}/` body."""
        tz = self.tz

        def stamp(moment: date | datetime | None) -> str | None:
            return None if moment is None else iso_local(_instant(moment, tz), tz)

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


EV_KW = 7.0


@dataclass(frozen=True)
class Dispatch:
    """An Intelligent Octopus charge: `smart-charge` (Octopus's plan, billed at the off-peak rate whenever it
    runs) or `bump-charge` (the customer's, billed as usual)."""

    start: datetime  # UTC
    end: datetime
    source: str

    @property
    def kwh(self) -> float:
        return EV_KW * (self.end - self.start).total_seconds() / 3600


def ev_dispatches(day: date, tz: ZoneInfo) -> list[Dispatch]:
    """Each local day: smart charges 00:00-02:00 (inside the off-peak window; 3 hours on the day the clocks go
    back) and 13:00-14:00 (outside it), and a bump charge 18:00-18:30."""

    def at(hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(UTC)

    return [
        Dispatch(at(0), at(2), "smart-charge"),
        Dispatch(at(13), at(14), "smart-charge"),
        Dispatch(at(18), at(18, 30), "bump-charge"),
    ]


def _instant(moment: date | datetime, tz: ZoneInfo) -> datetime:
    """A date as local midnight, a naive datetime as local time, an aware one as it is."""
    if isinstance(moment, datetime):
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
    return local_midnight(moment, tz)


def _local_date(moment: date | datetime, tz: ZoneInfo) -> date:
    return _instant(moment, tz).astimezone(tz).date()


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


# --------------------------------------------------------------------------- messy scenarios


def economy7_household(seed: int = 1, timezone: str = "Europe/London") -> Household:
    """A-E7000001: Economy 7 import (storage heaters overnight) and an Agile Outgoing export, no gas."""
    start = date(2024, 1, 1)
    importer = Meter("21E7000001", (Register("1", "DAY"), Register("2", "NIGHT")))
    exporter = Meter("21E7000001", (Register(),))
    points = (
        MeterPoint(
            "electricity", "1100000000071", "economy7-import", (importer,),
            (Agreement("E-2R-VAR-22-11-01-C", start),), consumption_standard=6500, profile_class=2,
        ),
        MeterPoint(
            "electricity", "1100000000072", "solar-export", (exporter,),
            (Agreement("E-1R-AGILE-OUTGOING-19-05-13-C", start),),
            consumption_standard=0, profile_class=8, is_export=True,
        ),
    )  # fmt: skip
    prop = Property(1100001, start, None, points, "7 Night Storage Lane", town="Heaterby", postcode="E7 7EE")
    return Household("A-E7000001", seed, timezone, (prop,))


def moved_household(seed: int = 1, timezone: str = "Europe/London") -> Household:
    """A-MOVE0001: moved house on 2024-06-15; the old meters keep reporting (the next occupant)."""
    moved = date(2024, 6, 15)
    old_points = (
        MeterPoint(
            "electricity", "1200000000011", "domestic-import", (Meter("21M0000011", (Register(),)),),
            (Agreement("E-1R-VAR-22-11-01-C", date(2024, 1, 1)),), consumption_standard=3100, profile_class=1,
        ),
        MeterPoint(
            "gas", "4000000011", "gas-heating", (Meter("G4S2000011", unit="m3"),),  # SMETS2: m³
            (Agreement("G-1R-VAR-22-11-01-C", date(2024, 1, 1)),), consumption_standard=12000,
        ),
    )  # fmt: skip
    new_points = (
        MeterPoint(
            "electricity", "1200000000022", "domestic-import", (Meter("21M0000022", (Register(),)),),
            (
                Agreement("E-1R-VAR-22-11-01-C", moved, date(2024, 10, 1)),
                Agreement("E-1R-AGILE-24-10-01-C", date(2024, 10, 1)),
            ),
            consumption_standard=2700, profile_class=1,
        ),
        MeterPoint(
            "gas", "4000000022", "gas-heating", (Meter("G4S1000022", unit="kWh"),),  # SMETS1: kWh
            (Agreement("G-1R-VAR-22-11-01-C", moved),), consumption_standard=9000,
        ),
    )  # fmt: skip
    old = Property(
        2000001, date(2024, 1, 1), moved, old_points, "10 Old Road", town="Oldtown", postcode="OL1 1AA",
        readings_after_move_out=True,
    )  # fmt: skip
    new = Property(2000002, moved, None, new_points, "22 New Street", town="Newtown", postcode="NE2 2BB")
    return Household("A-MOVE0001", seed, timezone, (old, new))


def switch_household(seed: int = 1, timezone: str = "Europe/London") -> Household:
    """A-SWCH0001: VAR to Agile at 13:30 local on 2024-06-12, a meter replaced on 2024-08-01, and a
    second meter point whose consumption endpoint never has data."""
    tz = ZoneInfo(timezone)
    switch = datetime(2024, 6, 12, 13, 30, tzinfo=tz)
    replaced = local_midnight(date(2024, 8, 1), tz)
    meters = (
        Meter("21S0000001", (Register(),), installed_to=replaced),
        Meter("21S0000002", (Register(),), installed_from=replaced),
    )
    points = (
        MeterPoint(
            "electricity", "1300000000001", "domestic-import", meters,
            (
                Agreement("E-1R-VAR-22-11-01-C", date(2024, 1, 1), switch),
                Agreement("E-1R-AGILE-24-10-01-C", switch),
            ),
            consumption_standard=2900, profile_class=1,
        ),
        MeterPoint(
            "electricity", "1300000000002", "domestic-import",
            (Meter("21S0000009", (Register(),), reports_consumption=False),),
            (Agreement("E-1R-VAR-22-11-01-C", date(2024, 1, 1)),), consumption_standard=2900, profile_class=1,
        ),
    )  # fmt: skip
    prop = Property(
        1300001, date(2024, 1, 1), None, points, "3 Switchback Close", town="Swapton", postcode="SW3 3CH"
    )
    return Household("A-SWCH0001", seed, timezone, (prop,))


def gaps_household(seed: int = 1, timezone: str = "Europe/London") -> Household:
    """A-GAPS0001: 02:00-03:30 local missing on 2024-06-12, 10:00-12:00 local doubled on 2024-06-13,
    and 18:00-19:00 local reported negative on 2024-06-14."""
    tz = ZoneInfo(timezone)

    def local(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2024, 6, day, hour, minute, tzinfo=tz).astimezone(UTC)

    meter = Meter(
        "21G0000001",
        (Register(),),
        gaps=((local(12, 2), local(12, 3, 30)),),
        duplicates=((local(13, 10), local(13, 12)),),
        negative=((local(14, 18), local(14, 19)),),
    )
    point = MeterPoint(
        "electricity", "1400000000001", "domestic-import", (meter,),
        (Agreement("E-1R-VAR-22-11-01-C", date(2024, 1, 1)),), consumption_standard=2900, profile_class=1,
    )  # fmt: skip
    prop = Property(
        1400001, date(2024, 1, 1), None, (point,), "4 Patchy Row", town="Holeborough", postcode="GA4 4PS"
    )
    return Household("A-GAPS0001", seed, timezone, (prop,))


def intelligent_household(seed: int = 1, timezone: str = "Europe/London") -> Household:
    """A-IOG00001: Intelligent Octopus Go import with an EV charger (smart and bump charges every day), and a
    SMETS1 gas meter that reports m³ (GraphQL's `consumptionUnits` says so; the seed's SMETS1 rule would not)."""
    start = date(2024, 1, 1)
    points = (
        MeterPoint(
            "electricity", "1500000000001", "domestic-import", (Meter("21I0000001", (Register(),)),),
            (Agreement("E-1R-INTELLI-VAR-22-10-14-C", start),), consumption_standard=5000, profile_class=1,
        ),
        MeterPoint(
            "gas", "5000000001", "gas-heating", (Meter("E6S1000000099", unit="m3"),),
            (Agreement("G-1R-VAR-22-11-01-C", start),), consumption_standard=11000,
        ),
    )  # fmt: skip
    prop = Property(1500001, start, None, points, "5 Charging Way", town="Voltbury", postcode="IO5 5GO")
    device = "00000000-0000-4000-8000-000000000001"
    return Household("A-IOG00001", seed, timezone, (prop,), ev_mpan="1500000000001", device_id=device)


SCENARIOS: dict[str, Callable[..., Household]] = {
    "default": default_household,
    "economy7": economy7_household,
    "moved": moved_household,
    "switch": switch_household,
    "gaps": gaps_household,
    "intelligent": intelligent_household,
}


GENERATED_KINDS = ("agile", "economy7", "fixed", "intelligent")


def generated_api_key(index: int) -> str:
    return f"sk_test_household_{index:05d}"


def generated_households(count: int, seed: int = 1, timezone: str = "Europe/London") -> list[Household]:
    """`count` distinct households for many-household tests and benchmarks. Household i (from 1) is account
    A-GEN{i:05d} with key `generated_api_key(i)`, in region REGIONS[i % 14], and in turn: Agile with an Agile
    Outgoing export and SMETS2 gas; Economy 7; VAR then a 12-month fix from 2024-11-01, with SMETS1 gas; or
    Intelligent Octopus Go with an EV charger. Readings are seeded by the household, so each is different."""
    start, fixed_from = date(2024, 1, 1), date(2024, 11, 1)
    households = []
    for index in range(1, count + 1):
        kind, region = GENERATED_KINDS[(index - 1) % len(GENERATED_KINDS)], REGIONS[index % len(REGIONS)]
        mpan = [f"16{index:06d}{k:05d}" for k in (1, 2)]
        serial = f"21G{index:06d}"

        def tariff(code: str, region: str = region) -> str:
            return f"{code}-{region}"

        points: list[MeterPoint] = []
        if kind == "economy7":
            meter = Meter(serial, (Register("1", "DAY"), Register("2", "NIGHT")))
            agreements = (Agreement(tariff("E-2R-VAR-22-11-01"), start),)
            points.append(MeterPoint("electricity", mpan[0], "economy7-import", (meter,), agreements,
                                     consumption_standard=6000, profile_class=2))  # fmt: skip
        else:
            agreements = {
                "agile": (Agreement(tariff("E-1R-AGILE-24-10-01"), start),),
                "fixed": (
                    Agreement(tariff("E-1R-VAR-22-11-01"), start, fixed_from),
                    Agreement(tariff("E-1R-OE-FIX-12M-24-11-01"), fixed_from),
                ),
                "intelligent": (Agreement(tariff("E-1R-INTELLI-VAR-22-10-14"), start),),
            }[kind]
            meter = Meter(serial, (Register(),))
            points.append(MeterPoint("electricity", mpan[0], "domestic-import", (meter,), agreements,
                                     consumption_standard=3000 + 50 * (index % 20), profile_class=1))  # fmt: skip
        if kind == "agile":
            export = (Agreement(tariff("E-1R-AGILE-OUTGOING-19-05-13"), start),)
            points.append(MeterPoint("electricity", mpan[1], "solar-export", (meter,), export,
                                     consumption_standard=0, profile_class=8, is_export=True))  # fmt: skip
        if kind in ("agile", "fixed"):
            gas = Meter(f"G4G{index:07d}", unit="m3" if kind == "agile" else "kWh")
            points.append(MeterPoint("gas", f"7{index:06d}001", "gas-heating", (gas,),
                                     (Agreement(tariff("G-1R-VAR-22-11-01"), start),),
                                     consumption_standard=11000))  # fmt: skip
        prop = Property(3000000 + index, start, None, tuple(points), f"{index} Generated Street", town="Manyton")
        ev = (
            {"ev_mpan": mpan[0], "device_id": f"00000000-0000-4000-8000-{index:012d}"}
            if kind == "intelligent"
            else {}
        )
        households.append(
            Household(f"A-GEN{index:05d}", seed + index, timezone, (prop,), api_key=generated_api_key(index), **ev)
        )
    return households


def all_scenarios(seed: int = 1, timezone: str = "Europe/London") -> list[Household]:
    """One household per scenario, the demo account (A-DEMO0001) first; identifiers never clash."""
    return [build(seed=seed, timezone=timezone) for build in SCENARIOS.values()]


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


def economy7_import(seed: int, key: str, start: datetime, tz: ZoneInfo) -> float:
    """kWh: domestic import plus storage heaters / an EV at 1.0-1.5 per half-hour 00:30-07:30 UTC."""
    utc = start.astimezone(UTC)
    if 30 <= utc.hour * 60 + utc.minute < 450:  # the Economy 7 night, fixed in GMT all year
        return 1.0 + 0.5 * unit_floats(seed, key, "night", utc.isoformat())[0]
    return domestic_import(seed, key, start, tz)


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
    "economy7-import": economy7_import,
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


Run = tuple[datetime, int, int]  # first interval start, half-hours, copies of each row


def _runs(lo: datetime, hi: datetime, gaps: Sequence[Window], duplicates: Sequence[Window]) -> list[Run]:
    """Oldest-first runs of half-hours in [lo, hi), without `gaps`, doubled inside `duplicates`.

    Window bounds are rounded up to the half-hour grid, so a window [a, b) holds the starts a <= s < b.
    """
    if lo >= hi:
        return []
    gaps = [(ceil_half_hour(a), ceil_half_hour(b)) for a, b in gaps]
    duplicates = [(ceil_half_hour(a), ceil_half_hour(b)) for a, b in duplicates]
    cuts = {lo, hi} | {t for window in (*gaps, *duplicates) for t in window if lo < t < hi}
    edges = sorted(cuts)
    runs = []
    for first, last in zip(edges, edges[1:], strict=False):
        if any(a <= first < b for a, b in gaps):
            continue
        copies = 2 if any(a <= first < b for a, b in duplicates) else 1
        runs.append((first, half_hours(first, last), copies))
    return runs


def _run_starts(runs: Sequence[Run], first: datetime, last: datetime) -> Iterator[datetime]:
    """Each present half-hour start in [first, last) once, oldest first."""
    for start, count, _ in runs:
        end = start + HALF_HOUR * count
        lo, hi = max(start, first), min(end, last)
        if lo < hi:
            offset = half_hours(start, lo)
            yield from (start + HALF_HOUR * k for k in range(offset, offset + half_hours(lo, hi)))


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
    meter: Meter | None = None,
) -> Sequence[Row]:
    """Readings with interval_start in [period_from, period_to), as the API's `results` rows.

    `sloppy` adds one half-hour before period_from and one after period_to (the real API does this
    sometimes); `duplicate` repeats every row. Both exist to test the client's defensiveness.
    A `meter` applies its installed period, gaps, duplicated windows, unit and no-data flag; grouped
    rows sum each present half-hour once and skip periods with no readings at all.
    """
    if meter is not None and not meter.reports_consumption:
        return []
    tz = household.tz
    available_from, available_to = household.readings_window(prop, now, meter)
    lo = ceil_half_hour(period_from) if period_from else available_from
    hi = ceil_half_hour(period_to) if period_to else available_to
    if sloppy:
        lo -= HALF_HOUR if period_from else timedelta()
        hi += HALF_HOUR if period_to else timedelta()
    lo, hi = max(lo, available_from), min(hi, available_to)
    runs = _runs(lo, hi, meter.gaps, meter.duplicates) if meter is not None else _runs(lo, hi, (), ())

    def row(start: datetime, end: datetime, value: float) -> Row:
        return {
            "consumption": value,
            "interval_start": iso_local(start, tz),
            "interval_end": iso_local(end, tz),
        }

    rows: Sequence[Row]
    if group_by is None:
        ends = [0]  # cumulative row counts: run k holds rows [ends[k], ends[k + 1])
        for _, count, copies in runs:
            ends.append(ends[-1] + count * copies)
        total = ends[-1]

        def half_hour_row(i: int) -> Row:
            index = (total - 1 - i) if newest_first else i
            k = bisect.bisect_right(ends, index) - 1
            first, _, copies = runs[k]
            start = first + HALF_HOUR * ((index - ends[k]) // copies)
            return row(start, start + HALF_HOUR, household.consumption(point, start, meter))

        rows = LazyRows(total, half_hour_row)
    else:
        groups = _groups(lo, hi, group_by, tz) if lo < hi else []
        if meter is not None and meter.gaps:  # a period entirely inside a gap has no row
            groups = [g for g in groups if next(_run_starts(runs, *g), None) is not None]
        if newest_first:
            groups.reverse()

        def group_row(i: int) -> Row:
            start, end = groups[i]
            total = sum(household.consumption(point, s, meter) for s in _run_starts(runs, start, end))
            return row(start, end, round(total, 3))

        rows = LazyRows(len(groups), group_row)
    return doubled(rows) if duplicate else rows


# --------------------------------------------------------------------------- tariffs


@dataclass(frozen=True)
class RateSchedule:
    """How one rate series of a tariff moves.

    "quarterly" steps, "daily" steps (Tracker: a price per local day), "go" (`low` 00:30-05:30 local time,
    `high` otherwise), "intelligent" (`low` 23:30-05:30), "agile" / "agile-outgoing" half-hours, "fixed" (one
    open-ended row from the history start) or "timeless" (one row with null valid_from and valid_to, as Agile
    Outgoing's standing charge).
    """

    kind: Literal["quarterly", "daily", "go", "intelligent", "agile", "agile-outgoing", "fixed", "timeless"]
    low: float = 0.0  # p/kWh or p/day, exc VAT
    high: float = 0.0
    payment_methods: tuple[str | None, ...] = (None,)
    vat: bool = True


# The fourteen regions (GSP groups) of Great Britain, by the letter that ends a tariff code.
REGIONS = "ABCDEFGHJKLMNP"


@dataclass(frozen=True)
class Tariff:
    """A tariff code and its rate series; a rate type mapped to None exists but has no rows. Prices exist from
    `available_from` (else from the simulator's history start)."""

    code: str
    full_name: str
    is_variable: bool
    rates: dict[str, RateSchedule | None]
    available_from: date | None = None

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

    @property
    def region(self) -> str:
        return self.code[-1]


def _catalogue(*offers: tuple[Tariff, str]) -> dict[str, Tariff]:
    """Each tariff (written for region C) in each of its regions; prices differ by region (they are seeded by
    the code), except Agile's and Tracker's wholesale-driven shapes."""
    return {
        f"{tariff.code[:-1]}{region}": replace(tariff, code=f"{tariff.code[:-1]}{region}")
        for tariff, regions in offers
        for region in regions
    }


TARIFFS: dict[str, Tariff] = _catalogue(
    (Tariff("E-1R-VAR-22-11-01-C", "Flexible Octopus November 2022 v1", True, {
        "standard-unit-rates": RateSchedule("quarterly", 22.0, 30.0, DIRECT_DEBIT_AND_NOT),
        "standing-charges": RateSchedule("quarterly", 45.0, 55.0, DIRECT_DEBIT_AND_NOT),
    }), REGIONS),
    (Tariff("E-2R-VAR-22-11-01-C", "Flexible Octopus November 2022 v1 (Economy 7)", True, {
        "day-unit-rates": RateSchedule("quarterly", 28.0, 32.0, DIRECT_DEBIT_AND_NOT),
        "night-unit-rates": RateSchedule("quarterly", 12.0, 14.0, DIRECT_DEBIT_AND_NOT),
        "standing-charges": RateSchedule("quarterly", 45.0, 55.0, DIRECT_DEBIT_AND_NOT),
    }), REGIONS),
    (Tariff("E-1R-AGILE-24-10-01-C", "Agile Octopus October 2024 v1", True, {
        "standard-unit-rates": RateSchedule("agile"),
        "standing-charges": RateSchedule("quarterly", 46.0, 50.0),
    }), REGIONS),
    (Tariff("E-1R-GO-VAR-22-10-14-C", "Octopus Go October 2022 v1", True, {
        "standard-unit-rates": RateSchedule("go", 8.5, 26.0),
        "standing-charges": RateSchedule("quarterly", 46.0, 50.0),
    }), REGIONS),
    (Tariff("E-1R-INTELLI-VAR-22-10-14-C", "Intelligent Octopus Go October 2022 v1", True, {
        "standard-unit-rates": RateSchedule("intelligent", 7.0, 27.0),
        "standing-charges": RateSchedule("quarterly", 46.0, 50.0),
    }), REGIONS),
    (Tariff("E-1R-SILVER-24-12-31-C", "Octopus Tracker December 2024 v1", True, {
        "standard-unit-rates": RateSchedule("daily", 18.0, 28.0),
        "standing-charges": RateSchedule("quarterly", 44.0, 48.0),
    }), REGIONS),
    # Offered in the north-west and the midlands only: elsewhere the product has no tariff for the region.
    (Tariff("E-1R-COSY-22-12-08-C", "Cosy Octopus December 2022 v1", True, {
        "standard-unit-rates": RateSchedule("quarterly", 20.0, 24.0),
        "standing-charges": RateSchedule("quarterly", 46.0, 50.0),
    }), "DEFG"),
    # Launched on 1 November 2024: no prices before then.
    (Tariff("E-1R-OE-FIX-12M-24-11-01-C", "Octopus 12M Fixed November 2024 v1", False, {
        "standard-unit-rates": RateSchedule("fixed", 23.5),
        "standing-charges": RateSchedule("fixed", 47.0),
    }, available_from=date(2024, 11, 1)), REGIONS),
    (Tariff("E-1R-OUTGOING-FIX-12M-19-05-13-C", "Outgoing Octopus 12M Fixed May 2019", False, {
        "standard-unit-rates": RateSchedule("fixed", 15.0, vat=False),
        "standing-charges": None,
    }), REGIONS),
    (Tariff("E-1R-AGILE-OUTGOING-19-05-13-C", "Agile Outgoing Octopus May 2019", True, {
        "standard-unit-rates": RateSchedule("agile-outgoing", vat=False),
        "standing-charges": RateSchedule("timeless", 0.0, vat=False),
    }), REGIONS),
    (Tariff("G-1R-VAR-22-11-01-C", "Flexible Octopus November 2022 v1", True, {
        "standard-unit-rates": RateSchedule("quarterly", 5.5, 7.5, DIRECT_DEBIT_AND_NOT),
        "standing-charges": RateSchedule("quarterly", 27.0, 32.0, DIRECT_DEBIT_AND_NOT),
    }), REGIONS),
    (Tariff("G-1R-SILVER-24-12-31-C", "Octopus Tracker December 2024 v1", True, {
        "standard-unit-rates": RateSchedule("daily", 4.5, 8.0),
        "standing-charges": RateSchedule("quarterly", 28.0, 31.0),
    }), REGIONS),
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


def agile_outgoing_price(seed: int, start: datetime, tz: ZoneInfo) -> float:
    """p/kWh (no VAT on export) for the half-hour at `start`: follows Agile, 4.5-20p, never negative."""
    return round(min(4.5 + 0.35 * max(agile_price(seed, start, tz), 0.0), 20.0), 2)


def agile_published_until(now: datetime, tz: ZoneInfo) -> datetime:
    """End (UTC) of published Agile prices: as in reality, the prices published at 16:00 local run from
    23:00 today to 23:00 tomorrow, so a day's last hour is only known on the day itself."""
    local = now.astimezone(tz)
    day = local.date() + timedelta(days=1 if local.hour >= 16 else 0)
    return datetime.combine(day, time(23), tzinfo=tz).astimezone(UTC)


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
    """Chronological (valid_from, valid_to, value exc VAT) periods; a quarterly or fixed one is open-ended."""
    if schedule.kind == "fixed":
        return [(local_midnight(history_start, tz).astimezone(UTC), None, schedule.low)]
    if schedule.kind == "daily":
        return _daily_periods(seed, tariff, rate_type, schedule, tz, history_start, now)
    if schedule.kind in OFF_PEAK_WINDOWS:
        return _window_periods(schedule, tz, history_start, now)
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


def _last_published_day(now: datetime, tz: ZoneInfo) -> date:
    """Day-ahead prices (Tracker's, Go's) are out for tomorrow from 16:00 local time."""
    local = now.astimezone(tz)
    return local.date() + timedelta(days=1 if local.hour >= 16 else 0)


def _daily_periods(seed, tariff, rate_type, schedule, tz, history_start, now):
    """Tracker: one price per local day, from midnight to midnight (23 or 25 hours on clock-change days)."""
    periods = []
    day, last = history_start, _last_published_day(now, tz)
    while day <= last:
        noise = unit_floats(seed, tariff.product_code, rate_type, day.isoformat())[0]
        value = round(schedule.low + (schedule.high - schedule.low) * noise, 2)
        following = day + timedelta(days=1)
        periods.append(
            (local_midnight(day, tz).astimezone(UTC), local_midnight(following, tz).astimezone(UTC), value)
        )
        day = following
    return periods


# The cheap window of each time-of-use kind, in local clock time: (start, end), crossing midnight if end < start.
OFF_PEAK_WINDOWS = {"go": (time(0, 30), time(5, 30)), "intelligent": (time(23, 30), time(5, 30))}


def _window_periods(schedule, tz, history_start, now):
    """Go and Intelligent Octopus Go: `low` inside the day's off-peak window by the local clock, `high` outside."""
    low_start, low_end = OFF_PEAK_WINDOWS[schedule.kind]
    boundaries = [local_midnight(history_start, tz).astimezone(UTC)]
    day, last = history_start - timedelta(days=1), _last_published_day(now, tz)
    while day <= last:
        for moment in sorted((low_start, low_end)):
            boundaries.append(datetime.combine(day + timedelta(days=1), moment, tzinfo=tz).astimezone(UTC))
        day += timedelta(days=1)
    boundaries = sorted(b for b in set(boundaries) if b >= boundaries[0])
    return [
        (
            start,
            end,
            schedule.low if _in_window(start.astimezone(tz).time(), low_start, low_end) else schedule.high,
        )
        for start, end in zip(boundaries, boundaries[1:], strict=False)
    ]


def _in_window(moment: time, start: time, end: time) -> bool:
    return start <= moment < end if start < end else moment >= start or moment < end


def _rate_row(
    value_exc_vat: float, vat: bool, valid_from: datetime | None, valid_to: datetime | None, method: str | None
) -> Row:
    return {
        "value_exc_vat": value_exc_vat,
        "value_inc_vat": round(value_exc_vat * VAT, 4) if vat else value_exc_vat,
        "valid_from": iso_utc(valid_from) if valid_from else None,
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
    history_start = max(history_start, tariff.available_from or history_start)
    if schedule.kind == "timeless":  # valid for ever, so it overlaps any window
        return [_rate_row(schedule.low, schedule.vat, None, None, method) for method in schedule.payment_methods]
    if schedule.kind in ("agile", "agile-outgoing"):
        price = agile_price if schedule.kind == "agile" else agile_outgoing_price
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
            return _rate_row(price(seed, start, tz), schedule.vat, start, start + HALF_HOUR, None)

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
