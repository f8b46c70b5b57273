"""What an operator does to the `octograph` command and its stores, done for real: SIGKILL and signals to the
running command, a second command waiting for the pool, InfluxDB failing writes, an API that keeps failing.
The command runs as a subprocess on a SQLite DAGSTER_HOME, against the simulator and the private InfluxDB."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest
import requests

from octograph_pipeline.clients.influx import InfluxV1Store, quote_identifier, quote_string
from octograph_pipeline.core import schema
from octograph_pipeline.definitions import build_definitions
from octograph_pipeline.dev.demo import prepare_dagster_home
from octograph_pipeline.dev.influxd import LocalInfluxd

from .helpers import LONDON, all_points, materialize_days
from .processes import Lines, group_members, started, wait_until_gone

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POOL = "octopus_api"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A DAGSTER_HOME with the repo's dagster.yaml, as a user's (its storage is found through $DAGSTER_HOME)."""
    home = tmp_path / "dagster_home"
    prepare_dagster_home(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def octograph_command(config: Path, first: str, last: str, verbose: bool = False) -> list[str]:
    return (
        [sys.executable, "-m", "octograph_pipeline.cli", f"--config-file={config}"]
        + [f"--from-date={first}", f"--to-date={last}"]
        + (["--verbose"] if verbose else [])
    )


@dataclass
class Command:
    """A running `octograph` command, its output read line by line as it comes."""

    process: subprocess.Popen
    out: Lines
    err: Lines

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def send_signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def finish(self, timeout: float) -> tuple[str, str]:
        """Waits for the command to exit (AssertionError after `timeout` s); its stdout and stderr."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the command did not exit in {timeout} s; its stderr:\n{''.join(self.err.lines)[-3000:]}")
        return self.out.text(), self.err.text()


@pytest.fixture
def octograph():
    """`octograph(config, home, first, last)`: the command, as a user starts it from a terminal, in its own process
    group, output in pipes. After the test, it and anything it started are stopped (SIGTERM, then SIGKILL)."""
    with contextlib.ExitStack() as stack:

        def start(config: Path, home: Path, first: str, last: str, verbose: bool = False) -> Command:
            process = stack.enter_context(
                started(
                    octograph_command(config, first, last, verbose),
                    env={**os.environ, "DAGSTER_HOME": str(home)},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    grace=10,
                )
            )
            return Command(process, Lines(process.stdout), Lines(process.stderr))

        yield start


def run_octograph(
    config: Path, home: Path, first: str, last: str, timeout: float, verbose: bool = False
) -> subprocess.CompletedProcess:
    """The command run to its end (stopped, with anything it started, if it does not end in `timeout` s)."""
    command = octograph_command(config, first, last, verbose)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    with started(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, grace=10) as process:
        stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def wait_until(condition, timeout: float = 60, what: str = "the condition", poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(poll)
    pytest.fail(f"{what} did not happen in {timeout} s")


def claimed_slots(home: Path) -> list:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return instance.event_log_storage.get_concurrency_info(POOL).claimed_slots


def runs_of(home: Path, process: Command) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return instance.get_runs(dg.RunsFilter(tags={"octograph/pid": str(process.pid)}))


def test_a_run_killed_while_holding_the_pool_does_not_wedge_the_next(home, make_config, simulator, octograph):
    """SIGKILL (the OOM killer, `timeout -k`, a reboot) while a step holds the octopus_api pool slot: the next
    command frees it, marks the dead run failed and completes, instead of waiting forever."""
    config = make_config()
    simulator.latency = 1.0  # the year's first step holds the slot for seconds
    killed = octograph(config, home, "2024-01-01", "2024-12-31")
    wait_until(lambda: claimed_slots(home), what="the first command claiming the pool")
    killed.send_signal(signal.SIGKILL)
    killed.finish(timeout=30)
    assert claimed_slots(home)  # the slot outlives its process

    simulator.latency = 0
    done = run_octograph(config, home, "2024-06-12", "2024-06-12", timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"freed the pool slot of run {runs_of(home, killed)[0].run_id[:8]}" in done.stderr
    assert f"whose process (pid {killed.pid}) is gone" in done.stderr
    assert [run.status for run in runs_of(home, killed)] == [dg.DagsterRunStatus.FAILURE]
    assert not claimed_slots(home)


def test_a_command_already_waiting_frees_the_slot_of_a_holder_killed_meanwhile(
    home, make_config, simulator, octograph
):
    """The issue's reproduction: X waits for the pool while Y holds it; Y is SIGKILLed. X notices within seconds
    (not when the next command starts), frees Y's slot, marks Y failed and completes."""
    config = make_config()
    simulator.latency = 1.0
    holder = octograph(config, home, "2024-01-01", "2024-12-31")
    wait_until(lambda: claimed_slots(home), what="the first command claiming the pool")
    waiting = octograph(config, home, "2024-06-12", "2024-06-12")
    waiting.err.wait_for("waiting for the octopus_api pool", what="of the second command saying it waits")
    holder.send_signal(signal.SIGKILL)
    holder.finish(timeout=30)
    killed_at = time.monotonic()
    simulator.latency = 0
    out, err = waiting.finish(timeout=120)
    assert waiting.returncode == 0, err
    assert time.monotonic() - killed_at < 60  # seconds: it looks every 2 s while it waits
    (dead,) = runs_of(home, holder)
    assert f"freed the pool slot of run {dead.run_id[:8]}, whose process (pid {holder.pid}) is gone" in err
    assert dead.status == dg.DagsterRunStatus.FAILURE
    assert "2024-06-12  prices ok  consumption ok" in out
    assert not claimed_slots(home)


def test_the_dead_runs_sensor_frees_the_slot_of_a_daemon_run_whose_process_died(home, config_file):
    """The daemon's runs: Dagster's run monitoring cannot tell that a default-launched run's process died. The
    sensor (evaluated with Dagster's own test API) marks such a run failed and frees its slot, leaving a live
    run's alone."""
    with started(["true"]) as gone:
        gone.wait()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots(POOL, 2)
        run_ids = {}
        for name, pid in (("dead", gone.pid), ("alive", os.getpid()), ("dead, no slot", gone.pid)):
            tags = {"octograph/pid": str(pid), "octograph/host": socket.gethostname()}
            run = instance.add_run(
                dg.DagsterRun(
                    job_name="octopus_prices",
                    run_id=str(uuid.uuid4()),
                    status=dg.DagsterRunStatus.STARTED,
                    tags=tags,
                )
            )
            if name != "dead, no slot":  # killed in a step outside the pool (pricing, say)
                assert storage.claim_concurrency_slot(POOL, run.run_id, "tariff_rates").is_claimed
            run_ids[name] = run.run_id
        sensor = build_definitions(config_file).resolve_sensor_def("dead_runs")
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        result = sensor.evaluate_tick(dg.build_sensor_context(instance))
        assert result.skip_message == (
            f"freed the pool slot of run {run_ids['dead'][:8]}, whose process (pid {gone.pid}) is gone; "
            f"marked run {run_ids['dead, no slot'][:8]} failed: its process (pid {gone.pid}) is gone"
        )
        assert instance.get_run_by_id(run_ids["dead"]).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(run_ids["dead, no slot"]).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(run_ids["alive"]).status == dg.DagsterRunStatus.STARTED
        assert [slot.run_id for slot in storage.get_concurrency_info(POOL).claimed_slots] == [run_ids["alive"]]


def test_a_waiting_command_names_the_run_it_waits_for_and_sigint_stops_the_other_cleanly(
    home, make_config, simulator, octograph
):
    config = make_config()
    simulator.latency = 1.0  # each of the first command's steps holds the pool for seconds
    first = octograph(config, home, "2024-01-01", "2024-12-31")
    wait_until(lambda: claimed_slots(home), what="the first command claiming the pool")
    second = octograph(config, home, "2024-06-12", "2024-06-12")
    said = second.err.wait_for("waiting for the octopus_api pool, held by run", what="saying what it waits for")
    assert re.search(rf"held by run \w{{8}} \(pid {first.pid}\) of octopus_(prices|consumption)$", said.strip())

    first.send_signal(signal.SIGINT)
    out, err = first.finish(timeout=120)
    assert first.returncode == 130, err
    assert "SIGINT: stopping after the current step" in err
    assert "stopped by SIGINT: 0 day(s) done; not done: 2024-01-01 .. 2024-12-31" in err
    assert "Traceback" not in err
    assert [run.job_name for run in runs_of(home, first)] == ["octopus_prices"]  # no consumption run started

    out, err = second.finish(timeout=120)
    assert second.returncode == 0, err
    assert "2024-06-12  prices ok  consumption ok" in out
    assert not claimed_slots(home)


def test_sigterm_twice_stops_at_once_and_frees_the_pool(home, make_config, simulator, octograph):
    config = make_config()
    simulator.latency = 1.0
    command = octograph(config, home, "2024-01-01", "2025-06-30")
    wait_until(lambda: claimed_slots(home), what="the command claiming the pool")
    command.send_signal(signal.SIGTERM)
    command.err.wait_for("SIGTERM: stopping after the current step", what="of the first SIGTERM being heard")
    command.send_signal(signal.SIGTERM)
    out, err = command.finish(timeout=60)
    assert command.returncode == 143, err
    # Nothing it started is left: cut off mid-step, Dagster's compute-log `tail -F` processes are ended by its
    # orphan watcher, which looks every second.
    assert not wait_until_gone(command.process, timeout=10)
    assert "stopped by SIGTERM: 0 day(s) done; not done: 2024-01-01 .. 2025-06-30" in err
    assert [run.status for run in runs_of(home, command)] == [dg.DagsterRunStatus.CANCELED]
    assert not claimed_slots(home)


RATE_REQUESTS = ("standard-unit-rates", "day-unit-rates", "night-unit-rates", "standing-charges")


@pytest.mark.parametrize(
    ("step", "first_requests", "prices"),
    [
        # The command's start-up check reads the account once; the step's own request is the second.
        ("account", {"account": 2}, "FAILED"),  # the run's next step stops before it begins: the run fails
        ("tariff_rates", dict.fromkeys(RATE_REQUESTS, 1), "ok"),  # the run's last; no consumption run begins
    ],
)
def test_one_sigterm_stops_after_the_current_step_and_leaves_nothing_half_written(
    home, make_config, simulator, influx, octograph, step, first_requests, prices
):
    """One `kill PID` (a service manager stopping it) during a back-fill: the step in progress completes (a
    signal never lands inside a step), no later step or run begins, and the command exits with 143 once that
    step is done, saying which days were not done and where to re-run from. Nothing it started is left running,
    the pool slot is free, and each asset of the run wrote either all its days or nothing."""
    config = make_config()
    simulator.latency = 1.0  # a second a request: the step in progress still has work to do after the signal
    command = octograph(config, home, "2024-01-01", "2024-12-31")

    def working() -> bool:  # the step holds the pool and has sent a request: it has begun its work
        counts = simulator.request_counts
        sent = any(counts[kind] >= count for kind, count in first_requests.items())
        return sent and any(slot.step_key == step for slot in claimed_slots(home))

    wait_until(working, what=f"{step} sending its first request")
    assert len(group_members(command.pid)) > 1  # with the step's compute-log `tail -F` processes
    requests_before, signalled = simulator.request_counts.total(), time.monotonic()
    command.send_signal(signal.SIGTERM)
    out, err = command.finish(timeout=180)
    # Promptly: the rest of the step in progress (its requests, counted, at a second each), plus a margin a
    # loaded machine meets for Dagster to record the stop (about 2 s here); the year's runs would make about 20
    # requests more.
    requests_after = simulator.request_counts.total() - requests_before
    assert time.monotonic() - signalled < 30 + requests_after * simulator.latency
    assert command.returncode == 143, err
    # Nothing it started outlives it (Dagster stops its compute-log `tail -F` processes when a step ends).
    assert not group_members(command.pid)
    lines = err.splitlines()
    assert lines[0] == "octograph: SIGTERM: stopping after the current step (SIGTERM again to stop at once)", err
    assert lines[-1] == (
        "octograph: stopped by SIGTERM: 0 day(s) done; not done: 2024-01-01 .. 2024-12-31, re-run with "
        "--from-date=2024-01-01"
    )
    assert [line for line in lines if " failed: " in line] == (
        ["octograph: octopus_prices failed: stopped by SIGTERM before this step; nothing was written"]
        if prices == "FAILED"
        else []
    )
    assert "Traceback" not in err and f"2024-06-12  prices {prices}  consumption -" in out
    (run,) = runs_of(home, command)
    assert run.job_name == "octopus_prices" and not claimed_slots(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = [r for r in instance.all_logs(run.run_id) if r.dagster_event is not None]
    begun = {r.step_key for r in records if r.dagster_event_type == dg.DagsterEventType.STEP_START}
    succeeded = {r.step_key for r in records if r.dagster_event_type == dg.DagsterEventType.STEP_SUCCESS}
    assert step in succeeded, "the step in progress when the signal came should have completed"
    for record in records:  # every other step that began stopped at once, before doing anything
        if record.dagster_event_type == dg.DagsterEventType.STEP_FAILURE:
            assert record.step_key in begun - succeeded
            error = str(record.dagster_event.event_specific_data.error)
            assert "stopped by SIGTERM before this step; nothing was written" in error, error
    # A completed step wrote every day of the year; every other asset wrote nothing.
    days_written = {
        measurement.name: (asset, days_with_points(influx, measurement.name))
        for asset, measurements in schema.ASSET_MEASUREMENTS.items()
        for measurement in measurements
    }
    assert days_written == {
        name: (asset, 366 if asset in succeeded else 0) for name, (asset, _) in days_written.items()
    }


def days_with_points(influx, measurement: str) -> int:
    """The number of London days in which `measurement` holds a point."""
    series = influx.query(
        f"SELECT count(*) FROM {quote_identifier(measurement)} GROUP BY time(1d) fill(none) "
        f"tz({quote_string(LONDON.key)})"
    )
    return len(series[0]["values"]) if series else 0


def test_a_long_range_reports_progress_per_chunk(home, make_config):
    config = make_config(pipeline={"start_date": "2023-01-01"})  # 2023: before the household moved in
    done = run_octograph(config, home, "2023-01-01", "2024-06-30", timeout=300)
    assert done.returncode == 0, done.stderr
    assert "octograph: 366/547 days done (67%), about" in done.stderr


def test_a_write_that_fails_leaves_the_day_as_it_was(make_config, influx, failing_writes, simulator):
    """InfluxDB answering 500 to every write: the day's points stay as they were (not deleted first)."""
    assert materialize_days(make_config(), "2024-06-12").success
    before = all_points(influx)
    simulator.reading_scale = 2.0  # had anything been written, the readings would differ
    broken = make_config(influxdb={"url": failing_writes}, pipeline={"retries": "0"})
    run = materialize_days(broken, "2024-06-12", raise_on_error=False)
    assert not run.success
    failure = next(e for e in run.all_events if e.event_type_value == "STEP_FAILURE")
    assert "InfluxDB failed a write (HTTP 500): engine: cache maximum memory size exceeded" in str(
        failure.event_specific_data.error
    )
    assert all_points(influx) == before != []


def test_an_api_that_keeps_failing_fails_the_day_within_its_retry_budget(make_config, simulator):
    simulator.inject(500, count=10_000, path_contains="/accounts")
    config = make_config(pipeline={"retries": "1", "retry_delay_seconds": "1", "api_retry_budget_seconds": "2"})
    began = time.monotonic()
    run = materialize_days(config, "2024-06-12", raise_on_error=False)
    assert not run.success
    assert len([e for e in run.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]) == 1
    # Two attempts of at most 2 s of waiting each, 1 s apart (about 6 s); without the budget, each attempt's 6
    # HTTP retries would wait 31.5 s: a bound below 63 s tells them apart with room for a loaded machine.
    assert time.monotonic() - began < 55
    failure = next(e for e in run.all_events if e.event_type_value == "STEP_FAILURE")
    assert "returned HTTP 500" in str(failure.event_specific_data.error)


def test_after_the_last_retry_the_step_error_is_the_cause_and_the_days_it_covered(make_config, simulator):
    """Not Dagster's "Exceeded max_retries of 1" with the cause nested below: the first line the UI shows is the
    API's own message, the request, and which days that request covered (one request covers the run's days)."""
    simulator.fail_days = {dt.date(2024, 6, 14)}
    config = make_config(pipeline={"retries": "1", "retry_delay_seconds": "0", "api_retries": "0"})
    run = materialize_days(config, "2024-06-12", "2024-06-18", raise_on_error=False)
    failure = next(e for e in run.all_events if e.event_type_value == "STEP_FAILURE")
    first_line = failure.event_specific_data.error.message.splitlines()[0]
    assert "Exceeded max_retries" not in first_line
    assert (
        "/standard-unit-rates/?period_from=2024-06-11T23%3A00%3A00Z&period_to=2024-06-18T23%3A00%3A00Z"
        in first_line
    )
    assert first_line.endswith(
        "returned HTTP 500: A server error occurred. (the request covered 2024-06-12 .. 2024-06-18)"
    ), first_line
    assert len([e for e in run.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]) == 1  # still retried


@pytest.fixture
def silent_api():
    """A server that accepts every connection and never answers (a hung proxy or API), as an API prefix."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept():
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    server.close()
    for connection in accepted:
        connection.close()


def test_an_api_that_accepts_and_never_answers_costs_a_step_its_retry_budget(make_config, silent_api, home):
    """Read timeouts count against the budget: without that, each attempt could wait 60 s, about 23 min a day."""
    config = make_config(
        octopus={"api_prefix": silent_api}, pipeline={"retries": "0", "api_retry_budget_seconds": "3"}
    )
    began = time.monotonic()
    done = run_octograph(config, home, "2024-06-12", "2024-06-12", timeout=120)
    assert done.returncode == 1, done.stderr
    # The 3 s budget, plus starting Python and Dagster (about 10 s); one unanswered read alone would wait 60 s.
    assert time.monotonic() - began < 55
    assert (
        "did not succeed within [pipeline] api_retry_budget_seconds = 3 s (last attempt: no answer in time)"
        in (done.stderr)
    )


def test_a_missing_influxdb_database_fails_the_day_at_once(make_config):
    config = make_config(influxdb={"bucket": "no_such_database"}, pipeline={"retry_delay_seconds": "60"})
    began = time.monotonic()
    run = materialize_days(config, "2024-06-12", raise_on_error=False)
    assert not run.success
    assert not [e for e in run.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert time.monotonic() - began < 55  # a retry would first wait retry_delay_seconds = 60
    failure = next(e for e in run.all_events if e.event_type_value == "STEP_FAILURE")
    assert "database not found" in str(failure.event_specific_data.error)


def test_the_cli_prints_one_line_per_failure_and_the_detail_with_verbose(make_config, simulator, home):
    simulator.inject(500, count=10_000, path_contains="/consumption")
    config = make_config(pipeline={"retries": "0", "api_retries": "0"})
    command = [sys.executable, "-m", "octograph_pipeline.cli", f"--config-file={config}"]
    command += ["--from-date=2024-06-12", "--to-date=2024-06-12"]
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("octograph: octopus_consumption failed: GET http://127.0.0.1:")
    assert lines[0].endswith("returned HTTP 500: Internal Server Error (the request covered 2024-06-12)")
    assert lines[1] == "octograph: 1 day(s) failed: 2024-06-12; re-run them with --from-date/--to-date"
    assert len(lines) == 2  # nothing of Dagster's own log
    verbose = subprocess.run([*command, "--verbose"], env=env, capture_output=True, text=True, timeout=120)
    assert verbose.returncode == 1 and 'clients/octopus.py", line' in verbose.stderr  # the stack trace


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("relative/home", "DAGSTER_HOME=relative/home is not an absolute path"),
        ("/nonexistent/dagster_home", "DAGSTER_HOME=/nonexistent/dagster_home does not exist"),
    ],
)
def test_a_bad_dagster_home_is_one_line_and_exit_2(make_config, value, message):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "octograph_pipeline.cli",
            f"--config-file={make_config()}",
            "--from-date=yesterday",
        ],
        env={**os.environ, "DAGSTER_HOME": value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stderr == f"octograph: {message}" + (
        ": create it (an empty folder will do)\n" if "exist" in message else "\n"
    )


@pytest.mark.parametrize(
    ("option", "value", "first_line"),
    [
        (
            "volume_correction_factor",
            "inf",
            "[octopus] volume_correction_factor: 'inf' is not a number from 0.9 to 1.1",
        ),
        ("calorific_value", "1e308", "[octopus] calorific_value: '1e308' is not a number from 30 to 50"),
        ("timezone", "", "[octopus] timezone: is empty: give a value, or remove the line to use the default"),
    ],
)
def test_numbers_that_cannot_be_true_and_empty_values_exit_2_with_nothing_written(
    make_config, influx, home, option, value, first_line
):
    config = make_config(octopus={option: value})
    done = run_octograph(config, home, "2024-06-12", "2024-06-12", timeout=120)
    assert (done.returncode, done.stderr) == (2, f"octograph: {first_line}\n")
    assert all_points(influx) == []


def test_a_number_that_cannot_be_true_fails_the_step_before_anything_is_written(
    make_config, influx, simulator, home
):
    """Readings so large that their energy overflows to infinity: the day fails at once (no retry), naming the
    measurement, field and time, and InfluxDB keeps the day's points as they were."""
    config = make_config(pipeline={"retry_delay_seconds": "60"})
    assert run_octograph(config, home, "2024-06-12", "2024-06-12", timeout=120).returncode == 0
    before = all_points(influx)
    simulator.reading_scale = 1e308
    began = time.monotonic()
    done = run_octograph(config, home, "2024-06-12", "2024-06-12", timeout=120)
    assert done.returncode == 1
    assert time.monotonic() - began < 55  # not retried after 60 s
    assert done.stderr.splitlines()[0] == (
        "octograph: octopus_consumption failed: meter_consumption usage_kwh is inf at 2024-06-12 05:30:00+00:00: "
        "a number that cannot be true (check the config's numeric options); nothing was written"
    )
    assert all_points(influx) == before != []


class RefusingInflux(BaseHTTPRequestHandler):
    """InfluxDB with authentication on, refusing the credentials given: a stand-in answering as InfluxDB 1.8 does
    (HTTP 401, its version header and JSON error body), which records the paths asked for."""

    def do_GET(self):
        self.server.paths.append(urlsplit(self.path).path)
        payload = b'{"error":"authorization failed"}'
        self.send_response(401)
        self.send_header("X-Influxdb-Version", "1.8.10")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def refusing_influx():
    server = ThreadingHTTPServer(("127.0.0.1", 0), RefusingInflux)
    server.paths = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.mark.parametrize(
    ("influxdb", "first_line"),
    [
        (
            {"bucket": "no_such_database"},
            "InfluxDB refused the query 'SHOW RETENTION POLICIES': database not found: no_such_database; check "
            "[influxdb] bucket = no_such_database",
        ),
        ({"bucket": "{database}/no_such_rp"}, "has no retention policy 'no_such_rp' (it has autogen); check"),
        (
            "refusing",
            "InfluxDB refused a query (authorization failed): check the credentials in the variable named by "
            "[influxdb] token_env_var",
        ),
        (
            "octopus",
            "did not answer a query as InfluxDB does (HTTP 404, text/plain; charset=utf-8): check [influxdb] url",
        ),
    ],
)
def test_an_influxdb_that_refuses_is_found_before_anything_runs(
    make_config, influx, home, octopus_api, refusing_influx, influxdb, first_line
):
    """Found by the start-up check (exit 2, one line naming the option), not at run time (exit 1): nothing ran,
    nothing was written, and no database was created."""
    if influxdb == "refusing":
        influxdb = {"url": f"http://127.0.0.1:{refusing_influx.server_port}"}
    elif influxdb == "octopus":  # an address that answers, but is not InfluxDB
        influxdb = {"url": octopus_api.removesuffix("/v1")}
    influxdb = {key: value.format(database=influx.database) for key, value in influxdb.items()}
    done = run_octograph(make_config(influxdb=influxdb), home, "2024-06-12", "2024-06-12", timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and first_line in done.stderr
    assert not dg.DagsterInstance.from_config(str(home)).get_runs()  # nothing ran
    databases = {row[0] for series in influx.query("SHOW DATABASES") for row in series.get("values", [])}
    assert "no_such_database" not in databases and all_points(influx) == []
    assert "/write" not in refusing_influx.paths


class AuthInfluxd(LocalInfluxd):
    """A private InfluxDB 1.x server as the session's, but with authentication on."""

    def _config(self) -> str:
        return super()._config().replace("[http]\n", "[http]\n  auth-enabled = true\n", 1)


AUTH_DATABASE, ADMIN = "octograph", "admin:admin-secret"


@pytest.fixture(scope="module")
def auth_influxd(tmp_path_factory):
    """The URL of a real InfluxDB 1.x with authentication on, database AUTH_DATABASE, the admin ADMIN, a user
    `reader` who may only read the database and a user `stranger` with no privilege."""
    server = AuthInfluxd(tmp_path_factory.mktemp("influxdb-auth")).start()
    try:
        # Without any user yet, InfluxDB lets anyone create the first admin.
        with InfluxV1Store(server.url, AUTH_DATABASE) as anyone:
            anyone.query("CREATE USER admin WITH PASSWORD 'admin-secret' WITH ALL PRIVILEGES", method="POST")
        with InfluxV1Store(server.url, AUTH_DATABASE, ADMIN) as admin:
            admin.create_database()
            for statement in (
                "CREATE USER reader WITH PASSWORD 'reader-secret'",
                f"GRANT READ ON {quote_identifier(AUTH_DATABASE)} TO reader",
                "CREATE USER stranger WITH PASSWORD 'stranger-secret'",
            ):
                admin.query(statement, method="POST")
        yield server.url
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("token", "status", "message"),
    [
        ("admin:wrong-password", 401, "authorization failed"),
        ("stranger:stranger-secret", 403, "error authorizing query: stranger not authorized to execute statement"),
    ],
)
def test_an_influxdb_that_refuses_the_credentials_exits_2_naming_the_option(
    auth_influxd, make_config, home, monkeypatch, token, status, message
):
    """The real influxd with authentication on: a wrong password (HTTP 401) and a user with no privilege on the
    database (HTTP 403) are found by the start-up check, through the real command: exit 2, one line naming
    [influxdb] token_env_var, no run, and not a point written."""
    config = make_config(
        influxdb={"url": auth_influxd, "bucket": AUTH_DATABASE, "token_env_var": "OCTOGRAPH_TEST_INFLUXDB_TOKEN"}
    )
    monkeypatch.setenv("OCTOGRAPH_TEST_INFLUXDB_TOKEN", token)
    answer = requests.get(  # what the server answers these credentials, as the check asks
        f"{auth_influxd}/query",
        params={"db": AUTH_DATABASE, "q": "SHOW RETENTION POLICIES"},
        auth=tuple(token.split(":")),
        timeout=30,
    )
    assert answer.status_code == status and "X-Influxdb-Version" in answer.headers, answer.text
    done = run_octograph(config, home, "2024-06-12", "2024-06-12", timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"octograph: InfluxDB refused a query ({message}"), done.stderr
    assert (
        done.stderr.endswith("): check the credentials in the variable named by [influxdb] token_env_var\n")
        and done.stderr.count("\n") == 1
    ), done.stderr
    assert not dg.DagsterInstance.from_config(str(home)).get_runs()
    with InfluxV1Store(auth_influxd, AUTH_DATABASE, ADMIN) as admin:
        assert all_points(admin) == []


def test_an_influxdb_user_who_may_not_write_is_found_before_anything_runs(
    auth_influxd, make_config, home, monkeypatch
):
    """A user with the READ privilege only passes a query: the start-up check's empty write is refused (403)."""
    config = make_config(
        influxdb={"url": auth_influxd, "bucket": AUTH_DATABASE, "token_env_var": "OCTOGRAPH_TEST_INFLUXDB_TOKEN"}
    )
    monkeypatch.setenv("OCTOGRAPH_TEST_INFLUXDB_TOKEN", "reader:reader-secret")
    done = run_octograph(config, home, "2024-06-12", "2024-06-12", timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "[influxdb] token_env_var" in done.stderr, done.stderr
    assert not dg.DagsterInstance.from_config(str(home)).get_runs()


@pytest.mark.parametrize(
    ("instance_file", "problem"),
    [
        ("telemetry:\n  enabled: [false\n", "not valid YAML at line 3, column 1: expected ',' or ']'"),
        (
            "event_log_storage:\n  module: octograph_pipeline.orchestration.instance\n  class: NoSuchStorage\n"
            "  config: {}\n",
            "Couldn't find class NoSuchStorage in module when attempting to load the configurable class",
        ),
        (
            "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n  config:\n"
            "    dequeue_interval_seconds: many\n",
            'Invalid scalar at path root:dequeue_interval_seconds. Value "many"',
        ),
        (
            "run_launcher:\n  module: no_such_module\n  class: Launcher\n",
            "Couldn't import module no_such_module when attempting to load the configurable class",
        ),
    ],
)
def test_a_broken_dagster_yaml_is_one_line_and_exit_2(make_config, influx, tmp_path, instance_file, problem):
    home = tmp_path / "broken_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_file)
    done = run_octograph(make_config(), home, "2024-06-12", "2024-06-12", timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"octograph: {home}/dagster.yaml: ") and problem in lines[0]
    assert all_points(influx) == []


def test_verbose_shows_dagsters_log_on_success_too(make_config, home):
    done = run_octograph(make_config(), home, "2024-06-12", "2024-06-12", timeout=120, verbose=True)
    assert done.returncode == 0, done.stderr
    assert 'Finished execution of run for "octopus_consumption"' in done.stderr


def test_a_sigint_while_the_command_starts_is_one_line(make_config, home):
    """Ctrl-C while pandas and Dagster are still importing: no traceback, exit 130. The signal is sent once the
    command has begun importing numpy (its extension is mapped), which it does only inside main's guard."""
    command = [str(Path(sys.executable).parent / "octograph"), f"--config-file={make_config()}"]
    command += ["--from-date=2024-06-12", "--to-date=2024-06-12"]
    with started(command, stderr=subprocess.PIPE, text=True, grace=10) as process:
        wait_until(lambda: maps(process.pid, "/numpy/"), what="the command importing numpy", poll=0.01)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (130, "octograph: stopped by SIGINT\n")


def maps(pid: int, text: str) -> bool:
    """Whether a file whose path holds `text` is mapped into process `pid` (a shared library it loaded)."""
    with contextlib.suppress(OSError):
        return text in Path(f"/proc/{pid}/maps").read_text()
    return False


@pytest.mark.parametrize(
    ("octopus", "env", "first_line"),
    [
        (
            {},
            {"OCTOGRAPH_TEST_OCTOPUS_API_KEY": "sk_test_revoked"},
            "the Octopus API rejected the API key (HTTP 401",
        ),
        (
            {"account_number": "A-NOPE0001"},
            {},
            "Octopus account A-NOPE0001 not found (check [octopus] account_number)",
        ),
        (
            {"api_prefix": "http://127.0.0.1:9/v1"},
            {},
            "cannot connect to the Octopus API at http://127.0.0.1:9/v1",
        ),
    ],
)
def test_a_key_account_or_api_that_cannot_work_is_found_before_anything_runs(
    make_config, influx, home, octopus, env, first_line, monkeypatch
):
    config = make_config(octopus=octopus)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    done = run_octograph(config, home, "2024-06-12", "2024-06-12", timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"octograph: {first_line}")
    assert all_points(influx) == [] and not dg.DagsterInstance.from_config(str(home)).get_runs()
