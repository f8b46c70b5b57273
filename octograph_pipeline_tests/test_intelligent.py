"""Octopus's GraphQL (Kraken) API against the simulator's: tokens, throttling and a refused key; Intelligent
Octopus dispatches through Dagster into the real InfluxDB, priced by hand on an ordinary day and on the day the
clocks go back; gas meters' units from `consumptionUnits`; no deprecated field sent."""

import contextlib
import dataclasses
import datetime as dt
import re
import socket
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import requests

from octograph_pipeline.cli import main
from octograph_pipeline.clients import kraken as graphql
from octograph_pipeline.clients.kraken import GraphQLUnavailable, KrakenAuthError, KrakenClient
from octograph_pipeline.config import load_settings
from octograph_pipeline.core import schema
from octograph_pipeline.core.settings import ConfigError
from octograph_pipeline.definitions import build_definitions
from octograph_pipeline.dev.simulator import OctopusSimulator, intelligent_household, serve
from octograph_pipeline.dev.simulator.household import Dispatch

from .helpers import API_KEY, LONDON, SIMULATOR_NOW, all_points, materialize_days, rates, read, write_config

pytestmark = pytest.mark.integration

ACCOUNT, MPAN, GAS_MPRN, GAS_SERIAL = "A-IOG00001", "1500000000001", "5000000001", "E6S1000000099"
IOG = "E-1R-INTELLI-VAR-22-10-14-C"
OFF_PEAK, PEAK = 7.35, 28.35  # p/kWh inc VAT (7 and 27 p + 5%): 23:30-05:30 local time, and the rest of the day
PACKAGE = Path(__file__).resolve().parents[1] / "octograph_pipeline"


@pytest.fixture
def kraken():
    """The Intelligent household's simulator, "now" at SIMULATOR_NOW; yields (simulator, api prefix)."""
    simulator = OctopusSimulator(
        api_key=API_KEY, households=[intelligent_household(seed=7)], clock=lambda: SIMULATOR_NOW
    )
    with serve(simulator) as api:
        yield simulator, api


@pytest.fixture
def iog_config(tmp_path, influx, kraken, monkeypatch):
    monkeypatch.setenv("OCTOGRAPH_TEST_OCTOPUS_API_KEY", API_KEY)

    def make(**options) -> Path:
        options.setdefault("octopus", {})["account_number"] = ACCOUNT
        return write_config(tmp_path / f"iog-{uuid.uuid4().hex[:6]}.ini", influx, kraken[1], **options)

    return make


# -- the GraphQL client --------------------------------------------------------------------------------------


def test_a_token_is_reused_and_refreshed_before_it_expires(kraken):
    simulator, api = kraken
    now = [0.0]
    with KrakenClient(api, API_KEY, clock=lambda: now[0]) as client:
        assert client.gas_meter_units(ACCOUNT) == {GAS_SERIAL: "m3"}
        client.gas_meter_units(ACCOUNT)
        assert simulator.graphql.issued == {"APIKey": 1, "refreshToken": 0}
        now[0] = 56 * 60  # a token 56 minutes old is renewed with the refresh token, before Kraken refuses it
        client.gas_meter_units(ACCOUNT)
    assert simulator.graphql.issued == {"APIKey": 1, "refreshToken": 1}


def test_a_token_kraken_calls_expired_is_refreshed_once(kraken):
    simulator, api = kraken
    with KrakenClient(api, API_KEY) as client:
        client.gas_meter_units(ACCOUNT)
        simulator.clock = lambda: SIMULATOR_NOW + dt.timedelta(minutes=61)  # KT-CT-1124 from now on
        expired = requests.post(
            client.url,
            json={"query": graphql.GAS_METER_UNITS},
            headers={"Authorization": client._token},
            timeout=5,
        ).json()
        assert [(e["message"], e["extensions"]["errorCode"]) for e in expired["errors"]] == [
            ("Signature of the JWT has expired.", "KT-CT-1124")
        ]
        assert client.gas_meter_units(ACCOUNT) == {GAS_SERIAL: "m3"}
    assert simulator.graphql.issued == {"APIKey": 1, "refreshToken": 1}


def test_an_expired_refresh_token_means_logging_in_with_the_key_again(kraken):
    """After 7 days the refresh token is refused (KT-CT-1134): the key gets a new token, without an error."""
    simulator, api = kraken
    now = [0.0]
    with KrakenClient(api, API_KEY, clock=lambda: now[0]) as client:
        client.gas_meter_units(ACCOUNT)
        now[0] = 8 * 24 * 3600
        simulator.clock = lambda: SIMULATOR_NOW + dt.timedelta(days=8)
        assert client.gas_meter_units(ACCOUNT) == {GAS_SERIAL: "m3"}
    assert simulator.graphql.issued == {"APIKey": 2, "refreshToken": 0}


def test_too_many_requests_is_waited_out(kraken):
    simulator, api = kraken
    simulator.graphql.throttle = 3  # the token request too is throttled
    waits = []
    with KrakenClient(api, API_KEY, sleep=waits.append) as client:
        assert client.gas_meter_units(ACCOUNT) == {GAS_SERIAL: "m3"}
    assert waits == [2.0, 5.0, 10.0]


def test_throttling_that_does_not_end_is_a_retryable_error(kraken):
    simulator, api = kraken
    simulator.graphql.throttle = 10
    with KrakenClient(api, API_KEY, sleep=lambda _: None) as client, pytest.raises(graphql.OctopusError) as error:
        client.gas_meter_units(ACCOUNT)
    assert not isinstance(error.value, graphql.FinalError)
    assert "kept throttling" in str(error.value) and "KT-CT-1199" in str(error.value)


def test_a_refused_key_is_one_clear_error_that_never_shows_the_key(kraken):
    """Kraken refuses a wrong key as public clients quote it: HTTP 200, KT-CT-1139, a null token."""
    _, api = kraken
    refused = requests.post(
        f"{api}/graphql/",
        json={"query": graphql.TOKEN, "variables": {"input": {"APIKey": "sk_live_not_this_one"}}},
        timeout=5,
    )
    assert refused.status_code == 200 and refused.json()["data"] == {"obtainKrakenToken": None}
    (error,) = refused.json()["errors"]
    assert error["message"] == "Invalid data." and error["extensions"] == {
        "errorType": "VALIDATION",
        "errorCode": "KT-CT-1139",
        "errorDescription": "Authentication failed.",
    }
    with KrakenClient(api, "sk_live_not_this_one") as client, pytest.raises(KrakenAuthError) as error:
        client.dispatches(ACCOUNT)
    assert str(error.value) == (
        "the Octopus GraphQL API refused the API key: Invalid data. Authentication failed. (KT-CT-1139); "
        "check the variable named by [octopus] api_key_env_var"
    )


# -- Kraken's transport: retried as REST's is ---------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_on_graphql_are_retried(kraken, iog_config, status):
    """Through the client the pipeline builds from its configuration."""
    simulator, _ = kraken
    simulator.inject(status, count=2, path_contains="/graphql")
    with KrakenClient.from_settings(load_settings(iog_config(pipeline={"api_backoff_seconds": "0"}))) as client:
        assert client.gas_meter_units(ACCOUNT) == {GAS_SERIAL: "m3"}
    assert simulator.request_counts["graphql"] == 2 + 2  # two failures, the token, the query


def test_a_429_on_graphql_is_retried_after_its_retry_after(kraken):
    simulator, api = kraken
    simulator.inject(429, count=1, path_contains="/graphql", retry_after=2)
    began = time.monotonic()
    with KrakenClient(api, API_KEY) as client:
        assert client.gas_meter_units(ACCOUNT) == {GAS_SERIAL: "m3"}
    assert time.monotonic() - began >= 2  # waited as Retry-After said (urllib3 would otherwise retry at once)
    assert simulator.request_counts["graphql"] == 1 + 2


@contextlib.contextmanager
def dropping_proxy(api: str, drops: int):
    """A TCP proxy in front of the simulator that reads each of the first `drops` requests and closes the
    connection without a word (a load balancer dropping it); later connections are relayed. Yields its API
    prefix and the count of connections it accepted."""
    upstream = urlsplit(api)
    server = socket.create_server(("127.0.0.1", 0))
    accepted = [0]

    def relay(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = server.accept()
                accepted[0] += 1
                if accepted[0] <= drops:
                    client.recv(65536)
                    client.close()
                    continue
                backend = socket.create_connection((upstream.hostname, upstream.port))
                threading.Thread(target=relay, args=(client, backend), daemon=True).start()
                threading.Thread(target=relay, args=(backend, client), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}{upstream.path}", accepted
    finally:
        server.close()


def test_a_dropped_graphql_connection_is_retried(kraken):
    simulator, api = kraken
    with dropping_proxy(api, drops=2) as (proxied, accepted), KrakenClient(proxied, API_KEY) as client:
        assert client.gas_meter_units(ACCOUNT) == {GAS_SERIAL: "m3"}
    assert accepted[0] == 3 and simulator.request_counts["graphql"] == 2  # two dropped, then token and query


def test_planned_dispatches_kraken_cannot_fetch_leave_the_completed_ones(kraken):
    """KT-CT-4340 ("Unable to fetch planned dispatches.") for the device: the completed dispatches still count."""
    simulator, api = kraken
    simulator.graphql.planned_available = False
    with KrakenClient(api, API_KEY) as client:
        found = client.dispatches(ACCOUNT)
    assert found and all(dispatch.completed for dispatch in found)
    simulator.graphql.planned_available = True
    with KrakenClient(api, API_KEY) as client:
        assert not all(dispatch.completed for dispatch in client.dispatches(ACCOUNT))


def test_no_graphql_api_is_its_own_error(kraken):
    simulator, api = kraken
    simulator.graphql.enabled = False
    with KrakenClient(api, API_KEY) as client, pytest.raises(GraphQLUnavailable, match="HTTP 404"):
        client.gas_meter_units(ACCOUNT)


def test_no_deprecated_graphql_field_is_sent(kraken):
    """`startDt`/`endDt` (removed after 2025-01-01) and `plannedDispatches` (after 2026-01-16) appear in no query,
    nor anywhere in the package outside the simulator, which refuses them as Kraken does."""
    _, api = kraken
    old = 'query { plannedDispatches(accountNumber: "A-IOG00001") { startDt endDt } }'
    refused = requests.post(f"{api}/graphql/", json={"query": old}, timeout=5)
    assert refused.status_code == 400 and "Cannot query field 'plannedDispatches'" in refused.text
    removed = re.compile(r"\b(plannedDispatches|startDt|endDt)\b")
    assert graphql.QUERIES and not any(removed.search(query) for query in graphql.QUERIES)
    for path in PACKAGE.rglob("*.py"):
        if "simulator" not in path.parts:
            assert not removed.search(path.read_text()), path


# -- dispatches through Dagster ------------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "half_hours"), [("2024-11-20", 48), ("2024-10-27", 50)])
def test_smart_charge_half_hours_cost_the_off_peak_rate_and_bump_charges_do_not(
    iog_config, kraken, influx, day, half_hours
):
    """Every day: smart charges 00:00-02:00 (inside the off-peak window) and 13:00-14:00 (outside it: billed
    off-peak), a bump charge 18:00-18:30 (billed at the peak rate). By hand: usage read back × the rate by the
    London clock, the 13:00 and 13:30 half-hours at the off-peak rate, plus the day's standing charge."""
    simulator, api = kraken
    simulator.graphql.completed_hours = 24 * 60  # Kraken still serves the day's completed dispatches
    instance = dg.DagsterInstance.ephemeral()
    run = materialize_days(iog_config(octopus={"intelligent_mpan": MPAN}), day, instance=instance)
    assert run.success

    usage = read(influx, schema.METER_CONSUMPTION, day, meter_point=MPAN)
    assert len(usage) == half_hours
    clock = usage[schema.TIME].dt.tz_convert(LONDON)
    minute = clock.dt.hour * 60 + clock.dt.minute
    off_peak = (minute >= 23 * 60 + 30) | (minute < 5 * 60 + 30) | ((minute >= 13 * 60) & (minute < 14 * 60))
    standing = rates(api, IOG, "standing-charges", day)
    assert len(standing) == 1
    expected = (usage[schema.USAGE_KWH] * np.where(off_peak, OFF_PEAK, PEAK)).sum() + standing["value_inc_vat"][0]

    priced = read(influx, schema.ELECTRICITY_CONSUMPTION, day)
    assert priced[schema.TOTAL_COST["inc"]].sum() == pytest.approx(expected, abs=1e-9)
    per_kwh = priced.set_index(priced[schema.TIME].dt.tz_convert(LONDON).dt.strftime("%H:%M"))
    unit = (per_kwh[schema.USAGE_COST["inc"]] / per_kwh[schema.USAGE_KWH]).round(6)
    assert unit[["13:00", "13:30"]].tolist() == [OFF_PEAK, OFF_PEAK]  # the smart charge outside the window
    assert unit[["12:30", "14:00", "18:00"]].tolist() == [PEAK, PEAK, PEAK]  # 18:00 is the bump charge

    slots = read(influx, schema.INTELLIGENT_SLOTS, day)
    smart = slots[slots[schema.DISPATCH_SOURCE] == schema.SMART_CHARGE]
    assert len(smart) == (6 + 2 if day == "2024-10-27" else 4 + 2)  # 00:00-02:00 is 3 hours when clocks go back
    assert set(slots[schema.DISPATCH_STATUS]) == {schema.COMPLETED}
    assert slots[slots[schema.DISPATCH_SOURCE] == "bump-charge"]["kwh"].tolist() == [3.5]

    # Neither the key nor a token reaches Dagster's logs or metadata.
    logged = " ".join(str(record) for run_id in run.run_ids for record in instance.all_logs(run_id))
    assert API_KEY not in logged and not any(token in logged for token in simulator.graphql._tokens)


def unit_prices(influx, day: str) -> pd.Series:
    """p/kWh inc VAT of each half-hour of the day's priced import, by London clock time."""
    priced = read(influx, schema.ELECTRICITY_CONSUMPTION, day)
    per_kwh = priced.set_index(priced[schema.TIME].dt.tz_convert(LONDON).dt.strftime("%H:%M"))
    return (per_kwh[schema.USAGE_COST["inc"]] / per_kwh[schema.USAGE_KWH]).round(6)


def test_completed_dispatches_without_a_source_or_away_are_smart_charges_unless_a_bump_was_planned(
    iog_config, kraken, influx
):
    """Kraken gives completed dispatches `meta.source: null` (and `location` may read AWAY): billed off-peak as
    smart charges, wherever the car was, except the half-hours a bump charge was planned for (seen while
    planned, at 12:00 that day)."""
    simulator, _ = kraken
    simulator.graphql.completed_sources, simulator.graphql.completed_location = False, "AWAY"
    config = iog_config(octopus={"intelligent_mpan": MPAN})
    day = "2024-11-20"
    job = build_definitions(config).resolve_job_def("octopus_prices")
    simulator.clock = lambda: dt.datetime(2024, 11, 20, 12, tzinfo=dt.UTC)  # 13:00 and 18:00 still planned
    dispatches_only = [dg.AssetKey(schema.Asset.INTELLIGENT_DISPATCHES)]
    assert job.execute_in_process(
        partition_key=day, instance=dg.DagsterInstance.ephemeral(), asset_selection=dispatches_only
    ).success
    simulator.clock = lambda: dt.datetime(2024, 11, 21, 12, tzinfo=dt.UTC)
    simulator.graphql.completed_hours = 24 * 60
    assert materialize_days(config, day).success
    unit = unit_prices(influx, day)
    assert unit[["13:00", "13:30"]].tolist() == [OFF_PEAK, OFF_PEAK]  # no source, away: a smart charge
    assert unit[["18:00", "12:30"]].tolist() == [PEAK, PEAK]  # the bump was planned as one
    completed = read(influx, schema.INTELLIGENT_SLOTS, day).query(f"{schema.DISPATCH_STATUS} == 'completed'")
    assert set(completed[schema.DISPATCH_SOURCE]) == {schema.UNKNOWN_SOURCE}


def test_smart_charging_beyond_the_charge_cap_costs_the_usual_rate(iog_config, kraken, influx):
    """With `intelligent_charge_cap_hours = 0.5`, of the 13:00-14:00 smart charge only 13:00-13:30 is billed
    off-peak: the period from midday allows one half-hour."""
    simulator, _ = kraken
    simulator.graphql.completed_hours = 24 * 60
    config = iog_config(octopus={"intelligent_mpan": MPAN, "intelligent_charge_cap_hours": "0.5"})
    assert materialize_days(config, "2024-11-20").success
    assert unit_prices(influx, "2024-11-20")[["13:00", "13:30"]].tolist() == [OFF_PEAK, PEAK]


def test_the_charge_cap_counts_the_day_befores_afternoon(iog_config, kraken, influx, tmp_path, monkeypatch):
    """With a 3-hour cap and an extra smart charge at 08:00 on the 21st: the period from midday on the 20th holds
    13:00-14:00 (2 half-hours) and 00:00-02:00 (4), so 08:00 is the seventh, beyond the cap, though the 21st
    alone holds only five. The 20th and the 21st are materialised in separate runs."""
    morning = Dispatch(
        dt.datetime(2024, 11, 21, 8, tzinfo=dt.UTC),
        dt.datetime(2024, 11, 21, 8, 30, tzinfo=dt.UTC),
        "smart-charge",
    )
    household = dataclasses.replace(intelligent_household(seed=7), extra_dispatches=(morning,))
    simulator = OctopusSimulator(api_key=API_KEY, households=[household], clock=lambda: SIMULATOR_NOW)
    simulator.graphql.completed_hours = 24 * 60
    with serve(simulator) as api:
        monkeypatch.setenv("OCTOGRAPH_TEST_OCTOPUS_API_KEY", API_KEY)
        octopus = {"account_number": ACCOUNT, "intelligent_mpan": MPAN, "intelligent_charge_cap_hours": "3"}
        config = write_config(tmp_path / "cap.ini", influx, api, octopus=octopus)
        assert materialize_days(config, "2024-11-20").success
        assert materialize_days(config, "2024-11-21").success
    unit = unit_prices(influx, "2024-11-21")
    assert unit[["00:00", "01:30", "08:00", "13:00", "13:30"]].tolist() == [
        OFF_PEAK,
        OFF_PEAK,
        PEAK,
        OFF_PEAK,
        OFF_PEAK,
    ]


def test_stored_dispatches_outlive_the_12_hours_kraken_serves_them(iog_config, kraken, influx):
    simulator, _ = kraken
    config = iog_config(octopus={"intelligent_mpan": MPAN})
    simulator.graphql.completed_hours = 24 * 60
    assert materialize_days(config, "2024-11-20").success
    slots = read(influx, schema.INTELLIGENT_SLOTS, "2024-11-20")
    cost = read(influx, schema.ELECTRICITY_CONSUMPTION, "2024-11-20")[schema.TOTAL_COST["inc"]].sum()
    simulator.graphql.completed_hours = 12  # the day's dispatches are no longer served
    assert materialize_days(config, "2024-11-20").success
    again = read(influx, schema.INTELLIGENT_SLOTS, "2024-11-20")
    assert again.equals(slots) and len(slots) == 7
    assert read(influx, schema.ELECTRICITY_CONSUMPTION, "2024-11-20")[schema.TOTAL_COST["inc"]].sum() == cost


def test_planned_dispatches_are_stored_as_planned_and_not_priced(iog_config, kraken, influx):
    """At SIMULATOR_NOW (12:00 on 1 December) the 13:00 smart charge and the 18:00 bump are still planned."""
    config = iog_config(octopus={"intelligent_mpan": MPAN})
    definitions = build_definitions(config)
    job = definitions.resolve_job_def("octopus_prices")
    result = job.execute_in_process(
        partition_key="2024-12-01", instance=dg.DagsterInstance.ephemeral(), asset_selection=[
            dg.AssetKey(schema.Asset.INTELLIGENT_DISPATCHES)
        ],
    )  # fmt: skip
    assert result.success
    slots = read(influx, schema.INTELLIGENT_SLOTS, "2024-12-01")
    planned = slots[slots[schema.DISPATCH_STATUS] == "planned"]
    assert sorted(planned[schema.TIME].dt.strftime("%H:%M")) == ["13:00", "13:30", "18:00"]
    assert set(planned[schema.DISPATCH_SOURCE]) == {"smart-charge", "bump-charge"}


def test_the_dispatch_schedule_asks_for_yesterday_today_and_tomorrow(iog_config):
    definitions = build_definitions(iog_config(octopus={"intelligent_mpan": MPAN}))
    schedule = definitions.resolve_schedule_def("intelligent_dispatches")
    tick = dt.datetime(2024, 11, 20, 8, 15, tzinfo=LONDON)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.asset_selection == [dg.AssetKey(schema.Asset.INTELLIGENT_DISPATCHES)]
    assert request.tags["dagster/asset_partition_range_start"] == "2024-11-19"
    assert request.tags["dagster/asset_partition_range_end"] == "2024-11-21"


def test_without_intelligent_mpan_there_is_no_dispatch_asset_or_schedule(iog_config):
    definitions = build_definitions(iog_config())
    keys = {key.to_user_string() for key in definitions.resolve_asset_graph().get_all_asset_keys()}
    assert schema.Asset.INTELLIGENT_DISPATCHES not in keys
    assert "intelligent_dispatches" not in {s.name for s in definitions.schedules}


def test_an_intelligent_mpan_not_on_the_account_fails_naming_it_before_anything_is_written(
    iog_config, influx, capsys
):
    config = iog_config(octopus={"intelligent_mpan": "1900000000001"})
    assert main([f"--config-file={config}", "--from-date=2024-11-20", "--to-date=2024-11-20"]) == 1
    expected = "[octopus] intelligent_mpan: 1900000000001 is not an import meter point of this account"
    assert f"octopus_prices failed: {expected} (its import MPANs: 1500000000001)" in capsys.readouterr().err
    assert all_points(influx) == []  # the account step refuses it: no prices job's points


def test_a_malformed_intelligent_mpan_is_a_config_error(iog_config):
    with pytest.raises(ConfigError, match=r"\[octopus\] intelligent_mpan: '19000' is not an MPAN \(13 digits\)"):
        load_settings(iog_config(octopus={"intelligent_mpan": "19000"}))
    with pytest.raises(
        ConfigError, match=r"intelligent_mpan: dispatches are priced per half-hour; set resolution"
    ):
        load_settings(iog_config(octopus={"intelligent_mpan": MPAN, "resolution_minutes": "60"}))


# -- gas units -----------------------------------------------------------------------------------------------


def gas_day(influx):
    return read(influx, schema.METER_CONSUMPTION, "2024-11-20", meter_point=GAS_MPRN)


def test_a_smets1_meter_reporting_cubic_metres_is_converted_as_kraken_says(iog_config, influx):
    assert materialize_days(iog_config(), "2024-11-20").success
    gas = gas_day(influx)
    assert set(gas[schema.UNIT]) == {"m3"}
    expected = gas[schema.CONSUMPTION] * 1.02264 * 38.8 / 3.6
    assert gas[schema.USAGE_KWH].to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-12)


def test_gas_meter_types_overrides_what_kraken_says(iog_config, kraken, influx):
    simulator, _ = kraken
    config = iog_config(octopus={"gas_meter_types": f"{GAS_SERIAL}=SMETS1"})
    assert materialize_days(config, "2024-11-20").success
    gas = gas_day(influx)
    assert set(gas[schema.UNIT]) == {"kWh"} and gas[schema.USAGE_KWH].equals(gas[schema.CONSUMPTION])
    assert simulator.request_counts["graphql"] == 0  # nothing to ask


def test_without_graphql_the_seeds_rule_applies_with_a_warning(iog_config, kraken, influx):
    simulator, _ = kraken
    simulator.graphql.enabled = False
    instance = dg.DagsterInstance.ephemeral()
    run = materialize_days(iog_config(), "2024-11-20", instance=instance)
    assert run.success
    assert set(gas_day(influx)[schema.UNIT]) == {"kWh"}
    warnings = [r.user_message for run_id in run.run_ids for r in instance.all_logs(run_id) if r.level == 30]
    assert any(
        f"gas units of {GAS_SERIAL} unknown (no Octopus GraphQL API at" in message
        and "set [octopus] gas_meter_types to say which report m³" in message
        for message in warnings
    )
