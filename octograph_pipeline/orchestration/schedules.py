"""Keeping the data current: a daily schedule for yesterday's usage, a second cadence for tomorrow's Agile
prices, a sensor that re-requests recent days whose consumption arrived late or incompletely, and one that frees
the pool slots of runs whose process died."""

import datetime as dt
import json

import dagster as dg

from octograph_pipeline.clients.influx import open_store
from octograph_pipeline.core import checks, frames
from octograph_pipeline.core import days as local_days
from octograph_pipeline.core.schema import ACCOUNT_METERS, METER_CONSUMPTION, Asset
from octograph_pipeline.core.settings import Settings
from octograph_pipeline.orchestration import runs
from octograph_pipeline.orchestration.households import asset_key, named
from octograph_pipeline.orchestration.jobs import CONSUMPTION_JOB, PRICES_JOB
from octograph_pipeline.orchestration.partitions import days_target, range_tags
from octograph_pipeline.orchestration.resources import OctographConfig

CONSUMPTION_HOUR = 9  # yesterday's readings are usually there by the morning
AGILE_CRON = "30 16,20 * * *"  # tomorrow's Agile prices appear around 16:00, sometimes as late as 20:00
DISPATCHES_CRON = "15 */4 * * *"  # completed dispatches are served for about 12 hours: three chances each


def build_schedules(settings: Settings, jobs: dict) -> list:
    """The household's schedules; `jobs` by their plain names (PRICES_JOB, CONSUMPTION_JOB)."""
    tz = settings.octopus.timezone
    # Yesterday evening's measured carbon intensity arrives after its last run: with [carbon], yesterday too.
    days_back = 1 if settings.carbon.enabled else 0

    daily_consumption = dg.build_schedule_from_partitioned_job(
        jobs[CONSUMPTION_JOB],
        name=named(settings.household, "daily_consumption"),
        description="Every morning: yesterday's readings and costs (the last consumption partition).",
        hour_of_day=CONSUMPTION_HOUR,
        minute_of_hour=0,
    )

    @dg.schedule(
        name=named(settings.household, "agile_prices"),
        job=jobs[PRICES_JOB],
        cron_schedule=AGILE_CRON,
        execution_timezone=tz,
        description=(
            "Today's and tomorrow's prices once published (16:30, and 20:30 in case they were late): Agile "
            "prices published today run from 23:00 today to 23:00 tomorrow, so each day needs both runs."
            + (" With [carbon], yesterday too: its evening's measured intensity." if days_back else "")
        ),
    )
    def agile_prices(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        today = local_days.local_date(context.scheduled_execution_time, settings.octopus.tz)
        first = max(today - dt.timedelta(days=days_back), min(today, settings.pipeline.start_date))
        return dg.RunRequest(tags=range_tags(first.isoformat(), (today + dt.timedelta(days=1)).isoformat()))

    if settings.octopus.intelligent_mpan is None:
        return [daily_consumption, agile_prices]

    @dg.schedule(
        name=named(settings.household, "intelligent_dispatches"),
        job=jobs[PRICES_JOB],
        cron_schedule=DISPATCHES_CRON,
        execution_timezone=tz,
        description=(
            "Every 4 hours: Intelligent Octopus dispatches of yesterday, today and tomorrow (Kraken serves "
            "completed ones for about 12 hours, so each is stored before it is gone)."
        ),
    )
    def intelligent_dispatches(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        today = local_days.local_date(context.scheduled_execution_time, settings.octopus.tz)
        days = (today - dt.timedelta(days=1)).isoformat(), (today + dt.timedelta(days=1)).isoformat()
        return dg.RunRequest(
            asset_selection=[asset_key(settings.household, Asset.INTELLIGENT_DISPATCHES)], tags=range_tags(*days)
        )

    return [daily_consumption, agile_prices, intelligent_dispatches]


def build_late_data_sensor(settings: Settings, jobs: dict) -> dg.SensorDefinition:
    """The household's late-data sensor; `jobs` by their plain names."""
    pipeline = settings.pipeline

    @dg.sensor(
        name=named(settings.household, "late_consumption"),
        jobs=[jobs[PRICES_JOB], jobs[CONSUMPTION_JOB]],
        minimum_interval_seconds=15 * 60,
        description=(
            f"Re-requests days of the last {pipeline.lookback_days} that were never materialised or whose "
            f"readings are incomplete, at most once per day every {pipeline.late_data_retry_hours} h, until "
            "complete."
        ),
    )
    def late_consumption(context: dg.SensorEvaluationContext, octograph: OctographConfig):
        now = dt.datetime.now(dt.UTC)
        current = octograph.household(settings.household)  # the file as it is now
        return late_data_requests(context.instance, current, now, context.cursor, context.update_cursor)

    return late_consumption


def recent_days(settings: Settings, now: dt.datetime) -> list[dt.date]:
    """The last `lookback_days` complete local days before `now`, oldest first, not before the start date."""
    days = local_days.before(now, settings.pipeline.lookback_days, settings.octopus.tz)
    return [day for day in days if day >= settings.pipeline.start_date]


def incomplete_days(settings: Settings, days: list[dt.date]) -> set[dt.date]:
    """Days whose stored readings miss intervals: the completeness check, re-run on what InfluxDB holds."""
    if not days:
        return set()
    tz = settings.octopus.tz
    start, end = local_days.window(days[0], days[-1], tz)
    tags = settings.influxdb.additional_tags
    with open_store(settings.influxdb) as store:
        account = store.read([ACCOUNT_METERS], start, end, tags)
        consumption = store.read([METER_CONSUMPTION], start, end, tags)
    problems = checks.missing_intervals(
        consumption, frames.agreement_segments(account, tz), tz, settings.octopus.resolution_minutes
    )
    return {dt.date.fromisoformat(day) for day in problems["day"]}


def late_data_requests(instance: dg.DagsterInstance, settings: Settings, now: dt.datetime, cursor, update_cursor):
    """One range run for the recent days that need (re)materialising; prices first where they are missing.

    The cursor remembers when each day was last requested, so a day is asked for at most once per
    `late_data_retry_hours`, and never again once complete."""
    days = recent_days(settings, now)
    requested = json.loads(cursor) if cursor else {}
    retry_after = dt.timedelta(hours=settings.pipeline.late_data_retry_hours)

    def materialized(asset: str) -> set[dt.date]:
        partitions = instance.get_materialized_partitions(asset_key(settings.household, asset))
        return {dt.date.fromisoformat(key) for key in partitions}

    carbon = settings.carbon.enabled
    priced = set.intersection(
        *map(materialized, [Asset.ACCOUNT, Asset.TARIFF_RATES, *([Asset.CARBON_INTENSITY] if carbon else [])])
    )
    missing_prices = [day for day in days if day not in priced]
    if missing_prices:
        job, due = PRICES_JOB, missing_prices
    else:
        job = CONSUMPTION_JOB
        done = set.intersection(
            *map(materialized, [Asset.PRICED_CONSUMPTION, *([Asset.EMISSIONS] if carbon else [])])
        )
        due = sorted((set(days) - done) | incomplete_days(settings, days))
    due = [
        day
        for day in due
        if f"{job}:{day}" not in requested
        or now - dt.datetime.fromisoformat(requested[f"{job}:{day}"]) >= retry_after
    ]
    if not due:
        return dg.SkipReason(f"the last {len(days)} days are complete, or were requested within {retry_after}")
    for day in due:
        requested[f"{job}:{day}"] = now.isoformat()
    update_cursor(
        json.dumps(
            {key: value for key, value in requested.items() if value >= (now - 4 * retry_after).isoformat()}
        )
    )
    first, last = due[0].isoformat(), due[-1].isoformat()
    # A single run over first..last; complete days in between are simply re-written as they were.
    return dg.RunRequest(
        job_name=named(settings.household, job),
        run_key=f"{job}:{first}:{last}:{now.isoformat()}",
        **days_target(first, last),
    )


DEAD_RUNS_INTERVAL_SECONDS = 30


def build_dead_runs_sensor() -> dg.SensorDefinition:
    """The daemon's counterpart of what `octograph` does while it waits for the pool. Dagster's run monitoring
    frees the slots only of runs that ended, and its default run launcher cannot tell that a run's process died
    (SIGKILL, the OOM killer): the run would stay STARTED and its `octopus_api` slot taken, wedging every later
    run. Evaluated where runs are launched (the code location), so it sees their processes."""

    @dg.sensor(
        name="dead_runs",
        minimum_interval_seconds=DEAD_RUNS_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Every {DEAD_RUNS_INTERVAL_SECONDS} s: runs whose process is gone (killed without cleanup) are "
            "marked failed and their octopus_api pool slot freed, so later runs do not wait forever."
        ),
    )
    def dead_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        done = runs.clean_up_dead_runs(context.instance)
        for line in done:
            context.log.warning(line)
        return dg.SkipReason("; ".join(done) or "no dead run")

    return dead_runs
