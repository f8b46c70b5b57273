"""The pure arithmetic, without I/O: local days, rates onto intervals, costs, gas units."""

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from octograph_pipeline.core import days, pricing
from octograph_pipeline.core.schema import PRICE_COLUMNS

LONDON = ZoneInfo("Europe/London")


def day_starts(day: str, resolution: int = 30) -> pd.Series:
    d = dt.date.fromisoformat(day)
    start, end = days.window(d, d, LONDON)
    return pd.Series(days.interval_starts(start, end, resolution, LONDON))


@pytest.mark.parametrize(
    ("day", "half_hours", "hours"),
    [("2024-06-12", 48, 24), ("2024-03-31", 46, 23), ("2024-10-27", 50, 25), ("2024-01-15", 48, 24)],
)
def test_a_london_day_has_46_48_or_50_half_hours(day, half_hours, hours):
    assert len(day_starts(day)) == half_hours
    assert len(day_starts(day, 60)) == hours
    assert len(day_starts(day, 1440)) == 1
    assert set(days.intervals_per_day(day_starts(day), 30, LONDON)) == {half_hours}


def test_window_ends_at_the_local_midnight_after_the_last_day():
    start, end = days.window(dt.date(2024, 6, 1), dt.date(2024, 6, 2), LONDON)
    assert start == pd.Timestamp("2024-05-31T23:00Z")
    assert end == pd.Timestamp("2024-06-02T23:00Z")
    assert days.dates(start, end, LONDON) == [dt.date(2024, 6, 1), dt.date(2024, 6, 2)]


def test_days_in_a_message_are_ranges_then_how_many_more():
    year = [(dt.date(2024, 1, 1) + dt.timedelta(days=n)).isoformat() for n in range(366)]
    assert days.listing(year) == "2024-01-01 .. 2024-12-31"  # not 366 dates on one line
    assert (
        days.listing(["2024-02-04", "2024-02-01", "2024-02-03", "2024-02-01"])
        == "2024-02-01, 2024-02-03 .. 2024-02-04"
    )
    apart = [f"2024-03-{n:02d}" for n in range(1, 16, 2)]  # 8 separate days
    assert days.listing(apart) == "2024-03-01, 2024-03-03, 2024-03-05, 2024-03-07, 2024-03-09 and 3 more days"


def rates(*rows) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["valid_from", "valid_to", "value_exc_vat", "value_inc_vat", "payment_method"]
    )
    for column in ("valid_from", "valid_to"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def test_rate_in_force_honours_open_ends_and_exclusive_valid_to():
    table = rates(
        (None, "2024-01-01T00:00Z", 10.0, 10.5, None),
        ("2024-01-01T00:00Z", "2024-01-01T01:00Z", 20.0, 21.0, None),
        ("2024-01-01T02:00Z", None, 30.0, 31.5, None),
    )
    at = pd.Series(
        pd.to_datetime(
            [
                "2023-06-01T00:00Z",
                "2024-01-01T00:00Z",
                "2024-01-01T00:30Z",
                "2024-01-01T01:00Z",
                "2024-01-01T02:00Z",
                "2030-01-01T00:00Z",
            ],
            utc=True,
        )
    )
    found = pricing.rate_in_force(at, table)["value_exc_vat"].tolist()
    assert found[:3] == [10.0, 20.0, 20.0]
    assert pd.isna(found[3])  # a gap: no fabricated price
    assert found[4:] == [30.0, 30.0]


def test_payment_method_selection_keeps_null_rows():
    table = rates(
        ("2024-01-01T00:00Z", None, 20.0, 21.0, "DIRECT_DEBIT"),
        ("2024-01-01T00:00Z", None, 22.0, 23.1, "NON_DIRECT_DEBIT"),
    )
    assert pricing.select_payment_method(table, "NON_DIRECT_DEBIT")["value_exc_vat"].tolist() == [22.0]
    agile = rates(("2024-01-01T00:00Z", "2024-01-01T00:30Z", 5.0, 5.25, None))
    assert len(pricing.select_payment_method(agile, "DIRECT_DEBIT")) == 1


def test_export_tariff_without_standing_charge_rows_charges_zero():
    starts = day_starts("2024-06-12")
    unit = pricing.rate_in_force(starts, rates(("2024-01-01T00:00Z", None, 15.0, 15.0, None)))
    prices = pricing.tariff_prices(starts, unit, rates())
    assert (prices["standing_charge_exc_vat_price"] == 0).all()
    assert (prices["unit_price_exc_vat_price"] == 15.0).all()


@pytest.mark.parametrize("day", ["2024-03-31", "2024-06-12", "2024-10-27"])
def test_standing_charge_sums_to_one_day(day):
    starts = day_starts(day)
    prices = pd.DataFrame({column: 0.0 for column in PRICE_COLUMNS}, index=starts.index)
    prices["standing_charge_exc_vat_price"] = 47.85
    prices["standing_charge_inc_vat_price"] = 50.2425
    costs = pricing.consumption_costs(
        pd.Series(0.0, index=starts.index), prices, days.intervals_per_day(starts, 30, LONDON)
    )
    assert costs["standing_charge_cost_exc_vat_pence"].sum() == pytest.approx(47.85, abs=1e-9)
    assert costs["total_cost_inc_vat_pence"].sum() == pytest.approx(50.2425, abs=1e-9)


@st.composite
def covering_rate_rows(draw, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Contiguous rate rows covering [start, end): switches at any half-hour, first row open or starting
    before the day, last row open-ended (`valid_to` null) or running past the day."""
    half_hours = int((end - start) / pd.Timedelta(minutes=30))
    switches = sorted(draw(st.sets(st.integers(1, half_hours - 1), max_size=6)))
    bounds = [start - pd.Timedelta(days=draw(st.integers(0, 40)))]
    bounds += [start + pd.Timedelta(minutes=30 * k) for k in switches]
    bounds += [end + pd.Timedelta(days=draw(st.integers(0, 40)))]
    prices = draw(
        st.lists(st.floats(-5, 100, allow_nan=False), min_size=len(bounds) - 1, max_size=len(bounds) - 1)
    )
    rows = [(bounds[i], bounds[i + 1], p, p * 1.05, None) for i, p in enumerate(prices)]
    if draw(st.booleans()):
        rows[-1] = (rows[-1][0], None, *rows[-1][2:])
    if draw(st.booleans()):
        rows[0] = (None, *rows[0][1:])
    return rates(*rows)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), day=st.sampled_from(["2024-03-31", "2024-06-12", "2024-10-27", "2025-01-01"]))
def test_day_cost_is_usage_times_rate_in_force_plus_one_standing_charge(data, day):
    starts = day_starts(day)
    start, end = starts.iloc[0], starts.iloc[-1] + pd.Timedelta(minutes=30)
    unit_rows = data.draw(covering_rate_rows(start, end))
    standing_rows = rates((start - pd.Timedelta(days=3), None, 47.0, 49.35, None))
    usage = pd.Series(data.draw(st.lists(st.floats(0, 5), min_size=len(starts), max_size=len(starts))))
    sign = data.draw(st.sampled_from([1.0, -1.0]))  # export is negative

    prices = pricing.tariff_prices(starts, pricing.rate_in_force(starts, unit_rows), standing_rows)
    costs = pricing.consumption_costs(usage * sign, prices, days.intervals_per_day(starts, 30, LONDON))

    def rate_at(moment):  # the obvious, slow definition
        for row in unit_rows.itertuples():
            if (pd.isna(row.valid_from) or row.valid_from <= moment) and (
                pd.isna(row.valid_to) or moment < row.valid_to
            ):
                return row.value_exc_vat
        raise AssertionError(f"no rate at {moment}")

    expected = sum(sign * kwh * rate_at(at) for at, kwh in zip(starts, usage, strict=True)) + 47.0
    assert costs["total_cost_exc_vat_pence"].sum() == pytest.approx(expected, abs=1e-9)
    assert costs["standing_charge_cost_inc_vat_pence"].sum() == pytest.approx(49.35, abs=1e-9)


def clock(first: str, last: str, zone: str) -> list[str]:
    """Local half-hours first..last (inclusive) of one stretch of a clock, e.g. ("02:00", "02:30", "BST")."""
    times = pd.date_range(f"2000-01-01 {first}", f"2000-01-01 {last}", freq="30min")
    return [f"{moment:%H:%M} {zone}" for moment in times]


@pytest.mark.parametrize(
    ("low_start", "low_end", "zone", "day", "expected"),
    [
        # (end - start) x 2 half-hours on ordinary days, whatever the window and time zone
        ("01:00", "08:00", "Europe/London", "2024-06-12", clock("01:00", "07:30", "BST")),
        ("00:00", "07:00", "Europe/London", "2024-01-15", clock("00:00", "06:30", "GMT")),
        # crosses midnight: the day's first six hours and its last hour
        (
            "23:00",
            "06:00",
            "Europe/London",
            "2024-01-15",
            clock("00:00", "05:30", "GMT") + clock("23:00", "23:30", "GMT"),
        ),
        ("00:30", "07:30", "UTC", "2024-01-15", clock("00:30", "07:00", "GMT")),
        ("00:30", "07:30", "UTC", "2024-06-12", clock("01:30", "08:00", "BST")),
        # local windows lose an hour in spring (01:00-02:00 does not exist) and gain one in autumn
        ("01:00", "08:00", "Europe/London", "2024-03-31", clock("02:00", "07:30", "BST")),
        (
            "01:00",
            "08:00",
            "Europe/London",
            "2024-10-27",
            clock("01:00", "01:30", "BST") + clock("01:00", "07:30", "GMT"),
        ),
        (
            "00:00",
            "07:00",
            "Europe/London",
            "2024-03-31",
            clock("00:00", "00:30", "GMT") + clock("02:00", "06:30", "BST"),
        ),
        (
            "00:00",
            "07:00",
            "Europe/London",
            "2024-10-27",
            clock("00:00", "01:30", "BST") + clock("01:00", "06:30", "GMT"),
        ),
        # smart-meter E7 is fixed in UTC, so the DST days keep their 7 hours
        ("00:30", "07:30", "UTC", "2024-03-31", clock("00:30", "00:30", "GMT") + clock("02:00", "08:00", "BST")),
        ("00:30", "07:30", "UTC", "2024-10-27", clock("01:30", "01:30", "BST") + clock("01:00", "07:00", "GMT")),
    ],
)
def test_economy7_night_half_hours(low_start, low_end, zone, day, expected):
    window = dt.time.fromisoformat(low_start), dt.time.fromisoformat(low_end)
    starts = day_starts(day)
    night = pricing.in_low_rate_window(starts, *window, ZoneInfo(zone))
    assert [f"{moment:%H:%M %Z}" for moment in starts[night].dt.tz_convert(LONDON)] == expected


def test_smart_economy7_night_is_01_30_to_08_30_in_bst():
    night = pricing.in_low_rate_window(day_starts("2024-06-12"), dt.time(0, 30), dt.time(7, 30), ZoneInfo("UTC"))
    local = day_starts("2024-06-12")[night].dt.tz_convert(LONDON).dt.strftime("%H:%M")
    assert (local.iloc[0], local.iloc[-1]) == ("01:30", "08:00")


def test_coarser_intervals_group_half_hours():
    hours = days.interval_of(day_starts("2024-10-27"), 60, LONDON)
    assert hours.nunique() == 25
    whole_days = days.interval_of(day_starts("2024-10-27"), 1440, LONDON)
    assert set(whole_days) == {pd.Timestamp("2024-10-26T23:00Z")}


def test_calorific_value_per_gas_day_falls_back_to_the_latest_then_the_default():
    starts = pd.Series(
        pd.to_datetime(
            ["2024-01-01T12:00Z", "2024-01-02T12:00Z", "2024-01-05T12:00Z", "2023-12-31T12:00Z"], utc=True
        )
    )
    daily = {dt.date(2024, 1, 1): 39.1, dt.date(2024, 1, 2): 39.4}
    assert pricing.calorific_value_by_interval(starts, LONDON, daily, 38.8).tolist() == [39.1, 39.4, 39.4, 38.8]


def test_calorific_value_follows_the_gas_day_from_five_am():
    starts = pd.Series(pd.to_datetime(["2024-01-02T04:30Z", "2024-01-02T05:00Z"], utc=True))  # GMT = local
    daily = {dt.date(2024, 1, 1): 39.1, dt.date(2024, 1, 2): 39.4}
    assert pricing.calorific_value_by_interval(starts, LONDON, daily, 38.8).tolist() == [39.1, 39.4]


def test_smets2_cubic_metres_to_kwh():
    assert pricing.gas_volume_to_kwh(1.0, 1.02264, 38.8) == pytest.approx(1.02264 * 38.8 / 3.6)
    assert pricing.gas_volume_to_kwh(pd.Series([0.0, 2.0]), 1.0, 36.0).tolist() == [0.0, 20.0]


def iog_prices(first_day: str, count: int, change_at: str | None = None) -> pd.DataFrame:
    """Half-hourly unit prices of an Intelligent Octopus Go tariff over `count` whole London days: 7 p/kWh in
    the 23:30-05:30 window, 27 outside it; from `change_at` (local time) on, 9 and 30."""
    start = pd.Timestamp(first_day, tz=LONDON)
    local = pd.date_range(start, start + pd.DateOffset(days=count), freq="30min", inclusive="left")
    change = pd.Timestamp(change_at or "2100-01-01", tz=LONDON)
    in_window = [not dt.time(5, 30) <= t.time() < dt.time(23, 30) for t in local]
    unit = [
        ((9.0, 30.0) if t >= change else (7.0, 27.0))[0 if w else 1] for t, w in zip(local, in_window, strict=True)
    ]
    return pd.DataFrame({"unit": unit}, index=local.tz_convert("UTC"))


def off_peak_at(prices: pd.DataFrame, *local_times: str) -> list[float]:
    rates = pricing.off_peak_rates(prices, dt.time(23, 30), LONDON)["unit"]
    return [rates[pd.Timestamp(t, tz=LONDON).tz_convert("UTC")] for t in local_times]


def test_a_smart_charge_costs_the_off_peak_rate_in_force_at_its_half_hour():
    """Octopus bills a smart charge outside the window at the off-peak rate in force at that half-hour."""
    steady = iog_prices("2024-11-20", 2)
    assert off_peak_at(steady, "2024-11-20 14:00", "2024-11-20 23:30", "2024-11-21 06:00") == [7.0, 7.0, 7.0]
    # A change in the middle of the window (02:00): from then on, the new off-peak rate.
    mid_window = iog_prices("2024-11-20", 2, "2024-11-21 02:00")
    assert off_peak_at(mid_window, "2024-11-20 14:00", "2024-11-21 01:00", "2024-11-21 14:00") == [7.0, 7.0, 9.0]
    # A change at midday: the morning's smart charge at the old off-peak rate, the afternoon's at the new one,
    # which is published only from the evening's window.
    midday = iog_prices("2024-11-20", 2, "2024-11-20 12:00")
    assert off_peak_at(midday, "2024-11-20 06:00", "2024-11-20 14:00", "2024-11-21 14:00") == [7.0, 9.0, 9.0]
    # At midnight, as Octopus changes prices: the window's half-hours before midnight keep the old rate.
    midnight = iog_prices("2024-11-20", 2, "2024-11-21 00:00")
    assert off_peak_at(midnight, "2024-11-20 14:00", "2024-11-20 23:30", "2024-11-21 14:00") == [7.0, 7.0, 9.0]


def test_the_off_peak_window_follows_the_london_clock_on_a_clock_change_day():
    """2024-10-27 has 50 half-hours, two of them 01:00-01:30 in the window; a price change at its midnight."""
    prices = iog_prices("2024-10-26", 2, "2024-10-27 00:00")
    assert len(prices) == 48 + 50
    assert off_peak_at(prices, "2024-10-26 14:00", "2024-10-27 05:00", "2024-10-27 13:00") == [7.0, 9.0, 9.0]


def test_the_charge_cap_counts_six_hours_per_midday_to_midday_period_earliest_first():
    """Octopus's charge cap: 7 hours of smart charging from 13:00 one day to 08:00 the next (one period) leave
    the last hour beyond it; the next period starts at midday; the house's window counts too."""
    local = [
        *pd.date_range("2024-11-20 13:00", "2024-11-20 16:30", freq="30min", tz=LONDON),  # 4 hours
        *pd.date_range("2024-11-21 01:00", "2024-11-21 03:30", freq="30min", tz=LONDON),  # 3 hours, in the window
        *pd.date_range("2024-11-21 12:00", "2024-11-21 12:30", freq="30min", tz=LONDON),  # the next period
    ]
    slots = pd.Series(pd.DatetimeIndex(local).tz_convert("UTC")).sample(frac=1, random_state=3)  # any order
    within = pricing.within_charge_cap(slots, 6.0, LONDON)
    beyond = sorted(slots[~within].dt.tz_convert(LONDON).dt.strftime("%d %H:%M"))
    assert beyond == ["21 03:00", "21 03:30"]  # the 13th and 14th half-hours of the period
    assert within.sum() == 12 + 2
    assert pricing.within_charge_cap(slots, 24.0, LONDON).all()


def test_the_charge_cap_period_runs_from_local_midday_on_a_clock_change_day():
    """Around 2024-10-27 (clocks back at 02:00): midday is 11:00 UTC the day before and 12:00 UTC on the day."""
    local = ["2024-10-26 11:30", "2024-10-26 12:00", "2024-10-27 11:30", "2024-10-27 12:00"]
    slots = pd.Series(pd.DatetimeIndex(local).tz_localize(LONDON).tz_convert("UTC"))
    assert pricing.within_charge_cap(slots, 0.5, LONDON).tolist() == [True, True, False, True]


def test_the_local_date_of_an_instant_and_today():
    late = pd.Timestamp("2024-06-11T23:30Z")  # 00:30 BST on the 12th
    assert days.local_date(late, LONDON) == dt.date(2024, 6, 12)
    assert days.local_date(late.to_pydatetime(), LONDON) == dt.date(2024, 6, 12)
    assert days.today(LONDON) in {dt.datetime.now(LONDON).date() + dt.timedelta(days=n) for n in (-1, 0)}
