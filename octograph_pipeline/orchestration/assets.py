"""The daily-partitioned assets: four in every configuration, `tariff_comparison` with a [comparison] section,
`intelligent_dispatches` with `intelligent_mpan`, and `carbon_intensity` and `emissions` with [carbon] enabled.
Thin: fetch, hand to pure functions in `frames`, `comparison`, `carbon` and `checks`, return.

Every asset works on its run's partition *window* (one day or a range of days), so a range run makes one
request per meter or tariff component for the whole range, not one per day.
"""

import contextlib
import dataclasses
import datetime as dt
import re
import warnings
from collections.abc import Callable, Iterator
from urllib.parse import unquote

import dagster as dg
import pandas as pd

from octograph_pipeline.clients.carbon import CarbonIntensityError, CarbonIntensityRefused
from octograph_pipeline.clients.influx import open_store
from octograph_pipeline.clients.kraken import GraphQLUnavailable, KrakenAuthError
from octograph_pipeline.clients.octopus import FinalError, OctopusError
from octograph_pipeline.core import carbon, checks, comparison, days, frames, metadata
from octograph_pipeline.core import schema as s
from octograph_pipeline.core.schema import ASSET_MEASUREMENTS, TIME, Asset
from octograph_pipeline.core.settings import ConfigError, Settings
from octograph_pipeline.orchestration import compat, households, runs
from octograph_pipeline.orchestration.partitions import MAX_DAYS_PER_RUN, daily_partitions, utc_window
from octograph_pipeline.orchestration.resources import OctographConfig
from octograph_pipeline.orchestration.runs import no_retries

IO_MANAGER_KEY = "influx_io_manager"
# Tomorrow's Agile prices are published around 16:00, so prices (and the agreements they need) may run a
# day ahead of today; consumption cannot be complete before the day is over.
PRICES_END_OFFSET = 2
CONSUMPTION_END_OFFSET = 0
# A rejected key, a missing account/meter/tariff, an API that cannot be reached or a bad config: failing at
# once; other Octopus errors (5xx, throttling, timeouts) go to the retry policy.
NOT_RETRIED = (FinalError, ConfigError)
CARBON_NOT_RETRIED = (CarbonIntensityRefused, ConfigError)
# Dagster shows a check whose step failed as "Execution failed" (✗): that says nothing of the data.
EXECUTION_FAILED_MEANS = (
    '"Execution failed" means its step did not run (a fetch failed, say), not that the data failed the check: '
    "each day keeps its last result, listed on the Checks tab."
)


# --- the asset bodies ---------------------------------------------------------------------------------------


def account(context: dg.AssetExecutionContext, octograph: OctographConfig) -> pd.DataFrame:
    runs.begin_step(context)
    settings = octograph.settings_for(context.asset_key)
    octopus = settings.octopus
    start, end = utc_window(context.partition_time_window)
    with octopus_calls(context, settings), octograph.octopus_client(settings) as client:
        data = client.account(octopus.account_number)
    for problem in frames.uncovered_days(data, start, end, octopus.tz, octopus.included_meters):
        context.log.warning(f"{problem}: its usage there cannot be priced")
    points = frames.account_points(
        data, start, end, octopus.tz, settings.influxdb.point_tags, octopus.included_meters
    )
    if octopus.intelligent_mpan:  # before anything of the run is written
        require_intelligent_mpan(frames.agreement_segments(points, octopus.tz), settings)
    attach_day_metadata(context, metadata.account(points, context.partition_keys, octopus.tz))
    return points


def tariff_rates(
    context: dg.AssetExecutionContext, octograph: OctographConfig, account: pd.DataFrame
) -> pd.DataFrame:
    runs.begin_step(context)
    settings = octograph.settings_for(context.asset_key)
    with octopus_calls(context, settings), octograph.octopus_client(settings) as client:
        # One request per tariff component for all the days and meters under that tariff.
        points, problems = frames.rate_points(
            frames.agreement_segments(account, settings.octopus.tz),
            client.rates,
            settings.octopus.price_rules,
            settings.influxdb.point_tags,
        )
    for problem in problems:
        context.log.warning(problem)
    attach_day_metadata(context, metadata.tariff_rates(points, context.partition_keys, settings.octopus.tz))
    return points


def meter_consumption(context: dg.AssetExecutionContext, octograph: OctographConfig, account: pd.DataFrame):
    runs.begin_step(context)
    settings = octograph.settings_for(context.asset_key)
    tz, resolution = settings.octopus.tz, settings.octopus.resolution_minutes
    require_stored_inputs(context, settings, account=account)
    segments = frames.agreement_segments(account, tz)
    gas = settings.octopus.gas_conversion
    units = reported_gas_units(context, octograph, settings, frames.gas_meters_to_ask(segments, gas.meter_types))
    with octopus_calls(context, settings), octograph.octopus_client(settings) as client:
        points = frames.consumption_frame(
            segments, client.consumption, tz, resolution, gas, settings.influxdb.point_tags, units
        )
    attach_day_metadata(context, metadata.meter_consumption(points, context.partition_keys, settings.octopus.tz))
    yield dg.Output(points)
    yield from day_check_results(
        context,
        {
            checks.COMPLETE_INTERVALS: checks.missing_intervals(points, segments, tz, resolution),
            checks.NO_NEGATIVE_IMPORT: checks.negative_import(points, tz),
        },
    )


def priced_consumption(
    context: dg.AssetExecutionContext,
    octograph: OctographConfig,
    account: pd.DataFrame,
    tariff_rates: pd.DataFrame,
    meter_consumption: pd.DataFrame,
):
    yield from _priced_consumption(context, octograph, account, tariff_rates, meter_consumption)


def priced_consumption_with_dispatches(
    context: dg.AssetExecutionContext,
    octograph: OctographConfig,
    account: pd.DataFrame,
    tariff_rates: pd.DataFrame,
    meter_consumption: pd.DataFrame,
    intelligent_dispatches: pd.DataFrame,
):
    """With `intelligent_mpan`: its completed smart-charge half-hours cost the off-peak rate."""
    yield from _priced_consumption(
        context, octograph, account, tariff_rates, meter_consumption, intelligent_dispatches
    )


def _priced_consumption(
    context, octograph, account, tariff_rates, meter_consumption, dispatches: pd.DataFrame | None = None
):
    runs.begin_step(context)
    settings = octograph.settings_for(context.asset_key)
    tz, resolution = settings.octopus.tz, settings.octopus.resolution_minutes
    require_stored_inputs(
        context, settings, account=account, tariff_rates=tariff_rates, meter_consumption=meter_consumption
    )
    segments = frames.agreement_segments(account, settings.octopus.tz)
    smart_slots = None
    if dispatches is not None:
        require_intelligent_mpan(segments, settings)
        warn_days_without(context, Asset.INTELLIGENT_DISPATCHES, "smart charges there cost the usual rates")
        smart_slots = off_peak_slots(context, settings, dispatches)
    points, details = frames.priced_points(
        meter_consumption,
        tariff_rates,
        segments,
        settings.octopus.price_rules,
        settings.influxdb.point_tags,
        smart_slots,
    )
    attach_day_metadata(
        context, metadata.priced_consumption(points, details, context.partition_keys, settings.octopus.tz)
    )
    yield dg.Output(points)
    yield from day_check_results(
        context,
        {
            checks.EVERY_INTERVAL_PRICED: checks.unpriced_intervals(details, tz),
            checks.STANDING_CHARGE_ONE_DAY: checks.standing_charge_mismatches(
                details, tariff_rates, segments, tz, resolution
            ),
        },
    )


def off_peak_slots(context: dg.AssetExecutionContext, settings: Settings, dispatches: pd.DataFrame) -> pd.Series:
    """The half-hours of the run's dispatches billed off-peak (`frames.smart_charge_slots`). The charge cap
    counts from midday of the day before the first day, so that afternoon's stored slots are read too."""
    start, _ = utc_window(context.partition_time_window)
    first_day = days.local_date(start, settings.octopus.tz)
    midday = pd.Timestamp(
        dt.datetime.combine(first_day - dt.timedelta(days=1), dt.time(12)), tz=settings.octopus.tz
    )
    with no_retries(*NOT_RETRIED), open_store(settings.influxdb) as store:
        earlier = store.read(
            ASSET_MEASUREMENTS[Asset.INTELLIGENT_DISPATCHES],
            midday.tz_convert("UTC"),
            start,
            settings.influxdb.additional_tags,
        )
    slots = pd.concat([frame for frame in (earlier, dispatches) if len(frame)] or [dispatches], ignore_index=True)
    return frames.smart_charge_slots(slots, settings.octopus.price_rules)


def intelligent_dispatches(context: dg.AssetExecutionContext, octograph: OctographConfig) -> pd.DataFrame:
    """Kraken serves completed dispatches for about 12 hours only: what earlier runs stored for the window is
    kept, and what is served now is added (the schedule asks often enough that none is missed)."""
    runs.begin_step(context)
    settings = octograph.settings_for(context.asset_key)
    start, end = utc_window(context.partition_time_window)
    with no_retries(*NOT_RETRIED), octograph.kraken_client(settings) as kraken:
        dispatches = kraken.dispatches(settings.octopus.account_number)
    fetched = frames.dispatch_points(dispatches, start, end, settings.influxdb.point_tags)
    with no_retries(*NOT_RETRIED), open_store(settings.influxdb) as store:
        stored = store.read(
            ASSET_MEASUREMENTS[Asset.INTELLIGENT_DISPATCHES], start, end, settings.influxdb.additional_tags
        )
    points = frames.kept_slots(stored, fetched)
    attach_day_metadata(
        context, metadata.intelligent_dispatches(points, context.partition_keys, settings.octopus.tz)
    )
    return points


def tariff_comparison(
    context: dg.AssetExecutionContext,
    octograph: OctographConfig,
    account: pd.DataFrame,
    tariff_rates: pd.DataFrame,
    meter_consumption: pd.DataFrame,
) -> pd.DataFrame:
    return _tariff_comparison(context, octograph, account, tariff_rates, meter_consumption)


def tariff_comparison_with_dispatches(
    context: dg.AssetExecutionContext,
    octograph: OctographConfig,
    account: pd.DataFrame,
    tariff_rates: pd.DataFrame,
    meter_consumption: pd.DataFrame,
    intelligent_dispatches: pd.DataFrame,
) -> pd.DataFrame:
    return _tariff_comparison(context, octograph, account, tariff_rates, meter_consumption, intelligent_dispatches)


def _tariff_comparison(
    context, octograph, account, tariff_rates, meter_consumption, dispatches=None
) -> pd.DataFrame:
    runs.begin_step(context)
    settings = octograph.settings_for(context.asset_key)
    require_stored_inputs(
        context, settings, account=account, tariff_rates=tariff_rates, meter_consumption=meter_consumption
    )
    segments = frames.agreement_segments(account, settings.octopus.tz)
    smart_slots = None if dispatches is None else off_peak_slots(context, settings, dispatches)
    with octopus_calls(context, settings), octograph.octopus_client(settings) as client:
        # One request per product, and one per component of each candidate tariff for the whole window.
        points, problems = comparison.compare(
            meter_consumption,
            tariff_rates,
            segments,
            settings.comparison,
            settings.octopus.price_rules,
            settings.influxdb.point_tags,
            lambda code: client.product(code, settings.octopus.payment_method),
            client.rates,
            smart_slots,
        )
    for problem in problems:
        context.log.warning(problem)
    attach_day_metadata(context, metadata.tariff_comparison(points, context.partition_keys, settings.octopus.tz))
    return points


def carbon_intensity(
    context: dg.AssetExecutionContext, octograph: OctographConfig, account: pd.DataFrame
) -> pd.DataFrame:
    """The nation's half-hours and those of each region the account's electricity tariffs name."""
    runs.begin_step(context)
    settings = octograph.settings_for(context.asset_key)
    require_stored_inputs(context, settings, account=account)
    start, end = utc_window(context.partition_time_window)
    regions = carbon.regions(frames.agreement_segments(account, settings.octopus.tz))
    with (
        api_calls(context, settings, CarbonIntensityError, CARBON_NOT_RETRIED),
        octograph.carbon_client(settings) as client,
    ):
        national, generation = client.national(start, end), client.generation(start, end)
        regional = {region: client.regional(region, start, end) for region in regions}
    points = carbon.intensity_points(national, generation, regional, settings.influxdb.point_tags)
    attach_day_metadata(context, metadata.carbon_intensity(points, context.partition_keys, settings.octopus.tz))
    return points


def emissions(
    context: dg.AssetExecutionContext,
    octograph: OctographConfig,
    account: pd.DataFrame,
    meter_consumption: pd.DataFrame,
    carbon_intensity: pd.DataFrame,
):
    """Each interval's usage at its region's intensity; no API call: everything it needs is stored upstream."""
    runs.begin_step(context)
    settings = octograph.settings_for(context.asset_key)
    tz = settings.octopus.tz
    require_stored_inputs(
        context, settings, account=account, meter_consumption=meter_consumption, carbon_intensity=carbon_intensity
    )
    points = carbon.emission_points(
        meter_consumption,
        frames.agreement_segments(account, tz),
        carbon_intensity,
        tz,
        settings.octopus.resolution_minutes,
        settings.carbon.gas_kg_co2e_per_kwh,
        settings.influxdb.point_tags,
    )
    attach_day_metadata(context, metadata.emissions(points, context.partition_keys, tz))
    yield dg.Output(points)
    yield from day_check_results(
        context, {checks.EVERY_INTERVAL_HAS_INTENSITY: checks.missing_intensity(points, tz)}
    )


# --- decorating them with what config decides -------------------------------------------------------------


OCTOPUS, CARBON_API = "octopus", "carbon"


@dataclasses.dataclass(frozen=True)
class Declared:
    """What an asset is, apart from its body: its description, its days (prices run a day ahead), its checks,
    and which API it calls, if any (then it is retried; the Octopus API's callers take the `octopus_api` pool)."""

    description: str
    ahead: bool = False
    asset_checks: tuple[checks.Check, ...] = ()
    calls: str | None = OCTOPUS


DECLARED = {
    Asset.ACCOUNT: Declared(
        "Properties, meter points, meters and the agreement (tariff) in force each day.", ahead=True
    ),
    Asset.TARIFF_RATES: Declared(
        "Unit rates (p/kWh) and daily standing charges (p/day) per interval of every agreement.", ahead=True
    ),
    Asset.METER_CONSUMPTION: Declared(
        "What each meter reported per interval while it was ours, and its energy in kWh.",
        asset_checks=(checks.COMPLETE_INTERVALS, checks.NO_NEGATIVE_IMPORT),
    ),
    Asset.PRICED_CONSUMPTION: Declared(
        "Usage × unit rate + standing charge per interval, VAT inc and exc; export negative.",
        asset_checks=(checks.EVERY_INTERVAL_PRICED, checks.STANDING_CHARGE_ONE_DAY),
        calls=None,
    ),
    Asset.INTELLIGENT_DISPATCHES: Declared(
        "Intelligent Octopus dispatches per half-hour (smart and bump charges, completed and planned).",
        ahead=True,
    ),
    Asset.TARIFF_COMPARISON: Declared(
        "Each meter point's intervals priced on the [comparison] products, against the actual tariffs."
    ),
    Asset.CARBON_INTENSITY: Declared(
        "The grid's carbon intensity per half-hour (GB Carbon Intensity API): the nation's forecast, actual and "
        "generation mix, and the forecast and mix of each meter point's region.",
        ahead=True,
        calls=CARBON_API,
    ),
    Asset.EMISSIONS: Declared(
        "g CO2 per meter point and interval: usage × its region's intensity, gas at the [carbon] factor; export "
        "negative (avoided).",
        asset_checks=(checks.EVERY_INTERVAL_HAS_INTENSITY,),
        calls=None,
    ),
}


def bodies(settings: Settings) -> dict[str, Callable]:
    """The assets this config has, and their bodies: `intelligent_dispatches` and the dispatch-aware pricing
    with `intelligent_mpan`, `tariff_comparison` with a `[comparison]` section, `carbon_intensity` and
    `emissions` with `[carbon] enabled`."""
    intelligent = settings.octopus.intelligent_mpan is not None
    chosen = {
        Asset.ACCOUNT: account,
        Asset.TARIFF_RATES: tariff_rates,
        Asset.METER_CONSUMPTION: meter_consumption,
        Asset.PRICED_CONSUMPTION: priced_consumption_with_dispatches if intelligent else priced_consumption,
        Asset.INTELLIGENT_DISPATCHES: intelligent_dispatches if intelligent else None,
        Asset.TARIFF_COMPARISON: (
            (tariff_comparison_with_dispatches if intelligent else tariff_comparison)
            if settings.comparison.enabled
            else None
        ),
        Asset.CARBON_INTENSITY: carbon_intensity if settings.carbon.enabled else None,
        Asset.EMISSIONS: emissions if settings.carbon.enabled else None,
    }
    return {name: body for name, body in chosen.items() if body is not None}


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """Each body decorated with its declaration and what config decides: the days (start date, time zone) and
    the retry policy."""
    partitions = {
        True: daily_partitions(settings, PRICES_END_OFFSET),
        False: daily_partitions(settings, CONSUMPTION_END_OFFSET),
    }
    retry_policy = dg.RetryPolicy(
        max_retries=settings.pipeline.retries,
        delay=settings.pipeline.retry_delay_seconds,
        backoff=dg.Backoff.EXPONENTIAL,
    )
    # backfill_policy and partitioned checks are marked beta/preview; the warnings would greet every user at
    # every load.
    warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")
    warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*AssetCheckSpec.*")

    def decorated(name: str, body: Callable) -> dg.AssetsDefinition:
        declared, days = DECLARED[name], partitions[DECLARED[name].ahead]
        return dg.asset(
            name=name,
            description=declared.description,
            partitions_def=days,
            io_manager_key=IO_MANAGER_KEY,
            backfill_policy=dg.BackfillPolicy.multi_run(MAX_DAYS_PER_RUN),
            retry_policy=retry_policy if declared.calls else None,
            pool=households.octopus_pool(settings) if declared.calls == OCTOPUS else None,
            group_name=households.group(settings),
            key_prefix=[settings.household] if settings.household else None,
            kinds={"python", "influxdb"},
            metadata={"influxdb_measurements": ", ".join(m.name for m in ASSET_MEASUREMENTS[name])},
            check_specs=[
                dg.AssetCheckSpec(
                    check.name,
                    asset=households.asset_key(settings.household, name),
                    description=f"{check.description} {EXECUTION_FAILED_MEANS}",
                    partitions_def=days,
                )
                for check in declared.asset_checks
            ],  # fmt: skip
        )(body)

    return [decorated(name, body) for name, body in bodies(settings).items()]


# --- helpers of the bodies ----------------------------------------------------------------------------------


def octopus_calls(context: dg.AssetExecutionContext, settings: Settings):
    """`api_calls` for the Octopus REST API."""
    return api_calls(context, settings, OctopusError, NOT_RETRIED)


@contextlib.contextmanager
def api_calls(
    context: dg.AssetExecutionContext,
    settings: Settings,
    transient: type[Exception],
    final: tuple[type[Exception], ...],
) -> Iterator[None]:
    """API errors that will not mend (`final`) fail the step at once. Others (`transient`) go to the retry
    policy, each saying which days its request covered; on the last attempt the step fails with that cause as
    its error, rather than Dagster's "Exceeded max_retries" with the cause nested below it."""
    try:
        with no_retries(*final):
            yield
    except transient as exc:
        covered = days_of_request(str(exc), settings.octopus.tz)
        message = f"{exc}" + (f" (the request covered {covered})" if covered else "")
        if context.retry_number >= settings.pipeline.retries:
            raise dg.Failure(description=message, allow_retries=False) from exc  # --verbose shows the stack
        raise transient(message) from exc


def days_of_request(message: str, tz) -> str | None:
    """The local days of the `period_from`..`period_to` a request's URL (in `message`) asked for, if any."""
    found = dict(re.findall(r"(period_from|period_to)=([^&\s]+)", message))
    if set(found) != {"period_from", "period_to"}:
        return None
    start, end = (pd.Timestamp(unquote(found[key])) for key in ("period_from", "period_to"))
    first, last = days.keys(pd.Series([start, end - pd.Timedelta(seconds=1)]), tz)
    return days.listing(days.day_range(dt.date.fromisoformat(first), dt.date.fromisoformat(last)))


def day_check_results(context: dg.AssetExecutionContext, problems: dict[checks.Check, pd.DataFrame]) -> Iterator:
    """Each check's result for each day of the run, with that day's problems (its rows of `day`) in the metadata.

    In a run over several days Dagster's `AssetCheckResult` has no partition, so every day's check would read
    *Skipped*; an `AssetCheckEvaluation` per day, against that day's materialisation, is recorded per day.
    The `Output` tells Dagster the check ran."""
    partitions = context.partition_keys
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=list(partitions)),
        limit=len(partitions),
    ).records
    targets = {
        record.partition_key: compat.AssetCheckEvaluationTargetMaterializationData(
            storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
        )
        for record in records
        if record.run_id == context.run.run_id
    }
    outputs = {spec.name: output for output, spec in context.assets_def.check_specs_by_output_name.items()}
    for check, found in problems.items():
        yield dg.Output(None, output_name=outputs[check.name])
        by_day = dict(tuple(found.groupby("day"))) if len(found) else {}
        for day in partitions:
            rows = by_day.get(day)
            details = {} if rows is None else {"details": dg.MetadataValue.md(checks.markdown(rows))}
            yield dg.AssetCheckEvaluation(
                asset_key=context.asset_key,
                check_name=check.name,
                passed=rows is None,
                metadata={"problems": 0 if rows is None else len(rows), **details},
                target_materialization_data=targets.get(day),
                severity=dg.AssetCheckSeverity.WARN if check.warning else dg.AssetCheckSeverity.ERROR,
                partition=day,
            )


def reported_gas_units(
    context: dg.AssetExecutionContext, octograph: OctographConfig, settings: Settings, serials: list[str]
) -> dict:
    """What Kraken says these gas meters report (m³ or kWh); without GraphQL access, nothing, with a warning
    (the seed's rule then applies: SMETS1, kWh, unless `gas_meter_types` says otherwise)."""
    if not serials:
        return {}
    with no_retries(*NOT_RETRIED):
        try:
            with octograph.kraken_client(settings) as kraken:
                return kraken.gas_meter_units(settings.octopus.account_number)
        except (KrakenAuthError, GraphQLUnavailable) as exc:
            context.log.warning(
                f"gas units of {', '.join(serials)} unknown ({exc}): taken as kWh (SMETS1, the seed's rule); set "
                "[octopus] gas_meter_types to say which report m³"
            )
            return {}


def require_intelligent_mpan(segments: pd.DataFrame, settings: Settings) -> None:
    """`intelligent_mpan` must be one of the account's import meter points in the window."""
    mpan = settings.octopus.intelligent_mpan
    imports = segments[(segments[s.FUEL] == "electricity") & ~segments[s.IS_EXPORT].astype(bool)][s.METER_POINT]
    if len(segments) and mpan not in set(imports):
        raise dg.Failure(
            f"[octopus] intelligent_mpan: {mpan} is not an import meter point of this account "
            f"(its import MPANs: {', '.join(sorted(set(imports))) or 'none'})",
            allow_retries=False,
        )


def warn_days_without(context: dg.AssetExecutionContext, upstream: str, consequence: str) -> None:
    """A warning naming the run's days `upstream` was never materialised for."""
    done = context.instance.get_materialized_partitions(dg.AssetKey(upstream))
    if missing := [day for day in context.partition_keys if day not in done]:
        context.log.warning(f"{upstream} never materialised for {days.listing(missing)}: {consequence}")


def require_stored_inputs(context: dg.AssetExecutionContext, settings: Settings, **inputs: pd.DataFrame) -> None:
    """Fails the step, before anything is written, for days whose upstream assets hold no points and were never
    materialised: pricing or reading nothing there would turn the day green without data. A day an upstream
    asset did materialise with no points is truly empty (before moving in, a silent meter) and proceeds."""
    partitions = context.partition_keys
    missing = {}
    for upstream, frame in inputs.items():
        stored = set(days.keys(frame[TIME], settings.octopus.tz)) if len(frame) else set()
        unstored = [day for day in partitions if day not in stored]
        if unstored:
            done = context.instance.get_materialized_partitions(dg.AssetKey(upstream))
            if never := [day for day in unstored if day not in done]:
                missing[upstream] = never
    if missing:
        what = "; ".join(f"{upstream} on {days.listing(never)}" for upstream, never in missing.items())
        raise dg.Failure(
            description=(
                f"nothing stored upstream, as {what} never materialised: select {', '.join(missing)} too "
                "(or every asset) for these days and materialise again"
            ),
            allow_retries=False,
        )


def attach_day_metadata(context: dg.AssetExecutionContext, per_day: metadata.DayMetadata) -> None:
    """Each day's own numbers and tables on that day's materialisation, also in a run over many days."""
    for day, values in per_day.items():
        shown = {k: dg.MetadataValue.md(v) if isinstance(v, metadata.Markdown) else v for k, v in values.items()}
        context.add_asset_metadata(shown, partition_key=day)
