"""The storages' former address. A DAGSTER_HOME given the project's dagster.yaml before the layers had folders
names `octograph_pipeline.instance`, and `octograph` never overwrites a home's dagster.yaml."""

from octograph_pipeline.orchestration.instance import PooledPostgresEventLogStorage, PooledSqliteEventLogStorage

__all__ = ["PooledPostgresEventLogStorage", "PooledSqliteEventLogStorage"]
