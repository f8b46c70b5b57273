"""The simulator's Kraken GraphQL endpoint (`POST /v1/graphql/`): the few operations the pipeline sends.

Like Kraken, it answers HTTP 200 with `errors[]` and an `extensions.errorCode`, issues tokens for 60 minutes
and refresh tokens for 7 days (by the simulator's clock), and rejects the fields Octopus has removed. It does
not parse GraphQL: it recognises the root fields a query selects and answers with their usual shapes.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from octograph_pipeline.dev.simulator.household import Household, iso_utc

TOKEN_LIFETIME = timedelta(minutes=60)
REFRESH_LIFETIME = timedelta(days=7)
COMPLETED_HOURS = 12  # completedDispatches serves only this far back
PLANNED_HOURS = 24
REMOVED_FIELDS = ("plannedDispatches", "startDt", "endDt")  # gone from the schema (2025-01-01, 2026-01-16)
ROOT_FIELD = re.compile(r"(\w+)\s*(?:\(|\{)")
# obtainKrakenToken's refusals, as Kraken words them: (errorCode, message, errorDescription)
REFUSED_KEY = ("KT-CT-1139", "Invalid data.", "Authentication failed.")
EXPIRED_REFRESH_TOKEN = ("KT-CT-1134", "Invalid data.", "The refresh token has expired.")
UNKNOWN_REFRESH_TOKEN = ("KT-CT-1135", "Invalid data.", "Please make sure the refresh token is correct.")
TOKEN_NULL = {"obtainKrakenToken": None}


class KrakenGraphQL:
    """Token issue, expiry and refresh; account gas units, devices, completed and planned dispatches.

    Knobs: `enabled` (False: 404, as for a key without GraphQL access), `throttle` (the next n requests answer
    KT-CT-1199), `completed_hours`, `completed_sources` (False: completed dispatches' `meta.source` is null, as
    Kraken's schema documents it and real answers show), `completed_location` (`AT_HOME`, or `AWAY`) and
    `planned_available` (False: flexPlannedDispatches answers KT-CT-4340, "Unable to fetch planned dispatches.").
    `issued` counts tokens by how they were obtained ("APIKey", "refreshToken")."""

    def __init__(
        self,
        api_key: str,
        accounts: dict[str, Household],
        clock: Callable[[], datetime],
        accepts: Callable[[str], bool] | None = None,
    ):
        self.api_key = api_key
        self.accepts = accepts  # which keys obtain a token (default: api_key only)
        self.accounts = accounts
        self.clock = clock
        self.enabled = True
        self.throttle = 0
        self.completed_hours = COMPLETED_HOURS
        self.completed_sources = True
        self.completed_location = "AT_HOME"
        self.planned_available = True
        self.issued: dict[str, int] = {"APIKey": 0, "refreshToken": 0}
        self._tokens: dict[str, datetime] = {}  # token -> expiry
        self._refresh_tokens: dict[str, datetime] = {}

    async def __call__(self, request: Request) -> Response:
        if not self.enabled:
            return JSONResponse({"detail": "Not found."}, status_code=404)
        try:
            body = await request.json()
            query, variables = str(body["query"]), dict(body.get("variables") or {})
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"errors": [{"message": "Must provide query string."}]}, status_code=400)
        if self.throttle > 0:
            self.throttle -= 1
            return _error(
                "KT-CT-1199", "Too many requests.", "There were too many requests. Please try again later.",
                kind="AUTHORIZATION",
            )  # fmt: skip
        if removed := [name for name in REMOVED_FIELDS if re.search(rf"\b{name}\b", query)]:
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": f"Cannot query field '{removed[0]}'.",
                            "extensions": {"errorType": "VALIDATION"},
                        }
                    ]
                },
                status_code=400,
            )
        fields = _root_fields(query)
        if "obtainKrakenToken" in fields:
            return self._token(variables.get("input") or {})
        if denied := self._unauthorised(request.headers.get("authorization", "")):
            return denied
        data: dict[str, Any] = {}
        account = self.accounts.get(str(variables.get("accountNumber", "")))
        for name in fields:
            if name in ("account", "devices", "completedDispatches") and account is None:
                return _error("KT-CT-4123", "Unauthorized.", path=name, kind="AUTHORIZATION")
            if name == "account":
                data["account"] = _account(account)
            elif name == "devices":
                data["devices"] = _devices(account)
            elif name == "completedDispatches":
                now = self.clock()
                done = account.dispatches(now - timedelta(hours=self.completed_hours), now)
                data["completedDispatches"] = [
                    _completed(d, d.source if self.completed_sources else None, self.completed_location)
                    for d in reversed(done)
                    if d.end <= now
                ]
            elif name == "flexPlannedDispatches":
                household = next(
                    (h for h in self.accounts.values() if h.device_id == variables.get("deviceId")), None
                )
                if household is None or not self.planned_available:
                    return _error("KT-CT-4340", "Unable to fetch planned dispatches.", path=name)
                now = self.clock()
                upcoming = household.dispatches(now, now + timedelta(hours=PLANNED_HOURS))
                data["flexPlannedDispatches"] = [_planned(d) for d in upcoming if d.start >= now]
        return JSONResponse({"data": data})

    def _token(self, given: dict) -> Response:
        now = self.clock()
        if "APIKey" in given:
            key = str(given["APIKey"])
            if not (
                self.accepts(key) if self.accepts else hmac.compare_digest(key.encode(), self.api_key.encode())
            ):
                return _error(*REFUSED_KEY, path="obtainKrakenToken", kind="VALIDATION", data=TOKEN_NULL)
            self.issued["APIKey"] += 1
        elif "refreshToken" in given:
            expiry = self._refresh_tokens.pop(str(given["refreshToken"]), None)
            if expiry is None or expiry <= now:
                refused = UNKNOWN_REFRESH_TOKEN if expiry is None else EXPIRED_REFRESH_TOKEN
                return _error(*refused, path="obtainKrakenToken", kind="VALIDATION", data=TOKEN_NULL)
            self.issued["refreshToken"] += 1
        else:
            return _error(*REFUSED_KEY, path="obtainKrakenToken", kind="VALIDATION", data=TOKEN_NULL)
        token, refresh = f"kt.{secrets.token_urlsafe(24)}", f"ktr.{secrets.token_urlsafe(24)}"
        self._tokens[token] = now + TOKEN_LIFETIME
        self._refresh_tokens[refresh] = now + REFRESH_LIFETIME
        payload = {"exp": int((now + TOKEN_LIFETIME).timestamp()), "origIat": int(now.timestamp())}
        return JSONResponse(
            {
                "data": {
                    "obtainKrakenToken": {
                        "token": token,
                        "refreshToken": refresh,
                        "refreshExpiresIn": int((now + REFRESH_LIFETIME).timestamp()),
                        "payload": payload,
                    }
                }
            }
        )

    def _unauthorised(self, header: str) -> Response | None:
        if not header:
            return _error("KT-CT-1112", "'Authorization' header not provided.", kind="AUTHORIZATION")
        expiry = self._tokens.get(header.removeprefix("JWT ").strip())
        if expiry is None:
            return _error("KT-CT-1111", "Unauthorized.", kind="AUTHORIZATION")
        if expiry <= self.clock():
            return _error("KT-CT-1124", "Signature of the JWT has expired.")
        return None


def _root_fields(query: str) -> list[str]:
    """The fields selected at the top of the operation: `query X($a: T) { account(...) { ... } devices ... }`."""
    body = query[query.index("{") + 1 :] if "{" in query else ""
    fields, depth, parens = [], 0, 0
    for match in re.finditer(r"[(){}]|\w+", body):
        token = match[0]
        if token in "({":
            depth += token == "{"
            parens += token == "("
        elif token in ")}":
            depth -= token == "}"
            parens -= token == ")"
        elif depth == 0 and parens == 0 and ROOT_FIELD.match(body, match.start()):
            fields.append(token)
    return fields


def _error(
    code: str,
    message: str,
    description: str = "",
    path: str | None = None,
    kind: str = "APPLICATION",
    data: dict | None = None,
) -> Response:
    """Kraken's error answer: HTTP 200, `errors[]` with `extensions.errorCode`, `errorType` and
    `errorDescription` (what the code means; `message` may be as general as "Invalid data.")."""
    extensions = {"errorType": kind, "errorCode": code, "errorDescription": description}
    error: dict[str, Any] = {"message": message, "extensions": extensions}
    if path:
        error["path"] = [path]
    return JSONResponse({"data": data, "errors": [error]})


def _account(household: Household) -> dict:
    return {
        "number": household.account_number,
        "properties": [
            {
                "id": str(prop.id),
                "gasMeterPoints": [
                    {
                        "mprn": point.identifier,
                        "meters": [
                            {
                                "serialNumber": meter.serial_number,
                                "consumptionUnits": "kWh" if meter.unit == "kWh" else "m³",
                            }
                            for meter in point.meters
                        ],
                    }
                    for point in prop.meter_points
                    if point.fuel == "gas"
                ],
            }
            for prop in household.properties
        ],
    }


def _devices(household: Household) -> list[dict]:
    if household.device_id is None:
        return []
    return [
        {
            "id": household.device_id,
            "deviceType": "ELECTRIC_VEHICLES",
            "provider": "TESLA",
            "status": {"currentState": "SMART_CONTROL_CAPABLE"},
            "__typename": "SmartFlexVehicle",
        }
    ]


def _completed(dispatch, source: str | None, location: str) -> dict:
    return {
        "start": iso_utc(dispatch.start),
        "end": iso_utc(dispatch.end),
        "delta": f"{-dispatch.kwh:.3f}",  # Kraken reports the energy as a negative delta
        "meta": {"source": source, "location": location},
    }


def _planned(dispatch) -> dict:
    return {
        "start": iso_utc(dispatch.start),
        "end": iso_utc(dispatch.end),
        "type": "SMART" if dispatch.source == "smart-charge" else "BOOST",
        "energyAddedKwh": f"{dispatch.kwh:.3f}",
    }
