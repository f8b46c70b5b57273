"""The Octopus Energy REST API client: one requests session, retries in its adapter, pagination, clear errors.

The same code talks to api.octopus.energy and to our simulator; nothing here knows which.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import time
from pathlib import Path

import pandas as pd
import requests
from urllib3.exceptions import MaxRetryError, ReadTimeoutError
from urllib3.util.retry import Retry

from octograph_pipeline.clients.net import connection_problem
from octograph_pipeline.clients.pacing import PacedAdapter, SharedPace
from octograph_pipeline.core.models import POINT_ID_NAME, Account, Product, parse_account, parse_product
from octograph_pipeline.core.settings import Settings
from octograph_pipeline.core.tariffs import parse_tariff_code

log = logging.getLogger(__name__)

CONSUMPTION_PAGE_SIZE = 25000
RATES_PAGE_SIZE = 1500
GROUP_BY = {30: None, 60: "hour", 1440: "day", 10080: "week"}
RETRYABLE_STATUSES = (403, 429, 500, 502, 503, 504)
CACHE_SECONDS = 3600


# A connection that fails is tried this many more times (refused, unknown host, no answer in CONNECT_TIMEOUT).
CONNECT_RETRIES = 2
CONNECT_TIMEOUT, READ_TIMEOUT = 10.0, 60.0
DEFAULT_RETRY_BUDGET_SECONDS = 45.0  # [pipeline] api_retry_budget_seconds
PACE_FILE = "octopus-pace"  # in the cache directory: the instant this machine's next request may start


class OctopusError(RuntimeError):
    """An Octopus API failure with a message a user can act on; worth retrying later (5xx, throttling)."""


class FinalError(OctopusError):
    """A failure that retrying will not mend: the step fails at once."""


class ApiKeyRejected(FinalError):
    pass


class NotFound(FinalError):
    pass


class ApiUnreachable(FinalError):
    """No connection after CONNECT_RETRIES more tries: wrong `api_prefix`, no network, a TLS problem."""


class RetryBudget:
    """Seconds one client (one step's attempt) may spend on requests that fail and the pauses between them,
    over all its requests: a failed attempt is charged the time it took (a read timeout, a slow 500), a pause its
    length, and no attempt may wait for an answer longer than what is left. So an API that accepts connections
    and never answers costs a step about this long, not `retries` x READ_TIMEOUT per request."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.left = seconds
        self._attempt_began: float | None = None

    def attempt(self) -> None:
        """An attempt begins now (a request, or the retry after a pause)."""
        self._attempt_began = time.monotonic()

    def charge_failed_attempt(self) -> None:
        if self._attempt_began is not None:
            self.left -= time.monotonic() - self._attempt_began
            self._attempt_began = None

    def read_timeout(self, longest: float) -> float:
        """How long the next request may wait for an answer: `longest`, or what is left (a second at least)."""
        return max(1.0, min(longest, self.left))


class BudgetSpent(MaxRetryError):
    """The client's RetryBudget is spent: no more attempts for this step."""


class OctopusRetry(Retry):
    """urllib3 Retry that also retries the transient HTML 403 pages nginx/CloudFront serve to busy clients, and
    waits (backoff or `Retry-After`) only while its client's RetryBudget lasts.

    A JSON 403 is a real refusal of the key: it is handed back at once (raising MaxRetryError with
    raise_on_status=False makes urllib3 return the response as it is) rather than retried; so is the last
    response once the budget is spent.
    """

    def __init__(self, *args, budget: RetryBudget | None = None, pace: SharedPace | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.budget = budget or RetryBudget(DEFAULT_RETRY_BUDGET_SECONDS)
        self.pace = pace  # shared with every process of this machine: a 429 pauses them all

    def new(self, **kw) -> OctopusRetry:
        retry = super().new(**kw)
        retry.budget = self.budget  # urllib3 copies the Retry on every attempt; the budget is shared
        retry.pace = self.pace
        return retry

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if response is not None and response.status == 403 and not _is_html(response.headers):
            raise MaxRetryError(_pool, url, "403 with a JSON body is not transient")
        self.budget.charge_failed_attempt()
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        retry_after = retry.get_retry_after(response) if response is not None else None
        if self.pace is not None and response is not None and response.status == 429:
            self.pace.pause_all(retry_after or retry.get_backoff_time())
        if self.budget.left <= 0 or (retry_after or retry.get_backoff_time()) > self.budget.left:
            last = f"HTTP {response.status}" if response is not None else _failure(error)
            raise BudgetSpent(_pool, url, f"last attempt: {last}")
        return retry

    def sleep(self, response=None) -> None:
        began = time.monotonic()
        super().sleep(response)
        self.budget.left -= time.monotonic() - began
        if self.pace is not None:  # another process's 429 may pause this one too; not charged to the budget
            self.pace.wait_turn()
        self.budget.attempt()


def _failure(error: Exception | None) -> str:
    if isinstance(error, ReadTimeoutError):
        return "no answer in time"
    return type(error).__name__ if error else "a failure"


def budget_spent(exc: requests.RequestException, request: str, budget: RetryBudget) -> OctopusError | None:
    """The error to raise if `request` ("GET url") failed because its client's retry budget was spent."""
    cause = exc.args[0] if exc.args else None
    if not isinstance(cause, BudgetSpent):
        return None
    return OctopusError(
        f"{request} did not succeed within [pipeline] api_retry_budget_seconds = {budget.seconds:.0f} s "
        f"({cause.reason})"
    )


def retrying(session: requests.Session, retry: Retry) -> RetryBudget:
    """Mounts `retry` (and the machine's pace it carries) on the session for both schemes; returns the retry
    budget the session's requests share. Both Octopus clients, REST and GraphQL, are built this way."""
    adapter = PacedAdapter(getattr(retry, "pace", None), max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "octograph-pipeline"
    return getattr(retry, "budget", None) or RetryBudget(DEFAULT_RETRY_BUDGET_SECONDS)


def _cached_session(directory: Path, api_key: str) -> requests.Session:
    """The development cache (`enable_cache = true`): answers kept an hour (late readings and new prices must
    show up when a day is fetched again), in a file only this user can read or write (addresses, MPANs and usage
    are in it), one per API key, named by the key's hash: another key never reads these answers."""
    import requests_cache  # only when asked for

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"octopus_api_{hashlib.sha256(api_key.encode()).hexdigest()[:16]}.sqlite"
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    if path.stat().st_uid != os.getuid() or path.stat().st_mode & 0o077:
        raise FinalError(f"the response cache {path} is not this user's alone; remove it ([octopus] cache_dir)")
    # requests-cache leaves the Authorization header out of cache keys and of the requests it stores.
    return requests_cache.CachedSession(str(path), backend="sqlite", expire_after=CACHE_SECONDS)


def _is_html(headers) -> bool:
    return "html" in (headers.get("Content-Type") or "").lower()


def default_retry(
    total: int = 6,
    backoff_factor: float = 0.5,
    backoff_max: float = 30.0,
    budget_seconds: float = DEFAULT_RETRY_BUDGET_SECONDS,
    methods: tuple[str, ...] = ("GET",),
    pace: SharedPace | None = None,
) -> Retry:
    """Backoff for what mends (429, 5xx, HTML 403, read timeouts) within a budget of waiting; a short allowance
    for connecting, and none for other errors (TLS), which do not mend by waiting. GraphQL's POSTs only read
    (or obtain a token), so they may be repeated too."""
    return OctopusRetry(
        budget=RetryBudget(budget_seconds),
        pace=pace,
        total=total,
        connect=min(total, CONNECT_RETRIES),
        other=0,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        status_forcelist=RETRYABLE_STATUSES,
        allowed_methods=frozenset(methods),
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def configured_retry(settings: Settings, methods: tuple[str, ...] = ("GET",), paced: bool = True) -> Retry:
    """`default_retry` as `[pipeline] api_retries`, `api_backoff_seconds` and `api_retry_budget_seconds` say,
    keeping this machine's shared pace of Octopus requests (`api_requests_per_second`) unless not `paced` (for
    another API, whose limits are not Octopus's)."""
    pipeline = settings.pipeline
    return default_retry(
        total=pipeline.api_retries,
        backoff_factor=pipeline.api_backoff_seconds,
        budget_seconds=pipeline.api_retry_budget_seconds,
        methods=methods,
        pace=shared_pace(settings) if paced else None,
    )


def shared_pace(settings: Settings) -> SharedPace:
    """The pace every process of this machine keeps (its file is in the cache directory)."""
    return SharedPace(Path(settings.octopus.cache_dir) / PACE_FILE, settings.pipeline.api_requests_per_second)


def utc_text(moment: dt.datetime, form: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
    """An absolute instant as an API's URL wants it (UTC, `Z`); a naive one is refused, never guessed."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; the API needs an absolute instant")
    return moment.astimezone(dt.UTC).strftime(form)


class OctopusClient:
    """Reads an account, a meter's consumption and a tariff's rates; returns UTC-stamped pandas frames."""

    def __init__(
        self,
        api_prefix: str,
        api_key: str,
        *,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
        retry: Retry | None = None,
        cache_dir: str | Path | None = None,
    ):
        self.api_prefix = api_prefix.rstrip("/")
        self.timeout = timeout
        self.session = _cached_session(Path(cache_dir), api_key) if cache_dir else requests.Session()
        self.budget = retrying(self.session, retry or default_retry())
        self.session.auth = (api_key, "")

    @classmethod
    def from_settings(cls, settings: Settings) -> OctopusClient:
        """The client the config asks for: its API prefix and key, retries and cache."""
        octopus = settings.octopus
        return cls(
            octopus.api_prefix,
            octopus.api_key(),
            retry=configured_retry(settings),
            cache_dir=octopus.cache_dir if octopus.enable_cache else None,
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> OctopusClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- endpoints -------------------------------------------------------------------------------------

    def account(self, account_number: str) -> Account:
        """The account, never from the cache: a key revoked since must fail now, not in an hour."""
        with getattr(self.session, "cache_disabled", contextlib.nullcontext)():
            data = self._get_json(
                f"{self.api_prefix}/accounts/{account_number}/",
                not_found=f"Octopus account {account_number} not found (check [octopus] account_number)",
            )
        return parse_account(data, account_number)

    def product(self, product_code: str, payment_method: str = "DIRECT_DEBIT") -> Product | None:
        """The product's tariffs (for the payment method) per fuel, register count and region; None if Octopus
        has no such product."""
        try:
            data = self._get_json(f"{self.api_prefix}/products/{product_code}/", not_found="")
        except NotFound:
            return None
        return parse_product(data, payment_method)

    def consumption(
        self,
        fuel: str,
        meter_point: str,
        serial_number: str,
        period_from: dt.datetime,
        period_to: dt.datetime,
        resolution_minutes: int = 30,
    ) -> pd.DataFrame:
        """Consumption rows with interval_start in [period_from, period_to), one per interval, oldest first.

        `period_to` is exclusive, so asking up to the local midnight after a day includes its last half-hour.
        """

        params = {
            "period_from": utc_text(period_from),
            "period_to": utc_text(period_to),
            "page_size": CONSUMPTION_PAGE_SIZE,
            "order_by": "period",
        }
        if GROUP_BY[resolution_minutes]:
            params["group_by"] = GROUP_BY[resolution_minutes]
        rows = self._get_all(
            f"{self.api_prefix}/{fuel}-meter-points/{meter_point}/meters/{serial_number}/consumption/",
            params,
            not_found=f"{fuel} meter not found: {POINT_ID_NAME[fuel]} {meter_point}, serial {serial_number}",
        )
        frame = pd.DataFrame(rows, columns=["interval_start", "interval_end", "consumption"])
        frame["interval_start"] = pd.to_datetime(frame["interval_start"], utc=True, format="ISO8601")
        frame["interval_end"] = pd.to_datetime(frame["interval_end"], utc=True, format="ISO8601")
        frame["consumption"] = frame["consumption"].astype(float)
        in_window = (frame["interval_start"] >= period_from) & (frame["interval_start"] < period_to)
        return (
            frame[in_window]
            .drop_duplicates("interval_start", keep="last")
            .sort_values("interval_start")
            .reset_index(drop=True)
        )

    def rates(
        self, tariff_code: str, component: str, period_from: dt.datetime, period_to: dt.datetime
    ) -> pd.DataFrame:
        """Rate rows of one component (`standard-unit-rates`, `standing-charges`, ...) overlapping the period.

        Open ends (`valid_from`/`valid_to` null) come back as NaT; prices are in pence.
        """
        tariff = parse_tariff_code(tariff_code)
        rows = self._get_all(
            f"{self.api_prefix}/products/{tariff.product_code}/{tariff.fuel}-tariffs/{tariff.code}/{component}/",
            {
                "period_from": utc_text(period_from),
                "period_to": utc_text(period_to),
                "page_size": RATES_PAGE_SIZE,
            },
            not_found=f"tariff {tariff.code} not found (product {tariff.product_code}, {component})",
        )
        columns = ["valid_from", "valid_to", "value_exc_vat", "value_inc_vat", "payment_method"]
        frame = pd.DataFrame(rows, columns=columns)
        for column in ("valid_from", "valid_to"):
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        for column in ("value_exc_vat", "value_inc_vat"):
            frame[column] = frame[column].astype(float)
        overlaps = (frame["valid_from"].isna() | (frame["valid_from"] < period_to)) & (
            frame["valid_to"].isna() | (frame["valid_to"] > period_from)
        )
        return frame[overlaps].sort_values("valid_from", na_position="first").reset_index(drop=True)

    # --- transport -------------------------------------------------------------------------------------

    def _get_all(self, url: str, params: dict, not_found: str) -> list[dict]:
        """Follows `next` links; the first request carries the params, later ones are complete URLs."""
        results: list[dict] = []
        page: dict | None = self._get_json(url, not_found, params)
        while page is not None:
            results.extend(page.get("results", []))
            next_url = page.get("next")
            page = self._get_json(next_url, not_found) if next_url else None
        return results

    def _get_json(self, url: str, not_found: str, params: dict | None = None) -> dict:
        connect, read = self.timeout
        self.budget.attempt()
        try:
            response = self.session.get(url, params=params, timeout=(connect, self.budget.read_timeout(read)))
        except requests.exceptions.RetryError as exc:
            raise OctopusError(f"GET {url} kept failing after retries: {exc}") from None
        except requests.exceptions.RequestException as exc:
            if spent := budget_spent(exc, f"GET {url}", self.budget):
                raise spent from None
            if problem := connection_problem(exc, CONNECT_TIMEOUT):
                raise ApiUnreachable(
                    f"cannot connect to the Octopus API at {self.api_prefix}: {problem} (tried "
                    f"{1 + CONNECT_RETRIES} times); check [octopus] api_prefix and this machine's network"
                ) from None
            raise OctopusError(f"GET {url} failed: {type(exc).__name__}: {exc}") from None
        is_json = "json" in (response.headers.get("Content-Type") or "").lower()
        if response.ok and is_json:
            return response.json()
        where = f"GET {response.url}"
        if response.ok:
            raise FinalError(
                f"{where} answered with {response.headers.get('Content-Type') or 'no content type'}, not the "
                "Octopus API's JSON: check [octopus] api_prefix (e.g. https://api.octopus.energy/v1)"
            )
        if response.status_code == 401 or (response.status_code == 403 and is_json):
            raise ApiKeyRejected(
                f"the Octopus API rejected the API key (HTTP {response.status_code} from {where}); check the "
                "variable named by [octopus] api_key_env_var, and that the key belongs to [octopus] account_number"
            )
        if response.status_code == 403:
            raise OctopusError(
                f"{where} was blocked with an HTML 403 page after retries; the API is throttling this "
                "client, try again later (this is not a bad API key)"
            )
        if response.status_code == 404 and is_json:
            raise NotFound(not_found)
        if response.status_code == 404:  # not the API's JSON 404: something else answers at that address
            raise FinalError(
                f"{where} answered HTTP 404 without the Octopus API's JSON: check [octopus] api_prefix "
                "(e.g. https://api.octopus.energy/v1)"
            )
        if not is_json:
            content_type = response.headers.get("Content-Type") or "no content type"
            raise OctopusError(f"{where} returned HTTP {response.status_code} ({content_type}), not JSON")
        raise OctopusError(f"{where} returned HTTP {response.status_code}: {_detail(response)}")


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:200]
