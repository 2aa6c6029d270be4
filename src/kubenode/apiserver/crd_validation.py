"""CRD `x-kubernetes-validations`: CEL rules evaluated at the schema node that declares them.

As apiextensions-apiserver does: `self` is the value at the node, `oldSelf` the same value before the
update. A rule that reads `oldSelf` is a *transition rule*: it runs only on updates where the old value
exists (it is correlated by property name, map key, and list-map keys; items of other lists are not
correlatable). A false rule is a cause on the node's field path (plus the rule's `fieldPath`, when
given), worded as kube's: `Invalid value: "object": <message>` (or `Forbidden: <message>`,
`Required value: <message>`, `Duplicate value: <message>` for the rule's `reason`), `message` or
`messageExpression` or "failed rule: <rule>". An evaluation error is a cause too.

Rules are compiled once per schema (cached by the schema object) with the same engine as
ValidatingAdmissionPolicies (`cel_engine.py`). A CRD whose rules do not compile is rejected on write
(`compile_errors`). Not supported: `optionalOldSelf` (such a rule runs only when the old value exists)
and validation ratcheting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .cel_engine import CRD_RULE_VARIABLES, CELCompileError, CELEvalError, Program, activation, compile_expression
from .errors import Cause, field_cause
from .objects import Obj

__all__ = ["compile_errors", "rule_causes"]

_OLD_SELF = re.compile(r"\boldSelf\b")
_REASONS = {"FieldValueInvalid": "Invalid value", "FieldValueForbidden": "Forbidden",
            "FieldValueRequired": "Required value", "FieldValueDuplicate": "Duplicate value"}


@dataclass
class _Rule:
    program: Program
    message: str
    message_program: Program | None
    reason: str
    field_path: str
    transition: bool


@dataclass
class _Node:
    type: str
    rules: list[_Rule] = field(default_factory=list)
    props: dict[str, _Node] = field(default_factory=dict)
    additional: _Node | None = None
    items: _Node | None = None
    map_keys: tuple[str, ...] = ()


def _compile(s: Any) -> _Node | None:
    """The rule tree of a schema node; None when neither it nor anything below declares a rule."""
    if not isinstance(s, dict):
        return None
    node = _Node(type=str(s.get("type") or ("object" if "properties" in s else "")))
    for r in s.get("x-kubernetes-validations") or []:
        me = r.get("messageExpression")
        node.rules.append(_Rule(
            program=compile_expression(str(r.get("rule", "")), CRD_RULE_VARIABLES),
            message=str(r.get("message") or ""),
            message_program=compile_expression(me, CRD_RULE_VARIABLES) if me else None,
            reason=str(r.get("reason") or "FieldValueInvalid"),
            field_path=str(r.get("fieldPath") or "").lstrip("."),
            transition=bool(_OLD_SELF.search(str(r.get("rule", "")))),
        ))
    for name, sub in (s.get("properties") or {}).items():
        child = _compile(sub)
        if child is not None:
            node.props[name] = child
    if isinstance(s.get("additionalProperties"), dict):
        node.additional = _compile(s["additionalProperties"])
    node.items = _compile(s.get("items"))
    if s.get("x-kubernetes-list-type") == "map":
        node.map_keys = tuple(s.get("x-kubernetes-list-map-keys") or ())
    if not node.rules and not node.props and node.additional is None and node.items is None:
        return None
    return node


_cache: dict[int, tuple[Obj, _Node | None]] = {}


def _tree(schema: Obj) -> _Node | None:
    hit = _cache.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    try:
        tree = _compile(schema)
    except CELCompileError:
        tree = None  # rejected when the CRD was written; old data is served without its rules
    if len(_cache) > 256:
        _cache.clear()
    _cache[id(schema)] = (schema, tree)
    return tree


def rule_causes(schema: Obj | None, obj: Obj, old: Obj | None) -> list[Cause]:
    """Causes of every failed `x-kubernetes-validations` rule of `schema` on `obj` (old: before update)."""
    if schema is None:
        return []
    tree = _tree(schema)
    if tree is None:
        return []
    errs: list[Cause] = []
    _validate(tree, obj, old, old is not None, "", errs)
    return errs


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _validate(node: _Node, value: Any, old: Any, has_old: bool, path: str, errs: list[Cause]) -> None:
    if value is None:
        return
    for rule in node.rules:
        if rule.transition and not has_old:
            continue
        values = {"self": value, "oldSelf": old} if rule.transition else {"self": value}
        act = activation(CRD_RULE_VARIABLES, values)
        at = _join(path, rule.field_path) if rule.field_path else (path or "<nil>")
        try:
            ok = rule.program.evaluate_bool(act)
        except CELEvalError as exc:
            errs.append(field_cause("FieldValueInvalid", at, f'Invalid value: "{node.type or "object"}": '
                                    f"rule evaluation error: {rule.program.expression}: {exc}"))
            continue
        if not ok:
            errs.append(_failed(rule, node, at, act))
    if isinstance(value, dict):
        old_map = old if has_old and isinstance(old, dict) else None
        for name, child in node.props.items():
            if name in value:
                _validate(child, value[name], (old_map or {}).get(name), old_map is not None and name in old_map,
                          _join(path, name), errs)
        if node.additional is not None:
            for key, v in value.items():
                _validate(node.additional, v, (old_map or {}).get(key), old_map is not None and key in old_map,
                          _join(path, key), errs)
    elif isinstance(value, list) and node.items is not None:
        olds = _correlate(node, old) if has_old else {}
        for i, item in enumerate(value):
            key = _item_key(node, item)
            found = key is not None and key in olds
            _validate(node.items, item, olds.get(key) if found else None, found, f"{path}[{i}]", errs)


def _item_key(node: _Node, item: Any) -> tuple[Any, ...] | None:
    if not node.map_keys or not isinstance(item, dict):
        return None
    return tuple(repr(item.get(k)) for k in node.map_keys)


def _correlate(node: _Node, old: Any) -> dict[tuple[Any, ...] | None, Any]:
    if not node.map_keys or not isinstance(old, list):
        return {}
    return {_item_key(node, o): o for o in old}


def _failed(rule: _Rule, node: _Node, at: str, act: Any) -> Cause:
    message = rule.message or f"failed rule: {rule.program.expression}"
    if rule.message_program is not None:
        try:
            text = rule.message_program.evaluate(act)
            if isinstance(text, str) and text.strip():
                message = text
        except CELEvalError:
            pass
    if rule.reason == "FieldValueInvalid":
        return field_cause(rule.reason, at, f'Invalid value: "{node.type or "object"}": {message}')
    return field_cause(rule.reason, at, f"{_REASONS.get(rule.reason, 'Invalid value')}: {message}")


def compile_errors(schema: Any, path: str) -> list[Cause]:
    """Causes for rules of a CRD version's schema that do not compile (kube rejects such a CRD)."""
    errs: list[Cause] = []
    _check(schema, path, errs)
    return errs


def _check(s: Any, path: str, errs: list[Cause]) -> None:
    if not isinstance(s, dict):
        return
    for i, r in enumerate(s.get("x-kubernetes-validations") or []):
        here = f"{path}.x-kubernetes-validations[{i}]"
        if not isinstance(r, dict):
            errs.append(field_cause("FieldValueInvalid", here, "Invalid value: must be an object"))
            continue
        for key in ("rule", "messageExpression"):
            expr = r.get(key)
            if expr is None and key == "messageExpression":
                continue
            try:
                compile_expression(str(expr or ""), CRD_RULE_VARIABLES)
            except CELCompileError as exc:
                errs.append(field_cause("FieldValueInvalid", f"{here}.{key}", f"Invalid value: {expr!r}: {exc}"))
        reason = r.get("reason")
        if reason is not None and reason not in _REASONS:
            errs.append(field_cause("FieldValueNotSupported", f"{here}.reason",
                                    f'Unsupported value: "{reason}": supported values: "FieldValueDuplicate", '
                                    f'"FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"'))
    for name, sub in (s.get("properties") or {}).items():
        _check(sub, f"{path}.properties[{name}]", errs)
    if isinstance(s.get("additionalProperties"), dict):
        _check(s["additionalProperties"], f"{path}.additionalProperties", errs)
    _check(s.get("items"), f"{path}.items", errs)
