"""The Dagster instance: its event logs, made cheap enough to record every day of a long backfill, and
DAGSTER_HOME's instance opened with one clear error when its dagster.yaml is broken.

A year's backfill stores about 4,400 events (a planned and a materialisation event per asset and day, a check
result per check and day); the UI needs every one of them for its per-day status. Dagster's own event logs open
a new database connection for each (SQLite: a new engine too, and a WAL checkpoint on every close; PostgreSQL:
`NullPool`, so a new server backend, 2-3 per event): 5-10 ms an event on SQLite, 10-25 ms on PostgreSQL. Keeping
connections open, letting commits skip waiting for the disk and storing a batch of events in one transaction
makes them about 1 ms on SQLite and 1.5-3.5 ms on PostgreSQL. Same tables as Dagster's storages, which these
only subclass; `make bench` measures all of them (table 6).

Both also close races in Dagster's pool slot claims (`_PoolsWithoutRaces`), which a pool per household's key
turned from rare into a backfill that never ends.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster import DagsterInvalidConfigError
from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config
from sqlalchemy import create_engine, select
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import SingletonThreadPool

from octograph_pipeline.orchestration import compat

SQLITE_BUSY_TIMEOUT_SECONDS = 30  # as Dagster's own SQLite storages wait for a lock held by another process
# PostgreSQL connections kept open per process (a materialisation's transaction asks for a second one; the
# daemon's threads may use a few more), and opened on demand beyond that, each replaced after an hour. They are
# not tested before use (a round trip per event): after a server restart, the first write fails (that step, once)
# and the pool reconnects.
POSTGRES_POOL_SIZE, POSTGRES_MAX_OVERFLOW, POSTGRES_POOL_RECYCLE_SECONDS = 2, 10, 3600


class _BatchInOneTransaction:
    """A batch of events (a run's planned events, a multi-day output's materialisations: Dagster's
    DAGSTER_EVENT_BATCH_SIZE) stored in one transaction: every write of the batch uses the batch's connection.
    Dagster's own `store_event_batch` stores them one by one (PostgreSQL: materialisations alone in one insert),
    each its own commit; if the batch fails, it is rolled back and Dagster stores the events one by one."""

    @functools.cached_property
    def _batch(self) -> threading.local:
        return threading.local()

    def _batch_connection(self) -> Connection | None:
        return getattr(self._batch, "connection", None)

    def store_event_batch(self, events) -> None:
        with self._transaction() as conn:
            self._batch.connection = conn
            try:
                super().store_event_batch(events)
            finally:
                self._batch.connection = None


class _PoolsWithoutRaces:
    """Claiming a pool slot is several statements, each its own commit, in Dagster's SQL event logs; two races
    between them break a pool that few steps share (one per household's key):
    - a claim between `has_unassigned_slots` and its insert misses a slot freed meanwhile, whose freeing found
      nobody queued to wake: the step waits "blocked by limit for pool" for ever, the slot free;
    - two steps woken for one slot both select it, and both update it: both run, and the limit is broken.
    Here a waiting step whose pool has a free slot wakes the queue itself, and a slot is taken by one
    conditional update, so only one of two claimants gets it (the other waits, woken)."""

    def claim_concurrency_slot(
        self, concurrency_key: str, run_id: str, step_key: str, priority: int | None = None
    ):
        status = super().claim_concurrency_slot(concurrency_key, run_id, step_key, priority)
        if not status.is_assigned and self._has_free_slot(concurrency_key):
            self.assign_pending_steps([concurrency_key])
            status = super().claim_concurrency_slot(concurrency_key, run_id, step_key, priority)
        return status

    def _has_free_slot(self, concurrency_key: str) -> bool:
        with self.index_connection() as conn:
            return conn.execute(_first_free_slot(concurrency_key)).first() is not None

    def _claim_concurrency_slot(self, concurrency_key: str, run_id: str, step_key: str):
        slots = compat.ConcurrencySlotsTable  # still free when the update reaches it: one of two claimants
        take = (
            slots.update()
            .where(slots.c.id == _first_free_slot(concurrency_key).scalar_subquery(), slots.c.step_key.is_(None))
            .values(run_id=run_id, step_key=step_key)
        )
        with self.index_connection() as conn:
            taken = conn.execute(take).rowcount
        return compat.ConcurrencySlotStatus.CLAIMED if taken else compat.ConcurrencySlotStatus.BLOCKED


def _first_free_slot(concurrency_key: str):
    """The id of one of the pool's slots that no step holds (as Dagster's own claim selects them)."""
    slots = compat.ConcurrencySlotsTable
    held_by_none = slots.c.step_key.is_(None)
    return (
        select(slots.c.id)
        .where(slots.c.concurrency_key == concurrency_key, held_by_none, slots.c.deleted.is_(False))
        .limit(1)
    )


class PooledSqliteEventLogStorage(
    _PoolsWithoutRaces, _BatchInOneTransaction, compat.ConsolidatedSqliteEventLogStorage
):
    """`ConsolidatedSqliteEventLogStorage` with one engine per process, one open connection per thread, commits
    synced at checkpoints, and a batch of events in one transaction."""

    @functools.cached_property
    def _engine(self) -> Engine:
        engine = create_engine(
            self._conn_string,
            poolclass=SingletonThreadPool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        # In WAL mode (Dagster sets it), NORMAL syncs at checkpoints rather than at every commit: a power cut may
        # lose the last events, never corrupt the file (https://www.sqlite.org/pragma.html#pragma_synchronous).
        sa_event.listen(engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA synchronous=NORMAL"))
        return engine

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        if (batch := self._batch_connection()) is not None:
            yield batch
        else:
            with self._transaction() as conn:
                yield conn

    @functools.cached_property
    def _tables(self) -> set[str]:
        return set()

    def has_table(self, table_name: str) -> bool:
        """Dagster asks before most writes, with a new engine each time; a table, once there, stays."""
        if table_name not in self._tables and super().has_table(table_name):
            self._tables.add(table_name)
        return table_name in self._tables

    def dispose(self) -> None:
        super().dispose()
        if "_engine" in self.__dict__:
            self._engine.dispose()


class PooledPostgresEventLogStorage(_PoolsWithoutRaces, _BatchInOneTransaction, PostgresEventLogStorage):
    """`PostgresEventLogStorage` (configured the same way) keeping a few connections open per process, commits
    not waiting for the disk, and a batch of events in one transaction."""

    def __init__(
        self, postgres_url: str, should_autocreate_tables: bool = True, inst_data=None, token_provider=None
    ):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        self._engine.dispose()
        self._engine = create_pg_engine(
            postgres_url,
            token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=POSTGRES_POOL_SIZE,
            max_overflow=POSTGRES_MAX_OVERFLOW,
            pool_recycle=POSTGRES_POOL_RECYCLE_SECONDS,
            # As SQLite's synchronous=NORMAL: a commit does not wait for the WAL to reach the disk; a crash may
            # lose the last events, never corrupt the database (PostgreSQL's docs: "Asynchronous Commit").
            connect_args={"options": "-c synchronous_commit=off"},
        )

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]) -> PooledPostgresEventLogStorage:
        return cls(
            pg_url_from_config(config_value),
            config_value.get("should_autocreate_tables", True),
            inst_data=inst_data,
            token_provider=get_token_provider_from_config(config_value),
        )

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with super()._connect() as conn:
            conn = conn.execution_options(isolation_level="READ COMMITTED")  # noqa: PLW2901 - as Dagster's own
            with conn.begin():
                yield conn

    def _connect(self):
        if (batch := self._batch_connection()) is not None:
            return contextlib.nullcontext(batch)
        return super()._connect()

    def initialize_concurrency_limit_to_default(self, concurrency_key: str) -> bool:
        """A pool's first claim gives it the default limit. Dagster's own inserts the limit and, when another
        process inserted it first, catches the duplicate and updates in the same transaction, which PostgreSQL
        has aborted: the claim raises and the run fails (dagster-io/dagster#33552). A backfill of many
        households starts each household's new pool in several runs at once. Here the row is inserted unless
        present, then locked, so concurrent first claims queue and the pool gets its slots once. A limit set
        in the UI is left alone."""
        default_limit = self._instance.global_op_concurrency_default_limit if self.has_instance else None
        if default_limit is None or not (self.has_concurrency_limits_table and self.has_default_pool_limit_col):
            return super().initialize_concurrency_limit_to_default(concurrency_key)
        self._reconcile_concurrency_limits_from_slots()
        limits = compat.ConcurrencyLimitsTable
        this_pool = limits.c.concurrency_key == concurrency_key
        with self.index_transaction() as conn:
            conn.execute(
                postgresql.insert(limits)
                .values(concurrency_key=concurrency_key, limit=default_limit, using_default_limit=True)
                .on_conflict_do_nothing(index_elements=[limits.c.concurrency_key])
            )
            row = conn.execute(select(limits.c.using_default_limit).where(this_pool).with_for_update()).one()
            if row.using_default_limit:
                conn.execute(limits.update().where(this_pool).values(limit=default_limit))
                self._allocate_concurrency_slots(conn, concurrency_key, default_limit)
        return True

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()


class InstanceFileError(ValueError):
    """DAGSTER_HOME's dagster.yaml cannot be used; the message names the file and the problem."""


def open_instance(home: Path) -> dg.DagsterInstance:
    """The instance of `home`, every configured part of it loaded now, so a broken dagster.yaml (bad YAML, an
    unknown class or option) is one clear error before anything runs rather than a traceback halfway."""
    path = home / "dagster.yaml"
    try:
        instance = dg.DagsterInstance.from_config(str(home))
        for part in ("run_storage", "event_log_storage", "schedule_storage", "run_coordinator", "run_launcher"):
            getattr(instance, part)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InstanceFileError(f"{path}: not valid YAML{where}: {exc.problem}") from None
    except DagsterInvalidConfigError as exc:
        problems = "; ".join(error.message for error in exc.errors) or str(exc)
        raise InstanceFileError(f"{path}: {problems}") from None
    except Exception as exc:  # an unknown module or class, a storage that cannot start
        message = str(exc).removeprefix("Failure condition: ").strip().splitlines()
        raise InstanceFileError(f"{path}: {message[0] if message else type(exc).__name__}") from None
    return instance
