"""The four daily-partitioned assets. Thin: fetch, hand to a pure function in `frames`, return the frame.

Every asset works on its run's partition *window* (one day or a range of days), so a range run makes one
request per meter or tariff component for the whole range, not one per day.
"""

import functools
import warnings

import dagster as dg
import pandas as pd

from . import frames
from .influx.schema import ASSET_MEASUREMENTS
from .partitions import utc_window
from .resources import OctographConfig

IO_MANAGER_KEY = "influx_io_manager"


def build_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The assets over `partitions` (built from config, so the assets are built with them)."""

    def octopus_asset(name: str, description: str):
        # backfill_policy is marked beta; the warning would greet every user at every load.
        warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")
        return dg.asset(
            name=name,
            description=description,
            partitions_def=partitions,
            io_manager_key=IO_MANAGER_KEY,
            backfill_policy=dg.BackfillPolicy.single_run(),
            group_name="octopus",
            kinds={"python", "influxdb"},
            metadata={"influxdb_measurements": ", ".join(m.name for m in ASSET_MEASUREMENTS[name])},
        )

    @octopus_asset("account", "Properties, meter points, meters and the agreement (tariff) in force each day.")
    def account(context: dg.AssetExecutionContext, octograph: OctographConfig) -> pd.DataFrame:
        settings = octograph.settings()
        start, end = utc_window(context.partition_time_window)
        with octograph.octopus_client(settings) as client:
            data = client.account(settings.octopus.account_number)
        return frames.account_points(data, settings, start, end)

    @octopus_asset("tariff_rates", "Unit rates (p/kWh) and daily standing charges (p/day) per interval.")
    def tariff_rates(
        context: dg.AssetExecutionContext, octograph: OctographConfig, account: pd.DataFrame
    ) -> pd.DataFrame:
        settings = octograph.settings()
        start, end = utc_window(context.partition_time_window)
        with octograph.octopus_client(settings) as client:
            # One request per tariff component for the whole window, however many meters and days use it.
            rates = functools.cache(lambda code, component: client.rates(code, component, start, end))
            return frames.rate_points(frames.agreement_segments(account, settings.octopus.tz), rates, settings)

    @octopus_asset("meter_consumption", "What each meter reported per interval, and its energy in kWh.")
    def meter_consumption(
        context: dg.AssetExecutionContext, octograph: OctographConfig, account: pd.DataFrame
    ) -> pd.DataFrame:
        settings = octograph.settings()
        start, end = utc_window(context.partition_time_window)
        parts = []
        with octograph.octopus_client(settings) as client:
            for _, meter in frames.meters(account).iterrows():
                readings = client.consumption(
                    meter["fuel"],
                    meter["meter_point"],
                    meter["meter_serial_number"],
                    start,
                    end,
                    settings.octopus.resolution_minutes,
                )
                parts.append(frames.consumption_points(meter, readings, settings))
        return pd.concat(parts, ignore_index=True) if parts else frames.empty_points()

    @octopus_asset("priced_consumption", "Usage × unit rate + standing charge per interval; export negative.")
    def priced_consumption(
        octograph: OctographConfig,
        account: pd.DataFrame,
        tariff_rates: pd.DataFrame,
        meter_consumption: pd.DataFrame,
    ) -> pd.DataFrame:
        settings = octograph.settings()
        segments = frames.agreement_segments(account, settings.octopus.tz)
        return frames.priced_points(meter_consumption, tariff_rates, segments, settings)

    return [account, tariff_rates, meter_consumption, priced_consumption]
