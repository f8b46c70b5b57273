"""Each data-quality check on a crafted good frame (no problems) and a bad one (the problem named), without I/O.

The frames come from the same pure functions the assets use (account points -> segments -> prices ->
priced points), over 2024-10-27, the 50-half-hour day the clocks go back.
"""

import configparser

import pandas as pd
import pytest

from octograph_pipeline.config import parse_settings
from octograph_pipeline.core import checks, frames
from octograph_pipeline.core import schema as s
from octograph_pipeline.core.days import interval_starts, window
from octograph_pipeline.core.models import parse_account
from octograph_pipeline.core.settings import PointTags

DAY = "2024-10-27"
IMPORT, EXPORT = "1900000000001", "1900000000002"
TARIFF, EXPORT_TARIFF = "E-1R-VAR-22-11-01-C", "E-1R-OUTGOING-FIX-12M-19-05-13-C"
UNIT_PENCE, STANDING_PENCE, EXPORT_PENCE = 25.0, 48.0, 15.0


def grid(settings) -> tuple:
    """The time zone and resolution the checks take."""
    return settings.octopus.tz, settings.octopus.resolution_minutes


def priced(consumption, prices, segments, settings) -> pd.DataFrame:
    """`priced_points`' per-meter details, which the checks read."""
    return frames.priced_points(consumption, prices, segments, settings.octopus.price_rules, PointTags())[1]


def meter_point(mpan: str, serial: str, tariff: str, is_export: bool) -> dict:
    agreement = {"tariff_code": tariff, "valid_from": "2024-01-01T00:00:00Z", "valid_to": None}
    return {"mpan": mpan, "is_export": is_export, "meters": [{"serial_number": serial}], "agreements": [agreement]}


ACCOUNT = parse_account(
    {
        "number": "A-CHECKS01",
        "properties": [
            {
                "id": 1,
                "moved_in_at": "2024-01-01T00:00:00Z",
                "moved_out_at": None,
                "electricity_meter_points": [
                    meter_point(IMPORT, "S-IMPORT", TARIFF, False),
                    meter_point(EXPORT, "S-EXPORT", EXPORT_TARIFF, True),
                ],
                "gas_meter_points": [],
            }
        ],
    },
    "A-CHECKS01",
)


@pytest.fixture(scope="module")
def settings():
    parser = configparser.ConfigParser()
    parser.read_dict({"octopus": {"account_number": "A-CHECKS01"}})
    return parse_settings(parser)


@pytest.fixture(scope="module")
def segments(settings):
    start, end = window(pd.Timestamp(DAY).date(), pd.Timestamp(DAY).date(), settings.octopus.tz)
    return frames.agreement_segments(
        frames.account_points(ACCOUNT, start, end, settings.octopus.tz, PointTags()), settings.octopus.tz
    )


def published(tariff_code: str, component: str, *_period) -> pd.DataFrame:
    """One open-ended rate per component, as the API lists it."""
    value = STANDING_PENCE if component == "standing-charges" else UNIT_PENCE
    value = EXPORT_PENCE if tariff_code == EXPORT_TARIFF and component != "standing-charges" else value
    return pd.DataFrame(
        {
            "valid_from": pd.to_datetime(["2024-01-01T00:00Z"], utc=True),
            "valid_to": pd.to_datetime([None], utc=True),
            "value_exc_vat": [value],
            "value_inc_vat": [value * 1.05],
            "payment_method": [None],
        }
    )


@pytest.fixture(scope="module")
def prices(segments, settings):
    points, problems = frames.rate_points(segments, published, settings.octopus.price_rules, PointTags())
    assert problems == []
    return points


@pytest.fixture(scope="module")
def consumption(segments, settings):
    """A full day of readings for both meters: 0.5 kWh every half-hour."""
    read = lambda fuel, point, serial, start, end, resolution: pd.DataFrame(  # noqa: E731
        {"interval_start": interval_starts(start, end, resolution, settings.octopus.tz), "consumption": 0.5}
    )
    tz, resolution = grid(settings)
    return frames.consumption_frame(segments, read, tz, resolution, settings.octopus.gas_conversion, PointTags())


def without(frame: pd.DataFrame, meter_point: str, *local_times: str) -> pd.DataFrame:
    """`frame` less the meter point's intervals starting at these London clock times (first occurrence)."""
    local = frame[s.TIME].dt.tz_convert("Europe/London").dt.strftime("%H:%M")
    drop = (frame[s.METER_POINT] == meter_point) & local.isin(local_times)
    return frame[~drop | local.duplicated()].reset_index(drop=True)


def test_the_day_has_50_half_hours_and_the_good_frames_pass_every_check(segments, prices, consumption, settings):
    assert len(consumption) == 2 * 50
    details = priced(consumption, prices, segments, settings)
    assert checks.missing_intervals(consumption, segments, *grid(settings)).empty
    assert checks.negative_import(consumption, settings.octopus.tz).empty
    assert checks.unpriced_intervals(details, settings.octopus.tz).empty
    assert checks.standing_charge_mismatches(details, prices, segments, *grid(settings)).empty


def test_missing_intervals_names_the_meter_point_the_day_and_the_half_hours(segments, consumption, settings):
    short = without(consumption, IMPORT, "12:00", "12:30")
    problems = checks.missing_intervals(short, segments, *grid(settings))
    assert problems.to_dict("records") == [
        {
            "meter": f"electricity {IMPORT}",
            "day": DAY,
            "expected": 50,
            "reported": 48,
            "missing_intervals": "12:00, 12:30",
        }
    ]


def test_a_meter_point_with_no_readings_at_all_is_missing_every_interval(segments, consumption, settings):
    without_export = consumption[consumption[s.METER_POINT] != EXPORT]
    problems = checks.missing_intervals(without_export, segments, *grid(settings))
    assert problems[["meter", "expected", "reported"]].to_dict("records") == [
        {"meter": f"electricity {EXPORT}", "expected": 50, "reported": 0}
    ]


def test_negative_usage_is_a_problem_on_an_import_meter_only(consumption, settings):
    negative = consumption.copy()
    negative.loc[negative.index[:3], "usage_kwh"] = -0.2  # import meter: three bad intervals
    negative.loc[negative[s.METER_POINT] == EXPORT, "usage_kwh"] = -0.1  # export: fine
    problems = checks.negative_import(negative, settings.octopus.tz)
    assert len(problems) == 3
    assert set(problems["meter"]) == {f"electricity {IMPORT} / S-IMPORT"}
    assert problems["interval"].iloc[0] == "2024-10-27 00:00:00+01:00"
    assert set(problems["day"]) == {DAY}


def test_unpriced_intervals_names_the_meter_tariff_and_half_hours(segments, prices, consumption, settings):
    local = prices[s.TIME].dt.tz_convert("Europe/London").dt.strftime("%H:%M")
    gap = prices[~((prices[s.TARIFF_CODE_TAG] == TARIFF) & local.isin(["18:00", "18:30"]))]
    details = priced(consumption, gap, segments, settings)
    problems = checks.unpriced_intervals(details, settings.octopus.tz)
    assert problems.to_dict("records") == [
        {
            "meter": f"electricity {IMPORT} / S-IMPORT",
            "day": DAY,
            "tariff_code": TARIFF,
            "unpriced_intervals": "18:00, 18:30",
        }
    ]


def test_standing_charges_must_add_up_to_one_days_charge(segments, prices, consumption, settings):
    details = priced(consumption, prices, segments, settings)
    assert details.groupby(s.METER_POINT)["standing_charge_cost_exc_vat_pence"].sum().round(9).to_dict() == {
        IMPORT: STANDING_PENCE,
        EXPORT: STANDING_PENCE,
    }
    overcharged = details.copy()
    overcharged.loc[overcharged[s.METER_POINT] == IMPORT, "standing_charge_cost_exc_vat_pence"] *= 2
    problems = checks.standing_charge_mismatches(overcharged, prices, segments, *grid(settings))
    assert problems.to_dict("records") == [
        {"meter": f"electricity {IMPORT}", "day": DAY, "charged_pence": 96.0, "expected_pence": 48.0}
    ]


def test_a_day_with_readings_missing_is_left_to_the_completeness_check(segments, prices, consumption, settings):
    short = without(consumption, IMPORT, "12:00")
    details = priced(short, prices, segments, settings)
    assert details.loc[details[s.METER_POINT] == IMPORT, "standing_charge_cost_exc_vat_pence"].sum() < 48
    assert checks.standing_charge_mismatches(details, prices, segments, *grid(settings)).empty
    assert len(checks.missing_intervals(short, segments, *grid(settings))) == 1


def test_only_the_completeness_check_is_a_warning():
    every = [checks.COMPLETE_INTERVALS, checks.NO_NEGATIVE_IMPORT, checks.EVERY_INTERVAL_PRICED]
    assert [check.warning for check in [*every, checks.STANDING_CHARGE_ONE_DAY]] == [True, False, False, False]


def test_problems_become_a_small_markdown_table():
    table = checks.markdown(pd.DataFrame({"meter": ["a", "b", "c"], "day": [DAY] * 3}), limit=2)
    assert table.splitlines()[:4] == ["| meter | day |", "|---|---|", f"| a | {DAY} |", f"| b | {DAY} |"]
    assert table.endswith("… and 1 more rows")
    assert checks.markdown(pd.DataFrame()) == "(none)"
