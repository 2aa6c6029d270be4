"""Table columns of the built-in resources, as kube-apiserver serves them.

Each tuple mirrors `kubernetes/pkg/printers/internalversion/printers.go` (the
server-side printers, which always generate the wide form: kubectl itself hides
priority-1 columns unless `-o wide`). The Name column is not part of these
tuples: the table renderer puts it first. The exception is `EVENT_COLUMNS`,
where kube shows Name as a trailing wide-only column; a column with
`format="name"` tells the renderer not to prepend its own.

Cells work on raw dicts (a LIST renders thousands of rows) and never raise on
partial objects: a missing field renders like Go's zero value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubenode.apiserver.resources import Obj, PrinterColumn
from kubenode.apiserver.selectors import label_selector_from_dict
from kubenode.apiserver.tables import (
    CREATION_TIMESTAMP_DESCRIPTION,
    NAME_DESCRIPTION,
    human_duration,
    parse_timestamp,
)

Cell = Callable[[Obj, float], Any]

_NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
_NODE_ROLE_LABEL = "kubernetes.io/role"
_ZERO_TIME = "0001-01-01T00:00:00Z"


def _d(obj: Any, key: str) -> dict[str, Any]:
    """`obj[key]` when it is a dict, else {} (tolerates null and garbage)."""
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, dict) else {}


def _l(obj: Any, key: str) -> list[Any]:
    """`obj[key]` when it is a list, else []."""
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, list) else []


def _s(obj: Any, key: str) -> str:
    """`obj[key]` when it is a string, else "" (Go's zero value)."""
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, str) else ""


def since(timestamp: Any, now: float) -> str:
    """kube's translateTimestampSince: the human age of an RFC3339 timestamp, "<unknown>" if unset."""
    if not isinstance(timestamp, str) or not timestamp or timestamp == _ZERO_TIME:
        return "<unknown>"
    try:
        return human_duration(now - parse_timestamp(timestamp))
    except ValueError:
        return "<unknown>"


def age_cell(obj: Obj, now: float) -> str:
    """The Age cell: time since metadata.creationTimestamp."""
    return since(_d(obj, "metadata").get("creationTimestamp"), now)


def _age_column() -> PrinterColumn:
    return PrinterColumn(name="Age", description=CREATION_TIMESTAMP_DESCRIPTION, cell=age_cell)


# --- namespaces --------------------------------------------------------------------------------

NAMESPACE_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(
        name="Status", description="The status of the namespace",
        cell=lambda o, _now: _s(_d(o, "status"), "phase"),
    ),
    _age_column(),
)


# --- nodes -------------------------------------------------------------------------------------

def node_status(obj: Obj, _now: float = 0.0) -> str:
    """"Ready", "NotReady" (Ready False/Unknown) or "Unknown" (no Ready condition); ",SchedulingDisabled"."""
    status = "Unknown"
    for cond in _l(_d(obj, "status"), "conditions"):
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            # printNode keeps the last condition of a type (it builds a map).
            status = "Ready" if cond.get("status") == "True" else "NotReady"
    if _d(obj, "spec").get("unschedulable") is True:
        status += ",SchedulingDisabled"
    return status


def node_roles(obj: Obj, _now: float = 0.0) -> str:
    """Sorted roles from `node-role.kubernetes.io/<role>` labels and `kubernetes.io/role`, or "<none>"."""
    roles: set[str] = set()
    for key, value in _d(_d(obj, "metadata"), "labels").items():
        if key.startswith(_NODE_ROLE_PREFIX):
            role = key[len(_NODE_ROLE_PREFIX):]
            if role:
                roles.add(role)
        elif key == _NODE_ROLE_LABEL and value:
            roles.add(value)
    return ",".join(sorted(roles)) if roles else "<none>"


def _node_address(kind: str) -> Cell:
    def cell(obj: Obj, _now: float) -> str:
        for addr in _l(_d(obj, "status"), "addresses"):
            if isinstance(addr, dict) and addr.get("type") == kind:
                return _s(addr, "address")
        return "<none>"
    return cell


def _node_info(field: str, missing: str) -> Cell:
    def cell(obj: Obj, _now: float) -> str:
        return _s(_d(_d(obj, "status"), "nodeInfo"), field) or missing
    return cell


_NODE_ADDRESSES_DESCRIPTION = (
    "List of addresses reachable to the node. Queried from cloud provider, if available. More info: "
    "https://kubernetes.io/docs/reference/node/node-status/#addresses"
)

NODE_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(name="Status", description="The status of the node", cell=node_status),
    PrinterColumn(name="Roles", description="The roles of the node", cell=node_roles),
    _age_column(),
    PrinterColumn(
        name="Version", description="Kubelet Version reported by the node.",
        cell=_node_info("kubeletVersion", ""),
    ),
    PrinterColumn(
        name="Internal-IP", priority=1, description=_NODE_ADDRESSES_DESCRIPTION,
        cell=_node_address("InternalIP"),
    ),
    PrinterColumn(
        name="External-IP", priority=1, description=_NODE_ADDRESSES_DESCRIPTION,
        cell=_node_address("ExternalIP"),
    ),
    PrinterColumn(
        name="OS-Image", priority=1,
        description="OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        cell=_node_info("osImage", "<unknown>"),
    ),
    PrinterColumn(
        name="Kernel-Version", priority=1,
        description="Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        cell=_node_info("kernelVersion", "<unknown>"),
    ),
    PrinterColumn(
        name="Container-Runtime", priority=1,
        description="ContainerRuntime Version reported by the node through runtime remote API "
                    "(e.g. containerd://1.4.2).",
        cell=_node_info("containerRuntimeVersion", "<unknown>"),
    ),
)


# --- pods --------------------------------------------------------------------------------------

def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _terminated_at(cs: dict[str, Any]) -> float:
    """When the previous run of a container ended (0 when it never restarted)."""
    last = cs.get("lastState")
    if not last or not isinstance(last, dict):
        return 0.0
    finished = _d(last, "terminated").get("finishedAt")
    if isinstance(finished, str) and finished:
        try:
            return parse_timestamp(finished)
        except ValueError:
            return 0.0
    return 0.0


# The Ready, Status and Restarts cells of one row share one computation: remember the last one.
_last_pod: tuple[Any, float, tuple[str, str, str]] = (None, 0.0, ("", "", ""))


def _pod_cached(obj: Obj, now: float) -> tuple[str, str, str]:
    global _last_pod
    last = _last_pod  # one read: the tuple is replaced atomically, never mutated
    if last[0] is obj and last[1] == now:
        return last[2]
    result = pod_summary(obj, now)
    _last_pod = (obj, now, result)
    return result


def pod_summary(obj: Obj, now: float) -> tuple[str, str, str]:
    """(ready "n/m", status reason, restarts) of a pod, following kube's printPod (1.32, with sidecars)."""
    spec = _d(obj, "spec")
    status = _d(obj, "status")
    phase = _s(status, "phase")
    reason = _s(status, "reason") or phase
    # One pass over the conditions for the three facts printPod looks at.
    initialized = pod_ready = False
    for cond in _l(status, "conditions"):
        if not isinstance(cond, dict):
            continue
        ctype = cond.get("type")
        if ctype == "PodScheduled":
            if cond.get("reason") == "SchedulingGated":
                reason = "SchedulingGated"
        elif ctype == "Initialized":
            initialized = cond.get("status") == "True"
        elif ctype == "Ready":
            pod_ready = pod_ready or cond.get("status") == "True"

    total = len(_l(spec, "containers"))
    ready = 0
    restarts = 0
    last_restart = 0.0
    sidecar_restarts = 0
    last_sidecar_restart = 0.0

    # Init containers with restartPolicy Always are sidecars: they count as containers.
    sidecars: set[str] = set()
    init_specs = _l(spec, "initContainers")
    for c in init_specs:  # usually empty
        if isinstance(c, dict) and c.get("restartPolicy") == "Always":
            sidecars.add(_s(c, "name"))
            total += 1

    initializing = False
    for i, cs in enumerate(_l(status, "initContainerStatuses")):
        if not isinstance(cs, dict):
            continue
        count = _int(cs.get("restartCount"))
        restarts += count
        ended = _terminated_at(cs)
        last_restart = max(last_restart, ended)
        is_sidecar = _s(cs, "name") in sidecars
        if is_sidecar:
            sidecar_restarts += count
            last_sidecar_restart = max(last_sidecar_restart, ended)
        state = _d(cs, "state")
        terminated = state.get("terminated")
        waiting = state.get("waiting")
        if isinstance(terminated, dict) and _int(terminated.get("exitCode")) == 0:
            continue
        if is_sidecar and cs.get("started") is True:
            if cs.get("ready") is True:
                ready += 1
            continue
        if isinstance(terminated, dict):
            if _s(terminated, "reason"):
                reason = "Init:" + _s(terminated, "reason")
            elif _int(terminated.get("signal")):
                reason = f"Init:Signal:{_int(terminated.get('signal'))}"
            else:
                reason = f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
        elif isinstance(waiting, dict) and _s(waiting, "reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or initialized:
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for cs in reversed(_l(status, "containerStatuses")):
            if not isinstance(cs, dict):
                continue
            restarts += _int(cs.get("restartCount"))
            ended = _terminated_at(cs)
            if ended > last_restart:
                last_restart = ended
            state = _d(cs, "state")
            waiting = state.get("waiting")
            terminated = state.get("terminated")
            if isinstance(waiting, dict) and _s(waiting, "reason"):
                reason = waiting["reason"]
            elif isinstance(terminated, dict) and _s(terminated, "reason"):
                reason = terminated["reason"]
            elif isinstance(terminated, dict):
                sig = _int(terminated.get("signal"))
                reason = f"Signal:{sig}" if sig else f"ExitCode:{_int(terminated.get('exitCode'))}"
            elif cs.get("ready") is True and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        # A container still running after another completed: the pod is not "Completed".
        if reason == "Completed" and has_running:
            reason = "Running" if pod_ready else "NotReady"

    if _d(obj, "metadata").get("deletionTimestamp"):
        if _s(status, "reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_str = str(restarts)
    if last_restart:
        restarts_str = f"{restarts} ({human_duration(now - last_restart)} ago)"
    return f"{ready}/{total}", reason, restarts_str


def _pod_ip(obj: Obj, _now: float) -> str:
    ips = _l(_d(obj, "status"), "podIPs")
    ip = _s(ips[0], "ip") if ips else ""
    return ip or "<none>"


def _pod_readiness_gates(obj: Obj, _now: float) -> str:
    gates = _l(_d(obj, "spec"), "readinessGates")
    if not gates:
        return "<none>"
    conds: dict[str, Any] = {}
    for c in _l(_d(obj, "status"), "conditions"):
        if isinstance(c, dict):
            conds.setdefault(_s(c, "type"), c.get("status"))  # kube uses the first match
    true = sum(1 for g in gates if isinstance(g, dict) and conds.get(_s(g, "conditionType")) == "True")
    return f"{true}/{len(gates)}"


POD_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(
        name="Ready", description="The aggregate readiness state of this pod for accepting traffic.",
        cell=lambda o, now: _pod_cached(o, now)[0],
    ),
    PrinterColumn(
        name="Status", description="The aggregate status of the containers in this pod.",
        cell=lambda o, now: _pod_cached(o, now)[1],
    ),
    PrinterColumn(
        name="Restarts",
        description="The number of times the containers in this pod have been restarted and when the last "
                    "container in this pod has restarted.",
        cell=lambda o, now: _pod_cached(o, now)[2],
    ),
    _age_column(),
    PrinterColumn(
        name="IP", priority=1,
        description="podIP address allocated to the pod. Routable at least within the cluster. "
                    "Empty if not yet allocated.",
        cell=_pod_ip,
    ),
    PrinterColumn(
        name="Node", priority=1,
        description="NodeName indicates in which node this pod is scheduled.",
        cell=lambda o, _now: _s(_d(o, "spec"), "nodeName") or "<none>",
    ),
    PrinterColumn(
        name="Nominated Node", priority=1,
        description="nominatedNodeName is set only when this pod preempts other pods on the node, but it "
                    "cannot be scheduled right away as preemption victims receive their graceful "
                    "termination periods.",
        cell=lambda o, _now: _s(_d(o, "status"), "nominatedNodeName") or "<none>",
    ),
    PrinterColumn(
        name="Readiness Gates", priority=1,
        description="If specified, all readiness gates will be evaluated for pod readiness.",
        cell=_pod_readiness_gates,
    ),
)


# --- events ------------------------------------------------------------------------------------

def _event_first_seen(obj: Obj, now: float) -> str:
    first = obj.get("firstTimestamp")
    return since(first if first else obj.get("eventTime"), now)


def _event_last_seen(obj: Obj, now: float) -> str:
    series = obj.get("series")
    if isinstance(series, dict):
        return since(series.get("lastObservedTime"), now)
    last = obj.get("lastTimestamp")
    return since(last, now) if last else _event_first_seen(obj, now)


def _event_count(obj: Obj, _now: float) -> int:
    series = obj.get("series")
    if isinstance(series, dict):
        return _int(series.get("count"))
    return _int(obj.get("count")) or 1  # singleton events of the new API have no count


def _event_object(obj: Obj, _now: float) -> str:
    ref = _d(obj, "involvedObject")
    kind = _s(ref, "kind").lower()
    name = _s(ref, "name")
    return f"{kind}/{name}" if name else kind


def _event_source(obj: Obj, _now: float) -> str:
    source = _d(obj, "source")
    component = _s(source, "component") or _s(obj, "reportingComponent")
    host = _s(source, "host") or _s(obj, "reportingInstance")
    if not component:
        return "<unknown>"
    return f"{component}, {host}" if host else component


EVENT_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(
        name="Last Seen",
        description="The time at which the most recent occurrence of this event was recorded.",
        cell=_event_last_seen,
    ),
    PrinterColumn(
        name="Type",
        description="Type of this event (Normal, Warning), new types could be added in the future",
        cell=lambda o, _now: _s(o, "type"),
    ),
    PrinterColumn(
        name="Reason",
        description="This should be a short, machine understandable string that gives the reason for the "
                    "transition into the object's current status.",
        cell=lambda o, _now: _s(o, "reason"),
    ),
    PrinterColumn(name="Object", description="The object that this event is about.", cell=_event_object),
    PrinterColumn(
        name="Subobject", priority=1,
        description="If referring to a piece of an object instead of an entire object, this string should "
                    "contain a valid JSON/Go field access statement, such as "
                    "desiredState.manifest.containers[2].",
        cell=lambda o, _now: _s(_d(o, "involvedObject"), "fieldPath"),
    ),
    PrinterColumn(
        name="Source", priority=1,
        description="The component reporting this event. Should be a short machine understandable string.",
        cell=_event_source,
    ),
    PrinterColumn(
        name="Message", description="A human-readable description of the status of this operation.",
        cell=lambda o, _now: _s(o, "message").strip(),
    ),
    PrinterColumn(
        name="First Seen", priority=1,
        description="The time at which the event was first recorded. "
                    "(Time of server receipt is in TypeMeta.)",
        cell=_event_first_seen,
    ),
    PrinterColumn(
        name="Count", priority=1, description="The number of times this event has occurred.",
        cell=_event_count,
    ),
    # kube lists Name last and wide-only for events; format "name" stops the renderer adding its own.
    PrinterColumn(
        name="Name", format="name", priority=1, description=NAME_DESCRIPTION,
        cell=lambda o, _now: _s(_d(o, "metadata"), "name"),
    ),
)


# --- leases, secrets, configmaps ---------------------------------------------------------------

LEASE_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(
        name="Holder", description="holderIdentity contains the identity of the holder of a current lease.",
        cell=lambda o, _now: _s(_d(o, "spec"), "holderIdentity"),
    ),
    _age_column(),
)


def _secret_data_count(obj: Obj, _now: float) -> int:
    # stringData is merged into data on write; count both in case a caller renders an unmerged object.
    return len(_d(obj, "data").keys() | _d(obj, "stringData").keys())


SECRET_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(
        name="Type",
        description="Used to facilitate programmatic handling of secret data. More info: "
                    "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
        cell=lambda o, _now: _s(o, "type") or "Opaque",
    ),
    PrinterColumn(
        name="Data",
        description="Data contains the secret data. Each key must consist of alphanumeric characters, '-', "
                    "'_' or '.'.",
        cell=_secret_data_count,
    ),
    _age_column(),
)

CONFIGMAP_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(
        name="Data",
        description="Data contains the configuration data. Each key must consist of alphanumeric "
                    "characters, '-', '_' or '.'.",
        cell=lambda o, _now: len(_d(o, "data")) + len(_d(o, "binaryData")),
    ),
    _age_column(),
)


# --- customresourcedefinitions -----------------------------------------------------------------

def _created_at(obj: Obj, _now: float) -> str:
    """creationTimestamp as RFC3339 in UTC (the zero time when unset), as kube's default convertor."""
    ts = _d(obj, "metadata").get("creationTimestamp")
    if not isinstance(ts, str) or not ts:
        return _ZERO_TIME
    try:
        return datetime.fromtimestamp(int(parse_timestamp(ts)), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return ts


#: CRDs use the generic default table convertor: Name + "Created At" (type date, RFC3339 cell).
CRD_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(
        name="Created At", type="date", description=CREATION_TIMESTAMP_DESCRIPTION, cell=_created_at,
    ),
)


# --- workloads: deployments, replicasets, daemonsets, poddisruptionbudgets, services -------------

def format_labels(labels: Any) -> str:
    """labels.FormatLabels: "k=v,k2=v2" sorted by key, "<none>" when empty."""
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def format_label_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector: the selector's canonical string, "<none>" when it selects everything."""
    if not isinstance(selector, dict):
        return "<none>"
    try:
        text = str(label_selector_from_dict(selector))
    except ValueError:
        return "<error>"
    return text or "<none>"


def _template_containers(obj: Obj) -> list[Obj]:
    spec = _d(_d(_d(obj, "spec"), "template"), "spec")
    return [c for c in _l(spec, "containers") if isinstance(c, dict)]


def _container_names(obj: Obj, _now: float) -> str:
    return ",".join(_s(c, "name") for c in _template_containers(obj))


def _container_images(obj: Obj, _now: float) -> str:
    return ",".join(_s(c, "image") for c in _template_containers(obj))


def _status_int(field: str) -> Cell:
    def cell(obj: Obj, _now: float) -> int:
        return _int(_d(obj, "status").get(field))
    return cell


def _template_columns(selector_doc: str) -> tuple[PrinterColumn, ...]:
    """CONTAINERS, IMAGES and SELECTOR, the wide columns of every pod-template workload."""
    return (
        PrinterColumn(name="Containers", priority=1, description="Names of each container in the template.",
                      cell=_container_names),
        PrinterColumn(name="Images", priority=1, description="Images referenced by each container in the template.",
                      cell=_container_images),
        PrinterColumn(name="Selector", priority=1, description=selector_doc,
                      cell=lambda o, _now: format_label_selector(_d(o, "spec").get("selector"))),
    )


def _spec_replicas(obj: Obj) -> int:
    """spec.replicas, 1 when unset (the stored object is always defaulted)."""
    value = _d(obj, "spec").get("replicas")
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


DEPLOYMENT_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(name="Ready", description="Number of the pod with ready state",
                  cell=lambda o, _now: f"{_int(_d(o, 'status').get('readyReplicas'))}/{_spec_replicas(o)}"),
    PrinterColumn(name="Up-to-date", description="Total number of non-terminated pods targeted by this deployment "
                  "that have the desired template spec.", cell=_status_int("updatedReplicas")),
    PrinterColumn(name="Available", description="Total number of available pods (ready for at least "
                  "minReadySeconds) targeted by this deployment.", cell=_status_int("availableReplicas")),
    _age_column(),
    *_template_columns("Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the "
                       "ones affected by this deployment. It must match the pod template's labels."),
)

REPLICASET_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(name="Desired", type="integer", description="Replicas is the number of desired replicas.",
                  cell=lambda o, _now: _spec_replicas(o)),
    PrinterColumn(name="Current", type="integer", description="Replicas is the most recently observed number of "
                  "replicas.", cell=_status_int("replicas")),
    PrinterColumn(name="Ready", type="integer", description="readyReplicas is the number of pods targeted by this "
                  "ReplicaSet with a Ready Condition.", cell=_status_int("readyReplicas")),
    _age_column(),
    *_template_columns("Selector is a label query over pods that should match the replica count."),
)

DAEMONSET_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(name="Desired", type="integer", description="The total number of nodes that should be running "
                  "the daemon pod (including nodes correctly running the daemon pod).",
                  cell=_status_int("desiredNumberScheduled")),
    PrinterColumn(name="Current", type="integer", description="The number of nodes that are running at least 1 "
                  "daemon pod and are supposed to run the daemon pod.", cell=_status_int("currentNumberScheduled")),
    PrinterColumn(name="Ready", type="integer", description="numberReady is the number of nodes that should be "
                  "running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
                  cell=_status_int("numberReady")),
    PrinterColumn(name="Up-to-date", type="integer", description="The total number of nodes that are running "
                  "updated daemon pod", cell=_status_int("updatedNumberScheduled")),
    PrinterColumn(name="Available", type="integer", description="The number of nodes that should be running the "
                  "daemon pod and have one or more of the daemon pod running and available (ready for at least "
                  "spec.minReadySeconds)", cell=_status_int("numberAvailable")),
    PrinterColumn(name="Node Selector", description="NodeSelector is a selector which must be true for the pod to "
                  "fit on a node.",
                  cell=lambda o, _now: format_labels(_d(_d(_d(o, "spec"), "template"), "spec").get("nodeSelector"))),
    _age_column(),
    *_template_columns("A label query over pods that are managed by the daemon set."),
)


def _int_or_percent(value: Any) -> str:
    """intstr.String() of an optional field: "N/A" when unset."""
    if value is None:
        return "N/A"
    return str(value)


PDB_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(name="Min Available", description="The minimum number of pods that must be available.",
                  cell=lambda o, _now: _int_or_percent(_d(o, "spec").get("minAvailable"))),
    PrinterColumn(name="Max Unavailable", description="The maximum number of pods that may be unavailable.",
                  cell=lambda o, _now: _int_or_percent(_d(o, "spec").get("maxUnavailable"))),
    PrinterColumn(name="Allowed Disruptions", type="integer",
                  description="Calculated number of pods that may be disrupted at this time.",
                  cell=_status_int("disruptionsAllowed")),
    _age_column(),
)


def _load_balancer_ips(obj: Obj, wide: bool) -> str:
    """loadBalancerStatusStringer: ingress IPs or hostnames; cut to 13 characters + "..." unless wide."""
    ingress = [i for i in _l(_d(_d(obj, "status"), "loadBalancer"), "ingress") if isinstance(i, dict)]
    text = ",".join(_s(i, "ip") or _s(i, "hostname") for i in ingress if _s(i, "ip") or _s(i, "hostname"))
    if not wide and len(text) > 16:
        return text[:13] + "..."
    return text


def service_external_ip(obj: Obj, _now: float = 0.0, *, wide: bool = True) -> str:
    """getServiceExternalIP of kubectl's printers, by service type."""
    spec = _d(obj, "spec")
    external = [ip for ip in _l(spec, "externalIPs") if isinstance(ip, str)]
    kind = _s(spec, "type") or "ClusterIP"
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        lb = _load_balancer_ips(obj, wide)
        if external:
            return ",".join([*(lb.split(",") if lb else []), *external])
        return lb or "<pending>"
    if kind == "ExternalName":
        return _s(spec, "externalName")
    return "<unknown>"


def service_ports(obj: Obj, _now: float = 0.0) -> str:
    """makePortString: "80/TCP", "80:30080/TCP" with a node port; "<none>" without ports."""
    pieces = []
    for port in _l(_d(obj, "spec"), "ports"):
        if not isinstance(port, dict):
            continue
        protocol = _s(port, "protocol") or "TCP"
        node_port = _int(port.get("nodePort"))
        number = _int(port.get("port"))
        pieces.append(f"{number}:{node_port}/{protocol}" if node_port > 0 else f"{number}/{protocol}")
    return ",".join(pieces) or "<none>"


SERVICE_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(name="Type", description="type determines how the Service is exposed. Defaults to ClusterIP.",
                  cell=lambda o, _now: _s(_d(o, "spec"), "type")),
    PrinterColumn(name="Cluster-IP", description="clusterIP is the IP address of the service and is usually "
                  "assigned randomly.", cell=lambda o, _now: _s(_d(o, "spec"), "clusterIP") or "<none>"),
    PrinterColumn(name="External-IP", description="externalIPs is a list of IP addresses for which nodes in the "
                  "cluster will also accept traffic for this service.", cell=service_external_ip),
    PrinterColumn(name="Port(s)", description="The list of ports that are exposed by this service.",
                  cell=service_ports),
    _age_column(),
    PrinterColumn(name="Selector", priority=1, description="Route service traffic to pods with label keys and "
                  "values matching this selector.", cell=lambda o, _now: format_labels(_d(o, "spec").get("selector"))),
)
