"""The direct floor: days of history through our own client, pure functions, checks and writer — no Dagster.

What the pipeline would cost if orchestration were free; `make bench` divides the CLI's time by this. It
mirrors the four assets' bodies (fetch, frames, checks, replace the window) but keeps frames in memory
instead of reading them back from InfluxDB between assets.
"""

from __future__ import annotations

import datetime as dt

from octograph_pipeline.clients.influx import open_store
from octograph_pipeline.clients.kraken import KrakenClient
from octograph_pipeline.clients.octopus import OctopusClient
from octograph_pipeline.config import load_settings
from octograph_pipeline.core import checks, frames
from octograph_pipeline.core.days import window as local_days_window
from octograph_pipeline.core.schema import ASSET_MEASUREMENTS, Asset


def run(config_file: str, first: dt.date, last: dt.date) -> int:
    """Materialises first..last without Dagster; returns the number of points written."""
    settings = load_settings(config_file)
    octopus, tags, rules = settings.octopus, settings.influxdb.point_tags, settings.octopus.price_rules
    tz, resolution = octopus.tz, octopus.resolution_minutes
    start, end = local_days_window(first, last, tz)
    with OctopusClient.from_settings(settings) as client:
        account = frames.account_points(
            client.account(octopus.account_number), start, end, tz, tags, octopus.included_meters
        )
        segments = frames.agreement_segments(account, tz)
        prices, _ = frames.rate_points(segments, client.rates, rules, tags)
        gas, units = octopus.gas_conversion, {}
        if frames.gas_meters_to_ask(segments, gas.meter_types):  # as meter_consumption: Kraken says m³ or kWh
            with KrakenClient.from_settings(settings) as kraken:
                units = kraken.gas_meter_units(octopus.account_number)
        consumption = frames.consumption_frame(segments, client.consumption, tz, resolution, gas, tags, units)
    priced, details = frames.priced_points(consumption, prices, segments, rules, tags)
    checks.missing_intervals(consumption, segments, tz, resolution)
    checks.negative_import(consumption, tz)
    checks.unpriced_intervals(details, tz)
    checks.standing_charge_mismatches(details, prices, segments, tz, resolution)
    outputs = {
        Asset.ACCOUNT: account,
        Asset.TARIFF_RATES: prices,
        Asset.METER_CONSUMPTION: consumption,
        Asset.PRICED_CONSUMPTION: priced,
    }
    tags = settings.influxdb.additional_tags
    with open_store(settings.influxdb) as store:
        return sum(store.replace(ASSET_MEASUREMENTS[name], start, end, tags, out) for name, out in outputs.items())
