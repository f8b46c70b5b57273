"""`make bench`: the performance report. A script, not a timed test: it measures, prints a table and writes
benchmarks/results/latest.json; nothing here passes or fails on a time.

On the embedded default (the demo household: import switching to Agile, export, SMETS2 gas; a private
InfluxDB 1.x; the Octopus simulator answering every request after 100 ms), in one run:

1. a year of history through the `octograph` CLI on each instance a user may have: a DAGSTER_HOME with our
   dagster.yaml (SQLite), a new, empty DAGSTER_HOME, none at all, and the compose stack's PostgreSQL instance
   (deploy/dagster.yaml on a private PostgreSQL server, DAGSTER_EVENT_BATCH_SIZE as compose sets it);
2. the same year through the direct floor (our client, pure functions and writer, no Dagster);
3. a 20-day backfill of all four assets launched through the real webserver + daemon, as from the UI, on the
   SQLite and on the PostgreSQL instance;
4. the daily schedule's run (yesterday's consumption) and the Agile schedule's run (today and tomorrow);
5. line-protocol build rate, InfluxDB write rate, and the peak RSS of (1);
6. what one Dagster event costs on each storage (benchmarks/event_costs.py);
7. many households: OCTOGRAPH_BENCH_HOUSEHOLDS (100) generated households × the year as one UI backfill on the
   PostgreSQL instance (benchmarks/households.py; about 20 minutes of the bench).

Each measured process reports where its time went (benchmarks/instrument.py): waiting on Octopus, our own
compute (frames, pricing, checks, metadata, line protocol), InfluxDB writes and reads, start-up (the
interpreter and imports) and the rest, which is Dagster's bookkeeping (run creation, events, daemon). The config
is the README's default: gas units come from Kraken (its token exchange and units query count as waiting on
Octopus). The bench fails (exit 1) if the CLI's instances and the floor did not write identical points.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks import households

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "latest.json"
YEAR = (dt.date(2024, 1, 1), dt.date(2024, 12, 31))  # 366 days, both clock changes
UI_DAYS = (dt.date(2024, 11, 1), dt.date(2024, 11, 20))
UI_DAYS_COUNT = (UI_DAYS[1] - UI_DAYS[0]).days + 1
LATENCY_SECONDS = 0.1
ASSETS = ["account", "tariff_rates", "meter_consumption", "priced_consumption"]
CATEGORIES = ("octopus", "compute", "influx", "startup")
LONDON = ZoneInfo("Europe/London")
COMPOSE_EVENT_BATCH_SIZE = "1000"  # docker-compose.yml's DAGSTER_EVENT_BATCH_SIZE
# The `octograph` CLI's instances: (row key, label, what DAGSTER_HOME holds)
CLI_INSTANCES = [
    ("cli_sqlite", "(1) CLI, DAGSTER_HOME with dagster.yaml", "sqlite"),
    ("cli_empty_home", "(1) CLI, new empty DAGSTER_HOME", "empty"),
    ("cli_ephemeral", "(1) CLI, no DAGSTER_HOME", None),
    ("cli_postgres", "(1) CLI, compose instance (PostgreSQL)", "postgres"),
]


@dataclass
class Stack:
    """The private InfluxDB, the simulator (in this process) and a scratch directory."""

    tmp: Path
    influx_url: str
    api_prefix: str
    simulator: object
    env: dict = field(default_factory=dict)

    def config(self, name: str, start_date: dt.date = YEAR[0]) -> Path:
        """A demo config writing into a fresh database of its own; no tariff comparison and no carbon, which the
        original script does not do either."""
        from octograph_pipeline.clients.influx import InfluxV1Store
        from octograph_pipeline.dev.demo import demo_config

        InfluxV1Store(self.influx_url, name).create_database()
        return demo_config(
            self.tmp / f"{name}.ini",
            self.influx_url,
            self.api_prefix,
            name,
            start_date,
            comparison=False,
            gas_meter_types=False,
            carbon=False,
        )

    def dagster_home(self, name: str, instance_file: Path | None = REPO / "dagster.yaml") -> Path:
        """A new DAGSTER_HOME holding `instance_file` as its dagster.yaml (None: empty, Dagster's defaults)."""
        home = self.tmp / f"dagster_home_{name}"
        home.mkdir()
        if instance_file is not None:
            shutil.copyfile(instance_file, home / "dagster.yaml")
        return home

    @contextmanager
    def postgres(self):
        """The environment for deploy/dagster.yaml on a new private PostgreSQL server, as compose sets it."""
        from octograph_pipeline_tests.local_postgres import local_postgres

        with local_postgres() as variables:
            yield {**self.env, **variables, "DAGSTER_EVENT_BATCH_SIZE": COMPOSE_EVENT_BATCH_SIZE}


@contextmanager
def bench_stack():
    from octograph_pipeline.dev import demo
    from octograph_pipeline.dev.influxd import LocalInfluxd
    from octograph_pipeline.dev.simulator import OctopusSimulator, serve

    with tempfile.TemporaryDirectory(prefix="octograph-bench-") as tmp:
        influxd = LocalInfluxd(Path(tmp) / "influxdb").start()
        # "Now" is today 17:00 in London: yesterday is complete and tomorrow's Agile prices are out.
        now = dt.datetime.combine(dt.date.today(), dt.time(17), LONDON)
        simulator = OctopusSimulator(
            seed=1,
            account_number=demo.DEMO_ACCOUNT,
            api_key=demo.DEMO_API_KEY,
            start_date=YEAR[0],
            agile_from=dt.date(2024, 7, 1),
            latency=LATENCY_SECONDS,
            clock=lambda: now,
        )
        try:
            with serve(simulator) as api_prefix:
                env = {**os.environ, demo.DEMO_KEY_ENV_VAR: demo.DEMO_API_KEY, "PYTHONPATH": str(REPO)}
                env.pop("DAGSTER_HOME", None)
                yield Stack(Path(tmp), influxd.url, api_prefix, simulator, env)
        finally:
            influxd.stop()


def read_timings(directory: Path) -> dict[str, float]:
    """The timers of every measured process in `directory`, summed (run workers report one file each)."""
    totals: dict[str, float] = {}
    for path in directory.glob("*.json"):
        one = json.loads(path.read_text())
        if "compute" not in one and "startup" not in one:
            continue  # a webserver or daemon process that loaded the code location but ran nothing
        for key, value in one.items():
            totals[key] = totals.get(key, 0.0) + value
    return totals


def breakdown(wall: float, timings: dict[str, float], dagster: bool) -> dict[str, float]:
    """Wall time split into the categories; what no timer saw is Dagster's (or, without Dagster, ours)."""
    parts = {category: timings.get(category, 0.0) for category in CATEGORIES}
    rest = max(0.0, wall - sum(parts.values()))
    if dagster:
        parts["dagster"] = rest
    else:
        parts["compute"] += rest
        parts["dagster"] = 0.0
    return {f"{key}_s": round(value, 3) for key, value in parts.items()}


def measured_process(stack: Stack, name: str, args: list[str], env: dict) -> dict:
    """Runs `python -m benchmarks.run_instrumented ARGS` and measures it from outside (wall, peak RSS,
    Octopus requests) and inside (its timers)."""
    timings = stack.tmp / f"timings_{name}"
    timings.mkdir()
    log = stack.tmp / f"{name}.log"
    stack.simulator.reset_counts()
    began = time.perf_counter()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.run_instrumented", *args],
            env={**env, "OCTOGRAPH_BENCH_TIMINGS": str(timings)},
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{name} failed; its output ends:\n{log.read_text()[-3000:]}")
    return {
        "wall_s": round(wall, 3),
        "octopus_requests": sum(stack.simulator.request_counts.values()),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        **breakdown(wall, read_timings(timings), dagster=args[0] != "floor"),
    }


def year_through_cli(stack: Stack, name: str, home: str | None) -> dict:
    """The year through `octograph` on DAGSTER_HOME `home`: "sqlite" (our dagster.yaml), "empty", "postgres"
    (deploy/dagster.yaml) or None (unset)."""
    first, last = (day.isoformat() for day in YEAR)
    args = ["cli", f"--config-file={stack.config(name)}", f"--from-date={first}", f"--to-date={last}"]
    if home is None:
        return measured_process(stack, name, args, stack.env)
    if home != "postgres":
        instance_file = REPO / "dagster.yaml" if home == "sqlite" else None
        env = {**stack.env, "DAGSTER_HOME": str(stack.dagster_home(name, instance_file))}
        return measured_process(stack, name, args, env)
    with stack.postgres() as env:
        env["DAGSTER_HOME"] = str(stack.dagster_home(name, REPO / "deploy" / "dagster.yaml"))
        return measured_process(stack, name, args, env)


def year_through_floor(stack: Stack) -> dict:
    first, last = (day.isoformat() for day in YEAR)
    return measured_process(stack, "floor", ["floor", str(stack.config("floor")), first, last], stack.env)


def scheduled_runs(stack: Stack) -> dict:
    """Yesterday's consumption run and today+tomorrow's prices run, each in a fresh process as the daemon
    launches them; yesterday's prices are materialised first (not measured), as the Agile schedule would have."""
    home = stack.dagster_home("schedules")
    env = {**stack.env, "DAGSTER_HOME": str(home)}
    today = dt.datetime.now(LONDON).date()
    config = stack.config("schedules", start_date=today - dt.timedelta(days=30))
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    setup = ["cli", f"--config-file={config}", f"--from-date={yesterday}", f"--to-date={yesterday}"]
    measured_process(stack, "schedules_setup", setup, env)
    return {
        "daily_consumption": measured_process(
            stack, "daily_consumption", ["schedule", "daily_consumption", str(config)], env
        ),
        "agile_prices": measured_process(stack, "agile_prices", ["schedule", "agile_prices", str(config)], env),
    }


def ui_backfill(stack: Stack, postgres: bool = False) -> dict:
    """A backfill of all four assets over UI_DAYS, launched through the webserver's GraphQL API exactly as the
    UI's "Materialize all" dialog does, timed from the launch until the backfill is marked done; on our SQLite
    instance or the compose stack's PostgreSQL one."""
    if not postgres:
        return _ui_backfill(stack, "ui", stack.dagster_home("ui"), stack.env)
    with stack.postgres() as env:
        return _ui_backfill(
            stack, "ui_postgres", stack.dagster_home("ui_postgres", REPO / "deploy/dagster.yaml"), env
        )


def _ui_backfill(stack: Stack, name: str, home: Path, env: dict) -> dict:
    from octograph_pipeline.core.days import day_range
    from octograph_pipeline_tests.dagster_ui import DagsterDev

    timings = stack.tmp / f"timings_{name}"
    timings.mkdir()
    workspace = stack.tmp / f"workspace_{name}.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: benchmarks.instrumented_definitions\n"
        f"      location_name: octograph_pipeline\n      working_directory: {REPO}\n"
    )
    env = {**env, "OCTOGRAPH_CONFIG": str(stack.config(name)), "OCTOGRAPH_BENCH_TIMINGS": str(timings)}
    days = day_range(*UI_DAYS)
    with DagsterDev(workspace, home, env) as dagster:
        stack.simulator.reset_counts()
        backfill = dagster.wait_for_backfill(dagster.launch_asset_backfill(ASSETS, days), timeout=600)
    if backfill["status"] != "COMPLETED_SUCCESS":
        raise RuntimeError(f"the UI backfill ended {backfill['status']}: {backfill}")
    wall = backfill["seconds"]
    in_runs = sum(run["endTime"] - run["events"].get("RUN_START", run["startTime"]) for run in backfill["runs"])
    starting = sum(
        run["events"].get("RUN_START", run["startTime"]) - run["events"].get("RUN_STARTING", run["startTime"])
        for run in backfill["runs"]
    )
    return {
        "days": len(days),
        "wall_s": round(wall, 3),
        "octopus_requests": sum(stack.simulator.request_counts.values()),
        "runs": len(backfill["runs"]),
        "in_runs_s": round(in_runs, 3),
        "run_start_up_s": round(starting, 3),
        "daemon_ticks_and_queue_s": round(wall - in_runs - starting, 3),
        **breakdown(wall, read_timings(timings), dagster=True),
    }


def line_protocol_and_write_rates(stack: Stack) -> dict:
    """Points per second for building line protocol and for writing it, on a year of priced consumption."""
    import pandas as pd

    from octograph_pipeline.clients.influx import InfluxV1Store, frame_to_lines
    from octograph_pipeline.core.schema import ELECTRICITY_CONSUMPTION, GAS_CONSUMPTION

    source = InfluxV1Store(stack.influx_url, "floor")
    start, end = (pd.Timestamp(day, tz=LONDON).tz_convert("UTC") for day in (YEAR[0], YEAR[1] + dt.timedelta(1)))
    frame = source.read([ELECTRICITY_CONSUMPTION, GAS_CONSUMPTION], start, end, {})
    build = []
    for _ in range(3):
        began = time.perf_counter()
        lines = frame_to_lines(frame)
        build.append(time.perf_counter() - began)
    target = InfluxV1Store(stack.influx_url, "write_rate")
    target.create_database()
    began = time.perf_counter()
    target.write_lines(lines)
    write = time.perf_counter() - began
    return {
        "points": len(lines),
        "line_protocol_points_per_s": round(len(lines) / min(build)),
        "influx_write_points_per_s": round(len(lines) / write),
    }


def same_points(stack: Stack, databases: list[str]) -> bool:
    """Whether these databases hold exactly the same points (every measurement, tag, field and time)."""
    from octograph_pipeline.clients.influx import InfluxV1Store
    from octograph_pipeline.core.schema import MEASUREMENTS

    def everything(database: str) -> list:
        store = InfluxV1Store(stack.influx_url, database)
        rows = []
        for name in MEASUREMENTS:
            for series in store.query(f'SELECT * FROM "{name}" GROUP BY *'):
                tags = sorted((series.get("tags") or {}).items())
                rows += [json.dumps([name, tags, row]) for row in series["values"]]
        return sorted(rows)

    first = everything(databases[0])
    return bool(first) and all(everything(database) == first for database in databases[1:])


def event_costs() -> dict:
    """ms per Dagster event on each instance storage, {event kind: {storage: ms}}."""
    from benchmarks import event_costs

    ms, _ = event_costs.all_storages()
    kinds = next(iter(ms.values()))
    return {kind: {storage: round(values[kind], 3) for storage, values in ms.items()} for kind in kinds}


def table(results: dict) -> str:
    floor = results["floor"]["wall_s"]
    heading = f"{'':38} {'wall s':>7} {'× floor':>7} {'requests':>8} {'octopus':>7} {'compute':>7} {'influx':>7}"
    heading += f" {'start-up':>8} {'dagster':>7}"
    lines = [
        f"octograph-pipeline performance report, {results['when']}",
        f"{YEAR[0]}..{YEAR[1]} (366 days) on the demo household; the simulator answers after "
        f"{LATENCY_SECONDS * 1000:.0f} ms; seconds",
        "",
        heading,
    ]
    cli_rows = [(label, results[key]) for key, label, _ in CLI_INSTANCES]
    rows = [
        *cli_rows,
        ("(2) direct floor, no Dagster", results["floor"]),
        (f"(3) UI backfill, {UI_DAYS_COUNT} days, SQLite", results["ui_backfill"]),
        (f"(3) UI backfill, {UI_DAYS_COUNT} days, PostgreSQL", results["ui_backfill_postgres"]),
        ("(4) daily schedule run (yesterday)", results["daily_consumption"]),
        ("(4) Agile prices run (today, tomorrow)", results["agile_prices"]),
    ]
    for label, row in rows:
        ratio = f"{row['wall_s'] / floor:.2f}" if (label, row) in cli_rows else ""
        lines.append(
            f"{label:38} {row['wall_s']:7.2f} {ratio:>7} {row['octopus_requests']:8} {row['octopus_s']:7.2f} "
            f"{row['compute_s']:7.2f} {row['influx_s']:7.2f} {row['startup_s']:8.2f} {row['dagster_s']:7.2f}"
        )
    rates = results["rates"]
    postgres, sqlite = results["cli_postgres"]["wall_s"], results["cli_sqlite"]["wall_s"]
    lines += [
        "",
        f"(1) the compose instance (PostgreSQL) takes {postgres / sqlite:.2f}× the SQLite instance's year",
    ]
    for which in ("ui_backfill", "ui_backfill_postgres"):
        ui = results[which]
        lines.append(
            f"(3) {'PostgreSQL' if which.endswith('postgres') else 'SQLite'}: {ui['runs']} runs, "
            f"{ui['in_runs_s']:.1f} s running, {ui['run_start_up_s']:.1f} s starting run processes, "
            f"{ui['daemon_ticks_and_queue_s']:.1f} s waiting for daemon ticks and the run queue"
        )
    lines += [
        f"(5) line protocol {rates['line_protocol_points_per_s']:,} points/s; InfluxDB writes "
        f"{rates['influx_write_points_per_s']:,} points/s ({rates['points']:,} points); peak RSS of (1) "
        f"{results['cli_sqlite']['peak_rss_mb']:.0f} MB",
        f"    the CLI (every instance) and the floor wrote identical points: {results['identical_points']}",
    ]
    costs = results["event_costs"]
    storages = list(next(iter(costs.values())))
    cell = max(len(name) for name in storages) + 2
    lines += ["", f"{'(6) ms per Dagster event':42}" + "".join(f"{name:>{cell}}" for name in storages)]
    for kind, per_storage in costs.items():
        lines.append(f"    {kind:38}" + "".join(f"{per_storage[name]:{cell}.2f}" for name in storages))
    if "households" in results:
        lines += ["", households.table(results["households"])]
    return "\n".join(lines)


def main() -> int:
    results: dict = {"when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}
    with bench_stack() as stack:
        for key, _, home in CLI_INSTANCES:
            results[key] = year_through_cli(stack, key, home)
        results["floor"] = year_through_floor(stack)
        results["identical_points"] = same_points(stack, ["floor", *(key for key, _, _ in CLI_INSTANCES)])
        results["rates"] = line_protocol_and_write_rates(stack)
        results.update(scheduled_runs(stack))
        results["ui_backfill"] = ui_backfill(stack)
        results["ui_backfill_postgres"] = ui_backfill(stack, postgres=True)
    results["event_costs"] = event_costs()
    results["households"] = households.many_households(households.HOUSEHOLDS)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")
    if not results["identical_points"]:
        print("FAILED: the CLI's instances and the floor wrote different points", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
