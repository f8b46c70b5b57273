"""The daily partitions every asset shares: local days of the configured time zone."""

import dagster as dg
import pandas as pd

from octograph_pipeline.core.settings import Settings

# Dagster's run tags for a single run over a range of partitions (what a single-run backfill launches).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

# A backfill runs up to a year per run: one (paginated) request per meter and per tariff component covers all
# of it, and Dagster's per-run costs are paid once. A failed year re-runs in seconds.
MAX_DAYS_PER_RUN = 366


def range_tags(first: str, last: str) -> dict[str, str]:
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def days_target(first: str, last: str) -> dict:
    """How a run names the days first..last: one partition key, or range tags for a single run over many."""
    if first == last:
        return {"partition_key": first, "tags": {}}
    return {"partition_key": None, "tags": range_tags(first, last)}


def daily_partitions(settings: Settings, end_offset: int = 0) -> dg.DailyPartitionsDefinition:
    """Local days from `[pipeline] start_date`; with end_offset=0 the last is yesterday, 2 reaches tomorrow."""
    return dg.DailyPartitionsDefinition(
        start_date=settings.pipeline.start_date.isoformat(),
        timezone=settings.octopus.timezone,
        end_offset=end_offset,
    )


def utc_window(window: dg.TimeWindow) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A partition (or range) window as UTC instants: [first local midnight, local midnight after the last)."""
    return pd.Timestamp(window.start).tz_convert("UTC"), pd.Timestamp(window.end).tz_convert("UTC")
