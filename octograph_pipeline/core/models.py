"""The account as typed records, parsed once from the API's JSON: properties, their meter points (fuel, MPAN or
MPRN, import or export), meters, and agreements whose validity is in UTC and clipped to the tenancy.

A moved-out property still counts for the days it was lived in: an agreement that outlives the tenancy (they
often do) stops at `moved_out_at`, and one wholly outside it is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# Where each fuel's meter point keeps its id in the JSON, and what the id is called.
POINT_ID_KEY = {"electricity": "mpan", "gas": "mprn"}
POINT_ID_NAME = {"electricity": "MPAN", "gas": "MPRN"}
FUELS = tuple(POINT_ID_KEY)


def overlaps(valid_from: pd.Timestamp | None, valid_to: pd.Timestamp | None, start, end) -> bool:
    """Whether [valid_from, valid_to) (None: open) meets [start, end)."""
    return (valid_from is None or valid_from < end) and (valid_to is None or valid_to > start)


@dataclass(frozen=True)
class Agreement:
    tariff_code: str
    valid_from: pd.Timestamp | None  # UTC; None: open
    valid_to: pd.Timestamp | None

    def in_force(self, start: pd.Timestamp, end: pd.Timestamp) -> bool:
        return overlaps(self.valid_from, self.valid_to, start, end)


@dataclass(frozen=True)
class Meter:
    serial_number: str


@dataclass(frozen=True)
class MeterPoint:
    fuel: str  # "electricity" | "gas"
    id: str  # the MPAN or MPRN
    is_export: bool
    meters: tuple[Meter, ...]
    agreements: tuple[Agreement, ...]  # within the tenancy


@dataclass(frozen=True)
class Property:
    id: str
    address: dict[str, str]  # address_line_1..3, town, postcode ('' when absent)
    moved_in_at: pd.Timestamp | None
    moved_out_at: pd.Timestamp | None
    meter_points: tuple[MeterPoint, ...]

    def lived_in(self, start: pd.Timestamp, end: pd.Timestamp) -> bool:
        return overlaps(self.moved_in_at, self.moved_out_at, start, end)


@dataclass(frozen=True)
class Account:
    number: str
    properties: tuple[Property, ...]


ADDRESS_FIELDS = ("address_line_1", "address_line_2", "address_line_3", "town", "postcode")


def parse_account(data: dict, number: str) -> Account:
    """The `/accounts/{number}/` answer as records (`number` when the answer does not repeat it)."""
    return Account(str(data.get("number") or number), tuple(_property(one) for one in data.get("properties", [])))


def _utc(value) -> pd.Timestamp | None:
    return None if value in (None, "") else pd.Timestamp(value).tz_convert("UTC")


def _later(a: pd.Timestamp | None, b: pd.Timestamp | None) -> pd.Timestamp | None:
    return a if b is None else b if a is None else max(a, b)


def _earlier(a: pd.Timestamp | None, b: pd.Timestamp | None) -> pd.Timestamp | None:
    return a if b is None else b if a is None else min(a, b)


def _property(data: dict) -> Property:
    moved_in, moved_out = _utc(data.get("moved_in_at")), _utc(data.get("moved_out_at"))
    points = tuple(
        MeterPoint(
            fuel=fuel,
            id=str(point.get(POINT_ID_KEY[fuel])),
            is_export=bool(point.get("is_export")),
            meters=tuple(Meter(meter.get("serial_number", "")) for meter in point.get("meters", [])),
            agreements=tuple(_within_tenancy(point.get("agreements", []), moved_in, moved_out)),
        )
        for fuel in FUELS
        for point in data.get(f"{fuel}_meter_points", [])
    )
    address = {field: data.get(field) or "" for field in ADDRESS_FIELDS}
    return Property(str(data.get("id", "")), address, moved_in, moved_out, points)


def _within_tenancy(agreements: list[dict], moved_in, moved_out):
    for agreement in agreements:
        valid_from = _later(_utc(agreement.get("valid_from")), moved_in)
        valid_to = _earlier(_utc(agreement.get("valid_to")), moved_out)
        if valid_from is None or valid_to is None or valid_from < valid_to:
            yield Agreement(agreement["tariff_code"], valid_from, valid_to)


# Where the product-detail answer lists each payment method's tariff, preferred first.
PRODUCT_PAYMENT_KEYS = {
    "DIRECT_DEBIT": ("direct_debit_monthly", "direct_debit_quarterly"),
    "NON_DIRECT_DEBIT": ("varying", "direct_debit_monthly"),
}


@dataclass(frozen=True)
class Product:
    """An Octopus product (`AGILE-24-10-01`) and the tariff code it offers per fuel, register count and region."""

    code: str
    name: str
    tariffs: dict[tuple[str, int, str], str]  # (fuel, registers, region letter) -> tariff code

    def tariff_for(self, fuel: str, registers: int, region: str) -> str | None:
        """The tariff a meter of `registers` in `region` would be on: the same kind of tariff if offered, else
        the single-register one (a smart meter reports half-hours whatever its registers); None if neither."""
        return self.tariffs.get((fuel, registers, region)) or self.tariffs.get((fuel, 1, region))


def parse_product(data: dict, payment_method: str) -> Product:
    """The `/products/{code}/` answer: `single_register_electricity_tariffs` → `_C` → `direct_debit_monthly`
    → `code`, and likewise for dual-register and gas tariffs."""
    tariffs = {}
    for fuel in FUELS:
        for registers, kind in ((1, "single"), (2, "dual")):
            for region, by_payment in (data.get(f"{kind}_register_{fuel}_tariffs") or {}).items():
                preferred = [key for key in PRODUCT_PAYMENT_KEYS[payment_method] if key in by_payment]
                entry = by_payment[preferred[0]] if preferred else next(iter(by_payment.values()), None)
                if entry and entry.get("code"):
                    tariffs[(fuel, registers, region.lstrip("_"))] = entry["code"]
    name = data.get("display_name") or data.get("full_name") or ""
    return Product(str(data.get("code", "")), str(name), tariffs)


@dataclass(frozen=True)
class Dispatch:
    """An Intelligent Octopus charging slot: `smart-charge` (Octopus's plan: its half-hours are billed at the
    off-peak rate), `bump-charge` (the customer's: billed as usual); completed, or planned."""

    start: pd.Timestamp  # UTC
    end: pd.Timestamp
    kwh: float
    source: str
    completed: bool


PLANNED_SOURCES = {"SMART": "smart-charge", "BOOST": "bump-charge"}  # flexPlannedDispatches' `type`


def parse_completed_dispatch(row: dict) -> Dispatch:
    """A `completedDispatches` row: `delta` is the energy as a (negative) string; `meta.source` says whose."""
    return Dispatch(
        _utc(row["start"]),
        _utc(row["end"]),
        abs(float(row.get("delta") or 0)),
        str((row.get("meta") or {}).get("source") or "unknown"),
        completed=True,
    )


def parse_planned_dispatch(row: dict) -> Dispatch:
    """A `flexPlannedDispatches` row: `type` SMART, BOOST or TEST; `energyAddedKwh` a string."""
    source = PLANNED_SOURCES.get(str(row.get("type")), str(row.get("type") or "unknown").lower())
    return Dispatch(_utc(row["start"]), _utc(row["end"]), float(row.get("energyAddedKwh") or 0), source, False)


def parse_gas_meter_units(account: dict) -> dict[str, str]:
    """Kraken's `account { properties { gasMeterPoints { meters { serialNumber consumptionUnits } } } }`: each gas
    meter's serial number -> what it reports, "m3" (Kraken's "m³") or "kWh"."""
    return {
        meter["serialNumber"]: "kWh" if (meter.get("consumptionUnits") or "").strip().lower() == "kwh" else "m3"
        for prop in account.get("properties") or []
        for point in prop.get("gasMeterPoints") or []
        for meter in point.get("meters") or []
        if meter.get("serialNumber")
    }
