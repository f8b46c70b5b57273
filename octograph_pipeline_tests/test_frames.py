"""Account JSON -> typed records -> agreements and points, without I/O: tenancy, gaps between agreements,
meter filters."""

from zoneinfo import ZoneInfo

import pandas as pd

from octograph_pipeline.core import frames
from octograph_pipeline.core.models import parse_account
from octograph_pipeline.core.settings import PointTags

ACCOUNT_JSON = {
    "number": "A-FRAME001",
    "properties": [
        {
            "id": 1,
            "moved_in_at": "2024-01-01T00:00:00Z",
            "moved_out_at": "2024-06-15T00:00:00+01:00",
            "address_line_1": "1 Old Road",
            "town": "Oldtown",
            "electricity_meter_points": [
                {
                    "mpan": "100",
                    "is_export": False,
                    "meters": [{"serial_number": "S1"}, {"serial_number": "S2"}],
                    "agreements": [
                        {
                            "tariff_code": "E-1R-VAR-22-11-01-C",
                            "valid_from": "2024-01-01T00:00:00Z",
                            "valid_to": "2024-06-12T00:00:00+01:00",
                        },
                        # no agreement on 2024-06-12
                        {
                            "tariff_code": "E-1R-AGILE-24-10-01-C",
                            "valid_from": "2024-06-13T00:00:00+01:00",
                            "valid_to": None,
                        },
                    ],
                }
            ],
            "gas_meter_points": [],
        }
    ],
}


ACCOUNT = parse_account(ACCOUNT_JSON, "A-FRAME001")


LONDON = ZoneInfo("Europe/London")


def test_agreements_stop_at_move_out():
    agreements = list(frames.meter_agreements(ACCOUNT))
    assert [(a["meter_serial_number"], a["tariff_code"][5:10]) for a in agreements] == [
        ("S1", "VAR-2"),
        ("S1", "AGILE"),
        ("S2", "VAR-2"),
        ("S2", "AGILE"),
    ]
    assert agreements[1]["agreement"].valid_to == pd.Timestamp("2024-06-14T23:00Z")  # clipped to the tenancy
    assert agreements[0]["is_export"] is False


def test_points_per_day_and_meter_within_the_tenancy():
    start, end = pd.Timestamp("2024-06-10T23:00Z"), pd.Timestamp("2024-06-16T23:00Z")  # 11th..16th
    points = frames.account_points(ACCOUNT, start, end, LONDON, PointTags(), included_meters=["S1"])
    days = points["time"].dt.tz_convert("Europe/London").dt.day.tolist()
    assert days == [11, 13, 14]  # none on the gap day 12th, none after moving out on the 15th
    assert set(points["meter_serial_number"]) == {"S1"}
    assert points["property_town"].unique().tolist() == ["Oldtown"]


def test_a_day_without_agreement_is_reported():
    start, end = pd.Timestamp("2024-06-10T23:00Z"), pd.Timestamp("2024-06-16T23:00Z")
    assert frames.uncovered_days(ACCOUNT, start, end, LONDON) == [
        "electricity meter point 100 has no agreement on 2024-06-12"
    ]


def test_the_account_is_parsed_once_into_records():
    (prop,) = ACCOUNT.properties
    assert prop.id == "1" and prop.address["town"] == "Oldtown" and prop.address["postcode"] == ""
    assert prop.moved_out_at == pd.Timestamp("2024-06-14T23:00Z")
    (point,) = prop.meter_points
    assert (point.fuel, point.id, point.is_export) == ("electricity", "100", False)
    assert [meter.serial_number for meter in point.meters] == ["S1", "S2"]
    assert [a.tariff_code for a in point.agreements] == ["E-1R-VAR-22-11-01-C", "E-1R-AGILE-24-10-01-C"]
    assert point.agreements[0].valid_from == pd.Timestamp("2024-01-01T00:00Z")
