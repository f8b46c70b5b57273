"""Assembles the Definitions from the INI file named by $OCTOGRAPH_CONFIG (or ./octograph.ini)."""

from __future__ import annotations

import os

import dagster as dg

from octograph_pipeline.config import config_path, load_settings
from octograph_pipeline.orchestration.assets import IO_MANAGER_KEY, build_assets
from octograph_pipeline.orchestration.io_manager import InfluxIOManager
from octograph_pipeline.orchestration.jobs import build_jobs
from octograph_pipeline.orchestration.resources import OctographConfig
from octograph_pipeline.orchestration.schedules import (
    build_dead_runs_sensor,
    build_late_data_sensor,
    build_schedules,
)


def build_definitions(config_file: str | os.PathLike | None = None) -> dg.Definitions:
    path = str(config_path(config_file).resolve())
    settings = load_settings(path)
    jobs = {job.name: job for job in build_jobs(settings)}
    # One copy per run, shared by the assets and the IO manager (a nested resource given as itself would be a
    # second copy).
    octograph = OctographConfig.configure_at_launch(config_file=path)
    return dg.Definitions(
        assets=build_assets(settings),
        jobs=list(jobs.values()),
        schedules=build_schedules(settings, jobs),
        sensors=[build_late_data_sensor(settings, jobs), build_dead_runs_sensor()],
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
