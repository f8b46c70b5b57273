"""`make bench`: how long the pipeline takes and how many Octopus requests it makes. Measured, never asserted
as a time; the request count is recorded alongside (extra_info) so regressions show in the saved runs."""

import pandas as pd
import pytest

from octograph_pipeline.influx.store import frame_to_lines
from octograph_pipeline_tests.conftest import LONDON, materialize_days


def test_line_protocol_for_a_year_of_half_hours(benchmark):
    times = pd.date_range("2024-01-01T00:00Z", "2025-01-01T00:00Z", freq="30min", inclusive="left")
    frame = pd.DataFrame(
        {
            "measurement": "electricity_consumption",
            "time": times,
            "tariff_code": "E-1R-AGILE-24-10-01-C",
            "location": "Home",
            "usage_kwh": 0.25,
            "total_cost_inc_vat_pence": 5.5,
        }
    )
    lines = benchmark(frame_to_lines, frame)
    assert len(lines) == len(times)


@pytest.mark.parametrize("days", [7, 30])
def test_single_run_backfill(benchmark, make_config, influx, simulator, days):
    config = make_config()
    last = pd.Timestamp("2024-11-01") + pd.Timedelta(days=days - 1)

    def backfill():
        simulator.reset_counts()
        assert materialize_days(config, "2024-11-01", last.date().isoformat()).success

    benchmark.pedantic(backfill, rounds=3, iterations=1)
    benchmark.extra_info["octopus_requests"] = sum(simulator.request_counts.values())
    benchmark.extra_info["timezone"] = LONDON.key
