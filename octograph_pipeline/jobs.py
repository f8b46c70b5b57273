"""The two jobs, one per partitions definition, and running a range of days through both.

Prices (`account`, `tariff_rates`) may run a day ahead of consumption, so the assets have two daily
partitions definitions and Dagster needs one job for each; a range of days is one run of each job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg

from .partitions import range_tags

PRICES_JOB = "octopus_prices"
CONSUMPTION_JOB = "octopus_consumption"


def build_jobs() -> list:
    return [
        dg.define_asset_job(
            PRICES_JOB,
            selection=["account", "tariff_rates"],
            description="Account agreements and tariff prices (may run up to tomorrow).",
        ),
        dg.define_asset_job(
            CONSUMPTION_JOB,
            selection=["meter_consumption", "priced_consumption"],
            description="Meter readings and their cost (up to yesterday).",
        ),
    ]


@dataclass
class DaysRun:
    """The in-process runs that materialised a range of days."""

    results: list[dg.ExecuteInProcessResult]

    @property
    def success(self) -> bool:
        return bool(self.results) and all(result.success for result in self.results)

    @property
    def run_ids(self) -> list[str]:
        return [result.run_id for result in self.results]

    @property
    def all_events(self) -> list[dg.DagsterEvent]:
        return [event for result in self.results for event in result.all_events]


def run_days(
    defs: dg.Definitions,
    first: dt.date | str,
    last: dt.date | str | None = None,
    *,
    instance: dg.DagsterInstance,
    run_config: dict | None = None,
    raise_on_error: bool = True,
) -> DaysRun:
    """Materialises every asset for the days first..last: one prices run, then (if it succeeded) one
    consumption run, each a single run over the whole range, as a single-run backfill would launch."""
    first, last = str(first), str(last or first)
    tags = range_tags(first, last) if first != last else {}
    results = []
    for name in (PRICES_JOB, CONSUMPTION_JOB):
        result = defs.resolve_job_def(name).execute_in_process(
            instance=instance,
            partition_key=first if first == last else None,
            tags=tags,
            run_config=run_config,
            raise_on_error=raise_on_error,
        )
        results.append(result)
        if not result.success:
            break
    return DaysRun(results)
