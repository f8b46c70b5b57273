"""Every use of Dagster's private modules and non-public methods, in one place, for Dagster 1.13.

Each has no public equivalent in 1.13 (said per item). `octograph_pipeline_tests/test_compat.py` fails loudly on
an upgrade that breaks one: a name moved, a patch that no longer takes effect, a status added. Outside this
module the package imports only `dagster`'s public API (`test_architecture.py` holds it to that).
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

# A day's check result tied to that day's materialisation: `dg.AssetCheckEvaluation` takes it, but Dagster does
# not export its type.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

# What a storage's slot claim returns (`instance` overrides the claim); Dagster does not export it.
from dagster._utils.concurrency import ConcurrencySlotStatus

__all__ = [
    "UNFINISHED_STATUSES",
    "AssetCheckEvaluationTargetMaterializationData",
    "ConcurrencySlotStatus",
    "daemon_interval",
    "free_pool_slots",
    "pool_holders",
    "pools",
    "run_daemon_cli",
    "set_daemon_interval",
]

WRITTEN_FOR = "1.13."  # the Dagster versions these were read against


def __getattr__(name: str):
    """Imported when first asked for, because they import SQLAlchemy (a third of a second) and only the
    instance's storages need them, not every process that loads the definitions:
    - `ConsolidatedSqliteEventLogStorage`: the SQLite event log that `storage: sqlite` gives, subclassed to keep
      its connection open (`instance`); there is no public class, and our subclass replaces its `_engine` and
      `_connect`;
    - `ConcurrencyLimitsTable`, `ConcurrencySlotsTable`: the pools' limits and slots, which `instance` writes
      to start a pool and claim a slot without Dagster's races; the event log's schema is not public."""
    if name == "ConsolidatedSqliteEventLogStorage":
        from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import (
            ConsolidatedSqliteEventLogStorage,
        )

        return ConsolidatedSqliteEventLogStorage
    if name in ("ConcurrencyLimitsTable", "ConcurrencySlotsTable"):
        from dagster._core.storage.event_log import schema

        return getattr(schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Runs that have not ended. `dg.DagsterRunStatus` is public, the set is not (`NOT_FINISHED_STATUSES`).
UNFINISHED_STATUSES = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.SUSPENDED,
    dg.DagsterRunStatus.CANCELING,
)


def set_daemon_interval(seconds: float) -> None:
    """The backfill daemon's pause between iterations: a module constant read at every loop
    (`dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS`); dagster.yaml has no setting for it."""
    import dagster._daemon.controller as controller

    if not isinstance(getattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS", None), int | float):
        raise RuntimeError("dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS is gone: see compat.py")
    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = seconds


def daemon_interval() -> float:
    import dagster._daemon.controller as controller

    return controller.DEFAULT_DAEMON_INTERVAL_SECONDS


def run_daemon_cli(args: list[str]) -> None:
    """`dagster-daemon ARGS` in this process (so that `set_daemon_interval` applies): its click command."""
    from dagster._daemon.cli import cli

    cli(args=args, prog_name="dagster-daemon", obj={})


# The global concurrency pools' bookkeeping: the event log storage's methods; DagsterInstance exposes none.


def pool_holders(instance: dg.DagsterInstance) -> set[str]:
    """The runs holding a pool slot (none where the storage has no pools)."""
    storage = instance.event_log_storage
    return set(storage.get_concurrency_run_ids()) if storage.supports_global_concurrency_limits else set()


def free_pool_slots(instance: dg.DagsterInstance, run_id: str) -> None:
    """Frees the run's pool slots and pending claims."""
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def pools(instance: dg.DagsterInstance) -> Iterator[tuple[str, list[str], list[tuple[str, bool]]]]:
    """Each pool: its name, the runs holding its slots, and its claims as (run id, assigned)."""
    storage = instance.event_log_storage
    for pool in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(pool)
        claims = [(step.run_id, step.assigned_timestamp is not None) for step in info.pending_steps]
        yield pool, [slot.run_id for slot in info.claimed_slots], claims
