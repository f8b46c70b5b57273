"""What kept an HTTP request from reaching its server, in a few words a user can act on."""

from __future__ import annotations

import requests
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError


def connection_problem(exc: requests.RequestException, connect_timeout: float) -> str | None:
    """What kept a connection from being made, in a few words; None if one was made (a reset mid-response or a
    read timeout is worth retrying later)."""
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error ({_reason(exc)})"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no answer within {connect_timeout:.0f} s"
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return None
    reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else None
    if isinstance(reason, NameResolutionError):
        return "its host name does not resolve"
    if isinstance(reason, NewConnectionError):
        return _reason(exc).split("] ")[-1].lower() if "] " in _reason(exc) else "connection refused"
    return None


def _reason(exc: Exception) -> str:
    """The innermost message of a requests/urllib3 exception chain."""
    reason = exc.args[0] if exc.args else exc
    while isinstance(getattr(reason, "reason", None), Exception):
        reason = reason.reason
    return str(reason.args[-1] if getattr(reason, "args", None) else reason)
