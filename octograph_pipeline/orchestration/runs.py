"""Running the jobs of the `octograph` command: stoppable, never stuck behind a dead run, saying what it waits on.

- Ctrl-C or SIGTERM asks the runs to stop at the next step boundary: Dagster executes in a worker thread, so a
  signal never lands inside a step (a write to InfluxDB, say); each asset starts with `begin_step()`.
  A second signal stops at once (the run is marked canceled and its pool slot freed).
- A run killed without cleanup (SIGKILL, the OOM killer, a reboot) keeps its `octopus_api` pool slot, and every
  later run would wait for it forever. Runs are tagged with their process; before each run, and every few
  seconds while a step waits for the pool, the slots of runs whose process is gone (or that have ended) are
  freed and those runs marked failed. The `dead_runs` sensor does the same for the daemon's runs.
- While a step waits for the pool, it says which run holds it.

A range of days runs as the backfill policy would launch it (`run_days`): single runs of at most
MAX_DAYS_PER_RUN days, prices first, then consumption.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import dagster as dg

from octograph_pipeline.core.days import day_range
from octograph_pipeline.orchestration import compat
from octograph_pipeline.orchestration.households import named
from octograph_pipeline.orchestration.jobs import CONSUMPTION_JOB, PRICES_JOB
from octograph_pipeline.orchestration.partitions import MAX_DAYS_PER_RUN, days_target

PID_TAG, HOST_TAG = "octograph/pid", "octograph/host"
WAITING_NOTICE_SECONDS = 5  # say what a run waits for once it has waited this long
DEAD_HOLDER_CHECK_SECONDS = 2  # while waiting, look this often whether the holder's process died

_stop: list[str] = []  # the name of the signal that asked to stop


def begin_step(context: dg.AssetExecutionContext) -> None:
    """At the start of every asset: stop, doing nothing, if a signal asked the command to; and tag a run that
    was launched elsewhere (by the daemon) with this process, so a later command can tell when it died."""
    if _stop:
        raise dg.Failure(f"stopped by {_stop[0]} before this step; nothing was written", allow_retries=False)
    if PID_TAG not in context.run.tags:
        context.instance.add_run_tags(context.run.run_id, process_tags())


@contextlib.contextmanager
def no_retries(*final: type[Exception]) -> Iterator[None]:
    """Errors that retrying will not mend (a rejected key, a missing account, a bad config, what InfluxDB
    refuses) fail the step at once with their message alone; any other error goes to the retry policy."""
    try:
        yield
    except final as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def stop_requested() -> str | None:
    return _stop[0] if _stop else None


@contextlib.contextmanager
def stop_on_signals(say: Callable[[str], None]) -> Iterator[None]:
    """SIGINT/SIGTERM: the first asks to stop after the current step, the second stops at once."""

    def handler(number, _frame):
        name = signal.Signals(number).name
        if _stop:
            raise KeyboardInterrupt(name)
        _stop.append(name)
        say(f"{name}: stopping after the current step ({name} again to stop at once)")

    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
        _stop.clear()


def process_tags() -> dict[str, str]:
    """Tags naming the process that runs a job in-process, so a later command can tell when it is gone."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _process_gone(run: dg.DagsterRun) -> bool:
    if run.tags.get(HOST_TAG) != socket.gethostname() or not run.tags.get(PID_TAG, "").isdigit():
        return False  # not ours, or on another machine: Dagster's run monitoring looks after those
    try:
        os.kill(int(run.tags[PID_TAG]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def clean_up_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Marks failed the unfinished runs of this host whose process is gone, and frees the pool slots (and pending
    claims) of those and of runs that ended without freeing them. Returns what it did, one line per run."""
    unfinished = instance.get_runs(
        dg.RunsFilter(statuses=list(compat.UNFINISHED_STATUSES), tags={HOST_TAG: socket.gethostname()})
    )
    dead = {run.run_id: run.tags[PID_TAG] for run in unfinished if _process_gone(run)}
    for run in unfinished:
        if run.run_id in dead:
            instance.report_run_failed(
                run, f"its process (pid {dead[run.run_id]}) is gone: killed without cleanup"
            )
    holders = compat.pool_holders(instance)
    done = []
    for run_id in sorted(holders):
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status in compat.UNFINISHED_STATUSES:
            continue
        compat.free_pool_slots(instance, run_id)
        why = (
            f"whose process (pid {dead[run_id]}) is gone"
            if run_id in dead
            else "which had ended without freeing it"
        )
        done.append(f"freed the pool slot of run {run_id[:8]}, {why}")
    done += [
        f"marked run {run_id[:8]} failed: its process (pid {pid}) is gone"
        for run_id, pid in dead.items()
        if run_id not in holders
    ]
    return done


def _waiting_for(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """If `run_id` has a step waiting for a pool slot, which runs hold that pool."""
    for pool, holding, claims in compat.pools(instance):
        if (run_id, False) in claims:
            holders = sorted({holder for holder in holding if holder != run_id})
            if holders:  # none: the slot was freed since, and the step is about to take it
                return f"waiting for the {pool} pool, held by {', '.join(map(_describe(instance), holders))}"
    return None


def _describe(instance: dg.DagsterInstance) -> Callable[[str], str]:
    def describe(run_id: str) -> str:
        run = instance.get_run_by_id(run_id)
        pid = run.tags.get(PID_TAG) if run else None
        return f"run {run_id[:8]}" + (f" (pid {pid})" if pid else "") + (f" of {run.job_name}" if run else "")

    return describe


def execute_in_worker(instance: dg.DagsterInstance, say: Callable[[str], None]):
    """The `execute` hook of `run_days`: each run in a worker thread of its own, after cleaning up dead
    runs; while it waits for the pool, says which run holds it and frees the slot if that run's process dies.
    Returns None instead of running once a stop was asked for."""

    def execute(job: dg.JobDefinition, **kwargs):
        if _stop:
            return None
        for line in clean_up_dead_runs(instance):
            say(line)
        kwargs["tags"] = {**kwargs.get("tags", {}), **process_tags()}
        outcome: dict = {}

        def work():
            try:
                outcome["result"] = job.execute_in_process(**kwargs)
            except BaseException as exc:  # handed to the main thread
                outcome["error"] = exc

        worker = threading.Thread(target=work, name=f"octograph {job.name}", daemon=True)
        started, said, looked = time.monotonic(), None, 0.0
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.5)
                now = time.monotonic()
                if now - started < WAITING_NOTICE_SECONDS or now - looked < DEAD_HOLDER_CHECK_SECONDS:
                    continue
                looked = now
                if waiting := _waiting(instance, kwargs["tags"]):
                    if waiting != said:
                        say(waiting)
                        said = waiting
                    for line in clean_up_dead_runs(instance):
                        say(line)
        except KeyboardInterrupt:
            _cancel_current(instance, kwargs["tags"])
            raise
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    return execute


def _current_runs(instance: dg.DagsterInstance, tags: dict[str, str]) -> list[dg.DagsterRun]:
    return instance.get_runs(dg.RunsFilter(tags=tags, statuses=list(compat.UNFINISHED_STATUSES)))


def _waiting(instance: dg.DagsterInstance, tags: dict[str, str]) -> str | None:
    """What the current run (tagged `tags`) waits for, if it waits for a pool another run holds."""
    for run in _current_runs(instance, tags):
        if waiting := _waiting_for(instance, run.run_id):
            return f"run {run.run_id[:8]} is {waiting}"
    return None


def _cancel_current(instance: dg.DagsterInstance, tags: dict[str, str]) -> None:
    """Stopping at once: the run in progress is marked canceled and its pool slot freed for the next."""
    for run in _current_runs(instance, tags):
        instance.report_run_canceled(run, "stopped at once by a second signal")
        compat.free_pool_slots(instance, run.run_id)


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
    household: str = "",
) -> DaysRun:
    """Materialises every asset for the days first..last (consumption only up to its last partition,
    yesterday): per chunk of days, one prices run and, if it succeeded, one consumption run.

    `execute(job, instance=..., partition_key=..., tags=..., ...)` runs one job (`execute_in_process` unless
    given); returning None stops the remaining runs. `progress(days done, days in all)` follows each chunk.
    The outcomes are recorded `into` a DaysRun as they come (a new one unless given), and returned. `household`
    names whose jobs run, in a file with several."""
    first = dt.date.fromisoformat(str(first))
    last = dt.date.fromisoformat(str(last or first))
    last_consumption = dt.date.fromisoformat(
        defs.resolve_job_def(named(household, CONSUMPTION_JOB)).partitions_def.get_last_partition_key()
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
                defs.resolve_job_def(named(household, job)),
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
