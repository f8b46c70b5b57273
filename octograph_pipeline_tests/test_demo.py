"""`make demo` in a temporary folder: a real Dagster run on a persistent DAGSTER_HOME, then the table."""

import datetime as dt
import os
import shlex
import signal
import socket
import time
from pathlib import Path

import dagster as dg
import pytest
import requests

from octograph_pipeline.clients.influx import InfluxV1Store
from octograph_pipeline.dev import demo
from octograph_pipeline.dev.influxd import LocalInfluxd, free_port
from octograph_pipeline.dev.simulator import OctopusSimulator, serve

from .dagster_ui import DagsterDev
from .helpers import freeze_now
from .processes import describe, group_members, wait_until_gone

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration


def test_demo_materialises_the_last_days_and_is_safe_to_rerun(tmp_path, monkeypatch, capsys):
    for name in ("DAGSTER_HOME", "OCTOGRAPH_CONFIG", demo.DEMO_KEY_ENV_VAR):
        monkeypatch.setenv(name, "")
    now = dt.datetime.now(dt.UTC)
    freeze_now(monkeypatch, now)  # both runs and the test agree on yesterday, even across midnight
    stack = {"local": tmp_path, "influx_port": free_port(), "simulator_port": free_port()}
    assert demo.run(day_count=2, **stack) == 0
    assert demo.run(day_count=2, **stack) == 0
    output = capsys.readouterr().out
    yesterday = now.astimezone(demo.TZ).date() - dt.timedelta(days=1)
    table = output[output.rindex("measurement") : output.rindex("What the same half-hours")]
    for measurement in ("meter_consumption", "electricity_consumption", "gas_consumption", "electricity_pricing"):
        rows = [line for line in table.splitlines() if line.startswith(measurement + " ")]
        assert len(rows) == 2, table
        assert str(yesterday) in rows[-1]
    assert table.splitlines()[0].split()[2:] == [
        "points",
        "import",
        "kWh",
        "export",
        "kWh",
        "gas",
        "kWh",
        "£",
        "inc",
        "VAT",
    ]
    # Import, export and gas kWh apart: the readings equal what was priced, kind by kind, day by day.
    rows = [line.split() for line in table.splitlines()[1:] if line.strip()]
    cells = {(row[0], row[1]): row[2:] for row in rows}
    for day in {day for measurement, day in cells if measurement == "meter_consumption"}:
        readings = [float(kwh) for kwh in cells["meter_consumption", day][1:4]]
        electricity, gas = cells["electricity_consumption", day], cells["gas_consumption", day]
        assert readings == [float(electricity[1]), float(electricity[2]), float(gas[3])], table
        assert min(readings) > 0 and float(electricity[3]) == float(gas[1]) == 0
        assert all(len(cost.partition(".")[2]) == 2 for cost in (electricity[4], gas[4]))  # £, 2 places
    # After the table, each meter point's actual cost and each configured product's, with the saving.
    compared = output[output.rindex("What the same half-hours") : output.rindex("Each meter point,")].splitlines()
    compared = [line for line in compared if line.strip()]
    products = {line.split()[2] for line in compared[2:]}
    assert products == {"actual", "AGILE-24-10-01", "GO-VAR-22-10-14", "SILVER-24-12-31"} | {
        "AGILE-OUTGOING-19-05-13"
    }
    assert {line.split()[0] for line in compared[2:]} == {"electricity", "export", "gas"}
    assert all(len(line.split()) == 5 for line in compared[2:] if " actual " not in line)
    # Last, each meter point's kWh, cost and kg CO2 beside each other: the cost is the comparison's actual one.
    emitted = output[output.rindex("Each meter point,") :].splitlines()
    assert emitted[1].split() == ["meter", "point", "kWh", "£", "inc", "VAT", "kg", "CO2"]
    rows = {" ".join(line.split()[:2]): line.split()[2:] for line in emitted[2:]}
    actual = {" ".join(line.split()[:2]): line.split()[3] for line in compared[2:] if " actual " in line}
    assert set(rows) == set(actual) and len(rows) == 3
    for meter, (kwh, cost, kg) in rows.items():
        assert cost == actual[meter], (meter, emitted)
        sign = -1 if meter.startswith("export") else 1
        assert sign * float(kwh) > 0 and sign * float(kg) > 0, emitted  # export: avoided, negative
    # The runs were recorded on the persistent instance, so `make ui` shows the materialised partitions.
    instance = dg.DagsterInstance.from_config(str(tmp_path / "dagster_home"))
    materialized = instance.get_materialized_partitions(dg.AssetKey("priced_consumption"))
    assert str(yesterday) in materialized and len(materialized) == 2
    assert not (tmp_path / "influxdb" / "influxd.pid").exists()  # the demo stopped the server it started


def test_a_taken_port_is_one_line_naming_it_and_its_process(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "LOCAL", tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("OCTOGRAPH_DEMO_SIMULATOR_PORT", str(port))
        monkeypatch.setenv("OCTOGRAPH_DEMO_INFLUX_PORT", str(free_port()))
        assert demo.main(["run"]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and f"port {port} (the simulated Octopus API) is in use by" in error, error
    assert f"pid {os.getpid()}" in error and "OCTOGRAPH_DEMO_SIMULATOR_PORT" in error
    assert not (tmp_path / "influxdb" / "influxd.pid").exists()  # nothing was left running


def test_make_demo_while_make_ui_runs_says_to_stop_it_first(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "LOCAL", tmp_path)
    (tmp_path / "stack.lock").write_text(f"{os.getppid()} make ui")  # a live process holds the stack
    assert demo.main(["run"]) == 1
    error = capsys.readouterr().err.strip()
    assert error == (
        f"python -m octograph_pipeline.dev.demo run: `make ui` (pid {os.getppid()}) is using the demo stack: "
        "stop it first (Ctrl-C in its terminal)"
    )


def test_someone_elses_influxdb_on_the_demo_port_is_refused_and_left_untouched(tmp_path, monkeypatch, capsys):
    """Another InfluxDB answering /ping on the demo's port is not the demo's (its data dir and pid are not ours):
    the demo stops with one line naming the port and the process, and writes nothing into it."""
    foreign = LocalInfluxd(tmp_path / "someone_else").start()
    try:
        monkeypatch.setattr(demo, "LOCAL", tmp_path / "local")
        monkeypatch.setenv("OCTOGRAPH_DEMO_INFLUX_PORT", str(foreign.port))
        monkeypatch.setenv("OCTOGRAPH_DEMO_SIMULATOR_PORT", str(free_port()))
        assert demo.main(["run"]) == 1
        error = capsys.readouterr().err.strip()
        assert "\n" not in error and f"port {foreign.port} (the demo's InfluxDB) is in use by" in error, error
        assert "OCTOGRAPH_DEMO_INFLUX_PORT" in error
        databases = InfluxV1Store(foreign.url, "_internal").query("SHOW DATABASES")
        assert demo.DEMO_DATABASE not in {row[0] for series in databases for row in series.get("values", [])}
    finally:
        foreign.stop()


def test_every_fault_command_make_ui_prints_works_on_the_simulator(monkeypatch):
    """Each curl line `make ui` prints, sent as curl would send it, sets what it says."""
    now = dt.datetime.now(dt.UTC)
    freeze_now(monkeypatch, now)  # the day the printed command names is the test's, even across midnight
    simulator = OctopusSimulator()
    with serve(simulator) as api_prefix:
        root = api_prefix.removesuffix("/v1")
        commands = [line.strip() for line in demo.rehearsal_help(3000, root).splitlines() if "curl" in line]
        assert len(commands) == 8
        seen = []
        for command in commands:
            words = shlex.split(command)
            body = words[words.index("-d") + 1] if "-d" in words else None
            url = next(word for word in words if word.startswith("http"))
            response = requests.post(url, data=body, timeout=5) if body else requests.get(url, timeout=5)
            assert response.status_code == 200, (command, response.text)
            faults = (sorted(simulator.fail_days), simulator.reading_scale, simulator.error_rate)
            seen.append((*faults, sorted(simulator.carbon.missing)))
    day = now.astimezone(demo.TZ).date() - dt.timedelta(days=2)
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    assert seen == [
        ([day], 1.0, 0.0, []),
        ([], 1.0, 0.0, []),
        ([], 1.5, 0.0, []),
        ([], 1.5, 0.2, []),
        ([], 1.0, 0.0, []),
        ([], 1.0, 0.0, [noon]),
        ([], 1.0, 0.0, []),
        ([], 1.0, 0.0, []),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("sigint", [signal.SIG_DFL, signal.SIG_IGN], ids=["terminal", "background job"])
def test_one_sigterm_stops_the_ui_services_and_their_code_servers(tmp_path, config_file, sigint):
    """`make ui`'s services (`python -m octograph_pipeline.daemon dev`: webserver, daemon, their code servers)
    given one SIGTERM, as `kill PID` gives it, also when started with SIGINT ignored: the supervisor exits with
    143 and every process of the group is gone within seconds (stopping them takes about 3 s here; a service
    that ignored the supervisor's SIGINT would hold it 30 s, and an orphaned code server would stay longer)."""
    home = tmp_path / "dagster_home"
    demo.prepare_dagster_home(home)
    env = {"OCTOGRAPH_CONFIG": str(config_file)}
    with DagsterDev(REPO / "workspace.yaml", home, env, sigint=sigint) as dev:
        services = group_members(dev.process.pid)
        assert len(services) >= 4, describe(services)  # supervisor, webserver, daemon, code server(s)
        signalled = time.monotonic()
        dev.process.send_signal(signal.SIGTERM)
        assert dev.process.wait(timeout=120) == 143, dev.log_tail()
        left = wait_until_gone(dev.process, timeout=60)
        assert not left and time.monotonic() - signalled < 20, describe(left) + dev.log_tail()
