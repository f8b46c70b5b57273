"""The seed's command line, run through Dagster: date words, `latest`, per-day outcome, exit codes."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from octograph_pipeline.cli import main

from .helpers import LONDON, freeze_now

pytestmark = pytest.mark.integration


@pytest.fixture
def household(recent_household, monkeypatch):
    """`recent_household`, with the command's clock stopped at the simulator's "now": the days the command works
    out from today (yesterday, tomorrow, `latest`) are the test's, even if it runs across midnight."""
    simulator, _, _ = recent_household
    freeze_now(monkeypatch, simulator.clock())
    return recent_household


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from-date=2024-13-01"], "--from-date: '2024-13-01' is not a date in YYYY-MM-DD format"),
        (["--from-date=2024-06-01", "--to-date=someday"], "--to-date: 'someday' is not a date"),
        (["--from-date=yesterday", "--to-date=2024-01-02"], "is after --to-date"),
        (["--from-date=2023-01-01", "--to-date=yesterday"], "before the first partition, [pipeline] start_date"),
        (["--from-date=yesterday", "--to-date=2999-01-01"], "--to-date: 2999-01-01 is after tomorrow"),
        (["--from-date=latest"], "no consumption stored in the last 30 days; back-fill from a fixed date first"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_error(household, capsys, args, message):
    _, config, _ = household
    assert main([f"--config-file={config}", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_config_file_exits_2(tmp_path, capsys):
    assert main([f"--config-file={tmp_path / 'nope.ini'}", "--from-date=yesterday"]) == 2
    assert "nope.ini not found" in capsys.readouterr().err


def test_backfill_then_latest_fetches_only_new_days(household, capsys):
    simulator, config, today = household
    first = today - dt.timedelta(days=5)
    assert main([f"--config-file={config}", f"--from-date={first}", "--to-date=tomorrow"]) == 0
    out = capsys.readouterr().out
    yesterday, tomorrow = today - dt.timedelta(days=1), today + dt.timedelta(days=1)
    assert f"{first}  prices ok  consumption ok" in out
    assert f"{yesterday}  prices ok  consumption ok" in out
    assert f"{tomorrow}  prices ok  consumption -" in out  # prices a day ahead; usage only once the day is over

    simulator.reset_counts()
    assert main([f"--config-file={config}", "--from-date=latest", "--to-date=yesterday"]) == 0
    out = capsys.readouterr().out
    # The last stored reading is yesterday's: only that day is fetched again.
    assert f"octograph: {yesterday} .. {yesterday}" in out
    assert str(first) not in out
    assert simulator.request_counts["consumption"] == 3


def test_a_failed_day_exits_1_and_is_named(household, capsys):
    simulator, config, today = household
    simulator.inject(500, count=50, path_contains="/consumption")
    yesterday = today - dt.timedelta(days=1)
    assert main([f"--config-file={config}", "--from-date=yesterday", "--to-date=yesterday"]) == 1
    captured = capsys.readouterr()
    assert f"{yesterday}  prices ok  consumption FAILED" in captured.out
    assert f"1 day(s) failed: {yesterday}" in captured.err
    assert "HTTP 500" in captured.err


def test_the_installed_command(recent_household):
    _, config, _ = recent_household
    octograph = [str(Path(sys.executable).parent / "octograph")]  # the console script pyproject declares
    done = subprocess.run([*octograph, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--from-date" in done.stdout
    done = subprocess.run(
        [*octograph, f"--config-file={config}", "--to-date=never"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "--to-date: 'never'" in done.stderr


def test_latest_starts_from_the_meter_point_that_lags_most(household, influx, capsys):
    simulator, config, today = household
    first, yesterday = today - dt.timedelta(days=5), today - dt.timedelta(days=1)
    assert main([f"--config-file={config}", f"--from-date={first}", "--to-date=yesterday"]) == 0
    # Gas for the last two days has not arrived yet.
    lag_start = pd.Timestamp(yesterday - dt.timedelta(days=1)).tz_localize(LONDON).tz_convert("UTC")
    influx.query(
        f"DELETE FROM \"meter_consumption\" WHERE \"fuel\" = 'gas' AND time >= '{lag_start.isoformat()}'",
        method="POST",
    )
    capsys.readouterr()
    assert main([f"--config-file={config}", "--from-date=latest", "--to-date=yesterday"]) == 0
    assert f"octograph: {yesterday - dt.timedelta(days=2)} .. {yesterday}" in capsys.readouterr().out


def test_unreachable_influxdb_exits_2(household, make_config, capsys):
    config = make_config(influxdb={"url": "http://127.0.0.1:9"})
    assert main([f"--config-file={config}", "--from-date=latest"]) == 2
    assert (
        "cannot reach InfluxDB at [influxdb] url = http://127.0.0.1:9: connection refused"
        in capsys.readouterr().err
    )
