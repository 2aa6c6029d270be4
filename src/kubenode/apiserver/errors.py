"""Kubernetes `Status` errors.

Every failure the API server reports is a `StatusError`; the HTTP layer turns
it into a `metav1.Status` body with the same code, reason and causes a real
kube-apiserver sends, so kubectl and client libraries print the familiar
messages ("Error from server (NotFound): ...").
"""

from __future__ import annotations

from typing import Any

Cause = dict[str, str]


class StatusError(Exception):
    """An API error carrying everything a `metav1.Status` needs."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        name: str = "",
        group: str = "",
        kind: str = "",
        causes: list[Cause] | None = None,
        retry_after: int | None = None,
        list_continue: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = causes or []
        self.retry_after = retry_after
        self.list_continue = list_continue  # Status.metadata.continue (an expired list's way on)

    def to_status(self) -> dict[str, Any]:
        """The `metav1.Status` body for this error."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {"continue": self.list_continue} if self.list_continue else {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            # metav1.StatusCause serialises its type under the JSON key "reason".
            details["causes"] = [
                {"reason": c.get("type", ""), "message": c.get("message", ""), "field": c.get("field", "")}
                for c in self.causes
            ]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        if details:
            status["details"] = details
        return status


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> StatusError:
    return StatusError(
        404, "NotFound", f'{_qualified(resource, group)} "{name}" not found', name=name, group=group,
        kind=resource,
    )


def already_exists(resource: str, group: str, name: str) -> StatusError:
    return StatusError(
        409, "AlreadyExists", f'{_qualified(resource, group)} "{name}" already exists', name=name,
        group=group, kind=resource,
    )


def conflict(resource: str, group: str, name: str, detail: str | None = None) -> StatusError:
    detail = detail or "the object has been modified; please apply your changes to the latest version and try again"
    return StatusError(
        409, "Conflict", f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {detail}',
        name=name, group=group, kind=resource,
    )


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> StatusError:
    """422 Invalid; each cause is {"type", "message", "field"} like field.Error."""
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return StatusError(
        422, "Invalid", f'{kind}.{group} "{name}" is invalid: {joined}' if group else
        f'{kind} "{name}" is invalid: {joined}', name=name, group=group, kind=kind, causes=causes,
    )


def bad_request(message: str, causes: list[Cause] | None = None) -> StatusError:
    return StatusError(400, "BadRequest", message, causes=causes)


def expired(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def gone(message: str) -> StatusError:
    return StatusError(410, "Gone", message)


def method_not_allowed(message: str) -> StatusError:
    return StatusError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str, accepted: list[str]) -> StatusError:
    return StatusError(
        415, "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}",
    )


def not_acceptable(message: str) -> StatusError:
    return StatusError(406, "NotAcceptable", message)


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def forbidden(user: str, verb: str, resource: str, group: str, name: str = "", namespace: str = "",
              why: str = "") -> StatusError:
    target = f'{_qualified(resource, group)} "{name}"' if name else _qualified(resource, group)
    scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    msg = f'{target} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API group "{group}"{scope}'
    if why:
        msg += f": {why}"
    return StatusError(403, "Forbidden", msg, name=name, group=group, kind=resource)


def too_large(limit: int) -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", f"the request body is larger than the limit of {limit} bytes")


def too_many_requests(message: str, retry_after: int = 1) -> StatusError:
    return StatusError(429, "TooManyRequests", message, retry_after=retry_after)


def internal(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}")


def field_cause(kind: str, field: str, message: str) -> Cause:
    """One cause: `kind` is a field.ErrorType reason such as FieldValueRequired."""
    return {"type": kind, "message": message, "field": field}
