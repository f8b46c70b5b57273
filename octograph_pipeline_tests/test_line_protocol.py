"""`frame_to_lines` writes exactly what influxdb_client's `Point` writes, row by row, for points frames: any mix of
measurements, tag and field columns of any dtype, awkward text, any float, UTC times to the nanosecond."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client import Point, WritePrecision

from octograph_pipeline.clients.influx import NonFiniteValue, frame_to_lines
from octograph_pipeline.core.schema import MEASUREMENT, MEASUREMENTS, TIME

NAMES = sorted(MEASUREMENTS)
NUMERIC_FIELDS = sorted({f for m in MEASUREMENTS.values() for f in m.fields})
STRING_FIELDS = sorted({f for m in MEASUREMENTS.values() for f in m.string_fields})
TAG_NAMES = ["account_number", "meter_point", "tariff_code", "Zone", "a b", "c,d", "e=f", 'q"', "\\", "ü", ""]


def _point_lines(frame: pd.DataFrame) -> list[str]:
    """The reference: `frame_to_lines` as it was, one `Point` per row."""
    lines: list[str] = []
    for name, group in frame.groupby(MEASUREMENT, sort=False):
        measurement = MEASUREMENTS[name]
        fields = [f for f in measurement.all_fields if f in group.columns]
        tags = [c for c in group.columns if c not in (MEASUREMENT, TIME, *measurement.all_fields)]
        for row in group[[TIME, *tags, *fields]].itertuples(index=False, name=None):
            point = Point(name).time(row[0], WritePrecision.S)
            for tag, value in zip(tags, row[1 : 1 + len(tags)], strict=True):
                if isinstance(value, str) and value:
                    point.tag(tag, value)
            has_field = False
            for field, value in zip(fields, row[1 + len(tags) :], strict=True):
                if field in measurement.string_fields:
                    point.field(field, "" if value is None or value is pd.NA else str(value))
                    has_field = True
                elif value is not None and not pd.isna(value):
                    point.field(field, float(value))
                    has_field = True
            if has_field:
                lines.append(point.to_line_protocol())
    return lines


def assert_same_lines(frame: pd.DataFrame) -> None:
    # `Point` gives an empty line for a point without a field (all NaN); such a point has no line at all.
    assert frame_to_lines(frame) == [line for line in _point_lines(frame) if line]


awkward_text = st.text(st.sampled_from(list(" ,=\"'\\\n\t\r#aZ0é€😀")), max_size=6) | st.text(max_size=4)
missing = st.sampled_from([None, float("nan"), pd.NA])
floats = st.one_of(
    st.floats(allow_infinity=False),  # NaN, ±0.0, subnormals, huge and tiny (infinities are refused, below)
    st.floats(width=32, allow_infinity=False),
    st.integers(-(2**64), 2**64).map(float),
    st.integers(-(10**7), 10**7).map(lambda i: i / 10**4),  # prices and usage with a few decimals
    st.sampled_from([-0.0, 1e15, 1e16, 9999999999999998.0, 2.0**53 + 2, 1e-4, 1e-5, 0.1 + 0.2, 5e-324, 1e308]),
)
# Epoch ticks per unit, with and without sub-second parts, before and after 1970.
second_less_a_tick = st.integers(-(9 * 10**9), 9 * 10**9)
ticks = {
    "ns": st.integers(-(2**63) + 10**15, 2**63 - 10**15) | second_less_a_tick.map(lambda s: s * 10**9 - 1),
    "us": st.integers(-(9 * 10**15), 9 * 10**15) | second_less_a_tick.map(lambda s: s * 10**6 - 1),
    "s": st.integers(-(9 * 10**9), 9 * 10**9),
}


@st.composite
def times(draw, size: int) -> pd.Series:
    """UTC instants at any resolution, before and after 1970, as datetimes or as Timestamp objects."""
    unit = draw(st.sampled_from(sorted(ticks)))
    moments = pd.Series(np.array(draw(st.lists(ticks[unit], min_size=size, max_size=size)), f"datetime64[{unit}]"))
    moments = moments.dt.tz_localize("UTC").dt.tz_convert(draw(st.sampled_from(["UTC", "Europe/London"])))
    return moments.astype(object) if draw(st.booleans()) else moments


@st.composite
def numeric_column(draw, size: int):
    kind = draw(st.sampled_from(["float64", "object", "float32", "int64", "Int64"]))
    if kind == "int64":
        return np.array(draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=size, max_size=size)))
    if kind == "Int64":
        values = st.integers(-(2**63), 2**63 - 1) | st.none()
        return pd.array(draw(st.lists(values, min_size=size, max_size=size)), dtype="Int64")
    values = {"object": floats | missing, "float32": st.floats(width=32, allow_infinity=False)}.get(kind, floats)
    return np.array(draw(st.lists(values, min_size=size, max_size=size)), dtype=kind)


@st.composite
def text_column(draw, size: int, kinds=("object", "str", "category")):
    values = draw(st.lists(awkward_text | missing, min_size=size, max_size=size))
    kind = draw(st.sampled_from(kinds))
    return pd.Series(values, dtype=kind).array if kind != "object" else np.array(values, dtype=object)


@st.composite
def points_frames(draw) -> pd.DataFrame:
    """Interleaved measurements; some of each one's fields; tags with awkward names and values; any dtype."""
    size = draw(st.integers(0, 8))
    columns = {
        MEASUREMENT: draw(st.lists(st.sampled_from(NAMES), min_size=size, max_size=size)),
        TIME: draw(times(size)).array,
    }
    for field in draw(st.sets(st.sampled_from(NUMERIC_FIELDS), max_size=4)):
        columns[field] = draw(numeric_column(size))
    for field in draw(st.sets(st.sampled_from(STRING_FIELDS))):
        columns[field] = draw(text_column(size, kinds=("object", "str")))
    for tag in draw(st.sets(st.sampled_from(TAG_NAMES), max_size=4)):
        columns[tag] = draw(text_column(size))
    order = draw(st.permutations(list(columns)))
    frame = pd.DataFrame({column: columns[column] for column in order})
    if draw(st.booleans()):
        frame.index = frame.index[::-1] * 3
    return frame


@settings(max_examples=400, deadline=None)
@given(points_frames())
def test_matches_point_on_any_frame(frame):
    assert_same_lines(frame)


@settings(max_examples=300, deadline=None)
@given(st.lists(floats | missing, min_size=1, max_size=30), st.lists(floats, min_size=1, max_size=30))
def test_matches_point_on_floats(values, more):
    frame = pd.DataFrame({MEASUREMENT: "meter_consumption", "consumption": pd.Series(values, dtype=object)})
    frame[TIME] = pd.Timestamp("2024-03-31T00:59:59.999999Z")
    assert_same_lines(frame)
    frame = pd.DataFrame({MEASUREMENT: "meter_consumption", "usage_kwh": more, TIME: pd.Timestamp(0, tz="UTC")})
    assert_same_lines(frame)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_matches_point_on_times(data):
    size = data.draw(st.integers(1, 20))
    frame = pd.DataFrame({MEASUREMENT: "gas_pricing", TIME: data.draw(times(size)).array})
    assert_same_lines(frame.assign(unit_price_exc_vat_price=1.5))


def test_writes_sorted_tags_and_fields_floats_and_escapes():
    frame = pd.DataFrame(
        {
            MEASUREMENT: ["electricity_consumption", "account_meters", "electricity_consumption"],
            TIME: pd.to_datetime(["2024-06-12T00:00:00.75Z", "2024-06-12T00:00:00.0Z", "1969-12-31T23:59:59.5Z"]),
            "tariff_code": ["E-1R-AGILE", "E-1R-AGILE", ""],
            "location": ["Home Sweet, Home", 'say "hi"=yes', None],
            "usage_kwh": [0.25, np.nan, 2.0],
            "total_cost_exc_vat_pence": [-0.0, np.nan, 1e16],
            "agreement_valid_from": ["2024-01-01", 'C:\\ "x"', None],
        }
    )
    # Another measurement's field is a tag here; tags and fields sorted by key; times truncated towards 1970.
    assert frame_to_lines(frame) == [
        "electricity_consumption,agreement_valid_from=2024-01-01,location=Home\\ Sweet\\,\\ Home,"
        "tariff_code=E-1R-AGILE total_cost_exc_vat_pence=-0,usage_kwh=0.25 1718150400",
        "electricity_consumption total_cost_exc_vat_pence=1e+16,usage_kwh=2 0",
        'account_meters,location=say\\ "hi"\\=yes,tariff_code=E-1R-AGILE agreement_valid_from="C:\\\\ \\"x\\"" '
        "1718150400",
    ]
    assert_same_lines(frame)


def test_a_point_without_a_field_has_no_line_and_an_infinite_one_is_refused():
    frame = pd.DataFrame(
        {
            MEASUREMENT: "gas_consumption",
            TIME: pd.Timestamp("2024-01-01", tz="UTC"),
            "usage_kwh": [np.nan, 1.0],
            "meter_point": "tail\\",
            7: 7.0,  # not a string, so never a tag
        }
    )
    assert frame_to_lines(frame) == ["gas_consumption,meter_point=tail\\  usage_kwh=1 1704067200"]
    assert_same_lines(frame)
    # `Point` would silently leave an infinite field out; a number that cannot be true fails instead.
    frame.loc[0, "usage_kwh"] = -np.inf
    with pytest.raises(NonFiniteValue, match="gas_consumption usage_kwh is -inf at 2024-01-01 00:00:00"):
        frame_to_lines(frame)


def test_matches_point_on_a_realistic_consumption_frame():
    rng = np.random.default_rng(7)
    when = pd.date_range("2024-03-30", "2024-04-02", freq="30min", tz="UTC", inclusive="left")
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    MEASUREMENT: "electricity_consumption",
                    TIME: when,
                    "account_number": "A-ABCD1234",
                    "meter_point": meter_point,
                    "tariff_code": np.where(when < "2024-04-01", "E-1R-VAR-22-11-01-C", "E-1R-AGILE-24-10-01-C"),
                    "usage_kwh": np.round(rng.gamma(2, 0.15, len(when)), 3),
                    "usage_cost_inc_vat_pence": rng.normal(3, 2, len(when)),
                    "standing_charge_cost_inc_vat_pence": 47.5 / 48,
                }
            )
            for meter_point in ("1900000000001", "1900000000002")
        ],
        ignore_index=True,
    )
    frame.loc[5, "usage_kwh"] = np.nan
    assert_same_lines(frame)
