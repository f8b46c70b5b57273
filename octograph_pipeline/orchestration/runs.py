"""Running the jobs of the `octograph` command: stoppable, never stuck behind a dead run, saying what it waits on.

- Ctrl-C or SIGTERM asks the runs to stop at the next step boundary: Dagster executes in a worker thread, so a
  signal never lands inside a step (a write to InfluxDB, say); each asset starts with `begin_step()`.
  A second signal stops at once (the run is marked canceled and its pool slot freed).
- A run killed without cleanup (SIGKILL, the OOM killer, a reboot) keeps its `octopus_api` pool slot, and every
  later run would wait for it forever. Runs are tagged with their process; before each run, and every few
  seconds while a step waits for the pool, the slots of runs whose process is gone (or that have ended) are
  freed and those runs marked failed. The `dead_runs` sensor does the same for the daemon's runs.
- While a step waits for the pool, it says which run holds it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import dagster as dg

from octograph_pipeline.orchestration import compat

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
    """The `execute` hook of `jobs.run_days`: each run in a worker thread of its own, after cleaning up dead
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
