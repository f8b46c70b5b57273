"""The Octopus API simulator behaves like the real API where our client depends on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from octograph_pipeline.simulator import OctopusSimulator, serve

KEY = "sk_test_demo"
ACCOUNT = "A-DEMO0001"
IMPORT = "electricity-meter-points/1900000000001/meters/21E0000001/consumption/"
EXPORT = "electricity-meter-points/1900000000002/meters/21E0000001/consumption/"
GAS = "gas-meter-points/3000000001/meters/G4P0000000001/consumption/"
AGILE = "products/AGILE-24-10-01/electricity-tariffs/E-1R-AGILE-24-10-01-C/standard-unit-rates/"
VAR = "products/VAR-22-11-01/electricity-tariffs/E-1R-VAR-22-11-01-C/standard-unit-rates/"
NOW = datetime(2024, 11, 15, 10, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


def fixed_clock(instant: datetime):
    return lambda: instant


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[OctopusSimulator, str]]:
    sim = OctopusSimulator(start_date=date(2024, 1, 1), agile_from=date(2024, 6, 1), clock=fixed_clock(NOW))
    with serve(sim) as url:
        yield sim, url


@pytest.fixture
def sim(served: tuple[OctopusSimulator, str]) -> Iterator[OctopusSimulator]:
    """The shared simulator, with knobs restored after each test."""
    simulator = served[0]
    yield simulator
    simulator.clock = fixed_clock(NOW)
    simulator.sloppy_window = simulator.duplicate_rows = False
    simulator.error_rate = 0.0
    simulator.clear_faults()
    simulator.reset_counts()


@pytest.fixture
def url(served: tuple[OctopusSimulator, str]) -> str:
    return served[1]


@pytest.fixture
def api(url: str) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = (KEY, "")
        yield session


def get(session: requests.Session, url: str, path: str, **params: object) -> requests.Response:
    return session.get(f"{url}/{path}", params=params, timeout=5)


def day_window(day: date) -> dict[str, str]:
    """A London calendar day as ISO bounds with explicit offsets, as a client would send."""
    lo = datetime(day.year, day.month, day.day, tzinfo=LONDON)
    hi = lo.replace(tzinfo=None) + timedelta(days=1)
    return {"period_from": lo.isoformat(), "period_to": hi.replace(tzinfo=LONDON).isoformat()}


# --------------------------------------------------------------------------- auth and 404s


def test_account_requires_api_key(sim: OctopusSimulator, url: str) -> None:
    missing = requests.get(f"{url}/accounts/{ACCOUNT}/", timeout=5)
    wrong = requests.get(f"{url}/accounts/{ACCOUNT}/", auth=("sk_wrong", ""), timeout=5)
    consumption = requests.get(f"{url}/{IMPORT}", timeout=5)
    assert (missing.status_code, missing.json()) == (
        401,
        {"detail": "Authentication credentials were not provided."},
    )
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid API key."})
    assert consumption.status_code == 401


def test_account_json(sim: OctopusSimulator, api: requests.Session, url: str) -> None:
    body = get(api, url, f"accounts/{ACCOUNT}/").json()
    [prop] = body["properties"]
    importer, exporter = prop["electricity_meter_points"]
    assert body["number"] == ACCOUNT and prop["moved_in_at"] == "2024-01-01T00:00:00Z"
    assert [a["tariff_code"] for a in importer["agreements"]] == [
        "E-1R-VAR-22-11-01-C",
        "E-1R-AGILE-24-10-01-C",
    ]
    assert importer["agreements"][0]["valid_to"] == "2024-06-01T00:00:00+01:00"
    assert importer["agreements"][1] == {
        "tariff_code": "E-1R-AGILE-24-10-01-C",
        "valid_from": "2024-06-01T00:00:00+01:00",
        "valid_to": None,
    }
    assert exporter["is_export"] and not importer["is_export"]
    assert prop["gas_meter_points"][0]["meters"] == [{"serial_number": "G4P0000000001"}]


def test_unknown_account_and_meters_are_404(sim: OctopusSimulator, api: requests.Session, url: str) -> None:
    paths = [
        "accounts/A-OTHER001/",
        "electricity-meter-points/1900000000009/meters/21E0000001/consumption/",
        "electricity-meter-points/1900000000001/meters/WRONG/consumption/",
        "gas-meter-points/1900000000001/meters/21E0000001/consumption/",
    ]
    for path in paths:
        response = get(api, url, path)
        assert (response.status_code, response.json()) == (404, {"detail": "Not found."}), path


def test_unknown_or_mismatched_tariff_is_404(sim: OctopusSimulator, url: str) -> None:
    def status(path: str) -> tuple[int, dict]:
        response = requests.get(f"{url}/{path}", timeout=5)
        return response.status_code, response.json()

    no_electricity = (404, {"detail": "No ElectricityTariff matches the given query."})
    assert status("products/AGILE-24-10-01/electricity-tariffs/E-1R-NOPE-C/standard-unit-rates/") == no_electricity
    assert (
        status("products/VAR-22-11-01/electricity-tariffs/E-1R-AGILE-24-10-01-C/standing-charges/")
        == no_electricity
    )
    assert status("products/VAR-22-11-01/gas-tariffs/G-1R-NOPE-C/standard-unit-rates/") == (
        404,
        {"detail": "No GasTariff matches the given query."},
    )
    assert status("products/VAR-22-11-01/electricity-tariffs/E-2R-VAR-22-11-01-C/standard-unit-rates/")[0] == 400
    assert status("products/VAR-22-11-01/electricity-tariffs/E-1R-VAR-22-11-01-C/day-unit-rates/")[0] == 404


# --------------------------------------------------------------------------- consumption


def test_pagination_follows_next_newest_first(sim: OctopusSimulator, api: requests.Session, url: str) -> None:
    response = get(
        api, url, IMPORT, period_from="2024-11-01T00:00:00Z", period_to="2024-11-06T00:00:00Z", page_size=100
    )
    pages = [response.json()]
    while pages[-1]["next"]:
        pages.append(api.get(pages[-1]["next"], timeout=5).json())
    starts = [row["interval_start"] for page in pages for row in page["results"]]
    assert len(pages) == 3 and pages[0]["count"] == 240 == len(starts) == len(set(starts))
    assert starts == sorted(starts, reverse=True) and starts[0] == "2024-11-05T23:30:00Z"
    assert pages[0]["previous"] is None and "page" not in parse_qs(urlsplit(pages[1]["previous"]).query)


def test_oldest_first_and_no_trailing_slash(sim: OctopusSimulator, api: requests.Session, url: str) -> None:
    body = get(api, url, IMPORT.rstrip("/"), order_by="period", **day_window(date(2024, 11, 1))).json()
    assert body["results"][0]["interval_start"] == "2024-11-01T00:00:00Z"
    assert body["results"][-1]["interval_end"] == "2024-11-02T00:00:00Z"


@pytest.mark.parametrize(
    ("day", "half_hours"), [(date(2024, 6, 12), 48), (date(2024, 3, 31), 46), (date(2024, 10, 27), 50)]
)
def test_london_days_have_dst_aware_half_hours(
    sim: OctopusSimulator, api: requests.Session, url: str, day: date, half_hours: int
) -> None:
    for path in (IMPORT, EXPORT, GAS):
        assert get(api, url, path, **day_window(day)).json()["count"] == half_hours


def test_timestamps_carry_local_offset(sim: OctopusSimulator, api: requests.Session, url: str) -> None:
    summer = get(api, url, IMPORT, **day_window(date(2024, 6, 12))).json()["results"]
    winter = get(api, url, IMPORT, **day_window(date(2024, 1, 12))).json()["results"]
    assert all(row["interval_start"].endswith("+01:00") for row in summer)
    assert summer[-1]["interval_start"] == "2024-06-12T00:00:00+01:00"
    assert all(row["interval_end"].endswith("Z") for row in winter)


def test_today_is_not_yet_available(sim: OctopusSimulator, api: requests.Session, url: str) -> None:
    assert get(api, url, IMPORT, **day_window(date(2024, 11, 15))).json()["count"] == 0
    assert get(api, url, IMPORT, **day_window(date(2024, 11, 14))).json()["count"] == 48
    assert get(api, url, IMPORT, **day_window(date(2023, 12, 31))).json()["count"] == 0  # before move-in


def test_values_are_deterministic_across_windows(sim: OctopusSimulator, api: requests.Session, url: str) -> None:
    def values(period_from: str, period_to: str) -> dict[str, float]:
        rows = get(api, url, EXPORT, period_from=period_from, period_to=period_to, page_size=500).json()["results"]
        return {row["interval_start"]: row["consumption"] for row in rows}

    first = values("2024-06-01T00:00:00+01:00", "2024-06-03T00:00:00+01:00")
    second = values("2024-06-02T00:00:00+01:00", "2024-06-04T00:00:00+01:00")
    overlap = first.keys() & second.keys()
    assert len(overlap) == 48 and all(first[key] == second[key] for key in overlap)
    assert max(first.values()) > 0.3 and min(first.values()) == 0.0  # sunny days, dark nights


def test_group_by_day_sums_half_hours(sim: OctopusSimulator, api: requests.Session, url: str) -> None:
    window = {"period_from": "2024-10-26T00:00:00+01:00", "period_to": "2024-10-29T00:00:00Z"}
    half_hourly = get(api, url, GAS, page_size=500, **window).json()["results"]
    days = get(api, url, GAS, group_by="day", **window).json()["results"]
    assert [d["interval_start"] for d in days] == [
        "2024-10-28T00:00:00Z",
        "2024-10-27T00:00:00+01:00",
        "2024-10-26T00:00:00+01:00",
    ]
    assert sum(d["consumption"] for d in days) == pytest.approx(
        sum(r["consumption"] for r in half_hourly), abs=1e-6
    )
    assert len(half_hourly) == 48 + 50 + 48


def test_sloppy_window_and_duplicate_rows(sim: OctopusSimulator, api: requests.Session, url: str) -> None:
    window = day_window(date(2024, 11, 1))
    sim.sloppy_window = True
    sloppy = get(api, url, IMPORT, **window).json()["results"]
    assert len(sloppy) == 50
    assert sloppy[0]["interval_start"] == "2024-11-02T00:00:00Z"
    assert sloppy[-1]["interval_start"] == "2024-10-31T23:30:00Z"
    sim.sloppy_window, sim.duplicate_rows = False, True
    doubled = get(api, url, IMPORT, **window).json()["results"]
    assert len(doubled) == 96 and doubled[0] == doubled[1]


# --------------------------------------------------------------------------- rates


def test_agile_tomorrow_appears_at_four_pm(sim: OctopusSimulator, url: str) -> None:
    tomorrow = day_window(date(2024, 11, 16))
    sim.clock = fixed_clock(datetime(2024, 11, 15, 15, 59, tzinfo=UTC))
    assert requests.get(f"{url}/{AGILE}", params=tomorrow, timeout=5).json()["count"] == 0
    sim.clock = fixed_clock(datetime(2024, 11, 15, 16, 0, tzinfo=UTC))
    rows = requests.get(f"{url}/{AGILE}", params=tomorrow, timeout=5).json()["results"]
    assert len(rows) == 48 and rows[0]["valid_from"] == "2024-11-16T23:30:00Z"
    assert rows[0]["valid_to"] == "2024-11-17T00:00:00Z" and rows[0]["payment_method"] is None
    assert all(row["value_inc_vat"] == round(row["value_exc_vat"] * 1.05, 4) for row in rows)


def test_quarterly_rates_for_both_payment_methods(sim: OctopusSimulator, url: str) -> None:
    rows = requests.get(f"{url}/{VAR}", timeout=5).json()["results"]
    assert len(rows) == 8  # four quarters of 2024 up to the clock's quarter, two payment methods each
    assert {row["payment_method"] for row in rows} == {"DIRECT_DEBIT", "NON_DIRECT_DEBIT"}
    assert rows[0]["valid_from"] == "2024-09-30T23:00:00Z" and rows[0]["valid_to"] is None
    assert rows[-1]["valid_to"] == "2024-03-31T23:00:00Z"
    summer = requests.get(f"{url}/{VAR}", params=day_window(date(2024, 6, 12)), timeout=5).json()
    assert summer["count"] == 2 and summer["results"][0]["valid_from"] == "2024-03-31T23:00:00Z"
    export = "products/OUTGOING-FIX-12M-19-05-13/electricity-tariffs/E-1R-OUTGOING-FIX-12M-19-05-13-C"
    assert requests.get(f"{url}/{export}/standing-charges/", timeout=5).json()["count"] == 0
    [unit_rate] = requests.get(f"{url}/{export}/standard-unit-rates/", timeout=5).json()["results"]
    assert unit_rate["value_exc_vat"] == unit_rate["value_inc_vat"] == 15.0


# --------------------------------------------------------------------------- faults and counters


def test_burst_429_then_never_again(url: str) -> None:
    throttled = OctopusSimulator(burst_429=2, retry_after=3, clock=fixed_clock(NOW))
    with serve(throttled) as burst_url:
        statuses = [requests.get(f"{burst_url}/{VAR}", timeout=5) for _ in range(4)]
    assert [r.status_code for r in statuses] == [429, 429, 200, 200]
    assert statuses[0].headers["Retry-After"] == "3"
    assert statuses[0].json() == {"detail": "Request was throttled. Expected available in 1 second."}
    assert throttled.request_counts["standard-unit-rates"] == 4


def test_injected_html_403_only_hits_matching_path(sim: OctopusSimulator, api: requests.Session, url: str) -> None:
    sim.inject(403, html=True, path_contains="/consumption")
    assert get(api, url, f"accounts/{ACCOUNT}/").status_code == 200
    blocked = get(api, url, IMPORT, **day_window(date(2024, 11, 1)))
    assert blocked.status_code == 403 and blocked.headers["content-type"].startswith("text/html")
    assert "<title>403 Forbidden</title>" in blocked.text
    assert get(api, url, IMPORT, **day_window(date(2024, 11, 1))).status_code == 200


def test_injected_429_with_retry_after_and_error_rate(
    sim: OctopusSimulator, api: requests.Session, url: str
) -> None:
    sim.inject(429, count=2, retry_after=7)
    first, second, third = (get(api, url, f"accounts/{ACCOUNT}/") for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"], second.status_code) == (429, "7", 429)
    assert third.status_code == 200
    sim.error_rate = 1.0
    failed = get(api, url, f"accounts/{ACCOUNT}/")
    assert failed.status_code == 500 and "detail" in failed.json()


def test_request_counts_include_failures(sim: OctopusSimulator, api: requests.Session, url: str) -> None:
    sim.reset_counts()
    get(api, url, f"accounts/{ACCOUNT}/")
    requests.get(f"{url}/accounts/{ACCOUNT}/", timeout=5)  # 401, still counted
    get(api, url, IMPORT, **day_window(date(2024, 11, 1)))
    requests.get(f"{url}/{AGILE}", params=day_window(date(2024, 11, 1)), timeout=5)
    requests.get(f"{url}/products/AGILE-24-10-01/", timeout=5)
    expected = {"account": 2, "consumption": 1, "standard-unit-rates": 1, "products": 1}
    assert dict(sim.request_counts) == expected
    stats_url = url.removesuffix("/v1") + "/_simulator/stats"
    assert requests.get(stats_url, timeout=5).json() == expected
    sim.reset_counts()
    assert not sim.request_counts
