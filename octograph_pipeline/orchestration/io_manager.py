"""Dagster IO manager: each materialised partition window replaces that window's points in InfluxDB.

Like Dagster's DbIOManager it works on the output's *time window*, not its partition key, so one day and a
range of days take the same path: the window's points of the asset's measurements (scoped to the household's
`additional_tags`, which include its `account_number` when a file has several) become exactly the output's.
Re-materialising a day therefore leaves no duplicates and no leftovers, even when a tag such as `tariff_code`
changed, and a write that fails leaves the old points.
"""

import dagster as dg
import pandas as pd

from octograph_pipeline.clients.influx import InfluxRefused, NonFiniteValue, open_store
from octograph_pipeline.core.schema import ASSET_MEASUREMENTS, MEASUREMENT, TIME
from octograph_pipeline.core.settings import ConfigError
from octograph_pipeline.orchestration.partitions import utc_window
from octograph_pipeline.orchestration.resources import OctographConfig
from octograph_pipeline.orchestration.runs import no_retries

# Credentials or a database InfluxDB refuses, a bad config or a number that cannot be true: failing at once;
# server errors and lost connections go to the retry policy.
NOT_RETRIED = (InfluxRefused, ConfigError, NonFiniteValue)


class InfluxIOManager(dg.ConfigurableIOManager):
    """Stores points frames in the InfluxDB of the seed's `[influxdb]` section."""

    octograph: OctographConfig

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        start, end = utc_window(context.asset_partitions_time_window)
        owned = ASSET_MEASUREMENTS[context.asset_key.path[-1]]
        unknown = set(obj[MEASUREMENT]) - {m.name for m in owned}
        outside = obj[(obj[TIME] < start) | (obj[TIME] >= end)]
        if unknown or len(outside):  # a bug of ours: no retry will mend it
            what = f"measurements {sorted(unknown)}" if unknown else f"{len(outside)} points outside the window"
            message = f"{context.asset_key.to_user_string()} may not write {what} [{start}, {end})"
            raise dg.Failure(message, allow_retries=False)
        with no_retries(*NOT_RETRIED):
            settings = self.octograph.settings_for(context.asset_key).influxdb
            with open_store(settings) as store:
                store.replace(owned, start, end, settings.additional_tags, obj)

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        start, end = utc_window(context.asset_partitions_time_window)
        with no_retries(*NOT_RETRIED):
            settings = self.octograph.settings_for(context.asset_key).influxdb
            with open_store(settings) as store:
                owned = ASSET_MEASUREMENTS[context.asset_key.path[-1]]
                return store.read(owned, start, end, settings.additional_tags)
