"""Starlette app that answers like the Octopus Energy REST API, with knobs for failure testing.

The real client is tested against this over HTTP, so behaviour mirrors the real API where it
matters to a client: basic auth, DRF-style pagination, trailing slashes, error bodies, 429s.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import inspect
import random
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from octograph_pipeline.dev.simulator import carbon
from octograph_pipeline.dev.simulator.graphql import KrakenGraphQL
from octograph_pipeline.dev.simulator.household import (
    GROUP_BY_CHOICES,
    TARIFFS,
    Fuel,
    Household,
    Meter,
    MeterPoint,
    Property,
    Row,
    consumption_rows,
    default_household,
    iso_utc,
    iter_tariffs,
    local_midnight,
    rate_rows,
)

Clock = Callable[[], datetime]
Handler = Callable[[Request], Response]


def throttled(wait: int | None) -> str:
    """Django REST framework's 429 detail, as Octopus sends it: the wait it names is its `Retry-After`."""
    if wait is None:
        return "Request was throttled."
    return f"Request was throttled. Expected available in {wait} second{'' if wait == 1 else 's'}."


RATES_PAGE_SIZE_MAX = 1500
PRODUCT_SECTIONS = (
    "single_register_electricity",
    "dual_register_electricity",
    "single_register_gas",
    "dual_register_gas",
)
DEFAULT_PAGE_SIZE = 100


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _detail(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


@dataclass
class _Fault:
    """A queued failure from `OctopusSimulator.inject`."""

    status: int
    remaining: int
    path_contains: str | None
    retry_after: int | None
    html: bool

    def matches(self, path: str) -> bool:
        return self.path_contains is None or self.path_contains in path

    def response(self, path: str) -> Response:
        """The failure as the API of `path` words it (Octopus's DRF `detail`, or the Carbon Intensity API's
        `error`), or as a proxy's HTML page."""
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Error"
        if self.html:  # what nginx / CloudFront in front of the API send, not DRF JSON
            title = f"{self.status} {phrase}"
            body = (
                f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center>"
                "<hr><center>nginx</center></body></html>"
            )
            return HTMLResponse(body, status_code=self.status, headers=headers)
        detail = throttled(self.retry_after) if self.status == 429 else phrase
        if path.startswith("/carbon/"):
            return carbon.error(self.status, f"{detail} (injected)", headers)
        return _detail(self.status, detail, headers)


class OctopusSimulator:
    """A fake Octopus API for synthetic households, plus fault-injection knobs and counters.

    By default it serves one demo household built from `seed`, `account_number`, `start_date`,
    `agile_from` and `timezone`. With `households` it serves each of them under its own account
    number instead (`account_number` and `agile_from` are then ignored), e.g. `households=all_scenarios()` or
    `generated_households(20)`. `household` is the default/first one; `households` all of them. `api_key` is
    accepted for every account, and so is each household's own `api_key`, until it is in `revoked_keys` (then
    401, as Octopus answers a key its owner regenerated).

    Settable attributes: `clock`, `latency`, `error_rate`, `burst_429`, `retry_after`,
    `page_size_max`, `sloppy_window`, `duplicate_rows`, `fail_days` (requests whose period covers one of
    these local dates answer 500) and `reading_scale` (readings multiplied by it, as when a supplier
    corrects them). `GET`/`POST /_simulator/faults` reads and sets the last three over HTTP, for `make ui`.
    `request_counts` counts every API request by endpoint kind (also failed ones). `app` is the ASGI app;
    run it with `serve()`.
    """

    def __init__(
        self,
        seed: int = 1,
        account_number: str = "A-DEMO0001",
        api_key: str = "sk_test_demo",
        start_date: date = date(2024, 1, 1),
        agile_from: date = date(2025, 1, 1),
        timezone: str = "Europe/London",
        clock: Clock | None = None,
        latency: float = 0.0,
        error_rate: float = 0.0,
        burst_429: int = 0,
        retry_after: int = 1,
        page_size_max: int = 25000,
        households: Sequence[Household] | None = None,
    ) -> None:
        if households:
            self.households: tuple[Household, ...] = tuple(households)
            _check_unique(self.households)
            # Prices start no later than start_date and the earliest tenancy or agreement.
            earliest = [d for d in (h.earliest_date() for h in self.households) if d is not None]
            self.tariff_history_start = min([start_date, *earliest])
        else:
            self.households = (default_household(seed, account_number, start_date, agile_from, timezone),)
            # Tariff prices start with the household's history so every agreement (and what-if
            # comparisons such as Agile during the VAR period) can be priced.
            self.tariff_history_start = min(start_date, agile_from)
        self.household: Household = self.households[0]
        self._accounts = {household.account_number: household for household in self.households}
        self.api_key = api_key
        self.revoked_keys: set[str] = set()
        self.clock: Clock = clock or _utc_now
        self.latency = latency
        self.error_rate = error_rate
        self.burst_429 = burst_429
        self.retry_after = retry_after
        self.page_size_max = page_size_max
        self.sloppy_window = False
        self.duplicate_rows = False
        self.fail_days: set[date] = set()
        self.reading_scale = 1.0
        self.request_counts: Counter[str] = Counter()
        self._throttled = 0
        self._chaos = random.Random(seed)  # reproducible error_rate failures
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()  # inject() runs in the test thread, requests in the server's
        # The Kraken GraphQL API: tokens, gas units, devices and Intelligent dispatches (see its knobs).
        self.graphql = KrakenGraphQL(api_key, self._accounts, lambda: self.clock(), self.accepts_key)
        # The GB Carbon Intensity API under /carbon (its knob: `carbon.missing`); `inject` reaches it too.
        self.carbon = carbon.CarbonIntensityApi(lambda: self.clock())
        self.app = Starlette(routes=self._routes())

    # ------------------------------------------------------------------ knobs

    def inject(
        self,
        status: int,
        count: int = 1,
        path_contains: str | None = None,
        retry_after: int | None = None,
        html: bool = False,
    ) -> None:
        """Fail the next `count` API requests whose path contains `path_contains` with `status`.

        Sends `Retry-After` only when `retry_after` is given; `html=True` mimics a proxy error page.
        """
        if count < 1:
            return
        with self._lock:
            self._faults.append(_Fault(status, count, path_contains, retry_after, html))

    def clear_faults(self) -> None:
        """Drop queued injected failures (handy between tests sharing one simulator)."""
        with self._lock:
            self._faults.clear()

    def reset_counts(self) -> None:
        self.request_counts.clear()

    # ------------------------------------------------------------------ plumbing

    def _routes(self) -> list[Route]:
        electricity, gas = (
            "/v1/products/{product}/electricity-tariffs/{tariff}",
            "/v1/products/{product}/gas-tariffs/{tariff}",
        )
        api: list[tuple[str, str, Handler]] = [
            ("/v1/accounts/{account_number}/", "account", self._account),
            (
                "/v1/electricity-meter-points/{point}/meters/{serial}/consumption/",
                "consumption",
                partial(self._consumption, "electricity"),
            ),
            (
                "/v1/gas-meter-points/{point}/meters/{serial}/consumption/",
                "consumption",
                partial(self._consumption, "gas"),
            ),
            ("/v1/products/{product}/", "products", self._product),
        ]
        for rate_type in ("standard-unit-rates", "day-unit-rates", "night-unit-rates", "standing-charges"):
            api.append((f"{electricity}/{rate_type}/", rate_type, partial(self._rates, "electricity", rate_type)))
        for rate_type in ("standard-unit-rates", "standing-charges"):
            api.append((f"{gas}/{rate_type}/", rate_type, partial(self._rates, "gas", rate_type)))
        routes = [Route("/_simulator/stats", self._stats), Route("/_simulator/stats/", self._stats)]
        routes += [Route("/_simulator/faults", self._fault_switch, methods=["GET", "POST"])]
        for path, kind, handler in api:  # answer with and without the trailing slash, no redirects
            endpoint = self._endpoint(kind, handler)
            routes += [Route(path, endpoint), Route(path.rstrip("/"), endpoint)]
        routes += [Route(path, self._endpoint(kind, handler)) for path, kind, handler in self.carbon.routes()]
        graphql = self._endpoint("graphql", self.graphql)
        routes += [Route(path, graphql, methods=["POST"]) for path in ("/v1/graphql/", "/v1/graphql")]
        return routes

    def _endpoint(self, kind: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler with counting, latency and failure injection, in that order."""

        async def endpoint(request: Request) -> Response:
            self.request_counts[kind] += 1
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            failure = self._failure(request.url.path) or self._failing_day(request)
            if failure is not None:
                return failure
            response = handler(request)
            return await response if inspect.isawaitable(response) else response

        return endpoint

    def _failure(self, path: str) -> Response | None:
        """Injected fault first, then the initial 429 burst, then random 500s."""
        with self._lock:
            fault = next((f for f in self._faults if f.matches(path)), None)
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault.response(path)
        if self._throttled < self.burst_429:
            self._throttled += 1
            return _detail(429, throttled(self.retry_after), {"Retry-After": str(self.retry_after)})
        if self.error_rate > 0 and self._chaos.random() < self.error_rate:
            return _detail(500, "A server error occurred.")
        return None

    def _failing_day(self, request: Request) -> Response | None:
        """A 500 for a request whose period covers one of `fail_days` (local dates of the household)."""
        if not self.fail_days:
            return None
        period = self._period(request)
        if isinstance(period, Response) or None in period:
            return None
        tz = self.household.tz
        first, last = (
            period[0].astimezone(tz).date(),
            (period[1] - timedelta(microseconds=1)).astimezone(tz).date(),
        )
        if any(first <= day <= last for day in self.fail_days):
            return _detail(500, "A server error occurred.")
        return None

    async def _fault_switch(self, request: Request) -> Response:
        """The switch `make ui` documents for rehearsing failures: fail_days, error_rate, reading_scale, and
        carbon_missing (UTC half-hour starts the Carbon Intensity API leaves out)."""
        if request.method == "POST":
            try:
                changes = await request.json()
                if "fail_days" in changes:
                    self.fail_days = {date.fromisoformat(day) for day in changes["fail_days"]}
                if "carbon_missing" in changes:
                    self.carbon.missing = {carbon.parse_instant(moment) for moment in changes["carbon_missing"]}
                for knob in ("error_rate", "reading_scale"):
                    if knob in changes:
                        setattr(self, knob, float(changes[knob]))
            except (ValueError, TypeError, AttributeError) as exc:
                return _detail(400, f'expected JSON like {{"fail_days": ["2024-06-12"]}}: {exc}')
        return JSONResponse(
            {
                "fail_days": sorted(day.isoformat() for day in self.fail_days),
                "error_rate": self.error_rate,
                "reading_scale": self.reading_scale,
                "carbon_missing": sorted(carbon.utc_text(moment) for moment in self.carbon.missing),
            }
        )

    def accepts_key(self, key: str) -> bool:
        """The shared key, or a household's own, unless revoked (compared in constant time)."""
        keys = [self.api_key, *(household.api_key for household in self.households if household.api_key)]
        known = [hmac.compare_digest(key.encode(), candidate.encode()) for candidate in keys]
        return any(known) and key not in self.revoked_keys

    def _auth_error(self, request: Request) -> Response | None:
        """DRF basic auth: username is the API key, password empty."""
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "basic" or not credentials:
            return self._unauthorised("Authentication credentials were not provided.")
        try:
            username = base64.b64decode(credentials, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return self._unauthorised("Invalid basic header. Credentials string is not properly base64 encoded.")
        if not self.accepts_key(username):
            return self._unauthorised("Invalid API key.")
        return None

    @staticmethod
    def _unauthorised(detail: str) -> Response:
        return _detail(401, detail, {"WWW-Authenticate": 'Basic realm="api"'})

    def _page(self, request: Request, rows: Sequence[Row], max_size: int) -> Response:
        """DRF page-number pagination: absolute `next`/`previous` URLs, 404 past the last page."""
        params = request.query_params
        size = _positive_int(params.get("page_size")) or DEFAULT_PAGE_SIZE
        size = min(size, max_size)
        page = _positive_int(params.get("page", "1"))
        if page is None or (page > 1 and (page - 1) * size >= len(rows)):
            return _detail(404, "Invalid page.")
        next_url = str(request.url.include_query_params(page=page + 1)) if page * size < len(rows) else None
        if page == 1:
            previous_url = None
        elif page == 2:
            previous_url = str(request.url.remove_query_params("page"))
        else:
            previous_url = str(request.url.include_query_params(page=page - 1))
        results = rows[(page - 1) * size : page * size]
        return JSONResponse({"count": len(rows), "next": next_url, "previous": previous_url, "results": results})

    def _period(
        self, request: Request, household: Household | None = None
    ) -> tuple[datetime | None, datetime | None] | Response:
        tz = (household or self.household).tz
        bounds = []
        for name in ("period_from", "period_to"):
            try:
                bounds.append(_parse_instant(request.query_params.get(name), tz))
            except ValueError:
                return JSONResponse({name: ["Enter a valid date/time."]}, status_code=400)
        return bounds[0], bounds[1]

    # ------------------------------------------------------------------ endpoints

    def _stats(self, request: Request) -> Response:
        return JSONResponse(dict(self.request_counts))

    def _account(self, request: Request) -> Response:
        if denied := self._auth_error(request):
            return denied
        household = self._accounts.get(request.path_params["account_number"])
        if household is None:
            return _detail(404, "Not found.")
        return JSONResponse(household.to_json())

    def _find_meter(
        self, fuel: Fuel, point: str, serial: str
    ) -> tuple[Household, Property, MeterPoint, Meter] | None:
        for household in self.households:
            if found := household.find_meter(fuel, point, serial):
                return (household, *found)
        return None

    def _consumption(self, fuel: Fuel, request: Request) -> Response:
        if denied := self._auth_error(request):
            return denied
        found = self._find_meter(fuel, request.path_params["point"], request.path_params["serial"])
        if found is None:
            return _detail(404, "Not found.")
        household, prop, point, meter = found
        period = self._period(request, household)
        if isinstance(period, Response):
            return period
        group_by = request.query_params.get("group_by") or None
        if group_by is not None and group_by not in GROUP_BY_CHOICES:
            return JSONResponse({"group_by": [f'"{group_by}" is not a valid choice.']}, status_code=400)
        rows = consumption_rows(
            household,
            prop,
            point,
            self.clock(),
            *period,
            group_by=group_by,
            newest_first=request.query_params.get("order_by", "-period") != "period",
            sloppy=self.sloppy_window,
            duplicate=self.duplicate_rows,
            meter=meter,
        )
        if self.reading_scale != 1.0:
            rows = [{**row, "consumption": round(row["consumption"] * self.reading_scale, 3)} for row in rows]
        return self._page(request, rows, self.page_size_max)

    def _rates(self, fuel: Fuel, rate_type: str, request: Request) -> Response:
        product, code = request.path_params["product"], request.path_params["tariff"]
        tariff = TARIFFS.get(code)
        if tariff is None or tariff.fuel != fuel or tariff.product_code != product:
            kind = "ElectricityTariff" if fuel == "electricity" else "GasTariff"
            return _detail(404, f"No {kind} matches the given query.")
        if rate_type == "standard-unit-rates" and tariff.has_day_night:
            return _detail(400, "This tariff has day and night rates; use day-unit-rates / night-unit-rates.")
        if rate_type not in tariff.rates:
            return _detail(404, "Not found.")
        period = self._period(request)
        if isinstance(period, Response):
            return period
        rows = rate_rows(
            self.household.seed,
            tariff,
            rate_type,
            self.household.tz,
            self.tariff_history_start,
            self.clock(),
            *period,
            sloppy=self.sloppy_window,
        )
        return self._page(request, rows, RATES_PAGE_SIZE_MAX)

    def _product(self, request: Request) -> Response:
        """The product's tariffs by register kind, region (`_C`) and payment method, as the API lists them:
        current prices and links to each rate endpoint. `tariffs_active_at` leaves out tariffs not yet on sale."""
        code = request.path_params["product"]
        tariffs = list(iter_tariffs(code))
        if not tariffs:
            return _detail(404, "No Product matches the given query.")
        try:
            active_at = _parse_instant(request.query_params.get("tariffs_active_at"), self.household.tz)
        except ValueError:
            return JSONResponse({"tariffs_active_at": ["Enter a valid date/time."]}, status_code=400)
        now = self.clock()
        active_at = active_at or now
        sections: dict[str, dict[str, Any]] = {f"{kind}_tariffs": {} for kind in PRODUCT_SECTIONS}
        for tariff in tariffs:
            if tariff.available_from and active_at.astimezone(self.household.tz).date() < tariff.available_from:
                continue
            registers = "dual_register" if tariff.has_day_night else "single_register"
            entry = self._tariff_entry(request, tariff, now)
            methods = {
                method for schedule in tariff.rates.values() if schedule for method in schedule.payment_methods
            }
            keys = ["direct_debit_monthly"] + (["varying"] if "NON_DIRECT_DEBIT" in methods else [])
            sections[f"{registers}_{tariff.fuel}_tariffs"][f"_{tariff.region}"] = {key: entry for key in keys}
        first = tariffs[0]
        available_from = min((t.available_from or self.tariff_history_start) for t in tariffs)
        return JSONResponse(
            {
                "code": code,
                "full_name": first.full_name,
                "display_name": first.full_name.split(" ")[0] + " " + first.full_name.split(" ")[1],
                "description": f"{first.full_name} (simulated).",
                "is_variable": first.is_variable,
                "is_green": True,
                "is_tracker": "SILVER" in code,
                "is_prepay": False,
                "is_business": False,
                "is_restricted": False,
                "term": None if first.is_variable else 12,
                "available_from": iso_utc(local_midnight(available_from, self.household.tz)),
                "available_to": None,
                "tariffs_active_at": iso_utc(active_at),
                **sections,
                "links": [{"href": str(request.url), "method": "GET", "rel": "self"}],
                "brand": "OCTOPUS_ENERGY",
            }
        )

    def _tariff_entry(self, request: Request, tariff, now: datetime) -> dict[str, Any]:
        """One tariff of a product: its code, today's prices and where its rates are."""
        base = str(request.base_url).rstrip("/")
        entry: dict[str, Any] = {"code": tariff.code}
        links = []
        for rate_type, schedule in tariff.rates.items():
            if schedule is None and rate_type != "standing-charges":
                continue
            rows = rate_rows(
                self.household.seed, tariff, rate_type, self.household.tz, self.tariff_history_start, now,
                now, now + timedelta(minutes=30),
            )  # fmt: skip
            name = rate_type.replace("-", "_").removesuffix("s")  # standing_charge, standard_unit_rate, ...
            entry[f"{name}_exc_vat"] = rows[0]["value_exc_vat"] if rows else 0.0
            entry[f"{name}_inc_vat"] = rows[0]["value_inc_vat"] if rows else 0.0
            path = f"/v1/products/{tariff.product_code}/{tariff.fuel}-tariffs/{tariff.code}/{rate_type}/"
            links.append({"href": base + path, "method": "GET", "rel": rate_type.replace("-", "_")})
        entry.update(
            online_discount_exc_vat=0, online_discount_inc_vat=0, dual_fuel_discount_exc_vat=0,
            dual_fuel_discount_inc_vat=0, exit_fees_exc_vat=0, exit_fees_inc_vat=0, exit_fees_type="NONE",
            links=links,
        )  # fmt: skip
        return entry


def _check_unique(households: Sequence[Household]) -> None:
    """Account numbers and meter points must be unique, and a serial belongs to one account only."""
    accounts: set[str] = set()
    points: set[tuple[str, str]] = set()
    serial_owner: dict[str, str] = {}
    for household in households:
        if household.account_number in accounts:
            raise ValueError(f"account {household.account_number} appears twice")
        accounts.add(household.account_number)
        for _, point in household.iter_meter_points():
            if (point.fuel, point.identifier) in points:
                raise ValueError(f"{point.fuel} meter point {point.identifier} appears twice")
            points.add((point.fuel, point.identifier))
            for meter in point.meters:
                owner = serial_owner.setdefault(meter.serial_number, household.account_number)
                if owner != household.account_number:
                    raise ValueError(
                        f"meter {meter.serial_number} belongs to {owner} and {household.account_number}"
                    )


def _positive_int(text: str | None) -> int | None:
    try:
        value = int(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value > 0 else None


def _parse_instant(text: str | None, tz: Any) -> datetime | None:
    """ISO 8601 with `Z` or an offset; naive times are local, as Django reads them."""
    if not text:
        return None
    # An unencoded '+' in a query string arrives as a space: "...T00:00:00 01:00".
    parsed = datetime.fromisoformat(text.strip().replace(" ", "+") if "T" in text else text.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
