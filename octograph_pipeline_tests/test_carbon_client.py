"""The Carbon Intensity API client against our simulator of it, over real HTTP: the half-hours of a local day
(50 when the clocks go back), a region's forecast and mix, windows split as the API limits them, retries of what
mends and one clear error, in the API's own words, for what does not."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from octograph_pipeline.clients.carbon import CarbonIntensityClient, CarbonIntensityError, CarbonIntensityRefused
from octograph_pipeline.clients.octopus import default_retry
from octograph_pipeline.core.days import window
from octograph_pipeline.dev.simulator import OctopusSimulator, serve
from octograph_pipeline.dev.simulator.carbon import national_actual, regional_forecast

LONDON = ZoneInfo("Europe/London")
NOW = dt.datetime(2024, 11, 15, 10, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def served():
    simulator = OctopusSimulator(clock=lambda: NOW)
    with serve(simulator) as api_prefix:
        yield simulator, api_prefix.removesuffix("/v1") + "/carbon"


@pytest.fixture
def simulator(served):
    yield served[0]
    served[0].carbon.missing = set()
    served[0].clear_faults()
    served[0].reset_counts()


@pytest.fixture
def client(served):
    with CarbonIntensityClient(served[1], retry=default_retry(backoff_factor=0.01)) as client:
        yield client


def day(date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return window(date, date, LONDON)


def test_the_half_hours_of_the_day_the_clocks_go_back(simulator, client):
    start, end = day(dt.date(2024, 10, 27))
    frame = client.national(start, end)
    assert len(frame) == 50 and frame["interval_start"].iloc[0] == start
    assert frame["interval_start"].iloc[-1] == end - dt.timedelta(minutes=30)
    assert frame["actual"].iloc[0] == national_actual(start)  # the simulator's own figure, through the client
    assert set(frame.columns) == {"interval_start", "forecast", "actual", "index"}


def test_a_regions_forecast_and_mix(simulator, client):
    start, end = day(dt.date(2024, 3, 31))
    frame = client.regional(13, start, end)
    assert len(frame) == 46
    assert frame["forecast"].iloc[5] == regional_forecast(frame["interval_start"].iloc[5].to_pydatetime(), 13)
    assert frame[["gas", "wind", "nuclear"]].notna().all().all()
    assert client.generation(start, end)[["gas", "wind"]].shape == (46, 2)


def test_a_month_is_asked_for_in_windows_the_api_accepts(simulator, client):
    start, end = window(dt.date(2024, 6, 1), dt.date(2024, 6, 30), LONDON)
    assert len(client.national(start, end)) == 30 * 48
    assert simulator.request_counts["carbon-intensity"] == 3  # 14 + 14 + 2 days


def test_a_missing_half_hour_is_missing_not_zero(simulator, client):
    start, end = day(dt.date(2024, 6, 11))
    simulator.carbon.missing = {start + dt.timedelta(hours=3)}
    frame = client.national(start, end)
    assert len(frame) == 47 and start + dt.timedelta(hours=3) not in set(frame["interval_start"])


def test_the_future_has_a_forecast_and_no_actual_yet(simulator, client):
    frame = client.national(NOW, NOW + dt.timedelta(hours=2))
    assert frame["forecast"].notna().all() and frame["actual"].isna().all()


def test_a_server_error_is_retried(simulator, client):
    simulator.inject(503, count=2, path_contains="/carbon/")
    start, end = day(dt.date(2024, 6, 11))
    assert len(client.national(start, end)) == 48
    assert simulator.request_counts["carbon-intensity"] == 3


def test_a_refusal_says_why_in_the_apis_words_at_once(simulator, client):
    start, end = day(dt.date(2024, 6, 11))
    with pytest.raises(CarbonIntensityRefused, match=r"HTTP 400: Please enter a valid region id \(1 to 14\): 15"):
        client.regional(15, start, end)
    assert simulator.request_counts["carbon-regional"] == 1


def test_errors_that_persist_name_the_option_to_check(served):
    start, end = day(dt.date(2024, 6, 11))
    elsewhere = CarbonIntensityClient(served[1].replace("/carbon", "/nowhere"), retry=default_retry(total=0))
    with elsewhere, pytest.raises(CarbonIntensityRefused, match=r"check \[carbon\] api_prefix"):
        elsewhere.national(start, end)
    nobody = CarbonIntensityClient("http://127.0.0.1:9", retry=default_retry(total=1, backoff_factor=0.01))
    with nobody, pytest.raises(CarbonIntensityError, match=r"cannot connect .* check \[carbon\] api_prefix"):
        nobody.national(start, end)
