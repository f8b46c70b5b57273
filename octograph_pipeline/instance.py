"""The Dagster instance's event log on SQLite, made cheap enough to record every day of a long backfill.

A year's backfill writes thousands of events (a planned and a materialisation event per asset and day, a check
result per check and day). Dagster's SQLite event logs open a new SQLAlchemy engine and connection for every
write (and, with none left open, SQLite checkpoints its write-ahead log on every close): 4-8 ms per event here,
20 s of a year's 27. Keeping one engine and one open connection per thread makes it about 1 ms, as fast as
Dagster's in-memory instance. Same tables, same single file as Dagster's `ConsolidatedSqliteEventLogStorage`,
which this only subclasses; `make bench` measures both.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import (
    ConsolidatedSqliteEventLogStorage,
)
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import SingletonThreadPool

SQLITE_BUSY_TIMEOUT_SECONDS = 30  # as Dagster's own SQLite storages wait for a lock held by another process


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """`ConsolidatedSqliteEventLogStorage` with one engine per process and one open connection per thread."""

    @functools.cached_property
    def _engine(self) -> Engine:
        return create_engine(
            self._conn_string,
            poolclass=SingletonThreadPool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
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
