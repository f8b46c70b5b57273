"""The InfluxDB schema, declared once: measurements, their fields and the tags the pipeline writes.

Seed measurements keep the seed's names so existing Grafana dashboards keep working: renaming anything
here is a breaking change for users. Everything else in the project imports these names.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..pricing import COST_COLUMNS, PRICE_COLUMNS

# Columns every points frame has besides tags and fields.
MEASUREMENT = "measurement"
TIME = "time"

TARIFF_CODE_TAG = "tariff_code"
# Identifying tags of our own measurements, always written (the seed's tags are opt-in via included_tags).
ACCOUNT_NUMBER = "account_number"
FUEL = "fuel"
METER_POINT = "meter_point"
METER_SERIAL_NUMBER = "meter_serial_number"
IS_EXPORT = "is_export"
UNIT = "unit"
PROPERTY_TAGS = (
    "property_address_line_1",
    "property_address_line_2",
    "property_address_line_3",
    "property_town",
    "property_postcode",
)


@dataclass(frozen=True)
class Measurement:
    name: str
    fields: tuple[str, ...]
    string_fields: tuple[str, ...] = ()

    @property
    def all_fields(self) -> tuple[str, ...]:
        return self.fields + self.string_fields


# `account`: one point per meter and agreement in force, at the later of the agreement's start and the day's.
ACCOUNT_METERS = Measurement(
    "account_meters", fields=(), string_fields=("agreement_valid_from", "agreement_valid_to")
)
# `meter_consumption`: what the meter reported (kWh, or m³ for SMETS2 gas) and its energy in kWh.
METER_CONSUMPTION = Measurement("meter_consumption", fields=("consumption", "usage_kwh"))
# `tariff_rates`: unit price (p/kWh) and daily standing charge (p/day) in force at each interval.
ELECTRICITY_PRICING = Measurement("electricity_pricing", fields=PRICE_COLUMNS)
GAS_PRICING = Measurement("gas_pricing", fields=PRICE_COLUMNS)
# `priced_consumption`: usage and cost per interval (export meters negative).
ELECTRICITY_CONSUMPTION = Measurement("electricity_consumption", fields=("usage_kwh", *COST_COLUMNS))
GAS_CONSUMPTION = Measurement("gas_consumption", fields=("usage_kwh", *COST_COLUMNS))

MEASUREMENTS = {
    m.name: m
    for m in (
        ACCOUNT_METERS,
        METER_CONSUMPTION,
        ELECTRICITY_PRICING,
        GAS_PRICING,
        ELECTRICITY_CONSUMPTION,
        GAS_CONSUMPTION,
    )
}
PRICING_BY_FUEL = {"electricity": ELECTRICITY_PRICING, "gas": GAS_PRICING}
CONSUMPTION_BY_FUEL = {"electricity": ELECTRICITY_CONSUMPTION, "gas": GAS_CONSUMPTION}

# Which measurements each asset owns: the IO manager replaces exactly these for a partition's window.
ASSET_MEASUREMENTS = {
    "account": (ACCOUNT_METERS,),
    "meter_consumption": (METER_CONSUMPTION,),
    "tariff_rates": (ELECTRICITY_PRICING, GAS_PRICING),
    "priced_consumption": (ELECTRICITY_CONSUMPTION, GAS_CONSUMPTION),
}
