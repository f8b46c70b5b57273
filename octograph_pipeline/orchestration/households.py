"""A deployment's households in Dagster's names. A seed file has one household, named "", whose assets, jobs and
schedules keep their plain names (`account`, `octopus_prices`). Each `[household:NAME]` section of a file with
several is one Octopus account whose assets are keyed under NAME (`home/account`), grouped as NAME, and whose
jobs, schedules and sensor are named NAME__…: backfilled, scheduled, checked and re-run on its own, and shown
apart in the UI. A key's prefix says whose settings a step and the IO manager use."""

import dagster as dg

from octograph_pipeline.core.settings import Settings

SEPARATOR = "__"
SINGLE_GROUP = "octopus"  # the one household's asset group
SINGLE_POOL = "octopus_api"  # the one household's pool, as dagster.yaml has always named it


def asset_key(household: str, asset: str) -> dg.AssetKey:
    return dg.AssetKey([household, asset] if household else [asset])


def household_of(key: dg.AssetKey) -> str:
    return key.path[0] if len(key.path) > 1 else ""


def named(household: str, name: str) -> str:
    """A job's, schedule's or sensor's name for this household."""
    return f"{household}{SEPARATOR}{name}" if household else name


def group(settings: Settings) -> str:
    return settings.household or SINGLE_GROUP


def octopus_pool(settings: Settings) -> str:
    """The concurrency pool of the steps calling Octopus with this household's API key: one per key (its
    environment variable's name, never the key), so one key's requests never run in parallel while other
    households' do. Limit them in dagster.yaml (`concurrency: pools: default_limit`)."""
    if not settings.household:
        return SINGLE_POOL
    return f"{SINGLE_POOL}{SEPARATOR}{settings.octopus.api_key_env_var}"
