"""Many households back-filled as a deployment would: N generated households (Agile with export and gas, Economy 7,
fixed, Intelligent in turn, each with its own key) × a year, launched as one backfill of every household's assets
through the real webserver and daemon, on the compose stack's PostgreSQL instance, the simulator answering after
100 ms. With `workers`, the runs' steps execute on that many Dagster Celery workers (Debian's Redis as the broker).

Measured: wall time from launch to the backfill's end, Octopus requests, Dagster events stored, the peak memory of
all the deployment's processes together (webserver, daemon, run workers, Celery workers), and the growth of the
PostgreSQL database and of DAGSTER_HOME. `python -m benchmarks.households N [WORKERS]` runs it alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
YEAR = (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
LATENCY_SECONDS = 0.1
NOW = dt.datetime(2025, 1, 2, 12, tzinfo=dt.UTC)  # the year is complete, every price published
COMPOSE_EVENT_BATCH_SIZE = "1000"  # docker-compose.yml's DAGSTER_EVENT_BATCH_SIZE
HOUSEHOLDS = int(os.environ.get("OCTOGRAPH_BENCH_HOUSEHOLDS", "100"))


def _tree_rss_mb(root: int) -> float:
    """The resident memory of `root` and all its descendants, in MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            status = Path(f"/proc/{name}/status").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
        rss[int(name)] = next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")), 0
        )
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total / 1024


@contextlib.contextmanager
def _peak_memory(pids: list[int]):
    """Samples the processes' trees every 0.5 s; yields a dict whose "mb" is the peak so far."""
    peak, stop = {"mb": 0.0}, threading.Event()

    def sample():
        while not stop.is_set():
            peak["mb"] = max(peak["mb"], sum(_tree_rss_mb(pid) for pid in pids))
            stop.wait(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def _du_mb(path: Path) -> float:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file()) / 2**20


def _why(dagster, backfill: dict) -> str:
    """The backfill's error, or its first failed runs' failure messages (the instance goes with the bench)."""
    failed = [run for run in backfill["runs"] if run["status"] != "SUCCESS"]
    lines = [f"{backfill['error']}; {len(failed)} of {len(backfill['runs'])} runs did not succeed"]
    for run in failed[:5]:
        failures = [
            f"{event['stepKey'] or 'run'}: {event['message'][:400]}"
            for event in dagster.run_events(run["runId"])
            if event["eventType"] in ("STEP_FAILURE", "RUN_FAILURE", "ENGINE_EVENT")
            and "fail" in event["message"].lower()
        ]
        lines.append(f"run {run['runId'][:8]} {run['status']}: " + " | ".join(failures[:4]))
    return "\n".join(lines)


def many_households(count: int, workers: int = 0) -> dict:
    from octograph_pipeline.clients.influx import InfluxV1Store
    from octograph_pipeline.core.days import day_range
    from octograph_pipeline.dev.demo import prepare_dagster_home
    from octograph_pipeline.dev.influxd import LocalInfluxd
    from octograph_pipeline.dev.simulator import OctopusSimulator, serve
    from octograph_pipeline.dev.simulator.household import generated_households
    from octograph_pipeline_tests.dagster_ui import DagsterDev
    from octograph_pipeline_tests.helpers import household_names, write_households_config
    from octograph_pipeline_tests.local_celery import celery_workers, local_redis
    from octograph_pipeline_tests.local_postgres import local_postgres

    households = generated_households(count)
    days = day_range(*YEAR)
    simulator = OctopusSimulator(
        api_key="sk_bench_shared", households=households, latency=LATENCY_SECONDS, clock=lambda: NOW
    )
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="octograph-households-")))
        influxd = LocalInfluxd(tmp / "influxdb").start()
        stack.callback(influxd.stop)
        api_prefix = stack.enter_context(serve(simulator))
        InfluxV1Store(influxd.url, "households").create_database()
        env = {**os.environ, **stack.enter_context(local_postgres()), "PYTHONPATH": str(REPO)}
        env["DAGSTER_EVENT_BATCH_SIZE"] = COMPOSE_EVENT_BATCH_SIZE  # as the compose stack sets it
        env.pop("DAGSTER_HOME", None)
        config, pipeline = tmp / "households.ini", {"start_date": str(YEAR[0])}
        if workers:
            pipeline["celery_broker"] = stack.enter_context(local_redis(tmp))
        env |= write_households_config(
            config, influxd.url, "households", api_prefix, households, "OCTOGRAPH_BENCH_KEY_",
            octopus={"cache_dir": str(tmp / "cache")}, pipeline=pipeline,
        )  # fmt: skip
        env["OCTOGRAPH_CONFIG"] = str(config)
        home = tmp / "dagster_home"
        prepare_dagster_home(home)
        (home / "dagster.yaml").write_text((REPO / "deploy" / "dagster.yaml").read_text())  # PostgreSQL
        env["DAGSTER_HOME"] = str(home)
        pids = []
        if workers:
            broker = pipeline["celery_broker"]
            pids = [w.pid for w in stack.enter_context(celery_workers(tmp, env, broker, workers, concurrency=2))]
        dagster = stack.enter_context(DagsterDev(REPO / "workspace.yaml", home, env, startup_timeout=600))
        database_before, home_before = _database_mb(env), _du_mb(home)
        assets = [
            f"{name}/{asset}"
            for name, household in zip(household_names(count), households, strict=True)
            for asset in ("account", "tariff_rates", "meter_consumption", "priced_consumption")
            + (("intelligent_dispatches",) if household.ev_mpan else ())
        ]
        simulator.reset_counts()
        with _peak_memory([dagster.process.pid, *pids]) as peak:
            backfill = dagster.wait_for_backfill(dagster.launch_asset_backfill(assets, days), timeout=7200)
        if backfill["status"] != "COMPLETED_SUCCESS":
            raise RuntimeError(f"the households' backfill ended {backfill['status']}: {_why(dagster, backfill)}")
        return {
            "households": count,
            "days": len(days),
            "celery_workers": workers,
            "wall_s": round(backfill["seconds"], 1),
            "runs": len(backfill["runs"]),
            "octopus_requests": sum(simulator.request_counts.values()),
            "dagster_events": _events(env),
            "peak_memory_mb": round(peak["mb"]),
            "postgres_growth_mb": round(_database_mb(env) - database_before, 1),
            "dagster_home_growth_mb": round(_du_mb(home) - home_before, 1),
            "points": _points(influxd.url),
        }


def _psql(env: dict, sql: str) -> str:
    command = [
        "psql", "-At", "-h", env["DAGSTER_POSTGRES_HOST"], "-p", env["DAGSTER_POSTGRES_PORT"],
        "-U", env["DAGSTER_POSTGRES_USER"], "-d", env["DAGSTER_POSTGRES_DB"], "-c", sql,
    ]  # fmt: skip
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**env, "PGPASSWORD": env.get("DAGSTER_POSTGRES_PASSWORD", "")},
    )
    if run.returncode:
        raise RuntimeError(run.stderr)
    return run.stdout.strip()


def _database_mb(env: dict) -> float:
    return int(_psql(env, "SELECT pg_database_size(current_database())")) / 2**20


def _events(env: dict) -> int:
    return int(_psql(env, "SELECT count(*) FROM event_logs"))


def _points(influx_url: str) -> int:
    from octograph_pipeline.clients.influx import InfluxV1Store
    from octograph_pipeline.core.schema import MEASUREMENTS

    store = InfluxV1Store(influx_url, "households")
    total = 0
    for name in MEASUREMENTS:
        for series in store.query(f'SELECT count(*) FROM "{name}"'):
            total += max(series["values"][0][1:])
    return total


def table(result: dict) -> str:
    how = f"{result['celery_workers']} Celery workers" if result["celery_workers"] else "in-process steps"
    return (
        f"(7) {result['households']} households × {result['days']} days, one UI backfill on PostgreSQL ({how}): "
        f"{result['wall_s']:.0f} s ({result['wall_s'] / 60:.1f} min), {result['runs']} runs, "
        f"{result['octopus_requests']:,} Octopus requests, {result['dagster_events']:,} Dagster events, "
        f"{result['points']:,} points; peak memory {result['peak_memory_mb']:,} MB; PostgreSQL +"
        f"{result['postgres_growth_mb']:.0f} MB, DAGSTER_HOME +{result['dagster_home_growth_mb']:.1f} MB"
    )


if __name__ == "__main__":
    import json

    result = many_households(
        int(sys.argv[1]) if len(sys.argv) > 1 else HOUSEHOLDS, int(sys.argv[2]) if len(sys.argv) > 2 else 0
    )
    print(table(result))
    latest = REPO / "benchmarks" / "results" / "latest.json"
    results = json.loads(latest.read_text()) if latest.exists() else {}
    latest.write_text(json.dumps({**results, "households": result}, indent=2) + "\n")
