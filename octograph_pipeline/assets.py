"""The four daily-partitioned assets. Thin: fetch, hand to pure functions in `frames`/`checks`, return.

Every asset works on its run's partition *window* (one day or a range of days), so a range run makes one
request per meter or tariff component for the whole range, not one per day.
"""

import contextlib
import warnings

import dagster as dg
import pandas as pd

from . import checks, frames, metadata
from .config import ConfigError, Settings
from .influx.schema import ASSET_MEASUREMENTS
from .octopus.client import ApiKeyRejected, NotFound
from .partitions import daily_partitions, utc_window
from .resources import OctographConfig

IO_MANAGER_KEY = "influx_io_manager"
# Tomorrow's Agile prices are published around 16:00, so prices (and the agreements they need) may run a
# day ahead of today; consumption cannot be complete before the day is over.
PRICES_END_OFFSET = 2
CONSUMPTION_END_OFFSET = 0
# A backfill runs up to a year per run: one (paginated) request per meter and per tariff component covers all
# of it, and Dagster's per-run costs are paid once. A failed year re-runs in seconds.
MAX_DAYS_PER_RUN = 366
# Steps that call the Octopus API share this pool (limit it in dagster.yaml), so backfills, schedules and
# sensors never hammer the API at once.
OCTOPUS_POOL = "octopus_api"


@contextlib.contextmanager
def final_errors():
    """A rejected key, a missing account/meter/tariff or a bad config will not mend by retrying: fail the step
    at once with the message alone. Other Octopus errors (5xx, throttling) go to the retry policy."""
    try:
        yield
    except (ApiKeyRejected, NotFound, ConfigError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """The assets over daily partitions built from config (so the assets are built with them)."""
    prices_partitions = daily_partitions(settings, PRICES_END_OFFSET)
    consumption_partitions = daily_partitions(settings, CONSUMPTION_END_OFFSET)

    retry_policy = dg.RetryPolicy(
        max_retries=settings.pipeline.retries,
        delay=settings.pipeline.retry_delay_seconds,
        backoff=dg.Backoff.EXPONENTIAL,
    )

    def octopus_asset(name: str, description: str, partitions: dg.PartitionsDefinition, checks=(), api=True):
        # backfill_policy and partitioned checks are marked beta/preview; the warnings would greet every user
        # at every load.
        warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")
        warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*AssetCheckSpec.*")
        return dg.asset(
            name=name,
            description=description,
            partitions_def=partitions,
            io_manager_key=IO_MANAGER_KEY,
            backfill_policy=dg.BackfillPolicy.multi_run(MAX_DAYS_PER_RUN),
            retry_policy=retry_policy if api else None,
            pool=OCTOPUS_POOL if api else None,
            group_name="octopus",
            kinds={"python", "influxdb"},
            metadata={"influxdb_measurements": ", ".join(m.name for m in ASSET_MEASUREMENTS[name])},
            check_specs=[
                dg.AssetCheckSpec(check, asset=name, description=text, partitions_def=partitions)
                for check, text in checks
            ],
        )

    @octopus_asset(
        "account",
        "Properties, meter points, meters and the agreement (tariff) in force each day.",
        prices_partitions,
    )
    def account(context: dg.AssetExecutionContext, octograph: OctographConfig) -> pd.DataFrame:
        settings = octograph.settings()
        start, end = utc_window(context.partition_time_window)
        with final_errors(), octograph.octopus_client(settings) as client:
            data = client.account(settings.octopus.account_number)
        for problem in frames.uncovered_days(data, settings, start, end):
            context.log.warning(f"{problem}: its usage there cannot be priced")
        points = frames.account_points(data, settings, start, end)
        attach_day_metadata(context, metadata.account(points, context.partition_keys, settings.octopus.tz))
        return points

    @octopus_asset(
        "tariff_rates",
        "Unit rates (p/kWh) and daily standing charges (p/day) per interval of every agreement.",
        prices_partitions,
    )
    def tariff_rates(context: dg.AssetExecutionContext, octograph: OctographConfig, account: pd.DataFrame):
        settings = octograph.settings()
        with final_errors(), octograph.octopus_client(settings) as client:
            # One request per tariff component for all the days and meters under that tariff.
            points, problems = frames.rate_points(
                frames.agreement_segments(account, settings.octopus.tz), client.rates, settings
            )
        for problem in problems:
            context.log.warning(problem)
        attach_day_metadata(context, metadata.tariff_rates(points, context.partition_keys, settings.octopus.tz))
        return points

    @octopus_asset(
        "meter_consumption",
        "What each meter reported per interval while it was ours, and its energy in kWh.",
        consumption_partitions,
        checks=[
            ("complete_intervals", "Every meter point reported every interval of each day (46/48/50 half-hours)."),
            ("no_negative_import", "No import meter reported negative usage."),
        ],
    )
    def meter_consumption(context: dg.AssetExecutionContext, octograph: OctographConfig, account: pd.DataFrame):
        settings = octograph.settings()
        segments = frames.agreement_segments(account, settings.octopus.tz)
        if segments.empty:
            context.log.warning(
                "no agreements stored for this window, so no meters to read: if the account existed then, "
                "materialise `account` for these days first (the octopus_prices job)"
            )
        with final_errors(), octograph.octopus_client(settings) as client:
            points = frames.consumption_frame(segments, client.consumption, settings)
        attach_day_metadata(
            context, metadata.meter_consumption(points, context.partition_keys, settings.octopus.tz)
        )
        yield dg.Output(points)
        yield check_result("complete_intervals", checks.missing_intervals(points, segments, settings), warn=True)
        yield check_result("no_negative_import", checks.negative_import(points, settings))

    @octopus_asset(
        "priced_consumption",
        "Usage × unit rate + standing charge per interval, VAT inc and exc; export negative.",
        consumption_partitions,
        checks=[
            ("every_interval_priced", "Every consumption interval has a unit rate and a standing charge."),
            (
                "standing_charge_one_day",
                "Standing charge costs add up to one day's charge per meter point and day.",
            ),
        ],
        api=False,
    )
    def priced_consumption(
        context: dg.AssetExecutionContext,
        octograph: OctographConfig,
        account: pd.DataFrame,
        tariff_rates: pd.DataFrame,
        meter_consumption: pd.DataFrame,
    ):
        settings = octograph.settings()
        segments = frames.agreement_segments(account, settings.octopus.tz)
        points, details = frames.priced_points(meter_consumption, tariff_rates, segments, settings)
        per_day = metadata.priced_consumption(points, details, context.partition_keys, settings.octopus.tz)
        attach_day_metadata(context, per_day)
        yield dg.Output(points)
        yield check_result("every_interval_priced", checks.unpriced_intervals(details, settings))
        yield check_result(
            "standing_charge_one_day", checks.standing_charge_mismatches(details, tariff_rates, segments, settings)
        )

    return [account, tariff_rates, meter_consumption, priced_consumption]


def check_result(name: str, problems: pd.DataFrame, warn: bool = False) -> dg.AssetCheckResult:
    """Pass when there are no problems; otherwise name them (meter, day, intervals) in the check's metadata."""
    return dg.AssetCheckResult(
        check_name=name,
        passed=problems.empty,
        severity=dg.AssetCheckSeverity.WARN if warn else dg.AssetCheckSeverity.ERROR,
        metadata={"problems": len(problems), "details": dg.MetadataValue.md(checks.markdown(problems))},
    )


def attach_day_metadata(context: dg.AssetExecutionContext, per_day: metadata.DayMetadata) -> None:
    """Each day's own numbers and tables on that day's materialisation, also in a run over many days."""
    for day, values in per_day.items():
        shown = {k: dg.MetadataValue.md(v) if isinstance(v, metadata.Markdown) else v for k, v in values.items()}
        context.add_asset_metadata(shown, partition_key=day)
