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
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from octograph_pipeline.clients.influx import InfluxV1Store
from octograph_pipeline.dev.influxd import LocalInfluxd
from octograph_pipeline.dev.simulator import OctopusSimulator, all_scenarios, serve

from .helpers import (
    ACCOUNT,
    API_KEY,
    LONDON,
    REPO,
    SIMULATOR_NOW,
    FailingWrites,
    household_simulator,
    skip_unless_ci,
    write_config,
)


@pytest.fixture(autouse=True)
def own_cache_dir(tmp_path, monkeypatch):
    """Each test its own cache directory, so the machine-wide Octopus pace (its file lives there) starts afresh:
    a 429 answered in one test must not pause the next."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


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


@pytest.fixture
def simulator() -> OctopusSimulator:
    return household_simulator()


@pytest.fixture
def octopus_api(simulator) -> str:
    """The simulator's API prefix, e.g. http://127.0.0.1:PORT/v1."""
    with serve(simulator) as api_prefix:
        yield api_prefix


@pytest.fixture
def make_config(tmp_path, influx, octopus_api, monkeypatch):
    monkeypatch.setenv("OCTOGRAPH_TEST_OCTOPUS_API_KEY", API_KEY)

    def make(**options) -> Path:
        return write_config(tmp_path / f"octograph-{uuid.uuid4().hex[:6]}.ini", influx, octopus_api, **options)

    return make


@pytest.fixture
def config_file(make_config) -> Path:
    return make_config()


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


@pytest.fixture
def failing_writes(influxd):
    """The URL of a proxy to the session's InfluxDB that fails every write."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FailingWrites)
    server.upstream = influxd.url
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
