"""The Octopus client against the simulator over real HTTP: pagination, retries, windows, errors, cache."""

import base64
import socket
import time

import pandas as pd
import pytest
from urllib3.util.retry import Retry

from octograph_pipeline.clients.octopus import (
    CONNECT_RETRIES,
    ApiKeyRejected,
    ApiUnreachable,
    FinalError,
    NotFound,
    OctopusClient,
    OctopusError,
    default_retry,
)
from octograph_pipeline.dev.simulator import serve

from . import helpers
from .helpers import ACCOUNT, API_KEY

IMPORT_MPAN, EXPORT_MPAN, SERIAL = "1900000000001", "1900000000002", "21E0000001"
# A BST day: 2024-06-12 local is [2024-06-11T23:00Z, 2024-06-12T23:00Z).
DAY_START, DAY_END = pd.Timestamp("2024-06-11T23:00Z"), pd.Timestamp("2024-06-12T23:00Z")


def fast_retry(total: int = 4) -> Retry:
    return default_retry(total=total, backoff_factor=0.01)


def api_readings(api_prefix: str, mpan: str, serial: str) -> list[tuple[pd.Timestamp, float]]:
    """The day's half-hourly readings as the API itself lists them: (start in UTC, kWh), oldest first."""
    rows = list(helpers.api_readings(api_prefix, "electricity", mpan, serial, DAY_START, DAY_END).items())
    assert len(rows) == 48
    return rows


def readings(frame: pd.DataFrame) -> list[tuple[pd.Timestamp, float]]:
    return list(zip(frame["interval_start"], frame["consumption"], strict=True))


@pytest.fixture
def client(octopus_api):
    with OctopusClient(octopus_api, API_KEY, retry=fast_retry()) as client:
        yield client


def test_account_shape(client):
    account = client.account(ACCOUNT)
    points = [p for p in account.properties[0].meter_points if p.fuel == "electricity"]
    assert {p.id for p in points} == {IMPORT_MPAN, EXPORT_MPAN}
    assert [p.is_export for p in points] == [False, True]
    assert account.number == ACCOUNT


def test_consumption_follows_pagination(client, simulator):
    simulator.page_size_max = 100
    frame = client.consumption("electricity", IMPORT_MPAN, SERIAL, DAY_START, DAY_START + pd.Timedelta(days=7))
    assert len(frame) == 7 * 48
    assert frame["interval_start"].is_unique and frame["interval_start"].is_monotonic_increasing
    assert simulator.request_counts["consumption"] == 4  # 336 rows in pages of 100


def test_period_to_is_exclusive_and_includes_the_last_half_hour(client):
    frame = client.consumption("electricity", IMPORT_MPAN, SERIAL, DAY_START, DAY_END)
    assert len(frame) == 48
    assert frame["interval_start"].iloc[0] == DAY_START
    assert frame["interval_start"].iloc[-1] == DAY_END - pd.Timedelta(minutes=30)
    assert str(frame["interval_start"].dt.tz) == "UTC"


def test_rows_outside_the_window_and_duplicates_are_dropped(client, simulator):
    simulator.sloppy_window = True
    simulator.duplicate_rows = True
    frame = client.consumption("electricity", IMPORT_MPAN, SERIAL, DAY_START, DAY_END)
    assert len(frame) == 48
    assert frame["interval_start"].min() == DAY_START and frame["interval_start"].max() < DAY_END


def test_group_by_for_coarser_resolutions(client):
    hourly = client.consumption("electricity", IMPORT_MPAN, SERIAL, DAY_START, DAY_END, resolution_minutes=60)
    daily = client.consumption("electricity", IMPORT_MPAN, SERIAL, DAY_START, DAY_END, resolution_minutes=1440)
    half_hourly = client.consumption("electricity", IMPORT_MPAN, SERIAL, DAY_START, DAY_END)
    assert len(hourly) == 24 and len(daily) == 1
    assert daily["consumption"].sum() == pytest.approx(half_hourly["consumption"].sum(), abs=1e-6)


def test_rates_include_open_ended_rows(client):
    unit = client.rates("E-1R-VAR-22-11-01-C", "standard-unit-rates", DAY_START, DAY_END)
    assert set(unit["payment_method"]) == {"DIRECT_DEBIT", "NON_DIRECT_DEBIT"}
    agile = client.rates(
        "E-1R-AGILE-24-10-01-C",
        "standard-unit-rates",
        pd.Timestamp("2024-10-26T23:00Z"),
        pd.Timestamp("2024-10-28T00:00Z"),
    )
    assert len(agile) == 50  # the autumn DST day has 50 half-hourly prices
    export_standing = client.rates("E-1R-OUTGOING-FIX-12M-19-05-13-C", "standing-charges", DAY_START, DAY_END)
    assert export_standing.empty


def test_429_is_retried_after_retry_after(client, simulator):
    simulator.inject(429, count=2, path_contains="/consumption", retry_after=1)
    started = time.monotonic()
    frame = client.consumption("electricity", IMPORT_MPAN, SERIAL, DAY_START, DAY_END)
    assert len(frame) == 48
    assert simulator.request_counts["consumption"] == 3
    assert time.monotonic() - started >= 2  # honoured Retry-After: 1 twice


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(client, simulator, status):
    simulator.inject(status, count=2, path_contains="/accounts")
    assert client.account(ACCOUNT).number == ACCOUNT
    assert simulator.request_counts["account"] == 3  # two failures, then the answer


def test_html_403_from_the_proxy_is_transient_not_a_bad_key(client, simulator):
    simulator.inject(403, count=2, path_contains="/accounts", html=True)
    assert client.account(ACCOUNT).number == ACCOUNT
    simulator.inject(403, count=10, path_contains="/accounts", html=True)
    with pytest.raises(OctopusError, match="HTML 403") as raised:
        client.account(ACCOUNT)
    assert not isinstance(raised.value, ApiKeyRejected)


def test_retries_are_bounded(octopus_api, simulator):
    simulator.inject(500, count=100, path_contains="/accounts")
    with (
        OctopusClient(octopus_api, API_KEY, retry=fast_retry(total=3)) as client,
        pytest.raises(OctopusError),
    ):
        client.account(ACCOUNT)
    assert simulator.request_counts["account"] == 4


def test_rejected_key_is_reported_without_the_key(octopus_api, simulator):
    client = OctopusClient(octopus_api, "sk_live_wrong_secret", retry=fast_retry())
    with client, pytest.raises(ApiKeyRejected, match="rejected the API key") as raised:
        client.account(ACCOUNT)
    assert "sk_live_wrong_secret" not in str(raised.value)
    assert simulator.request_counts["account"] == 1  # a 401 is final: not retried


def test_json_403_is_a_rejected_key_and_not_retried(client, simulator):
    simulator.inject(403, count=1, path_contains="/accounts")
    with pytest.raises(ApiKeyRejected):
        client.account(ACCOUNT)
    assert simulator.request_counts["account"] == 1


def test_not_found_messages_name_what_was_missing(client):
    with pytest.raises(NotFound, match="account A-NOPE0000 not found"):
        client.account("A-NOPE0000")
    with pytest.raises(NotFound, match="MPAN 1999999999999, serial 21E0000001"):
        client.consumption("electricity", "1999999999999", SERIAL, DAY_START, DAY_END)
    with pytest.raises(NotFound, match="MPRN 3000000001, serial NOPE"):
        client.consumption("gas", "3000000001", "NOPE", DAY_START, DAY_END)
    with pytest.raises(NotFound, match="tariff E-1R-NOPE-24-01-01-C"):
        client.rates("E-1R-NOPE-24-01-01-C", "standard-unit-rates", DAY_START, DAY_END)


def test_non_json_error_names_url_and_status(client, simulator):
    simulator.inject(502, count=10, path_contains="/accounts", html=True)
    with (
        OctopusClient(client.api_prefix, API_KEY, retry=fast_retry(total=0)) as no_retry,
        pytest.raises(
            OctopusError, match=r"GET http://127\.0\.0\.1:\d+/v1/accounts/A-TEST0001/ returned HTTP 502"
        ),
    ):
        no_retry.account(ACCOUNT)


def test_what_will_not_mend_is_final_and_names_what_to_check(octopus_api):
    """Refused, an unknown host, TLS against a plain-HTTP port, something else's 404 or HTML page: a FinalError
    (the step fails at once, no retry policy) saying what to check, after at most CONNECT_RETRIES more tries."""
    port = octopus_api.split(":")[2].split("/")[0]
    cases = {
        "http://127.0.0.1:9/v1": "connection refused",
        "http://octopus.invalid/v1": "its host name does not resolve",
        f"https://127.0.0.1:{port}/v1": "TLS error",
        f"http://127.0.0.1:{port}/elsewhere": "answered HTTP 404 without the Octopus API's JSON",
    }
    for api_prefix, problem in cases.items():
        with OctopusClient(api_prefix, API_KEY, retry=fast_retry()) as client, pytest.raises(FinalError) as error:
            client.account(ACCOUNT)
        assert problem in str(error.value) and "[octopus] api_prefix" in str(error.value), error.value


def test_an_html_page_where_the_api_should_be_is_final(octopus_api, simulator):
    simulator.inject(200, count=1, path_contains="/accounts", html=True)
    with OctopusClient(octopus_api, API_KEY, retry=fast_retry()) as client, pytest.raises(FinalError) as error:
        client.account(ACCOUNT)
    assert "text/html" in str(error.value) and "not the Octopus API's JSON" in str(error.value)


def test_a_refused_connection_is_tried_three_times_then_reported(monkeypatch):
    attempts = []
    real_connect = socket.socket.connect

    def connect(sock, address):
        attempts.append(address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    client = OctopusClient("http://127.0.0.1:9/v1", API_KEY, retry=fast_retry(total=6))
    with client, pytest.raises(ApiUnreachable, match="connection refused"):
        client.account(ACCOUNT)
    assert len(attempts) == 1 + CONNECT_RETRIES  # not total=6: a refused connection gets a short budget


def test_cache_serves_repeated_requests(octopus_api, simulator, tmp_path):
    frames = []
    for _ in range(2):
        with OctopusClient(octopus_api, API_KEY, retry=fast_retry(), cache_dir=tmp_path) as client:
            frames.append(client.consumption("electricity", IMPORT_MPAN, SERIAL, DAY_START, DAY_END))
    assert simulator.request_counts["consumption"] == 1
    # The cached answer is the API's: the same 48 half-hours and readings as a plain GET lists them.
    expected = api_readings(octopus_api, IMPORT_MPAN, SERIAL)
    half_hours = pd.date_range(DAY_START, DAY_END, freq="30min", inclusive="left")
    assert [start for start, _ in expected] == list(half_hours)
    assert readings(frames[0]) == expected
    assert readings(frames[1]) == expected
    assert (frames[1]["interval_end"] - frames[1]["interval_start"] == pd.Timedelta(minutes=30)).all()
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert API_KEY.encode() not in stored
    assert base64.b64encode(f"{API_KEY}:".encode()) not in stored
    (cache,) = tmp_path.glob("octopus_api_*.sqlite")
    assert cache.stat().st_mode & 0o777 == 0o600  # addresses, MPANs and usage: this user's alone


def test_the_cache_is_per_key_and_never_answers_for_the_account(octopus_api, simulator, tmp_path):
    """Another key never reads the answers cached for this one; a revoked key fails at once, not in an hour."""
    with OctopusClient(octopus_api, API_KEY, retry=fast_retry(), cache_dir=tmp_path) as client:
        assert client.account(ACCOUNT).number == ACCOUNT
        cached = client.consumption("electricity", IMPORT_MPAN, SERIAL, DAY_START, DAY_END)
    assert readings(cached) == api_readings(octopus_api, IMPORT_MPAN, SERIAL)
    other = OctopusClient(octopus_api, "sk_live_other", retry=fast_retry(), cache_dir=tmp_path)
    with other, pytest.raises(ApiKeyRejected):
        other.consumption("electricity", IMPORT_MPAN, SERIAL, DAY_START, DAY_END)
    simulator.api_key = "sk_test_rotated"  # the old key is revoked
    revoked = OctopusClient(octopus_api, API_KEY, retry=fast_retry(), cache_dir=tmp_path)
    with revoked, pytest.raises(ApiKeyRejected):
        revoked.account(ACCOUNT)
    assert simulator.request_counts["account"] == 2
    assert len(list(tmp_path.glob("octopus_api_*.sqlite"))) == 2


def test_a_cache_file_others_can_read_is_refused(octopus_api, tmp_path):
    with OctopusClient(octopus_api, API_KEY, retry=fast_retry(), cache_dir=tmp_path):
        pass
    (cache,) = tmp_path.glob("octopus_api_*.sqlite")
    cache.chmod(0o644)
    with pytest.raises(FinalError, match="is not this user's alone"):
        OctopusClient(octopus_api, API_KEY, retry=fast_retry(), cache_dir=tmp_path)


def test_a_simulator_with_latency_still_answers(simulator):
    simulator.latency = 0.05
    with serve(simulator) as api, OctopusClient(api, API_KEY) as client:
        assert client.account(ACCOUNT).number == ACCOUNT


def test_waiting_between_retries_stops_when_the_budget_is_spent(octopus_api, simulator):
    """A server that answers 500 with `Retry-After: 30` every time: the first wait would overrun a 2 s budget,
    so the 500 is reported at once instead of after 6 × 30 s."""
    simulator.inject(500, count=100, path_contains="/accounts", retry_after=30)
    began = time.monotonic()
    retry = default_retry(total=6, backoff_factor=0.01, budget_seconds=2)
    with OctopusClient(octopus_api, API_KEY, retry=retry) as client, pytest.raises(OctopusError, match="HTTP 500"):
        client.account(ACCOUNT)
    assert simulator.request_counts["account"] == 1 and time.monotonic() - began < 20  # never the 30 s wait
    # Without Retry-After, urllib3 backs off 0 s, 0.4 s, 0.8 s: the next 1.6 s would overrun the 2 s budget.
    simulator.clear_faults()
    simulator.inject(500, count=100, path_contains="/accounts")
    simulator.reset_counts()
    retry = default_retry(total=6, backoff_factor=0.2, budget_seconds=2)
    with OctopusClient(octopus_api, API_KEY, retry=retry) as client, pytest.raises(OctopusError, match="HTTP 500"):
        client.account(ACCOUNT)
    assert simulator.request_counts["account"] == 4
