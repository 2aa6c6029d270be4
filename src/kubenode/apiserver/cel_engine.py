"""CEL for admission: one engine for ValidatingAdmissionPolicies and CRD `x-kubernetes-validations`.

The runtime is `cel-expr-python` (CEL's C++ implementation with Python bindings; see docs/libraries.md
for why and for measurements). Like kube-apiserver we add Kubernetes' own CEL libraries on top of the
standard ones; what is available is exactly what a kube-apiserver >= 1.30 offers, so a policy that
compiles here also compiles there (the reverse holds for everything listed below):

* standard CEL: operators, `has()`, `size()`, `in`, the macros `all`, `exists`, `exists_one`, `map`,
  `filter`, `matches`, `startsWith`, `endsWith`, `contains`, conversions (`int`, `string`, `dyn`,
  `duration`, `timestamp`, ...);
* cel-go's strings extension (`charAt`, `indexOf`, `lastIndexOf`, `lowerAscii`, `upperAscii`, `replace`,
  `split`, `substring`, `trim`, `join`, `format`, `strings.quote`), optional types (`obj.?field`,
  `map[?key]`, `orValue`, `hasValue`, `optional.of/none`) and `cel.bind`;
* Kubernetes' lists library (`isSorted`, `sum`, `min`, `max`) and regex library (`find`, `findAll`).

Not supported (an expression using them fails to compile with a clear message): the `authorizer`
variable, `url()`, `quantity()`, `ip()`/`cidr()`, `sets.*`, `math.*`, `fold`, and `indexOf`/`lastIndexOf`
on lists (the runtime allows one declaration per function name, and the strings extension owns them).
Variables are declared `dyn` (kube types `object` by the resource's schema), so a type error that
kube reports at compile time is reported here when the expression runs.

Programs are compiled once per (environment, expression) and cached; one activation per request wraps
the Python values without copying them, so evaluating a compiled expression costs a few microseconds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings, ext_optional, ext_strings

__all__ = [
    "CRD_RULE_VARIABLES",
    "MATCH_CONDITION_VARIABLES",
    "POLICY_VARIABLES",
    "CELCompileError",
    "CELEvalError",
    "Program",
    "compile_expression",
]

#: Variables of ValidatingAdmissionPolicy validations, messageExpressions and variables.
POLICY_VARIABLES: tuple[str, ...] = ("object", "oldObject", "request", "params", "namespaceObject", "variables")
#: Variables of matchConditions (kube gives them no `variables`).
MATCH_CONDITION_VARIABLES: tuple[str, ...] = ("object", "oldObject", "request", "params", "namespaceObject")
#: Variables of CRD validation rules.
CRD_RULE_VARIABLES: tuple[str, ...] = ("self", "oldSelf")


class CELCompileError(ValueError):
    """An expression that does not parse or type-check; the message says where."""


class CELEvalError(RuntimeError):
    """An expression that failed while running (no such key, division by zero, no matching overload...)."""


# --------------------------------------------------------------------------- Kubernetes' CEL libraries


def _is_sorted(items: Sequence[Any]) -> bool:
    return all(items[i] <= items[i + 1] for i in range(len(items) - 1))


def _sum(items: Sequence[Any]) -> Any:
    total: Any = 0
    for x in items:
        total = total + x
    return total


def _min(items: Sequence[Any]) -> Any:
    if not items:
        raise ValueError("min called on an empty list")
    return min(items)


def _max(items: Sequence[Any]) -> Any:
    if not items:
        raise ValueError("max called on an empty list")
    return max(items)


@functools.lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    # RE2 and Python's re agree on the syntax policies use; RE2 has no backreferences or lookaround,
    # which Python would accept: reject them as kube would.
    if re.search(r"\\[1-9]|\(\?[=!<]", pattern):
        raise ValueError(f"invalid regular expression {pattern!r}: RE2 has no backreferences or lookaround")
    return re.compile(pattern)


def _find(s: str, pattern: str) -> str:
    m = _regex(pattern).search(s)
    return m.group(0) if m else ""


def _find_all(s: str, pattern: str, limit: int = -1) -> list[str]:
    out = [m.group(0) for m in _regex(pattern).finditer(s)]
    return out if limit < 0 else out[:limit]


def _kubernetes_functions() -> list[Any]:
    t = cel.Type
    dyn_list = t.List(t.DYN)
    str_list = t.List(t.STRING)

    def member(name: str, oid: str, ret: Any, params: list[Any], impl: Any) -> Any:
        return cel.FunctionDecl(name, [cel.Overload(oid, ret, params, is_member=True, impl=impl)])

    return [
        member("isSorted", "k8s_list_is_sorted", t.BOOL, [dyn_list], _is_sorted),
        member("sum", "k8s_list_sum", t.DYN, [dyn_list], _sum),
        member("min", "k8s_list_min", t.DYN, [dyn_list], _min),
        member("max", "k8s_list_max", t.DYN, [dyn_list], _max),
        member("find", "k8s_string_find", t.STRING, [t.STRING, t.STRING], _find),
        cel.FunctionDecl("findAll", [
            cel.Overload("k8s_string_find_all", str_list, [t.STRING, t.STRING], is_member=True, impl=_find_all),
            cel.Overload("k8s_string_find_all_n", str_list, [t.STRING, t.STRING, t.INT], is_member=True,
                         impl=_find_all),
        ]),
    ]


@functools.lru_cache(maxsize=8)
def _env(variables: tuple[str, ...]) -> Any:
    return cel.NewEnv(
        variables={name: cel.Type.DYN for name in variables},
        extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional(), ext_bindings.ExtBindings()],
        functions=_kubernetes_functions(),
    )


# --------------------------------------------------------------------------- programs


@dataclass(frozen=True)
class Program:
    """A compiled expression; `evaluate` runs it against one set of variables."""

    expression: str
    variables: tuple[str, ...]
    _compiled: Any

    def evaluate(self, activation: Activation) -> Any:
        """The expression's value as plain Python (dict, list, str, int, float, bool, None)."""
        try:
            value = self._compiled.eval(activation.native)
        except RuntimeError as exc:  # cel-cpp refuses what it cannot hold (e.g. a string that is not UTF-8)
            raise CELEvalError(f"the expression cannot be evaluated on this input: {_tidy(str(exc))}") from None
        if value.type() == cel.Type.ERROR:
            try:
                detail = str(value.value())
            except TypeError:  # cel-cpp reports optional results with the error type
                detail = "the result has no JSON value (an optional? use .orValue() or .value())"
            raise CELEvalError(_tidy(detail))
        return _plain(value)

    def evaluate_bool(self, activation: Activation) -> bool:
        """Run an expression that must produce a bool (validations, matchConditions, CRD rules)."""
        result = self.evaluate(activation)
        if not isinstance(result, bool):
            raise CELEvalError(f"expected a bool, got {_type_name(result)}")
        return result


class Activation:
    """The variables of one evaluation, wrapped once and shared by every program of a request."""

    __slots__ = ("native", "values")

    def __init__(self, variables: tuple[str, ...], values: Mapping[str, Any]) -> None:
        self.values = dict(values)
        self.native = _env(variables).Activation(self.values)


def activation(variables: tuple[str, ...], values: Mapping[str, Any]) -> Activation:
    """An activation for programs compiled with `variables` (missing ones are absent, not null)."""
    return Activation(variables, values)


@functools.lru_cache(maxsize=4096)
def compile_expression(expression: str, variables: tuple[str, ...] = POLICY_VARIABLES) -> Program:
    """Compile (once; cached) an expression over `variables`; CELCompileError when it is not valid CEL."""
    if not isinstance(expression, str) or not expression.strip():
        raise CELCompileError("compilation failed: the expression is empty")
    try:
        compiled = _env(variables).compile(expression)
    except RuntimeError as exc:
        raise CELCompileError(f"compilation failed: {_tidy(str(exc))}") from None
    return Program(expression, variables, compiled)


def _plain(value: Any) -> Any:
    try:
        return value.plain_value()
    except (TypeError, ValueError, RuntimeError) as exc:  # optional values and types have no plain form
        raise CELEvalError("the result has no JSON value (an optional? use .orValue() or .value())") from exc


def _type_name(v: Any) -> str:
    return {bool: "bool", int: "int", float: "double", str: "string", list: "list", dict: "map",
            type(None): "null_type", bytes: "bytes"}.get(type(v), type(v).__name__)


_STATUS_PREFIX = re.compile(r"^(INVALID_ARGUMENT|NOT_FOUND|UNKNOWN|OUT_OF_RANGE|FAILED_PRECONDITION): ")


def _tidy(message: str) -> str:
    """cel-cpp's status text without its gRPC code prefix and trailing code tag."""
    message = _STATUS_PREFIX.sub("", message.strip())
    return re.sub(r"\s*\[(INVALID_ARGUMENT|NOT_FOUND|UNKNOWN)\]$", "", message)
