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
    for settings in load_households(path):
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
        # The steps run one after another anyway (each needs the last); a process per step would add ~4 s each.
        executor=dg.in_process_executor,
        resources={
            "octograph": octograph,
            IO_MANAGER_KEY: InfluxIOManager(octograph=octograph),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    # Loaded lazily by `dagster dev`/the code server, so importing this module never needs a config file.
    return build_definitions()
