"""The InfluxDB schema, declared once: the assets, the measurements each owns, their fields and tags.

Seed measurements keep the seed's names so existing Grafana dashboards keep working: renaming anything
here is a breaking change for users. Everything else in the project (config checks, frames, metadata, the
dashboards' tests) imports these names.
"""

from __future__ import annotations

from dataclasses import dataclass


class Asset:
    """The assets' Dagster names (plain strings: Dagster serialises asset keys and refuses enums)."""

    ACCOUNT = "account"
    TARIFF_RATES = "tariff_rates"
    METER_CONSUMPTION = "meter_consumption"
    PRICED_CONSUMPTION = "priced_consumption"
    TARIFF_COMPARISON = "tariff_comparison"  # only with a [comparison] section
    INTELLIGENT_DISPATCHES = "intelligent_dispatches"  # only with [octopus] intelligent_mpan
    CARBON_INTENSITY = "carbon_intensity"  # these two only with [carbon] enabled
    EMISSIONS = "emissions"


# Columns every points frame has besides tags and fields.
MEASUREMENT = "measurement"
TIME = "time"

TARIFF_CODE_TAG = "tariff_code"
# Identifying tags of our own measurements, always written (the seed's tags are opt-in via included_tags).
ACCOUNT_NUMBER = "account_number"
FUEL = "fuel"
METER_POINT = "meter_point"
METER_SERIAL_NUMBER = "meter_serial_number"
IS_EXPORT = "is_export"  # a bool in frames, written as the tag "true"/"false"
BOOLEAN_TAGS = (IS_EXPORT,)
UNIT = "unit"
PROPERTY_ID = "property_id"
PROPERTY_TAGS = (
    "property_address_line_1",
    "property_address_line_2",
    "property_address_line_3",
    "property_town",
    "property_postcode",
)
# A physical meter, and the meter point (MPAN/MPRN) its readings belong to.
METER_KEY = [FUEL, METER_POINT, METER_SERIAL_NUMBER, IS_EXPORT]
POINT_KEY = [FUEL, METER_POINT]
# The seed's `included_tags`: tags it can add from account, meter and agreement information, in its order.
METER_POINT_TAGS = {"electricity": "electricity_mpan", "gas": "gas_mprn"}  # the meter point, by fuel
AGREEMENT_TARIFF_CODE = "agreement_tariff_code"
INCLUDED_TAGS = (
    ACCOUNT_NUMBER,
    *PROPERTY_TAGS,
    *METER_POINT_TAGS.values(),
    METER_SERIAL_NUMBER,
    AGREEMENT_TARIFF_CODE,
)

# Fields (the seed's names). Prices are in pence per kWh or per day, costs in pence; VAT excluded/included.
CONSUMPTION = "consumption"  # as the meter reported it: kWh, or m³ for SMETS2 gas
USAGE_KWH = "usage_kwh"
VAT = ("exc", "inc")
UNIT_PRICE = {vat: f"unit_price_{vat}_vat_price" for vat in VAT}
STANDING_CHARGE = {vat: f"standing_charge_{vat}_vat_price" for vat in VAT}
USAGE_COST = {vat: f"usage_cost_{vat}_vat_pence" for vat in VAT}
STANDING_CHARGE_COST = {vat: f"standing_charge_cost_{vat}_vat_pence" for vat in VAT}
TOTAL_COST = {vat: f"total_cost_{vat}_vat_pence" for vat in VAT}
PRICE_COLUMNS = (*UNIT_PRICE.values(), *STANDING_CHARGE.values())
COST_COLUMNS = (*USAGE_COST.values(), *STANDING_CHARGE_COST.values(), *TOTAL_COST.values())
# What a candidate tariff saves against the actual one (actual - candidate: positive when switching would save).
SAVING = {vat: f"saving_{vat}_vat_pence" for vat in VAT}
PRODUCT_CODE = "product_code"
# The kinds of energy a day's figures keep apart (metadata, the demo's table), never added up.
ENERGY = ("electricity_import_kwh", "electricity_export_kwh", "gas_kwh")
ACTUAL = "actual"  # the product_code of the tariffs actually in force, in `tariff_comparison`


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
AGREEMENT_FROM, AGREEMENT_TO = ACCOUNT_METERS.string_fields
# `meter_consumption`: what the meter reported (kWh, or m³ for SMETS2 gas) and its energy in kWh.
METER_CONSUMPTION = Measurement("meter_consumption", fields=(CONSUMPTION, USAGE_KWH))
# `tariff_rates`: unit price (p/kWh) and daily standing charge (p/day) in force at each interval.
ELECTRICITY_PRICING = Measurement("electricity_pricing", fields=PRICE_COLUMNS)
GAS_PRICING = Measurement("gas_pricing", fields=PRICE_COLUMNS)
# `priced_consumption`: usage and cost per interval (export meters negative).
ELECTRICITY_CONSUMPTION = Measurement("electricity_consumption", fields=(USAGE_KWH, *COST_COLUMNS))
GAS_CONSUMPTION = Measurement("gas_consumption", fields=(USAGE_KWH, *COST_COLUMNS))
# `intelligent_dispatches`: one point per half-hour an Intelligent Octopus dispatch touches (the original's
# measurement and field), tagged with the dispatch's source (smart-charge, bump-charge) and status.
DISPATCH_SOURCE, DISPATCH_STATUS = "source", "status"
SMART_CHARGE, BUMP_CHARGE, UNKNOWN_SOURCE, COMPLETED = "smart-charge", "bump-charge", "unknown", "completed"
SLOT_FLAG, SLOT_KWH = "intelligent_slot", "kwh"  # 1 per half-hour a dispatch touches; its share of the energy
INTELLIGENT_SLOTS = Measurement("intelligent_slots", fields=(SLOT_FLAG, SLOT_KWH))
# `tariff_comparison`: per meter point and interval, the cost on each candidate product and on the actual tariffs.
TARIFF_COMPARISON = Measurement("tariff_comparison", fields=(*COST_COLUMNS, *SAVING.values()))
# `carbon_intensity`: the grid's g CO2/kWh per half-hour, tagged `region`: the nation (NATIONAL: its forecast,
# its measured actual, its generation mix) and each region a meter point is in (the API's short name, and
# `region_id`: its forecast and mix). The API's index band ("low", ...) is a string field.
REGION, REGION_ID, NATIONAL = "region", "region_id", "GB"
INTENSITY_FORECAST, INTENSITY_ACTUAL, INTENSITY_INDEX = "forecast_g_per_kwh", "actual_g_per_kwh", "intensity_index"
GENERATION_FUELS = ("biomass", "coal", "imports", "gas", "nuclear", "other", "hydro", "solar", "wind")
GENERATION_MIX = {fuel: f"{fuel}_percent" for fuel in GENERATION_FUELS}
CARBON_INTENSITY = Measurement(
    "carbon_intensity",
    fields=(INTENSITY_FORECAST, INTENSITY_ACTUAL, *GENERATION_MIX.values()),
    string_fields=(INTENSITY_INDEX,),
)
# `emissions`: per meter point and interval, its usage (export negative, as in the seed's measurements), the
# intensity it met (its region's forecast; gas: the [carbon] factor) and the grams of CO2 (export: avoided, so
# negative). A measurement of its own, so the seed's are exactly as before (README: Carbon).
INTENSITY, EMISSIONS_G = "intensity_g_per_kwh", "emissions_g"
EMISSIONS = Measurement("emissions", fields=(USAGE_KWH, INTENSITY, EMISSIONS_G))

MEASUREMENTS = {
    m.name: m
    for m in (
        ACCOUNT_METERS,
        METER_CONSUMPTION,
        ELECTRICITY_PRICING,
        GAS_PRICING,
        ELECTRICITY_CONSUMPTION,
        GAS_CONSUMPTION,
        TARIFF_COMPARISON,
        INTELLIGENT_SLOTS,
        CARBON_INTENSITY,
        EMISSIONS,
    )
}
PRICING_BY_FUEL = {"electricity": ELECTRICITY_PRICING, "gas": GAS_PRICING}
CONSUMPTION_BY_FUEL = {"electricity": ELECTRICITY_CONSUMPTION, "gas": GAS_CONSUMPTION}

# Which measurements each asset owns: the IO manager replaces exactly these for a partition's window.
ASSET_MEASUREMENTS = {
    Asset.ACCOUNT: (ACCOUNT_METERS,),
    Asset.METER_CONSUMPTION: (METER_CONSUMPTION,),
    Asset.TARIFF_RATES: (ELECTRICITY_PRICING, GAS_PRICING),
    Asset.PRICED_CONSUMPTION: (ELECTRICITY_CONSUMPTION, GAS_CONSUMPTION),
    Asset.TARIFF_COMPARISON: (TARIFF_COMPARISON,),
    Asset.INTELLIGENT_DISPATCHES: (INTELLIGENT_SLOTS,),
    Asset.CARBON_INTENSITY: (CARBON_INTENSITY,),
    Asset.EMISSIONS: (EMISSIONS,),
}

# Names the pipeline writes itself (columns, tags and fields), which `additional_tags` must not take.
WRITTEN_NAMES = frozenset(
    {MEASUREMENT, TIME, TARIFF_CODE_TAG, FUEL, METER_POINT, IS_EXPORT, UNIT, PROPERTY_ID, PRODUCT_CODE}
    | {DISPATCH_SOURCE, DISPATCH_STATUS, REGION, REGION_ID}
    | set(INCLUDED_TAGS)
    | {field for measurement in MEASUREMENTS.values() for field in measurement.all_fields}
)
