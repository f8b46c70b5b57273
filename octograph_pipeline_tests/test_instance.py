"""The Dagster instances we ship: dagster.yaml's pooled SQLite event log, deploy/dagster.yaml's pooled PostgreSQL
one (each event stored without opening a connection, and seen by every other process at once); a new, empty
DAGSTER_HOME given the project's dagster.yaml; pool slots claimed by many processes at once, each in turn."""

import contextlib
import datetime as dt
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.events import (
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventBatchMetadata,
    DagsterEventType,
    generate_event_batch_id,
)
from sqlalchemy import event
from sqlalchemy.pool import Pool

from octograph_pipeline import daemon
from octograph_pipeline.orchestration import dagster_home
from octograph_pipeline.orchestration.instance import PooledPostgresEventLogStorage, PooledSqliteEventLogStorage

REPO = Path(__file__).resolve().parent.parent


def instance_on(home: Path) -> dg.DagsterInstance:
    if not (home / "dagster.yaml").exists():
        home.mkdir(exist_ok=True)
        shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(home))


@contextlib.contextmanager
def counting_connections() -> Iterator[list[int]]:
    """Database connections opened meanwhile, by any SQLAlchemy pool of this process."""
    opened = []

    def connected(*_):
        opened.append(1)

    event.listen(Pool, "connect", connected)
    try:
        yield opened
    finally:
        event.remove(Pool, "connect", connected)


def materialise_60_times(writer: dg.DagsterInstance, reader: dg.DagsterInstance) -> int:
    """Stores 60 materialisations of three days through `writer`, after one to warm up; returns the connections
    opened meanwhile, having checked that `reader` (a webserver, a daemon) sees every one of them at once."""
    writer.report_runless_asset_event(dg.AssetMaterialization("account", partition="2024-06-09"))
    with counting_connections() as opened:
        for day in ("2024-06-10", "2024-06-11", "2024-06-12"):
            for _ in range(20):
                writer.report_runless_asset_event(dg.AssetMaterialization("account", partition=day))
    assert reader.get_materialized_partitions(dg.AssetKey("account")) == {
        "2024-06-09",
        "2024-06-10",
        "2024-06-11",
        "2024-06-12",
    }
    assert len(reader.fetch_materializations(dg.AssetKey("account"), limit=100).records) == 61
    return len(opened)


def test_sqlite_events_go_through_one_open_connection_and_are_seen_by_other_instances(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    writer, reader = instance_on(tmp_path), instance_on(tmp_path)
    assert isinstance(writer.event_log_storage, PooledSqliteEventLogStorage)
    assert writer.event_log_storage.supports_global_concurrency_limits  # the octopus_api pool works on it
    assert materialise_60_times(writer, reader) == 0
    writer.dispose()
    reader.dispose()
    # Not a count that sees nothing: Dagster's own storage, the one ours subclasses (same file, same tables),
    # opens two connections for each of the same 60 materialisations.
    stock = tmp_path / "stock"
    stock.mkdir()
    (stock / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nevent_log_storage:\n  module: dagster._core.storage.event_log\n"
        f"  class: ConsolidatedSqliteEventLogStorage\n  config:\n    base_dir: {stock}\n"
    )
    with (
        dg.DagsterInstance.from_config(str(stock)) as writer,
        dg.DagsterInstance.from_config(str(stock)) as reader,
    ):
        assert type(writer.event_log_storage).__name__ == "ConsolidatedSqliteEventLogStorage"
        assert materialise_60_times(writer, reader) == 2 * 60


def store_a_batch_of_planned_events(instance: dg.DagsterInstance) -> int:
    """A run's planned events (one per asset and day) as Dagster hands them over, a batch of 100; returns the
    commits they took, having checked that all were stored."""
    run = instance.add_run(
        dg.DagsterRun(job_name="days", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED)
    )
    commits = []
    event.listen(instance.event_log_storage._engine, "commit", lambda *_: commits.append(1))
    batch = generate_event_batch_id()
    days = [(dt.date(2024, 1, 1) + dt.timedelta(days=n)).isoformat() for n in range(100)]
    for n, day in enumerate(days):
        planned = DagsterEvent.build_asset_materialization_planned_event(
            "days", "account", AssetMaterializationPlannedData(dg.AssetKey("account"), partition=day)
        )
        instance.report_dagster_event(
            planned, run.run_id, batch_metadata=DagsterEventBatchMetadata(batch, n == 99)
        )
    committed = len(commits)
    stored = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    assert len(stored.records) == 100
    return committed


def test_a_batch_of_sqlite_events_is_one_transaction_synced_at_checkpoints(tmp_path, monkeypatch):
    """One commit for the batch, not one per event; commits do not wait for the disk (WAL, synchronous=NORMAL)."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    instance = instance_on(tmp_path)
    assert store_a_batch_of_planned_events(instance) == 1
    with instance.event_log_storage._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    instance.dispose()


@pytest.mark.integration
def test_postgres_events_go_through_open_connections_and_are_seen_by_other_instances(
    postgres, tmp_path, monkeypatch
):
    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    shutil.copyfile(REPO / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    with (
        dg.DagsterInstance.from_config(str(tmp_path)) as writer,
        dg.DagsterInstance.from_config(str(tmp_path)) as reader,
    ):
        assert isinstance(writer.event_log_storage, PooledPostgresEventLogStorage)
        assert writer.event_log_storage.supports_global_concurrency_limits
        # Dagster's PostgresEventLogStorage opens three connections (server backends) per materialisation: 180.
        assert materialise_60_times(writer, reader) == 0
        monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
        assert store_a_batch_of_planned_events(writer) == 1  # one transaction
        with writer.event_log_storage._engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"


@pytest.mark.integration
def test_a_new_empty_dagster_home_gets_the_projects_instance_settings_and_says_so(
    config_file, tmp_path, monkeypatch
):
    """Dagster's defaults there would store each event about 5x slower (a year's back-fill about 3x slower)."""
    home = tmp_path / "new_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    command = [sys.executable, "-m", "octograph_pipeline.cli", f"--config-file={config_file}"]
    command += ["--from-date=2024-06-12", "--to-date=2024-06-12"]
    done = subprocess.run(command, env={**os.environ, "DAGSTER_HOME": str(home)}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (
        f"octograph: DAGSTER_HOME={home} had no dagster.yaml: wrote the project's instance settings" in done.stderr
    )
    assert (home / "dagster.yaml").read_text() == (REPO / "dagster.yaml").read_text()
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the runs were stored by our storage
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert instance.get_materialized_partitions(dg.AssetKey("priced_consumption")) == {"2024-06-12"}
    again = subprocess.run(command, env={**os.environ, "DAGSTER_HOME": str(home)}, capture_output=True, text=True)
    assert again.returncode == 0 and "dagster.yaml" not in again.stderr


def test_a_users_own_dagster_yaml_or_dagster_data_is_never_replaced(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    assert dagster_home.prepare(own) is None
    assert (own / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"
    used = tmp_path / "used"  # Dagster already ran here on its defaults: other storage would hide its runs
    (used / "history").mkdir(parents=True)
    warning = dagster_home.prepare(used)
    assert warning.startswith(f"DAGSTER_HOME={used} has no dagster.yaml and holds Dagster's default storage")
    assert not (used / "dagster.yaml").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert dagster_home.prepare(empty).endswith("wrote the project's instance settings into it")


def test_the_daemon_gives_a_new_empty_home_the_projects_instance_settings(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setattr(daemon, "run_daemon", lambda args: None)
    assert daemon.main(["run", "-w", "workspace.yaml"]) == 0
    assert "wrote the project's instance settings" in capsys.readouterr().err
    assert (tmp_path / "dagster.yaml").read_text() == (REPO / "dagster.yaml").read_text()


@pytest.mark.parametrize(("given", "expected"), [(None, "1000"), ("", "1000"), ("50", "50")])
def test_events_are_batched_unless_the_environment_says_otherwise(monkeypatch, given, expected):
    if given is None:
        monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    else:
        monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", given)
    dagster_home.batch_events()
    assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == expected


def test_a_dagster_yaml_naming_the_storages_former_module_still_opens(tmp_path, monkeypatch):
    """Homes given the project's dagster.yaml before the folders name `octograph_pipeline.instance`."""
    home = tmp_path / "older_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    home.mkdir()
    current = (REPO / "dagster.yaml").read_text()
    assert "module: octograph_pipeline.orchestration.instance" in current
    (home / "dagster.yaml").write_text(
        current.replace("octograph_pipeline.orchestration.instance", "octograph_pipeline.instance")
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)


POOL_STEPS, POOLS_SHARED = 8, 12  # processes each running one step in every pool; pools, all new


def one_step_per_pool(home: str, pools: list[str], start: Any, results: Any) -> None:
    """A run's steps in a process of its own: each claims its pool as Dagster's executor does (the pool's first
    claim initialises its limit; then the claim is polled), holds the slot a moment, then frees it."""
    os.environ["DAGSTER_HOME"] = home
    instance = dg.DagsterInstance.get()
    storage, run_id = instance.event_log_storage, str(uuid.uuid4())
    start.wait()
    try:
        results.put(take_turns(storage, run_id, pools))
    except Exception as error:  # the run would fail
        results.put(f"{type(error).__name__}: {error}"[:300])


def take_turns(storage: Any, run_id: str, pools: list[str]) -> list[tuple[str, float, float]] | str:
    held = []
    for pool in pools:
        storage.initialize_concurrency_limit_to_default(pool)
        deadline = time.monotonic() + 30  # the others' turns take a second or two
        while not storage.claim_concurrency_slot(pool, run_id, "step").is_claimed:
            if time.monotonic() > deadline:
                return f"{pool}: still blocked after 30 s, its slot {storage.get_concurrency_info(pool)}"
            time.sleep(0.002)
        began = time.monotonic()
        time.sleep(0.005)
        held.append((pool, began, time.monotonic()))
        storage.free_concurrency_slot_for_step(run_id, "step")
    return held


def steps_sharing_new_pools(home: Path) -> list[tuple[str, float, float]]:
    """POOL_STEPS processes start at once, each with a step in each of the same POOLS_SHARED new pools (limit 1):
    when each step held its pool. Fails if a step waited 30 s."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(POOL_STEPS), context.Queue()
    pools = [f"octopus_api__KEY_{uuid.uuid4().hex[:8]}" for _ in range(POOLS_SHARED)]
    steps = [
        context.Process(target=one_step_per_pool, args=(str(home), pools[i:] + pools[:i], start, results))
        for i in range(POOL_STEPS)
    ]
    for step in steps:
        step.start()
    outcomes = [results.get(timeout=180) for _ in steps]
    for step in steps:
        step.join(timeout=30)
    assert not [outcome for outcome in outcomes if isinstance(outcome, str)]
    return [span for held in outcomes for span in held]


def assert_one_step_at_a_time(held: list[tuple[str, float, float]]) -> None:
    assert len(held) == POOL_STEPS * POOLS_SHARED  # every step got its slot
    by_pool: dict[str, list[tuple[float, float]]] = {}
    for pool, began, ended in held:
        by_pool.setdefault(pool, []).append((began, ended))
    for pool, spans in by_pool.items():
        spans.sort()
        overlapping = [(a, b) for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1]]
        assert not overlapping, f"{pool}: two steps held its one slot at once"


@pytest.mark.integration
def test_steps_sharing_new_sqlite_pools_each_get_the_slot_in_turn(tmp_path, monkeypatch):
    """Dagster's claim is several commits: a step could miss a slot freed meanwhile and wait for ever, or two
    steps take one slot. Steps of six processes in the same new pools, as households' runs start together."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    instance_on(tmp_path).dispose()
    assert_one_step_at_a_time(steps_sharing_new_pools(tmp_path))


@pytest.mark.integration
def test_steps_sharing_new_postgres_pools_each_get_the_slot_in_turn(postgres, tmp_path, monkeypatch):
    """As on SQLite, and a pool's first claims at once no longer fail the run (Dagster's insert-then-update of
    the pool's limit aborts PostgreSQL's transaction: dagster-io/dagster#33552)."""
    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    shutil.copyfile(REPO / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    dg.DagsterInstance.from_config(str(tmp_path)).dispose()
    assert_one_step_at_a_time(steps_sharing_new_pools(tmp_path))


@pytest.mark.integration
def test_of_two_steps_woken_for_one_postgres_slot_only_one_takes_it(postgres, tmp_path, monkeypatch):
    """Both saw the slot free; one's update commits while the other's waits on the row: the other must find it
    taken. (Dagster's select-then-update gives it to both, and both run.) The first is played by a transaction
    of this test holding the row, so the order is certain."""
    for name, value in postgres.items():
        monkeypatch.setenv(name, value)
    shutil.copyfile(REPO / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    pool = f"octopus_api__KEY_{uuid.uuid4().hex[:8]}"
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(pool)
        with storage._engine.connect() as first:
            taking = first.execution_options(isolation_level="READ COMMITTED").begin()
            taken = first.exec_driver_sql(
                "UPDATE concurrency_slots SET run_id = 'first', step_key = 'step'"
                " WHERE concurrency_key = %(pool)s AND step_key IS NULL",
                {"pool": pool},
            )
            assert taken.rowcount == 1
            second: list = []
            claim = threading.Thread(
                target=lambda: second.append(storage.claim_concurrency_slot(pool, "second", "step"))
            )
            claim.start()
            time.sleep(1)  # the second's update is waiting for the row
            taking.commit()
            claim.join(timeout=30)
        assert not second[0].is_claimed
        assert [(slot.run_id, slot.step_key) for slot in storage.get_concurrency_info(pool).claimed_slots] == [
            ("first", "step")
        ]
