"""Several households in one deployment: the `[household:NAME]` sections, each household's own asset keys, jobs,
schedules, sensor and Octopus pool, and 20 generated households back-filled for a week through the real webserver
and daemon with their steps on two Dagster Celery workers (Debian's Redis as the broker), equal point for point to
the same households materialised one at a time, one revoked key failing its household alone."""

from __future__ import annotations

import configparser
import os
from pathlib import Path

import dagster as dg
import pytest

from octograph_pipeline.clients.influx import InfluxV1Store
from octograph_pipeline.config import load_settings, parse_households
from octograph_pipeline.core.settings import ConfigError
from octograph_pipeline.definitions import build_definitions
from octograph_pipeline.dev.demo import prepare_dagster_home
from octograph_pipeline.dev.simulator import OctopusSimulator, serve
from octograph_pipeline.dev.simulator.household import generated_api_key, generated_households
from octograph_pipeline.orchestration.resources import OctographConfig
from octograph_pipeline.orchestration.runs import run_days

from .dagster_ui import DagsterDev
from .helpers import API_KEY, REPO, SIMULATOR_NOW, all_points, household_names, write_households_config
from .local_celery import celery_workers, local_redis

WEEK = [f"2024-06-{day}" for day in range(10, 17)]
REVOKED = 5  # the household whose key its owner regenerated


def households_ini(**sections: dict[str, str]) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_dict(
        {
            "influxdb": {"api_version": "1", "url": "http://127.0.0.1:1"},
            "octopus": {"api_prefix": "http://127.0.0.1:2/v1", "timezone": "Europe/London"},
            **sections,
        }
    )
    return parser


def test_each_household_section_is_its_octopus_options_over_the_shared_ones():
    home, flat = parse_households(
        households_ini(
            **{
                "household:home": {"account_number": "A-HOME0001", "api_key_env_var": "KEY_HOME"},
                "household:flat": {
                    "account_number": "A-FLAT0001",
                    "api_key_env_var": "KEY_FLAT",
                    "resolution_minutes": "60",
                    "products": "AGILE-24-10-01",
                },
            }
        )
    )
    assert (home.household, flat.household) == ("home", "flat")
    assert home.octopus.api_prefix == flat.octopus.api_prefix == "http://127.0.0.1:2/v1"  # shared
    assert (home.octopus.resolution_minutes, flat.octopus.resolution_minutes) == (30, 60)
    assert (home.comparison.enabled, flat.comparison.products) == (False, ("AGILE-24-10-01",))
    # Every point of a household carries its account number: the scope its runs replace.
    assert home.influxdb.additional_tags == {"account_number": "A-HOME0001"}
    assert flat.influxdb.additional_tags == {"account_number": "A-FLAT0001"}


def test_a_households_own_tags_go_over_the_shared_ones_by_name():
    home, flat = parse_households(
        households_ini(
            influxdb={
                "api_version": "1",
                "url": "http://127.0.0.1:1",
                "additional_tags": "scheme=ours, site=shared",
            },
            **{
                "household:home": {"account_number": "A-HOME0001", "api_key_env_var": "KEY_HOME"},
                "household:flat": {
                    "account_number": "A-FLAT0001",
                    "api_key_env_var": "KEY_FLAT",
                    "additional_tags": "site=flat, floor=2",
                    "included_tags": "property_postcode",
                },
            },
        )
    )
    assert home.influxdb.additional_tags == {"scheme": "ours", "site": "shared", "account_number": "A-HOME0001"}
    assert flat.influxdb.additional_tags == {
        "scheme": "ours", "site": "flat", "floor": "2", "account_number": "A-FLAT0001"
    }  # fmt: skip
    assert (home.influxdb.included_tags, flat.influxdb.included_tags) == ((), ("property_postcode",))


def test_a_seed_file_is_one_unnamed_household_whose_points_carry_no_extra_tag():
    (only,) = parse_households(households_ini(octopus={"account_number": "A-SEED0001"}))
    assert only.household == "" and only.influxdb.additional_tags == {}


@pytest.mark.parametrize(
    ("sections", "error"),
    [
        ({"household:Home": {"account_number": "A-1234ABCD"}}, r"\[household:Home\]: a household's name is"),
        (
            {"household:a": {"account_number": "A-1234ABCD", "api_key_env_var": "K", "bucket": "x"}},
            r"\[household:a\] bucket: unknown option",
        ),
        ({"household:a": {"api_key_env_var": "K"}}, r"\[household:a\] account_number: required"),
        ({"household:a": {"account_number": "A-1234ABCD"}}, r"\[household:a\] api_key_env_var: required"),
        (
            {
                "household:a": {"account_number": "A-1234ABCD", "api_key_env_var": "K1"},
                "household:b": {"account_number": "A-1234ABCD", "api_key_env_var": "K2"},
            },
            r"\[household:b\] account_number: A-1234ABCD is also \[household:a\]'s",
        ),
        (
            {"household:a": {"account_number": "A-1234ABCD", "api_key_env_var": "K", "intelligent_mpan": "x"}},
            r"^\[household:a\] intelligent_mpan: ",
        ),
        (
            {"household:a": {"account_number": "A-1234ABCD", "api_key_env_var": "K", "additional_tags": "fuel=x"}},
            r"^\[household:a\] additional_tags: 'fuel' is a tag or field the pipeline writes itself",
        ),
        (
            {"household:a": {"account_number": "A-1234ABCD", "api_key_env_var": "K", "included_tags": "pets"}},
            r"^\[household:a\] included_tags: ",
        ),
    ],
)
def test_a_bad_household_section_is_one_error_naming_it(sections, error):
    with pytest.raises(ConfigError, match=error):
        parse_households(households_ini(**sections))


def test_the_octograph_command_refuses_a_file_of_several_households(tmp_path):
    path = tmp_path / "many.ini"
    sections = {f"household:h{i}": {"account_number": f"A-{i}000000A", "api_key_env_var": f"K{i}"} for i in (1, 2)}
    with path.open("w") as file:
        households_ini(**sections).write(file)
    with pytest.raises(ConfigError, match=r"has 2 households \(\[household:h1\], \[household:h2\]\)"):
        load_settings(path)


@pytest.fixture
def generated():
    """20 generated households (Agile with export and gas, Economy 7, fixed, Intelligent in turn), each with
    its own key, served by one simulator whose "now" is fixed."""
    households = generated_households(20, seed=3)
    simulator = OctopusSimulator(api_key=API_KEY, households=households, clock=lambda: SIMULATOR_NOW)
    with serve(simulator) as api_prefix:
        yield simulator, households, api_prefix


def write_households(
    path: Path, influx: InfluxV1Store, api_prefix: str, households, monkeypatch, **pipeline: str
) -> Path:
    """One section per household, its own key variable set to its own key; no step retries."""
    pipeline = {"start_date": "2024-01-01", "retries": "0", "api_retries": "0", **pipeline}
    keys = write_households_config(
        path, influx.url, influx.database, api_prefix, households, "OCTOGRAPH_TEST_KEY_", pipeline=pipeline
    )
    for variable, key in keys.items():
        monkeypatch.setenv(variable, key)
    return path


def test_each_household_has_its_own_keys_jobs_schedules_sensor_and_pool(tmp_path, influx, monkeypatch):
    households = generated_households(4)
    defs = build_definitions(
        write_households(tmp_path / "four.ini", influx, "http://127.0.0.1:2/v1", households, monkeypatch)
    )
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {key for key in keys if key.startswith("h04/")} == {
        "h04/account", "h04/tariff_rates", "h04/meter_consumption", "h04/priced_consumption",
        "h04/intelligent_dispatches",  # the Intelligent household's
    }  # fmt: skip
    assert len(keys) == 4 * 4 + 1
    assert graph.get(dg.AssetKey(["h02", "priced_consumption"])).parent_keys == {
        dg.AssetKey(["h02", name]) for name in ("account", "tariff_rates", "meter_consumption")
    }
    assert {graph.get(dg.AssetKey(["h03", "account"])).group_name} == {"h03"}
    assert defs.resolve_job_def("h01__octopus_prices") and defs.resolve_job_def("h01__octopus_consumption")
    schedules = {schedule.name for schedule in defs.schedules}
    assert {"h01__daily_consumption", "h01__agile_prices", "h04__intelligent_dispatches"} <= schedules
    assert {sensor.name for sensor in defs.sensors} == {f"h0{i}__late_consumption" for i in range(1, 5)} | {
        "dead_runs"
    }
    account = defs.resolve_assets_def(dg.AssetKey(["h02", "account"]))
    assert account.op.pool == "octopus_api__OCTOGRAPH_TEST_KEY_H02"  # its key's pool: one request at a time


@pytest.mark.parametrize(
    ("broker", "error"),
    [
        ("http://127.0.0.1:6379", r"\[pipeline\] celery_broker: 'http://127.0.0.1:6379' is not a broker URL"),
        ("redis://:secret@10.0.0.5:6379/0", r"\[pipeline\] celery_broker: holds a password"),
    ],
)
def test_a_bad_celery_broker_is_one_error_naming_the_option(broker, error):
    parser = households_ini(octopus={"account_number": "A-SEED0001"}, pipeline={"celery_broker": broker})
    with pytest.raises(ConfigError, match=error) as raised:
        parse_households(parser)
    assert "secret" not in str(raised.value)


def test_a_broker_puts_the_steps_on_celery_workers_and_none_keeps_them_in_the_run(tmp_path):
    seed = households_ini(octopus={"account_number": "A-SEED0001"})
    for broker, executor in ((None, "in_process"), ("redis://127.0.0.1:6379/0", "celery")):
        if broker:
            seed["pipeline"] = {"celery_broker": broker}
        path = tmp_path / f"{executor}.ini"
        with path.open("w") as file:
            seed.write(file)
        assert build_definitions(path).resolve_job_def("octopus_prices").executor_def.name == executor


@pytest.fixture
def redis_broker(tmp_path) -> str:
    with local_redis(tmp_path) as broker:
        yield broker


@pytest.mark.integration
@pytest.mark.slow
def test_twenty_households_backfilled_on_celery_workers_equal_each_alone_and_a_revoked_key_fails_only_its_own(
    tmp_path, influxd, generated, redis_broker, monkeypatch
):
    """A week of all 20 households' assets launched as one backfill through the real webserver and daemon, their
    steps executed by two Celery workers; the fifth household's key was revoked. Every other household-day is
    materialised, both workers ran steps, and InfluxDB holds, point for point, what materialising each household
    alone, one after another and in-process, into a second database writes."""
    simulator, households, api_prefix = generated
    simulator.revoked_keys.add(generated_api_key(REVOKED))
    together, alone = (InfluxV1Store(influxd.url, f"households_{name}") for name in ("together", "alone"))
    for store in (together, alone):
        store.create_database()
    try:
        config = write_households(
            tmp_path / "together.ini", together, api_prefix, households, monkeypatch, celery_broker=redis_broker
        )
        home = tmp_path / "dagster_home"
        prepare_dagster_home(home)
        names = household_names(len(households))
        env = {**os.environ, "DAGSTER_HOME": str(home), "OCTOGRAPH_CONFIG": str(config)}
        with (
            celery_workers(tmp_path, env, redis_broker, count=2) as workers,
            DagsterDev(REPO / "workspace.yaml", home, {"OCTOGRAPH_CONFIG": str(config)}) as dagster,
        ):
            assets = [
                f"{name}/{asset}"
                for name, household in zip(names, households, strict=True)
                for asset in ("account", "tariff_rates", "meter_consumption", "priced_consumption")
                + (("intelligent_dispatches",) if household.ev_mpan else ())
            ]
            backfill = dagster.wait_for_backfill(dagster.launch_asset_backfill(assets, WEEK), timeout=900)
            assert backfill["status"] in ("COMPLETED_FAILED", "FAILED"), backfill["status"]
            for name in names:
                for asset in ("account", "priced_consumption"):
                    expected = set() if name == f"h{REVOKED:02d}" else set(WEEK)
                    assert dagster.materialized_partitions(f"{name}/{asset}") == expected, (name, asset)
            assert set(dagster.partition_statuses(f"h{REVOKED:02d}/account").values()) == {"FAILED"}
        for worker in workers:  # each worker executed steps (Celery logs each task it finished)
            assert "succeeded in" in worker.log.read_text(), worker.log.read_text()[-3000:]

        alone_config = write_households(tmp_path / "alone.ini", alone, api_prefix, households, monkeypatch)
        assert (
            build_definitions(alone_config).resolve_job_def("h01__octopus_prices").executor_def.name
            == "in_process"
        )
        defs, instance = build_definitions(alone_config), dg.DagsterInstance.ephemeral()
        for name in names:
            run = run_days(defs, WEEK[0], WEEK[-1], instance=instance, household=name, raise_on_error=False)
            assert run.success == (name != f"h{REVOKED:02d}"), name
        points = all_points(together)
        assert {dict(tags)["account_number"] for _, tags, _ in points} == {
            household.account_number for index, household in enumerate(households, 1) if index != REVOKED
        }
        assert points == all_points(alone)
    finally:
        for store in (together, alone):
            store.drop_database()
            store.close()


@pytest.mark.integration
def test_each_households_points_carry_its_own_tags(tmp_path, influx, monkeypatch):
    households = generated_households(2, seed=3)
    simulator = OctopusSimulator(api_key=API_KEY, households=households, clock=lambda: SIMULATOR_NOW)
    with serve(simulator) as api_prefix:
        config = write_households(tmp_path / "two.ini", influx, api_prefix, households, monkeypatch)
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(config)
        parser["influxdb"]["additional_tags"] = "site=shared, scheme=ours"
        parser["household:h02"]["additional_tags"] = "site=flat"
        with config.open("w") as file:
            parser.write(file)
        defs, instance = build_definitions(config), dg.DagsterInstance.ephemeral()
        for name in ("h01", "h02"):
            run_days(defs, WEEK[0], instance=instance, household=name)
    for name, household, site in (("h01", households[0], "shared"), ("h02", households[1], "flat")):
        query = 'SELECT count("total_cost_inc_vat_pence") FROM "electricity_consumption" WHERE "account_number" = '
        (series,) = influx.query(query + f'\'{household.account_number}\' GROUP BY "site", "scheme"')
        assert series["tags"] == {"site": site, "scheme": "ours"}, name  # one series: every point its tags
        assert series["values"][0][1] >= 48


def test_each_households_late_data_sensor_requests_that_households_job(tmp_path, influx, monkeypatch):
    """Nothing materialised yet: each household's sensor asks for its own prices job over the recent days (the
    sensor reads its own assets' partitions, under its prefix)."""
    config = write_households(
        tmp_path / "two.ini", influx, "http://127.0.0.1:2/v1", generated_households(2), monkeypatch
    )
    defs, instance = build_definitions(config), dg.DagsterInstance.ephemeral()
    for name in ("h01", "h02"):
        context = dg.build_sensor_context(
            instance=instance,
            resources={"octograph": OctographConfig(config_file=str(config))},
            repository_def=defs.get_repository_def(),
        )
        (request,) = defs.resolve_sensor_def(f"{name}__late_consumption").evaluate_tick(context).run_requests
        assert request.job_name == f"{name}__octopus_prices"
