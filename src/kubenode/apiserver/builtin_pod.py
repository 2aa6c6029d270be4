"""The schema of the core/v1 Pod, and of the pod spec every workload template embeds.

Shared by builtins.py (Pods) and builtin_workloads.py (Deployments,
ReplicaSets, DaemonSets: `spec.template.spec` is this PodSpec).
"""

from __future__ import annotations

from kubenode.apiserver.builtin_schema import (
    CONVENTIONS_URL as _CONV,
)
from kubenode.apiserver.builtin_schema import (
    META_HINTS as _FINALIZERS_META_HINTS,
)
from kubenode.apiserver.builtin_schema import (
    array as _list,
)
from kubenode.apiserver.builtin_schema import (
    boolean as _bool,
)
from kubenode.apiserver.builtin_schema import (
    conditions as _conditions,
)
from kubenode.apiserver.builtin_schema import (
    free_object as _free,
)
from kubenode.apiserver.builtin_schema import (
    int_or_string as _int_or_string,
)
from kubenode.apiserver.builtin_schema import (
    integer as _int,
)
from kubenode.apiserver.builtin_schema import (
    local_object_reference as _local_object_reference,
)
from kubenode.apiserver.builtin_schema import (
    obj as _obj,
)
from kubenode.apiserver.builtin_schema import (
    quantity as _quantity,
)
from kubenode.apiserver.builtin_schema import (
    quantity_map as _quantity_map,
)
from kubenode.apiserver.builtin_schema import (
    root as _root,
)
from kubenode.apiserver.builtin_schema import (
    string as _str,
)
from kubenode.apiserver.builtin_schema import (
    string_list as _str_list,
)
from kubenode.apiserver.builtin_schema import (
    string_map as _str_map,
)
from kubenode.apiserver.builtin_schema import (
    timestamp as _time,
)
from kubenode.apiserver.resources import Obj

# --------------------------------------------------------------------------- Pod

_ENV_VAR = _obj("EnvVar represents an environment variable present in a Container.", {
    "name": _str("Name of the environment variable."),
    "value": _str("Variable references $(VAR_NAME) are expanded using the previously defined "
                  "environment variables in the container and any service environment variables."),
    "valueFrom": _free("Source for the environment variable's value. Cannot be used if value is not "
                       "empty."),
}, required=("name",))

_CONTAINER_PORT = _obj("ContainerPort represents a network port in a single container.", {
    "containerPort": _int("Number of port to expose on the pod's IP address. This must be a valid port "
                          "number, 0 < x < 65536."),
    "hostIP": _str("What host IP to bind the external port to."),
    "hostPort": _int("Number of port to expose on the host."),
    "name": _str("If specified, this must be an IANA_SVC_NAME and unique within the pod."),
    "protocol": _str("Protocol for port. Must be UDP, TCP, or SCTP. Defaults to \"TCP\".",
                     enum=["SCTP", "TCP", "UDP"]),
}, required=("containerPort",))

_VOLUME_MOUNT = _obj("VolumeMount describes a mounting of a Volume within a container.", {
    "mountPath": _str("Path within the container at which the volume should be mounted. Must not "
                      "contain ':'."),
    "mountPropagation": _str("mountPropagation determines how mounts are propagated from the host to "
                             "container and the other way around."),
    "name": _str("This must match the Name of a Volume."),
    "readOnly": _bool("Mounted read-only if true, read-write otherwise (false or unspecified). "
                      "Defaults to false."),
    "recursiveReadOnly": _str("RecursiveReadOnly specifies whether read-only mounts should be handled "
                              "recursively."),
    "subPath": _str("Path within the volume from which the container's volume should be mounted. "
                    "Defaults to \"\" (volume's root)."),
    "subPathExpr": _str("Expanded path within the volume from which the container's volume should be "
                        "mounted."),
}, required=("name", "mountPath"))


def _probe(description: str) -> Obj:
    return _obj(description, {
        "exec": _obj("Exec specifies a command to execute in the container.", {
            "command": _str_list("Command is the command line to execute inside the container."),
        }),
        "httpGet": _obj("HTTPGet specifies an HTTP GET request to perform.", {
            "host": _str("Host name to connect to, defaults to the pod IP."),
            "httpHeaders": _list("Custom headers to set in the request. HTTP allows repeated headers.",
                                 _obj("HTTPHeader describes a custom header to be used in HTTP probes", {
                                     "name": _str("The header field name."),
                                     "value": _str("The header field value"),
                                 }, required=("name", "value"))),
            "path": _str("Path to access on the HTTP server."),
            "port": _int_or_string("Name or number of the port to access on the container."),
            "scheme": _str("Scheme to use for connecting to the host. Defaults to HTTP."),
        }, required=("port",)),
        "tcpSocket": _obj("TCPSocket specifies a connection to a TCP port.", {
            "host": _str("Optional: Host name to connect to, defaults to the pod IP."),
            "port": _int_or_string("Number or name of the port to access on the container."),
        }, required=("port",)),
        "grpc": _obj("GRPC specifies a GRPC HealthCheckRequest.", {
            "port": _int("Port number of the gRPC service."),
            "service": _str("Service is the name of the service to place in the gRPC HealthCheckRequest."),
        }, required=("port",)),
        "initialDelaySeconds": _int("Number of seconds after the container has started before liveness "
                                    "probes are initiated."),
        "periodSeconds": _int("How often (in seconds) to perform the probe. Default to 10 seconds."),
        "timeoutSeconds": _int("Number of seconds after which the probe times out. Defaults to 1 second."),
        "successThreshold": _int("Minimum consecutive successes for the probe to be considered "
                                 "successful after having failed. Defaults to 1."),
        "failureThreshold": _int("Minimum consecutive failures for the probe to be considered failed "
                                 "after having succeeded. Defaults to 3."),
        "terminationGracePeriodSeconds": _int("Optional duration in seconds the pod needs to terminate "
                                              "gracefully upon probe failure.", "int64"),
    })


def _container(description: str) -> Obj:
    return _obj(description, {
        "name": _str("Name of the container specified as a DNS_LABEL. Each container in a pod must have "
                     "a unique name (DNS_LABEL). Cannot be updated."),
        "image": _str("Container image name. More info: https://kubernetes.io/docs/concepts/containers/"
                      "images"),
        "imagePullPolicy": _str("Image pull policy. One of Always, Never, IfNotPresent.",
                                enum=["Always", "IfNotPresent", "Never"]),
        "command": _str_list("Entrypoint array. Not executed within a shell. The container image's "
                             "ENTRYPOINT is used if this is not provided."),
        "args": _str_list("Arguments to the entrypoint. The container image's CMD is used if this is "
                          "not provided."),
        "workingDir": _str("Container's working directory."),
        "ports": _list("List of ports to expose from the container.", _CONTAINER_PORT,
                       map_keys=("containerPort", "protocol")),
        "env": _list("List of environment variables to set in the container. Cannot be updated.",
                     _ENV_VAR, map_keys=("name",)),
        "envFrom": _list("List of sources to populate environment variables in the container.",
                         _free("EnvFromSource represents the source of a set of ConfigMaps or Secrets")),
        "resources": _obj("Compute Resources required by this container.", {
            "limits": _quantity_map("Limits describes the maximum amount of compute resources allowed."),
            "requests": _quantity_map("Requests describes the minimum amount of compute resources "
                                      "required."),
            "claims": _list("Claims lists the names of resources, defined in spec.resourceClaims, that "
                            "are used by this container.",
                            _obj("ResourceClaim references one entry in PodSpec.ResourceClaims.", {
                                "name": _str("Name must match the name of one entry in "
                                             "pod.spec.resourceClaims of the Pod where this field is used."),
                                "request": _str("Request is the name chosen for a request in the "
                                                "referenced claim."),
                            }, required=("name",)), map_keys=("name",)),
        }),
        "resizePolicy": _list("Resources resize policy for the container.",
                              _free("ContainerResizePolicy represents resource resize policy for the "
                                    "container.")),
        "restartPolicy": _str("RestartPolicy defines the restart behavior of individual containers in a "
                              "pod. Only \"Always\" is allowed, for init containers."),
        "volumeMounts": _list("Pod volumes to mount into the container's filesystem. Cannot be updated.",
                              _VOLUME_MOUNT, map_keys=("mountPath",)),
        "volumeDevices": _list("volumeDevices is the list of block devices to be used by the container.",
                               _obj("volumeDevice describes a mapping of a raw block device within a "
                                    "container.", {
                                        "devicePath": _str("devicePath is the path inside of the container "
                                                           "that the device will be mapped to."),
                                        "name": _str("name must match the name of a persistentVolumeClaim "
                                                     "in the pod"),
                                    }, required=("name", "devicePath")), map_keys=("devicePath",)),
        "livenessProbe": _probe("Periodic probe of container liveness. Container will be restarted if "
                                "the probe fails."),
        "readinessProbe": _probe("Periodic probe of container service readiness. Container will be "
                                 "removed from service endpoints if the probe fails."),
        "startupProbe": _probe("StartupProbe indicates that the Pod has successfully initialized."),
        "lifecycle": _free("Actions that the management system should take in response to container "
                           "lifecycle events."),
        "securityContext": _free("SecurityContext defines the security options the container should be "
                                 "run with."),
        "stdin": _bool("Whether this container should allocate a buffer for stdin in the container "
                       "runtime."),
        "stdinOnce": _bool("Whether the container runtime should close the stdin channel after it has "
                           "been opened by a single attach."),
        "tty": _bool("Whether this container should allocate a TTY for itself, also requires 'stdin' to "
                     "be true."),
        "terminationMessagePath": _str("Path at which the file to which the container's termination "
                                       "message will be written is mounted."),
        "terminationMessagePolicy": _str("Indicate how the termination message should be populated. "
                                         "File or FallbackToLogsOnError.",
                                         enum=["FallbackToLogsOnError", "File"]),
        "targetContainerName": _str("If set, the name of the container from PodSpec that this ephemeral "
                                    "container targets."),
    }, required=("name",))


_VOLUME = _obj(
    "Volume represents a named volume in a pod that may be accessed by any container in the pod. Volume "
    "sources not listed here (csi, nfs, projected, ...) are accepted as they are.",
    {
        "name": _str("name of the volume. Must be a DNS_LABEL and unique within the pod."),
        "emptyDir": _obj("emptyDir represents a temporary directory that shares a pod's lifetime.", {
            "medium": _str("medium represents what type of storage medium should back this directory."),
            "sizeLimit": _quantity("sizeLimit is the total amount of local storage required for this "
                                   "EmptyDir volume."),
        }),
        "hostPath": _obj("hostPath represents a pre-existing file or directory on the host machine.", {
            "path": _str("path of the directory on the host."),
            "type": _str("type for HostPath Volume. Defaults to \"\"."),
        }, required=("path",)),
        "configMap": _free("configMap represents a configMap that should populate this volume"),
        "secret": _free("secret represents a secret that should populate this volume."),
        "persistentVolumeClaim": _obj("persistentVolumeClaimVolumeSource represents a reference to a "
                                      "PersistentVolumeClaim in the same namespace.", {
                                          "claimName": _str("claimName is the name of a "
                                                            "PersistentVolumeClaim in the same namespace."),
                                          "readOnly": _bool("readOnly Will force the ReadOnly setting in "
                                                            "VolumeMounts. Default false."),
                                      }, required=("claimName",)),
        "projected": _free("projected items for all in one resources secrets, configmaps, and downward "
                           "API"),
        "downwardAPI": _free("downwardAPI represents downward API about the pod that should populate "
                             "this volume"),
    },
    required=("name",),
    preserve=True,
)

_TOLERATION = _obj(
    "The pod this Toleration is attached to tolerates any taint that matches the triple "
    "<key,value,effect> using the matching operator <operator>.",
    {
        "key": _str("Key is the taint key that the toleration applies to. Empty means match all taint "
                    "keys."),
        "operator": _str("Operator represents a key's relationship to the value. Valid operators are "
                         "Exists and Equal. Defaults to Equal.", enum=["Equal", "Exists"]),
        "value": _str("Value is the taint value the toleration matches to."),
        "effect": _str("Effect indicates the taint effect to match. Empty means match all taint effects.",
                       enum=["NoExecute", "NoSchedule", "PreferNoSchedule"]),
        "tolerationSeconds": _int("TolerationSeconds represents the period of time the toleration (which "
                                  "must be of effect NoExecute) tolerates the taint.", "int64"),
    },
)

_CONTAINER_STATUS = _obj("ContainerStatus contains details for the current status of this container.", {
    "name": _str("Name is a DNS_LABEL representing the unique name of the container."),
    "state": _free("State holds details about the container's current condition."),
    "lastState": _free("LastTerminationState holds the last termination state of the container."),
    "ready": _bool("Ready specifies whether the container is currently passing its readiness check."),
    "restartCount": _int("RestartCount holds the number of times the container has been restarted."),
    "image": _str("Image is the name of container image that the container is running."),
    "imageID": _str("ImageID is the image ID of the container's image."),
    "containerID": _str("ContainerID is the ID of the container in the format '<type>://<container_id>'."),
    "started": _bool("Started indicates whether the container has finished its postStart lifecycle hook "
                     "and passed its startup probe."),
}, required=("name", "ready", "restartCount", "image", "imageID"), preserve=True)

_TOPOLOGY_SPREAD = _obj(
    "TopologySpreadConstraint specifies how to spread matching pods among the given topology.",
    {
        "maxSkew": _int("MaxSkew describes the degree to which pods may be unevenly distributed."),
        "topologyKey": _str("TopologyKey is the key of node labels. Nodes that have a label with this key "
                            "and identical values are considered to be in the same topology."),
        "whenUnsatisfiable": _str("WhenUnsatisfiable indicates how to deal with a pod if it doesn't satisfy "
                                  "the spread constraint.", enum=["DoNotSchedule", "ScheduleAnyway"]),
        "labelSelector": _free("LabelSelector is used to find matching pods."),
        "minDomains": _int("MinDomains indicates a minimum number of eligible domains."),
        "matchLabelKeys": _str_list("MatchLabelKeys is a set of pod label keys to select the pods over which "
                                    "spreading will be calculated."),
        "nodeAffinityPolicy": _str("NodeAffinityPolicy indicates how we will treat Pod's "
                                   "nodeAffinity/nodeSelector when calculating pod topology spread skew."),
        "nodeTaintsPolicy": _str("NodeTaintsPolicy indicates how we will treat node taints when calculating "
                                 "pod topology spread skew."),
    },
    required=("maxSkew", "topologyKey", "whenUnsatisfiable"),
)

_POD_IP = _obj("PodIP represents a single IP address allocated to the pod.", {
    "ip": _str("IP is the IP address assigned to the pod"),
}, required=("ip",))

POD_SCHEMA = _root(
    "Pod is a collection of containers that can run on a host. This resource is created by clients and "
    "scheduled onto hosts.",
    {
        "spec": _obj(f"Specification of the desired behavior of the pod. More info: {_CONV}"
                     "#spec-and-status", {
            "containers": _list("List of containers belonging to the pod. There must be at least one "
                                "container in a Pod. Cannot be updated.",
                                _container("A single application container that you want to run within "
                                           "a pod."), map_keys=("name",)),
            "initContainers": _list("List of initialization containers belonging to the pod.",
                                    _container("A single init container."), map_keys=("name",)),
            "ephemeralContainers": _list("List of ephemeral containers run in this pod.",
                                         _container("An ephemeral container."), map_keys=("name",)),
            "volumes": _list("List of volumes that can be mounted by containers belonging to the pod.",
                             _VOLUME, map_keys=("name",)),
            "restartPolicy": _str("Restart policy for all containers within the pod. One of Always, "
                                  "OnFailure, Never. Default to Always.",
                                  enum=["Always", "Never", "OnFailure"]),
            "terminationGracePeriodSeconds": _int("Optional duration in seconds the pod needs to "
                                                  "terminate gracefully. Defaults to 30 seconds.", "int64"),
            "activeDeadlineSeconds": _int("Optional duration in seconds the pod may be active on the node "
                                          "relative to StartTime before the system will actively try to "
                                          "mark it failed and kill associated containers.", "int64"),
            "dnsPolicy": _str("Set DNS policy for the pod. Defaults to \"ClusterFirst\".",
                              enum=["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]),
            "nodeSelector": _str_map("NodeSelector is a selector which must be true for the pod to fit "
                                     "on a node."),
            "serviceAccountName": _str("ServiceAccountName is the name of the ServiceAccount to use to "
                                       "run this pod."),
            "serviceAccount": _str("DeprecatedServiceAccount is a deprecated alias for "
                                   "ServiceAccountName."),
            "automountServiceAccountToken": _bool("AutomountServiceAccountToken indicates whether a "
                                                  "service account token should be automatically "
                                                  "mounted."),
            "nodeName": _str("NodeName indicates in which node this pod is scheduled. If empty, this pod "
                             "is a candidate for scheduling by the scheduler defined in schedulerName."),
            "hostNetwork": _bool("Host networking requested for this pod. Default to false."),
            "hostPID": _bool("Use the host's pid namespace. Optional: Default to false."),
            "hostIPC": _bool("Use the host's ipc namespace. Optional: Default to false."),
            "hostUsers": _bool("Use the host's user namespace. Optional: Default to true."),
            "shareProcessNamespace": _bool("Share a single process namespace between all of the "
                                           "containers in a pod."),
            "securityContext": _free("SecurityContext holds pod-level security attributes and common "
                                     "container settings."),
            "imagePullSecrets": _list("ImagePullSecrets is an optional list of references to secrets in "
                                      "the same namespace to use for pulling any of the images used by "
                                      "this PodSpec.",
                                      _local_object_reference("LocalObjectReference contains enough "
                                                              "information to let you locate the "
                                                              "referenced object inside the same "
                                                              "namespace."), map_keys=("name",)),
            "hostname": _str("Specifies the hostname of the Pod. If not specified, the pod's hostname "
                             "will be set to a system-defined value."),
            "subdomain": _str("If specified, the fully qualified Pod hostname will be "
                              "\"<hostname>.<subdomain>.<pod namespace>.svc.<cluster domain>\"."),
            "setHostnameAsFQDN": _bool("If true the pod's hostname will be configured as the pod's "
                                       "FQDN."),
            "affinity": _free("If specified, the pod's scheduling constraints"),
            "schedulerName": _str("If specified, the pod will be dispatched by specified scheduler."),
            "tolerations": _list("If specified, the pod's tolerations.", _TOLERATION, list_type="atomic"),
            "hostAliases": _list("HostAliases is an optional list of hosts and IPs that will be injected "
                                 "into the pod's hosts file if specified.", _obj(
                                     "HostAlias holds the mapping between IP and hostnames.", {
                                         "ip": _str("IP address of the host file entry."),
                                         "hostnames": _str_list("Hostnames for the above IP address."),
                                     }, required=("ip",)), map_keys=("ip",)),
            "priorityClassName": _str("If specified, indicates the pod's priority."),
            "priority": _int("The priority value. The higher the value, the higher the priority."),
            "preemptionPolicy": _str("PreemptionPolicy is the Policy for preempting pods with lower "
                                     "priority. One of Never, PreemptLowerPriority."),
            "dnsConfig": _free("Specifies the DNS parameters of a pod."),
            "readinessGates": _list("If specified, all readiness gates will be evaluated for pod "
                                    "readiness.", _obj("PodReadinessGate contains the reference to a pod "
                                                       "condition", {
                                                           "conditionType": _str("ConditionType refers to "
                                                                                 "a condition in the pod's "
                                                                                 "condition list."),
                                                       }, required=("conditionType",))),
            "runtimeClassName": _str("RuntimeClassName refers to a RuntimeClass object in the node.k8s.io "
                                     "group, which should be used to run this pod."),
            "enableServiceLinks": _bool("EnableServiceLinks indicates whether information about services "
                                        "should be injected into pod's environment variables."),
            "overhead": _quantity_map("Overhead represents the resource overhead associated with running "
                                      "a pod for a given RuntimeClass."),
            "topologySpreadConstraints": _list("TopologySpreadConstraints describes how a group of pods "
                                               "ought to spread across topology domains.",
                                               _TOPOLOGY_SPREAD,
                                               map_keys=("topologyKey", "whenUnsatisfiable")),
            "os": _obj("Specifies the OS of the containers in the pod.", {
                "name": _str("Name is the name of the operating system. The currently supported values are "
                             "linux and windows."),
            }, required=("name",)),
            "schedulingGates": _list("SchedulingGates is an opaque list of values that if specified will "
                                     "block scheduling the pod.", _obj("PodSchedulingGate is associated to "
                                                                       "a Pod to guard its scheduling.", {
                                                                           "name": _str("Name of the "
                                                                                        "scheduling gate."),
                                                                       }, required=("name",)),
                                     map_keys=("name",)),
            "resourceClaims": _list("ResourceClaims defines which ResourceClaims must be allocated and "
                                    "reserved before the Pod is allowed to start.",
                                    _obj("PodResourceClaim references exactly one ResourceClaim.", {
                                        "name": _str("Name uniquely identifies this resource claim inside "
                                                     "the pod."),
                                        "resourceClaimName": _str("ResourceClaimName is the name of a "
                                                                  "ResourceClaim object in the same "
                                                                  "namespace as this pod."),
                                        "resourceClaimTemplateName": _str("ResourceClaimTemplateName is the "
                                                                          "name of a ResourceClaimTemplate "
                                                                          "object in the same namespace as "
                                                                          "this pod."),
                                    }, required=("name",)),
                                    map_keys=("name",)),
            "resources": _free("Resources is the total amount of CPU and Memory resources required by all "
                               "containers in the pod."),
        }, required=("containers",)),
        "status": _obj("Most recently observed status of the pod.", {
            "phase": _str("The phase of a Pod is a simple, high-level summary of where the Pod is in its "
                          "lifecycle.", enum=["Failed", "Pending", "Running", "Succeeded", "Unknown"]),
            "conditions": _conditions("Current service state of pod.", probe_time=True),
            "message": _str("A human readable message indicating details about why the pod is in this "
                            "condition."),
            "reason": _str("A brief CamelCase message indicating details about why the pod is in this "
                           "state. e.g. 'Evicted'"),
            "nominatedNodeName": _str("nominatedNodeName is set only when this pod preempts other pods on "
                                      "the node."),
            "hostIP": _str("hostIP holds the IP address of the host to which the pod is assigned."),
            "hostIPs": _list("hostIPs holds the IP addresses allocated to the host.",
                             _POD_IP, list_type="atomic"),
            "podIP": _str("podIP address allocated to the pod."),
            "podIPs": _list("podIPs holds the IP addresses allocated to the pod.", _POD_IP,
                            map_keys=("ip",)),
            "startTime": _time("RFC 3339 date and time at which the object was acknowledged by the Kubelet."),
            "initContainerStatuses": _list("Statuses of init containers in this pod.", _CONTAINER_STATUS,
                                           list_type="atomic"),
            "containerStatuses": _list("Statuses of containers in this pod.", _CONTAINER_STATUS,
                                       list_type="atomic"),
            "ephemeralContainerStatuses": _list("Statuses for any ephemeral containers that have run in "
                                                "this pod.", _CONTAINER_STATUS, list_type="atomic"),
            "qosClass": _str("The Quality of Service (QOS) classification assigned to the pod based on "
                             "resource requirements.", enum=["BestEffort", "Burstable", "Guaranteed"]),
            "resize": _str("Status of resources resize desired for pod's containers."),
            "resourceClaimStatuses": _list("Status of resource claims.",
                                           _free("PodResourceClaimStatus is stored in the PodStatus for "
                                                 "each PodResourceClaim.")),
        }),
    },
)


_CONTAINER_HINTS: dict[str, tuple[str, str]] = {
    "env": ("merge", "name"),
    "ports": ("merge", "containerPort"),
    "volumeMounts": ("merge", "mountPath"),
    "volumeDevices": ("merge", "devicePath"),
}


def pod_spec_hints(prefix: str) -> dict[str, tuple[str, str]]:
    """patchStrategy/patchMergeKey tags of k8s.io/api/core/v1 PodSpec, at `prefix` (e.g. "spec.template.spec")."""
    hints: dict[str, tuple[str, str]] = {}
    for containers in ("containers", "initContainers", "ephemeralContainers"):
        hints[f"{prefix}.{containers}"] = ("merge", "name")
        for field_name, hint in _CONTAINER_HINTS.items():
            hints[f"{prefix}.{containers}[].{field_name}"] = hint
    hints.update({
        # Real tag: Volumes and ResourceClaims use "merge,retainKeys" (a volume source is a union).
        f"{prefix}.volumes": ("merge,retainKeys", "name"),
        f"{prefix}.resourceClaims": ("merge,retainKeys", "name"),
        f"{prefix}.imagePullSecrets": ("merge", "name"),
        f"{prefix}.hostAliases": ("merge", "ip"),
        f"{prefix}.topologySpreadConstraints": ("merge", "topologyKey"),
        f"{prefix}.schedulingGates": ("merge", "name"),
    })
    return hints


def pod_hints() -> dict[str, tuple[str, str]]:
    """patchStrategy/patchMergeKey tags of k8s.io/api/core/v1 Pod (metadata, PodSpec and PodStatus)."""
    return {
        **_FINALIZERS_META_HINTS,
        **pod_spec_hints("spec"),
        "status.conditions": ("merge", "type"),
        "status.podIPs": ("merge", "ip"),
        "status.hostIPs": ("merge", "ip"),
    }
