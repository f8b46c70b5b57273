"""InfluxDB access: line protocol, v1 against the real server, v2 against a capture server."""

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from octograph_pipeline.influx import schema
from octograph_pipeline.influx.store import InfluxV1Store, InfluxV2Store, frame_to_lines

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
            payload = json.dumps(
                {
                    "results": [
                        {
                            "statement_id": 0,
                            "series": [
                                {
                                    "name": "electricity_pricing",
                                    "columns": ["time", "tariff_code", "unit_price_exc_vat_price"],
                                    "values": [[1718150400, "NEW", 11.0]],
                                }
                            ],
                        }
                    ]
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        else:
            self.send_response(204)
            self.end_headers()

    do_GET = do_POST = _capture

    def log_message(self, *args):
        pass


@pytest.fixture
def capture_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), CaptureHandler)
    server.captured = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_v2_exchange(capture_server):
    """No InfluxDB 2.x server exists on these machines, so the exact HTTP exchange of the v2 store is checked
    against a local capture server: delete via /api/v2/delete, write via /api/v2/write, read via /query."""
    url = f"http://127.0.0.1:{capture_server.server_port}"
    store = InfluxV2Store(url, org="primary", bucket="energy", token="secret-token")
    frame = pricing_frame("NEW", 11.0, ["2024-06-12T00:00Z"])
    store.replace([schema.ELECTRICITY_PRICING], *DAY, {"location": "Home"}, frame)
    back = store.read([schema.ELECTRICITY_PRICING], *DAY, {"location": "Home"})
    store.close()

    delete, write, query = capture_server.captured
    assert (delete["method"], delete["path"]) == ("POST", "/api/v2/delete")
    assert delete["query"] == {"org": ["primary"], "bucket": ["energy"]}
    assert delete["headers"]["Authorization"] == "Token secret-token"
    assert json.loads(delete["body"]) == {
        "start": "2024-06-11T23:00:00.000000000Z",
        "stop": "2024-06-12T22:59:59.999999999Z",
        "predicate": '_measurement="electricity_pricing" AND location="Home"',
    }
    assert (write["method"], write["path"]) == ("POST", "/api/v2/write")
    assert write["query"] == {"org": ["primary"], "bucket": ["energy"], "precision": ["s"]}
    assert write["headers"]["Authorization"] == "Token secret-token"
    assert write["body"] == "\n".join(frame_to_lines(frame))
    assert (query["method"], query["path"]) == ("GET", "/query")
    assert query["query"]["db"] == ["energy"]
    assert query["headers"]["Authorization"] == "Token secret-token"
    assert query["query"]["q"] == [
        "SELECT * FROM \"electricity_pricing\" WHERE time >= '2024-06-11T23:00:00.000000Z' "
        "AND time < '2024-06-12T23:00:00.000000Z' AND \"location\" = 'Home'"
    ]
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
