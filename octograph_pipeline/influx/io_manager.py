"""Dagster IO manager: each materialised partition window replaces that window's points in InfluxDB.

Like Dagster's DbIOManager it works on the output's *time window*, not its partition key, so one day and a
range of days take the same path: delete the window's points of the asset's measurements (scoped to the
config's `additional_tags`), then write. Re-materialising a day therefore leaves no duplicates and no
leftovers, even when a tag such as `tariff_code` changed.
"""

import dagster as dg
import pandas as pd

from ..config import load_settings
from ..partitions import utc_window
from .schema import ASSET_MEASUREMENTS, MEASUREMENT, TIME
from .store import open_store


class InfluxIOManager(dg.ConfigurableIOManager):
    """Stores points frames in the InfluxDB of the seed's `[influxdb]` section."""

    config_file: str

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        start, end = utc_window(context.asset_partitions_time_window)
        owned = ASSET_MEASUREMENTS[context.asset_key.path[-1]]
        unknown = set(obj[MEASUREMENT]) - {m.name for m in owned}
        if unknown:
            raise ValueError(f"{context.asset_key.to_user_string()} may not write measurements {sorted(unknown)}")
        outside = obj[(obj[TIME] < start) | (obj[TIME] >= end)]
        if len(outside):
            raise ValueError(f"{len(outside)} points lie outside the partition window [{start}, {end})")
        settings = load_settings(self.config_file).influxdb
        store = open_store(settings)
        try:
            store.replace(owned, start, end, settings.additional_tags, obj)
        finally:
            store.close()

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        start, end = utc_window(context.asset_partitions_time_window)
        settings = load_settings(self.config_file).influxdb
        store = open_store(settings)
        try:
            return store.read(ASSET_MEASUREMENTS[context.asset_key.path[-1]], start, end, settings.additional_tags)
        finally:
            store.close()
