"""The Octopus API simulator behaves like the real API where our client depends on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from octograph_pipeline.dev.simulator import (
    SCENARIOS,
    OctopusSimulator,
    all_scenarios,
    default_household,
    economy7_household,
    serve,
)
from octograph_pipeline.dev.simulator.__main__ import scenario_households

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
    # Published at 16:00 up to 23:00 tomorrow: the day's last hour only appears on the day itself.
    assert len(rows) == 46 and rows[0]["valid_from"] == "2024-11-16T22:30:00Z"
    assert rows[0]["valid_to"] == "2024-11-16T23:00:00Z" and rows[0]["payment_method"] is None
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
    # The body names the same wait as Retry-After (the pipeline repeats this text in its errors).
    assert statuses[0].json() == {"detail": "Request was throttled. Expected available in 3 seconds."}
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


# --------------------------------------------------------------------------- messy scenarios

E7_IMPORT = "electricity-meter-points/1100000000071/meters/21E7000001/consumption/"
E7_EXPORT = "electricity-meter-points/1100000000072/meters/21E7000001/consumption/"
E7_TARIFF = "products/VAR-22-11-01/electricity-tariffs/E-2R-VAR-22-11-01-C"
OUTGOING = "products/AGILE-OUTGOING-19-05-13/electricity-tariffs/E-1R-AGILE-OUTGOING-19-05-13-C"
OLD_GAS = "gas-meter-points/4000000011/meters/G4S2000011/consumption/"
NEW_GAS = "gas-meter-points/4000000022/meters/G4S1000022/consumption/"
OLD_ELECTRICITY = "electricity-meter-points/1200000000011/meters/21M0000011/consumption/"
SWITCHED = "electricity-meter-points/1300000000001/meters/{serial}/consumption/"
NO_DATA = "electricity-meter-points/1300000000002/meters/21S0000009/consumption/"
GAPPY = "electricity-meter-points/1400000000001/meters/21G0000001/consumption/"
ACCOUNTS = ["A-DEMO0001", "A-E7000001", "A-MOVE0001", "A-SWCH0001", "A-GAPS0001", "A-IOG00001"]


@pytest.fixture(scope="module")
def scenario_url() -> Iterator[str]:
    """One simulator serving every scenario household."""
    with serve(OctopusSimulator(households=all_scenarios(), clock=fixed_clock(NOW))) as prefix:
        yield prefix


def account(api: requests.Session, url: str, number: str) -> dict:
    response = get(api, url, f"accounts/{number}/")
    assert response.status_code == 200, number
    return response.json()


def readings(api: requests.Session, url: str, path: str, day: date, **params: object) -> list[dict]:
    body = get(api, url, path, page_size=500, **day_window(day), **params).json()
    assert body["next"] is None
    return body["results"]


def test_all_scenarios_are_served_at_once(api: requests.Session, scenario_url: str) -> None:
    assert [h.account_number for h in all_scenarios()] == ACCOUNTS
    assert list(SCENARIOS) == ["default", "economy7", "moved", "switch", "gaps", "intelligent"]
    for number in ACCOUNTS:
        assert account(api, scenario_url, number)["number"] == number
    assert get(api, scenario_url, "accounts/A-OTHER001/").status_code == 404
    assert get(api, scenario_url, IMPORT, **day_window(date(2024, 11, 1))).json()["count"] == 48  # the demo one
    assert (
        get(api, scenario_url, "electricity-meter-points/1100000000071/meters/21M0000011/consumption/").status_code
        == 404
    )
    assert (
        requests.get(f"{scenario_url}/{VAR}", params=day_window(date(2024, 1, 15)), timeout=5).json()["count"] == 2
    )
    assert (
        requests.get(f"{scenario_url}/{AGILE}", params=day_window(date(2024, 1, 15)), timeout=5).json()["count"]
        == 48
    )


def test_default_constructor_is_unchanged() -> None:
    sim = OctopusSimulator()
    assert sim.households == (sim.household,) and sim.household == default_household()
    assert sim.household.to_json() == all_scenarios()[0].to_json()
    assert sim.tariff_history_start == date(2024, 1, 1)
    custom = OctopusSimulator(account_number="A-X", agile_from=date(2023, 6, 1), households=[economy7_household()])
    assert [h.account_number for h in custom.households] == ["A-E7000001"]  # account_number/agile_from ignored
    with pytest.raises(ValueError, match="appears twice"):
        OctopusSimulator(households=[economy7_household(), economy7_household()])


def test_cli_scenario_selection() -> None:
    assert [h.account_number for h in scenario_households("all", 1, "Europe/London")] == ACCOUNTS
    assert [h.account_number for h in scenario_households("gaps, economy7", 1, "Europe/London")] == [
        "A-GAPS0001",
        "A-E7000001",
    ]
    with pytest.raises(ValueError, match="nope"):
        scenario_households("economy7,nope", 1, "Europe/London")


def test_economy7_account_and_day_night_rates(api: requests.Session, scenario_url: str) -> None:
    [prop] = account(api, scenario_url, "A-E7000001")["properties"]
    importer, exporter = prop["electricity_meter_points"]
    assert prop["moved_in_at"] == "2024-01-01T00:00:00Z" and prop["gas_meter_points"] == []
    assert (importer["mpan"], importer["is_export"], exporter["mpan"], exporter["is_export"]) == (
        "1100000000071",
        False,
        "1100000000072",
        True,
    )
    assert importer["meters"][0]["serial_number"] == exporter["meters"][0]["serial_number"] == "21E7000001"
    assert importer["agreements"] == [
        {"tariff_code": "E-2R-VAR-22-11-01-C", "valid_from": "2024-01-01T00:00:00Z", "valid_to": None}
    ]
    assert exporter["agreements"][0]["tariff_code"] == "E-1R-AGILE-OUTGOING-19-05-13-C"
    for rate_type in ("day-unit-rates", "night-unit-rates", "standing-charges"):
        assert requests.get(f"{scenario_url}/{E7_TARIFF}/{rate_type}/", timeout=5).json()["count"] > 0
    assert requests.get(f"{scenario_url}/{E7_TARIFF}/standard-unit-rates/", timeout=5).status_code == 400
    rows = readings(api, scenario_url, E7_IMPORT, date(2024, 1, 10))
    night = [r["consumption"] for r in rows if "00:30" <= r["interval_start"][11:16] < "07:30"]
    day = [r["consumption"] for r in rows if not "00:30" <= r["interval_start"][11:16] < "07:30"]
    assert len(night) == 14 and all(1.0 <= value <= 1.5 for value in night)
    assert sum(day) / len(day) < 0.6
    assert max(r["consumption"] for r in readings(api, scenario_url, E7_EXPORT, date(2024, 6, 12))) > 0.3


def test_agile_outgoing_rates_and_timeless_standing_charge(scenario_url: str) -> None:
    window = day_window(date(2024, 6, 12))
    standing = requests.get(f"{scenario_url}/{OUTGOING}/standing-charges/", params=window, timeout=5).json()
    assert standing["results"] == [
        {"value_exc_vat": 0.0, "value_inc_vat": 0.0, "valid_from": None, "valid_to": None, "payment_method": None}
    ]
    rows = requests.get(f"{scenario_url}/{OUTGOING}/standard-unit-rates/", params=window, timeout=5).json()
    assert rows["count"] == 48
    assert all(0 <= r["value_exc_vat"] == r["value_inc_vat"] <= 20 for r in rows["results"])
    assert {r["payment_method"] for r in rows["results"]} == {None}
    assert requests.get(f"{scenario_url}/products/AGILE-OUTGOING-19-05-13/", timeout=5).status_code == 200


def test_moved_account_has_two_tenancies(api: requests.Session, scenario_url: str) -> None:
    old, new = account(api, scenario_url, "A-MOVE0001")["properties"]
    assert (old["id"], old["address_line_1"], old["town"], old["postcode"]) == (
        2000001,
        "10 Old Road",
        "Oldtown",
        "OL1 1AA",
    )
    assert (new["id"], new["address_line_1"], new["town"], new["postcode"]) == (
        2000002,
        "22 New Street",
        "Newtown",
        "NE2 2BB",
    )
    assert (old["moved_in_at"], old["moved_out_at"]) == ("2024-01-01T00:00:00Z", "2024-06-15T00:00:00+01:00")
    assert (new["moved_in_at"], new["moved_out_at"]) == ("2024-06-15T00:00:00+01:00", None)
    [old_electricity], [old_gas] = old["electricity_meter_points"], old["gas_meter_points"]
    assert old_electricity["agreements"] == [
        {"tariff_code": "E-1R-VAR-22-11-01-C", "valid_from": "2024-01-01T00:00:00Z", "valid_to": None}
    ]
    assert (old_gas["mprn"], old_gas["meters"]) == ("4000000011", [{"serial_number": "G4S2000011"}])
    [new_electricity], [new_gas] = new["electricity_meter_points"], new["gas_meter_points"]
    assert (new_electricity["mpan"], new_electricity["meters"][0]["serial_number"]) == (
        "1200000000022",
        "21M0000022",
    )
    assert new_electricity["agreements"] == [
        {
            "tariff_code": "E-1R-VAR-22-11-01-C",
            "valid_from": "2024-06-15T00:00:00+01:00",
            "valid_to": "2024-10-01T00:00:00+01:00",
        },
        {"tariff_code": "E-1R-AGILE-24-10-01-C", "valid_from": "2024-10-01T00:00:00+01:00", "valid_to": None},
    ]
    assert (new_gas["mprn"], new_gas["meters"]) == ("4000000022", [{"serial_number": "G4S1000022"}])
    assert new_gas["agreements"][0]["tariff_code"] == "G-1R-VAR-22-11-01-C"
    # The old meters keep reporting after move-out (the next occupant): clipping is the client's job.
    assert len(readings(api, scenario_url, OLD_ELECTRICITY, date(2024, 11, 10))) == 48
    assert (
        len(
            readings(
                api,
                scenario_url,
                "electricity-meter-points/1200000000022/meters/21M0000022/consumption/",
                date(2024, 6, 14),
            )
        )
        == 0
    )


def test_smets2_gas_reports_m3_and_smets1_kwh(api: requests.Session, scenario_url: str) -> None:
    day = date(2024, 11, 10)
    smets2 = [r["consumption"] for r in readings(api, scenario_url, OLD_GAS, day)]
    smets1 = [r["consumption"] for r in readings(api, scenario_url, NEW_GAS, day)]
    assert len(smets2) == len(smets1) == 48
    assert 0 < max(smets2) < 1 and max(smets1) > 1
    assert sum(smets1) > 5 * sum(smets2)


def test_switch_account_mid_day_switch_and_replaced_meter(api: requests.Session, scenario_url: str) -> None:
    [prop] = account(api, scenario_url, "A-SWCH0001")["properties"]
    switched, silent = prop["electricity_meter_points"]
    assert [m["serial_number"] for m in switched["meters"]] == ["21S0000001", "21S0000002"]
    assert switched["agreements"] == [
        {
            "tariff_code": "E-1R-VAR-22-11-01-C",
            "valid_from": "2024-01-01T00:00:00Z",
            "valid_to": "2024-06-12T13:30:00+01:00",
        },
        {"tariff_code": "E-1R-AGILE-24-10-01-C", "valid_from": "2024-06-12T13:30:00+01:00", "valid_to": None},
    ]
    assert (silent["mpan"], silent["meters"][0]["serial_number"]) == ("1300000000002", "21S0000009")
    old, new = SWITCHED.format(serial="21S0000001"), SWITCHED.format(serial="21S0000002")
    assert [len(readings(api, scenario_url, old, day)) for day in (date(2024, 7, 31), date(2024, 8, 1))] == [48, 0]
    assert [len(readings(api, scenario_url, new, day)) for day in (date(2024, 7, 31), date(2024, 8, 1))] == [0, 48]
    last_old = get(api, scenario_url, old, page_size=1).json()["results"][0]
    first_new = get(api, scenario_url, new, page_size=1, order_by="period").json()["results"][0]
    assert last_old["interval_end"] == first_new["interval_start"] == "2024-08-01T00:00:00+01:00"
    assert get(api, scenario_url, new, page_size=1).json()["results"][0]["interval_end"] == "2024-11-15T00:00:00Z"


def test_meter_without_data_always_answers_count_0(api: requests.Session, scenario_url: str) -> None:
    for params in ({}, day_window(date(2024, 6, 12)), {"group_by": "day"}):
        response = get(api, scenario_url, NO_DATA, **params)
        assert response.status_code == 200 and response.json()["count"] == 0 and response.json()["results"] == []


def test_missing_and_duplicated_intervals(api: requests.Session, scenario_url: str) -> None:
    gappy = readings(api, scenario_url, GAPPY, date(2024, 6, 12), order_by="period")
    starts = [r["interval_start"][11:16] for r in gappy]
    assert len(gappy) == 45 and not {"02:00", "02:30", "03:00"} & set(starts)
    assert "01:30" in starts and "03:30" in starts
    [total] = get(api, scenario_url, GAPPY, group_by="day", **day_window(date(2024, 6, 12))).json()["results"]
    assert total["consumption"] == pytest.approx(sum(r["consumption"] for r in gappy), abs=1e-6)
    doubled = readings(api, scenario_url, GAPPY, date(2024, 6, 13), order_by="period")
    repeated = [r["interval_start"][11:16] for r, nxt in zip(doubled, doubled[1:], strict=False) if r == nxt]
    assert len(doubled) == 52 and repeated == ["10:00", "10:30", "11:00", "11:30"]
    assert len(readings(api, scenario_url, GAPPY, date(2024, 6, 14))) == 48


# --------------------------------------------------------------------------- products (the comparison)


def test_product_detail_lists_tariffs_by_registers_region_and_payment_method(api, url):
    product = get(api, url, "products/VAR-22-11-01/").json()
    assert product["code"] == "VAR-22-11-01" and product["is_variable"] is True
    assert len(product["single_register_electricity_tariffs"]) == 14  # every region
    dual = product["dual_register_electricity_tariffs"]["_C"]
    assert set(dual) == {"direct_debit_monthly", "varying"}
    assert dual["direct_debit_monthly"]["code"] == "E-2R-VAR-22-11-01-C"
    rels = {link["rel"]: link["href"] for link in dual["direct_debit_monthly"]["links"]}
    assert set(rels) == {"day_unit_rates", "night_unit_rates", "standing_charges"}
    assert requests.get(rels["night_unit_rates"], auth=(KEY, ""), timeout=5).json()["results"]
    assert product["single_register_gas_tariffs"]["_C"]["direct_debit_monthly"]["code"] == "G-1R-VAR-22-11-01-C"


def test_products_missing_a_region_a_period_or_altogether(api, url):
    assert set(get(api, url, "products/COSY-22-12-08/").json()["single_register_electricity_tariffs"]) == {
        "_D",
        "_E",
        "_F",
        "_G",
    }
    before_launch = get(api, url, "products/OE-FIX-12M-24-11-01/", tariffs_active_at="2024-10-01T00:00:00Z")
    assert before_launch.json()["single_register_electricity_tariffs"] == {}
    rates = "products/OE-FIX-12M-24-11-01/electricity-tariffs/E-1R-OE-FIX-12M-24-11-01-C/standard-unit-rates/"
    assert get(api, url, rates, **day_window(date(2024, 10, 31))).json()["results"] == []
    assert get(api, url, rates, **day_window(date(2024, 11, 1))).json()["results"][0]["value_exc_vat"] == 23.5
    missing = get(api, url, "products/NOPE-24-01-01/")
    assert (missing.status_code, missing.json()) == (404, {"detail": "No Product matches the given query."})


def test_go_is_cheap_from_half_past_midnight_to_half_past_five_by_the_clock(api, url):
    go = "products/GO-VAR-22-10-14/electricity-tariffs/E-1R-GO-VAR-22-10-14-C/standard-unit-rates/"
    rows = get(api, url, go, **day_window(date(2024, 3, 31))).json()["results"]  # the 23-hour day
    cheap = [(row["valid_from"], row["valid_to"]) for row in rows if row["value_exc_vat"] == 8.5]
    assert cheap == [("2024-03-31T00:30:00Z", "2024-03-31T04:30:00Z")]  # 00:30 GMT to 05:30 BST


def test_tracker_has_one_price_per_local_day(api, url):
    tracker = "products/SILVER-24-12-31/gas-tariffs/G-1R-SILVER-24-12-31-C/standard-unit-rates/"
    rows = get(api, url, tracker, **day_window(date(2024, 10, 27))).json()["results"]  # the 25-hour day
    assert [(row["valid_from"], row["valid_to"]) for row in rows] == [
        ("2024-10-26T23:00:00Z", "2024-10-28T00:00:00Z")
    ]


# --------------------------------------------------------------------------- the Carbon Intensity API


def carbon(url: str, path: str) -> requests.Response:
    """No key: the public API takes none (the Octopus session's auth is not sent)."""
    return requests.get(f"{url.removesuffix('/v1')}/carbon/{path}", timeout=5)


def inside(rows: list[dict], start: datetime, end: datetime) -> list[dict]:
    """The half-hours of [start, end): the API also answers those touching either end."""
    return [row for row in rows if start <= datetime.fromisoformat(row["from"].replace("Z", "+00:00")) < end]


@pytest.mark.parametrize(("day", "half_hours"), [(date(2024, 3, 31), 46), (date(2024, 10, 27), 50)])
def test_carbon_intensity_of_a_clock_change_day(sim: OctopusSimulator, url: str, day: date, half_hours: int):
    start = datetime(day.year, day.month, day.day, tzinfo=LONDON).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), LONDON).astimezone(UTC)
    answer = carbon(url, f"intensity/{start:%Y-%m-%dT%H:%MZ}/{end:%Y-%m-%dT%H:%MZ}")
    assert answer.status_code == 200
    rows = answer.json()["data"]
    assert len(inside(rows, start, end)) == half_hours and len(rows) == half_hours + 2
    first = rows[1]
    assert (
        first["from"] == f"{start:%Y-%m-%dT%H:%MZ}"
        and first["to"] == f"{start + timedelta(minutes=30):%Y-%m-%dT%H:%MZ}"
    )
    assert {"forecast", "actual", "index"} == set(first["intensity"])
    assert all(isinstance(row["intensity"]["actual"], int) for row in rows)  # all past at NOW


def test_carbon_intensity_has_no_actual_yet_for_the_future(sim: OctopusSimulator, url: str):
    rows = carbon(url, f"intensity/{NOW:%Y-%m-%dT%H:%MZ}/{NOW + timedelta(hours=2):%Y-%m-%dT%H:%MZ}").json()[
        "data"
    ]
    assert [row["intensity"]["actual"] is None for row in rows] == [False, True, True, True, True, True]
    assert all(row["intensity"]["forecast"] > 0 for row in rows)


def test_a_regions_forecast_with_its_generation_mix(sim: OctopusSimulator, url: str):
    answer = carbon(url, "regional/intensity/2024-06-10T23:00Z/2024-06-11T23:00Z/regionid/13").json()["data"]
    assert (answer["regionid"], answer["shortname"], answer["dnoregion"]) == (13, "London", "UKPN London")
    row = answer["data"][1]
    assert set(row) == {"from", "to", "intensity", "generationmix"} and set(row["intensity"]) == {
        "forecast",
        "index",
    }
    assert sum(fuel["perc"] for fuel in row["generationmix"]) == pytest.approx(100)
    scotland = carbon(url, "regional/intensity/2024-06-10T23:00Z/2024-06-11T23:00Z/regionid/1").json()["data"]
    assert scotland["data"][1]["intensity"]["forecast"] < row["intensity"]["forecast"]  # cleaner in the north


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("regional/intensity/2024-06-10T23:00Z/2024-06-11T23:00Z/regionid/15", "valid region id"),
        ("intensity/2024-06-10/2024-06-11T23:00Z", "valid ISO 8601 datetime"),
        ("intensity/2024-06-10T23:00Z/2024-06-30T23:00Z", "cannot exceed 14 days"),
    ],
)
def test_carbon_intensity_errors_say_why_in_the_apis_shape(sim: OctopusSimulator, url: str, path: str, message):
    answer = carbon(url, path)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "400 Bad Request"
    assert message in answer.json()["error"]["message"]


def test_carbon_intensity_knobs_a_missing_half_hour_and_an_injected_failure(sim: OctopusSimulator, url: str):
    gap = datetime(2024, 6, 11, 5, 30, tzinfo=UTC)
    sim.carbon.missing = {gap}
    try:
        rows = carbon(url, "intensity/2024-06-10T23:00Z/2024-06-11T23:00Z").json()["data"]
        assert "2024-06-11T05:30Z" not in {row["from"] for row in rows} and len(rows) == 49
    finally:
        sim.carbon.missing = set()
    sim.inject(503, path_contains="/carbon/")
    assert carbon(url, "generation/2024-06-10T23:00Z/2024-06-11T23:00Z").status_code == 503
    mix = carbon(url, "generation/2024-06-10T23:00Z/2024-06-11T23:00Z").json()["data"][0]["generationmix"]
    assert [fuel["fuel"] for fuel in mix][:4] == ["biomass", "coal", "imports", "gas"]
    assert sim.request_counts["carbon-generation"] == 2
