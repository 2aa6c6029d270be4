"""Per-resource behaviour of the built-in kinds (what kube's registry "strategies" do).

Custom resources need none of this; built-ins each have a few rules that
clients rely on: a new Namespace is Active, a new Pod is Pending, Secret
`stringData` is folded into `data`, a CRD is validated and established.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from . import builtins_certificates as csr
from . import gobase64
from .builtins_admission import ADMISSION_VALIDATORS
from .crd_validation import compile_errors
from .defaults import pod_qos_class
from .errors import Cause, field_cause
from .objects import Obj, now_rfc3339
from .schema import check_structural
from .workload_strategies import PREPARE_CREATE as _WORKLOAD_PREPARE
from .workload_strategies import VALIDATE as _WORKLOAD_VALIDATE
from .workload_strategies import VALIDATE_UPDATE as _WORKLOAD_VALIDATE_UPDATE
from .workload_strategies import prepare_service

CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def _prepare_namespace(obj: Obj, old: Obj | None) -> None:
    if old is None:
        obj["status"] = {"phase": "Active"}
        spec = obj.setdefault("spec", {})
        fins = spec.setdefault("finalizers", [])
        if "kubernetes" not in fins:
            fins.append("kubernetes")
    labels = obj["metadata"].setdefault("labels", {})
    # Since 1.21 every namespace carries its name as an immutable label.
    labels["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")


def _prepare_pod(obj: Obj, old: Obj | None) -> None:
    if old is None:
        status = obj.get("status") or {}
        obj["status"] = {"phase": status.get("phase") or "Pending", "qosClass": pod_qos_class(obj)}
        if (obj.get("spec") or {}).get("schedulingGates"):
            # kube's PrepareForCreate: a gated pod says why it is not scheduled (timestamps unset: null)
            obj["status"]["conditions"] = [{
                "type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates",
                "lastProbeTime": None, "lastTransitionTime": None,
            }]


def _canonical_bytes(values: object) -> None:
    """Re-encode valid base64 values as kube stores them (line breaks dropped); invalid ones stay for validation."""
    if not isinstance(values, dict):
        return
    for k, v in values.items():
        if isinstance(v, str):
            fixed = gobase64.canonical(v)
            if fixed is not None:
                values[k] = fixed


def _prepare_secret(obj: Obj, old: Obj | None) -> None:
    _canonical_bytes(obj.get("data"))
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {})
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def _prepare_configmap(obj: Obj, old: Obj | None) -> None:
    _canonical_bytes(obj.get("binaryData"))


def _validate_secret(obj: Obj) -> list[Cause]:
    causes = []
    for k, v in (obj.get("data") or {}).items():
        if not isinstance(v, str):
            continue
        try:
            gobase64.decode(v)
        except ValueError as exc:
            causes.append(field_cause("FieldValueInvalid", f"data[{k}]", str(exc)))
    return causes


def _prepare_crd(obj: Obj, old: Obj | None) -> None:
    spec = obj.get("spec") or {}
    names = dict(spec.get("names") or {})
    if names.get("kind") and not names.get("listKind"):
        names["listKind"] = names["kind"] + "List"
    if names.get("plural") and not names.get("singular") and names.get("kind"):
        names["singular"] = names["kind"].lower()
    spec["names"] = names
    fins = obj["metadata"].setdefault("finalizers", [])
    if old is None and CRD_CLEANUP_FINALIZER not in fins:
        fins.append(CRD_CLEANUP_FINALIZER)
    stored = list(((old or {}).get("status") or {}).get("storedVersions") or [])
    for v in spec.get("versions") or []:
        if v.get("storage") and v.get("name") not in stored:
            stored.append(v["name"])
    prev_conds = {c.get("type"): c for c in ((old or {}).get("status") or {}).get("conditions") or []}
    now = now_rfc3339()

    def cond(type_: str, status: str, reason: str, message: str) -> Obj:
        prev = prev_conds.get(type_)
        ltt = prev["lastTransitionTime"] if prev and prev.get("status") == status else now
        return {"type": type_, "status": status, "reason": reason, "message": message,
                "lastTransitionTime": ltt}

    conditions = [
        cond("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
        cond("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
    ]
    if obj["metadata"].get("deletionTimestamp"):
        conditions.append(cond("Terminating", "True", "InstanceDeletionInProgress",
                               "CustomResource deletion is in progress"))
    obj["status"] = {"acceptedNames": names, "storedVersions": stored, "conditions": conditions}


def _validate_crd(obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec") or {}
    group = spec.get("group") or ""
    names = spec.get("names") or {}
    name = obj["metadata"].get("name", "")
    if not group:
        causes.append(field_cause("FieldValueRequired", "spec.group", "Required value"))
    elif "." not in group:
        causes.append(field_cause("FieldValueInvalid", "spec.group",
                                  f'Invalid value: "{group}": should be a domain with at least one dot'))
    if not names.get("plural"):
        causes.append(field_cause("FieldValueRequired", "spec.names.plural", "Required value"))
    if not names.get("kind"):
        causes.append(field_cause("FieldValueRequired", "spec.names.kind", "Required value"))
    if names.get("plural") and group and name != f"{names['plural']}.{group}":
        causes.append(field_cause("FieldValueInvalid", "metadata.name",
                                  f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'))
    if spec.get("scope") not in ("Cluster", "Namespaced"):
        causes.append(field_cause("FieldValueNotSupported", "spec.scope",
                                  f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", '
                                  '"Namespaced"'))
    versions = spec.get("versions") or []
    if not versions:
        causes.append(field_cause("FieldValueRequired", "spec.versions", "Required value"))
    storage = [v for v in versions if v.get("storage")]
    if versions and len(storage) != 1:
        causes.append(field_cause("FieldValueInvalid", "spec.versions",
                                  "Invalid value: must have exactly one version marked as storage version"))
    for i, v in enumerate(versions):
        schema = ((v.get("schema") or {}).get("openAPIV3Schema"))
        if schema is None:
            causes.append(field_cause("FieldValueRequired", f"spec.versions[{i}].schema.openAPIV3Schema",
                                      "Required value: schemas are required"))
            continue
        causes.extend(check_structural(schema, f"spec.versions[{i}].schema.openAPIV3Schema"))
        causes.extend(compile_errors(schema, f"spec.versions[{i}].schema.openAPIV3Schema"))
    return causes


PrepareFn = Callable[[Obj, Obj | None], None]
ValidateFn = Callable[[Obj], list[Cause]]
ValidateUpdateFn = Callable[[Obj, Obj], list[Cause]]

#: Hooks keyed by `group/plural`.
PREPARE: dict[str, PrepareFn] = {
    "/namespaces": _prepare_namespace,
    "/pods": _prepare_pod,
    "/secrets": _prepare_secret,
    "/configmaps": _prepare_configmap,
    "apiextensions.k8s.io/customresourcedefinitions": _prepare_crd,
    "/services": prepare_service,
    **_WORKLOAD_PREPARE,
    csr.RESOURCE_ID: csr.prepare_csr,
}
VALIDATE: dict[str, ValidateFn] = {
    "/secrets": _validate_secret,
    "apiextensions.k8s.io/customresourcedefinitions": _validate_crd,
    **_WORKLOAD_VALIDATE,
    **ADMISSION_VALIDATORS,
    csr.RESOURCE_ID: csr.validate_csr,
}
#: Rules that compare an update with the stored object, keyed by `group/plural`.
VALIDATE_UPDATE: dict[str, ValidateUpdateFn] = {
    csr.RESOURCE_ID: csr.validate_csr_update,
    **_WORKLOAD_VALIDATE_UPDATE,
}
#: Subresources written like `/status` (the body's status replaces the stored one, nothing else changes),
#: with the hook that then applies the subresource's own rules, keyed by (`group/plural`, subresource).
STATUS_LIKE: dict[tuple[str, str], PrepareFn] = {
    (csr.RESOURCE_ID, "status"): csr.prepare_csr_status,
    (csr.RESOURCE_ID, "approval"): csr.prepare_csr_approval,
}
