"""What storing one Dagster event costs on each instance storage this project runs on, and what changes it.

A partitioned run writes a handful of events per partition and step (planned, materialization, check, step
and log events); a long single-run backfill writes thousands. Each is stored synchronously by the step's
process, so a slow store shows up directly as run time. This measures milliseconds and database connections
per event, written the way a run writes them: `DagsterInstance.report_dagster_event` / `handle_new_event`
(which apply DAGSTER_EVENT_BATCH_SIZE and call the event log storage's `store_event` / `store_event_batch`).

Run from the repository root: `.venv/bin/python -m benchmarks.event_costs [N]` (N events per kind, default 300).
"""

import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationPlanned
from dagster._core.definitions.data_version import CODE_VERSION_TAG, DATA_VERSION_TAG
from dagster._core.events import (
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventBatchMetadata,
    DagsterEventType,
    StepMaterializationData,
    generate_event_batch_id,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
from dagster._core.utils import make_new_run_id
from sqlalchemy import event as sa_event
from sqlalchemy.pool import Pool

from octograph_pipeline.core import checks
from octograph_pipeline.core.schema import Asset
from octograph_pipeline.orchestration.jobs import CONSUMPTION_JOB

REPO = Path(__file__).resolve().parent.parent
BATCH_SIZE = 100  # DAGSTER_EVENT_BATCH_SIZE for the "batch size" columns
ROUNDS = 3  # each row is timed in 3 rounds of n / 3 events; the median round is reported

JOB, STEP, CHECK = CONSUMPTION_JOB, Asset.PRICED_CONSUMPTION, checks.EVERY_INTERVAL_PRICED.name
ASSET = dg.AssetKey(STEP)
DAYS = dg.DailyPartitionsDefinition(start_date="2020-01-01")
# Like our materialisation metadata: counts, a float, a window and a small markdown table.
METADATA = {
    "intervals": 96,
    "points_written": 192,
    "electricity_import_kwh": 12.345678,
    "window_utc": "[2024-06-12T00:00:00+00:00, 2024-06-13T00:00:00+00:00)",
    "per_meter": dg.MetadataValue.md(
        "| mpan | serial | intervals | kwh |\n|---|---|---|---|\n| 1900000000001 | 21L0000001 | 48 | 6.172 |\n"
        "| 1900000000002 | 21L0000002 | 48 | 6.173 |"
    ),
}


def _day(i: int) -> str:
    return (date(2020, 1, 1) + timedelta(days=i)).isoformat()


def _event(kind: str, i: int) -> DagsterEvent:
    """The DagsterEvent a run writes for partition `i`, with the data (and tags) Dagster itself puts in it."""
    if kind == "ASSET_MATERIALIZATION_PLANNED":
        return DagsterEvent.build_asset_materialization_planned_event(
            JOB, STEP, AssetMaterializationPlannedData(ASSET, partition=_day(i))
        )
    if kind == "ASSET_MATERIALIZATION":
        tags = {CODE_VERSION_TAG: "v1", DATA_VERSION_TAG: f"{i:064x}"}  # data_version is indexed per event
        materialization = dg.AssetMaterialization(ASSET, partition=_day(i), metadata=METADATA, tags=tags)
        data = StepMaterializationData(materialization)
    elif kind == "ASSET_CHECK_EVALUATION_PLANNED":
        subset = DAYS.subset_with_partition_keys([_day(i)]).to_serializable_subset()
        data = AssetCheckEvaluationPlanned(asset_key=ASSET, check_name=CHECK, partitions_subset=subset)
    elif kind == "ASSET_CHECK_EVALUATION":
        data = dg.AssetCheckEvaluation(ASSET, CHECK, passed=True, metadata={"problems": 0}, partition=_day(i))
    else:  # STEP_START and the like carry no data
        data = None
    return DagsterEvent(kind, JOB, event_specific_data=data, message=f"{kind} {i}", pid=os.getpid(), step_key=STEP)


# (row label, event kind, sent with batch metadata). The order matters: planned check rows are then updated by the
# evaluations, as in a run. Batch metadata is what a run attaches to the materializations of one partitioned output
# (all its partitions in one batch) and to the planned events; it only has an effect with DAGSTER_EVENT_BATCH_SIZE.
ROWS = [
    ("ASSET_MATERIALIZATION_PLANNED", "ASSET_MATERIALIZATION_PLANNED", False),
    ("ASSET_MATERIALIZATION", "ASSET_MATERIALIZATION", False),
    ("ASSET_CHECK_EVALUATION_PLANNED", "ASSET_CHECK_EVALUATION_PLANNED", False),
    ("ASSET_CHECK_EVALUATION", "ASSET_CHECK_EVALUATION", False),
    ("STEP_START", DagsterEventType.STEP_START.value, False),
    ("log message", None, False),
    ("ASSET_MATERIALIZATION_PLANNED, batched", "ASSET_MATERIALIZATION_PLANNED", True),
    ("ASSET_MATERIALIZATION, batched", "ASSET_MATERIALIZATION", True),
]


def _write(instance: dg.DagsterInstance, run_id: str, kind: str | None, i: int, batch=None) -> None:
    if kind is None:  # context.log.info(...): an event log entry without a DagsterEvent
        entry = EventLogEntry(
            user_message=f"Wrote {i} points",
            level=logging.INFO,
            job_name=JOB,
            run_id=run_id,
            error_info=None,
            timestamp=time.time(),
            step_key=STEP,
            dagster_event=None,
        )
        instance.handle_new_event(entry)
    else:
        instance.report_dagster_event(_event(kind, i), run_id, logging.DEBUG, batch_metadata=batch)


@contextmanager
def counting_connections() -> Iterator[list[int]]:
    """Counts DB-API connections opened by any SQLAlchemy pool (SQLite file or memory, PostgreSQL) meanwhile."""
    opened = [0]

    def on_connect(*_):
        opened[0] += 1

    sa_event.listen(Pool, "connect", on_connect)
    try:
        yield opened
    finally:
        sa_event.remove(Pool, "connect", on_connect)


def measure(instance: dg.DagsterInstance, n: int = 300, connections: dict | None = None) -> dict[str, float]:
    """Milliseconds per event for each row of ROWS, `n` events (partitions) each, all in one run of `instance`:
    the median of ROUNDS rounds of n / ROUNDS events (a round is one batch), as disks and CPUs here are shared.
    If `connections` is a dict, it receives the database connections opened per event for each row."""
    run = DagsterRun(job_name=JOB, run_id=make_new_run_id(), status=DagsterRunStatus.STARTED)
    run_id = instance.add_run(run).run_id
    for _, kind, _ in ROWS[:6]:  # warm up: creates the run's SQLite shard, caches schema checks
        _write(instance, run_id, kind, n)
    size = max(1, n // ROUNDS)
    ms = {}
    for label, kind, batched in ROWS:
        rounds = []
        with counting_connections() as opened:
            for first in range(0, size * ROUNDS, size):
                batch_id = generate_event_batch_id()
                start = time.perf_counter()
                for i in range(first, first + size):
                    batch = DagsterEventBatchMetadata(batch_id, is_end=i == first + size - 1) if batched else None
                    _write(instance, run_id, kind, i, batch)
                rounds.append(1000 * (time.perf_counter() - start) / size)
        ms[label] = statistics.median(rounds)
        if connections is not None:
            connections[label] = opened[0] / (size * ROUNDS)
    return ms


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Sets environment variables (as strings) for the duration, then restores them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def sqlite_instance(ours: bool = True) -> Iterator[dg.DagsterInstance]:
    """The repo's dagster.yaml in a temp DAGSTER_HOME: our pooled SQLite event log (octograph_pipeline/instance.py)
    or, without it, Dagster's default SQLite storage (one .db per run plus an index shard)."""
    with tempfile.TemporaryDirectory(prefix="octograph-dagster-home-") as home:
        config = yaml.safe_load((REPO / "dagster.yaml").read_text())
        if not ours:
            config.pop("event_log_storage")
        Path(home, "dagster.yaml").write_text(yaml.safe_dump(config))
        with environment(DAGSTER_HOME=home), dg.DagsterInstance.from_config(home) as instance:
            yield instance


DAGSTERS_POSTGRES_EVENT_LOG = {"module": "dagster_postgres.event_log", "class": "PostgresEventLogStorage"}


@contextmanager
def postgres_instance(event_log_storage: dict | None = None) -> Iterator[dg.DagsterInstance]:
    """A private PostgreSQL server (started as the tests start one) and a DagsterInstance on it configured by
    deploy/dagster.yaml, as the compose stack has it; `event_log_storage` replaces its event log's class."""
    from octograph_pipeline_tests.local_postgres import local_postgres

    with (
        local_postgres() as variables,
        environment(**variables),
        tempfile.TemporaryDirectory(prefix="octograph-dagster-home-") as home,
    ):
        config = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
        config["event_log_storage"].update(event_log_storage or {})
        Path(home, "dagster.yaml").write_text(yaml.safe_dump(config))
        with dg.DagsterInstance.from_config(home) as instance:
            yield instance


def _table(title: str, columns: dict[str, dict[str, float]], digits: int) -> str:
    width, cell = max(len(label) for label, _, _ in ROWS), max(len(name) for name in columns) + 2
    lines = [title, f"{'':{width}}" + "".join(f"{name:>{cell}}" for name in columns)]
    for label, _, _ in ROWS:
        cells = "".join(f"{values[label]:>{cell}.{digits}f}" for values in columns.values())
        lines.append(f"{label:{width}}{cells}")
    return "\n".join(lines)


STORAGES: list[tuple[str, Callable, dict]] = [
    ("in-memory", dg.DagsterInstance.ephemeral, {}),
    ("SQLite, Dagster's", lambda: sqlite_instance(ours=False), {}),
    ("SQLite, ours", sqlite_instance, {}),
    ("PostgreSQL, Dagster's", lambda: postgres_instance(DAGSTERS_POSTGRES_EVENT_LOG), {}),
    ("PostgreSQL, ours", postgres_instance, {}),
    ("PostgreSQL, ours, batched", postgres_instance, {"DAGSTER_EVENT_BATCH_SIZE": str(BATCH_SIZE)}),
]


def all_storages(n: int = 300) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """ms per event and connections per event, {storage: {event kind: value}}, for every storage that starts."""
    ms, connections = {}, {}
    for name, make_instance, env in STORAGES:
        try:
            with environment(**env), make_instance() as instance:
                connections[name] = {}
                ms[name] = measure(instance, n, connections[name])
        except RuntimeError as error:
            print(f"{name}: skipped, {error}", file=sys.stderr)
            connections.pop(name, None)
    return ms, connections


def main(n: int = 300) -> None:
    ms, connections = all_storages(n)
    title = f"ms per event (median of {ROUNDS} rounds of {n // ROUNDS} events; batch size {BATCH_SIZE} where set)"
    print(_table(title, ms, 3))
    print()
    print(_table("database connections opened per event", connections, 2))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
