"""The Grafana dashboards, proven on a week the pipeline really wrote through Dagster: every query of every
panel runs on InfluxDB 1.x with Grafana's macros filled in and answers, series by series and row by row, what
that panel should show, computed in Python from the points read back; it names only measurements, fields and
tags the pipeline writes, and the totals the stats show equal the sums of the points read back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from octograph_pipeline.clients.influx import InfluxV1Store
from octograph_pipeline.core import schema
from octograph_pipeline.core.days import window as local_days_window
from octograph_pipeline.dev.simulator import OctopusSimulator, serve

from .helpers import API_KEY, LONDON, household_simulator, materialize_days, write_config

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD_DIR = ROOT / "grafana" / "dashboards"
PROVIDER_FILE = ROOT / "grafana" / "provisioning" / "dashboards" / "octograph.yaml"
# docker-compose mounts the dashboards folder here in the Grafana container (and ./grafana/provisioning at
# /etc/grafana/provisioning, where the provider file is read).
DASHBOARDS_MOUNT = ("./grafana/dashboards", "/var/lib/grafana/dashboards")
DATASOURCE = {"type": "influxdb", "uid": "influxdb"}
ELECTRICITY, GAS, PRICES = "octograph-electricity", "octograph-gas", "octograph-prices"
COMPARISON = "octograph-comparison"
CARBON = "octograph-carbon"
# The week is compared with these products (Agile is the import's own product: it must cost the same).
COMPARED = {
    "products": "AGILE-24-10-01, GO-VAR-22-10-14",
    "export_products": "AGILE-OUTGOING-19-05-13",
    "gas_products": "SILVER-24-12-31",
}

# Agile import (since 2024-10-01), fixed-rate export, SMETS2 gas, and the 25-hour day of 27 October.
FIRST, LAST = dt.date(2024, 10, 21), dt.date(2024, 10, 27)
START, END = local_days_window(FIRST, LAST, LONDON)
LOCATION = "Home"
IMPORT_MPAN, EXPORT_MPAN, GAS_MPRN = "1900000000001", "1900000000002", "3000000001"


# -- the dashboards as Grafana would load them ------------------------------------------------------------


def load_dashboards() -> dict[str, dict]:
    """Every dashboard file, by file name."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def walk_panels(panels: list[dict]) -> Iterator[dict]:
    """Every panel, rows' nested panels included (a collapsed row holds its panels)."""
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels", []))


@dataclass(frozen=True)
class Query:
    uid: str
    panel: str
    ref: str
    text: str

    def __str__(self) -> str:
        return f"{self.uid} / {self.panel} / {self.ref}"


def dashboard_queries(dashboard: dict) -> Iterator[Query]:
    """The raw InfluxQL of every panel target and of every query variable."""
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            yield Query(dashboard["uid"], f"${variable['name']}", "variable", variable["query"])
    for panel in walk_panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            yield Query(dashboard["uid"], panel.get("title", ""), target.get("refId", ""), target.get("query", ""))


DASHBOARDS = load_dashboards()
QUERIES = [query for dashboard in DASHBOARDS.values() for query in dashboard_queries(dashboard)]


# -- Grafana's macros ---------------------------------------------------------------------------------------

MACRO = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)")


def _utc(moment: pd.Timestamp) -> str:
    return moment.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def substitute(query: str, *, vat: str, resolution: str) -> str:
    """What Grafana sends for the week (its $timeFilter, in RFC 3339 rather than epoch ms); unknown macros stay."""
    values = {
        "timeFilter": f"time >= '{_utc(START)}' AND time < '{_utc(END)}'",
        "location": LOCATION,
        "vat": vat,
        "resolution": resolution,
        "__from": str(int(START.timestamp() * 1000)),
        "__to": str(int(END.timestamp() * 1000)),
        "__interval": "1h",
        "__interval_ms": "3600000",
    }
    return MACRO.sub(lambda match: values.get(match[1] or match[2], match[0]), query)


def variants(query: Query) -> Iterator[tuple[str, str, str]]:
    """(vat, resolution, substituted query): both VAT choices at 1d, and 30m once; duplicates dropped."""
    seen = set()
    for vat, resolution in (("inc", "1d"), ("exc", "1d"), ("inc", "30m")):
        text = substitute(query.text, vat=vat, resolution=resolution)
        if text not in seen:
            seen.add(text)
            yield vat, resolution, text


CASES = [
    pytest.param(query, text, vat, resolution, id=f"{query}-vat={vat}-res={resolution}")
    for query in QUERIES
    for vat, resolution, text in variants(query)
]


# -- the schema check -----------------------------------------------------------------------------------------

STRING = re.compile(r"'(?:[^'\\]|\\.)*'")
REGEX = re.compile(r"([=!]~)\s*/(?:[^/\\]|\\.)*/")
IDENTIFIER = re.compile(r'"((?:[^"\\]|\\.)*)"')
ALIAS = re.compile(r'\bAS\s+"((?:[^"\\]|\\.)*)"', re.IGNORECASE)
WORD = re.compile(r"(?<![\w$])[A-Za-z_]\w*")  # $macros are checked on their own
# InfluxQL keywords and functions; any other bare word would be an unquoted name the check cannot see.
# fmt: off
INFLUXQL_WORDS = frozenset({
    "select", "from", "where", "and", "or", "as", "group", "by", "time", "fill", "none", "null", "previous",
    "linear", "tz", "order", "asc", "desc", "limit", "offset", "slimit", "soffset", "show", "tag", "tags",
    "values", "field", "keys", "key", "with", "measurements", "series", "now",
    "sum", "mean", "median", "min", "max", "first", "last", "count", "distinct", "spread", "stddev", "mode",
    "percentile", "integral", "difference", "non_negative_difference", "derivative", "non_negative_derivative",
    "cumulative_sum", "moving_average", "elapsed", "abs", "round", "floor", "ceil",
})
# fmt: on


def _without_literals(query: str) -> str:
    return REGEX.sub(r"\1 //", STRING.sub("''", query))


def unquoted_words(query: str) -> list[str]:
    """Bare words that are not InfluxQL: names must be double-quoted so that `unknown_names` sees them."""
    text = IDENTIFIER.sub('""', _without_literals(query))
    return [word for word in WORD.findall(text) if word.lower() not in INFLUXQL_WORDS]


def unknown_names(query: str, tag_keys: Mapping[str, set[str]]) -> list[str]:
    """The double-quoted identifiers of `query` that are neither a measurement of the schema, a field or a
    written tag key of a measurement the query reads, nor an alias the query defines with AS "..."."""
    text = _without_literals(query)
    names = IDENTIFIER.findall(text)
    measurements = [schema.MEASUREMENTS[name] for name in names if name in schema.MEASUREMENTS]
    known = set(ALIAS.findall(text))
    for measurement in measurements:
        known |= {measurement.name, *measurement.all_fields, *tag_keys.get(measurement.name, ())}
    return list(dict.fromkeys(name for name in names if name not in known))


@pytest.mark.parametrize(
    "query",
    [
        'SELECT sum("usage_kwhs") FROM "electricity_consumption"',  # a misspelt field
        'SELECT sum("usage_kwh") FROM "electricity"',  # the seed dashboard's old measurement name
        'SELECT mean("unit_price_inc_vat_price") FROM "electricity_consumption"',  # another measurement's field
        'SELECT last("usage_kwh") FROM "electricity_consumption" GROUP BY "electricity_mpan"',  # not written here
        'SELECT last("agreement_valid_from") FROM "account_meters" GROUP BY "property_address_line_2"',  # empty
    ],
)
def test_the_schema_check_rejects_names_the_pipeline_does_not_write(query):
    tag_keys = {"electricity_consumption": {"tariff_code", "location"}, "account_meters": {"property_town"}}
    assert unknown_names(query, tag_keys)


def test_the_schema_check_accepts_fields_tags_and_aliases():
    query = (
        'SELECT mean("d") FROM (SELECT sum("total_cost_inc_vat_pence") / 100 AS "d" FROM "gas_consumption" '
        "WHERE \"location\" =~ /^Home$/ AND \"tariff_code\" != 'X' GROUP BY time(1d) tz('Europe/London'))"
    )
    assert unknown_names(query, {"gas_consumption": {"tariff_code", "location"}}) == []
    assert unquoted_words(query) == []
    assert unquoted_words("SELECT sum(usage_kwh) FROM \"gas_consumption\" WHERE location = 'Home'") == [
        "usage_kwh",
        "location",
    ]


# -- static checks: files, uids, datasource, variables, provisioning -----------------------------------------


def test_dashboards_have_distinct_uids_and_the_expected_settings():
    assert set(DASHBOARDS) == {"electricity.json", "gas.json", "prices.json", "comparison.json", "carbon.json"}
    uids = [dashboard["uid"] for dashboard in DASHBOARDS.values()]
    assert sorted(uids) == sorted({ELECTRICITY, GAS, PRICES, COMPARISON, CARBON})
    for name, dashboard in DASHBOARDS.items():
        assert dashboard["title"].startswith("Octograph – "), name
        assert dashboard["timezone"] == "Europe/London", name
        # The last 7 whole local days (consumption arrives the next day; prices run to tomorrow).
        assert dashboard["time"]["from"] == "now-7d/d", name
        assert dashboard["time"]["to"] == ("now+1d/d" if dashboard["uid"] == PRICES else "now-1d/d"), name
        assert dashboard["schemaVersion"] >= 39, name
        assert "id" not in dashboard, f"{name}: an instance's numeric id does not belong in a provisioned file"
        ids = [panel["id"] for panel in walk_panels(dashboard["panels"])]
        assert len(ids) == len(set(ids)), f"{name}: panel ids repeat"
        variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
        assert variables["location"]["type"] == "query"
        assert re.fullmatch(r'SHOW TAG VALUES FROM "(\w+)" WITH KEY = "location"', variables["location"]["query"])
        if any("vat" in query.text for query in dashboard_queries(dashboard)):  # not carbon's: no money there
            assert (variables["vat"]["type"], variables["vat"]["query"]) == ("custom", "inc,exc")
            assert variables["vat"]["current"]["value"] == "inc"
        else:
            assert "vat" not in variables, name
        assert (variables["resolution"]["type"], variables["resolution"]["query"]) == ("custom", "30m,1h,1d,7d")
        assert variables["resolution"]["current"]["value"] == "1d"


def test_every_panel_and_query_uses_the_influxdb_datasource_by_uid():
    for name, dashboard in DASHBOARDS.items():
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                assert variable["datasource"] == DATASOURCE, f"{name}: ${variable['name']}"
        for panel in walk_panels(dashboard["panels"]):
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == DATASOURCE, f"{name}: {panel['title']}"
            assert panel["targets"], f"{name}: {panel['title']} has no query"
            for target in panel["targets"]:
                assert target["datasource"] == DATASOURCE, f"{name}: {panel['title']} {target['refId']}"
                assert target["rawQuery"] is True and target["query"].strip(), f"{name}: {panel['title']}"


@pytest.mark.parametrize("query", QUERIES, ids=str)
def test_queries_double_quote_every_name(query):
    assert unquoted_words(substitute(query.text, vat="inc", resolution="1d")) == []


def test_the_provider_loads_the_folder_the_dashboards_are_in():
    provider = yaml.safe_load(PROVIDER_FILE.read_text())["providers"]
    assert len(provider) == 1
    provider = provider[0]
    assert (provider["type"], provider["folder"], provider["allowUiUpdates"]) == ("file", "Octograph", True)
    source, target = DASHBOARDS_MOUNT
    assert provider["options"]["path"] == target
    assert (ROOT / source).resolve() == DASHBOARD_DIR
    # docker-compose mounts our folders where Grafana's provisioning and the provider look.
    grafana = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    mounts = dict(
        (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
        for volume in grafana.get("volumes", [])
    )
    assert mounts[source] == target
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


# -- a week through Dagster into the real InfluxDB ---------------------------------------------------------------


@dataclass
class Week:
    store: InfluxV1Store
    tag_keys: dict[str, set[str]]
    electricity: pd.DataFrame
    gas: pd.DataFrame
    electricity_prices: pd.DataFrame
    gas_prices: pd.DataFrame
    meters: pd.DataFrame
    comparison: pd.DataFrame
    slots: pd.DataFrame
    readings: pd.DataFrame
    emissions: pd.DataFrame
    intensity: pd.DataFrame


@pytest.fixture(scope="module")
def week(influxd, tmp_path_factory) -> Week:
    """FIRST..LAST materialised once for the module (the conftest's `influx`/`make_config` are per test)."""
    store = InfluxV1Store(influxd.url, f"dashboards_{uuid.uuid4().hex[:12]}")
    store.create_database()
    # The household charges a car on Intelligent Octopus (its dispatches' slots have a panel), and Kraken still
    # serves the week's completed dispatches.
    plain = household_simulator()
    household = dataclasses.replace(plain.household, ev_mpan=IMPORT_MPAN, device_id="ev-dashboards")
    simulator = OctopusSimulator(api_key=API_KEY, households=[household], clock=plain.clock)
    simulator.graphql.completed_hours = 24 * 60
    try:
        with pytest.MonkeyPatch.context() as monkeypatch, serve(simulator) as api_prefix:
            monkeypatch.setenv("OCTOGRAPH_TEST_OCTOPUS_API_KEY", API_KEY)
            config = write_config(
                tmp_path_factory.mktemp("dashboards") / "octograph.ini",
                store,
                api_prefix,
                # No included_tags: the dashboards group only by tags the pipeline always writes.
                influxdb={"additional_tags": f"location={LOCATION}"},
                octopus={"gas_meter_types": "G4P0000000001=SMETS2", "intelligent_mpan": IMPORT_MPAN},
                comparison=COMPARED,
                carbon={"enabled": "true", "api_prefix": api_prefix.removesuffix("/v1") + "/carbon"},
            )
            assert materialize_days(config, FIRST.isoformat(), LAST.isoformat()).success
        tag_keys = {
            series["name"]: {key for (key,) in series["values"]} for series in store.query("SHOW TAG KEYS")
        }

        def read(measurement: schema.Measurement) -> pd.DataFrame:
            return store.read([measurement], START, END, {"location": LOCATION})

        yield Week(
            store,
            tag_keys,
            read(schema.ELECTRICITY_CONSUMPTION),
            read(schema.GAS_CONSUMPTION),
            read(schema.ELECTRICITY_PRICING),
            read(schema.GAS_PRICING),
            read(schema.ACCOUNT_METERS),
            read(schema.TARIFF_COMPARISON),
            read(schema.INTELLIGENT_SLOTS),
            read(schema.METER_CONSUMPTION),
            read(schema.EMISSIONS),
            read(schema.CARBON_INTENSITY),
        )
    finally:
        store.drop_database()
        store.close()


def is_export(frame: pd.DataFrame) -> pd.Series:
    """Export rows by their tariff, independently of the dashboards' sign test on usage_kwh."""
    return frame[schema.TARIFF_CODE_TAG].str.contains("OUTGOING")


def daily_mean(frame: pd.DataFrame, column: str) -> float:
    by_day = frame.groupby(frame[schema.TIME].dt.tz_convert(LONDON).dt.date)[column].sum()
    assert list(by_day.index) == [FIRST + dt.timedelta(days=n) for n in range(7)]
    return by_day.mean()


def values(series: list[dict]) -> list:
    """Every non-null value of every row of every series, the time column left out."""
    return [
        value
        for one in series
        for row in one.get("values", [])
        for column, value in zip(one["columns"], row, strict=True)
        if column != "time" and value is not None
    ]


# -- what each query should answer, from the week's points read back -------------------------------------------

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]  # (measurement, the GROUP BY tags and their values)
Answer = dict[SeriesKey, list[tuple]]  # each series' rows: (epoch seconds, value, ...), or (key, value) for SHOW


def answer(series: list[dict]) -> Answer:
    """InfluxDB's answer by series (the chunks of one series joined), each row as a tuple."""
    rows: Answer = {}
    for one in series:
        key = (one["name"], tuple(sorted(one.get("tags", {}).items())))
        rows.setdefault(key, []).extend(tuple(row) for row in one.get("values", []))
    return rows


def same(shown, expected) -> bool:
    """Numbers to 1e-9 (InfluxDB sums in another order); a bucket with nothing to show (null) where the points
    sum to 0 (a half-hour without export: no point has `usage_kwh < 0`); everything else exactly."""
    if isinstance(expected, float):
        if shown is None:
            return expected == 0
        return isinstance(shown, int | float) and shown == pytest.approx(expected, rel=1e-9, abs=1e-9)
    return shown == expected


def differences(shown: Answer, expected: Answer) -> list[str]:
    found = []
    if set(shown) != set(expected):
        found.append(f"series {sorted(shown)}, expected {sorted(expected)}")
    for key in sorted(set(shown) & set(expected)):
        rows, wanted = shown[key], expected[key]
        if len(rows) != len(wanted):
            found.append(f"{key}: {len(rows)} rows, expected {len(wanted)}: {rows[:3]}... vs {wanted[:3]}...")
            continue
        found += [
            f"{key}: row {n} is {row}, expected {want}"
            for n, (row, want) in enumerate(zip(rows, wanted, strict=True))
            if len(row) != len(want) or not all(map(same, row, want))
        ]
    return found


def epoch(moment: pd.Timestamp) -> int:
    return int(moment.timestamp())


def local_midnight(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize(LONDON).tz_convert("UTC")


DAY_BUCKETS = [local_midnight(FIRST + dt.timedelta(days=n)) for n in range((LAST - FIRST).days + 1)]
HALF_HOURS = list(pd.date_range(START, END, freq="30min", inclusive="left"))  # 50 on the 27th


def tag_text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@dataclass
class Expect:
    """What a panel should show for the week at one VAT choice and resolution, from the points read back.
    Import and export are told apart by their tariff (OUTGOING), not by the dashboards' sign test."""

    week: Week
    vat: str
    resolution: str

    @property
    def total(self) -> str:
        return f"total_cost_{self.vat}_vat_pence"

    @property
    def usage_cost(self) -> str:
        return f"usage_cost_{self.vat}_vat_pence"

    @property
    def unit_price(self) -> str:
        return f"unit_price_{self.vat}_vat_price"

    @property
    def standing_charge(self) -> str:
        return f"standing_charge_{self.vat}_vat_price"

    @property
    def imported(self) -> pd.DataFrame:
        return self.week.electricity[~is_export(self.week.electricity)]

    @property
    def exported(self) -> pd.DataFrame:
        return self.week.electricity[is_export(self.week.electricity)]

    def buckets(self, every: str) -> list[pd.Timestamp]:
        return DAY_BUCKETS if every == "1d" else HALF_HOURS

    def bucket_of(self, times: pd.Series, every: str) -> pd.Series:
        if every == "1d":  # local days, 23 to 25 hours long
            return times.dt.tz_convert(LONDON).dt.normalize().dt.tz_convert("UTC")
        return times.dt.floor(pd.Timedelta(every.replace("m", "min")))

    def per_bucket(self, frame, column, how="sum", every=None, fill=True, scale=1.0, cumulative=False) -> list:
        """(bucket start, `how` of the column's values in it × scale) per bucket of the week, oldest first; a
        bucket without values is null, or left out (fill(none))."""
        every = every or self.resolution
        values = frame.dropna(subset=[column])
        grouped = values.groupby(self.bucket_of(values[schema.TIME], every))[column].agg(how)
        if cumulative:
            grouped = grouped.sort_index().cumsum()
        return [
            (epoch(bucket), float(grouped[bucket]) * scale if bucket in grouped.index else None)
            for bucket in self.buckets(every)
            if fill or bucket in grouped.index
        ]

    def per_tags(self, frame: pd.DataFrame, name: str, tags: list[str], rows) -> Answer:
        """One series per combination of the tags' values in the frame, its rows `rows(part)`."""
        return {
            (name, tuple(sorted(zip(tags, map(tag_text, values), strict=True)))): rows(part)
            for values, part in frame.groupby(tags, sort=False)
        }

    def single(self, name: str, *values) -> Answer:
        """One row at the start of the range, as InfluxDB times an aggregate over the whole range."""
        return {(name, ()): [(epoch(START), *map(float, values))]}

    def selected(self, frame: pd.DataFrame, column: str, pick: str) -> tuple:
        """min()/max()/last() over the range: the chosen point's time (the first of equals) and value."""
        ordered = frame.dropna(subset=[column]).sort_values(schema.TIME, kind="stable")
        if pick == "last":
            row = ordered.iloc[-1]
        else:
            target = ordered[column].min() if pick == "min" else ordered[column].max()
            row = ordered[ordered[column] == target].iloc[0]
        return (epoch(row[schema.TIME]), float(row[column]))

    def daily_mean(self, frame: pd.DataFrame, column: str, scale: float = 1.0) -> float:
        return daily_mean(frame, column) * scale

    @property
    def emitted_by_import(self) -> pd.DataFrame:
        emitted = self.week.emissions
        return emitted[(emitted[schema.FUEL] == "electricity") & ~emitted[schema.IS_EXPORT]]

    def grid(self, national: bool) -> pd.DataFrame:
        intensity = self.week.intensity
        return intensity[(intensity[schema.REGION] == schema.NATIONAL) == national]

    def generation_mix(self) -> Answer:
        """Each bucket's mean share of every fuel, in the query's order (GB's points only)."""
        nation = self.grid(national=True)
        per_fuel = [
            self.per_bucket(nation, field, how="mean", fill=False) for field in schema.GENERATION_MIX.values()
        ]
        return {
            ("carbon_intensity", ()): [
                (rows[0][0], *(row[1] for row in rows)) for rows in zip(*per_fuel, strict=True)
            ]
        }

    def location(self, name: str) -> Answer:
        return {(name, ()): [("location", LOCATION)]}

    def agreements(self, fuel: str) -> Answer:
        """The last agreement start and end of each meter and tariff (an open end is written empty), timed at
        the range's start (two selectors in one query)."""
        meters = self.week.meters[self.week.meters[schema.FUEL] == fuel].sort_values(schema.TIME, kind="stable")
        tags = [
            "property_address_line_1", "property_town", "property_postcode", "meter_point", "meter_serial_number",
            "is_export", "tariff_code",
        ]  # fmt: skip

        def last(part: pd.DataFrame) -> list[tuple]:
            return [(epoch(START), part[schema.AGREEMENT_FROM].iloc[-1], part[schema.AGREEMENT_TO].iloc[-1])]

        return self.per_tags(meters, "account_meters", tags, last)


ELECTRICITY_CONSUMPTION, GAS_CONSUMPTION = "electricity_consumption", "gas_consumption"
COMPARED_POINTS = "tariff_comparison"


def comparison_rows(select, cumulative: bool = True):
    """Per product, each local day's sum of the chosen comparison points / 100 (running total if cumulative)."""

    def expected(e: Expect) -> Answer:
        points = select(e, e.week.comparison)
        column = schema.SAVING[e.vat] if not cumulative else e.total
        return e.per_tags(
            points,
            COMPARED_POINTS,
            [schema.PRODUCT_CODE],
            lambda part: e.per_bucket(part, column, every="1d", fill=False, scale=0.01, cumulative=cumulative),
        )

    return expected


def per_tariff_mean(name: str, frame_of, every: str | None = None):
    def expected(e: Expect) -> Answer:
        return e.per_tags(
            frame_of(e.week),
            name,
            [schema.TARIFF_CODE_TAG],
            lambda part: e.per_bucket(part, e.unit_price, how="mean", every=every, fill=False),
        )

    return expected


def import_prices(week: Week) -> pd.DataFrame:
    return week.electricity_prices[~is_export(week.electricity_prices)]


def export_prices(week: Week) -> pd.DataFrame:
    return week.electricity_prices[is_export(week.electricity_prices)]


EXPECTED: dict[tuple[str, str, str], Callable[[Expect], Answer]] = {
    # Tariff comparison
    (COMPARISON, "$location", "variable"): lambda e: e.location(COMPARED_POINTS),
    (COMPARISON, "Cost per product over the range", "A"): lambda e: e.per_tags(
        e.week.comparison,
        COMPARED_POINTS,
        [schema.FUEL, schema.IS_EXPORT, schema.METER_POINT, schema.PRODUCT_CODE],
        lambda part: [
            (epoch(START), part[e.total].sum() / 100, part[schema.SAVING[e.vat]].sum() / 100),
        ],
    ),
    (COMPARISON, "Electricity import: cumulative cost", "A"): comparison_rows(
        lambda e, c: c[(c[schema.FUEL] == "electricity") & ~c[schema.IS_EXPORT]]
    ),
    (COMPARISON, "Export: cumulative earnings (negative)", "A"): comparison_rows(
        lambda e, c: c[c[schema.IS_EXPORT]]
    ),
    (COMPARISON, "Gas: cumulative cost", "A"): comparison_rows(lambda e, c: c[c[schema.FUEL] == "gas"]),
    (COMPARISON, "Saving per day against the actual tariffs", "A"): comparison_rows(
        lambda e, c: c[c[schema.PRODUCT_CODE] != schema.ACTUAL], cumulative=False
    ),
    # Electricity
    (ELECTRICITY, "$location", "variable"): lambda e: e.location(ELECTRICITY_CONSUMPTION),
    (ELECTRICITY, "Electricity imported", "A"): lambda e: e.single(
        ELECTRICITY_CONSUMPTION, e.imported["usage_kwh"].sum()
    ),
    (ELECTRICITY, "Import cost", "A"): lambda e: e.single(
        ELECTRICITY_CONSUMPTION, e.imported[e.total].sum() / 100
    ),
    (ELECTRICITY, "Electricity exported", "A"): lambda e: e.single(
        ELECTRICITY_CONSUMPTION, -e.exported["usage_kwh"].sum()
    ),
    (ELECTRICITY, "Export earnings", "A"): lambda e: e.single(
        ELECTRICITY_CONSUMPTION, -e.exported[e.total].sum() / 100
    ),
    (ELECTRICITY, "Net cost", "A"): lambda e: e.single(
        ELECTRICITY_CONSUMPTION, e.week.electricity[e.total].sum() / 100
    ),
    (ELECTRICITY, "Average unit cost", "A"): lambda e: e.single(
        ELECTRICITY_CONSUMPTION, e.imported[e.usage_cost].sum() / e.imported["usage_kwh"].sum()
    ),
    (ELECTRICITY, "Daily average import", "A"): lambda e: e.single(
        ELECTRICITY_CONSUMPTION, e.daily_mean(e.imported, "usage_kwh")
    ),
    (ELECTRICITY, "Daily average import cost", "A"): lambda e: e.single(
        ELECTRICITY_CONSUMPTION, e.daily_mean(e.imported, e.total, 0.01)
    ),
    (ELECTRICITY, "Daily average net cost", "A"): lambda e: e.single(
        ELECTRICITY_CONSUMPTION, e.daily_mean(e.week.electricity, e.total, 0.01)
    ),
    (ELECTRICITY, "Average unit cost incl. standing charge", "A"): lambda e: e.single(
        ELECTRICITY_CONSUMPTION, e.imported[e.total].sum() / e.imported["usage_kwh"].sum()
    ),
    (ELECTRICITY, "Net cost per day", "A"): lambda e: {
        (ELECTRICITY_CONSUMPTION, ()): e.per_bucket(
            e.week.electricity, e.total, every="1d", fill=False, scale=0.01
        )
    },
    (ELECTRICITY, "Usage", "A"): lambda e: {(ELECTRICITY_CONSUMPTION, ()): e.per_bucket(e.imported, "usage_kwh")},
    (ELECTRICITY, "Usage", "B"): lambda e: {(ELECTRICITY_CONSUMPTION, ()): e.per_bucket(e.exported, "usage_kwh")},
    (ELECTRICITY, "Cost", "A"): lambda e: {
        (ELECTRICITY_CONSUMPTION, ()): e.per_bucket(e.imported, e.total, scale=0.01)
    },
    (ELECTRICITY, "Cost", "B"): lambda e: {
        (ELECTRICITY_CONSUMPTION, ()): e.per_bucket(e.exported, e.total, scale=0.01)
    },
    (ELECTRICITY, "Cost", "C"): lambda e: {
        (ELECTRICITY_CONSUMPTION, ()): e.per_bucket(e.week.electricity, e.total, scale=0.01)
    },
    (ELECTRICITY, "Unit price", "A"): per_tariff_mean("electricity_pricing", lambda week: week.electricity_prices),
    (ELECTRICITY, "Tariffs in the range", "A"): lambda e: e.per_tags(
        e.week.electricity,
        ELECTRICITY_CONSUMPTION,
        [schema.TARIFF_CODE_TAG],
        lambda part: [(epoch(START), part["usage_kwh"].sum(), part[e.total].sum() / 100)],
    ),
    (ELECTRICITY, "Property and meters", "A"): lambda e: e.agreements("electricity"),
    (ELECTRICITY, "Intelligent dispatch slots", "A"): lambda e: e.per_tags(
        e.week.slots[e.week.slots[schema.DISPATCH_STATUS] == schema.COMPLETED],
        "intelligent_slots",
        [schema.DISPATCH_SOURCE],
        lambda part: e.per_bucket(part, "kwh", every="30m", fill=False),
    ),
    # Gas
    (GAS, "$location", "variable"): lambda e: e.location(GAS_CONSUMPTION),
    (GAS, "Gas used", "A"): lambda e: e.single(GAS_CONSUMPTION, e.week.gas["usage_kwh"].sum()),
    (GAS, "Gas cost", "A"): lambda e: e.single(GAS_CONSUMPTION, e.week.gas[e.total].sum() / 100),
    (GAS, "Daily average use", "A"): lambda e: e.single(GAS_CONSUMPTION, e.daily_mean(e.week.gas, "usage_kwh")),
    (GAS, "Daily average cost", "A"): lambda e: e.single(GAS_CONSUMPTION, e.daily_mean(e.week.gas, e.total, 0.01)),
    (GAS, "Average unit cost", "A"): lambda e: e.single(
        GAS_CONSUMPTION, e.week.gas[e.usage_cost].sum() / e.week.gas["usage_kwh"].sum()
    ),
    (GAS, "Average unit cost incl. standing charge", "A"): lambda e: e.single(
        GAS_CONSUMPTION, e.week.gas[e.total].sum() / e.week.gas["usage_kwh"].sum()
    ),
    (GAS, "Cost per day", "A"): lambda e: {
        (GAS_CONSUMPTION, ()): e.per_bucket(e.week.gas, e.total, every="1d", fill=False, scale=0.01)
    },
    (GAS, "Usage", "A"): lambda e: {(GAS_CONSUMPTION, ()): e.per_bucket(e.week.gas, "usage_kwh")},
    (GAS, "Cost", "A"): lambda e: {(GAS_CONSUMPTION, ()): e.per_bucket(e.week.gas, e.total, scale=0.01)},
    (GAS, "Unit price", "A"): per_tariff_mean("gas_pricing", lambda week: week.gas_prices),
    (GAS, "Meter reading (as reported)", "A"): lambda e: e.per_tags(
        e.week.readings[e.week.readings[schema.FUEL] == "gas"],
        "meter_consumption",
        [schema.UNIT],
        lambda part: e.per_bucket(part, schema.CONSUMPTION),
    ),
    (GAS, "Tariffs in the range", "A"): lambda e: e.per_tags(
        e.week.gas,
        GAS_CONSUMPTION,
        [schema.TARIFF_CODE_TAG],
        lambda part: [(epoch(START), part["usage_kwh"].sum(), part[e.total].sum() / 100)],
    ),
    (GAS, "Property and meters", "A"): lambda e: e.agreements("gas"),
    # Carbon
    (CARBON, "$location", "variable"): lambda e: e.location("emissions"),
    (CARBON, "Net emissions", "A"): lambda e: e.single("emissions", e.week.emissions["emissions_g"].sum() / 1000),
    (CARBON, "Import emissions", "A"): lambda e: e.single(
        "emissions", e.emitted_by_import["emissions_g"].sum() / 1000
    ),
    (CARBON, "Avoided by export", "A"): lambda e: e.single(
        "emissions", e.week.emissions.loc[e.week.emissions[schema.IS_EXPORT], "emissions_g"].sum() / -1000
    ),
    (CARBON, "Gas emissions", "A"): lambda e: e.single(
        "emissions", e.week.emissions.loc[e.week.emissions[schema.FUEL] == "gas", "emissions_g"].sum() / 1000
    ),
    (CARBON, "Intensity your import met", "A"): lambda e: e.single(
        "emissions", e.emitted_by_import["emissions_g"].sum() / e.emitted_by_import["usage_kwh"].sum()
    ),
    (CARBON, "Your region's average intensity", "A"): lambda e: e.single(
        "carbon_intensity", e.grid(national=False)["forecast_g_per_kwh"].mean()
    ),
    (CARBON, "Emissions per day", "A"): lambda e: e.per_tags(
        e.week.emissions,
        "emissions",
        [schema.FUEL, schema.IS_EXPORT],
        lambda part: e.per_bucket(part, "emissions_g", every="1d", fill=False, scale=0.001),
    ),
    (CARBON, "Grid carbon intensity vs usage", "A"): lambda e: e.per_tags(
        e.week.intensity,
        "carbon_intensity",
        [schema.REGION],
        lambda part: e.per_bucket(part, "forecast_g_per_kwh", how="mean", fill=False),
    ),
    (CARBON, "Grid carbon intensity vs usage", "B"): lambda e: {
        ("carbon_intensity", ()): e.per_bucket(e.grid(national=True), "actual_g_per_kwh", how="mean", fill=False)
    },
    (CARBON, "Grid carbon intensity vs usage", "C"): lambda e: {
        ("emissions", ()): e.per_bucket(e.emitted_by_import, "usage_kwh", fill=False)
    },
    (CARBON, "Generation mix (GB)", "A"): lambda e: e.generation_mix(),
    # Prices
    (PRICES, "$location", "variable"): lambda e: e.location("electricity_pricing"),
    (PRICES, "Lowest import unit price", "A"): lambda e: {
        ("electricity_pricing", ()): [e.selected(import_prices(e.week), e.unit_price, "min")]
    },
    (PRICES, "Average import unit price", "A"): lambda e: e.single(
        "electricity_pricing", import_prices(e.week)[e.unit_price].mean()
    ),
    (PRICES, "Highest import unit price", "A"): lambda e: {
        ("electricity_pricing", ()): [e.selected(import_prices(e.week), e.unit_price, "max")]
    },
    (PRICES, "Average export unit price", "A"): lambda e: e.single(
        "electricity_pricing", export_prices(e.week)[e.unit_price].mean()
    ),
    (PRICES, "Electricity unit price per half-hour", "A"): per_tariff_mean(
        "electricity_pricing", lambda week: week.electricity_prices, every="30m"
    ),
    (PRICES, "Average gas unit price", "A"): lambda e: e.single(
        "gas_pricing", e.week.gas_prices[e.unit_price].mean()
    ),
    (PRICES, "Gas unit price", "A"): per_tariff_mean("gas_pricing", lambda week: week.gas_prices),
    (PRICES, "Standing charges", "A"): lambda e: {
        **e.per_tags(
            e.week.electricity_prices,
            "electricity_pricing",
            [schema.TARIFF_CODE_TAG],
            lambda part: [e.selected(part, e.standing_charge, "last")],
        ),
        **e.per_tags(
            e.week.gas_prices,
            "gas_pricing",
            [schema.TARIFF_CODE_TAG],
            lambda part: [e.selected(part, e.standing_charge, "last")],
        ),
    },
}


def test_every_query_has_an_expected_answer():
    assert {(query.uid, query.panel, query.ref) for query in QUERIES} == set(EXPECTED)


KWH, GBP, PENCE_PER_KWH = "kwatth", "currencyGBP", "suffix: p/kWh"
KG, GRAMS_PER_KWH = "masskg", "suffix: g/kWh"


def expected_stats(week: Week, vat: str) -> dict[tuple[str, str], tuple[str, float]]:
    """(dashboard uid, panel title) -> (unit, the sum of that panel's values) from the points read back."""
    total, usage_cost, price = (
        f"total_cost_{vat}_vat_pence",
        f"usage_cost_{vat}_vat_pence",
        f"unit_price_{vat}_vat_price",
    )
    electricity, gas = week.electricity, week.gas
    imported, exported = electricity[~is_export(electricity)], electricity[is_export(electricity)]
    import_prices = week.electricity_prices[~is_export(week.electricity_prices)][price]
    export_prices = week.electricity_prices[is_export(week.electricity_prices)][price]
    kwh = imported["usage_kwh"].sum()
    net = electricity[total].sum() / 100
    return {
        (ELECTRICITY, "Electricity imported"): (KWH, kwh),
        (ELECTRICITY, "Import cost"): (GBP, imported[total].sum() / 100),
        (ELECTRICITY, "Electricity exported"): (KWH, -exported["usage_kwh"].sum()),
        (ELECTRICITY, "Export earnings"): (GBP, -exported[total].sum() / 100),
        (ELECTRICITY, "Net cost"): (GBP, net),
        (ELECTRICITY, "Net cost per day"): (GBP, net),
        (ELECTRICITY, "Average unit cost"): (PENCE_PER_KWH, imported[usage_cost].sum() / kwh),
        (ELECTRICITY, "Average unit cost incl. standing charge"): (PENCE_PER_KWH, imported[total].sum() / kwh),
        (ELECTRICITY, "Daily average import"): (KWH, daily_mean(imported, "usage_kwh")),
        (ELECTRICITY, "Daily average import cost"): (GBP, daily_mean(imported, total) / 100),
        (ELECTRICITY, "Daily average net cost"): (GBP, daily_mean(electricity, total) / 100),
        (GAS, "Gas used"): (KWH, gas["usage_kwh"].sum()),
        (GAS, "Gas cost"): (GBP, gas[total].sum() / 100),
        (GAS, "Cost per day"): (GBP, gas[total].sum() / 100),
        (GAS, "Daily average use"): (KWH, daily_mean(gas, "usage_kwh")),
        (GAS, "Daily average cost"): (GBP, daily_mean(gas, total) / 100),
        (GAS, "Average unit cost"): (PENCE_PER_KWH, gas[usage_cost].sum() / gas["usage_kwh"].sum()),
        (GAS, "Average unit cost incl. standing charge"): (
            PENCE_PER_KWH,
            gas[total].sum() / gas["usage_kwh"].sum(),
        ),
        (PRICES, "Lowest import unit price"): (PENCE_PER_KWH, import_prices.min()),
        (PRICES, "Average import unit price"): (PENCE_PER_KWH, import_prices.mean()),
        (PRICES, "Highest import unit price"): (PENCE_PER_KWH, import_prices.max()),
        (PRICES, "Average export unit price"): (PENCE_PER_KWH, export_prices.mean()),
        (PRICES, "Average gas unit price"): (PENCE_PER_KWH, week.gas_prices[price].mean()),
        **carbon_stats(week),
    }


def carbon_stats(week: Week) -> dict[tuple[str, str], tuple[str, float]]:
    """The carbon dashboard's totals, from the `emissions` and `carbon_intensity` points read back; import and
    export told apart by the `priced_consumption` tariffs of their meter points, not by the dashboard's tags."""
    emitted = week.emissions
    export_points = set(week.meters.loc[week.meters["tariff_code"].str.contains("OUTGOING"), schema.METER_POINT])
    exported = emitted[schema.METER_POINT].isin(export_points)
    imported = emitted[(emitted[schema.FUEL] == "electricity") & ~exported]
    grams = emitted["emissions_g"]
    regional = week.intensity[week.intensity[schema.REGION] != schema.NATIONAL]
    return {
        (CARBON, "Net emissions"): (KG, grams.sum() / 1000),
        (CARBON, "Import emissions"): (KG, imported["emissions_g"].sum() / 1000),
        (CARBON, "Avoided by export"): (KG, -grams[exported].sum() / 1000),
        (CARBON, "Gas emissions"): (KG, grams[emitted[schema.FUEL] == "gas"].sum() / 1000),
        (CARBON, "Emissions per day"): (KG, grams.sum() / 1000),
        (CARBON, "Intensity your import met"): (
            GRAMS_PER_KWH,
            imported["emissions_g"].sum() / imported["usage_kwh"].sum(),
        ),
        (CARBON, "Your region's average intensity"): (GRAMS_PER_KWH, regional["forecast_g_per_kwh"].mean()),
    }


def panels_by_title() -> dict[tuple[str, str], dict]:
    panels = {}
    for dashboard in DASHBOARDS.values():
        for panel in walk_panels(dashboard["panels"]):
            key = (dashboard["uid"], panel.get("title", ""))
            assert key not in panels, f"two panels titled {key}"
            panels[key] = panel
    return panels


@pytest.mark.integration
def test_the_week_has_what_the_dashboards_show(week):
    """Agile import, fixed export (negative usage and cost), gas and a standing charge: nothing is vacuous."""
    electricity = week.electricity
    assert set(electricity[~is_export(electricity)]["tariff_code"]) == {"E-1R-AGILE-24-10-01-C"}
    assert set(electricity[is_export(electricity)]["tariff_code"]) == {"E-1R-OUTGOING-FIX-12M-19-05-13-C"}
    exported = electricity[is_export(electricity)]
    assert (exported["usage_kwh"] <= 0).all() and exported["usage_kwh"].sum() < 0
    assert (exported["total_cost_inc_vat_pence"] <= 0).all()
    assert (electricity[~is_export(electricity)]["usage_kwh"] >= 0).all()
    assert week.gas["usage_kwh"].sum() > 0 and week.gas["standing_charge_cost_inc_vat_pence"].sum() > 0
    assert week.electricity_prices["unit_price_inc_vat_price"].nunique() > 2  # Agile moves every half-hour
    assert {"location", "tariff_code"} <= week.tag_keys["electricity_consumption"]


@pytest.mark.integration
@pytest.mark.parametrize(("query", "text", "vat", "resolution"), CASES)
def test_every_query_shows_what_the_points_give(week, query, text, vat, resolution):
    """Each query's answer on InfluxDB, series by series and row by row (time and values), equals what that
    panel should show, computed in Python from the week's points read back: not merely some data."""
    left = [match[0] for match in MACRO.finditer(text)]
    assert not left, f"{query}: Grafana macros the test does not know: {left}"
    unknown = unknown_names(text, week.tag_keys)
    assert not unknown, f"{query}: names the pipeline does not write: {unknown}\n{text}"
    shown = answer(week.store.query(text))  # raises on a parse or evaluation error
    assert (query.uid, query.panel, query.ref) in EXPECTED, f"{query}: no expected answer for this panel"
    expected = EXPECTED[query.uid, query.panel, query.ref](Expect(week, vat, resolution))
    assert any(rows for rows in expected.values()), f"{query}: the expectation is empty: the test would be vacuous"
    problems = differences(shown, expected)
    assert not problems, f"{query}:\n{text}\n- " + "\n- ".join(problems[:20])


@pytest.mark.integration
@pytest.mark.parametrize("vat", ["inc", "exc"])
def test_totals_equal_the_pipelines_sums(week, vat):
    """Every stat panel (and the per-day bars, summed) shows the sum of the points the pipeline wrote."""
    panels = panels_by_title()
    expected = expected_stats(week, vat)
    stats = {key for key, panel in panels.items() if panel["type"] == "stat"}
    assert stats <= set(expected), f"stat panels without an expected value: {sorted(stats - set(expected))}"
    failures = []
    for key, (unit, value) in expected.items():
        panel = panels[key]
        assert len(panel["targets"]) == 1, key
        text = substitute(panel["targets"][0]["query"], vat=vat, resolution="1d")
        shown = values(week.store.query(text))
        if panel["fieldConfig"]["defaults"].get("unit") != unit:
            failures.append(f"{key}: unit {panel['fieldConfig']['defaults'].get('unit')!r}, expected {unit!r}")
        if panel["type"] == "stat" and len(shown) != 1:
            failures.append(f"{key}: {len(shown)} values, expected one")
        elif sum(shown) != pytest.approx(value, abs=1e-6):
            failures.append(f"{key}: shows {sum(shown)!r}, the pipeline's points give {float(value)!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.integration
def test_tables_list_the_weeks_tariffs_and_meters(week):
    panels = panels_by_title()

    def rows(key: tuple[str, str]) -> list[dict]:
        text = substitute(panels[key]["targets"][0]["query"], vat="inc", resolution="1d")
        return [series["tags"] for series in week.store.query(text)]

    assert {row["tariff_code"] for row in rows((ELECTRICITY, "Tariffs in the range"))} == set(
        week.electricity["tariff_code"]
    )
    assert {row["tariff_code"] for row in rows((GAS, "Tariffs in the range"))} == set(week.gas["tariff_code"])
    standing = {row["tariff_code"] for row in rows((PRICES, "Standing charges"))}
    assert standing == set(week.electricity_prices["tariff_code"]) | set(week.gas_prices["tariff_code"])
    address = week.meters[list(schema.PROPERTY_TAGS[:1] + schema.PROPERTY_TAGS[3:])].drop_duplicates()
    assert len(address) == 1
    for key, meter_points in (
        ((ELECTRICITY, "Property and meters"), {IMPORT_MPAN, EXPORT_MPAN}),
        ((GAS, "Property and meters"), {GAS_MPRN}),
    ):
        shown = rows(key)
        assert {row["meter_point"] for row in shown} == meter_points
        for row in shown:
            assert {tag: row[tag] for tag in address.columns} == address.iloc[0].to_dict()


@pytest.mark.integration
@pytest.mark.parametrize("vat", ["inc", "exc"])
def test_the_comparison_dashboard_shows_the_assets_sums(week, vat):
    """The table's cost and saving per meter point and product, each cumulative line's last day and the saving
    bars all equal the sums of the `tariff_comparison` points read back, and the actual is what the import cost."""
    panels = panels_by_title()
    compared = week.comparison
    total, saving = schema.TOTAL_COST[vat], schema.SAVING[vat]
    assert set(compared[schema.PRODUCT_CODE]) == {schema.ACTUAL, *re.split(r",\s*", ",".join(COMPARED.values()))}

    def query(title: str) -> list[dict]:
        return week.store.query(
            substitute(panels[(COMPARISON, title)]["targets"][0]["query"], vat=vat, resolution="1d")
        )

    sums = compared.groupby([schema.METER_POINT, schema.PRODUCT_CODE])[[total, saving]].sum() / 100
    shown = {
        (one["tags"][schema.METER_POINT], one["tags"][schema.PRODUCT_CODE]): one["values"][0][1:]
        for one in query("Cost per product over the range")
    }
    assert set(shown) == set(sums.index)
    for key, (cost, saved) in shown.items():
        assert (cost, saved) == pytest.approx(tuple(sums.loc[key]), abs=1e-9), key

    imported = compared[(compared[schema.FUEL] == "electricity") & ~compared[schema.IS_EXPORT]]
    by_product = imported.groupby(schema.PRODUCT_CODE)[total].sum() / 100
    lines = {
        one["tags"][schema.PRODUCT_CODE]: one["values"] for one in query("Electricity import: cumulative cost")
    }
    assert {product: values[-1][1] for product, values in lines.items()} == pytest.approx(by_product.to_dict())
    assert all(len(values) == 7 for values in lines.values())
    # The actual is what priced_consumption wrote; Agile, the import's own product, costs more here only because
    # Intelligent Octopus bills the car's smart charges at the off-peak rate and Agile would not.
    actual_import = week.electricity[~is_export(week.electricity)][total].sum() / 100
    assert by_product[schema.ACTUAL] == pytest.approx(actual_import, abs=1e-9)
    assert by_product["AGILE-24-10-01"] > by_product[schema.ACTUAL]

    bars = {
        one["tags"][schema.PRODUCT_CODE]: sum(v for _, v in one["values"])
        for one in query("Saving per day against the actual tariffs")
    }
    candidates = compared[compared[schema.PRODUCT_CODE] != schema.ACTUAL]
    assert bars == pytest.approx((candidates.groupby(schema.PRODUCT_CODE)[saving].sum() / 100).to_dict())


@pytest.mark.integration
def test_the_dispatch_panel_shows_the_stored_slots(week):
    """kWh per half-hour by source equals the completed slots the intelligent_dispatches asset stored."""
    panel = panels_by_title()[(ELECTRICITY, "Intelligent dispatch slots")]
    shown = {
        one["tags"]["source"]: sum(value for _, value in one["values"])
        for one in week.store.query(substitute(panel["targets"][0]["query"], vat="inc", resolution="1d"))
    }
    completed = week.slots[week.slots[schema.DISPATCH_STATUS] == schema.COMPLETED]
    assert set(shown) == {"smart-charge", "bump-charge"}
    assert shown == pytest.approx(completed.groupby(schema.DISPATCH_SOURCE)["kwh"].sum().to_dict())
