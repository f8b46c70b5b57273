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
