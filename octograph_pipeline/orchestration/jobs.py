"""The two jobs, one per partitions definition, and running a range of days through both.

Prices (`account`, `tariff_rates`) may run a day ahead of consumption, so the assets have two daily
partitions definitions and Dagster needs one job for each. A range of days runs as the backfill policy
would launch it: single runs of at most MAX_DAYS_PER_RUN days, prices first, then consumption.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from octograph_pipeline.core.days import day_range
from octograph_pipeline.core.schema import Asset
from octograph_pipeline.core.settings import Settings
from octograph_pipeline.orchestration.assets import MAX_DAYS_PER_RUN
from octograph_pipeline.orchestration.partitions import days_target

PRICES_JOB = "octopus_prices"
CONSUMPTION_JOB = "octopus_consumption"


def build_jobs(settings: Settings) -> list:
    prices = [Asset.ACCOUNT, Asset.TARIFF_RATES]
    if settings.octopus.intelligent_mpan:
        prices.append(Asset.INTELLIGENT_DISPATCHES)
    consumption = [Asset.METER_CONSUMPTION, Asset.PRICED_CONSUMPTION]
    if settings.comparison.enabled:
        consumption.append(Asset.TARIFF_COMPARISON)
    return [
        dg.define_asset_job(
            PRICES_JOB,
            selection=prices,
            description="Agreements, tariff prices and Intelligent dispatches (partitions up to tomorrow).",
        ),
        dg.define_asset_job(
            CONSUMPTION_JOB,
            selection=consumption,
            description="Meter readings and their cost, and the tariff comparison (partitions up to yesterday).",
        ),
    ]


@dataclass
class DaysRun:
    """The in-process runs that materialised a range of days, and how each day fared in each of its jobs."""

    results: list[dg.ExecuteInProcessResult] = field(default_factory=list)
    # day -> job -> succeeded (None: planned, not run, as after a failed prices run or a stop)
    outcomes: dict[str, dict[str, bool | None]] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return bool(self.results) and all(result.success for result in self.results)

    @property
    def run_ids(self) -> list[str]:
        return [result.run_id for result in self.results]

    @property
    def all_events(self) -> list[dg.DagsterEvent]:
        return [event for result in self.results for event in result.all_events]

    def failed_days(self) -> list[str]:
        return sorted(day for day, jobs in self.outcomes.items() if False in jobs.values())

    def unfinished_days(self) -> list[str]:
        """Days some job of which failed or never ran."""
        return sorted(day for day, jobs in self.outcomes.items() if not all(jobs.values()))


def run_days(
    defs: dg.Definitions,
    first: dt.date | str,
    last: dt.date | str | None = None,
    *,
    instance: dg.DagsterInstance,
    run_config: dict | None = None,
    raise_on_error: bool = True,
    execute: Callable | None = None,
    progress: Callable[[int, int], None] | None = None,
    into: DaysRun | None = None,
) -> DaysRun:
    """Materialises every asset for the days first..last (consumption only up to its last partition,
    yesterday): per chunk of days, one prices run and, if it succeeded, one consumption run.

    `execute(job, instance=..., partition_key=..., tags=..., ...)` runs one job (`execute_in_process` unless
    given); returning None stops the remaining runs. `progress(days done, days in all)` follows each chunk.
    The outcomes are recorded `into` a DaysRun as they come (a new one unless given), and returned."""
    first = dt.date.fromisoformat(str(first))
    last = dt.date.fromisoformat(str(last or first))
    last_consumption = dt.date.fromisoformat(
        defs.resolve_job_def(CONSUMPTION_JOB).partitions_def.get_last_partition_key()
    )
    execute = execute or (lambda job, **kwargs: job.execute_in_process(**kwargs))
    days = day_range(first, last)
    run = DaysRun() if into is None else into
    chunks = planned_runs(days, last_consumption)
    for job, job_days in (run for chunk in chunks for run in chunk):
        for day in job_days:
            run.outcomes.setdefault(day, {})[job] = None
    finished = 0
    for chunk in chunks:
        for job, job_days in chunk:
            if job == CONSUMPTION_JOB and not run.results[-1].success:
                continue
            result = execute(
                defs.resolve_job_def(job),
                instance=instance,
                **days_target(job_days[0], job_days[-1]),
                run_config=run_config,
                raise_on_error=raise_on_error,
            )
            if result is None:
                return run
            run.results.append(result)
            for day in job_days:
                run.outcomes.setdefault(day, {})[job] = result.success
        finished += len(chunk[0][1])  # the prices run covers the whole chunk
        if progress:
            progress(finished, len(days))
    return run


def planned_runs(days: list[str], last_consumption: dt.date) -> list[list[tuple[str, list[str]]]]:
    """Per chunk of at most MAX_DAYS_PER_RUN days: its prices run and, for days up to `last_consumption`, its
    consumption run (job name and days)."""
    chunks = []
    for offset in range(0, len(days), MAX_DAYS_PER_RUN):
        chunk = days[offset : offset + MAX_DAYS_PER_RUN]
        over = [day for day in chunk if dt.date.fromisoformat(day) <= last_consumption]
        chunks.append(
            [(job, job_days) for job, job_days in ((PRICES_JOB, chunk), (CONSUMPTION_JOB, over)) if job_days]
        )
    return chunks
