"""The GB Carbon Intensity API (https://api.carbonintensity.org.uk), as far as the pipeline reads it: the national
intensity (forecast and actual), the national generation mix, and one region's forecast with its mix. No key.

The shapes are the API's: `{"data": [{"from": "2024-06-10T23:00Z", "to": "2024-06-10T23:30Z", "intensity":
{"forecast": 186, "actual": 190, "index": "moderate"}}]}`, the regional answer nested one level deeper under its
region, and errors as `{"error": {"code": "400 Bad Request", "message": …}}`. Half-hours are UTC, so a local day
asked for from midnight to midnight has 46 or 50 of them on the clock-change days, like any other source.
The values are synthetic and deterministic: a daily cycle, cleaner in the north and on windy days.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_DAYS = 14  # the longest window one request may ask for
HALF_HOUR = timedelta(minutes=30)
# The API's regions 1-14 (its `regionid`, `dnoregion`, `shortname`), and how clean each is next to the nation.
REGIONS = {
    1: ("Scottish Hydro Electric Power Distribution", "North Scotland", 0.15),
    2: ("SP Distribution", "South Scotland", 0.3),
    3: ("Electricity North West", "North West England", 0.85),
    4: ("NPG North East", "North East England", 0.7),
    5: ("NPG Yorkshire", "Yorkshire", 1.1),
    6: ("SP Manweb", "North Wales & Merseyside", 0.9),
    7: ("WPD South Wales", "South Wales", 1.15),
    8: ("WPD West Midlands", "West Midlands", 1.2),
    9: ("WPD East Midlands", "East Midlands", 1.15),
    10: ("UKPN East", "East England", 0.95),
    11: ("WPD South West", "South West England", 0.8),
    12: ("SSE South", "South England", 1.05),
    13: ("UKPN London", "London", 1.1),
    14: ("UKPN South East", "South East England", 1.0),
}
# Upper bounds (g/kWh) of the index bands, as the API names them.
BANDS = ((40, "very low"), (120, "low"), (200, "moderate"), (290, "high"), (math.inf, "very high"))
FUELS = ("biomass", "coal", "imports", "gas", "nuclear", "other", "hydro", "solar", "wind")


def band(grams: float) -> str:
    return next(name for limit, name in BANDS if grams < limit)


def _wobble(start: datetime, salt: str) -> float:
    """A deterministic number in [-1, 1] for a half-hour."""
    digest = hashlib.sha256(f"{salt}{start.isoformat()}".encode()).digest()
    return digest[0] / 127.5 - 1


def national_forecast(start: datetime) -> int:
    """g/kWh: higher at the evening peak, lower at night and on windy days (a slow wobble per day)."""
    hour = start.hour + start.minute / 60
    daily = 45 * math.sin(2 * math.pi * (hour - 11) / 24)
    windy = 60 * _wobble(start.replace(hour=0, minute=0), "wind")
    return max(15, round(170 + daily + windy))


def national_actual(start: datetime) -> int:
    return max(10, round(national_forecast(start) + 12 * _wobble(start, "actual")))


def regional_forecast(start: datetime, region: int) -> int:
    return max(5, round(national_forecast(start) * REGIONS[region][2]))


def generation_mix(grams: float) -> list[dict]:
    """Percentages summing to 100: the dirtier the half-hour, the more gas and the less wind."""
    gas = min(70.0, max(2.0, round(grams / 4, 1)))
    wind = round(max(0.0, 60 - gas), 1)
    shares = {"biomass": 5.0, "coal": 0.0, "imports": 10.0, "gas": gas, "nuclear": 14.0, "other": 0.5}
    shares |= {"hydro": 1.5, "solar": 3.0, "wind": wind}
    shares["imports"] = round(shares["imports"] + 100 - sum(shares.values()), 1)
    return [{"fuel": fuel, "perc": shares[fuel]} for fuel in FUELS]


def utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    """The API's error shape: `{"error": {"code": "400 Bad Request", "message": …}}`."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body = {"error": {"code": f"{status} {phrase}", "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


class CarbonIntensityApi:
    """The handlers, mounted by `OctopusSimulator` under `/carbon` (so one server is both APIs). `missing`: UTC
    half-hour starts left out of every answer, as the API leaves out a half-hour it has no figure for."""

    def __init__(self, clock: Callable[[], datetime]):
        self.clock = clock
        self.missing: set[datetime] = set()

    def routes(self) -> list[tuple[str, str, Callable[[Request], Response]]]:
        return [
            ("/carbon/intensity/{start}/{end}", "carbon-intensity", self.intensity),
            ("/carbon/generation/{start}/{end}", "carbon-generation", self.generation),
            ("/carbon/regional/intensity/{start}/{end}/regionid/{region}", "carbon-regional", self.regional),
        ]

    def _half_hours(self, request: Request) -> list[datetime] | Response:
        """The half-hours that touch the asked window, its ends included (the client keeps the ones inside)."""
        try:
            start, end = (parse_instant(request.path_params[name]) for name in ("start", "end"))
        except ValueError:
            return error(400, "Please enter a valid ISO 8601 datetime, e.g. 2024-06-10T23:00Z")
        if end <= start:
            return error(400, "The end datetime must be after the start datetime")
        if end - start > timedelta(days=MAX_DAYS):
            return error(400, f"The date range cannot exceed {MAX_DAYS} days")
        first = start - timedelta(minutes=start.minute % 30, seconds=start.second) - HALF_HOUR
        count = math.ceil((end - first) / HALF_HOUR) + 1
        return [t for t in (first + i * HALF_HOUR for i in range(count)) if t not in self.missing]

    def intensity(self, request: Request) -> Response:
        half_hours = self._half_hours(request)
        if isinstance(half_hours, Response):
            return half_hours
        now, rows = self.clock(), []
        for start in half_hours:
            forecast = national_forecast(start)
            actual = national_actual(start) if start + HALF_HOUR <= now else None
            intensity = {"forecast": forecast, "actual": actual, "index": band(actual or forecast)}
            rows.append({"from": utc_text(start), "to": utc_text(start + HALF_HOUR), "intensity": intensity})
        return JSONResponse({"data": rows})

    def generation(self, request: Request) -> Response:
        half_hours = self._half_hours(request)
        if isinstance(half_hours, Response):
            return half_hours
        rows = [
            {
                "from": utc_text(t),
                "to": utc_text(t + HALF_HOUR),
                "generationmix": generation_mix(national_forecast(t)),
            }
            for t in half_hours
        ]
        return JSONResponse({"data": rows})

    def regional(self, request: Request) -> Response:
        region = request.path_params["region"]
        if not region.isdigit() or int(region) not in REGIONS:
            return error(400, f"Please enter a valid region id (1 to {len(REGIONS)}): {region}")
        half_hours = self._half_hours(request)
        if isinstance(half_hours, Response):
            return half_hours
        dno, name, _ = REGIONS[int(region)]
        rows = []
        for start in half_hours:
            forecast = regional_forecast(start, int(region))
            rows.append(
                {
                    "from": utc_text(start),
                    "to": utc_text(start + HALF_HOUR),
                    "intensity": {"forecast": forecast, "index": band(forecast)},
                    "generationmix": generation_mix(forecast),
                }
            )
        return JSONResponse({"data": {"regionid": int(region), "dnoregion": dno, "shortname": name, "data": rows}})


def parse_instant(text: str) -> datetime:
    """`2024-06-10T23:00Z` (the API's form) or any ISO 8601 instant with an offset."""
    instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        raise ValueError(text)
    return instant.astimezone(UTC)
