"""What kube's registries do for Deployments, ReplicaSets, DaemonSets, PodDisruptionBudgets and Services.

* On create the status is reset to what Go serializes for an empty status
  (`PrepareForCreate`): a client cannot create a workload that claims ready
  pods; only `/status` writes it afterwards.
* Validation follows k8s.io/kubernetes/pkg/apis/apps/validation,
  policy/validation and core/validation for the fields clients get wrong:
  selectors that must match the template's labels and cannot change,
  `restartPolicy: Always`, non-negative counts, rolling-update bounds,
  PDB budgets, Service ports, types and immutable cluster IPs.
* Services get their cluster IP (from 10.96.0.0/12, kube-apiserver's default
  `--service-cluster-ip-range`) and node ports (30000-32767) allocated by the
  server, as kube's Service REST storage does, with the same errors for an
  address or port that is taken or out of range.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Callable
from typing import Any, TypeGuard

from .errors import Cause, field_cause
from .objects import Obj
from .selectors import label_selector_from_dict
from .storage import Store

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORT_RANGE = range(30000, 32768)
_PERCENT = re.compile(r"^[0-9]+%$")


def _d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _ints(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _go_map(labels: Obj) -> str:
    """Go's %#v of a map[string]string, as validation messages print template labels."""
    return "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items())) + "}"


# --------------------------------------------------------------------------- status on create


def _empty_status(status: Obj) -> Callable[[Obj, Obj | None], None]:
    def prepare(obj: Obj, old: Obj | None) -> None:
        if old is None:
            obj["status"] = dict(status)

    return prepare


#: PrepareForCreate of each registry: Go's zero status, with the fields that are not `omitempty`.
PREPARE_CREATE: dict[str, Callable[[Obj, Obj | None], None]] = {
    "apps/deployments": _empty_status({}),
    "apps/replicasets": _empty_status({"replicas": 0}),
    "apps/daemonsets": _empty_status({"currentNumberScheduled": 0, "numberMisscheduled": 0,
                                      "desiredNumberScheduled": 0, "numberReady": 0}),
    "policy/poddisruptionbudgets": _empty_status({"disruptionsAllowed": 0, "currentHealthy": 0,
                                                  "desiredHealthy": 0, "expectedPods": 0}),
}


# --------------------------------------------------------------------------- workloads


def _non_negative(spec: Obj, field: str, causes: list[Cause]) -> None:
    value = spec.get(field)
    if _ints(value) and value < 0:
        causes.append(field_cause("FieldValueInvalid", f"spec.{field}",
                                  f"Invalid value: {value}: must be greater than or equal to 0"))


def _int_or_percent(value: Any, path: str, causes: list[Cause], *, max_percent: bool = True) -> int | None:
    """ValidatePositiveIntOrPercent (+ IsNotMoreThan100Percent): the integer, or the percentage, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        if not _PERCENT.match(value):
            causes.append(field_cause("FieldValueInvalid", path, f'Invalid value: "{value}": a valid percent string '
                                      "must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', "
                                      "regex used for validation is '[0-9]+%')"))
            return None
        percent = int(value[:-1])
        if max_percent and percent > 100:
            causes.append(field_cause("FieldValueInvalid", path,
                                      f'Invalid value: "{value}": must not be greater than 100%'))
        return percent
    if _ints(value):
        if value < 0:
            causes.append(field_cause("FieldValueInvalid", path,
                                      f"Invalid value: {value}: must be greater than or equal to 0"))
        return int(value)
    return None  # another type: the schema's error


def _validate_selector(spec: Obj, causes: list[Cause], *, template: bool) -> None:
    """The selector is required, not empty, valid, and (with a template) matches the template's labels."""
    selector = spec.get("selector")
    if selector is None:
        causes.append(field_cause("FieldValueRequired", "spec.selector", "Required value"))
        return
    if not isinstance(selector, dict):
        return
    try:
        parsed = label_selector_from_dict(selector)
    except ValueError as exc:
        causes.append(field_cause("FieldValueInvalid", "spec.selector", f"Invalid value: {exc}"))
        return
    if parsed.empty:
        causes.append(field_cause("FieldValueInvalid", "spec.selector",
                                  "Invalid value: empty selector is invalid for this resource"))
        return
    if not template:
        return
    labels = _d(_d(_d(spec.get("template")).get("metadata")).get("labels"))
    if not parsed.matches({str(k): str(v) for k, v in labels.items()}):
        causes.append(field_cause("FieldValueInvalid", "spec.template.metadata.labels",
                                  f"Invalid value: {_go_map(labels)}: `selector` does not match template `labels`"))


def _validate_template(spec: Obj, causes: list[Cause]) -> None:
    pod_spec = _d(_d(spec.get("template")).get("spec"))
    if not pod_spec.get("containers"):
        causes.append(field_cause("FieldValueRequired", "spec.template.spec.containers", "Required value"))
    policy = pod_spec.get("restartPolicy")
    if isinstance(policy, str) and policy != "Always":
        causes.append(field_cause("FieldValueNotSupported", "spec.template.spec.restartPolicy",
                                  f'Unsupported value: "{policy}": supported values: "Always"'))


def _validate_rolling(strategy: Obj, path: str, causes: list[Cause], rolling_type: str) -> None:
    rolling = strategy.get("rollingUpdate")
    if strategy.get("type") != rolling_type:
        if rolling is not None:
            causes.append(field_cause("FieldValueForbidden", f"{path}.rollingUpdate",
                                      f"Forbidden: may not be specified when strategy `type` is "
                                      f"'{strategy.get('type')}'"))
        return
    rolling = _d(rolling)
    unavailable = _int_or_percent(rolling.get("maxUnavailable"), f"{path}.rollingUpdate.maxUnavailable", causes)
    surge = _int_or_percent(rolling.get("maxSurge"), f"{path}.rollingUpdate.maxSurge", causes, max_percent=False)
    if unavailable == 0 and surge == 0:
        raw = rolling.get("maxUnavailable")
        shown = f'"{raw}"' if isinstance(raw, str) else str(raw)
        causes.append(field_cause("FieldValueInvalid", f"{path}.rollingUpdate.maxUnavailable",
                                  f"Invalid value: {shown}: may not be 0 when `maxSurge` is 0"))


def validate_deployment(obj: Obj) -> list[Cause]:
    """apps ValidateDeploymentSpec, for the fields clients get wrong."""
    causes: list[Cause] = []
    spec = _d(obj.get("spec"))
    for field in ("replicas", "minReadySeconds", "revisionHistoryLimit"):
        _non_negative(spec, field, causes)
    _validate_selector(spec, causes, template=True)
    _validate_template(spec, causes)
    _validate_rolling(_d(spec.get("strategy")), "spec.strategy", causes, "RollingUpdate")
    deadline, min_ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
    if _ints(deadline) and _ints(min_ready) and deadline <= min_ready:
        causes.append(field_cause("FieldValueInvalid", "spec.progressDeadlineSeconds",
                                  f"Invalid value: {deadline}: must be greater than minReadySeconds"))
    return causes


def validate_replicaset(obj: Obj) -> list[Cause]:
    """apps ValidateReplicaSetSpec."""
    causes: list[Cause] = []
    spec = _d(obj.get("spec"))
    for field in ("replicas", "minReadySeconds"):
        _non_negative(spec, field, causes)
    _validate_selector(spec, causes, template=True)
    if spec.get("template") is not None:
        _validate_template(spec, causes)
    return causes


def validate_daemonset(obj: Obj) -> list[Cause]:
    """apps ValidateDaemonSetSpec."""
    causes: list[Cause] = []
    spec = _d(obj.get("spec"))
    for field in ("minReadySeconds", "revisionHistoryLimit"):
        _non_negative(spec, field, causes)
    _validate_selector(spec, causes, template=True)
    _validate_template(spec, causes)
    _validate_rolling(_d(spec.get("updateStrategy")), "spec.updateStrategy", causes, "RollingUpdate")
    return causes


def validate_pdb(obj: Obj) -> list[Cause]:
    """policy ValidatePodDisruptionBudgetSpec."""
    causes: list[Cause] = []
    spec = _d(obj.get("spec"))
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        causes.append(field_cause("FieldValueInvalid", "spec",
                                  "Invalid value: minAvailable and maxUnavailable cannot be both set"))
    _int_or_percent(spec.get("minAvailable"), "spec.minAvailable", causes)
    _int_or_percent(spec.get("maxUnavailable"), "spec.maxUnavailable", causes)
    selector = spec.get("selector")
    if isinstance(selector, dict):
        try:
            label_selector_from_dict(selector)
        except ValueError as exc:
            causes.append(field_cause("FieldValueInvalid", "spec.selector", f"Invalid value: {exc}"))
    return causes


def validate_selector_immutable(obj: Obj, old: Obj) -> list[Cause]:
    """apps/v1 workloads: spec.selector cannot change after creation."""
    new_sel, old_sel = _d(obj.get("spec")).get("selector"), _d(old.get("spec")).get("selector")
    if new_sel != old_sel:
        return [field_cause("FieldValueInvalid", "spec.selector",
                            f"Invalid value: {new_sel}: field is immutable")]
    return []


# --------------------------------------------------------------------------- services

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def validate_service(obj: Obj) -> list[Cause]:
    """core ValidateService: ports, names, node ports, ExternalName, cluster IP syntax."""
    causes: list[Cause] = []
    spec = _d(obj.get("spec"))
    kind = spec.get("type")
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    headless = spec.get("clusterIP") == "None"
    if kind == "ExternalName":
        if not spec.get("externalName"):
            causes.append(field_cause("FieldValueRequired", "spec.externalName", "Required value"))
        if spec.get("clusterIP") not in (None, ""):
            causes.append(field_cause("FieldValueForbidden", "spec.clusterIP",
                                      "Forbidden: may not be set for ExternalName services"))
    elif not ports and not headless:
        causes.append(field_cause("FieldValueRequired", "spec.ports", "Required value"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        name = port.get("name")
        if len(ports) > 1 and not name:
            causes.append(field_cause("FieldValueRequired", f"{path}.name", "Required value"))
        if isinstance(name, str) and name:
            if name in names:
                causes.append(field_cause("FieldValueDuplicate", f"{path}.name", f'Duplicate value: "{name}"'))
            names.add(name)
            if not _DNS_LABEL.match(name) or len(name) > 63:
                causes.append(field_cause("FieldValueInvalid", f"{path}.name", f'Invalid value: "{name}": a lowercase '
                                          "RFC 1123 label must consist of lower case alphanumeric characters or "
                                          "'-', and must start and end with an alphanumeric character"))
        number = port.get("port")
        if _ints(number) and not 1 <= number <= 65535:
            causes.append(field_cause("FieldValueInvalid", f"{path}.port",
                                      f"Invalid value: {number}: must be between 1 and 65535, inclusive"))
        node_port = port.get("nodePort")
        if _ints(node_port) and node_port != 0:
            if kind not in ("NodePort", "LoadBalancer"):
                causes.append(field_cause("FieldValueForbidden", f"{path}.nodePort",
                                          f"Forbidden: may not be used when `type` is '{kind}'"))
            elif node_port not in NODE_PORT_RANGE:
                causes.append(field_cause("FieldValueInvalid", f"{path}.nodePort",
                                          f"Invalid value: {node_port}: provided port is not in the valid range. "
                                          "The range of valid ports is 30000-32767"))
    cluster_ip = spec.get("clusterIP")
    if isinstance(cluster_ip, str) and cluster_ip not in ("", "None"):
        try:
            ipaddress.ip_address(cluster_ip)
        except ValueError:
            causes.append(field_cause("FieldValueInvalid", "spec.clusterIPs[0]",
                                      f'Invalid value: "{cluster_ip}": must be a valid IP address, (e.g. 10.9.8.7 '
                                      "or 2001:db8::ffff)"))
    return causes


def _go_strings(values: Any) -> str:
    items = values if isinstance(values, list) else []
    return "[]string{" + ", ".join(f'"{v}"' for v in items) + "}"


def prepare_service(obj: Obj, old: Obj | None) -> None:
    """PrepareForCreate/Update: status starts empty; an update keeps the allocated IPs and node ports a client
    left out (kube's patchAllocatedValues), so `kubectl replace` of a manifest without them works."""
    if old is None:
        obj["status"] = {"loadBalancer": {}}
        return
    spec, old_spec = obj.get("spec"), _d(old.get("spec"))
    if not isinstance(spec, dict):
        return
    if spec.get("type") != "ExternalName" and old_spec.get("type") != "ExternalName":
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if not spec.get("clusterIPs") and old_spec.get("clusterIPs") and spec.get("clusterIP") == old_spec.get(
                "clusterIP"):
            spec["clusterIPs"] = list(old_spec["clusterIPs"])
        for key in ("ipFamilies", "ipFamilyPolicy"):
            if spec.get(key) is None and old_spec.get(key) is not None:
                spec[key] = old_spec[key]
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        old_ports = {(p.get("port"), p.get("protocol")): p.get("nodePort")
                     for p in old_spec.get("ports") or [] if isinstance(p, dict)}
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and not port.get("nodePort"):
                allocated = old_ports.get((port.get("port"), port.get("protocol") or "TCP"))
                if allocated:
                    port["nodePort"] = allocated


def validate_service_update(obj: Obj, old: Obj) -> list[Cause]:
    """The cluster IP may not change (except when the type changes from or to ExternalName)."""
    spec, old_spec = _d(obj.get("spec")), _d(old.get("spec"))
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    if old_spec.get("clusterIP") and spec.get("clusterIP") != old_spec.get("clusterIP"):
        return [field_cause("FieldValueInvalid", "spec.clusterIPs[0]",
                            f"Invalid value: {_go_strings(spec.get('clusterIPs') or [spec.get('clusterIP')])}: "
                            "may not change once set")]
    return []


class ServiceAllocator:
    """Allocates cluster IPs and node ports for Services from what the store holds (no separate bitmap:
    the Services themselves are the record, so a restart or a deleted Service frees nothing twice)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _taken(self, key: str) -> tuple[set[str], set[int]]:
        ips: set[str] = set()
        ports: set[int] = set()
        for other_key, svc in self.store.items("/services"):
            if other_key == key:
                continue
            spec = _d(svc.get("spec"))
            ips.update(ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if isinstance(ip, str))
            ports.update(p["nodePort"] for p in spec.get("ports") or []
                         if isinstance(p, dict) and _ints(p.get("nodePort")))
        return ips, ports

    def allocate(self, key: str, obj: Obj) -> list[Cause]:
        """Fill in `spec.clusterIP(s)`, IP families and node ports of a validated Service; causes if taken."""
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return []
        ips, ports = self._taken(key)
        causes: list[Cause] = []
        if spec.get("type") != "ExternalName":
            causes.extend(self._allocate_ip(spec, ips))
        if spec.get("type") == "NodePort" or (spec.get("type") == "LoadBalancer"
                                             and spec.get("allocateLoadBalancerNodePorts") is not False):
            causes.extend(self._allocate_node_ports(spec, ports))
        return causes

    def _allocate_ip(self, spec: Obj, taken: set[str]) -> list[Cause]:
        wanted = spec.get("clusterIP")
        if wanted == "None":
            spec["clusterIPs"] = ["None"]
        elif isinstance(wanted, str) and wanted:
            ip = ipaddress.ip_address(wanted)
            if ip not in SERVICE_CIDR or ip in (SERVICE_CIDR.network_address, SERVICE_CIDR.broadcast_address):
                return [field_cause("FieldValueInvalid", "spec.clusterIPs", f"Invalid value: {_go_strings([wanted])}: "
                                    f"failed to allocate IP {wanted}: the provided IP ({wanted}) is not in the valid "
                                    f"range. The range of valid IPs is {SERVICE_CIDR}")]
            if wanted in taken:
                return [field_cause("FieldValueInvalid", "spec.clusterIPs", f"Invalid value: {_go_strings([wanted])}: "
                                    f"failed to allocate IP {wanted}: provided IP is already allocated")]
            spec["clusterIPs"] = [wanted]
        else:
            # kube leaves the lower part of the range to statically chosen addresses (ServiceIPStaticSubrange).
            low = max(16, min(256, SERVICE_CIDR.num_addresses // 16))
            while True:
                candidate = str(SERVICE_CIDR.network_address + low + secrets.randbelow(
                    SERVICE_CIDR.num_addresses - low - 1))
                if candidate not in taken:
                    break
            spec["clusterIP"] = candidate
            spec["clusterIPs"] = [candidate]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        return []

    def _allocate_node_ports(self, spec: Obj, taken: set[int]) -> list[Cause]:
        causes: list[Cause] = []
        used = set(taken)
        for i, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict):
                continue
            wanted = port.get("nodePort")
            if _ints(wanted) and wanted:
                if wanted in used:
                    causes.append(field_cause("FieldValueInvalid", f"spec.ports[{i}].nodePort",
                                              f"Invalid value: {wanted}: provided port is already allocated"))
                used.add(wanted)
                continue
            free = [p for p in NODE_PORT_RANGE if p not in used]
            if not free:
                causes.append(field_cause("FieldValueInvalid", f"spec.ports[{i}].nodePort",
                                          "Invalid value: 0: range is full"))
                continue
            port["nodePort"] = free[secrets.randbelow(len(free))]
            used.add(port["nodePort"])
        return causes


VALIDATE: dict[str, Callable[[Obj], list[Cause]]] = {
    "apps/deployments": validate_deployment,
    "apps/replicasets": validate_replicaset,
    "apps/daemonsets": validate_daemonset,
    "policy/poddisruptionbudgets": validate_pdb,
    "/services": validate_service,
}
VALIDATE_UPDATE: dict[str, Callable[[Obj, Obj], list[Cause]]] = {
    "apps/deployments": validate_selector_immutable,
    "apps/replicasets": validate_selector_immutable,
    "apps/daemonsets": validate_selector_immutable,
    "/services": validate_service_update,
}
