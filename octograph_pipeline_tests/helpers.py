"""What the tests share that is not a fixture: constants, the config they write, running days through Dagster,
reading back what InfluxDB holds, and a few small servers."""

from __future__ import annotations

import configparser
import datetime as dt
import json
import os
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import pytest
import requests

from octograph_pipeline.clients.influx import InfluxV1Store, quote_identifier
from octograph_pipeline.clients.octopus import OctopusClient
from octograph_pipeline.core import days, schema
from octograph_pipeline.core.days import window as local_days_window
from octograph_pipeline.core.pricing import select_payment_method
from octograph_pipeline.core.schema import MEASUREMENTS
from octograph_pipeline.definitions import build_definitions
from octograph_pipeline.dev.simulator import OctopusSimulator
from octograph_pipeline.dev.simulator.household import generated_api_key
from octograph_pipeline.orchestration.runs import DaysRun, run_days

REPO = Path(__file__).resolve().parent.parent
API_KEY = "sk_test_pytest_0123456789"
ACCOUNT = "A-TEST0001"
# A fixed "now" after every day the tests use, so the simulator's data never depends on the real date.
LONDON = ZoneInfo("Europe/London")
SIMULATOR_NOW = dt.datetime(2024, 12, 1, 12, 0, tzinfo=dt.UTC)


def household_simulator() -> OctopusSimulator:
    """The tests' default household: from 2024-01-01, on Agile from 2024-10-01, "now" fixed at SIMULATOR_NOW."""
    return OctopusSimulator(
        seed=7,
        account_number=ACCOUNT,
        api_key=API_KEY,
        start_date=dt.date(2024, 1, 1),
        agile_from=dt.date(2024, 10, 1),
        clock=lambda: SIMULATOR_NOW,
    )


def write_config(path: Path, influx: InfluxV1Store, api_prefix: str, **options: dict[str, str]) -> Path:
    """A seed-format INI file; `options` are extra sections, e.g. octopus={"resolution_minutes": "60"}."""
    sections = {
        "influxdb": {"api_version": "1", "url": influx.url, "bucket": influx.database},
        "octopus": {
            "account_number": ACCOUNT,
            "api_prefix": api_prefix,
            "api_key_env_var": "OCTOGRAPH_TEST_OCTOPUS_API_KEY",
        },
        "pipeline": {"start_date": "2024-01-01"},
    }
    for section, values in options.items():
        sections.setdefault(section, {}).update(values)
    text = "".join(
        f"[{name}]\n" + "".join(f"{key} = {value}\n" for key, value in values.items()) + "\n"
        for name, values in sections.items()
    )
    path.write_text(text)
    return path


def household_names(count: int) -> list[str]:
    """h01, h02, ... (h001, ... from 100 on): the sections `write_households_config` writes, in order."""
    width = max(2, len(str(count)))
    return [f"h{index:0{width}d}" for index in range(1, count + 1)]


def write_households_config(
    path: Path, influx_url: str, database: str, api_prefix: str, households, key_prefix: str, **sections: dict
) -> dict[str, str]:
    """A config file with one `[household:hNN]` section per simulated household (its own key variable
    `key_prefix` + HNN, and `intelligent_mpan` for one with an EV) over `sections`; returns the key variables to
    set, with their keys."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict(
        {
            "influxdb": {"api_version": "1", "url": influx_url, "bucket": database},
            **sections,
            "octopus": {"api_prefix": api_prefix, **sections.get("octopus", {})},
        }
    )
    keys = {}
    for index, (name, household) in enumerate(zip(household_names(len(households)), households, strict=True), 1):
        variable = f"{key_prefix}{name.upper()}"
        keys[variable] = generated_api_key(index)
        section = {"account_number": household.account_number, "api_key_env_var": variable}
        if household.ev_mpan:
            section["intelligent_mpan"] = household.ev_mpan
        parser[f"household:{name}"] = section
    with path.open("w") as file:
        parser.write(file)
    return keys


def materialize_days(config_file: Path, first: str, last: str | None = None, **kwargs) -> DaysRun:
    """Materialises all four assets for one day or, as single runs, for the range first..last."""
    instance = kwargs.pop("instance", None) or dg.DagsterInstance.ephemeral()
    return run_days(build_definitions(config_file), first, last, instance=instance, **kwargs)


@dataclass
class CheckOutcome:
    """A check over the days of a run: passed on every day? which days? the failing days' problem tables."""

    days: dict[str, bool]
    details: str
    severity: object = None

    @property
    def passed(self) -> bool:
        return all(self.days.values())


def check_outcomes(run: DaysRun) -> dict[str, CheckOutcome]:
    """The asset check evaluations of a run, one per check and day, by check name (a later run's day wins)."""
    outcomes: dict[str, CheckOutcome] = {}
    for event in run.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            outcome = outcomes.setdefault(evaluation.check_name, CheckOutcome({}, ""))
            outcome.days[evaluation.partition] = evaluation.passed
            outcome.severity = evaluation.severity
            if "details" in evaluation.metadata:
                outcome.details += evaluation.metadata["details"].value + "\n"
    return outcomes


def freeze_now(monkeypatch, now: dt.datetime) -> None:
    """`days.today()`, the one way the package asks for today's date, answers `now`'s local date for the rest of
    the test: the days worked out from today are the ones the test expects, even when it runs across midnight.
    `now` must be aware."""
    monkeypatch.setattr(days, "today", lambda tz: now.astimezone(tz).date())


def skip_unless_ci(reason: str) -> None:
    """Skips a test this machine cannot run, except in CI (CI=true), where a required test that cannot run
    fails: a green CI must not hide a missing install step."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"required in CI, but cannot run here: {reason}")
    pytest.skip(reason)


class FailingWrites(BaseHTTPRequestHandler):
    """InfluxDB behind a proxy whose /write answers 500 (everything else is passed through)."""

    def _proxy(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if urlsplit(self.path).path == "/write":
            status, payload, version = 500, b'{"error":"engine: cache maximum memory size exceeded"}', "1.6.7"
        else:
            upstream = requests.request(self.command, self.server.upstream + self.path, data=body, timeout=30)
            status, payload = upstream.status_code, upstream.content
            version = upstream.headers["X-Influxdb-Version"]
        self.send_response(status)
        self.send_header("X-Influxdb-Version", version)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _proxy

    def log_message(self, *args):
        pass


def day_points(store: InfluxV1Store, day: str) -> list[tuple]:
    """Every point of one local day, all measurements, as sorted comparable tuples."""
    start, end = local_days_window(dt.date.fromisoformat(day), dt.date.fromisoformat(day), LONDON)
    points = []
    for name in MEASUREMENTS:
        query = (
            f"SELECT * FROM {quote_identifier(name)} WHERE time >= '{start.isoformat()}' "
            f"AND time < '{end.isoformat()}' GROUP BY *"
        )
        for series in store.query(query):
            tags = tuple(sorted(series.get("tags", {}).items()))
            points += [(name, tags, tuple(row)) for row in series["values"]]
    return sorted(points, key=repr)


def all_points(influx: InfluxV1Store) -> list[tuple]:
    """Every point of every measurement, as sorted comparable tuples."""
    points = []
    for name in schema.MEASUREMENTS:
        for series in influx.query(f'SELECT * FROM "{name}" GROUP BY *'):
            tags = tuple(sorted(series.get("tags", {}).items()))
            points += [(name, tags, json.dumps(row)) for row in series["values"]]
    return sorted(points)


def window(day: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    date = dt.date.fromisoformat(day)
    return local_days_window(date, date, LONDON)


def read(influx: InfluxV1Store, measurement, day: str, last: str | None = None, **tags) -> pd.DataFrame:
    start, _ = window(day)
    _, end = window(last or day)
    return influx.read([measurement], start, end, tags)


def rates(api: str, tariff: str, component: str, day: str) -> pd.DataFrame:
    with OctopusClient(api, API_KEY) as client:
        return select_payment_method(client.rates(tariff, component, *window(day)), "DIRECT_DEBIT")


def api_readings(
    api: str, fuel: str, point: str, serial: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.Series:
    """A meter's readings over [start, end) as the API itself reports them (one plain GET, not the pipeline's
    client): each interval's reading (kWh, or m³ for a SMETS2 gas meter) by its start in UTC, oldest first."""
    response = requests.get(
        f"{api}/{fuel}-meter-points/{point}/meters/{serial}/consumption/",
        params={"period_from": start.isoformat(), "period_to": end.isoformat(), "page_size": 25000},
        auth=(API_KEY, ""),
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    assert body["next"] is None
    readings = {
        pd.Timestamp(row["interval_start"]).tz_convert("UTC"): row["consumption"] for row in body["results"]
    }
    return pd.Series(readings, dtype=float).sort_index()
