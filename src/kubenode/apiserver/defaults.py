"""Server-side defaults of the built-in kinds, and kube-apiserver's default mutating admission.

kube-apiserver fills in defaults when it decodes a request body (the
`SetDefaults_*` functions of k8s.io/kubernetes/pkg/apis/core/v1 and
apiextensions/v1), on every create, update and patch, so a stored object
always carries them; some fields are also written because Go serializes a
non-pointer struct even when it is empty (`resources: {}`, `divisor: "0"`).
Then the admission plugins enabled by default mutate new Pods:
ServiceAccount (`serviceAccountName: default`), DefaultTolerationSeconds (the
not-ready/unreachable NoExecute tolerations of 300 s, on create and update)
and Priority (`priority: 0`, `preemptionPolicy: PreemptLowerPriority`).

Everything here is a pure, idempotent function of the object (and, for
admission, whether it is being created), so `rest.ObjectAPI` calls it in its
write path for every verb. What we deliberately do not do (no kubelet, no
token volume, no PriorityClass objects) is listed in docs/builtins.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from .resources import Obj

DEFAULT_SERVICE_ACCOUNT = "default"
DEFAULT_SCHEDULER = "default-scheduler"
DEFAULT_TERMINATION_GRACE_PERIOD = 30
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
#: 0644, the default file mode of secret, configMap, downwardAPI and projected volumes.
DEFAULT_VOLUME_MODE = 0o644
SERVICE_ACCOUNT_TOKEN_EXPIRATION = 3600
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
DEFAULT_TOLERATION_SECONDS = 300
#: The priority classes every cluster has (scheduling.SystemPriorityClasses); others are PriorityClass objects.
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def _dicts(value: Any) -> Iterator[Obj]:
    """The dict items of a list (anything else yields nothing: validation reports it)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


def _sub(obj: Obj, key: str) -> Obj | None:
    value = obj.get(key)
    return value if isinstance(value, dict) else None


def _unset(obj: Obj, key: str) -> bool:
    """Go's "zero value" test: absent, null, "" or 0 (explicit zeros are defaulted too)."""
    value = obj.get(key)
    return value is None or value == "" or (value == 0 and not isinstance(value, bool))


def _default(obj: Obj, key: str, value: Any) -> None:
    if _unset(obj, key):
        obj[key] = value


# --------------------------------------------------------------------------- image references

# github.com/distribution/reference: [domain/]path[:tag][@digest]; path components are lower case.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*" \
          r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_IMAGE_RE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:"
    r"[0-9a-fA-F]{32,}))?$"
)


def image_tag(image: str) -> str:
    """The tag kubelet would pull (`latest` when neither tag nor digest is given); "" if there is none.

    An image that is not a valid reference has no tag (kube then defaults
    imagePullPolicy to IfNotPresent and leaves the error to the runtime).
    """
    m = _IMAGE_RE.match(image)
    if m is None:
        return ""
    tag, digest = m.group("tag"), m.group("digest")
    if not tag and not digest:
        return "latest"
    return tag or ""


def default_pull_policy(image: str) -> str:
    """SetDefaults_Container: Always for `:latest` (or no tag), IfNotPresent otherwise."""
    return "Always" if image_tag(image) == "latest" else "IfNotPresent"


# --------------------------------------------------------------------------- containers


def _default_http_get(action: Obj | None) -> None:
    if action is not None:
        _default(action, "path", "/")
        _default(action, "scheme", "HTTP")


def _default_probe(probe: Obj) -> None:
    _default(probe, "timeoutSeconds", 1)
    _default(probe, "periodSeconds", 10)
    _default(probe, "successThreshold", 1)
    _default(probe, "failureThreshold", 3)
    _default_http_get(_sub(probe, "httpGet"))


def _default_field_ref(holder: Obj) -> None:
    ref = _sub(holder, "fieldRef")
    if ref is not None:
        _default(ref, "apiVersion", "v1")
    res = _sub(holder, "resourceFieldRef")
    if res is not None and res.get("divisor") is None:
        res["divisor"] = "0"  # a resource.Quantity struct: Go writes its zero value


def default_container(container: Obj) -> None:
    """SetDefaults_Container, _ContainerPort, _Probe, _HTTPGetAction, _ObjectFieldSelector for one container."""
    image = container.get("image")
    if _unset(container, "imagePullPolicy"):
        container["imagePullPolicy"] = default_pull_policy(image if isinstance(image, str) else "")
    _default(container, "terminationMessagePath", TERMINATION_MESSAGE_PATH)
    _default(container, "terminationMessagePolicy", "File")
    if container.get("resources") is None:
        container["resources"] = {}
    for port in _dicts(container.get("ports")):
        _default(port, "protocol", "TCP")
    for name in _PROBES:
        probe = _sub(container, name)
        if probe is not None:
            _default_probe(probe)
    lifecycle = _sub(container, "lifecycle")
    if lifecycle is not None:
        for hook in ("postStart", "preStop"):
            handler = _sub(lifecycle, hook)
            if handler is not None:
                _default_http_get(_sub(handler, "httpGet"))
    for env in _dicts(container.get("env")):
        source = _sub(env, "valueFrom")
        if source is not None:
            _default_field_ref(source)


# --------------------------------------------------------------------------- volumes


def _default_downward_items(source: Obj) -> None:
    for item in _dicts(source.get("items")):
        _default_field_ref(item)


def default_volume(volume: Obj) -> None:
    """SetDefaults_Volume and the defaults of the volume sources: a volume with no source is an emptyDir."""
    if not any(v is not None for k, v in volume.items() if k != "name"):
        volume["emptyDir"] = {}
    for kind in ("secret", "configMap", "downwardAPI", "projected"):
        source = _sub(volume, kind)
        if source is not None and source.get("defaultMode") is None:
            source["defaultMode"] = DEFAULT_VOLUME_MODE
    downward = _sub(volume, "downwardAPI")
    if downward is not None:
        _default_downward_items(downward)
    projected = _sub(volume, "projected")
    if projected is not None:
        for source in _dicts(projected.get("sources")):
            token = _sub(source, "serviceAccountToken")
            if token is not None:
                _default(token, "expirationSeconds", SERVICE_ACCOUNT_TOKEN_EXPIRATION)
            api = _sub(source, "downwardAPI")
            if api is not None:
                _default_downward_items(api)
    host_path = _sub(volume, "hostPath")
    if host_path is not None and host_path.get("type") is None:
        host_path["type"] = ""
    iscsi = _sub(volume, "iscsi")
    if iscsi is not None:
        _default(iscsi, "iscsiInterface", "default")
    rbd = _sub(volume, "rbd")
    if rbd is not None:
        _default(rbd, "pool", "rbd")
        _default(rbd, "user", "admin")
        _default(rbd, "keyring", "/etc/ceph/keyring")
    ephemeral = _sub(volume, "ephemeral")
    template = _sub(ephemeral, "volumeClaimTemplate") if ephemeral is not None else None
    claim_spec = _sub(template, "spec") if template is not None else None
    if claim_spec is not None:
        _default(claim_spec, "volumeMode", "Filesystem")


# --------------------------------------------------------------------------- pods


def default_pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec with its containers and volumes, plus the v1 conversion of the deprecated
    `serviceAccount` alias: what every PodSpec gets, a Pod's or a workload template's."""
    _default(spec, "dnsPolicy", "ClusterFirst")
    _default(spec, "restartPolicy", "Always")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = DEFAULT_TERMINATION_GRACE_PERIOD
    _default(spec, "schedulerName", DEFAULT_SCHEDULER)
    for field in _CONTAINER_LISTS:
        for container in _dicts(spec.get(field)):
            default_container(container)
    for volume in _dicts(spec.get("volumes")):
        default_volume(volume)
    # v1 <-> internal conversion: serviceAccount is an alias; serviceAccountName wins; both are written.
    if _unset(spec, "serviceAccountName") and isinstance(spec.get("serviceAccount"), str) and spec["serviceAccount"]:
        spec["serviceAccountName"] = spec["serviceAccount"]
    if isinstance(spec.get("serviceAccountName"), str) and spec["serviceAccountName"]:
        spec["serviceAccount"] = spec["serviceAccountName"]


def default_pod(pod: Obj) -> None:
    """SetDefaults_Pod on top of the PodSpec defaults. Pods only, never templates (kube keeps these out of
    SetDefaults_PodSpec so they do not materialize in every workload): requests from limits,
    `enableServiceLinks`, and hostPort = containerPort for host-network pods. Idempotent; runs on every write."""
    spec = _sub(pod, "spec")
    if spec is None:
        return
    default_pod_spec(spec)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    host_network = spec.get("hostNetwork") is True
    for field in ("containers", "initContainers"):
        for container in _dicts(spec.get(field)):
            if host_network:
                _default_host_ports(container)
            _requests_from_limits(container)


def _default_host_ports(container: Obj) -> None:
    for port in _dicts(container.get("ports")):
        if _unset(port, "hostPort") and port.get("containerPort"):
            port["hostPort"] = port["containerPort"]


def _requests_from_limits(container: Obj) -> None:
    """SetDefaults_Pod: a resource with a limit and no request requests its limit."""
    resources = _sub(container, "resources")
    limits = _sub(resources, "limits") if resources is not None else None
    if resources is None or not limits:
        return
    requests = resources.get("requests")
    if not isinstance(requests, dict):
        requests = resources["requests"] = {}
    for name, value in limits.items():
        requests.setdefault(name, value)


def admit_pod(pod: Obj, *, creating: bool) -> None:
    """The default mutating admission plugins for Pods (not their subresources)."""
    spec = _sub(pod, "spec")
    if spec is None:
        return
    if creating:
        # ServiceAccount plugin: every pod runs as a ServiceAccount.
        if _unset(spec, "serviceAccountName"):
            spec["serviceAccountName"] = DEFAULT_SERVICE_ACCOUNT
            spec["serviceAccount"] = DEFAULT_SERVICE_ACCOUNT
        # Priority plugin: without a PriorityClass (none is served), the default priority is 0.
        class_name = spec.get("priorityClassName") or ""
        if isinstance(class_name, str) and (class_name in SYSTEM_PRIORITY_CLASSES or not class_name):
            if spec.get("priority") is None:
                spec["priority"] = SYSTEM_PRIORITY_CLASSES.get(class_name, 0)
            if spec.get("preemptionPolicy") is None:
                spec["preemptionPolicy"] = "PreemptLowerPriority"
    _add_default_tolerations(spec)


def _add_default_tolerations(spec: Obj) -> None:
    """DefaultTolerationSeconds: tolerate not-ready and unreachable nodes for 300 s unless already tolerated."""
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return  # validation reports it

    def tolerated(key: str) -> bool:
        return any(t.get("key") in (key, None, "") and t.get("effect") in ("NoExecute", None, "")
                   for t in _dicts(tolerations))

    added = [
        {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": DEFAULT_TOLERATION_SECONDS}
        for key in (NOT_READY_TAINT, UNREACHABLE_TAINT) if not tolerated(key)
    ]
    if added:
        spec["tolerations"] = [*tolerations, *added]


# --------------------------------------------------------------------------- quality of service

_QOS_RESOURCES = ("cpu", "memory")
_SUFFIXES: dict[str, Decimal] = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$")


def parse_quantity(value: Any) -> Decimal | None:
    """A resource.Quantity ("500m", "1Gi", 2, 0.5, "1e3") as a number; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    m = _QUANTITY_RE.match(value.strip())
    if m is None:
        return None
    try:
        number = Decimal(m.group(1))
        if m.group(2):
            return number.scaleb(int(m.group(2)[1:]))
        return number * _SUFFIXES[m.group(3) or ""]
    except ArithmeticError:  # e.g. an exponent beyond any real quantity
        return None


def pod_qos_class(pod: Obj) -> str:
    """GetPodQOS: Guaranteed, Burstable or BestEffort from the cpu/memory requests and limits of the
    containers and init containers (after requests were defaulted from limits)."""
    spec = _sub(pod, "spec") or {}
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for field in ("containers", "initContainers"):
        for container in _dicts(spec.get(field)):
            resources = _sub(container, "resources") or {}
            own_limits = _sub(resources, "limits") or {}
            for source, into in ((_sub(resources, "requests") or {}, requests), (own_limits, limits)):
                for name in _QOS_RESOURCES:
                    quantity = parse_quantity(source.get(name))
                    if quantity is not None and quantity > 0:
                        into[name] = into.get(name, Decimal(0)) + quantity
            if not all((q := parse_quantity(own_limits.get(name))) is not None and q > 0 for name in _QOS_RESOURCES):
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and all(requests.get(name) == limits.get(name) for name in _QOS_RESOURCES):
        return "Guaranteed"
    return "Burstable"


# --------------------------------------------------------------------------- other built-ins


def default_namespace(ns: Obj) -> None:
    """SetDefaults_NamespaceStatus: a namespace is Active unless said otherwise."""
    status = ns.get("status")
    if status is None:
        status = ns["status"] = {}
    if isinstance(status, dict):
        _default(status, "phase", "Active")


def default_node(node: Obj) -> None:
    """SetDefaults_NodeStatus: allocatable defaults to capacity."""
    status = _sub(node, "status")
    if status is not None and status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])


def default_secret(secret: Obj) -> None:
    """SetDefaults_Secret: type Opaque."""
    _default(secret, "type", "Opaque")


def default_crd(crd: Obj) -> None:
    """apiextensions v1 SetDefaults_CustomResourceDefinitionSpec: conversion None; webhook service port 443."""
    spec = _sub(crd, "spec")
    if spec is None:
        return
    if spec.get("conversion") is None:
        spec["conversion"] = {"strategy": "None"}
    conversion = _sub(spec, "conversion")
    webhook = _sub(conversion, "webhook") if conversion is not None else None
    client_config = _sub(webhook, "clientConfig") if webhook is not None else None
    service = _sub(client_config, "service") if client_config is not None else None
    if service is not None:
        _default(service, "port", 443)


def _default_template(workload: Obj) -> None:
    """A workload's pod template gets the PodSpec defaults (not a Pod's own, see `default_pod`)."""
    spec = _sub(workload, "spec")
    template = _sub(spec, "template") if spec is not None else None
    pod_spec = _sub(template, "spec") if template is not None else None
    if pod_spec is not None:
        default_pod_spec(pod_spec)


def _default_rolling_update(strategy: Obj, rolling_type: str, max_unavailable: Any, max_surge: Any) -> None:
    _default(strategy, "type", rolling_type)
    if strategy.get("type") != rolling_type:
        return
    rolling = strategy.get("rollingUpdate")
    if rolling is None:
        rolling = strategy["rollingUpdate"] = {}
    if isinstance(rolling, dict):
        for key, value in (("maxUnavailable", max_unavailable), ("maxSurge", max_surge)):
            if rolling.get(key) is None:
                rolling[key] = value


def _workload_spec(workload: Obj) -> Obj | None:
    spec = workload.get("spec")
    if spec is None:
        spec = workload["spec"] = {}
    return spec if isinstance(spec, dict) else None


def default_deployment(deployment: Obj) -> None:
    """apps/v1 SetDefaults_Deployment: 1 replica, RollingUpdate 25%/25%, 10 revisions, 600 s progress deadline."""
    spec = _workload_spec(deployment)
    if spec is None:
        return
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = spec.get("strategy")
    if strategy is None:
        strategy = spec["strategy"] = {}
    if isinstance(strategy, dict):
        _default_rolling_update(strategy, "RollingUpdate", "25%", "25%")
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    _default_template(deployment)


def default_replicaset(replicaset: Obj) -> None:
    """apps/v1 SetDefaults_ReplicaSet: 1 replica."""
    spec = _workload_spec(replicaset)
    if spec is None:
        return
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _default_template(replicaset)


def default_daemonset(daemonset: Obj) -> None:
    """apps/v1 SetDefaults_DaemonSet: RollingUpdate with maxUnavailable 1 and maxSurge 0; 10 revisions."""
    spec = _workload_spec(daemonset)
    if spec is None:
        return
    strategy = spec.get("updateStrategy")
    if strategy is None:
        strategy = spec["updateStrategy"] = {}
    if isinstance(strategy, dict):
        _default_rolling_update(strategy, "RollingUpdate", 1, 0)
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    _default_template(daemonset)


#: v1.DefaultClientIPServiceAffinitySeconds (three hours).
CLIENT_IP_AFFINITY_SECONDS = 10800


def default_service(service: Obj) -> None:
    """core/v1 SetDefaults_Service: type ClusterIP, sessionAffinity None, ports TCP with targetPort = port,
    traffic policies Cluster, and node ports allocated for load balancers."""
    spec = _workload_spec(service)
    if spec is None:
        return
    _default(spec, "sessionAffinity", "None")
    if spec.get("sessionAffinity") == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec.get("sessionAffinity") == "ClientIP":
        config = spec.get("sessionAffinityConfig")
        client_ip = _sub(config, "clientIP") if isinstance(config, dict) else None
        if client_ip is None or client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": CLIENT_IP_AFFINITY_SECONDS}}
    _default(spec, "type", "ClusterIP")
    for port in _dicts(spec.get("ports")):
        _default(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, "") and isinstance(port.get("port"), int):
            port["targetPort"] = port["port"]
    kind = spec.get("type")
    externally_accessible = kind in ("LoadBalancer", "NodePort") or (kind == "ClusterIP" and spec.get("externalIPs"))
    if externally_accessible:
        _default(spec, "externalTrafficPolicy", "Cluster")
    if spec.get("internalTrafficPolicy") is None and kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec["internalTrafficPolicy"] = "Cluster"
    if kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True


#: SetDefaults by `group/plural`; kinds without any (configmaps, events, leases, serviceaccounts,
#: poddisruptionbudgets) are absent.
DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    "/pods": default_pod,
    "/namespaces": default_namespace,
    "/nodes": default_node,
    "/secrets": default_secret,
    "/services": default_service,
    "apps/deployments": default_deployment,
    "apps/replicasets": default_replicaset,
    "apps/daemonsets": default_daemonset,
    "apiextensions.k8s.io/customresourcedefinitions": default_crd,
}


def apply(resource: str, obj: Obj, old: Obj | None) -> None:
    """Default `obj` (a write of `resource`, "group/plural"), then run the default admission mutations.

    `old` is the stored object for an update, None for a create.
    """
    defaulter = DEFAULTERS.get(resource)
    if defaulter is not None:
        defaulter(obj)
    if resource == "/pods":
        admit_pod(obj, creating=old is None)
