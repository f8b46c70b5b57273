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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from octograph_pipeline.definitions import build_definitions
from octograph_pipeline.demo import prepare_dagster_home

from .conftest import materialize_days
from .test_pipeline import all_points

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POOL = "octopus_api"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A DAGSTER_HOME with the repo's dagster.yaml, as a user's (its storage is found through $DAGSTER_HOME)."""
    home = tmp_path / "dagster_home"
    prepare_dagster_home(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def octograph(config: Path, home: Path, first: str, last: str, verbose: bool = False) -> subprocess.Popen:
    """The command, as a user starts it, in its own process; output in pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "octograph_pipeline.cli", f"--config-file={config}"]
        + [f"--from-date={first}", f"--to-date={last}"]
        + (["--verbose"] if verbose else []),
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_octograph(
    config: Path, home: Path, first: str, last: str, timeout: float, verbose: bool = False
) -> subprocess.CompletedProcess:
    """The command run to its end."""
    process = octograph(config, home, first, last, verbose)
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def wait_until(condition, timeout: float = 60, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen in {timeout} s")


def claimed_slots(home: Path) -> list:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return instance.event_log_storage.get_concurrency_info(POOL).claimed_slots


def runs_of(home: Path, process: subprocess.Popen) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return instance.get_runs(dg.RunsFilter(tags={"octograph/pid": str(process.pid)}))


def test_a_run_killed_while_holding_the_pool_does_not_wedge_the_next(home, make_config, simulator):
    """SIGKILL (the OOM killer, `timeout -k`, a reboot) while a step holds the octopus_api pool slot: the next
    command frees it, marks the dead run failed and completes, instead of waiting forever."""
    config = make_config()
    simulator.latency = 1.0  # the year's first step holds the slot for seconds
    killed = octograph(config, home, "2024-01-01", "2024-12-31")
    wait_until(lambda: claimed_slots(home), what="the first command claiming the pool")
    killed.kill()
    killed.communicate(timeout=30)
    assert claimed_slots(home)  # the slot outlives its process

    simulator.latency = 0
    done = run_octograph(config, home, "2024-06-12", "2024-06-12", timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"freed the pool slot of run {runs_of(home, killed)[0].run_id[:8]}" in done.stderr
    assert f"whose process (pid {killed.pid}) is gone" in done.stderr
    assert [run.status for run in runs_of(home, killed)] == [dg.DagsterRunStatus.FAILURE]
    assert not claimed_slots(home)


def test_a_command_already_waiting_frees_the_slot_of_a_holder_killed_meanwhile(home, make_config, simulator):
    """The issue's reproduction: X waits for the pool while Y holds it; Y is SIGKILLed. X notices within seconds
    (not when the next command starts), frees Y's slot, marks Y failed and completes."""
    config = make_config()
    simulator.latency = 1.0
    holder = octograph(config, home, "2024-01-01", "2024-12-31")
    wait_until(lambda: claimed_slots(home), what="the first command claiming the pool")
    waiting = octograph(config, home, "2024-06-12", "2024-06-12")
    said: list[str] = []
    wait_until(
        lambda: said.append(waiting.stderr.readline()) or "waiting for the octopus_api pool" in said[-1],
        what="the second command saying it waits",
    )
    holder.kill()
    holder.communicate(timeout=30)
    killed_at = time.monotonic()
    simulator.latency = 0
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert time.monotonic() - killed_at < 30  # seconds: it looks every 2 s while it waits
    (dead,) = runs_of(home, holder)
    assert f"freed the pool slot of run {dead.run_id[:8]}, whose process (pid {holder.pid}) is gone" in err
    assert dead.status == dg.DagsterRunStatus.FAILURE
    assert "2024-06-12  prices ok  consumption ok" in out
    assert not claimed_slots(home)


def test_the_dead_runs_sensor_frees_the_slot_of_a_daemon_run_whose_process_died(home, config_file):
    """The daemon's runs: Dagster's run monitoring cannot tell that a default-launched run's process died. The
    sensor (evaluated with Dagster's own test API) marks such a run failed and frees its slot, leaving a live
    run's alone."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots(POOL, 2)
        started = {}
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
            started[name] = run.run_id
        sensor = build_definitions(config_file).resolve_sensor_def("dead_runs")
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        result = sensor.evaluate_tick(dg.build_sensor_context(instance))
        assert result.skip_message == (
            f"freed the pool slot of run {started['dead'][:8]}, whose process (pid {gone.pid}) is gone; "
            f"marked run {started['dead, no slot'][:8]} failed: its process (pid {gone.pid}) is gone"
        )
        assert instance.get_run_by_id(started["dead"]).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(started["dead, no slot"]).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(started["alive"]).status == dg.DagsterRunStatus.STARTED
        assert [slot.run_id for slot in storage.get_concurrency_info(POOL).claimed_slots] == [started["alive"]]


def test_a_waiting_command_names_the_run_it_waits_for_and_sigint_stops_the_other_cleanly(
    home, make_config, simulator
):
    config = make_config()
    simulator.latency = 1.0  # each of the first command's steps holds the pool for seconds
    first = octograph(config, home, "2024-01-01", "2024-12-31")
    wait_until(lambda: claimed_slots(home), what="the first command claiming the pool")
    second = octograph(config, home, "2024-06-12", "2024-06-12")
    said: list[str] = []

    def told_why() -> bool:
        said.append(second.stderr.readline())
        return "waiting for the octopus_api pool, held by run" in said[-1]

    wait_until(told_why, what="the second command saying what it waits for")
    assert re.search(
        rf"held by run \w{{8}} \(pid {first.pid}\) of octopus_(prices|consumption)$", said[-1].strip()
    )

    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert "SIGINT: stopping after the current step" in err
    assert "stopped by SIGINT: 0 day(s) done; not done: 2024-01-01 .. 2024-12-31" in err
    assert "Traceback" not in err
    assert [run.job_name for run in runs_of(home, first)] == ["octopus_prices"]  # no consumption run started

    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "2024-06-12  prices ok  consumption ok" in out
    assert not claimed_slots(home)


def test_sigterm_twice_stops_at_once_and_frees_the_pool(home, make_config, simulator):
    config = make_config()
    simulator.latency = 1.0
    command = octograph(config, home, "2024-01-01", "2025-06-30")
    wait_until(lambda: claimed_slots(home), what="the command claiming the pool")
    command.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    command.send_signal(signal.SIGTERM)
    out, err = command.communicate(timeout=60)
    assert command.returncode == 143, err
    assert "stopped by SIGTERM: 0 day(s) done; not done: 2024-01-01 .. 2025-06-30" in err
    assert [run.status for run in runs_of(home, command)] == [dg.DagsterRunStatus.CANCELED]
    assert not claimed_slots(home)


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
    assert time.monotonic() - began < 30  # two attempts of at most 2 s of waiting each, 1 s apart
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
    assert time.monotonic() - began < 45  # the 3 s budget, plus starting Python and Dagster
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
    assert time.monotonic() - began < 30
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
    assert verbose.returncode == 1 and 'octopus/client.py", line' in verbose.stderr  # the stack trace


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
    assert time.monotonic() - began < 50  # not retried after 60 s
    assert done.stderr.splitlines()[0] == (
        "octograph: octopus_consumption failed: meter_consumption usage_kwh is inf at 2024-06-12 05:30:00+00:00: "
        "a number that cannot be true (check the config's numeric options); nothing was written"
    )
    assert all_points(influx) == before != []


class RefusingInflux(BaseHTTPRequestHandler):
    """InfluxDB with authentication on, refusing the credentials given."""

    def do_GET(self):
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
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
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
        ("refusing", "InfluxDB refused a query (authorization failed): check the credentials in the variable"),
        (
            "octopus",
            "did not answer a query as InfluxDB does (HTTP 404, text/plain; charset=utf-8): check [influxdb] url",
        ),
    ],
)
def test_an_influxdb_that_refuses_is_found_before_anything_runs(
    make_config, influx, home, octopus_api, refusing_influx, influxdb, first_line
):
    """Found by the start-up check (exit 2, one line naming the option), not at run time (exit 1)."""
    if influxdb == "refusing":
        influxdb = {"url": refusing_influx}
    elif influxdb == "octopus":  # an address that answers, but is not InfluxDB
        influxdb = {"url": octopus_api.removesuffix("/v1")}
    influxdb = {key: value.format(database=influx.database) for key, value in influxdb.items()}
    done = run_octograph(make_config(influxdb=influxdb), home, "2024-06-12", "2024-06-12", timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and first_line in done.stderr
    assert not dg.DagsterInstance.from_config(str(home)).get_runs()  # nothing ran


@pytest.mark.parametrize(
    ("instance_file", "problem"),
    [
        ("telemetry:\n  enabled: [false\n", "not valid YAML at line 3, column 1: expected ',' or ']'"),
        (
            "event_log_storage:\n  module: octograph_pipeline.instance\n  class: NoSuchStorage\n  config: {}\n",
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
    """Ctrl-C while pandas and Dagster are still importing: no traceback, exit 130."""
    command = [str(Path(sys.executable).parent / "octograph"), f"--config-file={make_config()}"]
    process = subprocess.Popen(
        [*command, "--from-date=2024-06-12", "--to-date=2024-06-12"], stderr=subprocess.PIPE, text=True
    )
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (130, "octograph: stopped by SIGINT\n")


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
