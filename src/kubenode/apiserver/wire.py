"""HTTP plumbing shared by the handlers: request parsing and response encoding."""

from __future__ import annotations

from typing import Any

import orjson
import yaml
from aiohttp import web

from . import errors, protobuf

JSON = "application/json"
TABLE_MARK = "as=Table"
MAX_BODY = 3 * 1024 * 1024


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response with the body encoded by orjson."""
    return web.Response(body=orjson.dumps(obj), status=status, content_type=JSON, headers=headers)


def status_response(err: errors.StatusError) -> web.Response:
    """The `metav1.Status` response of an error."""
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else None
    return json_response(err.to_status(), err.code, headers)


def wants_table(request: web.Request) -> bool:
    """Whether the client asked for `meta.k8s.io/v1` Table output."""
    accept = request.headers.get("Accept", "")
    if TABLE_MARK not in accept:
        return False
    # "application/json;as=Table;v=v1;g=meta.k8s.io, application/json": Table is offered first.
    return "v=v1;g=meta.k8s.io" in accept or "v=v1beta1;g=meta.k8s.io" in accept


async def read_body(request: web.Request) -> bytes:
    """The raw body, 413 past the limit."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.too_large(MAX_BODY)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.too_large(MAX_BODY) from None
    if len(raw) > MAX_BODY:
        raise errors.too_large(MAX_BODY)
    return raw


def decode_body(raw: bytes, content_type: str) -> Any:
    """Decode a JSON or YAML request body, 400 with a clear message when malformed."""
    ctype = content_type.split(";")[0].strip().lower()
    if not raw.strip():
        raise errors.bad_request("the request body is empty; send a JSON or YAML object")
    if ctype in ("application/yaml", "application/apply-patch+yaml", "text/yaml", "application/x-yaml"):
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"the request body is not valid YAML: {exc}") from None
    if ctype == "application/vnd.kubernetes.protobuf":
        # kubectl's typed clients (create namespace/configmap/secret/serviceaccount) send protobuf.
        try:
            return protobuf.decode(raw)
        except protobuf.ProtobufError:
            raise errors.unsupported_media_type(ctype, [JSON, "application/yaml"]) from None
    if ctype.startswith("application/vnd.kubernetes.protobuf") or ctype == "application/cbor":
        raise errors.unsupported_media_type(ctype, [JSON, "application/yaml"])
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(f"the request body is not valid JSON: {exc}") from None


def query_bool(request: web.Request, name: str) -> bool:
    """A boolean query parameter ("true"/"1")."""
    return request.query.get(name, "").lower() in ("true", "1")


def query_int(request: web.Request, name: str, default: int = 0) -> int:
    """A non-negative integer query parameter; 400 when malformed."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.bad_request(f'invalid value for query parameter {name}: "{raw}" is not an integer') from None
    if value < 0:
        raise errors.bad_request(f"invalid value for query parameter {name}: must not be negative")
    return value
