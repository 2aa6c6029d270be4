"""admissionregistration.k8s.io/v1: ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding.

Served like every built-in: a `ResourceInfo` with a structural schema (field names, required fields and
enums from Kubernetes' OpenAPI for v1, defaults as the real server applies them) and kubectl's printer
columns. On write every CEL expression of a policy is compiled, and a policy that does not compile is
rejected with 422 and the field path of the expression, as kube-apiserver does. The policies are
evaluated by `admission_policy.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubenode.apiserver.builtin_columns import age_cell
from kubenode.apiserver.cel_engine import (
    MATCH_CONDITION_VARIABLES,
    POLICY_VARIABLES,
    CELCompileError,
    compile_expression,
)
from kubenode.apiserver.errors import Cause, field_cause
from kubenode.apiserver.resources import Obj, PrinterColumn, ResourceInfo
from kubenode.apiserver.tables import CREATION_TIMESTAMP_DESCRIPTION

GROUP = "admissionregistration.k8s.io"
POLICIES = "validatingadmissionpolicies"
BINDINGS = "validatingadmissionpolicybindings"

__all__ = ["ADMISSION_RESOURCES", "ADMISSION_VALIDATORS", "BINDINGS", "GROUP", "POLICIES"]


def _s(description: str, enum: Sequence[str] = ()) -> Obj:
    out: Obj = {"type": "string", "description": description, "nullable": True}
    if enum:
        out["enum"] = list(enum)
    return out


def _strs(description: str) -> Obj:
    return {"type": "array", "description": description, "items": {"type": "string"}, "nullable": True,
            "x-kubernetes-list-type": "atomic"}


def _o(description: str, props: dict[str, Obj], required: Sequence[str] = ()) -> Obj:
    out: Obj = {"type": "object", "description": description, "properties": props, "nullable": True}
    if required:
        out["required"] = list(required)
    return out


def _l(description: str, items: Obj, map_key: str = "") -> Obj:
    out: Obj = {"type": "array", "description": description, "items": items, "nullable": True}
    if map_key:
        out["x-kubernetes-list-type"] = "map"
        out["x-kubernetes-list-map-keys"] = [map_key]
    else:
        out["x-kubernetes-list-type"] = "atomic"
    return out


_LABEL_SELECTOR = _o("A label selector: matchLabels and matchExpressions (ANDed).", {
    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}, "nullable": True,
                    "description": "matchLabels is a map of {key,value} pairs."},
    "matchExpressions": _l("matchExpressions is a list of label selector requirements.", _o(
        "A label selector requirement.", {
            "key": _s("key is the label key that the selector applies to."),
            "operator": _s("operator represents a key's relationship to a set of values.",
                           ("In", "NotIn", "Exists", "DoesNotExist")),
            "values": _strs("values is an array of string values."),
        }, ("key", "operator"))),
})

_RULE_PROPS: dict[str, Obj] = {
    "apiGroups": _strs("APIGroups is the API groups the resources belong to. '*' is all groups."),
    "apiVersions": _strs("APIVersions is the API versions the resources belong to. '*' is all versions."),
    "operations": _strs("Operations is the operations the admission hook cares about - CREATE, UPDATE, "
                        "DELETE, CONNECT or * for all of those operations."),
    "resources": _strs("Resources is a list of resources this rule applies to. 'pods' means pods, "
                       "'pods/log' the log subresource of pods, '*' all resources, '*/*' all resources and "
                       "their subresources, 'pods/*' all subresources of pods, '*/scale' all scale "
                       "subresources."),
    "resourceNames": _strs("ResourceNames is an optional white list of names that the rule applies to. An "
                           "empty set means that everything is allowed."),
    "scope": _s("scope specifies the scope of this rule.", ("Cluster", "Namespaced", "*")),
}

_MATCH_RESOURCES = _o(
    "MatchResources decides whether to run the admission control policy on an object based on whether it "
    "meets the match criteria.", {
        "namespaceSelector": _LABEL_SELECTOR,
        "objectSelector": _LABEL_SELECTOR,
        "resourceRules": _l("ResourceRules describes what operations on what resources/subresources the "
                            "ValidatingAdmissionPolicy matches.", _o("A rule with resource names.", _RULE_PROPS)),
        "excludeResourceRules": _l("ExcludeResourceRules describes what operations on what "
                                   "resources/subresources the ValidatingAdmissionPolicy should not care about.",
                                   _o("A rule with resource names.", _RULE_PROPS)),
        "matchPolicy": _s("matchPolicy defines how the \"MatchResources\" list is used to match incoming "
                          "requests. Defaults to \"Equivalent\".", ("Exact", "Equivalent")),
    })

_REASONS = ("Unauthorized", "Forbidden", "Invalid", "RequestEntityTooLarge")

POLICY_SCHEMA: Obj = {
    "type": "object",
    "description": "ValidatingAdmissionPolicy describes the definition of an admission validation policy that "
                   "accepts or rejects an object without changing it.",
    "properties": {
        "apiVersion": {"type": "string", "description": "APIVersion of this representation of an object."},
        "kind": {"type": "string", "description": "Kind is the REST resource this object represents."},
        "metadata": {"type": "object", "description": "Standard object metadata.",
                     "x-kubernetes-preserve-unknown-fields": True},
        "spec": _o("Specification of the desired behavior of the ValidatingAdmissionPolicy.", {
            "paramKind": _o("ParamKind specifies the kind of resources used to parameterize this policy.", {
                "apiVersion": _s("APIVersion is the API group version the resources belong to."),
                "kind": _s("Kind is the API kind the resources belong to."),
            }),
            "matchConstraints": _MATCH_RESOURCES,
            "validations": _l("Validations contain CEL expressions which is used to apply the validation.", _o(
                "Validation specifies the CEL expression which is used to apply the validation.", {
                    "expression": _s("Expression represents the expression which will be evaluated by CEL."),
                    "message": _s("Message represents the message displayed when validation fails."),
                    "reason": _s("Reason represents a machine-readable description of why this validation "
                                 "failed. If not set, StatusReasonInvalid is used.", _REASONS),
                    "messageExpression": _s("messageExpression declares a CEL expression that evaluates to "
                                            "the validation failure message."),
                }, ("expression",))),
            "failurePolicy": _s("failurePolicy defines how to handle failures for the admission policy. "
                                "Defaults to Fail.", ("Ignore", "Fail")),
            "auditAnnotations": _l("auditAnnotations contains CEL expressions which are used to produce audit "
                                   "annotations for the audit event of the API request.", _o(
                                       "An audit annotation.", {
                                           "key": _s("key specifies the audit annotation key."),
                                           "valueExpression": _s("valueExpression represents the expression "
                                                                 "which is evaluated by CEL."),
                                       }, ("key", "valueExpression"))),
            "matchConditions": _l("MatchConditions is a list of conditions that must be met for a request to "
                                  "be validated.", _o("A match condition.", {
                                      "name": _s("Name is an identifier for this match condition."),
                                      "expression": _s("Expression represents the expression which will be "
                                                       "evaluated by CEL. Must evaluate to bool."),
                                  }, ("name", "expression")), map_key="name"),
            "variables": _l("Variables contain definitions of variables that can be used in composition of "
                            "other expressions.", _o("A variable.", {
                                "name": _s("Name is the name of the variable."),
                                "expression": _s("Expression is the expression that will be evaluated as the "
                                                 "value of the variable."),
                            }, ("name", "expression")), map_key="name"),
        }),
        "status": _o("The status of the ValidatingAdmissionPolicy.", {
            "observedGeneration": {"type": "integer", "format": "int64", "nullable": True,
                                   "description": "The generation observed by the controller."},
            "typeChecking": _o("The results of type checking for each expression.", {
                "expressionWarnings": _l("The type checking warnings for each expression.", _o(
                    "A warning.", {"fieldRef": _s("The path to the field that refers the expression."),
                                   "warning": _s("The content of type checking information.")},
                    ("fieldRef", "warning"))),
            }),
            "conditions": _l("The conditions represent the latest available observations of a policy's "
                             "current state.", _o("A condition.", {
                                 "type": _s("type of condition."), "status": _s("status of the condition."),
                                 "observedGeneration": {"type": "integer", "format": "int64", "nullable": True},
                                 "lastTransitionTime": {"type": "string", "format": "date-time", "nullable": True},
                                 "reason": _s("reason"), "message": _s("message"),
                             }, ("type", "status")), map_key="type"),
        }),
    },
}

BINDING_SCHEMA: Obj = {
    "type": "object",
    "description": "ValidatingAdmissionPolicyBinding binds the ValidatingAdmissionPolicy with paramerized "
                   "resources.",
    "properties": {
        "apiVersion": {"type": "string", "description": "APIVersion of this representation of an object."},
        "kind": {"type": "string", "description": "Kind is the REST resource this object represents."},
        "metadata": {"type": "object", "description": "Standard object metadata.",
                     "x-kubernetes-preserve-unknown-fields": True},
        "spec": _o("Specification of the desired behavior of ValidatingAdmissionPolicyBinding.", {
            "policyName": _s("PolicyName references a ValidatingAdmissionPolicy name which the "
                             "ValidatingAdmissionPolicyBinding binds to."),
            "paramRef": _o("paramRef specifies the parameter resource used to configure the admission control "
                           "policy.", {
                               "name": _s("name is the name of the resource being referenced."),
                               "namespace": _s("namespace is the namespace of the referenced resource."),
                               "selector": _LABEL_SELECTOR,
                               "parameterNotFoundAction": _s("parameterNotFoundAction controls the behavior of "
                                                             "the binding when the resource exists, and name or "
                                                             "selector is valid, but there are no parameters "
                                                             "matched by the binding.", ("Allow", "Deny")),
                           }),
            "matchResources": _MATCH_RESOURCES,
            "validationActions": {**_strs("validationActions declares how Validations of the referenced "
                                          "ValidatingAdmissionPolicy are enforced: Deny, Warn, Audit."),
                                  "x-kubernetes-list-type": "set"},
        }),
    },
}


def _validations_cell(obj: Obj, _now: float) -> int:
    return len(((obj.get("spec") or {}).get("validations")) or [])


def _param_kind_cell(obj: Obj, _now: float) -> str:
    pk = (obj.get("spec") or {}).get("paramKind")
    if not isinstance(pk, dict):
        return "<unset>"
    return f"{pk.get('apiVersion', '')}/{pk.get('kind', '')}"


def _policy_name_cell(obj: Obj, _now: float) -> str:
    return str((obj.get("spec") or {}).get("policyName") or "")


def _param_ref_cell(obj: Obj, _now: float) -> str:
    ref = (obj.get("spec") or {}).get("paramRef")
    if not isinstance(ref, dict):
        return "<unset>"
    if ref.get("name"):
        return f"{ref['namespace']}/{ref['name']}" if ref.get("namespace") else f"*/{ref['name']}"
    return "*/*"


_AGE = PrinterColumn(name="Age", description=CREATION_TIMESTAMP_DESCRIPTION, cell=age_cell)

POLICY_COLUMNS = (
    PrinterColumn(name="Validations", type="integer", description="Validations is the number of validations.",
                  cell=_validations_cell),
    PrinterColumn(name="ParamKind", description="ParamKind specifies the kind of resources used to parameterize "
                  "this policy", cell=_param_kind_cell),
    _AGE,
)
BINDING_COLUMNS = (
    PrinterColumn(name="PolicyName", description="PolicyName references a ValidatingAdmissionPolicy name.",
                  cell=_policy_name_cell),
    PrinterColumn(name="ParamRef", description="ParamRef specifies the parameter resource.", cell=_param_ref_cell),
    _AGE,
)

_HINTS: dict[str, tuple[str, str]] = {
    "metadata.finalizers": ("merge", ""),
    "metadata.ownerReferences": ("merge", "uid"),
}

ADMISSION_RESOURCES: tuple[ResourceInfo, ...] = (
    ResourceInfo(
        group=GROUP, version="v1", kind="ValidatingAdmissionPolicy", plural=POLICIES,
        singular="validatingadmissionpolicy", namespaced=False, categories=("api-extensions",),
        schema=POLICY_SCHEMA, status_subresource=True, printer_columns=POLICY_COLUMNS, builtin=True,
        track_generation=True, smp_hints=dict(_HINTS),
    ),
    ResourceInfo(
        group=GROUP, version="v1", kind="ValidatingAdmissionPolicyBinding", plural=BINDINGS,
        singular="validatingadmissionpolicybinding", namespaced=False, categories=("api-extensions",),
        schema=BINDING_SCHEMA, printer_columns=BINDING_COLUMNS, builtin=True, track_generation=True,
        smp_hints=dict(_HINTS),
    ),
)


# --------------------------------------------------------------------------- validation (as kube's)


def _compile_cause(path: str, expression: Any, variables: tuple[str, ...]) -> Cause | None:
    if not isinstance(expression, str) or not expression.strip():
        return field_cause("FieldValueRequired", path, "Required value: expression is not specified")
    try:
        compile_expression(expression, variables)
    except CELCompileError as exc:
        return field_cause("FieldValueInvalid", path, f"Invalid value: {_q(expression)}: {exc}")
    return None


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _validate_rules(rules: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, rule in enumerate(rules or []):
        if not isinstance(rule, dict):
            continue
        for op in rule.get("operations") or []:
            if op not in ("*", "CREATE", "UPDATE", "DELETE", "CONNECT"):
                causes.append(field_cause("FieldValueNotSupported", f"{path}[{i}].operations",
                                          f'Unsupported value: "{op}": supported values: "*", "CONNECT", '
                                          f'"CREATE", "DELETE", "UPDATE"'))
        for key in ("apiGroups", "apiVersions", "resources", "operations"):
            if not rule.get(key) and path.endswith("resourceRules") and "exclude" not in path:
                causes.append(field_cause("FieldValueRequired", f"{path}[{i}].{key}", "Required value"))
    return causes


def _validate_policy(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [field_cause("FieldValueRequired", "spec", "Required value")]
    causes: list[Cause] = []
    mc = spec.get("matchConstraints")
    if not isinstance(mc, dict) or not mc.get("resourceRules"):
        causes.append(field_cause("FieldValueRequired", "spec.matchConstraints.resourceRules", "Required value"))
    else:
        causes += _validate_rules(mc.get("resourceRules"), "spec.matchConstraints.resourceRules")
    validations = spec.get("validations") or []
    if not validations and not spec.get("auditAnnotations"):
        causes.append(field_cause("FieldValueRequired", "spec.validations",
                                  "Required value: validations or auditAnnotations must contain at least one item"))
    for i, v in enumerate(validations):
        if not isinstance(v, dict):
            continue
        c = _compile_cause(f"spec.validations[{i}].expression", v.get("expression"), POLICY_VARIABLES)
        if c:
            causes.append(c)
        if v.get("messageExpression") is not None:
            c = _compile_cause(f"spec.validations[{i}].messageExpression", v.get("messageExpression"),
                               POLICY_VARIABLES)
            if c:
                causes.append(c)
    for i, m in enumerate(spec.get("matchConditions") or []):
        if isinstance(m, dict):
            c = _compile_cause(f"spec.matchConditions[{i}].expression", m.get("expression"),
                               MATCH_CONDITION_VARIABLES)
            if c:
                causes.append(c)
    for i, var in enumerate(spec.get("variables") or []):
        if isinstance(var, dict):
            c = _compile_cause(f"spec.variables[{i}].expression", var.get("expression"), POLICY_VARIABLES)
            if c:
                causes.append(c)
    for i, a in enumerate(spec.get("auditAnnotations") or []):
        if isinstance(a, dict):
            c = _compile_cause(f"spec.auditAnnotations[{i}].valueExpression", a.get("valueExpression"),
                               POLICY_VARIABLES)
            if c:
                causes.append(c)
    if spec.get("paramKind") is not None:
        pk = spec["paramKind"]
        for key in ("apiVersion", "kind"):
            if not (isinstance(pk, dict) and pk.get(key)):
                causes.append(field_cause("FieldValueRequired", f"spec.paramKind.{key}", "Required value"))
    return causes


def _validate_binding(obj: Obj) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [field_cause("FieldValueRequired", "spec", "Required value")]
    causes: list[Cause] = []
    if not spec.get("policyName"):
        causes.append(field_cause("FieldValueRequired", "spec.policyName", "Required value"))
    actions = spec.get("validationActions") or []
    if not actions:
        causes.append(field_cause("FieldValueRequired", "spec.validationActions", "Required value"))
    for i, a in enumerate(actions):
        if a not in ("Deny", "Warn", "Audit"):
            causes.append(field_cause("FieldValueNotSupported", f"spec.validationActions[{i}]",
                                      f'Unsupported value: "{a}": supported values: "Audit", "Deny", "Warn"'))
    if "Deny" in actions and "Warn" in actions:
        causes.append(field_cause("FieldValueInvalid", "spec.validationActions",
                                  "Invalid value: must not contain both Deny and Warn (repeating the same "
                                  "validation failure information in the API response and headers serves no "
                                  "purpose)"))
    ref = spec.get("paramRef")
    if isinstance(ref, dict) and bool(ref.get("name")) == bool(ref.get("selector")):
        causes.append(field_cause("FieldValueForbidden", "spec.paramRef",
                                  "Forbidden: one of name or selector must be specified"))
    mr = spec.get("matchResources")
    if isinstance(mr, dict):
        causes += _validate_rules(mr.get("resourceRules"), "spec.matchResources.resourceRules")
    return causes


#: Per-resource validators ("group/plural" -> fn), registered into strategies.VALIDATE.
ADMISSION_VALIDATORS = {
    f"{GROUP}/{POLICIES}": _validate_policy,
    f"{GROUP}/{BINDINGS}": _validate_binding,
}
