"""InfluxDB access: line protocol, v1 against the real server, v2 against a capture server."""

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from octograph_pipeline.clients import influx as store_module
from octograph_pipeline.clients.influx import (
    InfluxError,
    InfluxRefused,
    InfluxV1Store,
    InfluxV2Store,
    frame_to_lines,
)
from octograph_pipeline.core import schema

DAY = pd.Timestamp("2024-06-11T23:00Z"), pd.Timestamp("2024-06-12T23:00Z")


def pricing_frame(tariff_code: str, price: float, times) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "measurement": "electricity_pricing",
            "time": pd.to_datetime(times, utc=True),
            "tariff_code": tariff_code,
            "location": "Home Sweet, Home",
            "unit_price_exc_vat_price": price,
            "unit_price_inc_vat_price": price * 1.05,
        }
    )


def test_line_protocol_writes_floats_escapes_tags_and_skips_empty_values():
    frame = pricing_frame("E-1R-AGILE-24-10-01-C", 20, ["2024-06-12T00:00Z"]).assign(
        property_town="", unit_price_inc_vat_price=float("nan")
    )
    assert frame_to_lines(frame) == [
        "electricity_pricing,location=Home\\ Sweet\\,\\ Home,tariff_code=E-1R-AGILE-24-10-01-C "
        "unit_price_exc_vat_price=20 1718150400"
    ]  # 20 without an `i` suffix is a float in line protocol


@pytest.mark.integration
def test_v1_replace_deletes_only_the_window_and_scope(influx):
    inside = pricing_frame("OLD", 10.0, ["2024-06-12T00:00Z", "2024-06-12T22:30Z"])
    before = pricing_frame("OLD", 9.0, ["2024-06-11T22:30Z"])
    other_location = pricing_frame("OLD", 8.0, ["2024-06-12T01:00Z"]).assign(location="Office")
    influx.write_lines(frame_to_lines(pd.concat([inside, before, other_location])))

    replacement = pricing_frame("NEW", 11.0, ["2024-06-12T00:00Z"])
    written = influx.replace([schema.ELECTRICITY_PRICING], *DAY, {"location": "Home Sweet, Home"}, replacement)
    assert written == 1

    everything = influx.read(
        [schema.ELECTRICITY_PRICING], pd.Timestamp("2024-01-01T00:00Z"), pd.Timestamp("2025-01-01T00:00Z"), {}
    )
    rows = sorted(
        zip(everything["time"].astype(str), everything["tariff_code"], everything["location"], strict=True)
    )
    assert rows == [
        ("2024-06-11 22:30:00+00:00", "OLD", "Home Sweet, Home"),  # the day before: untouched
        ("2024-06-12 00:00:00+00:00", "NEW", "Home Sweet, Home"),  # replaced, old tariff's point gone
        ("2024-06-12 01:00:00+00:00", "OLD", "Office"),  # another config's scope: untouched
    ]
    assert everything["unit_price_exc_vat_price"].dtype == float


class CaptureHandler(BaseHTTPRequestHandler):
    """Records every request; answers like InfluxDB 2.x would (204 for writes and deletes)."""

    def _capture(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        url = urlsplit(self.path)
        self.server.captured.append(
            {
                "method": self.command,
                "path": url.path,
                "query": parse_qs(url.query),
                "headers": dict(self.headers),
                "body": body.decode(),
            }
        )
        if url.path == "/query":
            payload = json.dumps({"results": [{"statement_id": 0, "series": self.server.answers.pop(0)}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Influxdb-Version", "v2.7.11")  # as every InfluxDB answer
            self.end_headers()
            self.wfile.write(payload)
        else:
            self.send_response(204)
            self.send_header("X-Influxdb-Version", "v2.7.11")
            self.end_headers()

    do_GET = do_POST = _capture

    def log_message(self, *args):
        pass


@pytest.fixture
def capture_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), CaptureHandler)
    server.captured = []
    server.answers = []  # the series each /query answers with, in turn
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_v2_exchange(capture_server):
    """No InfluxDB 2.x server exists on these machines, so the exact HTTP exchange of the v2 store is checked
    against a local capture server: the window's points listed via /query, the new ones written via
    /api/v2/write, then the old series the write did not overwrite deleted via /api/v2/delete (one of them
    without a tag: `k=""`), read via /query."""
    url = f"http://127.0.0.1:{capture_server.server_port}"
    old = {"name": "electricity_pricing", "tags": {"location": "Home", "tariff_code": "OLD"}}
    untagged = {"name": "electricity_pricing", "tags": {"location": "Home", "tariff_code": ""}}  # no such tag
    capture_server.answers = [
        [
            {
                **old,
                "columns": ["time", "unit_price_exc_vat_price"],
                "values": [[1718150400, 10.0], [1718152200, 10.0]],
            },
            {**untagged, "columns": ["time", "unit_price_exc_vat_price"], "values": [[1718154000, 9.0]]},
        ],
        [
            {
                "name": "electricity_pricing",
                "columns": ["time", "tariff_code", "unit_price_exc_vat_price"],
                "values": [[1718150400, "NEW", 11.0]],
            }
        ],
    ]
    store = InfluxV2Store(url, org="primary", bucket="energy", token="secret-token")
    frame = pricing_frame("NEW", 11.0, ["2024-06-12T00:00Z"]).assign(location="Home")
    store.replace([schema.ELECTRICITY_PRICING], *DAY, {"location": "Home"}, frame)
    back = store.read([schema.ELECTRICITY_PRICING], *DAY, {"location": "Home"})
    store.close()

    listing, write, delete_untagged, delete, query = capture_server.captured
    window = (
        "time >= '2024-06-11T23:00:00.000000Z' AND time < '2024-06-12T23:00:00.000000Z' AND \"location\" = 'Home'"
    )
    assert (listing["method"], listing["path"]) == ("GET", "/query")
    assert listing["query"]["q"] == [f'SELECT * FROM "electricity_pricing" WHERE {window} GROUP BY *']
    assert (write["method"], write["path"]) == ("POST", "/api/v2/write")
    assert write["query"] == {"org": ["primary"], "bucket": ["energy"], "precision": ["s"]}
    assert write["headers"]["Authorization"] == "Token secret-token"
    assert write["body"] == "\n".join(frame_to_lines(frame))
    assert (delete["method"], delete["path"]) == ("POST", "/api/v2/delete")
    assert delete["query"] == {"org": ["primary"], "bucket": ["energy"]}
    assert delete["headers"]["Authorization"] == "Token secret-token"
    assert json.loads(delete["body"]) == {  # the old series, both of its points (the stop is inclusive)
        "start": "2024-06-12T00:00:00.000000000Z",
        "stop": "2024-06-12T00:30:00.000000000Z",
        "predicate": '_measurement="electricity_pricing" AND location="Home" AND tariff_code="OLD"',
    }
    # A series without a tag the measurement has: InfluxQL lists it with that tag empty, and only `k=""` keeps
    # the delete to that series (without it, the predicate would also match the series just written).
    assert (delete_untagged["method"], delete_untagged["path"]) == ("POST", "/api/v2/delete")
    assert json.loads(delete_untagged["body"]) == {
        "start": "2024-06-12T01:00:00.000000000Z",
        "stop": "2024-06-12T01:00:00.000000000Z",
        "predicate": '_measurement="electricity_pricing" AND location="Home" AND tariff_code=""',
    }
    assert (query["method"], query["path"]) == ("GET", "/query")
    assert query["query"]["db"] == ["energy"]
    assert query["headers"]["Authorization"] == "Token secret-token"
    assert query["query"]["q"] == [f'SELECT * FROM "electricity_pricing" WHERE {window}']
    assert back["tariff_code"].tolist() == ["NEW"]


def test_v1_store_uses_db_rp_and_user_password(influxd):
    store = InfluxV1Store(influxd.url, "energy/autogen", token="user:pass")
    assert store._query_params() == {"db": "energy", "rp": "autogen"}
    assert store.http.auth == ("user", "pass")


@pytest.mark.integration
def test_v1_store_with_a_retention_policy_reads_and_writes_there(influx):
    influx.query(f'CREATE RETENTION POLICY "kept" ON "{influx.database}" DURATION 0s REPLICATION 1', method="POST")
    in_rp = InfluxV1Store(influx.url, f"{influx.database}/kept")
    frame = pricing_frame("RP", 12.0, ["2024-06-12T00:00Z"])
    in_rp.replace([schema.ELECTRICITY_PRICING], *DAY, {}, frame)
    assert in_rp.read([schema.ELECTRICITY_PRICING], *DAY, {})["tariff_code"].tolist() == ["RP"]
    assert influx.read([schema.ELECTRICITY_PRICING], *DAY, {}).empty  # not in the default policy
    in_rp.close()


def everything(store: InfluxV1Store) -> list[tuple]:
    frame = store.read(
        [schema.ELECTRICITY_PRICING], pd.Timestamp("2024-01-01T00:00Z"), pd.Timestamp("2025-01-01T00:00Z"), {}
    )
    columns = ["time", "tariff_code", "location", "unit_price_exc_vat_price"]
    return sorted(tuple(row) for row in frame[columns].astype(str).itertuples(index=False))


@pytest.mark.integration
def test_v1_replace_overwrites_then_deletes_only_what_the_write_did_not(influx):
    """Old: tariff A at 00:00 and 00:30, tariff B at 00:00, 00:30 and 01:00. New: B at 00:00 and 00:30 (new
    prices), C at 00:00. A goes as a whole series, B's 01:00 point alone, and nothing outside the scope."""
    home = "Home Sweet, Home"
    old = pd.concat(
        [
            pricing_frame("A", 10.0, ["2024-06-12T00:00Z", "2024-06-12T00:30Z"]),
            pricing_frame("B", 20.0, ["2024-06-12T00:00Z", "2024-06-12T00:30Z", "2024-06-12T01:00Z"]),
            pricing_frame("A", 9.0, ["2024-06-12T00:00Z"]).assign(location="Office"),  # another config's
        ]
    )
    influx.write_lines(frame_to_lines(old))
    new = pd.concat(
        [
            pricing_frame("B", 21.0, ["2024-06-12T00:00Z", "2024-06-12T00:30Z"]),
            pricing_frame("C", 30.0, ["2024-06-12T00:00Z"]),
        ]
    )
    assert influx.replace([schema.ELECTRICITY_PRICING], *DAY, {"location": home}, new) == 3
    assert everything(influx) == [
        ("2024-06-12 00:00:00+00:00", "A", "Office", "9.0"),
        ("2024-06-12 00:00:00+00:00", "B", home, "21.0"),
        ("2024-06-12 00:00:00+00:00", "C", home, "30.0"),
        ("2024-06-12 00:30:00+00:00", "B", home, "21.0"),
    ]


def test_v1_replace_drops_a_field_the_new_point_no_longer_has(influx):
    """InfluxDB would keep a field a write leaves out: a half-hour priced before, unpriced now (NaN), must read
    back without its old price, while the points that kept all their fields are left as written."""
    times = ["2024-06-12T00:00Z", "2024-06-12T00:30Z"]
    influx.replace([schema.ELECTRICITY_PRICING], *DAY, {}, pricing_frame("A", 10.0, times))
    new = pricing_frame("A", 11.0, times)
    new.loc[1, "unit_price_inc_vat_price"] = float("nan")
    assert influx.replace([schema.ELECTRICITY_PRICING], *DAY, {}, new) == 2
    stored = influx.read([schema.ELECTRICITY_PRICING], *DAY, {})
    assert stored["unit_price_exc_vat_price"].tolist() == [11.0, 11.0]
    assert stored["unit_price_inc_vat_price"].tolist()[0] == pytest.approx(11.55)
    assert pd.isna(stored["unit_price_inc_vat_price"].tolist()[1])


@pytest.mark.integration
def test_a_write_that_fails_leaves_the_window_as_it_was(influx, failing_writes):
    influx.replace([schema.ELECTRICITY_PRICING], *DAY, {}, pricing_frame("OLD", 10.0, ["2024-06-12T00:00Z"]))
    before = everything(influx)
    with InfluxV1Store(failing_writes, influx.database) as broken, pytest.raises(InfluxError, match="HTTP 500"):
        broken.replace([schema.ELECTRICITY_PRICING], *DAY, {}, pricing_frame("NEW", 11.0, ["2024-06-12T00:00Z"]))
    assert everything(influx) == before != []


@pytest.mark.integration
def test_what_influxdb_refuses_is_final_and_says_what_to_check(influx):
    with InfluxV1Store(influx.url, "no_such_database") as missing, pytest.raises(InfluxRefused) as error:
        missing.read([schema.ELECTRICITY_PRICING], *DAY, {})
    assert "database not found" in str(error.value) and "[influxdb] bucket" in str(error.value)
    with InfluxV1Store("http://127.0.0.1:9", influx.database) as unreachable, pytest.raises(InfluxError) as error:
        unreachable.read([schema.ELECTRICITY_PRICING], *DAY, {})
    assert not isinstance(error.value, InfluxRefused)  # a server restarting: worth a retry
    assert "cannot reach InfluxDB at [influxdb] url = http://127.0.0.1:9: connection refused" in str(error.value)


@pytest.mark.parametrize(
    ("status", "message", "final"),
    [
        (401, "authorization failed", True),  # a wrong password: no InfluxDB here runs with auth to ask
        (403, "insufficient permissions", True),
        (404, "bucket not found", True),
        (400, "unable to parse 'x': missing fields", True),
        (500, "engine: cache maximum memory size exceeded", False),
        (503, "service unavailable", False),
    ],
)
def test_influxdb_answers_are_classified_once(status, message, final):
    error = store_module._failure(status, message, "a write", "energy")
    assert isinstance(error, InfluxRefused) == final and message in str(error)
