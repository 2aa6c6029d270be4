"""Table output (`meta.k8s.io/v1` Table): ages, timestamps, JSONPath and row rendering.

kubectl asks every `get` for a Table; the server renders the printer columns
(built-in cells or a CRD's `additionalPrinterColumns` JSONPaths). Everything
here mirrors apimachinery (`util/duration`, the apiextensions table
convertor, `client-go/util/jsonpath`) and is compiled once, because a LIST
renders thousands of rows per request.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from kubenode.apiserver.errors import bad_request
from kubenode.apiserver.resources import Obj, PrinterColumn


def human_duration(seconds: float) -> str:
    """Render an age exactly like apimachinery's `duration.HumanDuration`.

    Precision drops as the duration grows ("45s", "2m3s", "12m", "3h4m", "9h",
    "2d5h", "400d", "2y30d", "9y"); up to one second in the future counts as
    "0s" (clock skew), further in the future is "<invalid>".
    """
    total = int(seconds)  # Go truncates toward zero: int(d.Seconds())
    if total < -1:
        return "<invalid>"
    if total < 0:
        return "0s"
    if total < 120:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        s = total % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


@lru_cache(maxsize=65536)
def parse_timestamp(s: str) -> float:
    """Parse an RFC3339 timestamp ("2026-11-25T11:12:03Z", optional fraction/offset) to epoch seconds.

    Cached: the same creationTimestamps are parsed on every LIST of a collection.
    Raises ValueError when `s` is not RFC3339 (a timezone is required, as in Go).
    """
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without timezone: {s!r}")
    return dt.timestamp()



#: metav1.ObjectMeta swagger doc of `name`: the description kube gives every Name column.
NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)

#: metav1.ObjectMeta swagger doc of `creationTimestamp`: the description of every Age column.
CREATION_TIMESTAMP_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. "
    "Clients may not set this value. "
    "It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)


# --- JSONPath (client-go/util/jsonpath, as used by printer columns and kubectl) ----------------

Step = Callable[[list[Any]], list[Any]]

_NAME_STOP = frozenset(".[]{}(),=!<>&| \t\r\n")
_MISSING = object()


class _PathParser:
    """Compile one JSONPath action (`.a.b[0]['k'][?(@.x=="y")]..z[*]`) into a list of steps."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def error(self, msg: str) -> ValueError:
        return ValueError(f"invalid JSONPath {self.s!r} at {self.i}: {msg}")

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def skip_ws(self) -> None:
        while self.peek() in (" ", "\t"):
            self.i += 1

    def steps(self, stop: str = "") -> list[Step]:
        """Steps until end of input (or a char in `stop`, for paths inside filters)."""
        out: list[Step] = []
        if self.peek() in ("$", "@"):
            self.i += 1
        while True:
            c = self.peek()
            if c == "" or (stop and c in stop):
                return out
            if c == ".":
                if self.peek(1) == ".":
                    self.i += 2
                    out.append(_recursive)
                    if self.peek() == "[":
                        continue  # "..[0]": the bracket applies to every descendant
                else:
                    self.i += 1
                if self.peek() == "*":
                    self.i += 1
                    out.append(_wildcard)
                elif self.peek() in ("", ".", "[") or (stop and self.peek() in stop):
                    continue  # "." alone is the current node
                else:
                    out.append(_field_step(self.name()))
            elif c == "[":
                self.i += 1
                out.append(self.bracket())
            elif c in (" ", "\t") and stop:
                return out
            else:
                # kubectl's relaxed form: a leading bare name ("status.phase").
                if out or self.i != 0:
                    raise self.error(f"unexpected {c!r}")
                out.append(_field_step(self.name()))

    def name(self) -> str:
        buf: list[str] = []
        while True:
            c = self.peek()
            if c == "\\" and self.peek(1):
                buf.append(self.peek(1))  # "\." keeps a dot inside a key
                self.i += 2
                continue
            if c == "" or c in _NAME_STOP:
                break
            buf.append(c)
            self.i += 1
        if not buf:
            raise self.error("expected a field name")
        return "".join(buf)

    def quoted(self) -> str:
        q = self.peek()
        self.i += 1
        buf: list[str] = []
        while True:
            c = self.peek()
            if c == "":
                raise self.error("unterminated string")
            self.i += 1
            if c == "\\" and self.peek():
                buf.append(self.peek())
                self.i += 1
            elif c == q:
                return "".join(buf)
            else:
                buf.append(c)

    def bracket(self) -> Step:
        self.skip_ws()
        c = self.peek()
        if c == "*":
            self.i += 1
            self.expect("]")
            return _wildcard
        if c == "?":
            self.i += 1
            self.expect("(")
            step = self.filter()
            self.expect(")")
            self.expect("]")
            return step
        keys: list[str] = []
        indexes: list[int | tuple[int | None, int | None, int | None]] = []
        while True:
            self.skip_ws()
            c = self.peek()
            if c in ("'", '"'):
                keys.append(self.quoted())
            else:
                indexes.append(self.index_or_slice())
            self.skip_ws()
            c = self.peek()
            self.i += 1
            if c == "]":
                break
            if c != ",":
                raise self.error("expected ',' or ']'")
        if keys and indexes:
            raise self.error("cannot mix keys and indexes")
        if keys:
            return _keys_step(tuple(keys))
        return _index_step(tuple(indexes))

    def expect(self, ch: str) -> None:
        self.skip_ws()
        if self.peek() != ch:
            raise self.error(f"expected {ch!r}")
        self.i += 1

    def integer(self) -> int | None:
        self.skip_ws()
        j = self.i
        if self.peek() in ("-", "+"):
            self.i += 1
        while self.peek().isdigit():
            self.i += 1
        text = self.s[j:self.i]
        if text in ("", "-", "+"):
            return None
        return int(text)

    def index_or_slice(self) -> int | tuple[int | None, int | None, int | None]:
        start = self.integer()
        self.skip_ws()
        if self.peek() != ":":
            if start is None:
                raise self.error("expected an index")
            return start
        self.i += 1
        end = self.integer()
        step = None
        self.skip_ws()
        if self.peek() == ":":
            self.i += 1
            step = self.integer()
        return (start, end, step)

    def operand(self) -> Callable[[Any], list[Any]]:
        self.skip_ws()
        c = self.peek()
        if c == "@":
            steps = self.steps(stop=" \t)=!<>&|")
            return lambda item: _apply(steps, [item])
        if c in ("'", '"'):
            lit: Any = self.quoted()
        else:
            j = self.i
            while self.peek() and self.peek() not in " \t)=!<>":
                self.i += 1
            text = self.s[j:self.i]
            if text in ("true", "false"):
                lit = text == "true"
            else:
                try:
                    lit = int(text)
                except ValueError:
                    try:
                        lit = float(text)
                    except ValueError:
                        raise self.error(f"unrecognized literal {text!r}") from None
        return lambda _item: [lit]

    def filter(self) -> Step:
        left = self.operand()
        self.skip_ws()
        op = ""
        for candidate in ("==", "!=", "<=", ">=", "<", ">"):
            if self.s.startswith(candidate, self.i):
                op = candidate
                self.i += len(candidate)
                break
        if not op:
            # "[?(@.x)]": items where the path exists.
            return lambda values: [
                item for v in values if isinstance(v, list) for item in v if left(item)
            ]
        right = self.operand()
        compare = _COMPARATORS[op]

        def step(values: list[Any]) -> list[Any]:
            out: list[Any] = []
            for v in values:
                if not isinstance(v, list):
                    continue
                for item in v:
                    lv, rv = left(item), right(item)
                    if lv and rv and _safe_compare(compare, lv[0], rv[0]):
                        out.append(item)
            return out
        return step


def _safe_compare(compare: Callable[[Any, Any], bool], a: Any, b: Any) -> bool:
    # Numbers compare with numbers (bool is not a number here), strings with strings, as in kube.
    a_num = isinstance(a, int | float) and not isinstance(a, bool)
    b_num = isinstance(b, int | float) and not isinstance(b, bool)
    if a_num != b_num or (not a_num and type(a) is not type(b)):
        return False
    try:
        return compare(a, b)
    except TypeError:
        return False


_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b), "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b), ">": lambda a, b: bool(a > b),
    "<=": lambda a, b: bool(a <= b), ">=": lambda a, b: bool(a >= b),
}


def _field_step(name: str) -> Step:
    def step(values: list[Any]) -> list[Any]:
        out = []
        for v in values:
            if isinstance(v, dict):
                x = v.get(name, _MISSING)
                if x is not _MISSING:
                    out.append(x)
        return out
    return step


def _keys_step(keys: tuple[str, ...]) -> Step:
    def step(values: list[Any]) -> list[Any]:
        return [v[k] for v in values if isinstance(v, dict) for k in keys if k in v]
    return step


def _index_step(indexes: tuple[int | tuple[int | None, int | None, int | None], ...]) -> Step:
    def step(values: list[Any]) -> list[Any]:
        out: list[Any] = []
        for v in values:
            if not isinstance(v, list):
                continue
            n = len(v)
            for ix in indexes:
                if isinstance(ix, int):
                    # Out of range yields nothing (kube errors; a missing cell either way).
                    if -n <= ix < n:
                        out.append(v[ix])
                else:
                    out.extend(v[slice(*ix)])
        return out
    return step


def _wildcard(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if isinstance(v, dict):
            out.extend(v.values())
        elif isinstance(v, list):
            out.extend(v)
    return out


def _recursive(values: list[Any]) -> list[Any]:
    """Every node and all its descendants (the `..` operator)."""
    out: list[Any] = []
    stack = list(reversed(values))
    while stack:
        v = stack.pop()
        out.append(v)
        if isinstance(v, dict):
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, list):
            stack.extend(reversed(v))
    return out


def _apply(steps: Sequence[Step], values: list[Any]) -> list[Any]:
    for step in steps:
        if not values:
            return values
        values = step(values)
    return values


_SIMPLE_PATH = re.compile(r"\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


@lru_cache(maxsize=1024)
def compile_jsonpath(path: str) -> Callable[[Any], list[Any]]:
    """Compile a Kubernetes JSONPath ("{.a.b}", ".a.b", "{.a}{.b}") into `obj -> [matches]`.

    Plain dotted paths (the usual printer column) compile to a direct dict walk.
    Raises ValueError on a syntax error.
    """
    text = path.strip()
    actions: list[str]
    if "{" in text:
        actions = re.findall(r"\{((?:[^{}'\"]|'[^']*'|\"[^\"]*\")*)\}", text)
        if not actions:
            raise ValueError(f"invalid JSONPath {path!r}: unbalanced braces")
    else:
        actions = [text]
    compiled: list[Callable[[Any], list[Any]]] = []
    for action in actions:
        action = action.strip()
        if action in ("", "$", "@", "."):
            compiled.append(lambda obj: [obj])
            continue
        if _SIMPLE_PATH.fullmatch(action) and action not in ("range", "end"):
            keys = tuple(action.lstrip(".").split("."))
            compiled.append(_dict_walker(keys))
            continue
        compiled.append(_steps_runner(_PathParser(action).steps()))
    if len(compiled) == 1:
        return compiled[0]
    return lambda obj: [x for fn in compiled for x in fn(obj)]


def _steps_runner(steps: list[Step]) -> Callable[[Any], list[Any]]:
    return lambda obj: _apply(steps, [obj])


def _dict_walker(keys: tuple[str, ...]) -> Callable[[Any], list[Any]]:
    def walk(obj: Any) -> list[Any]:
        cur = obj
        for k in keys:
            if not isinstance(cur, dict):
                return []
            cur = cur.get(k, _MISSING)
            if cur is _MISSING:
                return []
        return [cur]
    return walk


def jsonpath_get(obj: Any, path: str) -> list[Any]:
    """All values `path` selects in `obj` ([] when nothing matches); paths are compiled once.

    Supports Kubernetes JSONPath as printer columns and kubectl use it: fields
    (`.a.b`, `['k/x']`, `\\.` escapes), indexes and slices (`[0]`, `[-1]`,
    `[1:3]`), unions (`[0,1]`, `['a','b']`), wildcards (`[*]`, `.*`),
    recursive descent (`..name`) and filters (`[?(@.type=="Ready")]`,
    `[?(@.n>1)]`, `[?(@.x)]`). ValueError on a syntax error.
    """
    return compile_jsonpath(path)(obj)


# --- cells of JSONPath columns (apiextensions tableconvertor) ----------------------------------

def _go_float(f: float) -> str:
    """Go's %v of a float64: shortest digits, exponent form when the exponent is < -4 or >= 6 ("1e+06")."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if str(f).startswith("-") else "0"
    sign = "-" if f < 0 else ""
    # repr() gives the shortest round-trip digits, like strconv's shortest mode.
    body, _, rexp = repr(abs(f)).partition("e")
    int_part, _, frac_part = body.partition(".")
    all_digits = int_part + frac_part
    stripped = all_digits.lstrip("0")
    dp = len(int_part) - (len(all_digits) - len(stripped)) + (int(rexp) if rexp else 0)
    digits = stripped.rstrip("0") or "0"
    exp = dp - 1
    if exp < -4 or exp >= 6:
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return f"{sign}{digits}{'0' * (dp - len(digits))}"
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _go_json(value: Any) -> str:
    """encoding/json.Marshal of a decoded JSON value: compact, sorted keys, HTML characters escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _string_cell(value: Any) -> Any:
    """How jsonpath.PrintResults renders one value for a "string" column."""
    if isinstance(value, str):
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return _go_json(value)


def _date_cell(value: Any, now: float) -> Any:
    if not isinstance(value, str):
        return None
    if value in ("", "null", "0001-01-01T00:00:00Z"):
        return "<unknown>"
    try:
        return human_duration(now - parse_timestamp(value))
    except ValueError:
        return "<invalid>"


def _typed_cell(kind: str, value: Any, now: float) -> Any:
    """cellForJSONValue: keep the JSON type of integer/number/boolean cells, null when it does not fit."""
    if value is None:
        return None
    is_bool = isinstance(value, bool)
    if kind == "integer":
        if isinstance(value, int | float) and not is_bool:
            return int(value)
        return None
    if kind == "number":
        if isinstance(value, int | float) and not is_bool:
            return float(value)
        return None
    if kind == "boolean":
        return value if is_bool else None
    if kind == "date":
        return _date_cell(value, now)
    return None


def _column_cell(col: PrinterColumn) -> Callable[[Obj, float], Any]:
    """The cell function of one column: its own `cell`, or its JSONPath (first match) typed by `type`."""
    if col.cell is not None:
        return col.cell
    get = compile_jsonpath(col.json_path)
    kind = col.type

    if kind == "string":
        def string_cell(obj: Obj, _now: float) -> Any:
            found = get(obj)
            return _string_cell(found[0]) if found else None
        return string_cell

    def typed_cell(obj: Obj, now: float) -> Any:
        found = get(obj)
        return _typed_cell(kind, found[0], now) if found else None
    return typed_cell


def _name_cell(obj: Obj, _now: float) -> Any:
    meta = obj.get("metadata")
    return meta.get("name", "") if isinstance(meta, dict) else ""


NAME_COLUMN = PrinterColumn(name="Name", format="name", description=NAME_DESCRIPTION, cell=_name_cell)


def _column_definition(col: PrinterColumn) -> Obj:
    return {
        "name": col.name, "type": col.type, "format": col.format,
        "description": col.description, "priority": col.priority,
    }


def render_table(
    columns: Sequence[PrinterColumn],
    objects: Sequence[Obj],
    *,
    include_object: str = "Metadata",
    now: float,
    resource_version: str = "",
    continue_token: str = "",
    remaining_item_count: int | None = None,
    with_column_definitions: bool = True,
) -> Obj:
    """Render objects as a `meta.k8s.io/v1` Table, as kube-apiserver answers `Accept: ...;as=Table`.

    A Name column comes first unless `columns` has its own `format="name"` column
    (events list Name last, wide-only). `include_object` is "None" (`object: null`),
    "Metadata" (PartialObjectMetadata, the default; "" means it too) or "Object"
    (the full object). Without column definitions (watch events after the first)
    `columnDefinitions` is null, as kube sends it. Raises StatusError 400 on an
    unknown `include_object`.
    """
    cols = list(columns)
    if not any(c.format == "name" for c in cols):
        cols.insert(0, NAME_COLUMN)
    cells = [_column_cell(c) for c in cols]

    mode = include_object or "Metadata"
    if mode not in ("None", "Metadata", "Object"):
        raise bad_request(f'unrecognized includeObject value: "{mode}"')

    rows: list[Obj] = []
    append = rows.append
    # Rows are acyclic and short-lived; a full collection triggered by their allocation
    # would walk the whole object store and double the cost of a large LIST.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for obj in objects:
            row_cells = [cell(obj, now) for cell in cells]
            if mode == "Metadata":
                row_obj: Any = {
                    "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj.get("metadata", {}),
                }
            elif mode == "Object":
                row_obj = obj
            else:
                row_obj = None
            append({"cells": row_cells, "object": row_obj})
    finally:
        if gc_was_enabled:
            gc.enable()

    metadata: Obj = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining_item_count is not None:
        metadata["remainingItemCount"] = remaining_item_count
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [_column_definition(c) for c in cols] if with_column_definitions else None,
        "rows": rows,
    }


def custom_resource_columns(additional_printer_columns: Sequence[Obj] | None) -> tuple[PrinterColumn, ...]:
    """PrinterColumns of a CRD version's `additionalPrinterColumns` (Name excluded).

    None or empty gives kube's default single Age column (`.metadata.creationTimestamp`,
    type date). ValueError when a jsonPath does not compile.
    """
    if not additional_printer_columns:
        return (PrinterColumn(
            name="Age", type="date", json_path=".metadata.creationTimestamp",
            description=CREATION_TIMESTAMP_DESCRIPTION,
        ),)
    out: list[PrinterColumn] = []
    for apc in additional_printer_columns:
        path = str(apc.get("jsonPath", ""))
        try:
            compile_jsonpath(path)
        except ValueError:
            raise ValueError(f"unrecognized column definition {path!r}") from None
        out.append(PrinterColumn(
            name=str(apc.get("name", "")),
            type=str(apc.get("type", "string")),
            json_path=path,
            format=str(apc.get("format", "") or ""),
            description=str(apc.get("description", "") or "")
            or f"Custom resource definition column (in JSONPath format): {path}",
            priority=int(apc.get("priority", 0) or 0),
        ))
    return tuple(out)
