"""Dagster's private parts, all in `orchestration/compat.py`, still do what the pipeline relies on: written for
the Dagster installed (a minor upgrade fails here first), each name still there, the daemon patch still taking
effect, the unfinished run statuses still Dagster's. Only `compat.py` imports `dagster._…` in the package."""

import ast
import logging
import subprocess
import sys
from pathlib import Path

import dagster as dg
import dagster._daemon.backfill as backfill_daemon
import pytest
from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

from octograph_pipeline import daemon
from octograph_pipeline.orchestration import compat

PACKAGE = Path(__file__).resolve().parents[1] / "octograph_pipeline"


def test_written_for_the_dagster_installed():
    assert dg.__version__.startswith(compat.WRITTEN_FOR), (
        f"Dagster {dg.__version__}: read each item of orchestration/compat.py against it, then update WRITTEN_FOR"
    )


def test_only_compat_imports_dagsters_private_modules():
    for path in PACKAGE.rglob("*.py"):
        private = {
            name
            for node in ast.walk(ast.parse(path.read_text()))
            for name in (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            )
            if name.startswith(("dagster._", "dagster_postgres._"))
        }  # fmt: skip
        assert not private or path.name == "compat.py", (path, private)


def test_the_unfinished_statuses_are_dagsters():
    assert set(compat.UNFINISHED_STATUSES) == set(NOT_FINISHED_STATUSES)


def test_the_pool_bookkeeping_methods_exist():
    for method in ("get_concurrency_run_ids", "free_concurrency_slots_for_run", "get_concurrency_keys"):
        assert callable(getattr(SqlEventLogStorage, method, None)), method
    assert callable(getattr(SqlEventLogStorage, "get_concurrency_info", None))


def test_the_slot_claim_our_storages_replace_is_still_dagsters():
    """`instance._PoolsWithoutRaces` overrides `_claim_concurrency_slot` (called by `claim_concurrency_slot`) and
    starts a PostgreSQL pool with `_allocate_concurrency_slots`; its tables and claim status come from compat."""
    claim = SqlEventLogStorage.claim_concurrency_slot.__code__
    assert "_claim_concurrency_slot" in claim.co_names
    for method in (
        "_allocate_concurrency_slots",
        "_reconcile_concurrency_limits_from_slots",
        "assign_pending_steps",
    ):
        assert callable(getattr(SqlEventLogStorage, method, None)), method
    assert {"concurrency_key", "run_id", "step_key", "deleted"} <= set(compat.ConcurrencySlotsTable.c.keys())
    assert {"concurrency_key", "limit", "using_default_limit"} <= set(compat.ConcurrencyLimitsTable.c.keys())
    assert {status.name for status in compat.ConcurrencySlotStatus} >= {"CLAIMED", "BLOCKED"}


def test_a_check_evaluation_takes_its_target_materialisation():
    target = compat.AssetCheckEvaluationTargetMaterializationData(storage_id=1, run_id="r", timestamp=1.0)
    evaluation = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("a"), check_name="c", passed=True, target_materialization_data=target
    )
    assert evaluation.target_materialization_data == target


def test_the_backfill_daemon_waits_our_interval_between_iterations(monkeypatch):
    """Dagster 1.13 has no setting for it: the loop reads the controller's constant each time. If an upgrade
    moves it, this fails rather than backfills quietly waiting 30 s a stage again."""
    monkeypatch.setattr(compat, "run_daemon_cli", lambda args: None)
    before = compat.daemon_interval()
    try:
        daemon.run_daemon(["run"])
        assert compat.daemon_interval() == daemon.BACKFILL_INTERVAL_SECONDS
        waits = []

        class Shutdown:
            def wait(self, seconds):
                waits.append(seconds)

        monkeypatch.setattr(backfill_daemon, "execute_backfill_iteration", lambda *args, **kwargs: iter(()))
        for _ in backfill_daemon.execute_backfill_iteration_loop(None, logging.getLogger(__name__), Shutdown()):
            if waits:
                break
        assert 0 < waits[0] <= daemon.BACKFILL_INTERVAL_SECONDS < 30
    finally:
        compat.set_daemon_interval(before)


def test_a_missing_daemon_constant_fails_loudly(monkeypatch):
    import dagster._daemon.controller as controller

    monkeypatch.delattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS")
    with pytest.raises(RuntimeError, match="DEFAULT_DAEMON_INTERVAL_SECONDS is gone"):
        compat.set_daemon_interval(3)


def test_loading_the_definitions_leaves_sqlalchemy_unimported():
    """The SQLite storage we subclass is imported when the instance asks for it: importing it with the
    definitions costs every run and every `octograph` a third of a second (SQLAlchemy)."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, octograph_pipeline.definitions; print('sqlalchemy' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"
    assert compat.ConsolidatedSqliteEventLogStorage.__name__ == "ConsolidatedSqliteEventLogStorage"
