"""HTTP plumbing shared by the handlers: request parsing and response encoding."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import orjson
import yaml
from aiohttp import web

from . import errors, protobuf
from .storage import MAX_DEPTH, EncodeError, check_depth

log = logging.getLogger("kubenode.apiserver.clients")

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
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


async def read_body(request: web.Request, body_timeout: float = 60.0) -> bytes:
    """The raw body, 413 past the limit, 408 when it does not arrive within `body_timeout` seconds."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.too_large(MAX_BODY)
    try:
        if request.content.is_eof():  # the whole body is buffered (small requests come with their head)
            raw = await request.read()
        else:
            async with asyncio.timeout(body_timeout):
                raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.too_large(MAX_BODY) from None
    except TimeoutError:
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        log.warning("closing connection from %s: request body not complete within %.0fs", peer, body_timeout)
        raise errors.StatusError(408, "Timeout",
                                 f"the request body did not arrive within {body_timeout:.0f}s") from None
    if len(raw) > MAX_BODY:
        raise errors.too_large(MAX_BODY)
    return raw


#: Most nodes a YAML document may expand to through its aliases (a "billion laughs" is refused up front).
MAX_YAML_NODES = 200_000
#: Most aliases in one YAML document.
MAX_YAML_ALIASES = 1_000


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses, while composing, what nests deeper than storage can hold.

    The parser is pulled one event at a time, so a document nested 100,000 levels deep is refused after
    `MAX_DEPTH` levels, not after seconds of CPU.
    """

    def __init__(self, stream: bytes) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _YAMLLimit(f"the document uses more than {MAX_YAML_ALIASES} aliases")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _YAMLLimit(f"the document nests deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


    def construct_scalar(self, node: yaml.ScalarNode) -> str:  # type: ignore[override]
        return valid_unicode(super().construct_scalar(node))


def valid_unicode(value: str) -> str:
    """`value` with escaped surrogates joined into characters and lone ones replaced by U+FFFD.

    YAML's `"\\ud800"` escapes give Python strings no UTF-8 can hold (JSON's decoder refuses them); Go's
    YAML decoder, like this, stores the replacement character. Nothing beyond this point (storage, CEL,
    watch encoding) then meets a string it cannot encode.
    """
    if value.isascii():
        return value
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


class _YAMLLimit(Exception):
    pass


def _expanded_nodes(root: yaml.Node) -> int:
    """How many nodes `root` stands for once every alias is expanded (iterative; cycles count as too many)."""
    sizes: dict[int, int] = {}
    busy: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if nid in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            busy.discard(nid)
            total = 1 + sum(sizes[id(c)] for c in children)
            sizes[nid] = total
            if total > MAX_YAML_NODES:
                return total
            continue
        if nid in busy:
            return MAX_YAML_NODES + 1  # a recursive alias expands forever
        busy.add(nid)
        stack.append((node, True))
        for c in children:
            if id(c) not in sizes:
                if id(c) in busy:
                    return MAX_YAML_NODES + 1
                stack.append((c, False))
    return sizes.get(id(root), 0)


def load_yaml(raw: bytes | str) -> Any:
    """One YAML document, bounded in depth and alias expansion; `ValueError` says what is wrong."""
    loader = _BoundedLoader(raw if isinstance(raw, bytes) else raw.encode())
    try:
        try:
            node = loader.get_single_node()
        except _YAMLLimit as exc:
            raise ValueError(str(exc)) from None
        except RecursionError:
            raise ValueError(f"the document nests deeper than {MAX_DEPTH} levels") from None
        if node is None:
            return None
        if _expanded_nodes(node) > MAX_YAML_NODES:
            raise ValueError(f"the document expands to more than {MAX_YAML_NODES} nodes through its aliases")
        try:
            doc = loader.construct_document(node)
        except RecursionError:
            raise ValueError(f"the document nests deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
    try:
        check_depth(doc)
    except EncodeError as exc:
        raise ValueError(str(exc)) from None
    return doc


def load_json(raw: bytes) -> Any:
    """A JSON document, held to storage's depth limit; `ValueError` says what is wrong."""
    doc = orjson.loads(raw)
    try:
        check_depth(doc)
    except EncodeError as exc:
        raise ValueError(str(exc)) from None
    return doc


#: The media types a request body may have on create, update, delete and the POST subresources, in kube's
#: order (its `NegotiateInputSerializer`); PATCH has its own list (rest.patch).
BODY_MEDIA_TYPES = (JSON, "application/yaml", PROTOBUF)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+/[!#$%&'*+.^_`|~0-9a-z-]+")


def body_media_type(content_type: str, accepted: tuple[str, ...] = BODY_MEDIA_TYPES) -> str:
    """The media type of a request body as kube-apiserver negotiates it.

    No Content-Type means JSON (kube takes the first type it serves); a malformed one or a type not in
    `accepted` is 415 UnsupportedMediaType listing what is accepted, whatever the body holds.
    """
    if not content_type.strip():
        return accepted[0]
    base = content_type.split(";")[0].strip().lower()
    if not _TOKEN.fullmatch(base) or base not in accepted:
        raise errors.unsupported_media_type(base, list(accepted))
    return base


def request_media_type(request: web.Request) -> str:
    """The request's Content-Type header as sent ("" when absent; aiohttp's `content_type` invents one)."""
    return request.headers.get("Content-Type", "")


def decode_body(raw: bytes, content_type: str) -> Any:
    """Decode a JSON, YAML or protobuf request body (`content_type` as sent), 415 for any other type and
    400 with a clear message when malformed."""
    ctype = body_media_type(content_type)
    if not raw.strip():
        raise errors.bad_request("the request body is empty; send a JSON or YAML object")
    if ctype == "application/yaml":
        try:
            return load_yaml(raw)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"the request body is not valid YAML: {exc}") from None
        except ValueError as exc:
            raise errors.bad_request(f"the request body cannot be accepted: {exc}") from None
    if ctype == PROTOBUF:
        # kubectl's typed clients (create namespace/configmap/secret/serviceaccount) send protobuf.
        try:
            return protobuf.decode(raw)
        except protobuf.ProtobufError as exc:
            if str(exc).startswith("protobuf is not supported"):
                raise errors.unsupported_media_type(ctype, [JSON, "application/yaml"]) from None
            raise errors.bad_request(f"the request body is not valid protobuf: {exc}") from None
        except (ValueError, OverflowError, OSError) as exc:  # bad UTF-8, timestamps out of range
            raise errors.bad_request(f"the request body is not valid protobuf: {exc}") from None
    try:
        return load_json(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(f"the request body is not valid JSON: {exc}") from None
    except ValueError as exc:
        raise errors.bad_request(f"the request body cannot be accepted: {exc}") from None


def query_bool(request: web.Request, name: str) -> bool:
    """A boolean query parameter ("true"/"1")."""
    return request.query.get(name, "").lower() in ("true", "1")


#: Integer query parameters are int64 in kube; past that they are malformed.
INT64_MAX = 2**63 - 1


def query_int(request: web.Request, name: str, default: int = 0) -> int:
    """A non-negative int64 query parameter; 400 when malformed or out of range."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        if not raw.isascii() or not raw.lstrip("-").isdigit():
            raise ValueError(raw)
        value = int(raw)
    except ValueError:
        raise errors.bad_request(f'invalid value for query parameter {name}: "{raw[:64]}" is not an integer') from None
    if value < 0:
        raise errors.bad_request(f"invalid value for query parameter {name}: must not be negative")
    if value > INT64_MAX:
        raise errors.bad_request(f"invalid value for query parameter {name}: out of range (at most {INT64_MAX})")
    return value


RV_MATCHES = ("Exact", "NotOlderThan")


def check_list_options(request: web.Request, *, watch: bool) -> None:
    """kube's ValidateListOptions for resourceVersion and resourceVersionMatch: 400/422 when malformed."""
    q = request.query
    rv = q.get("resourceVersion", "")
    if rv and not (rv.isascii() and rv.isdigit()):
        raise errors.bad_request(f'invalid value for query parameter resourceVersion: "{rv[:64]}" is not a '
                                 "resourceVersion (a non-negative integer)")
    match = q.get("resourceVersionMatch", "")
    if not match:
        return
    causes: list[errors.Cause] = []
    if match not in RV_MATCHES:
        causes.append(errors.field_cause("FieldValueNotSupported", "resourceVersionMatch",
                                         f'Unsupported value: "{match[:64]}": supported values: "Exact", '
                                         '"NotOlderThan"'))
    elif not watch and not rv:
        causes.append(errors.field_cause("FieldValueForbidden", "resourceVersionMatch",
                                         "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is "
                                         "provided"))
    elif match == "Exact" and rv == "0":
        causes.append(errors.field_cause("FieldValueForbidden", "resourceVersionMatch",
                                         'Forbidden: resourceVersionMatch "exact" is forbidden for '
                                         'resourceVersion "0"'))
    if not watch and q.get("continue") and match:
        causes.append(errors.field_cause("FieldValueForbidden", "resourceVersionMatch",
                                         "Forbidden: resourceVersionMatch is forbidden when continue is provided"))
    if causes:
        raise errors.invalid("ListOptions", "meta.k8s.io", "", causes)


_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,), "apiVersion": (str,), "propagationPolicy": (str,), "orphanDependents": (bool,),
    "gracePeriodSeconds": (int,), "dryRun": (list,), "preconditions": (dict,),
    "ignoreStoreReadErrorWithClusterBreakingPotential": (bool,),
}


def check_delete_options(options: Any, where: str = "") -> dict[str, Any]:
    """A DeleteOptions body with the types kube decodes it to; 400 naming the field otherwise."""
    prefix = f"{where}." if where else ""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise errors.bad_request(f"{where or 'the body'} must be a DeleteOptions object",
                                 [errors.field_cause("FieldValueInvalid", where or "<body>", "must be an object")])
    for key, types in _OPTION_TYPES.items():
        value = options.get(key)
        if value is None:
            continue
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            want = {str: "a string", bool: "a boolean", int: "an integer", list: "a list", dict: "an object"}[types[0]]
            raise errors.bad_request(f"DeleteOptions: {prefix}{key} must be {want}", [errors.field_cause(
                "FieldValueInvalid", f"{prefix}{key}", f"Invalid value: must be {want}")])
    pre = options.get("preconditions") or {}
    for key in ("uid", "resourceVersion"):
        if pre.get(key) is not None and not isinstance(pre[key], str):
            raise errors.bad_request(f"DeleteOptions: {prefix}preconditions.{key} must be a string", [
                errors.field_cause("FieldValueInvalid", f"{prefix}preconditions.{key}", "Invalid value: must be a "
                                   "string")])
    for d in options.get("dryRun") or []:
        if d != "All":
            raise errors.bad_request(f'unsupported dryRun value "{str(d)[:64]}"; the only supported value is "All"')
    grace = options.get("gracePeriodSeconds")
    if grace is not None and not -(2**63) <= grace <= INT64_MAX:
        raise errors.bad_request(f"DeleteOptions: {prefix}gracePeriodSeconds is out of range")
    return options
