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
from kubenode.apiserver.builtin_pod import POD_SCHEMA, pod_hints
from kubenode.apiserver.builtin_schema import (
    API_VERSION_DESCRIPTION,
    KIND_DESCRIPTION,
    METADATA_DESCRIPTION,
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
    integer as _int,
)
from kubenode.apiserver.builtin_schema import (
    local_object_reference as _local_object_reference,
)
from kubenode.apiserver.builtin_schema import (
    obj as _obj,
)
from kubenode.apiserver.builtin_schema import (
    object_reference as _object_reference,
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
from kubenode.apiserver.builtin_workloads import WORKLOAD_KINDS
from kubenode.apiserver.builtins_admission import ADMISSION_RESOURCES
from kubenode.apiserver.builtins_certificates import CSR_RESOURCE
from kubenode.apiserver.builtins_rbac import RBAC_KINDS
from kubenode.apiserver.resources import DEFAULT_VERBS, Obj, PrinterColumn, ResourceInfo, ScaleSpec
from kubenode.apiserver.tables import CREATION_TIMESTAMP_DESCRIPTION, custom_resource_columns

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
        printer_columns=POD_COLUMNS, builtin=True, track_generation=False, smp_hints=pod_hints(),
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
    *WORKLOAD_KINDS,
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
