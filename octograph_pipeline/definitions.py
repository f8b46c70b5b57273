"""Assembles the Definitions from the INI file named by $OCTOGRAPH_CONFIG (or ./octograph.ini): each household's
assets, jobs, schedules and late-data sensor (see `orchestration.households`), one dead-runs sensor."""

from __future__ import annotations

import os

import dagster as dg

from octograph_pipeline.config import config_path, load_households
from octograph_pipeline.orchestration.assets import IO_MANAGER_KEY, build_assets
from octograph_pipeline.orchestration.io_manager import InfluxIOManager
from octograph_pipeline.orchestration.jobs import CONSUMPTION_JOB, PRICES_JOB, build_jobs
from octograph_pipeline.orchestration.resources import OctographConfig
from octograph_pipeline.orchestration.schedules import (
    build_dead_runs_sensor,
    build_late_data_sensor,
    build_schedules,
)


def build_definitions(config_file: str | os.PathLike | None = None) -> dg.Definitions:
    path = str(config_path(config_file).resolve())
    assets, jobs, schedules, sensors = [], [], [], []
    households = load_households(path)
    for settings in households:
        own_jobs = dict(zip((PRICES_JOB, CONSUMPTION_JOB), build_jobs(settings), strict=True))
        assets += build_assets(settings)
        jobs += own_jobs.values()
        schedules += build_schedules(settings, own_jobs)
        sensors.append(build_late_data_sensor(settings, own_jobs))
    # One copy per run, shared by the assets and the IO manager (a nested resource given as itself would be a
    # second copy).
    octograph = OctographConfig.configure_at_launch(config_file=path)
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=[*sensors, build_dead_runs_sensor()],
        executor=executor(households[0].pipeline.celery_broker),  # [pipeline] is shared
        resources={
            "octograph": octograph,
            IO_MANAGER_KEY: InfluxIOManager(octograph=octograph),
        },
    )


def executor(celery_broker: str | None) -> dg.ExecutorDefinition:
    """Without a broker, each run's steps run in its own process, one after another (each needs the last; a
    process per step would add ~4 s each). With one, on Dagster's Celery workers (`dagster-celery worker start`),
    wherever they run: the broker is also the result backend."""
    if celery_broker is None:
        return dg.in_process_executor
    from dagster_celery import celery_executor  # only for those who use it

    return celery_executor.configured({"broker": celery_broker, "backend": celery_broker})


@dg.definitions
def defs() -> dg.Definitions:
    # Loaded lazily by `dagster dev`/the code server, so importing this module never needs a config file.
    return build_definitions()
