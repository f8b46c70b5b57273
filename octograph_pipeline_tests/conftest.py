"""Shared fixtures: a real private InfluxDB 1.x server per session, a fresh database per test, the Octopus
simulator over real HTTP, and a seed-format INI file pointing at both."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import requests

from octograph_pipeline.clients.influx import InfluxV1Store, quote_identifier
from octograph_pipeline.core import days
from octograph_pipeline.core.days import window as local_days_window
from octograph_pipeline.core.schema import MEASUREMENTS
from octograph_pipeline.definitions import build_definitions
from octograph_pipeline.dev.influxd import LocalInfluxd
from octograph_pipeline.dev.simulator import OctopusSimulator, all_scenarios, serve
from octograph_pipeline.orchestration.runs import DaysRun, run_days

REPO = Path(__file__).resolve().parent.parent
API_KEY = "sk_test_pytest_0123456789"
ACCOUNT = "A-TEST0001"
# A fixed "now" after every day the tests use, so the simulator's data never depends on the real date.
LONDON = ZoneInfo("Europe/London")
SIMULATOR_NOW = dt.datetime(2024, 12, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def influxd(tmp_path_factory) -> LocalInfluxd:
    server = LocalInfluxd(tmp_path_factory.mktemp("influxdb")).start()
    yield server
    server.stop()


@pytest.fixture
def influx(influxd) -> InfluxV1Store:
    """A fresh, empty database on the session's server."""
    store = InfluxV1Store(influxd.url, f"test_{uuid.uuid4().hex[:12]}")
    store.create_database()
    yield store
    store.drop_database()
    store.close()


def test_household_simulator() -> OctopusSimulator:
    """The tests' default household: from 2024-01-01, on Agile from 2024-10-01, "now" fixed at SIMULATOR_NOW."""
    return OctopusSimulator(
        seed=7,
        account_number=ACCOUNT,
        api_key=API_KEY,
        start_date=dt.date(2024, 1, 1),
        agile_from=dt.date(2024, 10, 1),
        clock=lambda: SIMULATOR_NOW,
    )


test_household_simulator.__test__ = False  # a helper, not a test


@pytest.fixture
def simulator() -> OctopusSimulator:
    return test_household_simulator()


@pytest.fixture
def octopus_api(simulator) -> str:
    """The simulator's API prefix, e.g. http://127.0.0.1:PORT/v1."""
    with serve(simulator) as api_prefix:
        yield api_prefix


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


@pytest.fixture
def make_config(tmp_path, influx, octopus_api, monkeypatch):
    monkeypatch.setenv("OCTOGRAPH_TEST_OCTOPUS_API_KEY", API_KEY)

    def make(**options) -> Path:
        return write_config(tmp_path / f"octograph-{uuid.uuid4().hex[:6]}.ini", influx, octopus_api, **options)

    return make


@pytest.fixture
def config_file(make_config) -> Path:
    return make_config()


def materialize_days(config_file: Path, first: str, last: str | None = None, **kwargs) -> DaysRun:
    """Materialises all four assets for one day or, as single runs, for the range first..last."""
    instance = kwargs.pop("instance", None) or dg.DagsterInstance.ephemeral()
    return run_days(build_definitions(config_file), first, last, instance=instance, **kwargs)


@pytest.fixture
def households_api():
    """One simulator serving every scenario household (E7, moved, mid-day switch, gaps, the default)."""
    simulator = OctopusSimulator(api_key=API_KEY, households=all_scenarios(seed=7), clock=lambda: SIMULATOR_NOW)
    with serve(simulator) as api_prefix:
        yield api_prefix


@pytest.fixture
def household_config(tmp_path, influx, households_api, monkeypatch):
    """`household_config("A-E7000001", octopus={...})`: a config file for one scenario account."""
    monkeypatch.setenv("OCTOGRAPH_TEST_OCTOPUS_API_KEY", API_KEY)

    def make(account: str, **options) -> Path:
        options.setdefault("octopus", {})["account_number"] = account
        return write_config(tmp_path / f"{account}-{uuid.uuid4().hex[:6]}.ini", influx, households_api, **options)

    return make


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


@pytest.fixture
def recent_household(make_config, monkeypatch):
    """The default household served up to now (real time), partitions from 20 days ago, no DAGSTER_HOME.

    For what depends on today's date: `latest`, the late-data sensor. Yields (simulator, config, today)."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(LONDON).date()
    simulator = OctopusSimulator(
        api_key=API_KEY,
        account_number=ACCOUNT,
        start_date=today - dt.timedelta(days=30),
        agile_from=today - dt.timedelta(days=10),
        clock=lambda: now,
    )
    with serve(simulator) as api:
        pipeline = {"start_date": (today - dt.timedelta(days=20)).isoformat(), "retries": "0", "api_retries": "0"}
        yield simulator, make_config(octopus={"api_prefix": api}, pipeline=pipeline), today


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


@pytest.fixture
def postgres():
    """A private PostgreSQL server for the compose instance: the DAGSTER_POSTGRES_* variables it is reached by."""
    from .local_postgres import PostgresUnavailable, local_postgres

    with contextlib.ExitStack() as stack:
        try:
            variables = stack.enter_context(local_postgres())
        except PostgresUnavailable as error:
            skip_unless_ci(str(error))
        yield variables


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed by scripts/ensure-debian-package.sh when missing (possible only as root)."""
    try:
        result = subprocess.run(
            [str(REPO / "scripts" / "ensure-debian-package.sh"), "chromium", "chromium", "headless browser"],
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("scripts/ensure-debian-package.sh did not finish in 15 minutes")
    if result.returncode != 0:
        if os.geteuid() != 0:
            skip_unless_ci(f"chromium is missing and cannot be installed without root: {result.stderr.strip()}")
        pytest.fail(f"scripts/ensure-debian-package.sh failed:\n{result.stdout}\n{result.stderr}")
    path = shutil.which("chromium") or "/usr/bin/chromium"
    assert os.access(path, os.X_OK), f"no executable chromium at {path} after scripts/ensure-debian-package.sh"
    return path


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


@pytest.fixture
def failing_writes(influxd):
    """The URL of a proxy to the session's InfluxDB that fails every write."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FailingWrites)
    server.upstream = influxd.url
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


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
