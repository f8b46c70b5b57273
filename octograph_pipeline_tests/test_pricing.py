"""The pure arithmetic, without I/O: local days, rates onto intervals, costs, gas units."""

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from octograph_pipeline import pricing

LONDON = ZoneInfo("Europe/London")


def day_starts(day: str, resolution: int = 30) -> pd.Series:
    d = dt.date.fromisoformat(day)
    start, end = pricing.local_days_window(d, d, LONDON)
    return pd.Series(pricing.interval_starts(start, end, resolution, LONDON))


@pytest.mark.parametrize(
    ("day", "half_hours", "hours"),
    [("2024-06-12", 48, 24), ("2024-03-31", 46, 23), ("2024-10-27", 50, 25), ("2024-01-15", 48, 24)],
)
def test_a_london_day_has_46_48_or_50_half_hours(day, half_hours, hours):
    assert len(day_starts(day)) == half_hours
    assert len(day_starts(day, 60)) == hours
    assert len(day_starts(day, 1440)) == 1
    assert set(pricing.intervals_in_local_day(day_starts(day), 30, LONDON)) == {half_hours}


def test_window_ends_at_the_local_midnight_after_the_last_day():
    start, end = pricing.local_days_window(dt.date(2024, 6, 1), dt.date(2024, 6, 2), LONDON)
    assert start == pd.Timestamp("2024-05-31T23:00Z")
    assert end == pd.Timestamp("2024-06-02T23:00Z")
    assert pricing.local_dates(start, end, LONDON) == [dt.date(2024, 6, 1), dt.date(2024, 6, 2)]


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
    prices = pd.DataFrame({column: 0.0 for column in pricing.PRICE_COLUMNS}, index=starts.index)
    prices["standing_charge_exc_vat_price"] = 47.85
    prices["standing_charge_inc_vat_price"] = 50.2425
    costs = pricing.consumption_costs(
        pd.Series(0.0, index=starts.index), prices, pricing.intervals_in_local_day(starts, 30, LONDON)
    )
    assert costs["standing_charge_cost_exc_vat_pence"].sum() == pytest.approx(47.85, abs=1e-9)
    assert costs["total_cost_inc_vat_pence"].sum() == pytest.approx(50.2425, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    day=st.sampled_from(["2024-03-31", "2024-06-12", "2024-10-27", "2025-01-01"]),
    usage=st.lists(st.floats(0, 5, allow_nan=False), min_size=50, max_size=50),
    unit_prices=st.lists(st.floats(-5, 100, allow_nan=False), min_size=50, max_size=50),
    standing=st.floats(0, 100, allow_nan=False),
    export=st.booleans(),
)
def test_day_cost_is_usage_times_rate_plus_one_standing_charge(day, usage, unit_prices, standing, export):
    starts = day_starts(day)
    n = len(starts)
    sign = -1.0 if export else 1.0
    usage_kwh = pd.Series(usage[:n], index=starts.index) * sign
    unit = pd.DataFrame({"value_exc_vat": unit_prices[:n], "value_inc_vat": [p * 1.05 for p in unit_prices[:n]]})
    prices = pricing.tariff_prices(starts, unit, rates((None, None, standing, standing * 1.05, None)))
    costs = pricing.consumption_costs(usage_kwh, prices, pricing.intervals_in_local_day(starts, 30, LONDON))
    expected = sum(u * p for u, p in zip(usage_kwh, unit_prices[:n], strict=True)) + standing
    assert costs["total_cost_exc_vat_pence"].sum() == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("low_start", "low_end", "day", "expected"),
    [
        (1, 8, "2024-06-12", 14),
        (0, 7, "2024-01-15", 14),
        (23, 6, "2024-01-15", 14),
        (1, 8, "2024-03-31", 12),  # 01:00-02:00 local does not exist on the spring-forward day
        (1, 8, "2024-10-27", 16),  # 01:00-02:00 local happens twice in the autumn
    ],
)
def test_economy7_night_window_in_local_hours(low_start, low_end, day, expected):
    night = pricing.in_low_rate_window(day_starts(day), low_start, low_end, LONDON)
    assert int(night.sum()) == expected


def test_smets2_cubic_metres_to_kwh():
    assert pricing.gas_volume_to_kwh(1.0, 1.02264, 38.8) == pytest.approx(1.02264 * 38.8 / 3.6)
    assert pricing.gas_volume_to_kwh(pd.Series([0.0, 2.0]), 1.0, 36.0).tolist() == [0.0, 20.0]
