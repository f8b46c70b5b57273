"""The two jobs, one per partitions definition.

Prices (`account`, `tariff_rates`) may run a day ahead of consumption, so the assets have two daily
partitions definitions and Dagster needs one job for each (`runs.run_days` runs a range of days through both).
"""

from __future__ import annotations

import dagster as dg

from octograph_pipeline.core.schema import Asset
from octograph_pipeline.core.settings import Settings
from octograph_pipeline.orchestration.households import asset_key, named

PRICES_JOB = "octopus_prices"
CONSUMPTION_JOB = "octopus_consumption"


def build_jobs(settings: Settings) -> list:
    """The household's two jobs (named `households.named(settings.household, PRICES_JOB)` and so on)."""
    prices = [Asset.ACCOUNT, Asset.TARIFF_RATES]
    if settings.octopus.intelligent_mpan:
        prices.append(Asset.INTELLIGENT_DISPATCHES)
    consumption = [Asset.METER_CONSUMPTION, Asset.PRICED_CONSUMPTION]
    if settings.comparison.enabled:
        consumption.append(Asset.TARIFF_COMPARISON)
    if settings.carbon.enabled:
        prices.append(Asset.CARBON_INTENSITY)
        consumption.append(Asset.EMISSIONS)
    return [
        dg.define_asset_job(
            named(settings.household, PRICES_JOB),
            selection=[asset_key(settings.household, asset) for asset in prices],
            description=(
                "Agreements, tariff prices, Intelligent dispatches and the grid's carbon intensity (partitions up "
                "to tomorrow)."
            ),
        ),
        dg.define_asset_job(
            named(settings.household, CONSUMPTION_JOB),
            selection=[asset_key(settings.household, asset) for asset in consumption],
            description=(
                "Meter readings, their cost and emissions, and the tariff comparison (partitions up to yesterday)."
            ),
        ),
    ]
