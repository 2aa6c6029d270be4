"""The built-in resources the embedded server serves, and CRD -> ResourceInfo.

Built-ins are described by the same `ResourceInfo` a CustomResourceDefinition
turns into, so one code path serves both. Their schemas are structural
OpenAPI v3 (type object at every level with properties) so that the same
validator and pruner handle them; sub-trees that real manifests rarely touch
(affinity, security contexts, volume sources, ...) are marked
`x-kubernetes-preserve-unknown-fields` so a valid manifest is never rejected
merely because we did not spell out every Kubernetes type. Descriptions are
shortened from the real API because `kubectl explain` shows them.

Every field below the root is `nullable`: the real server decodes built-ins
with Go's JSON decoder, for which `null` simply means "unset" (kubelets and
controllers routinely send `lastProbeTime: null`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from kubenode.apiserver.builtin_columns import (
    CONFIGMAP_COLUMNS,
    CRD_COLUMNS,
    EVENT_COLUMNS,
    LEASE_COLUMNS,
    NAMESPACE_COLUMNS,
    NODE_COLUMNS,
    POD_COLUMNS,
    SECRET_COLUMNS,
    age_cell,
)
from kubenode.apiserver.builtins_admission import ADMISSION_RESOURCES
from kubenode.apiserver.builtins_certificates import CSR_RESOURCE
from kubenode.apiserver.builtins_rbac import RBAC_KINDS
from kubenode.apiserver.resources import DEFAULT_VERBS, Obj, PrinterColumn, ResourceInfo, ScaleSpec
from kubenode.apiserver.tables import CREATION_TIMESTAMP_DESCRIPTION, custom_resource_columns

# --------------------------------------------------------------------------- schema helpers

_CONV = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"

API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should "
    "convert recognized schemas to the latest internal value, and may reject unrecognized values. "
    f"More info: {_CONV}#resources"
)
KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer "
    "this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. "
    f"More info: {_CONV}#types-kinds"
)
METADATA_DESCRIPTION = f"Standard object's metadata. More info: {_CONV}#metadata"


def _str(description: str, **extra: Any) -> Obj:
    return {"type": "string", "description": description, **extra}


def _int(description: str, fmt: str = "int32") -> Obj:
    return {"type": "integer", "format": fmt, "description": description}


def _bool(description: str) -> Obj:
    return {"type": "boolean", "description": description}


def _time(description: str) -> Obj:
    # metav1.Time and metav1.MicroTime are both RFC 3339 strings on the wire.
    return {"type": "string", "format": "date-time", "description": description}


def _str_map(description: str, fmt: str = "") -> Obj:
    value: Obj = {"type": "string"}
    if fmt:
        value["format"] = fmt
    return {"type": "object", "description": description, "additionalProperties": value}


def _obj(description: str, properties: dict[str, Obj], *, required: Sequence[str] = (),
         preserve: bool = False) -> Obj:
    schema: Obj = {"type": "object", "description": description, "properties": properties}
    if required:
        schema["required"] = list(required)
    if preserve:
        schema["x-kubernetes-preserve-unknown-fields"] = True
    return schema


def _free(description: str) -> Obj:
    """An object whose content we do not model: kept verbatim, never pruned."""
    return {"type": "object", "description": description, "x-kubernetes-preserve-unknown-fields": True}


def _list(description: str, items: Obj, *, map_keys: Sequence[str] = (), list_type: str = "") -> Obj:
    schema: Obj = {"type": "array", "description": description, "items": items}
    if map_keys:
        schema["x-kubernetes-list-type"] = "map"
        schema["x-kubernetes-list-map-keys"] = list(map_keys)
    elif list_type:
        schema["x-kubernetes-list-type"] = list_type
    return schema


def _str_list(description: str, list_type: str = "atomic") -> Obj:
    return _list(description, {"type": "string"}, list_type=list_type)


def _quantity(description: str) -> Obj:
    # resource.Quantity accepts "100m", 2 and 0.5 alike; int-or-string would reject 0.5, so the
    # value is left untyped (allowed by structural rules together with preserve-unknown-fields).
    return {"description": description, "x-kubernetes-preserve-unknown-fields": True}


def _quantity_map(description: str) -> Obj:
    return {"type": "object", "description": description, "additionalProperties": _quantity("")}


def _int_or_string(description: str) -> Obj:
    return {"description": description, "x-kubernetes-int-or-string": True}


def _make_nullable(schema: Obj) -> Obj:
    """Mark every node below the root nullable (Go decoding treats null as unset)."""
    for child in (schema.get("properties") or {}).values():
        child["nullable"] = True
        _make_nullable(child)
    for key in ("items", "additionalProperties"):
        child = schema.get(key)
        if isinstance(child, dict):
            child["nullable"] = True
            _make_nullable(child)
    return schema


def _root(description: str, properties: dict[str, Obj], *, required: Sequence[str] = ()) -> Obj:
    """A kind's root schema: apiVersion, kind and metadata plus the kind's own fields.

    `metadata` keeps everything: ObjectMeta is validated by the server's own
    metadata checks, and pruning it here would silently drop labels.
    """
    props: dict[str, Obj] = {
        "apiVersion": _str(API_VERSION_DESCRIPTION),
        "kind": _str(KIND_DESCRIPTION),
        "metadata": {
            "type": "object",
            "description": METADATA_DESCRIPTION,
            "x-kubernetes-preserve-unknown-fields": True,
        },
    }
    props.update(properties)
    return _make_nullable(_obj(description, props, required=required))


def _conditions(description: str, *, probe_time: bool = False, heartbeat: bool = False) -> Obj:
    props: dict[str, Obj] = {
        "type": _str("Type of condition."),
        "status": _str("Status of the condition, one of True, False, Unknown."),
    }
    if heartbeat:
        props["lastHeartbeatTime"] = _time("Last time we got an update on a given condition.")
    if probe_time:
        props["lastProbeTime"] = _time("Last time we probed the condition.")
    props["lastTransitionTime"] = _time("Last time the condition transitioned from one status to another.")
    props["reason"] = _str("Unique, one-word, CamelCase reason for the condition's last transition.")
    props["message"] = _str("Human-readable message indicating details about last transition.")
    return _list(description, _obj("A condition of the object.", props, required=("type", "status")),
                 map_keys=("type",))


def _object_reference(description: str) -> Obj:
    return _obj(description, {
        "apiVersion": _str("API version of the referent."),
        "fieldPath": _str("If referring to a piece of an object instead of an entire object, this string "
                          "should contain a valid JSON/Go field access statement, such as "
                          "desiredState.manifest.containers[2]."),
        "kind": _str(f"Kind of the referent. More info: {_CONV}#types-kinds"),
        "name": _str("Name of the referent."),
        "namespace": _str("Namespace of the referent."),
        "resourceVersion": _str("Specific resourceVersion to which this reference is made, if any."),
        "uid": _str("UID of the referent."),
    })


def _local_object_reference(description: str) -> Obj:
    return _obj(description, {"name": _str("Name of the referent.")})


_FINALIZERS_META_HINTS: dict[str, tuple[str, str]] = {
    "metadata.finalizers": ("merge", ""),
    "metadata.ownerReferences": ("merge", "uid"),
}

# --------------------------------------------------------------------------- Namespace

NAMESPACE_SCHEMA = _root(
    "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
    {
        "spec": _obj("Spec defines the behavior of the Namespace.", {
            "finalizers": _str_list("Finalizers is an opaque list of values that must be empty to "
                                    "permanently remove object from storage."),
        }),
        "status": _obj("Status describes the current status of a Namespace.", {
            "phase": _str("Phase is the current lifecycle phase of the namespace.",
                          enum=["Active", "Terminating"]),
            "conditions": _conditions("Represents the latest available observations of a namespace's "
                                      "current state."),
        }),
    },
)

# --------------------------------------------------------------------------- Node

_TAINT = _obj(
    "The node this Taint is attached to has the \"effect\" on any pod that does not tolerate the Taint.",
    {
        "key": _str("Required. The taint key to be applied to a node."),
        "value": _str("The taint value corresponding to the taint key."),
        "effect": _str("Required. The effect of the taint on pods that do not tolerate the taint. Valid "
                       "effects are NoSchedule, PreferNoSchedule and NoExecute.",
                       enum=["NoSchedule", "PreferNoSchedule", "NoExecute"]),
        "timeAdded": _time("TimeAdded represents the time at which the taint was added."),
    },
    required=("key", "effect"),
)

NODE_SCHEMA = _root(
    "Node is a worker node in Kubernetes. Each node will have a unique identifier in the cache "
    "(i.e. in etcd).",
    {
        "spec": _obj("Spec defines the behavior of a node.", {
            "podCIDR": _str("PodCIDR represents the pod IP range assigned to the node."),
            "podCIDRs": _str_list("podCIDRs represents the IP ranges assigned to the node for usage by "
                                  "Pods on that node.", list_type="set"),
            "providerID": _str("ID of the node assigned by the cloud provider in the format: "
                               "<ProviderName>://<ProviderSpecificNodeID>"),
            "unschedulable": _bool("Unschedulable controls node schedulability of new pods. By default, "
                                   "node is schedulable."),
            "taints": _list("If specified, the node's taints.", _TAINT, list_type="atomic"),
            "configSource": _free("Deprecated: Previously used to specify the source of the node's "
                                  "configuration for the DynamicKubeletConfig feature."),
            "externalID": _str("Deprecated. Not all kubelets will set this field."),
        }),
        "status": _obj("Most recently observed status of the node.", {
            "capacity": _quantity_map("Capacity represents the total resources of a node."),
            "allocatable": _quantity_map("Allocatable represents the resources of a node that are "
                                         "available for scheduling. Defaults to Capacity."),
            "phase": _str("NodePhase is the recently observed lifecycle phase of the node. Deprecated."),
            "conditions": _conditions("Conditions is an array of current observed node conditions.",
                                      heartbeat=True),
            "addresses": _list(
                "List of addresses reachable to the node.",
                _obj("NodeAddress contains information for the node's address.", {
                    "type": _str("Node address type, one of Hostname, ExternalIP or InternalIP."),
                    "address": _str("The node address."),
                }, required=("type", "address")),
                map_keys=("type",),
            ),
            "daemonEndpoints": _obj("Endpoints of daemons running on the Node.", {
                "kubeletEndpoint": _obj("Endpoint on which Kubelet is listening.", {
                    "Port": _int("Port number of the given endpoint."),
                }, required=("Port",)),
            }),
            "nodeInfo": _obj("Set of ids/uuids to uniquely identify the node.", {
                "machineID": _str("MachineID reported by the node."),
                "systemUUID": _str("SystemUUID reported by the node."),
                "bootID": _str("Boot ID reported by the node."),
                "kernelVersion": _str("Kernel Version reported by the node from 'uname -r'."),
                "osImage": _str("OS Image reported by the node from /etc/os-release."),
                "containerRuntimeVersion": _str("ContainerRuntime Version reported by the node through "
                                                "runtime remote API (e.g. containerd://1.4.2)."),
                "kubeletVersion": _str("Kubelet Version reported by the node."),
                "kubeProxyVersion": _str("Deprecated: KubeProxy Version reported by the node."),
                "operatingSystem": _str("The Operating System reported by the node."),
                "architecture": _str("The Architecture reported by the node."),
            }, preserve=True),
            "images": _list("List of container images on this node.", _obj(
                "Describe a container image.", {
                    "names": _str_list("Names by which this image is known."),
                    "sizeBytes": _int("The size of the image in bytes.", "int64"),
                })),
            "volumesInUse": _str_list("List of attachable volumes in use (mounted) by the node."),
            "volumesAttached": _list("List of volumes that are attached to the node.",
                                     _free("AttachedVolume describes a volume attached to a node.")),
            "config": _free("Status of the config assigned to the node via the dynamic Kubelet config "
                            "feature."),
            "runtimeHandlers": _list("The available runtime handlers.",
                                     _free("NodeRuntimeHandler is a set of runtime handler information.")),
            "features": _free("Features describes the set of features implemented by the CRI "
                              "implementation."),
        }),
    },
)

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

# --------------------------------------------------------------------------- Event

EVENT_SCHEMA = _root(
    "Event is a report of an event somewhere in the cluster.",
    {
        "involvedObject": _object_reference("The object that this event is about."),
        "reason": _str("This should be a short, machine understandable string that gives the reason for "
                       "the transition into the object's current status."),
        "message": _str("A human-readable description of the status of this operation."),
        "source": _obj("The component reporting this event. Should be a short machine understandable "
                       "string.", {
                           "component": _str("Component from which the event is generated."),
                           "host": _str("Node name on which the event is generated."),
                       }),
        "firstTimestamp": _time("The time at which the event was first recorded."),
        "lastTimestamp": _time("The time at which the most recent occurrence of this event was recorded."),
        "count": _int("The number of times this event has occurred."),
        "type": _str("Type of this event (Normal, Warning), new types could be added in the future"),
        "eventTime": _time("Time when this Event was first observed."),
        "series": _obj("Data about the Event series this event represents or nil if it's a singleton "
                       "Event.", {
                           "count": _int("Number of occurrences in this series up to the last heartbeat "
                                         "time"),
                           "lastObservedTime": _time("Time of the last occurrence observed"),
                       }),
        "action": _str("What action was taken/failed regarding to the Regarding object."),
        "related": _object_reference("Optional secondary object for more complex actions."),
        "reportingComponent": _str("Name of the controller that emitted this Event, e.g. "
                                   "`kubernetes.io/kubelet`."),
        "reportingInstance": _str("ID of the controller instance, e.g. `kubelet-xyzf`."),
    },
    required=("metadata", "involvedObject"),
)

# --------------------------------------------------------------------------- Secret, ConfigMap, SA

SECRET_SCHEMA = _root(
    "Secret holds secret data of a certain type. The total bytes of the values in the Data field must be "
    "less than MaxSecretSize bytes.",
    {
        "data": _str_map("Data contains the secret data. Each key must consist of alphanumeric characters, "
                         "'-', '_' or '.'. The serialized form of the secret data is a base64 encoded "
                         "string.", fmt="byte"),
        "stringData": _str_map("stringData allows specifying non-binary secret data in string form. It is "
                               "provided as a write-only input field for convenience. All keys and values "
                               "are merged into the data field on write."),
        "type": _str("Used to facilitate programmatic handling of secret data."),
        "immutable": _bool("Immutable, if set to true, ensures that data stored in the Secret cannot be "
                           "updated (only object metadata can be modified)."),
    },
)

CONFIGMAP_SCHEMA = _root(
    "ConfigMap holds configuration data for pods to consume.",
    {
        "data": _str_map("Data contains the configuration data. Each key must consist of alphanumeric "
                         "characters, '-', '_' or '.'."),
        "binaryData": _str_map("BinaryData contains the binary data. Each key must consist of alphanumeric "
                               "characters, '-', '_' or '.'.", fmt="byte"),
        "immutable": _bool("Immutable, if set to true, ensures that data stored in the ConfigMap cannot be "
                           "updated (only object metadata can be modified)."),
    },
)

SERVICEACCOUNT_SCHEMA = _root(
    "ServiceAccount binds together: * a name, understood by users, and perhaps by peripheral systems, for "
    "an identity * a principal that can be authenticated and authorized * a set of secrets",
    {
        "secrets": _list("Secrets is a list of the secrets in the same namespace that pods running using "
                         "this ServiceAccount are allowed to use.",
                         _object_reference("ObjectReference contains enough information to let you "
                                           "inspect or modify the referred object.")),
        "imagePullSecrets": _list("ImagePullSecrets is a list of references to secrets in the same "
                                  "namespace to use for pulling any images in pods that reference this "
                                  "ServiceAccount.",
                                  _local_object_reference("LocalObjectReference contains enough "
                                                          "information to let you locate the referenced "
                                                          "object inside the same namespace.")),
        "automountServiceAccountToken": _bool("AutomountServiceAccountToken indicates whether pods running "
                                              "as this service account should have an API token "
                                              "automatically mounted."),
    },
)

# --------------------------------------------------------------------------- Lease

LEASE_SCHEMA = _root(
    "Lease defines a lease concept.",
    {
        "spec": _obj("spec contains the specification of the Lease.", {
            "holderIdentity": _str("holderIdentity contains the identity of the holder of a current "
                                   "lease."),
            "leaseDurationSeconds": _int("leaseDurationSeconds is a duration that candidates for a lease "
                                         "need to wait to force acquire it. This is measured against the "
                                         "time of last observed renewTime."),
            "acquireTime": _time("acquireTime is a time when the current lease was acquired."),
            "renewTime": _time("renewTime is a time when the current holder of a lease has last updated "
                               "the lease."),
            "leaseTransitions": _int("leaseTransitions is the number of transitions of a lease between "
                                     "holders."),
            "strategy": _str("Strategy indicates the strategy for picking the leader for coordinated "
                             "leader election."),
            "preferredHolder": _str("PreferredHolder signals to a lease holder that the lease has a more "
                                    "optimal holder and should be given up."),
        }),
    },
)

# --------------------------------------------------------------------------- CustomResourceDefinition

_CRD_NAMES_PROPS: dict[str, Obj] = {
    "plural": _str("plural is the plural name of the resource to serve. Must be all lowercase."),
    "singular": _str("singular is the singular name of the resource. It must be all lowercase. Defaults "
                     "to lowercased `kind`."),
    "kind": _str("kind is the serialized kind of the resource. It is normally CamelCase and singular."),
    "listKind": _str("listKind is the serialized kind of the list for this resource. Defaults to "
                     "\"`kind`List\"."),
    "shortNames": _str_list("shortNames are short names for the resource, exposed in API discovery "
                            "documents, and used by clients to support invocations like `kubectl get "
                            "<shortname>`."),
    "categories": _str_list("categories is a list of grouped resources this custom resource belongs to "
                            "(e.g. 'all')."),
}

CRD_SCHEMA = _root(
    "CustomResourceDefinition represents a resource that should be exposed on the API server. Its name "
    "MUST be in the format <.spec.name>.<.spec.group>.",
    {
        "spec": _obj("spec describes how the user wants the resources to appear", {
            "group": _str("group is the API group of the defined custom resource."),
            "names": _obj("names specify the resource and kind names for the custom resource.",
                          copy.deepcopy(_CRD_NAMES_PROPS), required=("plural", "kind")),
            "scope": _str("scope indicates whether the defined custom resource is cluster- or "
                          "namespace-scoped. Allowed values are `Cluster` and `Namespaced`.",
                          enum=["Cluster", "Namespaced"]),
            "versions": _list(
                "versions is the list of all API versions of the defined custom resource.",
                _obj("CustomResourceDefinitionVersion describes a version for CRD.", {
                    "name": _str("name is the version name, e.g. \u201cv1\u201d, \u201cv2beta1\u201d, etc."),
                    "served": _bool("served is a flag enabling/disabling this version from being served "
                                    "via REST APIs"),
                    "storage": _bool("storage indicates this version should be used when persisting "
                                     "custom resources to storage. There must be exactly one version "
                                     "with storage=true."),
                    "deprecated": _bool("deprecated indicates this version of the custom resource API is "
                                        "deprecated."),
                    "deprecationWarning": _str("deprecationWarning overrides the default warning returned "
                                               "to API clients."),
                    "schema": _obj("schema describes the schema used for validation, pruning, and "
                                   "defaulting of this version of the custom resource.", {
                                       "openAPIV3Schema": _free("openAPIV3Schema is the OpenAPI v3 schema "
                                                                "to use for validation and pruning."),
                                   }),
                    "subresources": _obj("subresources specify what subresources this version of the "
                                         "defined custom resource have.", {
                        "status": _free("status indicates the custom resource should serve a `/status` "
                                        "subresource."),
                        "scale": _obj("scale indicates the custom resource should serve a `/scale` "
                                      "subresource that returns an `autoscaling/v1` Scale object.", {
                                          "specReplicasPath": _str("specReplicasPath defines the JSON path "
                                                                   "inside of a custom resource that "
                                                                   "corresponds to Scale `spec.replicas`."),
                                          "statusReplicasPath": _str("statusReplicasPath defines the JSON "
                                                                     "path inside of a custom resource "
                                                                     "that corresponds to Scale "
                                                                     "`status.replicas`."),
                                          "labelSelectorPath": _str("labelSelectorPath defines the JSON "
                                                                    "path inside of a custom resource that "
                                                                    "corresponds to Scale "
                                                                    "`status.selector`."),
                                      }, required=("specReplicasPath", "statusReplicasPath")),
                    }),
                    "additionalPrinterColumns": _list(
                        "additionalPrinterColumns specifies additional columns returned in Table output.",
                        _obj("CustomResourceColumnDefinition specifies a column for server side printing.", {
                            "name": _str("name is a human readable name for the column."),
                            "type": _str("type is an OpenAPI type definition for this column."),
                            "format": _str("format is an optional OpenAPI type definition for this "
                                           "column."),
                            "description": _str("description is a human readable description of this "
                                                "column."),
                            "priority": _int("priority is an integer defining the relative importance of "
                                             "this column compared to others."),
                            "jsonPath": _str("jsonPath is a simple JSON path (i.e. with array notation) "
                                             "which is evaluated against each custom resource to produce "
                                             "the value for this column."),
                        }, required=("name", "type", "jsonPath")),
                        list_type="atomic",
                    ),
                    "selectableFields": _list("selectableFields specifies paths to fields that may be "
                                              "used as field selectors.",
                                              _obj("SelectableField specifies the JSON path of a field "
                                                   "that may be used with field selectors.", {
                                                       "jsonPath": _str("jsonPath is a simple JSON path "
                                                                        "which is evaluated against each "
                                                                        "custom resource."),
                                                   }, required=("jsonPath",)), list_type="atomic"),
                }, required=("name", "served", "storage")),
                list_type="atomic",
            ),
            "conversion": _obj("conversion defines conversion settings for the CRD.", {
                "strategy": _str("strategy specifies how custom resources are converted between versions. "
                                 "Allowed values are: - `\"None\"` - `\"Webhook\"`."),
                "webhook": _free("webhook describes how to call the conversion webhook. Required when "
                                 "`strategy` is set to `\"Webhook\"`."),
            }, required=("strategy",)),
            "preserveUnknownFields": _bool("preserveUnknownFields indicates that object fields which are "
                                           "not specified in the OpenAPI schema should be preserved when "
                                           "persisting to storage."),
        }, required=("group", "names", "scope", "versions")),
        "status": _obj("status indicates the actual state of the CustomResourceDefinition", {
            "conditions": _conditions("conditions indicate state for particular aspects of a "
                                      "CustomResourceDefinition"),
            "acceptedNames": _obj("acceptedNames are the names that are actually being used to serve "
                                  "discovery.", copy.deepcopy(_CRD_NAMES_PROPS)),
            "storedVersions": _str_list("storedVersions lists all versions of CustomResources that were "
                                        "ever persisted."),
        }),
    },
    required=("spec",),
)

# --------------------------------------------------------------------------- ServiceAccount columns


def _secrets_count(obj: Obj, _now: float) -> int:
    secrets = obj.get("secrets")
    return len(secrets) if isinstance(secrets, list) else 0


#: SECRETS and AGE after the renderer's Name column, as `kubectl get serviceaccounts` shows them.
SERVICEACCOUNT_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn(
        name="Secrets",
        description="Secrets is a list of the secrets in the same namespace that pods running using this "
                    "ServiceAccount are allowed to use.",
        cell=_secrets_count,
    ),
    PrinterColumn(name="Age", description=CREATION_TIMESTAMP_DESCRIPTION, cell=age_cell),
)

# --------------------------------------------------------------------------- the built-ins

_POD_CONTAINER_HINTS: dict[str, tuple[str, str]] = {
    "env": ("merge", "name"),
    "ports": ("merge", "containerPort"),
    "volumeMounts": ("merge", "mountPath"),
    "volumeDevices": ("merge", "devicePath"),
}


def _pod_hints() -> dict[str, tuple[str, str]]:
    """patchStrategy/patchMergeKey tags of k8s.io/api/core/v1 PodSpec and PodStatus."""
    hints = dict(_FINALIZERS_META_HINTS)
    for containers in ("containers", "initContainers", "ephemeralContainers"):
        hints[f"spec.{containers}"] = ("merge", "name")
        for field_name, hint in _POD_CONTAINER_HINTS.items():
            hints[f"spec.{containers}[].{field_name}"] = hint
    hints.update({
        # Real tag: Volumes and ResourceClaims use "merge,retainKeys" (a volume source is a union).
        "spec.volumes": ("merge,retainKeys", "name"),
        "spec.resourceClaims": ("merge,retainKeys", "name"),
        "spec.imagePullSecrets": ("merge", "name"),
        "spec.hostAliases": ("merge", "ip"),
        "spec.topologySpreadConstraints": ("merge", "topologyKey"),
        "spec.schedulingGates": ("merge", "name"),
        "status.conditions": ("merge", "type"),
        "status.podIPs": ("merge", "ip"),
        "status.hostIPs": ("merge", "ip"),
    })
    return hints




_RESOURCE_ATTRIBUTES = _obj("Attributes of a resource request.", {
    "namespace": _str("Namespace of the action; empty means all namespaces (or a cluster-scoped resource)."),
    "verb": _str("API verb: get, list, watch, create, update, patch, delete, deletecollection."),
    "group": _str("API group of the resource; empty for the core group."),
    "version": _str("API version of the resource."),
    "resource": _str("Resource (plural name), e.g. machines."),
    "subresource": _str("Subresource, e.g. status; empty for none."),
    "name": _str("Name of the object; empty means all."),
})
_NON_RESOURCE_ATTRIBUTES = _obj("Attributes of a request for a URL path that is not a resource.", {
    "path": _str("URL path, e.g. /healthz."), "verb": _str("Lower-case HTTP verb, e.g. get."),
})
_REVIEW_SCHEMAS: dict[str, Obj] = {
    "SelfSubjectAccessReview": _root("Asks whether the caller may perform an action (kubectl auth can-i). Answered, "
                                     "never stored.", {
        "spec": _obj("The action; exactly one of resourceAttributes and nonResourceAttributes.", {
            "resourceAttributes": _RESOURCE_ATTRIBUTES, "nonResourceAttributes": _NON_RESOURCE_ATTRIBUTES}),
        "status": _obj("The server's answer.", {
            "allowed": _bool("Whether the action would be allowed."), "denied": _bool("Whether it would be denied."),
            "reason": _str("Why."), "evaluationError": _str("An error while deciding, if any.")}),
    }, required=["spec"]),
    "SelfSubjectRulesReview": _root("Lists what the caller may do in a namespace (kubectl auth can-i --list). "
                                    "Answered, never stored.", {
        "spec": _obj("Where to evaluate.", {"namespace": _str("Namespace to evaluate the rules in.")}),
        "status": _obj("The rules, possibly incomplete.", {
            "resourceRules": _list("Allowed resource actions.", _obj("A resource rule.", {
                "verbs": _str_list("Verbs."), "apiGroups": _str_list("API groups."),
                "resources": _str_list("Resources."), "resourceNames": _str_list("Object names.")})),
            "nonResourceRules": _list("Allowed non-resource actions.", _obj("A non-resource rule.", {
                "verbs": _str_list("Verbs."), "nonResourceURLs": _str_list("URL paths; * at the end matches a "
                                                                            "prefix.")})),
            "incomplete": _bool("True when the rules cannot all be listed."),
            "evaluationError": _str("Why the list is incomplete.")}),
    }),
    "SelfSubjectReview": _root("Tells the caller who the server thinks it is (kubectl auth whoami). Answered, never "
                               "stored.", {
        "status": _obj("The caller's identity.", {"userInfo": _obj("The authenticated user.", {
            "username": _str("User name."), "uid": _str("User UID."), "groups": _str_list("Groups.")})}),
    }),
}


def _review(group: str, kind: str) -> ResourceInfo:
    """A create-only resource that is never stored: answered by `reviews.review` (kubectl auth can-i, whoami)."""
    return ResourceInfo(group=group, version="v1", kind=kind, plural=kind.lower() + "s", singular=kind.lower(),
                        namespaced=False, verbs=("create",), schema=_REVIEW_SCHEMAS[kind], builtin=True,
                        track_generation=False, smp_hints=dict(_FINALIZERS_META_HINTS))


BUILTIN_RESOURCES: tuple[ResourceInfo, ...] = (
    ResourceInfo(
        group="", version="v1", kind="Namespace", plural="namespaces", singular="namespace",
        namespaced=False, short_names=("ns",),
        # kube-apiserver serves no deletecollection for namespaces.
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        schema=NAMESPACE_SCHEMA, status_subresource=True, printer_columns=NAMESPACE_COLUMNS,
        # A DELETE answers with the Namespace (Terminating), but through its own REST code, so kube's
        # OpenAPI still names Status: return_deleted_object stays False (see rest._delete_namespace).
        builtin=True, track_generation=False,
        smp_hints={**_FINALIZERS_META_HINTS, "status.conditions": ("merge", "type")},
        field_selectors=frozenset({"status.phase"}),
    ),
    ResourceInfo(
        group="", version="v1", kind="Node", plural="nodes", singular="node", namespaced=False,
        short_names=("no",), schema=NODE_SCHEMA, status_subresource=True, printer_columns=NODE_COLUMNS,
        builtin=True, track_generation=False,
        smp_hints={
            **_FINALIZERS_META_HINTS,
            "spec.podCIDRs": ("merge", ""),
            "spec.taints": ("merge", "key"),
            "status.conditions": ("merge", "type"),
            "status.addresses": ("merge", "type"),
        },
        field_selectors=frozenset({"spec.unschedulable"}),
    ),
    ResourceInfo(
        group="", version="v1", kind="Pod", plural="pods", singular="pod", namespaced=True,
        short_names=("po",), categories=("all",), schema=POD_SCHEMA, status_subresource=True,
        printer_columns=POD_COLUMNS, builtin=True, track_generation=False, smp_hints=_pod_hints(),
        return_deleted_object=True,
        field_selectors=frozenset({
            "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "status.phase", "status.podIP", "status.nominatedNodeName",
        }),
        extra_subresources={"eviction": ("policy", "v1", "Eviction", ("create",))},
    ),
    ResourceInfo(
        group="", version="v1", kind="Event", plural="events", singular="event", namespaced=True,
        short_names=("ev",), schema=EVENT_SCHEMA, printer_columns=EVENT_COLUMNS, builtin=True,
        track_generation=False, smp_hints=dict(_FINALIZERS_META_HINTS),
        field_selectors=frozenset({
            "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
            "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
            "reason", "reportingComponent", "source", "type",
        }),
    ),
    ResourceInfo(
        group="", version="v1", kind="Secret", plural="secrets", singular="secret", namespaced=True,
        schema=SECRET_SCHEMA, printer_columns=SECRET_COLUMNS, builtin=True, track_generation=False,
        smp_hints=dict(_FINALIZERS_META_HINTS), field_selectors=frozenset({"type"}),
    ),
    ResourceInfo(
        group="", version="v1", kind="ConfigMap", plural="configmaps", singular="configmap",
        namespaced=True, short_names=("cm",), schema=CONFIGMAP_SCHEMA, printer_columns=CONFIGMAP_COLUMNS,
        builtin=True, track_generation=False, smp_hints=dict(_FINALIZERS_META_HINTS),
    ),
    ResourceInfo(
        group="", version="v1", kind="ServiceAccount", plural="serviceaccounts", singular="serviceaccount",
        namespaced=True, short_names=("sa",), schema=SERVICEACCOUNT_SCHEMA,
        printer_columns=SERVICEACCOUNT_COLUMNS, builtin=True, track_generation=False, return_deleted_object=True,
        extra_subresources={"token": ("authentication.k8s.io", "v1", "TokenRequest", ("create",))},
        smp_hints={**_FINALIZERS_META_HINTS, "secrets": ("merge", "name")},
    ),
    ResourceInfo(
        group="coordination.k8s.io", version="v1", kind="Lease", plural="leases", singular="lease",
        namespaced=True, schema=LEASE_SCHEMA, printer_columns=LEASE_COLUMNS, builtin=True,
        track_generation=False, smp_hints=dict(_FINALIZERS_META_HINTS),
    ),
    ResourceInfo(
        group="apiextensions.k8s.io", version="v1", kind="CustomResourceDefinition",
        plural="customresourcedefinitions", singular="customresourcedefinition", namespaced=False,
        short_names=("crd", "crds"), categories=("api-extensions",), schema=CRD_SCHEMA,
        status_subresource=True, printer_columns=CRD_COLUMNS, builtin=True, track_generation=True,
        smp_hints=dict(_FINALIZERS_META_HINTS),
    ),
    _review("authorization.k8s.io", "SelfSubjectAccessReview"),
    _review("authorization.k8s.io", "SelfSubjectRulesReview"),
    _review("authentication.k8s.io", "SelfSubjectReview"),
    *RBAC_KINDS,
    *ADMISSION_RESOURCES,
    CSR_RESOURCE,
)


def builtin_by_plural(group: str, plural: str) -> ResourceInfo | None:
    """The built-in resource `plural` in `group` ("" for core), or None."""
    for info in BUILTIN_RESOURCES:
        if info.group == group and info.plural == plural:
            return info
    return None


# --------------------------------------------------------------------------- CRDs


def storage_version(crd: Obj) -> str:
    """The version a CRD persists its objects in (the one with `storage: true`).

    Falls back to the first listed version so a CRD that is still being
    validated never makes callers crash.
    """
    versions = (crd.get("spec") or {}).get("versions") or []
    for version in versions:
        if version.get("storage"):
            return str(version.get("name", ""))
    return str(versions[0].get("name", "")) if versions else ""


def _with_root_fields(schema: Obj) -> Obj:
    """A copy of a CR schema that declares apiVersion, kind and metadata.

    Real CRD schemas may omit them (the apiserver adds them implicitly); adding
    them here means a pruner never drops them and explain can show them.
    """
    schema = copy.deepcopy(schema)
    props = schema.setdefault("properties", {})
    props.setdefault("apiVersion", _str(API_VERSION_DESCRIPTION))
    props.setdefault("kind", _str(KIND_DESCRIPTION))
    props.setdefault("metadata", {"type": "object", "description": METADATA_DESCRIPTION})
    schema.setdefault("type", "object")
    return schema


def crd_to_resource_infos(crd: Obj) -> list[ResourceInfo]:
    """One `ResourceInfo` per served version of a CustomResourceDefinition object."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    kind = str(names.get("kind", ""))
    infos: list[ResourceInfo] = []
    for version in spec.get("versions") or []:
        if not version.get("served"):
            continue
        raw_schema = (version.get("schema") or {}).get("openAPIV3Schema")
        subresources = version.get("subresources") or {}
        scale_spec = subresources.get("scale")
        scale = None
        if isinstance(scale_spec, dict):
            scale = ScaleSpec(
                spec_replicas_path=str(scale_spec.get("specReplicasPath", "")),
                status_replicas_path=str(scale_spec.get("statusReplicasPath", "")),
                label_selector_path=str(scale_spec.get("labelSelectorPath") or ""),
            )
        infos.append(ResourceInfo(
            group=str(spec.get("group", "")),
            version=str(version.get("name", "")),
            kind=kind,
            plural=str(names.get("plural", "")),
            singular=str(names.get("singular") or kind.lower()),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            verbs=DEFAULT_VERBS,
            schema=_with_root_fields(raw_schema) if isinstance(raw_schema, dict) else None,
            status_subresource="status" in subresources,
            scale=scale,
            printer_columns=custom_resource_columns(version.get("additionalPrinterColumns")),
            builtin=False,
            smp_hints=dict(_FINALIZERS_META_HINTS),
            track_generation=True,
        ))
    return infos
