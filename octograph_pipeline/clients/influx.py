"""InfluxDB access for both generations: writes, deletes and InfluxQL reads of points frames.

A points frame is a pandas DataFrame with a `measurement` column, a UTC `time` column, one column per
field declared in `schema` and every other column a tag. InfluxDB 1.x is spoken over its v1 HTTP API;
2.x/Cloud through `influxdb-client`. Both answer InfluxQL on `/query`, so reads share one path.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import pandas as pd
import requests
import urllib3

from octograph_pipeline.clients.net import connection_problem
from octograph_pipeline.core.schema import (
    BOOLEAN_TAGS,
    ENERGY,
    FUEL,
    GAS_CONSUMPTION,
    IS_EXPORT,
    MEASUREMENT,
    MEASUREMENTS,
    METER_CONSUMPTION,
    METER_POINT,
    TIME,
    USAGE_KWH,
    Measurement,
)
from octograph_pipeline.core.settings import InfluxSettings

BATCH_SIZE = 5000
DELETES_PER_QUERY = 500  # statements joined into one InfluxQL request


class InfluxError(RuntimeError):
    """InfluxDB failed a request (a server error, no connection): worth retrying later. The message says which."""


class InfluxRefused(InfluxError):
    """InfluxDB refused a request, which retrying will not mend: credentials, a missing database or bucket."""


class NonFiniteValue(ValueError):
    """A frame holds an infinite number (NaN is an absent field): refused before anything is written."""


def _message(body: str) -> str:
    """InfluxDB's own words: the `error`/`message` of its JSON body, else the start of the body."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()[:300] or "no message"
    return str(parsed.get("error") or parsed.get("message") or parsed)[:300] if isinstance(parsed, dict) else body


def _failure(status: int, message: str, what: str, database: str) -> InfluxError:
    """The error for InfluxDB's answer to `what`: a refusal for what will not mend, else worth a retry."""
    if status in (401, 403):
        return InfluxRefused(
            f"InfluxDB refused {what} ({message}): check the credentials in the variable named by "
            "[influxdb] token_env_var"
        )
    if status == 404 or "not found" in message:
        return InfluxRefused(f"InfluxDB refused {what}: {message}; check [influxdb] bucket = {database}")
    if 400 <= status < 500:
        return InfluxRefused(f"InfluxDB refused {what} (HTTP {status}): {message}")
    return InfluxError(f"InfluxDB failed {what} (HTTP {status}): {message}")


def quote_identifier(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _rfc3339(moment: pd.Timestamp) -> str:
    return pd.Timestamp(moment).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def window_condition(start: pd.Timestamp, end: pd.Timestamp, tags: Mapping[str, str]) -> str:
    """InfluxQL WHERE clause for [start, end) and tag equality: the scope one config owns."""
    parts = [f"time >= {quote_string(_rfc3339(start))}", f"time < {quote_string(_rfc3339(end))}"]
    parts += [f"{quote_identifier(k)} = {quote_string(v)}" for k, v in sorted(tags.items())]
    return " AND ".join(parts)


# Line protocol's escapes, as influxdb_client's `Point` applies them.
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": r"\\"})


def _tag_text(value) -> str | None:
    """A tag's value as written, or None to leave the tag out (empty, or not text); a bool as true/false."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if not isinstance(value, str) or not value:
        return None
    text = value.translate(_KEY_ESCAPES)
    return text + " " if text.endswith("\\") else text


def _string_text(value) -> str:
    return '"' + ("" if value is None or value is pd.NA else str(value)).translate(_STRING_ESCAPES) + '"'


def _pieces(codes: np.ndarray, uniques: list, prefix: str, text) -> np.ndarray:
    """`prefix + text(value)` for each row's value (`uniques[code]`), '' where `text` leaves it out: each distinct
    value is formatted once, as prices, tags and times repeat and formatting is what costs."""
    texts = [None if (one := text(unique)) is None else prefix + one for unique in uniques]
    return np.array([t or "" for t in texts], dtype=object)[codes]


def _distinct(values: np.ndarray) -> tuple[np.ndarray, list]:
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes, uniques.tolist()


def _number_pieces(numbers: np.ndarray, prefix: str) -> np.ndarray:
    """`prefix + number` as `Point` writes a float (`2` for 2.0, `-0` for -0.0), '' for NaN and infinities.
    Distinct by bit pattern, which keeps -0.0 apart from 0.0; formatting the floats is most of the cost."""
    codes, bits = pd.factorize(numbers.view(np.int64))
    uniques = bits.view(np.float64)
    texts = np.array([prefix + (t[:-2] if t.endswith(".0") else t) for t in map(repr, uniques.tolist())], object)
    texts[~np.isfinite(uniques)] = ""
    return texts[codes]


def frame_to_lines(frame: pd.DataFrame) -> list[str]:
    """Line protocol for a points frame, exactly as influxdb_client's `Point` writes it (tested against it): tags
    and fields sorted by key, numbers always as floats (InfluxDB rejects an integer into a float field), time in
    whole seconds. Empty tags and NaN fields are left out; a point with no field at all has no line.

    Built a column at a time (one `Point` per row is 8x slower), each distinct value formatted once."""
    return _lines_and_keys(frame)[0]


def _field_bit(measurement: Measurement, field: str) -> int:
    return 1 << measurement.all_fields.index(field)


def _lines_and_keys(frame: pd.DataFrame) -> tuple[list[str], list[str], list[int]]:
    """The frame's lines, each one's point key (its series, measurement and tags, and time, as written), and
    which of its measurement's fields it has (`_field_bit`s: a NaN field is left out)."""
    lines: list[str] = []
    keys: list[str] = []
    masks: list[int] = []
    for name, group in frame.groupby(MEASUREMENT, sort=False):
        measurement = MEASUREMENTS[name]
        tags, fields = _tag_columns(group, measurement), sorted(f for f in measurement.all_fields if f in group)
        present = np.zeros(len(group), dtype=np.int64)
        head = np.full(len(group), name.translate(_MEASUREMENT_ESCAPES), dtype=object)
        for tag in tags:
            head += _pieces(
                *_distinct(group[tag].to_numpy(dtype=object)), f",{tag.translate(_KEY_ESCAPES)}=", _tag_text
            )
        body = np.full(len(group), "", dtype=object)
        for field in fields:
            prefix = f",{field.translate(_KEY_ESCAPES)}="
            if field in measurement.string_fields:  # few points a day (agreements, the grid's index band)
                body += np.array([prefix + _string_text(value) for value in group[field]], dtype=object)
                present |= _field_bit(measurement, field)
            else:
                numbers = group[field].to_numpy(dtype=np.float64, na_value=np.nan)
                present |= np.where(np.isnan(numbers), 0, _field_bit(measurement, field))
                if np.isinf(numbers).any():
                    first = int(np.flatnonzero(np.isinf(numbers))[0])
                    where = f"{name} {field} is {numbers[first]} at {group[TIME].iloc[first]}"
                    raise NonFiniteValue(
                        f"{where}: a number that cannot be true (check the config's numeric options); nothing was "
                        "written"
                    )
                body += _number_pieces(numbers, prefix)
        seconds = _pieces(*_distinct(_seconds(group)), " ", lambda s: str(int(s)))
        written = body != ""
        lines += [
            h + " " + b[1:] + t for h, b, t in zip(head[written], body[written], seconds[written], strict=True)
        ]
        keys += [h + t for h, t in zip(head[written], seconds[written], strict=True)]
        masks += present[written].tolist()
    return lines, keys, masks


def _point_key(name: str, tags: Mapping[str, str], second: int) -> str:
    """A stored point's key, as `_lines_and_keys` names the points it writes."""
    pairs = "".join(
        f",{key.translate(_KEY_ESCAPES)}={_tag_text(tags[key])}" for key in sorted(tags) if _tag_text(tags[key])
    )
    return f"{name.translate(_MEASUREMENT_ESCAPES)}{pairs} {second}"


def _tag_columns(group: pd.DataFrame, measurement: Measurement) -> list[str]:
    """The columns written as tags: all but the measurement, time and the measurement's fields."""
    others = (MEASUREMENT, TIME, *measurement.all_fields)
    return sorted(c for c in group.columns if c not in others and isinstance(c, str) and c)


def _seconds(group: pd.DataFrame) -> np.ndarray:
    """Each point's time as `Point` writes it: whole microseconds as nanoseconds, divided by 1e9, truncated."""
    nanoseconds = group[TIME].dt.as_unit("ns").array.asi8
    return np.trunc((nanoseconds - nanoseconds % 1000) / 1e9).astype(np.int64)


def series_to_frame(series: Iterable[dict]) -> pd.DataFrame:
    """InfluxQL `SELECT *` results (epoch seconds) back into a points frame; absent tags become ''."""
    frames, numeric = [], set()
    for one in series:
        measurement = MEASUREMENTS[one["name"]]
        numeric.update(measurement.fields)
        frames.append(
            pd.DataFrame(one.get("values", []), columns=one["columns"]).assign(**{MEASUREMENT: measurement.name})
        )
    if not frames:
        return pd.DataFrame({MEASUREMENT: pd.Series(dtype=str), TIME: pd.Series(dtype="datetime64[ns, UTC]")})
    combined = pd.concat(frames, ignore_index=True)
    combined[TIME] = pd.to_datetime(combined[TIME], unit="s", utc=True)
    for column in combined.columns:
        if column in numeric:
            combined[column] = combined[column].astype(float)
        elif column in BOOLEAN_TAGS:
            combined[column] = combined[column] == "true"
        elif column != TIME:
            combined[column] = combined[column].fillna("").astype(str)
    columns = [MEASUREMENT, *(c for c in combined.columns if c != MEASUREMENT)]
    return combined[columns].sort_values([MEASUREMENT, TIME], kind="stable").reset_index(drop=True)


class InfluxStore:
    """What the pipeline needs of InfluxDB. Subclasses differ only in how they authenticate, write and delete."""

    retention_policy: str | None = None  # 1.x's `db/rp`

    def __init__(self, url: str, database: str, *, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.database = database
        self.timeout = timeout
        self.http = requests.Session()

    # -- reads: InfluxQL on /query, answered by 1.x and by 2.x's v1-compatibility API --------------------

    def _query_params(self) -> dict:
        return {"db": self.database}

    def query(self, influxql: str, *, method: str = "GET") -> list[dict]:
        """Runs InfluxQL and returns the series of every statement; an error in any statement raises."""
        params = {
            **self._query_params(),
            "q": influxql,
            "epoch": "s",
            "chunked": "true",
            "chunk_size": "10000",
        }
        response = self._send(method, "/query", "a query", params=params)
        series: list[dict] = []
        # Chunked responses are one JSON document per line; the chunks of a series share its name and tags.
        for line in response.text.splitlines():
            if not line.strip():
                continue
            for result in json.loads(line).get("results", []):
                if "error" in result:
                    raise _failure(400, result["error"], f"the query {influxql[:200]!r}", self.database)
                series.extend(result.get("series", []))
        return series

    def _send(self, method: str, path: str, what: str, **request) -> requests.Response:
        """One HTTP request to InfluxDB, its failures classified (see InfluxError and InfluxRefused)."""
        try:
            response = self.http.request(method, f"{self.url}{path}", timeout=self.timeout, **request)
        except requests.RequestException as exc:
            problem = connection_problem(exc, self.timeout) or f"{type(exc).__name__} during {what}"
            raise InfluxError(f"cannot reach InfluxDB at [influxdb] url = {self.url}: {problem}") from None
        if "X-Influxdb-Version" not in response.headers:  # every InfluxDB answer (1.x and 2.x) carries it
            raise InfluxRefused(
                f"{self.url} did not answer {what} as InfluxDB does (HTTP {response.status_code}, "
                f"{response.headers.get('Content-Type') or 'no content type'}): check [influxdb] url"
            )
        if response.status_code >= 400:
            raise _failure(response.status_code, _message(response.text), what, self.database)
        return response

    def read(
        self,
        measurements: Iterable[Measurement],
        start: pd.Timestamp,
        end: pd.Timestamp,
        tags: Mapping[str, str],
    ) -> pd.DataFrame:
        names = ", ".join(self._source(m.name) for m in measurements)
        return series_to_frame(self.query(f"SELECT * FROM {names} WHERE {window_condition(start, end, tags)}"))

    def _source(self, measurement: str) -> str:
        return quote_identifier(measurement)

    def check(self) -> None:
        """One cheap query: a wrong URL, password, database or bucket shows here, before anything runs. (InfluxDB
        answers `SHOW MEASUREMENTS` on a missing database without an error; it does not so for its retention
        policies.)"""
        policies = {row[0] for series in self.query("SHOW RETENTION POLICIES") for row in series.get("values", [])}
        if self.retention_policy and self.retention_policy not in policies:
            raise InfluxRefused(
                f"InfluxDB database {self.database} has no retention policy {self.retention_policy!r} (it has "
                f"{', '.join(sorted(policies)) or 'none'}); check [influxdb] bucket = {self.database}/"
                f"{self.retention_policy}"
            )

    def last_readings(
        self, start: pd.Timestamp, end: pd.Timestamp, tags: Mapping[str, str]
    ) -> dict[str, pd.Timestamp]:
        """Meter point -> the time of its last reading stored in [start, end)."""
        series = self.query(
            f"SELECT last({USAGE_KWH}) FROM {self._source(METER_CONSUMPTION.name)} "
            f"WHERE {window_condition(start, end, tags)} GROUP BY {quote_identifier(METER_POINT)}"
        )
        return {one["tags"][METER_POINT]: pd.Timestamp(one["values"][0][0], unit="s", tz="UTC") for one in series}

    def daily_totals(
        self, measurement: Measurement, counted: str, summed: str, start: pd.Timestamp, end: pd.Timestamp, tz
    ) -> pd.DataFrame:
        """Per local day of [start, end): how many points hold the field `counted` (`points`), and the sum of
        `summed` (`total`)."""
        columns = ["points", "total"]
        series = self.query(
            f"SELECT count({quote_identifier(counted)}), sum({quote_identifier(summed)}) FROM "
            f"{self._source(measurement.name)} WHERE {window_condition(start, end, {})} "
            f"GROUP BY time(1d) fill(none) tz({quote_string(tz.key)})"
        )
        rows = series[0]["values"] if series else []
        frame = pd.DataFrame(rows, columns=["day", *columns])
        frame["day"] = pd.to_datetime(frame["day"], unit="s", utc=True).dt.tz_convert(tz).dt.date
        return frame

    def daily_energy(
        self, measurement: Measurement, start: pd.Timestamp, end: pd.Timestamp, tz, tags: Mapping[str, str]
    ) -> pd.DataFrame:
        """Per local day of [start, end): kWh of electricity import, electricity export and gas, apart
        (`ENERGY`). Export is what the `is_export` tag says (meter_consumption) or, in the seed's measurements,
        which carry neither it nor `fuel`, what is stored negative."""
        totals: dict = {}
        for sign in (">=", "<"):
            series = self.query(
                f"SELECT sum({quote_identifier(USAGE_KWH)}) FROM {self._source(measurement.name)} WHERE "
                f"{window_condition(start, end, tags)} AND {quote_identifier(USAGE_KWH)} {sign} 0 GROUP BY "
                f"time(1d), {quote_identifier(FUEL)}, {quote_identifier(IS_EXPORT)} fill(none) "
                f"tz({quote_string(tz.key)})"
            )
            for one in series:
                one_tags = one.get("tags") or {}
                fuel = one_tags.get(FUEL) or ("gas" if measurement == GAS_CONSUMPTION else "electricity")
                exported = one_tags.get(IS_EXPORT) == "true" or sign == "<"
                kind = ENERGY[2] if fuel == "gas" else ENERGY[1] if exported else ENERGY[0]
                for epoch, kwh in one["values"]:
                    day = pd.Timestamp(epoch, unit="s", tz="UTC").tz_convert(tz).date()
                    totals.setdefault(day, dict.fromkeys(ENERGY, 0.0))[kind] += abs(kwh)
        return pd.DataFrame.from_dict(totals, orient="index", columns=list(ENERGY)).sort_index()

    def totals(
        self,
        measurement: Measurement,
        fields: Iterable[str],
        start: pd.Timestamp,
        end: pd.Timestamp,
        tags: Mapping[str, str],
        group_by: Iterable[str],
    ) -> pd.DataFrame:
        """Sums of `fields` over [start, end), one row per combination of the `group_by` tags (as stored)."""
        fields, group_by = list(fields), list(group_by)
        series = self.query(
            f"SELECT {', '.join(f'sum({quote_identifier(f)}) AS {quote_identifier(f)}' for f in fields)} "
            f"FROM {self._source(measurement.name)} WHERE {window_condition(start, end, tags)} "
            f"GROUP BY {', '.join(map(quote_identifier, group_by))}"
        )
        rows = [[one["tags"].get(tag, "") for tag in group_by] + one["values"][0][1:] for one in series]
        return pd.DataFrame(rows, columns=[*group_by, *fields])

    # -- writes -----------------------------------------------------------------------------------------

    def write_lines(self, lines: list[str]) -> None:
        for offset in range(0, len(lines), BATCH_SIZE):
            self._write_batch("\n".join(lines[offset : offset + BATCH_SIZE]))

    def replace(
        self,
        measurements: Iterable[Measurement],
        start: pd.Timestamp,
        end: pd.Timestamp,
        tags: Mapping[str, str],
        frame: pd.DataFrame,
    ) -> int:
        """Makes the window's points of these measurements (within the tag scope) exactly the frame's, and never
        emptier than before: the frame is written first (a point of the same series and time is overwritten),
        then only the old points it did not overwrite are deleted. A failed write leaves the old points in
        place; line protocol is built before anything is sent, so bad data fails without touching the store.

        InfluxDB keeps the fields a write leaves out: an old point written again without a field it had (its
        price or its intensity is now unknown) is deleted after the write and written once more, so the old
        value does not survive beside the new ones."""
        lines, keys, masks = _lines_and_keys(frame)
        old = self.point_keys(measurements, start, end, tags)
        self.write_lines(lines)
        lost = [n for n, key in enumerate(keys) if key in old and old[key][3] & ~masks[n]]
        if stale := (old.keys() - set(keys)) | {keys[n] for n in lost}:
            self.delete_points({key: old[key] for key in stale}, old)
        self.write_lines([lines[n] for n in lost])
        return len(lines)

    def point_keys(
        self, measurements: Iterable[Measurement], start: pd.Timestamp, end: pd.Timestamp, tags: Mapping[str, str]
    ) -> dict[str, tuple]:
        """Every point in the window and scope, by its key (series and time, as line protocol writes them), with
        its series as InfluxDB names it (measurement, every tag key it has, absent ones as ''), its time and the
        fields it has (`_field_bit`s)."""
        names = ", ".join(self._source(m.name) for m in measurements)
        keys = {}
        for series in self.query(f"SELECT * FROM {names} WHERE {window_condition(start, end, tags)} GROUP BY *"):
            name, tag_set = series["name"], series.get("tags") or {}
            full = (name, tuple(sorted(tag_set.items())))
            measurement = MEASUREMENTS[name]
            rows = np.array(series["values"], dtype=object).reshape(len(series["values"]), len(series["columns"]))
            masks = np.zeros(len(rows), dtype=np.int64)
            for n, column in enumerate(series["columns"]):
                if column in measurement.all_fields:
                    masks |= np.where(pd.isna(rows[:, n]), 0, _field_bit(measurement, column))
            keys.update(
                (_point_key(name, tag_set, row[0]), (*full, row[0], mask))
                for row, mask in zip(series["values"], masks.tolist(), strict=True)
            )
        return keys

    def delete_points(self, stale: dict[str, tuple], old: dict[str, tuple]) -> None:
        """Deletes these points: a series left with none of its old points in one go, others point by point."""
        per_series: dict[tuple, list[int]] = {}
        for name, tag_set, second, _ in stale.values():
            per_series.setdefault((name, tag_set), []).append(second)
        old_counts = Counter((name, tag_set) for name, tag_set, *_ in old.values())
        deletions = []
        for (name, tag_set), seconds in sorted(per_series.items()):
            if len(seconds) == old_counts[(name, tag_set)]:
                deletions.append((name, dict(tag_set), min(seconds), max(seconds)))
            else:
                deletions += [(name, dict(tag_set), second, second) for second in sorted(seconds)]
        self.delete(deletions)

    def _write_batch(self, body: str) -> None:
        raise NotImplementedError

    def delete(self, deletions: list[tuple[str, dict[str, str], int, int]]) -> None:
        """Deletes the points of (measurement, exact series, first second, last second) from each given series."""
        raise NotImplementedError

    def __enter__(self) -> InfluxStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()


class InfluxV1Store(InfluxStore):
    """InfluxDB 1.x: `bucket` is the database, `db/rp` names a retention policy, the token is `user:password`."""

    def __init__(self, url: str, bucket: str, token: str | None = None, *, timeout: float = 30.0):
        database, _, retention_policy = bucket.partition("/")
        super().__init__(url, database, timeout=timeout)
        self.retention_policy = retention_policy or None
        if token:
            username, _, password = token.partition(":")
            self.http.auth = (username, password)

    def _query_params(self) -> dict:
        params = {"db": self.database}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        return params

    def _source(self, measurement: str) -> str:
        # A SELECT names its retention policy itself; the `rp` parameter only steers writes.
        if self.retention_policy:
            return ".".join(map(quote_identifier, (self.database, self.retention_policy, measurement)))
        return quote_identifier(measurement)

    def create_database(self) -> None:
        self.query(f"CREATE DATABASE {quote_identifier(self.database)}", method="POST")

    def drop_database(self) -> None:
        self.query(f"DROP DATABASE {quote_identifier(self.database)}", method="POST")

    def check(self) -> None:
        """The query, then an empty write (InfluxDB 1.x answers it 204): a user who may read but not write is
        refused here, before anything runs, rather than at the first write of a run."""
        super().check()
        self._write_batch("")

    def _write_batch(self, body: str) -> None:
        params = {**self._query_params(), "precision": "s"}
        self._send("POST", "/write", "a write", params=params, data=body.encode())

    def delete(self, deletions: list[tuple[str, dict[str, str], int, int]]) -> None:
        # InfluxQL's DELETE takes time and tags but no retention policy: with `db/rp` it deletes from every
        # retention policy of the database (the README says to give the pipeline its own database). A tag
        # compared with '' matches series without it, so each statement deletes from one series only.
        statements = [
            f"DELETE FROM {quote_identifier(name)} WHERE "
            + " AND ".join(
                [f"time >= {first}s", f"time <= {last}s"]
                + [f"{quote_identifier(k)} = {quote_string(v)}" for k, v in sorted(tags.items())]
            )
            for name, tags, first, last in deletions
        ]
        for offset in range(0, len(statements), DELETES_PER_QUERY):
            self.query("; ".join(statements[offset : offset + DELETES_PER_QUERY]), method="POST")


class InfluxV2Store(InfluxStore):
    """InfluxDB 2.x/Cloud: writes and deletes through `influxdb-client`; reads via the v1-compatible `/query`
    (the bucket needs a DBRP mapping, which buckets created by `influx setup` get by default)."""

    def __init__(self, url: str, org: str, bucket: str, token: str | None, *, timeout: float = 30.0):
        super().__init__(url, bucket, timeout=timeout)
        self.org = org
        self.bucket = bucket
        if token:
            self.http.headers["Authorization"] = f"Token {token}"
        # Imported here: influxdb-client takes a second to import, and 1.x users never need it.
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.client = InfluxDBClient(url=self.url, token=token or "", org=org, timeout=int(timeout * 1000))
        self.write_api = self.client.write_api(write_options=SYNCHRONOUS)

    def _write_batch(self, body: str) -> None:
        with self._classified("a write"):
            self.write_api.write(bucket=self.bucket, org=self.org, record=body, write_precision="s")

    def delete(self, deletions: list[tuple[str, dict[str, str], int, int]]) -> None:
        # The v2 delete predicate is inclusive at both ends, like the seconds given here.
        for name, tags, first, last in deletions:
            predicate = " AND ".join([f'_measurement="{name}"'] + [f'{k}="{v}"' for k, v in sorted(tags.items())])
            start, stop = (pd.Timestamp(second, unit="s", tz="UTC") for second in (first, last))
            with self._classified("a delete"):
                self.client.delete_api().delete(
                    _rfc3339_nano(start), _rfc3339_nano(stop), predicate, bucket=self.bucket, org=self.org
                )

    @contextmanager
    def _classified(self, what: str) -> Iterator[None]:
        """influxdb-client's exceptions as InfluxError / InfluxRefused, like the v1 path's."""
        from influxdb_client.rest import ApiException

        try:
            yield
        except ApiException as exc:
            raise _failure(exc.status or 500, _message(exc.body or exc.reason or ""), what, self.bucket) from None
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise InfluxError(f"cannot reach InfluxDB at [influxdb] url = {self.url}: {exc}") from None

    def close(self) -> None:
        super().close()
        self.client.close()


def _rfc3339_nano(moment: pd.Timestamp) -> str:
    moment = pd.Timestamp(moment).tz_convert("UTC")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond * 1000 + moment.nanosecond:09d}Z"


def open_store(settings: InfluxSettings) -> InfluxStore:
    if settings.api_version == 1:
        return InfluxV1Store(settings.url, settings.bucket, settings.token())
    return InfluxV2Store(settings.url, settings.org, settings.bucket, settings.token())
