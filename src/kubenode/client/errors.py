"""Every error the client raises, in one place.

The hierarchy (all derive from :class:`KubeError`)::

    KubeError
    ├── ConfigError                 no usable kubeconfig / in-cluster config
    ├── TransportError              no HTTP answer: refused, TLS failure, closed, protocol
    │                               error (also a ConnectionError, hence an OSError)
    └── ApiError(status, reason, message, details)   a Status answer from the server
        ├── BadRequest              400
        ├── Unauthorized            401
        ├── Forbidden               403
        ├── NotFound                404
        ├── AlreadyExists           409, reason AlreadyExists
        ├── Conflict                409, any other reason (stale resourceVersion)
        ├── Gone (alias Expired)    410, e.g. a watch or continue token that is too old
        ├── UnsupportedMediaType    415, e.g. strategic merge on a custom resource
        ├── Invalid                 422, ``details["causes"]`` has the field paths
        ├── TooManyRequests         429, ``retry_after`` from the Retry-After header
        └── ServerError             5xx

Errors are built from the server's ``Status`` body (HTTP responses and watch
``ERROR`` events alike), so ``reason`` and ``details`` are what the server said
and callers can branch on the class instead of on numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson


class KubeError(Exception):
    """Base class of every exception raised by :mod:`kubenode.client`."""


class ConfigError(KubeError):
    """No usable connection configuration (kubeconfig, context or in-cluster files)."""


class TransportError(KubeError, ConnectionError):
    """No HTTP answer from the server: the connection was refused or reset, TLS failed, or the bytes were not HTTP.

    Raised the same way by every transport (aiohttp's own exceptions are wrapped, the original is its
    ``__cause__``); being a :class:`ConnectionError` it is also caught by ``except OSError``. A timeout is
    :class:`TimeoutError`.
    """


class ApiError(KubeError):
    """The API server answered with a failure ``Status``."""

    def __init__(self, status: int, reason: str, message: str, details: Mapping[str, Any] | None = None,
                 *, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.details: Mapping[str, Any] = details or {}
        self.retry_after = retry_after

    @property
    def causes(self) -> list[dict[str, Any]]:
        """The ``details.causes`` list (field paths of an Invalid answer); empty when absent."""
        causes = self.details.get("causes")
        return list(causes) if isinstance(causes, list) else []


class BadRequest(ApiError):
    """400: the request itself is malformed."""


class Unauthorized(ApiError):
    """401: no or an unknown credential."""


class Forbidden(ApiError):
    """403: the credential may not perform this verb on this resource."""


class NotFound(ApiError):
    """404: the object (or resource) does not exist."""


class AlreadyExists(ApiError):
    """409 AlreadyExists: create of a name that is taken."""


class Conflict(ApiError):
    """409 Conflict: the resourceVersion precondition failed; re-read and retry."""


class Gone(ApiError):
    """410 Expired/Gone: the resourceVersion or continue token is too old; re-list."""


Expired = Gone


class UnsupportedMediaType(ApiError):
    """415: the patch type is not accepted for this resource."""


class Invalid(ApiError):
    """422: the object failed validation; see :attr:`ApiError.causes`."""


class TooManyRequests(ApiError):
    """429: throttled by the server; wait :attr:`ApiError.retry_after` seconds."""


class ServerError(ApiError):
    """5xx: the server failed; usually worth a retry."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
}


def error_from_status(status: Mapping[str, Any], http_status: int | None = None,
                      retry_after: float | None = None) -> ApiError:
    """The exception for a ``Status`` object (from a response body or a watch ERROR event)."""
    code = int(status.get("code") or http_status or 500)
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    details = status.get("details") if isinstance(status.get("details"), Mapping) else None
    if code == 409 and reason == "AlreadyExists":
        cls: type[ApiError] = AlreadyExists
    elif code >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(code, ApiError)
    return cls(code, reason or _default_reason(code), message, details, retry_after=retry_after)


def error_from_response(http_status: int, body: bytes, headers: Mapping[str, str]) -> ApiError:
    """The exception for a failed HTTP response; tolerates bodies that are not a ``Status``."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    status: Mapping[str, Any]
    if isinstance(parsed, dict) and parsed.get("kind") == "Status":
        status = parsed
    else:
        status = {"code": http_status, "message": body[:500].decode("utf-8", "replace")}
    return error_from_status(status, http_status, _parse_retry_after(headers.get("Retry-After")))


def _parse_retry_after(value: str | None) -> float | None:
    # The API server only sends delta-seconds; an HTTP date is ignored rather than misread.
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _default_reason(code: int) -> str:
    return {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
            410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests"}.get(
        code, "InternalError" if code >= 500 else "Unknown")
