"""`octograph`: the seed's command line, run through Dagster.

    octograph --config-file=octograph.ini --from-date=latest --to-date=tomorrow

Materialises the days' partitions on the Dagster instance ($DAGSTER_HOME, else a throwaway one), waits,
prints the outcome per day and, per failed run, its cause in one line. Exit codes: 0 every day done, 1 some day
failed, 2 a bad argument, config or environment (one line naming it, nothing written), 130/143 stopped by
SIGINT/SIGTERM (after the current step; a second signal stops at once).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Sequence

from octograph_pipeline.config import load_settings
from octograph_pipeline.core.settings import ConfigError, Settings
from octograph_pipeline.orchestration import dagster_home

# pandas, requests and Dagster are imported where they are needed, inside main's guard: a Ctrl-C in the first
# second (while they import) is then one line, not a traceback.

LATEST_LOOKBACK_DAYS = 30
PLANNED_EVENTS_ENV_VAR = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


class UsageError(ValueError):
    """A bad argument; the message says which and why."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="octograph", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config-file", default=None, help="configuration file (default: $OCTOGRAPH_CONFIG or octograph.ini)"
    )
    parser.add_argument(
        "--from-date", default="latest", help="YYYY-MM-DD, `latest` or `yesterday` (default: latest)"
    )
    parser.add_argument(
        "--to-date", default="tomorrow", help="YYYY-MM-DD, `yesterday` or `tomorrow` (default: tomorrow)"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="Dagster's own log, and the full error of a failure"
    )
    return parser.parse_args(argv)


def check_influxdb(settings: Settings) -> None:
    """One cheap query, so a wrong URL, password or bucket stops here rather than inside every run."""
    from octograph_pipeline.clients.influx import open_store

    with open_store(settings.influxdb) as store:
        store.check()


def check_octopus(settings: Settings) -> None:
    """The account, read with the key: a rejected key, an unknown account or an unreachable API stops here
    (exit 2, nothing written) rather than failing every run. A transient error is left to the runs' retries."""
    from octograph_pipeline.clients.octopus import FinalError, OctopusClient, OctopusError

    try:
        with OctopusClient.from_settings(settings) as client:
            client.account(settings.octopus.account_number)
    except FinalError as exc:
        raise UsageError(str(exc)) from None
    except OctopusError:
        pass


def parse_day(value: str, option: str, special: dict[str, dt.date]) -> dt.date | None:
    """A date or one of the option's special words; `latest` is resolved later (it needs InfluxDB)."""
    if value in special:
        return special[value]
    if value == "latest" and option == "--from-date":
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        words = ", ".join(f"`{word}`" for word in (["latest"] if option == "--from-date" else []) + list(special))
        raise UsageError(f"{option}: {value!r} is not a date in YYYY-MM-DD format or one of {words}") from None


def latest_day(settings: Settings, today: dt.date) -> dt.date:
    """The day of the last reading stored in the last 30 days, for the meter point that lags most (gas often
    arrives later than electricity): it is fetched again, as it may be partial, and so is every day after."""
    from octograph_pipeline.clients.influx import open_store
    from octograph_pipeline.core import days

    since, until = days.window(today - dt.timedelta(days=LATEST_LOOKBACK_DAYS), today, settings.octopus.tz)
    with open_store(settings.influxdb) as store:
        last_readings = store.last_readings(since, until, settings.influxdb.additional_tags)
    if not last_readings:
        raise UsageError(
            f"--from-date=latest: no consumption stored in the last {LATEST_LOOKBACK_DAYS} days; back-fill from "
            "a fixed date first, e.g. --from-date=2024-01-01"
        )
    return days.local_date(min(last_readings.values()), settings.octopus.tz)


def resolve_range(args: argparse.Namespace, settings: Settings, today: dt.date) -> tuple[dt.date, dt.date]:
    yesterday, tomorrow = today - dt.timedelta(days=1), today + dt.timedelta(days=1)
    first = parse_day(args.from_date, "--from-date", {"yesterday": yesterday})
    last = parse_day(args.to_date, "--to-date", {"yesterday": yesterday, "tomorrow": tomorrow})
    if first is None:
        first = latest_day(settings, today)
    if last > tomorrow:
        raise UsageError(
            f"--to-date: {last} is after tomorrow ({tomorrow}); prices are published a day ahead at most"
        )
    if first > last:
        raise UsageError(f"--from-date {first} is after --to-date {last}")
    if first < settings.pipeline.start_date:
        raise UsageError(
            f"--from-date {first} is before the first partition, "
            f"[pipeline] start_date = {settings.pipeline.start_date}"
        )
    return first, last


@contextlib.contextmanager
def throwaway_instance():
    """An in-memory Dagster instance, for runs no UI will show. Its runs announce their days in one planned event
    per asset (Dagster's DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS) instead of one per asset and day: a
    year is 1,464 events fewer. The per-day events only let the UI mark each day of a failed run as failed."""
    import dagster as dg

    saved = os.environ.get(PLANNED_EVENTS_ENV_VAR)
    os.environ[PLANNED_EVENTS_ENV_VAR] = "1"
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance
    finally:
        if saved is None:
            del os.environ[PLANNED_EVENTS_ENV_VAR]
        else:
            os.environ[PLANNED_EVENTS_ENV_VAR] = saved


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:  # before the runs' own signal handling is in place, or after it
        say("stopped by SIGINT")
        return 130


def run(args: argparse.Namespace) -> int:
    from octograph_pipeline.clients.influx import InfluxError
    from octograph_pipeline.core import days

    try:
        settings = load_settings(args.config_file)
        settings.octopus.api_key()  # fail now, with the variable's name, rather than inside a run
        home = dagster_home.checked_home()
        check_influxdb(settings)
        check_octopus(settings)
        today = days.today(settings.octopus.tz)
        first, last = resolve_range(args, settings, today)
    except (ConfigError, UsageError, InfluxError, dagster_home.DagsterHomeError) as exc:
        print(f"octograph: {exc}", file=sys.stderr)
        return 2
    if home and (prepared := dagster_home.prepare(home)):
        say(prepared)
    dagster_home.batch_events()

    # Dagster is imported after the argument checks: a typo should not wait for it.
    from octograph_pipeline.config import config_path
    from octograph_pipeline.definitions import build_definitions
    from octograph_pipeline.orchestration import runs
    from octograph_pipeline.orchestration.instance import InstanceFileError, open_instance
    from octograph_pipeline.orchestration.runs import DaysRun, run_days

    try:
        home_instance = open_instance(home) if home else None
    except InstanceFileError as exc:
        print(f"octograph: {exc}", file=sys.stderr)
        return 2
    defs = build_definitions(config_path(args.config_file))
    print(f"octograph: {first} .. {last} on {f'DAGSTER_HOME={home}' if home else 'a temporary Dagster instance'}")
    logging.getLogger("dagster").setLevel(logging.INFO if args.verbose else logging.ERROR)
    if not args.verbose:  # Python's warnings (pandas' overflow, Dagster's deprecations) only with --verbose
        warnings.simplefilter("ignore")
    log_level = "INFO" if args.verbose else "CRITICAL"  # without --verbose, one line per failure is ours
    done, stopped_by = DaysRun(), None
    with (
        runs.stop_on_signals(say),
        home_instance or throwaway_instance() as instance,
    ):
        try:
            run_days(
                defs,
                first,
                last,
                instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
                raise_on_error=False,
                execute=runs.execute_in_worker(instance, say),
                progress=Progress(),
                into=done,
            )
        except KeyboardInterrupt as stop:
            stopped_by = str(stop) or "SIGINT"
        stopped_by = stopped_by or runs.stop_requested()
        if args.verbose:
            print_dagster_log(instance, done.run_ids)
        warned = [] if args.verbose else warnings_of(instance, [r.run_id for r in done.results if r.success])
    return report(done, first, last, stopped_by, args.verbose, warned)


def warnings_of(instance, run_ids: list[str]) -> list[str]:
    """What the steps of these (successful) runs warned of, each once: a product the comparison skipped, days a
    tariff does not cover. (A failed run has its one line; its other warnings are Dagster's about the failure.)"""
    return list(
        dict.fromkeys(
            entry.user_message
            for run_id in run_ids
            for entry in instance.all_logs(run_id)
            if entry.dagster_event is None and entry.level >= logging.WARNING
        )
    )


def print_dagster_log(instance, run_ids: list[str]) -> None:
    """Each run's event log as Dagster recorded it (the runs capture their own console output)."""
    for run_id in run_ids:
        for entry in instance.all_logs(run_id):
            when = dt.datetime.fromtimestamp(entry.timestamp).isoformat(sep=" ", timespec="seconds")
            kind = (
                entry.dagster_event_type.value if entry.dagster_event_type else logging.getLevelName(entry.level)
            )
            step = f" {entry.step_key}" if entry.step_key else ""
            print(f"{when} {run_id[:8]}{step} {kind}: {entry.message}", file=sys.stderr)


def say(line: str) -> None:
    print(f"octograph: {line}", file=sys.stderr, flush=True)


class Progress:
    """After each chunk of a long range: days done, of how many, and roughly how long the rest will take."""

    def __init__(self):
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if done < total:
            left = (time.monotonic() - self.started) / done * (total - done)
            say(f"{done}/{total} days done ({done / total:.0%}), about {left:.0f} s to go")


def report(
    run, first: dt.date, last: dt.date, stopped_by: str | None, verbose: bool, warned: Sequence[str] = ()
) -> int:
    """Each day's outcome, one line per failed run (its root cause), the steps' warnings, what a stop left
    undone; the exit code."""
    from octograph_pipeline.core import days
    from octograph_pipeline.orchestration.jobs import CONSUMPTION_JOB, PRICES_JOB

    for day in days.day_range(first, last):
        outcome = run.outcomes.get(day, {})
        words = [
            f"{label} {({True: 'ok', False: 'FAILED'}).get(outcome.get(job), '-')}"
            for label, job in (("prices", PRICES_JOB), ("consumption", CONSUMPTION_JOB))
        ]
        print(f"{day}  {'  '.join(words)}")
    for result in run.results:
        if not result.success:
            say(f"{result.job_def.name} failed: {failure_cause(result, verbose)}")
    for message in warned:
        say(f"warning: {message}")
    failed = run.failed_days()
    if stopped_by:
        left = run.unfinished_days()
        say(
            f"stopped by {stopped_by}: {len(days.day_range(first, last)) - len(left)} day(s) done"
            + (f"; not done: {left[0]} .. {left[-1]}, re-run with --from-date={left[0]}" if left else "")
        )
        return 143 if stopped_by == "SIGTERM" else 130
    if failed:
        say(f"{len(failed)} day(s) failed: {days.listing(failed)}; re-run them with --from-date/--to-date")
    return 1 if failed else 0


def failure_cause(result, verbose: bool) -> str:
    """What made a run fail, in one line: the innermost error of its (last) failed step, without Dagster's
    wrapping, or our own `Failure` on the way (its message is complete); with --verbose, the whole error and
    traceback."""
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    if not failures:
        return "see the run's logs in Dagster"
    error = failures[-1].event_specific_data.error
    if verbose:
        return error.to_string()
    while error.cause is not None and error.cls_name != "Failure":  # a Failure's message is ours, complete
        error = error.cause
    message = error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name
    return re.sub(r"^[\w.]+(?:Error|Exception|Failure): ", "", message)


if __name__ == "__main__":
    sys.exit(main())
