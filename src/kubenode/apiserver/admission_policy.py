"""ValidatingAdmissionPolicy evaluation in the write path, as kube-apiserver's admission plugin does it.

Every create, update, patch (incl. server-side apply), delete and subresource write reaches `admit`
after schema validation and before storage, with kube's request attributes (operation, resource,
subResource, name, namespace, userInfo, dryRun, object, oldObject). For every binding whose policy
exists, in name order:

1. matching: the policy's `matchConstraints` and the binding's `matchResources` (resourceRules with
   operations, apiGroups, apiVersions, resources incl. "x/status", "*/*", "x/*" and "*/scale" forms,
   resourceNames and scope; excludeResourceRules; namespaceSelector on the request's Namespace;
   objectSelector on the object or the old object; matchPolicy Equivalent also matches other served
   versions of the same resource);
2. `matchConditions` (all true, or the policy does not apply; an error follows failurePolicy);
3. `variables` (in order; each sees the earlier ones as `variables.<name>`), then `validations`:
   a false expression is a violation with `message`, `messageExpression` or "failed expression: ...",
   and its `reason` (Invalid 422 when unset, Forbidden 403, Unauthorized 401, RequestEntityTooLarge 413);
   an evaluation error is a violation under failurePolicy Fail and is skipped under Ignore;
4. the binding's `validationActions`: Deny fails the request with kube's message
   `<resource> "<name>" is forbidden: ValidatingAdmissionPolicy '<p>' with binding '<b>' denied request: ...`;
   Warn adds a `Warning` response header (kubectl prints it); Audit logs the violation.

`paramKind`/`paramRef` are supported for one named param object or a label selector over the param
resource (each selected param is evaluated; `parameterNotFoundAction` Allow or Deny).

Compiled policies are cached by the resourceVersions of all policies and bindings, so a request pays
a dictionary walk and the CEL evaluation of the policies that match it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from .builtins_admission import BINDINGS, GROUP, POLICIES
from .cel_engine import (
    POLICY_VARIABLES,
    Activation,
    CELCompileError,
    CELEvalError,
    Program,
    activation,
    compile_expression,
)
from .cel_inline import inline_variables
from .errors import StatusError
from .objects import Obj
from .registry import Registry
from .resources import ResourceInfo
from .security import User
from .selectors import LabelSelector, label_selector_from_dict
from .storage import Store

log = logging.getLogger(__name__)

_POLICY_RESOURCE = f"{GROUP}/{POLICIES}"
_BINDING_RESOURCE = f"{GROUP}/{BINDINGS}"

#: HTTP codes of the reasons a validation may give (kube's reasonToCode).
REASON_CODES = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422, "RequestEntityTooLarge": 413}

#: The user internal controllers (garbage collector, namespace and node lifecycle) act as.
INTERNAL_USER = User("system:kube-controller-manager", ("system:authenticated",))


@dataclass(frozen=True)
class AdmissionRequest:
    """One write, as an admission plugin sees it."""

    info: ResourceInfo
    operation: str  # CREATE | UPDATE | DELETE
    name: str
    namespace: str
    subresource: str
    obj: Obj | None
    old: Obj | None
    user: User
    dry_run: bool = False


@dataclass(frozen=True)
class _Rule:
    operations: frozenset[str]
    groups: frozenset[str]
    versions: frozenset[str]
    resources: tuple[str, ...]
    names: frozenset[str]
    scope: str

    def matches(self, op: str, group: str, version: str, resource: str, sub: str, name: str,
                namespaced: bool) -> bool:
        if "*" not in self.operations and op not in self.operations:
            return False
        if "*" not in self.groups and group not in self.groups:
            return False
        if "*" not in self.versions and version not in self.versions:
            return False
        if (self.scope == "Cluster" and namespaced) or (self.scope == "Namespaced" and not namespaced):
            return False
        if self.names and name not in self.names:
            return False
        return any(_resource_matches(r, resource, sub) for r in self.resources)


def _resource_matches(pattern: str, resource: str, sub: str) -> bool:
    p_res, _, p_sub = pattern.partition("/")
    if pattern == "*/*":
        return True
    if not p_sub and "/" not in pattern:
        return not sub and (p_res == "*" or p_res == resource)
    return (p_res == "*" or p_res == resource) and bool(sub) and (p_sub == "*" or p_sub == sub)


def _rules(raw: Any) -> tuple[_Rule, ...]:
    out = []
    for r in raw or []:
        if not isinstance(r, dict):
            continue
        out.append(_Rule(
            operations=frozenset(r.get("operations") or ()), groups=frozenset(r.get("apiGroups") or ()),
            versions=frozenset(r.get("apiVersions") or ()), resources=tuple(r.get("resources") or ()),
            names=frozenset(r.get("resourceNames") or ()), scope=str(r.get("scope") or "*"),
        ))
    return tuple(out)


def _selector(raw: Any) -> LabelSelector | None:
    """None matches everything (an absent or empty selector)."""
    if not isinstance(raw, dict) or not (raw.get("matchLabels") or raw.get("matchExpressions")):
        return None
    return label_selector_from_dict(raw)


@dataclass(frozen=True)
class _Match:
    rules: tuple[_Rule, ...]
    exclude: tuple[_Rule, ...]
    namespace_selector: LabelSelector | None
    object_selector: LabelSelector | None
    equivalent: bool

    @classmethod
    def of(cls, raw: Any) -> _Match | None:
        if not isinstance(raw, dict):
            return None
        return cls(_rules(raw.get("resourceRules")), _rules(raw.get("excludeResourceRules")),
                   _selector(raw.get("namespaceSelector")), _selector(raw.get("objectSelector")),
                   raw.get("matchPolicy", "Equivalent") != "Exact")


@dataclass
class _Validation:
    program: Program
    message: str
    message_program: Program | None
    reason: str
    source: str = ""  # the expression as written (program may have the variables inlined)


@dataclass
class _Policy:
    name: str
    failure_fail: bool
    constraints: _Match | None
    conditions: list[tuple[str, Program]]
    variables: list[tuple[str, Program]]
    validations: list[_Validation]
    param_kind: tuple[str, str] | None  # (apiVersion, kind)
    broken: str = ""  # a policy that cannot be compiled (old data): fails per failurePolicy
    #: Validations carry their variables inlined (cel_inline.py): no variable is evaluated on its own.
    inlined: bool = False
    #: All validations ANDed in one program: the common case (the request passes) costs one evaluation.
    all_valid: Program | None = None
    #: The top-level fields of object/oldObject the policy can read (None: whole objects); see `_fields_read`.
    object_fields: frozenset[str] | None = None
    #: The fields of object/oldObject.metadata the policy can read (None: all); see `_metadata_fields_read`.
    metadata_fields: frozenset[str] | None = None


@dataclass
class _Binding:
    name: str
    policy_name: str
    match: _Match | None
    actions: frozenset[str]
    param_ref: Obj | None


@dataclass
class _Snapshot:
    signature: tuple[Any, ...] = ()
    pairs: list[tuple[_Binding, _Policy]] = field(default_factory=list)


class PolicyAdmission:
    """Evaluates the stored ValidatingAdmissionPolicies and their bindings for each write."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self._get = store.get
        self._items = store.items
        self._count = store.count
        self._registry = registry
        self._snap = _Snapshot()

    # ------------------------------------------------------------------ compile (cached)
    def _pairs(self) -> list[tuple[_Binding, _Policy]]:
        policies = list(self._items(_POLICY_RESOURCE))
        bindings = list(self._items(_BINDING_RESOURCE))
        if not bindings:
            return []
        sig = tuple(sorted((k, o["metadata"].get("resourceVersion")) for k, o in policies + bindings))
        if sig == self._snap.signature:
            return self._snap.pairs
        by_name = {o["metadata"]["name"]: _compile_policy(o) for _, o in policies}
        pairs = []
        for _, b in sorted(bindings, key=lambda kv: kv[1]["metadata"]["name"]):
            binding = _compile_binding(b)
            policy = by_name.get(binding.policy_name)
            if policy is not None:  # as kube: a binding of a missing policy does nothing
                pairs.append((binding, policy))
        self._snap = _Snapshot(sig, pairs)
        return pairs

    # ------------------------------------------------------------------ admit
    def active(self) -> bool:
        """Whether any binding exists: without one no policy applies, and a write need not build a request."""
        return self._count(_BINDING_RESOURCE) > 0

    def admit(self, req: AdmissionRequest) -> list[str]:
        """Warnings for the response; raises StatusError when a Deny binding's policy rejects the request."""
        pairs = self._pairs()
        if not pairs:
            return []
        warnings: list[str] = []
        base: dict[str, Any] | None = None
        for binding, policy in pairs:
            if not self._matches(policy.constraints, req, required=True):
                continue
            if binding.match is not None and not self._matches(binding.match, req, required=False):
                continue
            if base is None:
                base = _base_variables(req, self._namespace_object(req))
            for params in self._params(policy, binding):
                if params is _PARAM_MISSING:
                    self._decide(req, binding, policy, "Invalid",
                                 "failed to configure binding: no params found for policy binding with "
                                 "`Deny` parameterNotFoundAction", warnings)
                    continue
                values = dict(base, params=params,
                              object=_project(req.obj, policy.object_fields, policy.metadata_fields),
                              oldObject=_project(req.old, policy.object_fields, policy.metadata_fields))
                verdict = _evaluate(policy, values)
                if verdict is not None:
                    reason, message = verdict
                    self._decide(req, binding, policy, reason, message, warnings)
        return warnings

    def _decide(self, req: AdmissionRequest, binding: _Binding, policy: _Policy, reason: str, message: str,
                warnings: list[str]) -> None:
        text = f"ValidatingAdmissionPolicy '{policy.name}' with binding '{binding.name}' denied request: {message}"
        if "Audit" in binding.actions:
            log.info("audit: %s %s %s by %s: %s", req.operation, req.info.group_resource, req.name,
                     req.user.name, text)
        if "Warn" in binding.actions:
            warnings.append(f"Validation failed for ValidatingAdmissionPolicy '{policy.name}' with binding "
                            f"'{binding.name}': {message}")
        if "Deny" in binding.actions:
            resource = req.info.group_resource
            raise StatusError(REASON_CODES.get(reason, 422), reason, f'{resource} "{req.name}" is forbidden: {text}',
                              name=req.name, group=req.info.group, kind=req.info.plural,
                              causes=[{"type": "", "message": text, "field": ""}])

    # ------------------------------------------------------------------ matching
    def _matches(self, m: _Match | None, req: AdmissionRequest, *, required: bool) -> bool:
        if m is None:
            return not required
        info = req.info
        if m.rules or required:
            hit = any(r.matches(req.operation, info.group, info.version, info.plural, req.subresource, req.name,
                                info.namespaced) for r in m.rules)
            if not hit and m.equivalent:  # the same resource served in another version
                others = [v.version for v in self._registry.versions_of(info.group, info.plural)
                          if v.version != info.version]
                hit = any(r.matches(req.operation, info.group, v, info.plural, req.subresource, req.name,
                                    info.namespaced) for r in m.rules for v in others)
            if not hit:
                return False
        if any(r.matches(req.operation, info.group, info.version, info.plural, req.subresource, req.name,
                         info.namespaced) for r in m.exclude):
            return False
        if m.object_selector is not None:
            labels = [((o.get("metadata") or {}).get("labels") or {}) for o in (req.obj, req.old) if o is not None]
            if not any(m.object_selector.matches(lab) for lab in labels):
                return False
        if m.namespace_selector is not None:
            if info.namespaced:
                ns = self._get(f"/namespaces//{req.namespace}")
                if ns is None or not m.namespace_selector.matches((ns.get("metadata") or {}).get("labels")):
                    return False
            elif info.plural == "namespaces" and not info.group:
                o = req.obj if req.obj is not None else req.old
                if not m.namespace_selector.matches(((o or {}).get("metadata") or {}).get("labels")):
                    return False
            # other cluster-scoped resources are never excluded by a namespaceSelector (as kube)
        return True

    def _namespace_object(self, req: AdmissionRequest) -> Obj | None:
        if not req.info.namespaced or not req.namespace:
            return None
        return self._get(f"/namespaces//{req.namespace}")

    def _params(self, policy: _Policy, binding: _Binding) -> list[Any]:
        if policy.param_kind is None:
            return [None]
        ref = binding.param_ref
        if ref is None:
            return [_PARAM_MISSING]
        api_version, kind = policy.param_kind
        group, _, version = api_version.rpartition("/")
        info = next((i for i in self._registry.all() if i.group == group and i.version == version
                     and i.kind == kind), None)
        found: list[Any] = []
        if info is not None:
            ns = str(ref.get("namespace") or "") if info.namespaced else ""
            if ref.get("name"):
                obj = self._get(info.key(ns, str(ref["name"])))
                if obj is not None:
                    found.append(obj)
            else:
                sel = _selector(ref.get("selector"))
                prefix = info.prefix(ns or None)
                for key, obj in self._items(f"{info.group}/{info.plural}"):
                    if key.startswith(prefix) and (sel is None or sel.matches(obj["metadata"].get("labels"))):
                        found.append(obj)
        if not found:
            return [_PARAM_MISSING] if ref.get("parameterNotFoundAction", "Deny") == "Deny" else []
        return found


_PARAM_MISSING: Any = object()


# --------------------------------------------------------------------------- compile


def _compile_policy(obj: Obj) -> _Policy:
    spec = obj.get("spec") or {}
    name = obj["metadata"]["name"]
    pk = spec.get("paramKind")
    policy = _Policy(
        name=name, failure_fail=spec.get("failurePolicy", "Fail") != "Ignore",
        constraints=_Match.of(spec.get("matchConstraints")), conditions=[], variables=[], validations=[],
        param_kind=(str(pk.get("apiVersion", "")), str(pk.get("kind", ""))) if isinstance(pk, dict) else None,
    )
    try:
        for m in spec.get("matchConditions") or []:
            # Checked against MATCH_CONDITION_VARIABLES when the policy is written (builtins_admission.py);
            # compiled over all variables here so that one activation serves the whole policy.
            policy.conditions.append((str(m["name"]), compile_expression(m["expression"], POLICY_VARIABLES)))
        sources: dict[str, str] = {}
        inlinable = True
        for v in spec.get("variables") or []:
            policy.variables.append((str(v["name"]), compile_expression(v["expression"], POLICY_VARIABLES)))
            src = inline_variables(str(v["expression"]), sources)
            inlinable = inlinable and src is not None
            sources[str(v["name"])] = src or ""
        raw = [(str(v["expression"]), v.get("messageExpression")) for v in spec.get("validations") or []]
        inlined = [(inline_variables(e, sources), inline_variables(str(me), sources) if me else None) for e, me in raw]
        policy.inlined = inlinable and all(e is not None and (me is None or m is not None)
                                           for (e, m), (_, me) in zip(inlined, raw, strict=True))
        for v, (e, m) in zip(spec.get("validations") or [], inlined, strict=True):
            me = v.get("messageExpression")
            expr, msg_expr = (e, m) if policy.inlined else (v["expression"], me)
            policy.validations.append(_Validation(
                program=compile_expression(str(expr), POLICY_VARIABLES),
                message=str(v.get("message") or ""),
                message_program=compile_expression(str(msg_expr), POLICY_VARIABLES) if msg_expr else None,
                reason=str(v.get("reason") or "Invalid"),
                source=str(v["expression"]),
            ))
        texts = ([str(m.get("expression", "")) for m in spec.get("matchConditions") or []]
                 + [str(v.get("expression", "")) for v in spec.get("variables") or []]
                 + [str(v.get(k) or "") for v in spec.get("validations") or []
                    for k in ("expression", "messageExpression")])
        policy.object_fields = _fields_read(texts)
        if policy.object_fields is not None:  # metadata is reachable only as object.metadata / oldObject.metadata
            policy.metadata_fields = _metadata_fields_read(texts)
        if policy.inlined and len(policy.validations) > 1:
            policy.all_valid = compile_expression(
                " && ".join(f"({v.program.expression})" for v in policy.validations), POLICY_VARIABLES)
    except (CELCompileError, KeyError, TypeError) as exc:
        policy.broken = f"policy {name} cannot be compiled: {exc}"
    return policy


_OBJECT_USE = re.compile(r"\b(object|oldObject)\b")
#: A use that selects a top-level field: `object.metadata`, `oldObject.?spec` (not a method call: `object.all(`).
_FIELD_SELECTION = re.compile(r"\s*\.\??\s*([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()")
_NULL_TEST = re.compile(r"\s*[!=]=\s*null\b")


def _fields_read(expressions: list[str]) -> frozenset[str] | None:
    """Top-level fields of `object`/`oldObject` that `expressions` can reach, or None for "all of them".

    The binding converts a variable's whole value when an expression first touches it (a Node's status
    is most of its size). When every use of `object`/`oldObject` selects a named field (`object.metadata`,
    `oldObject.?spec`) or compares it with null, the policy can read no other top-level field, so the
    others need not be handed over. Any other use (indexing, iterating, comparing, passing the whole
    object) keeps whole objects.
    """
    fields: set[str] = set()
    for text in expressions:
        for m in _OBJECT_USE.finditer(text):
            sel = _FIELD_SELECTION.match(text, m.end())
            if sel is not None:
                fields.add(sel.group(1))
            elif not _NULL_TEST.match(text, m.end()):
                return None
    return frozenset(fields)


_METADATA_USE = re.compile(r"\b(?:object|oldObject)\s*\.\??\s*metadata\b(?!\s*\()")


def _metadata_fields_read(expressions: list[str]) -> frozenset[str] | None:
    """Fields of `object.metadata`/`oldObject.metadata` that `expressions` can reach, or None for all of them.

    Meaningful only when `_fields_read` found that every use of the objects selects a top-level field. The
    same reasoning one level down: when every `object.metadata` selects a named field (`.labels`, `.?name`),
    the policy cannot read the others. What this spares is `managedFields`, which every tracked write
    carries, which no policy of ours reads, and whose conversion to CEL values cost more than the policy's
    evaluation (an agent's Node status write: about 150 µs with it, 50 µs without).
    """
    fields: set[str] = set()
    for text in expressions:
        for m in _METADATA_USE.finditer(text):
            sel = _FIELD_SELECTION.match(text, m.end())
            if sel is None:
                return None
            fields.add(sel.group(1))
    return frozenset(fields)


def _project(obj: Obj | None, fields: frozenset[str] | None,
             metadata_fields: frozenset[str] | None = None) -> Obj | None:
    if obj is None or fields is None:
        return obj
    out = {k: v for k, v in obj.items() if k in fields}
    meta = out.get("metadata")
    if metadata_fields is not None and isinstance(meta, dict):
        out["metadata"] = {k: v for k, v in meta.items() if k in metadata_fields}
    return out


def _compile_binding(obj: Obj) -> _Binding:
    spec = obj.get("spec") or {}
    ref = spec.get("paramRef")
    return _Binding(name=obj["metadata"]["name"], policy_name=str(spec.get("policyName") or ""),
                    match=_Match.of(spec.get("matchResources")) if spec.get("matchResources") else None,
                    actions=frozenset(spec.get("validationActions") or ()),
                    param_ref=ref if isinstance(ref, dict) else None)


# --------------------------------------------------------------------------- evaluate


def _base_variables(req: AdmissionRequest, namespace_object: Obj | None) -> dict[str, Any]:
    info = req.info
    user = req.user
    request = {
        "uid": "",
        "kind": {"group": info.group, "version": info.version, "kind": info.kind},
        "resource": {"group": info.group, "version": info.version, "resource": info.plural},
        "subResource": req.subresource,
        "requestKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "requestResource": {"group": info.group, "version": info.version, "resource": info.plural},
        "requestSubResource": req.subresource,
        "name": req.name,
        "namespace": req.namespace,
        "operation": req.operation,
        "userInfo": {"username": user.name, "uid": user.uid, "groups": list(user.groups),
                     "extra": user.extra_dict()},
        "dryRun": req.dry_run,
    }
    return {"object": req.obj, "oldObject": req.old, "request": request, "namespaceObject": namespace_object}


def _evaluate(policy: _Policy, values: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, message) of the first violation, or None when the request passes."""
    if policy.broken:
        return ("Invalid", policy.broken) if policy.failure_fail else None
    variables: dict[str, Any] = {}
    full = dict(values, variables=variables)
    act = activation(POLICY_VARIABLES, full)
    if policy.conditions:
        for cname, program in policy.conditions:
            try:
                if not program.evaluate_bool(act):
                    return None
            except CELEvalError as exc:
                if policy.failure_fail:
                    return "Invalid", f"failed to evaluate matchCondition '{cname}': {exc}"
                return None
    if not policy.inlined:
        for vname, program in policy.variables:
            try:
                variables[vname] = program.evaluate(activation(POLICY_VARIABLES, full))
            except CELEvalError:
                continue  # an expression that reads it fails with "no such key" and follows failurePolicy
        act = activation(POLICY_VARIABLES, full)
    if policy.all_valid is not None:
        try:
            if policy.all_valid.evaluate_bool(act):
                return None
        except CELEvalError:
            pass  # one of them failed to evaluate: find which, in order, below
    for v in policy.validations:
        try:
            ok = v.program.evaluate_bool(act)
        except CELEvalError as exc:
            if policy.failure_fail:
                return "Invalid", f"expression '{v.source}' resulted in error: {exc}"
            continue
        if ok:
            continue
        return v.reason, _message(v, act)
    return None


def _message(v: _Validation, act: Activation) -> str:
    if v.message_program is not None:
        try:
            text = v.message_program.evaluate(act)
            if isinstance(text, str) and text.strip() and "\n" not in text:
                return text
        except CELEvalError as exc:
            log.debug("messageExpression failed: %s", exc)
    if v.message:
        return v.message
    return f"failed expression: {v.source}"
