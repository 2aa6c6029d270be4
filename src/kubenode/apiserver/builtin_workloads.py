"""The workload kinds a deployment of KubeNode itself uses: apps/v1, policy/v1 and core/v1 Services.

`kubectl apply -k deploy/` must work unchanged against the embedded server,
so it serves Deployments, ReplicaSets, DaemonSets, PodDisruptionBudgets and
Services with kube's field names, defaults (`defaults.py`),
validation and server-side allocation (`workload_strategies.py`), status
subresources and the columns `kubectl get` shows (`builtin_columns.py`).
Schemas follow k8s.io/api (apps/v1, policy/v1, core/v1) as published in
kube-apiserver 1.32's OpenAPI; descriptions are shortened.

Nothing here runs pods: the embedded control plane has no deployment,
replicaset, daemonset or disruption controller and no kube-proxy, so status
stays what a client writes (docs/builtins.md).
"""

from __future__ import annotations

import copy

from kubenode.apiserver.builtin_columns import (
    DAEMONSET_COLUMNS,
    DEPLOYMENT_COLUMNS,
    PDB_COLUMNS,
    REPLICASET_COLUMNS,
    SERVICE_COLUMNS,
)
from kubenode.apiserver.builtin_pod import POD_SCHEMA, pod_spec_hints
from kubenode.apiserver.builtin_schema import (
    META_HINTS,
    array,
    boolean,
    conditions,
    free_object,
    int_or_string,
    integer,
    obj,
    root,
    string,
    string_list,
    string_map,
    timestamp,
)
from kubenode.apiserver.resources import Obj, ResourceInfo, ScaleSpec

# --------------------------------------------------------------------------- shared parts

_REQUIREMENT = obj(
    "A label selector requirement is a selector that contains values, a key, and an operator that relates the key "
    "and values.", {
        "key": string("key is the label key that the selector applies to."),
        "operator": string("operator represents a key's relationship to a set of values. Valid operators are In, "
                           "NotIn, Exists and DoesNotExist."),
        "values": string_list("values is an array of string values. If the operator is In or NotIn, the values "
                              "array must be non-empty. If the operator is Exists or DoesNotExist, the values array "
                              "must be empty."),
    }, required=("key", "operator"))


def label_selector(description: str) -> Obj:
    """metav1.LabelSelector (matchLabels AND matchExpressions; {} selects everything)."""
    return obj(description, {
        "matchLabels": string_map("matchLabels is a map of {key,value} pairs. A single {key,value} in the "
                                  "matchLabels map is equivalent to an element of matchExpressions, whose key field "
                                  "is \"key\", the operator is \"In\", and the values array contains only "
                                  "\"value\"."),
        "matchExpressions": array("matchExpressions is a list of label selector requirements. The requirements are "
                                  "ANDed.", copy.deepcopy(_REQUIREMENT), list_type="atomic"),
    })


def _pod_template(description: str) -> Obj:
    """core/v1 PodTemplateSpec: the metadata and PodSpec of the pods a workload would create."""
    return obj(description, {
        "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                     "description": "Standard object's metadata."},
        "spec": copy.deepcopy(POD_SCHEMA["properties"]["spec"]),
    })


def _workload_conditions(description: str, *, update_time: bool) -> Obj:
    schema = conditions(description)
    props = schema["items"]["properties"]
    if update_time:
        props["lastUpdateTime"] = timestamp("The last time this condition was updated.")
    return schema


_SELECTOR_DOC = ("Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones "
                 "affected by this deployment. It must match the pod template's labels.")
_TEMPLATE_DOC = "Template describes the pods that will be created."
_MIN_READY_DOC = ("Minimum number of seconds for which a newly created pod should be ready without any of its "
                  "container crashing, for it to be considered available. Defaults to 0.")
_HISTORY_DOC = "The number of old history to retain to allow rollback. Defaults to 10."
_OBSERVED_GENERATION_DOC = "The generation observed by the controller."

# --------------------------------------------------------------------------- Deployment

DEPLOYMENT_SCHEMA = root(
    "Deployment enables declarative updates for Pods and ReplicaSets.",
    {
        "spec": obj("Specification of the desired behavior of the Deployment.", {
            "replicas": integer("Number of desired pods. Defaults to 1."),
            "selector": label_selector(_SELECTOR_DOC),
            "template": _pod_template(_TEMPLATE_DOC + " The only allowed template.spec.restartPolicy value is "
                                      "\"Always\"."),
            "strategy": obj("The deployment strategy to use to replace existing pods with new ones.", {
                "type": string("Type of deployment. Can be \"Recreate\" or \"RollingUpdate\". Default is "
                               "RollingUpdate.", enum=["Recreate", "RollingUpdate"]),
                "rollingUpdate": obj("Rolling update config params. Present only if DeploymentStrategyType = "
                                     "RollingUpdate.", {
                    "maxUnavailable": int_or_string("The maximum number of pods that can be unavailable during the "
                                                    "update. Value can be an absolute number (ex: 5) or a "
                                                    "percentage of desired pods (ex: 10%). Defaults to 25%."),
                    "maxSurge": int_or_string("The maximum number of pods that can be scheduled above the desired "
                                              "number of pods. Value can be an absolute number (ex: 5) or a "
                                              "percentage of desired pods (ex: 10%). Defaults to 25%."),
                }),
            }),
            "minReadySeconds": integer(_MIN_READY_DOC),
            "revisionHistoryLimit": integer(_HISTORY_DOC),
            "paused": boolean("Indicates that the deployment is paused."),
            "progressDeadlineSeconds": integer("The maximum time in seconds for a deployment to make progress before "
                                               "it is considered to be failed. Defaults to 600s."),
        }, required=("selector", "template")),
        "status": obj("Most recently observed status of the Deployment.", {
            "observedGeneration": integer(_OBSERVED_GENERATION_DOC, "int64"),
            "replicas": integer("Total number of non-terminating pods targeted by this deployment (their labels "
                                "match the selector)."),
            "updatedReplicas": integer("Total number of non-terminating pods targeted by this deployment that have "
                                       "the desired template spec."),
            "readyReplicas": integer("Total number of non-terminating pods targeted by this Deployment with a Ready "
                                     "Condition."),
            "availableReplicas": integer("Total number of available non-terminating pods (ready for at least "
                                         "minReadySeconds) targeted by this deployment."),
            "unavailableReplicas": integer("Total number of unavailable pods targeted by this deployment."),
            "terminatingReplicas": integer("Total number of terminating pods targeted by this deployment."),
            "conditions": _workload_conditions("Represents the latest available observations of a deployment's "
                                               "current state.", update_time=True),
            "collisionCount": integer("Count of hash collisions for the Deployment."),
        }),
    },
)

# --------------------------------------------------------------------------- ReplicaSet

REPLICASET_SCHEMA = root(
    "ReplicaSet ensures that a specified number of pod replicas are running at any given time.",
    {
        "spec": obj("Spec defines the specification of the desired behavior of the ReplicaSet.", {
            "replicas": integer("Replicas is the number of desired pods. Defaults to 1."),
            "minReadySeconds": integer(_MIN_READY_DOC),
            "selector": label_selector("Selector is a label query over pods that should match the replica count. "
                                       "Label keys and values that must match in order to be controlled by this "
                                       "replica set. It must match the pod template's labels."),
            "template": _pod_template("Template is the object that describes the pod that will be created if "
                                      "insufficient replicas are detected."),
        }, required=("selector",)),
        "status": obj("Status is the most recently observed status of the ReplicaSet.", {
            "replicas": integer("Replicas is the most recently observed number of non-terminating pods."),
            "fullyLabeledReplicas": integer("The number of non-terminating pods that have labels matching the labels "
                                            "of the pod template of the replicaset."),
            "readyReplicas": integer("The number of non-terminating pods targeted by this ReplicaSet with a Ready "
                                     "Condition."),
            "availableReplicas": integer("The number of available non-terminating pods (ready for at least "
                                         "minReadySeconds) for this replica set."),
            "terminatingReplicas": integer("The number of terminating pods for this replica set."),
            "observedGeneration": integer("ObservedGeneration reflects the generation of the most recently observed "
                                          "ReplicaSet.", "int64"),
            "conditions": _workload_conditions("Represents the latest available observations of a replica set's "
                                               "current state.", update_time=False),
        }, required=("replicas",)),
    },
)

# --------------------------------------------------------------------------- DaemonSet

DAEMONSET_SCHEMA = root(
    "DaemonSet represents the configuration of a daemon set.",
    {
        "spec": obj("The desired behavior of this daemon set.", {
            "selector": label_selector("A label query over pods that are managed by the daemon set. Must match in "
                                       "order to be controlled. It must match the pod template's labels."),
            "template": _pod_template("An object that describes the pod that will be created. The DaemonSet will "
                                      "create exactly one copy of this pod on every node that matches the "
                                      "template's node selector (or on every node if no node selector is "
                                      "specified). The only allowed template.spec.restartPolicy value is "
                                      "\"Always\"."),
            "updateStrategy": obj("An update strategy to replace existing DaemonSet pods with new pods.", {
                "type": string("Type of daemon set update. Can be \"RollingUpdate\" or \"OnDelete\". Default is "
                               "RollingUpdate.", enum=["OnDelete", "RollingUpdate"]),
                "rollingUpdate": obj("Rolling update config params. Present only if type = \"RollingUpdate\".", {
                    "maxUnavailable": int_or_string("The maximum number of DaemonSet pods that can be unavailable "
                                                    "during the update. Absolute number or percentage. Default "
                                                    "value is 1."),
                    "maxSurge": int_or_string("The maximum number of nodes with an existing available DaemonSet pod "
                                              "that can have an updated DaemonSet pod during an update. Default "
                                              "value is 0."),
                }),
            }),
            "minReadySeconds": integer(_MIN_READY_DOC),
            "revisionHistoryLimit": integer(_HISTORY_DOC),
        }, required=("selector", "template")),
        "status": obj("The current status of this daemon set.", {
            "currentNumberScheduled": integer("The number of nodes that are running at least 1 daemon pod and are "
                                              "supposed to run the daemon pod."),
            "numberMisscheduled": integer("The number of nodes that are running the daemon pod, but are not "
                                          "supposed to run the daemon pod."),
            "desiredNumberScheduled": integer("The total number of nodes that should be running the daemon pod "
                                              "(including nodes correctly running the daemon pod)."),
            "numberReady": integer("numberReady is the number of nodes that should be running the daemon pod and "
                                   "have one or more of the daemon pod running with a Ready Condition."),
            "observedGeneration": integer("The most recent generation observed by the daemon set controller.",
                                          "int64"),
            "updatedNumberScheduled": integer("The total number of nodes that are running updated daemon pod"),
            "numberAvailable": integer("The number of nodes that should be running the daemon pod and have one or "
                                       "more of the daemon pod running and available."),
            "numberUnavailable": integer("The number of nodes that should be running the daemon pod and have none of "
                                         "the daemon pod running and available."),
            "collisionCount": integer("Count of hash collisions for the DaemonSet."),
            "conditions": _workload_conditions("Represents the latest available observations of a DaemonSet's "
                                               "current state.", update_time=False),
        }, required=("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady")),
    },
)

# --------------------------------------------------------------------------- PodDisruptionBudget

PDB_SCHEMA = root(
    "PodDisruptionBudget is an object to define the max disruption that can be caused to a collection of pods",
    {
        "spec": obj("Specification of the desired behavior of the PodDisruptionBudget.", {
            "minAvailable": int_or_string("An eviction is allowed if at least \"minAvailable\" pods selected by "
                                          "\"selector\" will still be available after the eviction. So for example "
                                          "you can prevent all voluntary evictions by specifying \"100%\"."),
            "maxUnavailable": int_or_string("An eviction is allowed if at most \"maxUnavailable\" pods selected by "
                                            "\"selector\" are unavailable after the eviction. Mutually exclusive "
                                            "with minAvailable."),
            "selector": label_selector("Label query over pods whose evictions are managed by the disruption budget. "
                                       "A null selector will match no pods, while an empty ({}) selector will "
                                       "select all pods within the namespace."),
            "unhealthyPodEvictionPolicy": string("UnhealthyPodEvictionPolicy defines the criteria for when unhealthy "
                                                 "pods should be considered for eviction. Valid policies are "
                                                 "IfHealthyBudget and AlwaysAllow.",
                                                 enum=["AlwaysAllow", "IfHealthyBudget"]),
        }),
        "status": obj("Most recently observed status of the PodDisruptionBudget.", {
            "observedGeneration": integer("Most recent generation observed when updating this PDB status.", "int64"),
            "disruptedPods": string_map("DisruptedPods contains information about pods whose eviction was processed "
                                        "by the API server eviction subresource handler but has not yet been "
                                        "observed by the PodDisruptionBudget controller.", fmt="date-time"),
            "disruptionsAllowed": integer("Number of pod disruptions that are currently allowed."),
            "currentHealthy": integer("current number of healthy pods"),
            "desiredHealthy": integer("minimum desired number of healthy pods"),
            "expectedPods": integer("total number of pods counted by this disruption budget"),
            "conditions": conditions("Conditions contain conditions for PDB. The disruption controller sets the "
                                     "DisruptionAllowed condition."),
        }, required=("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods")),
    },
)

# --------------------------------------------------------------------------- Service

_SERVICE_PORT = obj("ServicePort contains information on service's port.", {
    "name": string("The name of this port within the service. This must be a DNS_LABEL. All ports within a "
                   "ServiceSpec must have unique names. Optional if only one ServicePort is defined on this service."),
    "protocol": string("The IP protocol for this port. Supports \"TCP\", \"UDP\", and \"SCTP\". Default is TCP.",
                       enum=["SCTP", "TCP", "UDP"]),
    "appProtocol": string("The application protocol for this port."),
    "port": integer("The port that will be exposed by this service."),
    "targetPort": int_or_string("Number or name of the port to access on the pods targeted by the service. "
                                "Defaults to the value of the 'port' field."),
    "nodePort": integer("The port on each node on which this service is exposed when type is NodePort or "
                        "LoadBalancer. Usually assigned by the system."),
}, required=("port",))

SERVICE_SCHEMA = root(
    "Service is a named abstraction of software service (for example, mysql) consisting of local port (for example "
    "3306) that the proxy listens on, and the selector that determines which pods will answer requests sent "
    "through the proxy.",
    {
        "spec": obj("Spec defines the behavior of a service.", {
            "ports": array("The list of ports that are exposed by this service.", _SERVICE_PORT,
                           map_keys=("port", "protocol")),
            "selector": string_map("Route service traffic to pods with label keys and values matching this "
                                   "selector."),
            "clusterIP": string("clusterIP is the IP address of the service and is usually assigned randomly. "
                                "\"None\" makes a headless service. Cannot be changed once set."),
            "clusterIPs": string_list("ClusterIPs is a list of IP addresses assigned to this service; the first one "
                                      "is clusterIP."),
            "type": string("type determines how the Service is exposed. Defaults to ClusterIP.",
                           enum=["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]),
            "externalIPs": string_list("externalIPs is a list of IP addresses for which nodes in the cluster will "
                                       "also accept traffic for this service."),
            "sessionAffinity": string("Supports \"ClientIP\" and \"None\". Defaults to None.",
                                      enum=["ClientIP", "None"]),
            "loadBalancerIP": string("Only applies to Service Type: LoadBalancer. Deprecated."),
            "loadBalancerSourceRanges": string_list("If specified and supported by the platform, this will restrict "
                                                    "traffic through the cloud-provider load-balancer."),
            "externalName": string("externalName is the external reference that discovery mechanisms will return as "
                                   "an alias for this service (a DNS CNAME record). Requires type ExternalName."),
            "externalTrafficPolicy": string("externalTrafficPolicy describes how nodes distribute service traffic "
                                            "they receive on externally-facing addresses.",
                                            enum=["Cluster", "Local"]),
            "healthCheckNodePort": integer("healthCheckNodePort specifies the healthcheck nodePort for the "
                                           "service."),
            "publishNotReadyAddresses": boolean("publishNotReadyAddresses indicates that any agent which deals with "
                                                "endpoints for this Service should disregard any indications of "
                                                "ready/not-ready."),
            "sessionAffinityConfig": free_object("sessionAffinityConfig contains the configurations of session "
                                                 "affinity."),
            "ipFamilies": string_list("IPFamilies is a list of IP families (e.g. IPv4, IPv6) assigned to this "
                                      "service."),
            "ipFamilyPolicy": string("IPFamilyPolicy represents the dual-stack-ness requested or required by this "
                                     "Service.", enum=["PreferDualStack", "RequireDualStack", "SingleStack"]),
            "allocateLoadBalancerNodePorts": boolean("allocateLoadBalancerNodePorts defines if NodePorts will be "
                                                     "automatically allocated for services with type LoadBalancer. "
                                                     "Default is \"true\"."),
            "loadBalancerClass": string("loadBalancerClass is the class of the load balancer implementation this "
                                        "Service belongs to."),
            "internalTrafficPolicy": string("InternalTrafficPolicy describes how nodes distribute service traffic "
                                            "they receive on the ClusterIP.", enum=["Cluster", "Local"]),
            "trafficDistribution": string("TrafficDistribution offers a way to express preferences for how traffic "
                                          "is distributed to Service endpoints."),
        }),
        "status": obj("Most recently observed status of the service.", {
            "loadBalancer": obj("LoadBalancer contains the current status of the load-balancer, if one is present.", {
                "ingress": array("Ingress is a list containing ingress points for the load-balancer.", obj(
                    "LoadBalancerIngress represents the status of a load-balancer ingress point.", {
                        "ip": string("IP is set for load-balancer ingress points that are IP based."),
                        "hostname": string("Hostname is set for load-balancer ingress points that are DNS based."),
                        "ipMode": string("IPMode specifies how the load-balancer IP behaves."),
                        "ports": array("Ports is a list of records of service ports.", free_object(
                            "PortStatus represents the error condition of a service port"), list_type="atomic"),
                    }), list_type="atomic"),
            }),
            "conditions": conditions("Current service state"),
        }),
    },
)

# --------------------------------------------------------------------------- resources


def _template_hints() -> dict[str, tuple[str, str]]:
    return {**META_HINTS, **pod_spec_hints("spec.template.spec"), "status.conditions": ("merge", "type")}


#: `/scale` of Deployments and ReplicaSets: autoscaling/v1 Scale with the selector as a string (kube computes it
#: from spec.selector; `label_selector_path` names that object and `rest.scale_of` renders it).
_REPLICAS_SCALE = ScaleSpec(spec_replicas_path=".spec.replicas", status_replicas_path=".status.replicas",
                            label_selector_path=".spec.selector")

WORKLOAD_KINDS: tuple[ResourceInfo, ...] = (
    ResourceInfo(
        group="apps", version="v1", kind="Deployment", plural="deployments", singular="deployment", namespaced=True,
        short_names=("deploy",), categories=("all",), schema=DEPLOYMENT_SCHEMA, status_subresource=True,
        scale=_REPLICAS_SCALE, printer_columns=DEPLOYMENT_COLUMNS, builtin=True, track_generation=True,
        smp_hints=_template_hints(),
    ),
    ResourceInfo(
        group="apps", version="v1", kind="ReplicaSet", plural="replicasets", singular="replicaset", namespaced=True,
        short_names=("rs",), categories=("all",), schema=REPLICASET_SCHEMA, status_subresource=True,
        scale=_REPLICAS_SCALE, printer_columns=REPLICASET_COLUMNS, builtin=True, track_generation=True,
        smp_hints=_template_hints(),
    ),
    ResourceInfo(
        group="apps", version="v1", kind="DaemonSet", plural="daemonsets", singular="daemonset", namespaced=True,
        short_names=("ds",), categories=("all",), schema=DAEMONSET_SCHEMA, status_subresource=True,
        printer_columns=DAEMONSET_COLUMNS, builtin=True, track_generation=True, smp_hints=_template_hints(),
    ),
    ResourceInfo(
        group="policy", version="v1", kind="PodDisruptionBudget", plural="poddisruptionbudgets",
        singular="poddisruptionbudget", namespaced=True, short_names=("pdb",), schema=PDB_SCHEMA,
        status_subresource=True, printer_columns=PDB_COLUMNS, builtin=True, track_generation=True,
        smp_hints={**META_HINTS, "status.conditions": ("merge", "type")},
    ),
    ResourceInfo(
        group="", version="v1", kind="Service", plural="services", singular="service", namespaced=True,
        short_names=("svc",), categories=("all",), schema=SERVICE_SCHEMA, status_subresource=True,
        printer_columns=SERVICE_COLUMNS, builtin=True, track_generation=False,
        smp_hints={**META_HINTS, "spec.ports": ("merge", "port"), "status.conditions": ("merge", "type")},
        # kube's Service registry: clusterIP and type are selectable besides name and namespace.
        field_selectors=frozenset({"spec.clusterIP", "spec.type"}),
    ),
)
