"""End to end through Dagster: simulator over HTTP -> four assets -> the real InfluxDB, read back."""

from __future__ import annotations

import pandas as pd
import pytest

from octograph_pipeline.influx.store import InfluxV1Store

from .conftest import materialize_days

pytestmark = pytest.mark.integration

CONSUMPTION_MEASUREMENTS = ("meter_consumption", "electricity_consumption", "gas_consumption")


def points_per_series(influx: InfluxV1Store, measurement: str, day: str) -> dict[tuple, int]:
    series = influx.query(
        f"SELECT count(usage_kwh) FROM {measurement} WHERE time >= '{day}T00:00:00Z' - 1h "
        f"AND time < '{day}T00:00:00Z' + 25h GROUP BY *"
    )
    return {tuple(sorted(s.get("tags", {}).items())): s["values"][0][1] for s in series}


def test_one_day(config_file, influx):
    result = materialize_days(config_file, "2024-06-12")
    assert result.success
    frame = influx.read(
        [__import__("octograph_pipeline.influx.schema", fromlist=["s"]).ELECTRICITY_CONSUMPTION],
        pd.Timestamp("2024-06-11T23:00Z"),
        pd.Timestamp("2024-06-12T23:00Z"),
        {},
    )
    print(frame.head())
    print(frame.groupby("tariff_code").size())
