"""Octopus's GraphQL (Kraken) API, beside the REST client: what REST does not tell (gas meters' units,
Intelligent Octopus dispatches).

A token comes from the API key (`obtainKrakenToken`), lasts 60 minutes and is refreshed with its refresh token
(7 days) before it expires (a refused refresh token, KT-CT-1134/1135, means logging in with the key again), or
once when Kraken says it has expired (KT-CT-1124, "Signature of the JWT has expired."; KT-CT-1120). Kraken answers
errors as HTTP 200 with `errors[].extensions.errorCode`: KT-CT-1199 (too many requests) is waited out and retried;
KT-CT-1139 (a wrong API key: "Invalid data.", "Authentication failed."), KT-CT-1111 ("Unauthorized.") and
KT-CT-1143 (which public clients treat alike) are a rejected key, a final error. The codes are those of Octopus's
error-code reference and of real answers quoted by public clients (BottlecapDave/HomeAssistant-OctopusEnergy,
Predbat, marco-sparko). Transport (retries of 5xx, 429 and HTML 403 pages within the budget, connection
failures) is the REST client's. Neither the key nor a token is ever put in a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from octograph_pipeline.clients.net import connection_problem
from octograph_pipeline.clients.octopus import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    ApiUnreachable,
    FinalError,
    OctopusError,
    budget_spent,
    configured_retry,
    default_retry,
    retrying,
)
from octograph_pipeline.core.models import (
    Dispatch,
    parse_completed_dispatch,
    parse_gas_meter_units,
    parse_planned_dispatch,
)
from octograph_pipeline.core.settings import Settings

TOKEN_SECONDS = 3600
REFRESH_BEFORE_SECONDS = 300  # a token older than 55 minutes is refreshed before use
THROTTLE_WAITS = (2.0, 5.0, 10.0, 20.0)  # seconds before each retry of a KT-CT-1199 answer

TOKEN = """mutation ObtainKrakenToken($input: ObtainJSONWebTokenInput!) {
  obtainKrakenToken(input: $input) { token refreshToken refreshExpiresIn }
}"""
GAS_METER_UNITS = """query GasMeterUnits($accountNumber: String!) {
  account(accountNumber: $accountNumber) {
    properties { gasMeterPoints { mprn meters { serialNumber consumptionUnits } } }
  }
}"""
DISPATCHES = """query Dispatches($accountNumber: String!) {
  devices(accountNumber: $accountNumber) { id }
  completedDispatches(accountNumber: $accountNumber) { start end delta meta { source location } }
}"""
PLANNED_DISPATCHES = """query PlannedDispatches($deviceId: String!) {
  flexPlannedDispatches(deviceId: $deviceId) { start end type energyAddedKwh }
}"""
QUERIES = (TOKEN, GAS_METER_UNITS, DISPATCHES, PLANNED_DISPATCHES)

AUTH_REJECTED = {"KT-CT-1139", "KT-CT-1111", "KT-CT-1143"}
TOKEN_EXPIRED = {"KT-CT-1124", "KT-CT-1120"}
THROTTLED = "KT-CT-1199"
PLANNED_UNAVAILABLE = "KT-CT-4340"  # "Unable to fetch planned dispatches.": public clients read it as none


class KrakenError(OctopusError):
    """Kraken answered with `errors[]`; `codes` are their `errorCode`s."""

    def __init__(self, message: str, codes: set[str]):
        super().__init__(message)
        self.codes = codes


class KrakenAuthError(KrakenError, FinalError):
    """The key or token was refused by the GraphQL API."""


class GraphQLUnavailable(FinalError):
    """No GraphQL API at `{api_prefix}/graphql/` (HTTP 404)."""


class KrakenClient:
    """POST `{api_prefix}/graphql/` with a token kept fresh; `query` returns the answer's `data`."""

    def __init__(
        self,
        api_prefix: str,
        api_key: str,
        *,
        retry=None,
        clock: Callable[[], float] = time.monotonic,
        throttle_waits: tuple[float, ...] = THROTTLE_WAITS,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.url = f"{api_prefix.rstrip('/')}/graphql/"
        self._api_key = api_key
        self._clock, self._sleep, self._throttle_waits = clock, sleep, throttle_waits
        self._token: str | None = None
        self._refresh_token: str | None = None
        self._obtained_at = 0.0
        self.session = requests.Session()
        self.budget = retrying(self.session, retry or default_retry(methods=("POST",)))

    @classmethod
    def from_settings(cls, settings: Settings) -> KrakenClient:
        return cls(
            settings.octopus.api_prefix, settings.octopus.api_key(), retry=configured_retry(settings, ("POST",))
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> KrakenClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- what the pipeline asks ------------------------------------------------------------------------

    def gas_meter_units(self, account_number: str) -> dict[str, str]:
        """Gas meter serial number -> what it reports, "m3" or "kWh" (from `consumptionUnits`)."""
        return parse_gas_meter_units(self.query(GAS_METER_UNITS, accountNumber=account_number)["account"] or {})

    def dispatches(self, account_number: str) -> list[Dispatch]:
        """Completed dispatches (Kraken serves about the last 12 hours) and every device's planned ones (none
        where Kraken is unable to fetch them, KT-CT-4340: the completed ones still count)."""
        data = self.query(DISPATCHES, accountNumber=account_number)
        found = [parse_completed_dispatch(row) for row in data.get("completedDispatches") or []]
        for device in data.get("devices") or []:
            try:
                planned = self.query(PLANNED_DISPATCHES, deviceId=device["id"]).get("flexPlannedDispatches")
            except KrakenError as exc:
                if PLANNED_UNAVAILABLE not in exc.codes:
                    raise
                planned = []
            found += [parse_planned_dispatch(row) for row in planned or []]
        return found

    # --- the protocol ----------------------------------------------------------------------------------

    def query(self, text: str, **variables) -> dict:
        """The `data` of one GraphQL operation, with a valid token (renewed once if Kraken says it expired)."""
        errors, data = self._call(text, variables, self._valid_token())
        if errors and TOKEN_EXPIRED & _codes(errors):
            self._token = None
            errors, data = self._call(text, variables, self._valid_token())
        if errors:
            raise _error(errors)
        return data or {}

    def _valid_token(self) -> str:
        """The token, refreshed with the refresh token when 55 minutes old (or logged in again with the key)."""
        if self._token and self._clock() - self._obtained_at < TOKEN_SECONDS - REFRESH_BEFORE_SECONDS:
            return self._token
        obtained = self._refresh_token and self._obtain({"refreshToken": self._refresh_token}, raising=False)
        obtained = obtained or self._obtain({"APIKey": self._api_key}, raising=True)
        self._token, self._refresh_token = obtained["token"], obtained["refreshToken"]
        self._obtained_at = self._clock()
        return self._token

    def _obtain(self, given: dict, raising: bool) -> dict | None:
        """`obtainKrakenToken` with an API key or a refresh token; a refusal raises, or gives None."""
        errors, data = self._call(TOKEN, {"input": given}, None)
        if errors and raising:
            raise _error(errors)
        return None if errors else data["obtainKrakenToken"]

    def _call(self, text: str, variables: dict, token: str | None) -> tuple[list[dict], dict | None]:
        """One operation, KT-CT-1199 (too many requests) waited out THROTTLE_WAITS times."""
        waits = list(self._throttle_waits)
        while True:
            errors, data = self._post(text, variables, token)
            if not (errors and THROTTLED in _codes(errors) and waits):
                return errors, data
            self._sleep(waits.pop(0))

    def _post(self, text: str, variables: dict, token: str | None) -> tuple[list[dict], dict | None]:
        headers = {"Authorization": token} if token else {}
        self.budget.attempt()
        try:
            response = self.session.post(
                self.url,
                json={"query": text, "variables": variables},
                headers=headers,
                timeout=(CONNECT_TIMEOUT, self.budget.read_timeout(READ_TIMEOUT)),
            )
        except requests.exceptions.RetryError as exc:
            raise OctopusError(f"POST {self.url} kept failing after retries: {exc}") from None
        except requests.exceptions.RequestException as exc:
            if spent := budget_spent(exc, f"POST {self.url}", self.budget):
                raise spent from None
            if problem := connection_problem(exc, CONNECT_TIMEOUT):
                raise ApiUnreachable(
                    f"cannot connect to the Octopus GraphQL API at {self.url}: {problem}"
                ) from None
            raise OctopusError(f"POST {self.url} failed: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise GraphQLUnavailable(f"no Octopus GraphQL API at {self.url} (HTTP 404)")
        try:
            body = response.json()
        except ValueError:
            raise OctopusError(
                f"POST {self.url} returned HTTP {response.status_code} "
                f"({response.headers.get('Content-Type') or 'no content type'}), not JSON"
            ) from None
        if not response.ok and not body.get("errors"):
            raise OctopusError(f"POST {self.url} returned HTTP {response.status_code}")
        return list(body.get("errors") or []), body.get("data")


def _code(error: dict) -> str:
    return str((error.get("extensions") or {}).get("errorCode"))


def _said(error: dict) -> str:
    """The error's message and, where it adds to it, what its code means (`errorDescription`)."""
    message = str(error.get("message") or "").strip()
    description = str((error.get("extensions") or {}).get("errorDescription") or "").strip()
    return f"{message} {description}" if description and description not in message else message


def _codes(errors: list[dict]) -> set[str]:
    return {_code(error) for error in errors}


def _error(errors: list[dict]) -> KrakenError:
    """The exception for Kraken's `errors[]`: a rejected key or token is final, the rest may mend later."""
    codes = _codes(errors)
    said = "; ".join(f"{_said(error)} ({_code(error)})" for error in errors)
    if codes & AUTH_REJECTED:
        return KrakenAuthError(
            f"the Octopus GraphQL API refused the API key: {said}; check the variable named by "
            "[octopus] api_key_env_var",
            codes,
        )
    if THROTTLED in codes:
        return KrakenError(f"the Octopus GraphQL API kept throttling this client ({said}); try again later", codes)
    return KrakenError(f"the Octopus GraphQL API answered with errors: {said}", codes)
