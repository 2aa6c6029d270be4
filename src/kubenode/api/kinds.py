"""The KubeNode kinds: names, printer columns and OpenAPI v3 schemas (DESIGN.md, "API contract").

Eight kinds per cluster, two more (Cluster, ComponentRelease) on a management cluster.

The schemas are the first line of "fail closed": anything the operators or the
agent would misread (an unknown action, a checksum-less download, a command
path outside the component directory) is rejected by the API server with
`422 Invalid` and a field path before any controller sees it. What a
structural schema cannot say is listed in `crds.SERVER_SIDE_CHECKS`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from . import constants as c
from .loader_env import cel_rule as loader_env_rule
from .schema_parts import (
    ARCHIVE_URL,
    COMPONENT_VERSION,
    CRON_SCHEDULE,
    DNS_LABEL,
    ENV_NAME,
    PACKAGE_NAME,
    PACKAGE_VERSION,
    PERCENT_0_100,
    PERCENT_1_100,
    QUALIFIED_NAME,
    RELATIVE_PATH,
    SAFE_COMMAND_ELEMENT,
    SCRIPT_NAME,
    SHA256_HEX,
    WINDOW,
    Schema,
    array,
    boolean,
    conditions,
    free_object,
    int32,
    int_or_string,
    integer,
    label_selector,
    local_ref,
    map_list,
    name_field,
    obj,
    observed_generation,
    secret_ref,
    string,
    string_map,
    string_set,
    taints,
    timestamp,
)

__all__ = ["KINDS", "KindSpec", "PrinterColumn", "kind_spec"]


@dataclass(frozen=True)
class PrinterColumn:
    """One `additionalPrinterColumns` entry (`kubectl get` output)."""

    name: str
    type: str  # string | integer | number | boolean | date
    json_path: str
    description: str
    priority: int = 0  # 1 = only with `-o wide`

    def to_dict(self) -> dict[str, Any]:
        """The CRD form of the column."""
        d: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path,
                             "description": self.description}
        if self.priority:
            d["priority"] = self.priority
        return d


AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp",
                    "Time since the object was created.")


@dataclass(frozen=True)
class KindSpec:
    """Everything needed to render one kind's CustomResourceDefinition."""

    kind: str
    plural: str
    singular: str
    short_name: str
    description: str
    spec: Schema
    status: Schema
    printer_columns: tuple[PrinterColumn, ...]
    scale: bool = False
    categories: tuple[str, ...] = field(default=("kubenode",))

    @property
    def schema(self) -> Schema:
        """The version's openAPIV3Schema (root object with apiVersion, kind, metadata, spec, status)."""
        return {
            "type": "object",
            "description": self.description,
            "required": ["spec"],
            "properties": {
                "apiVersion": string("APIVersion defines the versioned schema of this representation of an "
                                     "object (kubenode.io/v1alpha1)."),
                "kind": string(f"Kind is the REST resource this object represents ({self.kind})."),
                "metadata": {"type": "object"},
                "spec": self.spec,
                "status": self.status,
            },
        }


# --------------------------------------------------------------------------- shared sub-schemas


def _machine_spec() -> Schema:
    import_ = obj("Adopt an existing host over SSH instead of provisioning one.", {
        "address": string("Host name or IP address to connect to.", minLength=1, maxLength=253),
        "port": int32("SSH port.", minimum=1, maximum=65535, default=22),
        "user": string("SSH user (needs root or passwordless sudo to install the agent).", minLength=1,
                       maxLength=64, default="root"),
        "sshSecretRef": secret_ref("Secret with the SSH private key (key `ssh-privatekey`, as for "
                                   "kubernetes.io/ssh-auth Secrets)."),
    }, required=["address"])
    s = obj("Desired state of the machine (one node).", {
        "providerRef": local_ref("The InfraProvider that provisions (or imported) this machine.", "InfraProvider"),
        "providerSpec": free_object("Provider-specific settings (image, size, zone, ...); the InfraProvider "
                                    "type defines the fields."),
        "providerID": string("The provider's identifier for the host, set once it exists (also on the "
                             "Node's spec.providerID).", maxLength=512),
        "import": import_,
        "nodeName": name_field("Name of the Node this machine registers as (default: the machine's name).",
                               subdomain=True),
        "nodeLabels": string_map("Labels the Machine Operator keeps on the Node (other labels are left "
                                 "alone)."),
        "nodeTaints": taints("Taints the Machine Operator keeps on the Node."),
        # No default: unset means "not managed by the Machine", so a human cordon (or a remediation's Cordon)
        # is not undone by the node sync.
        "unschedulable": boolean("Cordon (true) or uncordon (false) the Node; unset leaves its schedulability "
                                 "to others (kubectl cordon, remediation)."),
        "nodeDrainTimeoutSeconds": int32("On deletion: how long the drain may wait for pods to leave before the "
                                         "machine is deleted anyway (unset: wait as long as it takes, as Cluster "
                                         "API does; an Event names what blocks it).", minimum=0),
    })
    # A machine comes from somewhere: a provider that creates it, or an import of an existing host.
    s["anyOf"] = [{"required": ["providerRef"]}, {"required": ["import"]}]
    # ...but not both: the operator would silently import and ignore the provider.
    s["x-kubernetes-validations"] = [{
        "rule": "!(has(self.providerRef) && has(self.import))",
        "message": "set either providerRef (provision a machine) or import (adopt an existing host), not both",
    }]
    return s


def _exec_command(description: str) -> Schema:
    return array(
        description + " No shell is involved. Every element is checked (a schema cannot single out the "
        "first): none may start with '/' or contain a '..' path segment, so pass outside paths as "
        "'--flag=/path'.",
        string("A command element.", pattern=SAFE_COMMAND_ELEMENT, minLength=1, maxLength=4096),
        minItems=1, x_kubernetes_list_type="atomic")


def _source() -> Schema:
    s = obj("Where the component comes from: exactly one of `url` (an archive, with its `sha256`) or "
            "`package` (apt/yum on real hosts).", {
        "url": string("Archive (tar.gz) to download: http(s):// or file://.", pattern=ARCHIVE_URL,
                      maxLength=4096),
        "sha256": string("Lower-case hex SHA-256 of the archive; mandatory with url. A mismatch installs "
                         "nothing.", pattern=SHA256_HEX),
        "package": obj("A distribution package installed with the host's package manager.", {
            "name": string("Package name.", pattern=PACKAGE_NAME, maxLength=253),
            "version": string("Package version; globs such as 1.7.* are allowed.", pattern=PACKAGE_VERSION,
                              maxLength=128),
        }, required=["name"]),
    })
    s["oneOf"] = [{"required": ["url", "sha256"]}, {"required": ["package"]}]
    s["not"] = {"anyOf": [{"required": ["url", "package"]}, {"required": ["sha256", "package"]}]}
    return s


def _health_check() -> Schema:
    host = string("Address to probe.", minLength=1, maxLength=253, default="127.0.0.1")
    port = int32("Port to probe.", minimum=1, maximum=65535)
    s = obj("How the agent decides the component is healthy: exactly one of exec, http or tcp.", {
        "exec": obj("Run a program from the component directory; exit code 0 means healthy.", {
            "command": _exec_command("Program and arguments, relative to the component directory."),
        }, required=["command"]),
        "http": obj("HTTP GET; a 2xx or 3xx answer means healthy.", {
            "host": host,
            "port": port,
            "path": string("Request path.", default="/", maxLength=2048),
            "scheme": string("HTTP or HTTPS (certificates are not verified).", enum=["HTTP", "HTTPS"],
                             default="HTTP"),
        }, required=["port"]),
        "tcp": obj("TCP connect; an accepted connection means healthy.", {
            "host": string("Address to probe.", minLength=1, maxLength=253, default="127.0.0.1"),
            "port": int32("Port to probe.", minimum=1, maximum=65535),
        }, required=["port"]),
        "initialDelaySeconds": int32("Seconds after (re)start before the first probe.", minimum=0, default=0),
        "periodSeconds": int32("Seconds between probes.", minimum=1, default=5),
        "timeoutSeconds": int32("Seconds before a probe counts as failed.", minimum=1, default=5),
        "failureThreshold": int32("Consecutive failed probes before the component is unhealthy.", minimum=1,
                                  default=3),
    })
    s["oneOf"] = [{"required": ["exec"]}, {"required": ["http"]}, {"required": ["tcp"]}]
    return s


def _component_template_props() -> dict[str, Schema]:
    """Fields of a component template (MachineComponentSet.spec.template, MachineComponent.spec)."""
    return {
        "version": string("Component version; also the name of its directory on the node.",
                          pattern=COMPONENT_VERSION, minLength=1, maxLength=128),
        "source": _source(),
        "run": obj("Run the component as a service supervised by the agent (omit for files-only "
                   "components).", {
            "command": _exec_command("Program and arguments; the program is a path inside the unpacked "
                                     "archive."),
            "env": map_list("Environment variables of the process.", obj("One environment variable.", {
                "name": string("Variable name. Names that change how programs load (LD_*, BASH_ENV, "
                               "PYTHONPATH, NODE_OPTIONS, ...) are refused.", pattern=ENV_NAME, minLength=1,
                               maxLength=256, x_kubernetes_validations=[{
                                   "rule": loader_env_rule(), "reason": "FieldValueForbidden",
                                   "message": "this variable changes how programs load or what code they run "
                                              "first, so a component may not set it"}]),
                "value": string("Variable value.", default="", maxLength=32768),
            }, required=["name"])),
        }, required=["command"]),
        "healthCheck": _health_check(),
        "files": map_list("Files written into the component directory before it starts.", obj(
            "One file.", {
                "path": string("Path relative to the component directory, in normal form (no leading '/', "
                               "no '.', '..' or empty segments).", pattern=RELATIVE_PATH, minLength=1,
                               maxLength=1024, x_kubernetes_validations=[{
                                   "rule": "!self.split('/').exists(seg, seg == '.' || seg == '')",
                                   "message": "must be a normalised path: write 'bin/run', not './bin/run' or "
                                              "'bin/./run'"}]),
                "content": string("File content (UTF-8 text).", maxLength=1048576),
                "mode": int32("Permission bits (decimal in JSON: 420 = 0644); never world-writable, never "
                              "set-user/group-ID.", minimum=0, maximum=511, default=420,
                              x_kubernetes_validations=[{
                                  "rule": "(self / 2) % 2 == 0", "reason": "FieldValueForbidden",
                                  "message": "files may not be world-writable (mode & 0o002)"}]),
            }, required=["path", "content"]), key="path"),
        "disruption": string("What changing this component does to the node: None, Restart (the "
                             "component), Drain (drain the node around the change) or Reboot.",
                             enum=c.DISRUPTIONS, default=c.DISRUPTION_NONE),
    }


def _component_template(description: str) -> Schema:
    return obj(description, _component_template_props(), required=["version", "source"])


def _remediation_action(description: str) -> Schema:
    s = obj(description, {
        "type": string("The action. Agent-side: RestartComponent, Reboot, RunScript; controller-side: Cordon, "
                       "Uncordon, Drain (Eviction API), Replace (delete the Machine so its MachineSet "
                       "replaces it).", enum=c.REMEDIATION_ACTIONS),
        "component": name_field("Component to restart (RestartComponent only)."),
        "script": string("Name of a node-local script in the agent's allowlisted directory (RunScript "
                         "only). Never a command: commands are not taken from custom resources.",
                         pattern=SCRIPT_NAME, maxLength=253),
        "timeoutSeconds": int32("Seconds the action may take before the job times out and the ladder "
                                "escalates.", minimum=1, default=300),
        "verifySeconds": int32("After the action succeeded: how long the node may stay unhealthy before the "
                               "ladder escalates to the next action (unset: the rule's cooldownSeconds, at "
                               "most 30).", minimum=0),
    }, required=["type"])
    # "component is required for RestartComponent", "script for RunScript": either the field is set, or the
    # type is something else. The required branch comes first so that its error is the one reported.
    s["allOf"] = [
        {"anyOf": [{"required": ["component"]},
                   {"properties": {"type": {"not": {"enum": [c.ACTION_RESTART_COMPONENT]}}}}]},
        {"anyOf": [{"required": ["script"]},
                   {"properties": {"type": {"not": {"enum": [c.ACTION_RUN_SCRIPT]}}}}]},
    ]
    return s


# --------------------------------------------------------------------------- InfraProvider

INFRA_PROVIDER = KindSpec(
    kind=c.KIND_INFRA_PROVIDER, plural="infraproviders", singular="infraprovider", short_name="ip",
    description="An InfraProvider says how machines are provisioned (local processes, SSH import, a cloud "
                "through libcloud, ...).",
    spec=obj("Desired state of the provider.", {
        "type": string("Provider implementation: local, ssh, libcloud, aliyun, existing (adopt the Nodes "
                       "spec.parameters.nodeSelector picks), ...", pattern=DNS_LABEL, minLength=1,
                       maxLength=63),
        "parameters": free_object("Provider-type-specific parameters (e.g. libcloud driver, region)."),
        "credentialsSecretRef": secret_ref("Secret holding the provider's credentials."),
    }, required=["type"]),
    status=obj("Observed state of the provider.", {
        "observedGeneration": observed_generation(),
        "conditions": conditions("Ready (the provider is configured and reachable)."),
        "machines": int32("Machines that reference this provider.", minimum=0),
    }),
    printer_columns=(
        PrinterColumn("Type", "string", ".spec.type", "Provider implementation."),
        AGE,
    ),
)

# --------------------------------------------------------------------------- Machine

MACHINE = KindSpec(
    kind=c.KIND_MACHINE, plural="machines", singular="machine", short_name="ma",
    description="A Machine is one node: provisioned by an InfraProvider or imported, joined, labelled, "
                "drained and deleted by the Machine Operator.",
    spec=_machine_spec(),
    status=obj("Observed state of the machine.", {
        "phase": string("Coarse lifecycle summary; decide on conditions, not on the phase.",
                        enum=c.MACHINE_PHASES),
        "observedGeneration": observed_generation(),
        "providerID": string("The provider's identifier for the host, as observed.", maxLength=512),
        "nodeRef": obj("The Node this machine became (an ObjectReference).", {
            "apiVersion": string("API version of the referent (v1).", maxLength=64),
            "kind": string("Kind of the referent (Node).", maxLength=64),
            "name": string("Node name.", maxLength=253),
            "uid": string("Node UID.", maxLength=64),
        }, required=["name"]),
        "addresses": array("Addresses of the host.", obj("One address.", {
            "type": string("Address type.", enum=["Hostname", "ExternalIP", "InternalIP", "ExternalDNS",
                                                 "InternalDNS"]),
            "address": string("The address.", maxLength=253),
        }, required=["type", "address"]), x_kubernetes_list_type="atomic"),
        "agent": obj("The KubeNode agent on the machine.", {
            "version": string("Agent version.", maxLength=128),
            "lastHeartbeatTime": timestamp("When the agent last reported."),
            "heartbeatSeconds": integer("How often the agent reports (seconds); the Machine controller "
                                        "waits four periods, or its agent grace if longer, before "
                                        "AgentConnected turns Unknown.", minimum=1, maximum=86400),
            "bootID": string("Boot ID of the host; a change means it rebooted.", maxLength=128),
            "nodeName": string("Node name the agent registers and reports for.", maxLength=253),
            "metricsEndpoint": string("URL of the agent's Prometheus endpoint (node, problem and agent "
                                      "metrics), e.g. http://10.0.0.5:9102/metrics.", maxLength=2048,
                                      pattern="^https?://"),
        }),
        "conditions": conditions("InfrastructureReady, AgentConnected, NodeReady, NodeSynced, "
                                 "ComponentsReady, Ready."),
        "failureReason": string("Set when the machine failed terminally: a CamelCase reason.", maxLength=256),
        "failureMessage": string("Set when the machine failed terminally: what happened.", maxLength=32768),
    }),
    printer_columns=(
        PrinterColumn("Phase", "string", ".status.phase", "Lifecycle phase."),
        PrinterColumn("Node", "string", ".status.nodeRef.name", "Node this machine became."),
        PrinterColumn("Provider", "string", ".spec.providerRef.name", "InfraProvider of the machine."),
        PrinterColumn("Agent", "string", ".status.agent.version", "Agent version.", priority=1),
        PrinterColumn("ProviderID", "string", ".spec.providerID", "Provider's host identifier.", priority=1),
        AGE,
    ),
)

# --------------------------------------------------------------------------- MachineSet

MACHINE_SET = KindSpec(
    kind=c.KIND_MACHINE_SET, plural="machinesets", singular="machineset", short_name="ms",
    description="A MachineSet keeps a number of identical Machines; scale it with `kubectl scale`.",
    spec=obj("Desired state of the set.", {
        "replicas": int32("Number of machines.", minimum=0, default=1),
        "selector": label_selector("Machines that belong to the set; must match the template's labels."),
        "template": obj("Template of the machines the set creates.", {
            "metadata": obj("Labels and annotations of new machines.", {
                "labels": string_map("Labels of new machines (must match the selector)."),
                "annotations": string_map("Annotations of new machines."),
            }),
            "spec": _machine_spec(),
        }, required=["spec"]),
        "deletePolicy": string("Which machines go first on scale-down (after kubenode.io/delete-machine "
                               "annotated and unhealthy ones): Random, Newest or Oldest.",
                               enum=c.DELETE_POLICIES, default=c.DELETE_POLICY_RANDOM),
    }, required=["selector", "template"]),
    status=obj("Observed state of the set.", {
        "replicas": int32("Machines that exist (not being deleted).", minimum=0),
        "readyReplicas": int32("Machines whose Ready condition is True.", minimum=0),
        "availableReplicas": int32("Machines that are Running.", minimum=0),
        "selector": string("The selector in string form (for the scale subresource and HPA).",
                           maxLength=4096),
        "observedGeneration": observed_generation(),
        "conditions": conditions("MachinesCreated, MachinesReady, Resized."),
    }),
    printer_columns=(
        PrinterColumn("Desired", "integer", ".spec.replicas", "Desired number of machines."),
        PrinterColumn("Current", "integer", ".status.replicas", "Machines that exist."),
        PrinterColumn("Ready", "integer", ".status.readyReplicas", "Machines that are Ready."),
        AGE,
    ),
    scale=True,
)

# --------------------------------------------------------------------------- MachineComponentSet

_ROLLING_UPDATE = obj("Batched rollout with health gates. Percentages are of the selected machines and round "
                      "UP, minimum 1 machine.", {
    "batches": array(
        "Batch sizes in order, integers or percentages (e.g. [1, 5, \"10%\"]); the last size repeats. "
        "Default: one canary machine, then 10% at a time.",
        int_or_string("A batch size: a count (>= 1) or a percentage (1%-100%).", pattern=PERCENT_1_100,
                      minimum=1),
        minItems=1, x_kubernetes_list_type="atomic", default=[1, "10%"]),
    "maxUnavailable": int_or_string("At most this many selected machines may be unavailable at once "
                                    "(count >= 1 or 1%-100%); unset: only the batch size limits it.",
                                    pattern=PERCENT_1_100, minimum=1),
    "batchSoakSeconds": int32("Seconds a finished batch must stay healthy before the next one starts.",
                              minimum=0, default=0),
    "maxFailures": int_or_string("Failed machines tolerated (count or percentage) before the rollout "
                                 "stops; 0 = the first failure stops it.", pattern=PERCENT_0_100, minimum=0,
                                 default=0),
    "pauseAfterBatches": array("Batch numbers (1-based) after which the rollout pauses for approval "
                               "(`kubenode rollout resume`).", int32("A batch number.", minimum=1),
                               x_kubernetes_list_type="set"),
    "rollbackOnFailure": boolean("When the rollout fails, roll the updated machines back to the previous "
                                 "revision.", default=False),
}, default={})

MACHINE_COMPONENT_SET = KindSpec(
    kind=c.KIND_MACHINE_COMPONENT_SET, plural="machinecomponentsets", singular="machinecomponentset",
    short_name="mcs",
    description="A MachineComponentSet rolls one component (kubelet, container runtime, an agent, ...) out "
                "to the machines its selector matches, in batches with health gates.",
    spec=obj("Desired state of the component across machines.", {
        "component": name_field("Component name (one MachineComponentSet per component and machine)."),
        "selector": label_selector("Machines (by their labels) that run the component; {} selects all."),
        "template": _component_template("The component version and how to install, run and check it; "
                                        "copied into each MachineComponent's spec."),
        "updateStrategy": obj("How a changed template reaches the machines.", {
            "type": string("RollingUpdate (batches, health gates) or OnDelete (only when a MachineComponent "
                           "is deleted).", enum=c.UPDATE_STRATEGIES, default=c.UPDATE_STRATEGY_ROLLING_UPDATE),
            "rollingUpdate": _ROLLING_UPDATE,
        }, default={}),
        "paused": boolean("Stop starting new batches (machines already updating finish).", default=False),
        "revisionHistoryLimit": int32("Old revisions kept in status for `kubenode rollout undo`.", minimum=0,
                                      default=10),
    }, required=["component", "selector", "template"]),
    status=obj("Observed state of the rollout.", {
        "observedGeneration": observed_generation(),
        "phase": string("Progressing, Paused, Completed, Failed or RollingBack.", enum=c.ROLLOUT_PHASES),
        "currentRevision": string("Revision (template hash) the rollout started from.", maxLength=64),
        "updateRevision": string("Revision (template hash) being rolled out.", maxLength=64),
        "revisions": map_list("Known revisions, newest last (for `kubenode rollout undo`).", obj(
            "One revision of the template.", {
                "name": string("Revision name (template hash).", minLength=1, maxLength=64),
                "revision": integer("Increasing revision number.", minimum=1),
                "version": string("Component version of the revision.", maxLength=128),
                "createdAt": timestamp("When the revision was first seen."),
                "template": _component_template("The template of the revision."),
            }, required=["name"])),
        "desired": int32("Machines the selector matches.", minimum=0),
        "updated": int32("Machines whose component is at the update revision.", minimum=0),
        "ready": int32("Updated machines whose component is Running and healthy.", minimum=0),
        "failed": int32("Machines whose component failed at the update revision.", minimum=0),
        "unavailable": int32("Machines whose component is not Running and healthy.", minimum=0),
        "currentBatch": int32("Number (1-based) of the batch in progress; 0 before the first.", minimum=0),
        "totalBatches": int32("Batches the rollout needs in all.", minimum=0),
        "batchStartTime": timestamp("When the current batch started."),
        "batchReadyTime": timestamp("When every machine of the last batch was first seen Running and healthy "
                                    "at the update revision; batchSoakSeconds counts from here."),
        "batchOperation": string("The Defender operation id (ComponentUpgrade) of the batch in flight; it is "
                                 "reported finished once the batch is no longer in flight.", maxLength=1024),
        "failedMachines": map_list("Machines whose update failed, with the reason.", obj("One failed machine.", {
            "name": string("Machine name.", minLength=1, maxLength=253),
            "message": string("What failed.", maxLength=32768),
        }, required=["name"])),
        "message": string("Human-readable summary of the rollout.", maxLength=32768),
        "conditions": conditions("Progressing, Available, Degraded, Paused, RolloutAllowed."),
    }),
    printer_columns=(
        PrinterColumn("Component", "string", ".spec.component", "Component name."),
        PrinterColumn("Version", "string", ".spec.template.version", "Desired version."),
        PrinterColumn("Phase", "string", ".status.phase", "Rollout phase."),
        PrinterColumn("Desired", "integer", ".status.desired", "Selected machines.", priority=1),
        PrinterColumn("Updated", "integer", ".status.updated", "Machines at the desired version."),
        PrinterColumn("Ready", "integer", ".status.ready", "Updated machines that are healthy."),
        PrinterColumn("Failed", "integer", ".status.failed", "Machines whose update failed."),
        PrinterColumn("Batch", "integer", ".status.currentBatch", "Batch in progress.", priority=1),
        AGE,
    ),
)

# --------------------------------------------------------------------------- MachineComponent

_MC_SPEC = obj("One component on one machine, copied from its MachineComponentSet's template.", {
    "machineName": name_field("The Machine the component runs on (immutable).", subdomain=True),
    "nodeName": name_field("The Node of that Machine (its spec.nodeName, or its name), immutable. The "
                           "node-isolation policy lets only this node's agent write the component's status.",
                           subdomain=True),
    "component": name_field("Component name."),
    "revision": string("Template revision (hash) of the owning MachineComponentSet.", maxLength=64),
    **_component_template_props(),
}, required=["machineName", "component", "version", "source"], x_kubernetes_validations=[
    {"rule": "self.machineName == oldSelf.machineName", "message": "machineName is immutable"},
    # Objects created before nodeName existed get it once.
    {"rule": "!has(oldSelf.nodeName) || has(self.nodeName) && self.nodeName == oldSelf.nodeName",
     "message": "nodeName is immutable"},
])

MACHINE_COMPONENT = KindSpec(
    kind=c.KIND_MACHINE_COMPONENT, plural="machinecomponents", singular="machinecomponent", short_name="mc",
    description="A MachineComponent is one component on one machine; the machine's agent installs it and "
                "reports its state.",
    spec=_MC_SPEC,
    status=obj("Observed state, reported by the agent.", {
        "phase": string("Pending, Installing, Running, Failed or Removing.", enum=c.COMPONENT_PHASES),
        "installedVersion": string("Version currently installed.", maxLength=128),
        "installedRevision": string("Template revision currently installed.", maxLength=64),
        "healthy": boolean("Result of the health check (true when there is none and the process runs)."),
        "restartCount": int32("Times the agent restarted the component's process.", minimum=0),
        "lastHealthyTime": timestamp("When the component was last seen healthy."),
        "message": string("Human-readable state, e.g. why the install failed.", maxLength=32768),
        "observedGeneration": observed_generation(),
        "conditions": conditions("Installed, Healthy, Drifted (installed files differ from the verified "
                                 "artifact)."),
    }),
    printer_columns=(
        PrinterColumn("Machine", "string", ".spec.machineName", "Machine the component runs on."),
        PrinterColumn("Component", "string", ".spec.component", "Component name."),
        PrinterColumn("Version", "string", ".status.installedVersion", "Installed version."),
        PrinterColumn("Desired", "string", ".spec.version", "Desired version.", priority=1),
        PrinterColumn("Phase", "string", ".status.phase", "Install phase."),
        PrinterColumn("Healthy", "boolean", ".status.healthy", "Health check result."),
        AGE,
    ),
)

# --------------------------------------------------------------------------- NodeRemedier

_REMEDY_RULE = obj("One remediation rule: when any of its conditions holds long enough, climb its action "
                   "ladder.", {
    "name": name_field("Rule name (unique within the remedier)."),
    "conditions": array("Node conditions, OR-ed: any one of them makes the node unhealthy for this rule.", obj(
        "A Node condition in a given status.", {
            "type": string("Node condition type (e.g. Ready, KernelDeadlock).",
                           pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$", maxLength=316),
            "status": string("The unhealthy status: True, False or Unknown.", enum=c.CONDITION_STATUSES),
            "forSeconds": int32("How long the condition must have had this status.", minimum=0, default=300),
        }, required=["type", "status"]), minItems=1, x_kubernetes_list_type="atomic"),
    "actions": array("Escalation ladder: the next action runs when the previous one failed, timed out or "
                     "did not make the node healthy.", _remediation_action("One remediation step."),
                     minItems=1, x_kubernetes_list_type="atomic"),
    "cooldownSeconds": int32("Seconds after the last step of the ladder before it starts over on the same "
                             "node (a new attempt); it also caps a step's default verification window.",
                             minimum=0, default=300),
    "maxAttempts": int32("Ladder climbs per node before the rule gives up (a human must look).", minimum=1,
                         default=3),
    "healthyDelaySeconds": int32("How long a remediated node must stay healthy before its ladder counts as "
                                 "recovered and starts over (unset: the operator's default, 60).", minimum=0),
}, required=["name", "conditions", "actions"])

NODE_REMEDIER = KindSpec(
    kind=c.KIND_NODE_REMEDIER, plural="noderemediers", singular="noderemedier", short_name="nr",
    description="A NodeRemedier turns unhealthy node conditions into RemedyOperationJobs that escalate "
                "(restart a component, reboot, replace), throttled by DefenderPolicies.",
    spec=obj("Desired remediation behaviour.", {
        "selector": label_selector("Nodes (by their labels) this remedier watches; {} selects all."),
        "rules": map_list("Remediation rules.", _REMEDY_RULE, minItems=1),
        "paused": boolean("Create no new jobs (running ones finish).", default=False),
        "dryRun": boolean("Create jobs that record what would be done, without doing it.", default=False),
    }, required=["rules"]),
    status=obj("Observed state of the remedier.", {
        "observedGeneration": observed_generation(),
        "matchedNodes": int32("Nodes the selector matches.", minimum=0),
        "unhealthyNodes": int32("Matched nodes that some rule considers unhealthy.", minimum=0),
        "activeJobs": int32("RemedyOperationJobs not yet finished.", minimum=0),
        "lastJobTime": timestamp("When the last job was created."),
        "conditions": conditions("RemediationAllowed, Paused."),
    }),
    printer_columns=(
        PrinterColumn("Paused", "boolean", ".spec.paused", "No new jobs."),
        PrinterColumn("DryRun", "boolean", ".spec.dryRun", "Jobs only record what would be done."),
        PrinterColumn("Unhealthy", "integer", ".status.unhealthyNodes", "Unhealthy matched nodes.", priority=1),
        PrinterColumn("Active", "integer", ".status.activeJobs", "Jobs in progress.", priority=1),
        AGE,
    ),
)

# --------------------------------------------------------------------------- RemedyOperationJob

REMEDY_OPERATION_JOB = KindSpec(
    kind=c.KIND_REMEDY_OPERATION_JOB, plural="remedyoperationjobs", singular="remedyoperationjob",
    short_name="roj",
    description="A RemedyOperationJob is one remediation step on one node, approved or denied by the "
                "Defender before it runs.",
    spec=obj("The step to perform.", {
        "nodeName": name_field("The node to remediate.", subdomain=True),
        "machineName": name_field("The Machine of the node, when it has one.", subdomain=True),
        "remedier": name_field("The NodeRemedier that created the job.", subdomain=True),
        "rule": name_field("The remedier rule that fired."),
        "step": int32("Position (0-based) of the action in the rule's ladder.", minimum=0, default=0),
        "attempt": int32("Ladder climb (1-based) this step belongs to.", minimum=1, default=1),
        "action": _remediation_action("The action to perform."),
        "reason": string("Why the job exists, e.g. 'KernelDeadlock=True for 312s'.", maxLength=32768),
        "dryRun": boolean("Record the decision, do nothing.", default=False),
    }, required=["nodeName", "remedier", "rule", "action"], x_kubernetes_validations=[
        {"rule": "self.nodeName == oldSelf.nodeName", "message": "nodeName is immutable"},
        {"rule": "has(self.machineName) == has(oldSelf.machineName) && (!has(self.machineName) || "
                 "self.machineName == oldSelf.machineName)", "message": "machineName is immutable"},
    ]),
    status=obj("Progress of the step.", {
        "phase": string("Pending, Approved, Denied, Running, Succeeded, Failed or TimedOut.",
                        enum=c.JOB_PHASES),
        "defender": obj("The Defender's verdict.", {
            "decision": string("Allowed, Denied or PendingApproval.", enum=c.DECISIONS),
            "policy": string("DefenderPolicy that decided (the first that denied, when denied).", maxLength=253),
            "rule": string("Rule of that policy.", maxLength=63),
            "reason": string("CamelCase reason, e.g. BudgetExhausted, TooManyUnhealthy.", maxLength=256),
            "message": string("Human-readable explanation.", maxLength=32768),
            "decisionTime": timestamp("When the verdict was given."),
        }),
        "startTime": timestamp("When the action started."),
        "completionTime": timestamp("When the job reached a final phase."),
        "message": string("Human-readable state or result.", maxLength=32768),
        "observedGeneration": observed_generation(),
        "conditions": conditions("Approved, Complete."),
    }),
    printer_columns=(
        PrinterColumn("Node", "string", ".spec.nodeName", "Node being remediated."),
        PrinterColumn("Action", "string", ".spec.action.type", "Remediation action."),
        PrinterColumn("Phase", "string", ".status.phase", "Job phase."),
        PrinterColumn("Decision", "string", ".status.defender.decision", "Defender verdict."),
        PrinterColumn("Rule", "string", ".spec.rule", "Remedier rule.", priority=1),
        AGE,
    ),
)

# --------------------------------------------------------------------------- DefenderPolicy

_DEFENDER_RULE = obj("One risk-control rule. An operation it matches is allowed only if every limit it sets "
                     "allows it.", {
    "name": name_field("Rule name (unique within the policy)."),
    "operations": string_set("Operations the rule applies to.", string(
        "Remediation, ComponentUpgrade or MachineDeletion.", enum=c.OPERATIONS), minItems=1),
    "actions": string_set("Only for these remediation actions (default: all).", string(
        "A remediation action.", enum=c.REMEDIATION_ACTIONS)),
    "budgets": map_list("Token budgets: at most `limit` operations in any sliding `window`.", obj(
        "One budget.", {
            "window": string("Window length: a number and s, m, h or d (e.g. 1m, 5m, 1h, 24h).",
                             pattern=WINDOW, maxLength=16),
            "limit": int32("Operations allowed per window (0 allows none).", minimum=0),
        }, required=["window", "limit"]), key="window"),
    "maxConcurrent": int32("Matching operations in progress at once.", minimum=0),
    "maxUnhealthy": int_or_string("Deny when more nodes than this are unhealthy (count, or percentage of the "
                                  "counted nodes): a storm guard.", pattern=PERCENT_0_100, minimum=0),
    "selector": label_selector("Nodes counted for maxUnhealthy (default: all)."),
    "topologyKey": string("Count maxUnhealthy per value of this node label (e.g. "
                          "topology.kubernetes.io/zone).", pattern=QUALIFIED_NAME, maxLength=317),
    "settleSeconds": int32("With maxUnhealthy: hold a decision this long after its node turned unhealthy, so "
                           "that nodes failing at about the same time all count (default 5; 0 disables).",
                           minimum=0),
    "freezeWindows": array("Periods in which matching operations are denied.", obj("One freeze window.", {
        "schedule": string("Cron schedule (5 fields) of the window's start.", pattern=CRON_SCHEDULE,
                           maxLength=256),
        "durationSeconds": integer("Length of the window.", minimum=1),
        "timeZone": string("IANA time zone of the schedule.", default="UTC", maxLength=64),
    }, required=["schedule", "durationSeconds"]), x_kubernetes_list_type="atomic"),
    "requireApproval": boolean("Hold matching operations until a human sets the annotation "
                               "kubenode.io/approved=true on them.", default=False),
}, required=["name", "operations"])

DEFENDER_POLICY = KindSpec(
    kind=c.KIND_DEFENDER_POLICY, plural="defenderpolicies", singular="defenderpolicy", short_name="dp",
    description="A DefenderPolicy limits risky operations (remediation, component upgrades, machine "
                "deletion) with token budgets, concurrency, storm guards, freeze windows and approvals. An "
                "operation is allowed only if every matching rule of every policy allows it.",
    spec=obj("The policy's rules.", {
        "rules": map_list("Risk-control rules.", _DEFENDER_RULE, minItems=1),
        "circuitBreaker": obj("When a budget runs out the circuit opens and denies every matching operation "
                              "for a while.", {
            "cooldownSeconds": int32("Seconds the circuit stays open.", minimum=0, default=300),
        }, default={}),
    }, required=["rules"]),
    status=obj("What the Defender observes.", {
        "observedGeneration": observed_generation(),
        "circuit": obj("Circuit breaker state.", {
            "state": string("Closed (operations pass), Open (all denied) or HalfOpen (probing).",
                            enum=c.CIRCUIT_STATES),
            "reason": string("Why the circuit is in this state.", maxLength=256),
            "message": string("Human-readable explanation.", maxLength=32768),
            "lastTransitionTime": timestamp("When the state last changed."),
            "openUntil": timestamp("When an open circuit half-opens."),
        }),
        "rules": map_list("Per-rule usage.", obj("Usage of one rule.", {
            "name": string("Rule name.", minLength=1, maxLength=63),
            "budgets": map_list("Remaining tokens per window.", obj("One window.", {
                "window": string("Window length.", minLength=1, maxLength=16),
                "limit": int32("Operations allowed per window.", minimum=0),
                "used": int32("Operations in the current window.", minimum=0),
                "remaining": int32("Operations still allowed in the current window.", minimum=0),
            }, required=["window"]), key="window"),
            "concurrent": int32("Matching operations in progress.", minimum=0),
            "unhealthy": int32("Unhealthy counted nodes (the worst topology domain).", minimum=0),
            "frozen": boolean("A freeze window is active."),
        }, required=["name"])),
        "lastDecisionTime": timestamp("When the policy last decided an operation."),
        "conditions": conditions("Valid (a misconfigured policy allows nothing), CircuitOpen."),
        "recentDecisions": array("The latest decisions of this policy, newest first.", obj("One decision.", {
            "time": timestamp("When the operation was reviewed."),
            "operation": string("Remediation, ComponentUpgrade or MachineDeletion.", maxLength=64),
            "id": string("The operation's id.", maxLength=512),
            "action": string("Remediation action, if any.", maxLength=64),
            "decision": string("Allowed, Denied or PendingApproval.", enum=c.DECISIONS),
            "rule": string("Rule that decided (empty for the circuit or an invalid policy).", maxLength=63),
            "reason": string("CamelCase reason.", maxLength=256),
            "message": string("Human-readable explanation.", maxLength=1024),
        }), x_kubernetes_list_type="atomic", maxItems=20),
        "ledger": array("Operations admitted under this policy that still count (inside a budget window or "
                        "in progress): a restarted Defender rebuilds budgets, concurrency and idempotency "
                        "from it.", obj("One admitted operation.", {
            "id": string("The operation's id (empty for entries merged to bound the ledger).", maxLength=512),
            "time": timestamp("When it was admitted."),
            "count": integer("Tokens it cost.", minimum=0),
            "rules": array("Rules of this policy it was charged to.", string("Rule name.", maxLength=63),
                           x_kubernetes_list_type="atomic"),
            "finishedTime": timestamp("When it finished (absent while in progress)."),
        }, required=["time", "count"]), x_kubernetes_list_type="atomic"),
    }),
    printer_columns=(
        PrinterColumn("Circuit", "string", ".status.circuit.state", "Circuit breaker state."),
        AGE,
    ),
)

# --------------------------------------------------------------------------- Cluster (management cluster)

_COUNT = int32("How many.", minimum=0)

CLUSTER = KindSpec(
    kind=c.KIND_CLUSTER, plural="clusters", singular="cluster", short_name="kc",
    description="A Cluster is one member cluster of a management cluster: how to reach it (a kubeconfig "
                "Secret) and what its last probe saw. Label it with kubenode.io/stage (test, pre, prod, ...) "
                "so ComponentRelease stages can select it.",
    spec=obj("How to reach the member cluster.", {
        "kubeconfigSecretRef": secret_ref("Secret whose key `kubeconfig` holds the kubeconfig the management "
                                          "cluster's operators use to reach the member."),
        "probeIntervalSeconds": int32("Seconds between probes of the member's API.", minimum=1, default=15),
    }, required=["kubeconfigSecretRef"]),
    status=obj("What the last probe of the member saw.", {
        "observedGeneration": observed_generation(),
        "reachable": boolean("The last probe reached the member's API server."),
        "serverVersion": string("The member API server's /version gitVersion.", maxLength=128),
        "lastProbeTime": timestamp("When the member was last probed."),
        "nodes": obj("Nodes of the member.", {
            "total": int32("Nodes that exist.", minimum=0),
            "ready": int32("Nodes whose Ready condition is True.", minimum=0),
            "notReady": int32("Nodes whose Ready condition is False or Unknown.", minimum=0),
        }),
        "machines": obj("Machines of the member.", {
            "total": int32("Machines that exist.", minimum=0),
            "byPhase": map_list("Machines per phase.", obj("One phase.", {
                "phase": string("Machine phase.", enum=c.MACHINE_PHASES),
                "count": _COUNT,
            }, required=["phase"]), key="phase"),
        }),
        "components": array("Component versions installed on the member's machines.", obj(
            "Machines running one version of one component.", {
                "component": string("Component name.", maxLength=63),
                "version": string("Installed version (empty while none is installed).", maxLength=128),
                "count": _COUNT,
            }, required=["component"]), x_kubernetes_list_type="atomic"),
        "openRemediations": int32("RemedyOperationJobs that are not finished.", minimum=0),
        "defenderCircuits": array("Circuit state of each DefenderPolicy of the member.", obj("One policy.", {
            "policy": string("DefenderPolicy name.", maxLength=253),
            "state": string("Closed, Open or HalfOpen.", enum=c.CIRCUIT_STATES),
        }, required=["policy"]), x_kubernetes_list_type="atomic"),
        "message": string("Human-readable summary of the last probe.", maxLength=32768),
        "conditions": conditions("Reachable, Ready."),
    }),
    printer_columns=(
        PrinterColumn("Stage", "string", r".metadata.labels.kubenode\.io/stage", "Release stage (label)."),
        PrinterColumn("Reachable", "boolean", ".status.reachable", "The last probe reached the member."),
        PrinterColumn("Version", "string", ".status.serverVersion", "Member API server version."),
        PrinterColumn("Nodes", "integer", ".status.nodes.total", "Nodes of the member."),
        PrinterColumn("Ready", "integer", ".status.nodes.ready", "Ready nodes of the member."),
        PrinterColumn("Remediations", "integer", ".status.openRemediations", "Open remediation jobs.",
                      priority=1),
        PrinterColumn("Probed", "date", ".status.lastProbeTime", "Time of the last probe.", priority=1),
        AGE,
    ),
)

# --------------------------------------------------------------------------- ComponentRelease

_STAGE = obj("One stage of the release: a group of clusters rolled in batches, finished before the next "
             "stage starts.", {
    "name": name_field("Stage name (test, pre, prod, ...)."),
    "clusterSelector": label_selector("Clusters (by their labels, e.g. kubenode.io/stage) in this stage; a "
                                      "cluster selected by an earlier stage belongs to that one."),
    "clusterBatches": array(
        "Cluster batch sizes in order, integers or percentages of the stage's clusters (rounded UP, minimum "
        "1); the last size repeats. Default: all clusters of the stage at once.",
        int_or_string("A batch size: a count (>= 1) or a percentage (1%-100%).", pattern=PERCENT_1_100,
                      minimum=1),
        minItems=1, x_kubernetes_list_type="atomic", default=["100%"]),
    "soakSeconds": int32("Seconds a finished cluster batch must stay healthy before the next batch (or "
                         "stage) starts.", minimum=0, default=0),
    "requireApproval": boolean("Wait for `kubenode release approve` before the stage starts.", default=False),
    "maxFailedClusters": int32("Failed clusters tolerated in this stage; one more stops and pauses the "
                               "release.", minimum=0, default=0),
}, required=["name", "clusterSelector"])

_CLUSTER_STEP = obj("One cluster's part in a stage.", {
    "name": string("Cluster name.", minLength=1, maxLength=253),
    "phase": string("Pending, Rolling, Succeeded, Failed or Paused.", enum=c.STEP_PHASES),
    "batch": int32("Batch (1-based) of the stage the cluster is in.", minimum=1),
    "startedAt": timestamp("When the release was applied to the cluster."),
    "completedAt": timestamp("When the cluster's rollout was seen Completed and healthy (or failed)."),
    "previousVersion": string("Component version the cluster ran before the release touched it.",
                              maxLength=128),
    "message": string("What the cluster's MachineComponentSet says.", maxLength=32768),
}, required=["name"])

COMPONENT_RELEASE = KindSpec(
    kind=c.KIND_COMPONENT_RELEASE, plural="componentreleases", singular="componentrelease", short_name="cr",
    description="A ComponentRelease rolls one component version through stages of member clusters (test, "
                "pre-release, production), in batches of clusters with health gates and soak times: a "
                "MachineComponentSet named after the release is created or updated in each member.",
    spec=obj("Desired component version across clusters, and how it travels.", {
        "component": name_field("Component name (the member MachineComponentSets' spec.component)."),
        "selector": label_selector("Machines (by their labels) inside each cluster that run the component; "
                                   "{} selects all."),
        "template": _component_template("The component version and how to install, run and check it; copied "
                                        "into each member's MachineComponentSet."),
        "updateStrategy": obj("How a changed template reaches the machines inside each cluster (as a "
                              "MachineComponentSet's).", {
            "type": string("RollingUpdate (batches, health gates) or OnDelete.", enum=c.UPDATE_STRATEGIES,
                           default=c.UPDATE_STRATEGY_ROLLING_UPDATE),
            "rollingUpdate": copy.deepcopy(_ROLLING_UPDATE),
        }, default={}),
        "stages": map_list("Stages in order; a stage starts only when every earlier one succeeded.", _STAGE,
                           minItems=1),
        "paused": boolean("Start no new cluster (clusters already rolling finish).", default=False),
    }, required=["component", "selector", "template", "stages"]),
    status=obj("Observed state of the release.", {
        "observedGeneration": observed_generation(),
        "phase": string("Progressing, Paused (by the user, for approval, or stopped by failed clusters: then "
                        "Degraded is True) or Completed.", enum=c.RELEASE_PHASES),
        "revision": string("Revision (hash of template, selector and strategy) being released.", maxLength=64),
        "version": string("Component version being released.", maxLength=128),
        "currentStage": string("Name of the stage in progress (empty when none).", maxLength=63),
        "stages": map_list("Per-stage progress, in spec order.", obj("One stage.", {
            "name": string("Stage name.", minLength=1, maxLength=63),
            "phase": string("Pending, Rolling, Succeeded, Failed or Paused.", enum=c.STEP_PHASES),
            "startedAt": timestamp("When the stage's first cluster was started."),
            "completedAt": timestamp("When the stage's last batch finished soaking (or it failed)."),
            "currentBatch": int32("Cluster batch (1-based) in progress; 0 before the first.", minimum=0),
            "totalBatches": int32("Cluster batches of the stage.", minimum=0),
            "clusters": map_list("The stage's clusters.", _CLUSTER_STEP),
        }, required=["name"])),
        "message": string("Human-readable summary of the release.", maxLength=32768),
        "conditions": conditions("Progressing, Degraded, ReleaseAllowed."),
    }),
    printer_columns=(
        PrinterColumn("Component", "string", ".spec.component", "Component name."),
        PrinterColumn("Version", "string", ".spec.template.version", "Desired version."),
        PrinterColumn("Phase", "string", ".status.phase", "Release phase."),
        PrinterColumn("Stage", "string", ".status.currentStage", "Stage in progress."),
        PrinterColumn("Revision", "string", ".status.revision", "Revision being released.", priority=1),
        AGE,
    ),
)

#: All kinds, in the order a cluster needs them (providers before machines, policies last).
KINDS: tuple[KindSpec, ...] = (
    INFRA_PROVIDER, MACHINE, MACHINE_SET, MACHINE_COMPONENT_SET, MACHINE_COMPONENT, NODE_REMEDIER,
    REMEDY_OPERATION_JOB, DEFENDER_POLICY, CLUSTER, COMPONENT_RELEASE,
)
_BY_KIND = {k.kind: k for k in KINDS}


def kind_spec(kind: str) -> KindSpec:
    """The KindSpec of `kind` (e.g. "Machine"); KeyError for anything else."""
    return _BY_KIND[kind]
