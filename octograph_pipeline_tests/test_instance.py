"""The Dagster instance we ship (dagster.yaml): a pooled SQLite event log; a daemon that polls backfills often."""

import logging
import shutil
from pathlib import Path

import dagster as dg
import dagster._daemon.backfill as backfill_daemon
import dagster._daemon.controller as controller
from sqlalchemy import event
from sqlalchemy.pool import Pool

from octograph_pipeline import daemon
from octograph_pipeline.instance import PooledSqliteEventLogStorage

REPO = Path(__file__).resolve().parent.parent


def instance_on(home: Path) -> dg.DagsterInstance:
    if not (home / "dagster.yaml").exists():
        home.mkdir(exist_ok=True)
        shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(home))


def test_events_go_through_one_open_connection_and_are_seen_by_other_instances(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    writer, reader = instance_on(tmp_path), instance_on(tmp_path)
    assert isinstance(writer.event_log_storage, PooledSqliteEventLogStorage)
    assert writer.event_log_storage.supports_global_concurrency_limits  # the octopus_api pool works on it
    opened = []

    def connected(*_):
        opened.append(1)

    event.listen(Pool, "connect", connected)
    try:
        for day in ("2024-06-10", "2024-06-11", "2024-06-12"):
            for _ in range(20):
                writer.report_runless_asset_event(dg.AssetMaterialization("account", partition=day))
    finally:
        event.remove(Pool, "connect", connected)
    assert len(opened) <= 2  # Dagster's own SQLite storages open one or more connections per event
    # Another instance (a webserver, a daemon) sees every event at once.
    assert reader.get_materialized_partitions(dg.AssetKey("account")) == {"2024-06-10", "2024-06-11", "2024-06-12"}
    records = reader.fetch_materializations(dg.AssetKey("account"), limit=100).records
    assert len(records) == 60
    writer.dispose()
    reader.dispose()


def test_the_backfill_daemon_waits_our_interval_between_iterations(monkeypatch):
    """Dagster 1.13 has no setting for it: the loop reads controller.DEFAULT_DAEMON_INTERVAL_SECONDS each time.
    If a Dagster upgrade moves it, this fails rather than backfills quietly waiting 30 s a stage again."""
    monkeypatch.setattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS", controller.DEFAULT_DAEMON_INTERVAL_SECONDS)
    daemon.shorten_backfill_interval()
    waits = []

    class Shutdown:
        def wait(self, seconds):
            waits.append(seconds)

    monkeypatch.setattr(backfill_daemon, "execute_backfill_iteration", lambda *args, **kwargs: iter(()))
    for _ in backfill_daemon.execute_backfill_iteration_loop(None, logging.getLogger(__name__), Shutdown()):
        if waits:
            break
    assert 0 < waits[0] <= daemon.BACKFILL_INTERVAL_SECONDS < 30
