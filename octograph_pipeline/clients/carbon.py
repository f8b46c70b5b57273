"""The GB Carbon Intensity API client (https://api.carbonintensity.org.uk, no key): the national intensity, a
region's forecast and the generation mix, as UTC-stamped frames of half-hours.

The Octopus client's hygiene: timeouts, retries of what mends (429, 5xx, timeouts) within a budget of waiting,
at once for what does not (a 4xx: the API's own message says why), and the same code for our simulator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd
import requests
from urllib3.util.retry import Retry

from octograph_pipeline.clients.net import connection_problem
from octograph_pipeline.clients.octopus import (
    CONNECT_RETRIES,
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    budget_spent,
    configured_retry,
    default_retry,
    retrying,
    utc_text,
)
from octograph_pipeline.core.settings import Settings

DEFAULT_API_PREFIX = "https://api.carbonintensity.org.uk"
MAX_WINDOW = dt.timedelta(days=14)  # the longest window the API answers in one request
MINUTES = "%Y-%m-%dT%H:%MZ"  # the API's instants: 2024-06-10T23:00Z


class CarbonIntensityError(RuntimeError):
    """A Carbon Intensity API failure worth retrying later (5xx, throttling, no answer)."""


class CarbonIntensityRefused(CarbonIntensityError):
    """The API refused the request (4xx) or something else answers at the address: retrying will not mend it."""


class CarbonIntensityClient:
    def __init__(
        self,
        api_prefix: str = DEFAULT_API_PREFIX,
        *,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
        retry: Retry | None = None,
    ):
        self.api_prefix = api_prefix.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.budget = retrying(self.session, retry or default_retry())

    @classmethod
    def from_settings(cls, settings: Settings) -> CarbonIntensityClient:
        """The client `[carbon] api_prefix` asks for, retrying as `[pipeline]` says; without the Octopus API's
        shared pace, which is for Octopus's limits."""
        return cls(settings.carbon.api_prefix, retry=configured_retry(settings, paced=False))

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> CarbonIntensityClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def national(self, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        """GB's intensity per half-hour of [start, end): `forecast`, `actual` (NaN until measured), `index`."""
        rows = self._rows(lambda begin, until: f"intensity/{begin}/{until}", start, end)
        return _frame(rows, start, end, lambda row: {**_numbers(row, "forecast", "actual"), **_index(row)})

    def regional(self, region: int, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        """A region's forecast per half-hour of [start, end): `forecast`, `index` and the mix's fuels (%)."""
        rows = self._rows(
            lambda begin, until: f"regional/intensity/{begin}/{until}/regionid/{region}", start, end, nested=True
        )
        return _frame(rows, start, end, lambda row: {**_numbers(row, "forecast"), **_index(row), **_mix(row)})

    def generation(self, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        """GB's generation mix per half-hour of [start, end): one column per fuel, in percent."""
        rows = self._rows(lambda begin, until: f"generation/{begin}/{until}", start, end)
        return _frame(rows, start, end, _mix)

    # --- transport -------------------------------------------------------------------------------------

    def _rows(
        self, path: Callable[[str, str], str], start: dt.datetime, end: dt.datetime, nested: bool = False
    ) -> list[dict]:
        """Every row of [start, end), asked for in windows the API accepts (a region's rows are nested one level
        deeper, under the region)."""
        rows: list[dict] = []
        begin = start
        while begin < end:
            until = min(end, begin + MAX_WINDOW)
            data = self._get_json(f"{self.api_prefix}/{path(utc_text(begin, MINUTES), utc_text(until, MINUTES))}")[
                "data"
            ]
            rows += data["data"] if nested else data
            begin = until
        return rows

    def _get_json(self, url: str) -> dict:
        connect, read = self.timeout
        self.budget.attempt()
        try:
            response = self.session.get(url, timeout=(connect, self.budget.read_timeout(read)))
        except requests.exceptions.RequestException as exc:
            if spent := budget_spent(exc, f"GET {url}", self.budget):
                raise CarbonIntensityError(str(spent)) from None
            if problem := connection_problem(exc, CONNECT_TIMEOUT):
                raise CarbonIntensityRefused(
                    f"cannot connect to the Carbon Intensity API at {self.api_prefix}: {problem} (tried "
                    f"{1 + CONNECT_RETRIES} times); check [carbon] api_prefix and this machine's network"
                ) from None
            raise CarbonIntensityError(f"GET {url} failed: {type(exc).__name__}: {exc}") from None
        is_json = "json" in (response.headers.get("Content-Type") or "").lower()
        if response.ok and is_json:
            return response.json()
        error = _api_error(response) if is_json else None
        where = f"GET {response.url} answered HTTP {response.status_code}"
        if not is_json and (response.ok or response.status_code == 404):
            raise CarbonIntensityRefused(
                f"{where} without the Carbon Intensity API's JSON: check [carbon] api_prefix "
                f"(e.g. {DEFAULT_API_PREFIX})"
            )
        problem = f"{where}: {error}" if error else where
        raise (CarbonIntensityRefused if 400 <= response.status_code < 500 else CarbonIntensityError)(problem)


def _api_error(response: requests.Response) -> str | None:
    """The API's own words: `{"error": {"code": "400 Bad Request", "message": …}}`."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("message") or error.get("code") if isinstance(error, dict) else str(body)[:200]


def _numbers(row: dict, *names: str) -> dict[str, float]:
    """g/kWh; NaN where the API has no figure (yet: `actual` is null until the half-hour is measured)."""
    intensity = row["intensity"]
    return {name: float(intensity[name]) if intensity.get(name) is not None else float("nan") for name in names}


def _index(row: dict) -> dict[str, str]:
    return {"index": row["intensity"]["index"]}


def _mix(row: dict) -> dict[str, float]:
    return {fuel["fuel"]: float(fuel["perc"]) for fuel in row.get("generationmix", [])}


def _frame(rows: list[dict], start: dt.datetime, end: dt.datetime, values) -> pd.DataFrame:
    """One row per half-hour of [start, end) (the API also answers those touching either end), oldest first."""
    frame = pd.DataFrame([{"interval_start": row["from"], **values(row)} for row in rows])
    if frame.empty:
        return pd.DataFrame({"interval_start": pd.Series([], dtype="datetime64[ns, UTC]")})
    frame["interval_start"] = pd.to_datetime(frame["interval_start"], utc=True, format="ISO8601")
    inside = (frame["interval_start"] >= start) & (frame["interval_start"] < end)
    return (
        frame[inside]
        .drop_duplicates("interval_start", keep="last")
        .sort_values("interval_start")
        .reset_index(drop=True)
    )
