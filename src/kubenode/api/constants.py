"""Names that several layers must agree on: group, kinds, labels, finalizers, phases, conditions, reasons.

Operators, the agent, the CLI and the tests all read and write these strings
through the Kubernetes API, so a typo on either side would silently break a
contract. Keeping them here (and the schemas' enums built from the same
tuples) makes the API server reject anything the controllers would not
understand.

Condition reasons are CamelCase (metav1.Condition requires
`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`).
"""

from __future__ import annotations

from typing import Final

# --------------------------------------------------------------------------- group / version

GROUP: Final = "kubenode.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

# --------------------------------------------------------------------------- kinds

KIND_INFRA_PROVIDER: Final = "InfraProvider"
KIND_MACHINE: Final = "Machine"
KIND_MACHINE_SET: Final = "MachineSet"
KIND_MACHINE_COMPONENT_SET: Final = "MachineComponentSet"
KIND_MACHINE_COMPONENT: Final = "MachineComponent"
KIND_NODE_REMEDIER: Final = "NodeRemedier"
KIND_REMEDY_OPERATION_JOB: Final = "RemedyOperationJob"
KIND_DEFENDER_POLICY: Final = "DefenderPolicy"
#: Management-cluster kinds (many clusters): a member cluster and a staged release across clusters.
KIND_CLUSTER: Final = "Cluster"
KIND_COMPONENT_RELEASE: Final = "ComponentRelease"

# --------------------------------------------------------------------------- labels, annotations, finalizers

#: On Nodes, MachineComponents and RemedyOperationJobs: the Machine they belong to.
LABEL_MACHINE: Final = "kubenode.io/machine"
#: On Machines: the MachineSet that created them.
LABEL_MACHINE_SET: Final = "kubenode.io/machineset"
#: On MachineComponents: the component name (`MachineComponentSet.spec.component`).
LABEL_COMPONENT: Final = "kubenode.io/component"
#: On MachineComponents: the MachineComponentSet that owns them.
LABEL_MACHINE_COMPONENT_SET: Final = "kubenode.io/machinecomponentset"
#: On MachineComponents: the template revision (hash) they were created from.
LABEL_REVISION: Final = "kubenode.io/revision"
#: On RemedyOperationJobs: the node and the NodeRemedier they act for (list them with a label selector).
LABEL_NODE: Final = "kubenode.io/node"
LABEL_REMEDIER: Final = "kubenode.io/remedier"

#: On Clusters: the release stage they belong to (test, pre, prod, ...), matched by `stages[].clusterSelector`.
LABEL_STAGE: Final = "kubenode.io/stage"
#: On member clusters' MachineComponentSets: the ComponentRelease that created them.
LABEL_RELEASE: Final = "kubenode.io/release"
#: On member clusters' MachineComponentSets: the release revision (template hash) they carry.
ANNOTATION_RELEASE_REVISION: Final = "kubenode.io/release-revision"
#: On a ComponentRelease: `kubenode release approve` writes "<revision>/<stage>" (approvals of stages with
#: requireApproval; tied to the revision, so a new release never inherits an old approval).
ANNOTATION_APPROVED_STAGE: Final = "kubenode.io/approved-stage"

#: On a Machine: delete this one first when its MachineSet scales down.
ANNOTATION_DELETE_MACHINE: Final = "kubenode.io/delete-machine"
#: On a RemedyOperationJob (or a MachineComponentSet batch) that a DefenderPolicy rule with
#: `requireApproval: true` holds: set to "true" by a human to approve it.
ANNOTATION_APPROVED: Final = "kubenode.io/approved"
#: On a MachineComponent: any new value makes its agent re-verify the installed files now (component drift).
ANNOTATION_VERIFY_NOW: Final = "kubenode.io/verify-now"

#: Keeps a Machine until its node is drained and its infrastructure is gone.
FINALIZER_MACHINE: Final = "kubenode.io/machine"
#: Keeps a MachineComponent until the agent has removed the component from its machine.
FINALIZER_MACHINE_COMPONENT: Final = "kubenode.io/machinecomponent"

# --------------------------------------------------------------------------- condition status

CONDITION_TRUE: Final = "True"
CONDITION_FALSE: Final = "False"
CONDITION_UNKNOWN: Final = "Unknown"
CONDITION_STATUSES: Final = (CONDITION_TRUE, CONDITION_FALSE, CONDITION_UNKNOWN)

# --------------------------------------------------------------------------- InfraProvider

INFRA_PROVIDER_TYPE_LOCAL: Final = "local"
INFRA_PROVIDER_TYPE_SSH: Final = "ssh"
INFRA_PROVIDER_TYPE_LIBCLOUD: Final = "libcloud"
INFRA_PROVIDER_TYPE_ALIYUN: Final = "aliyun"
INFRA_PROVIDER_TYPE_EXISTING: Final = "existing"

INFRA_PROVIDER_CONDITION_READY: Final = "Ready"
INFRA_PROVIDER_REASON_UNKNOWN_TYPE: Final = "UnknownProviderType"
INFRA_PROVIDER_REASON_CREDENTIALS_MISSING: Final = "CredentialsMissing"
INFRA_PROVIDER_REASON_READY: Final = "ProviderReady"
INFRA_PROVIDER_REASON_INVALID_PARAMETERS: Final = "InvalidParameters"
INFRA_PROVIDER_REASON_NODES_SKIPPED: Final = "NodesSkipped"
#: Event on an `existing` InfraProvider: a Machine was created for one of its Nodes.
INFRA_PROVIDER_REASON_ADOPTED: Final = "Adopted"
#: ProviderError reasons of the provider resolver (InfrastructureReady=False).
MACHINE_REASON_NO_PROVIDER: Final = "NoProvider"
MACHINE_REASON_IMPORT_DISABLED: Final = "ImportDisabled"

# --------------------------------------------------------------------------- Machine

MACHINE_PHASE_PENDING: Final = "Pending"
MACHINE_PHASE_PROVISIONING: Final = "Provisioning"
MACHINE_PHASE_BOOTSTRAPPING: Final = "Bootstrapping"
MACHINE_PHASE_JOINING: Final = "Joining"
MACHINE_PHASE_RUNNING: Final = "Running"
MACHINE_PHASE_DRAINING: Final = "Draining"
MACHINE_PHASE_DELETING: Final = "Deleting"
MACHINE_PHASE_FAILED: Final = "Failed"
MACHINE_PHASES: Final = (
    MACHINE_PHASE_PENDING, MACHINE_PHASE_PROVISIONING, MACHINE_PHASE_BOOTSTRAPPING, MACHINE_PHASE_JOINING,
    MACHINE_PHASE_RUNNING, MACHINE_PHASE_DRAINING, MACHINE_PHASE_DELETING, MACHINE_PHASE_FAILED,
)

MACHINE_CONDITION_INFRASTRUCTURE_READY: Final = "InfrastructureReady"
MACHINE_CONDITION_AGENT_CONNECTED: Final = "AgentConnected"
MACHINE_CONDITION_NODE_READY: Final = "NodeReady"
MACHINE_CONDITION_NODE_SYNCED: Final = "NodeSynced"
MACHINE_CONDITION_COMPONENTS_READY: Final = "ComponentsReady"
MACHINE_CONDITION_READY: Final = "Ready"
MACHINE_CONDITIONS: Final = (
    MACHINE_CONDITION_INFRASTRUCTURE_READY, MACHINE_CONDITION_AGENT_CONNECTED, MACHINE_CONDITION_NODE_READY,
    MACHINE_CONDITION_NODE_SYNCED, MACHINE_CONDITION_COMPONENTS_READY, MACHINE_CONDITION_READY,
)

MACHINE_REASON_PENDING: Final = "Pending"
MACHINE_REASON_PROVIDER_NOT_FOUND: Final = "ProviderNotFound"
MACHINE_REASON_PROVISIONING: Final = "Provisioning"
MACHINE_REASON_PROVISIONED: Final = "Provisioned"
MACHINE_REASON_PROVISIONING_FAILED: Final = "ProvisioningFailed"
MACHINE_REASON_INFRASTRUCTURE_MISSING: Final = "InfrastructureMissing"
MACHINE_REASON_INFRASTRUCTURE_STOPPED: Final = "InfrastructureStopped"
MACHINE_REASON_CREATE_TIMEOUT: Final = "CreateTimeout"
MACHINE_REASON_JOIN_TIMEOUT: Final = "JoinTimeout"
MACHINE_REASON_IMPORTING: Final = "Importing"
MACHINE_REASON_WAITING_FOR_AGENT: Final = "WaitingForAgent"
MACHINE_REASON_HEARTBEAT_RECEIVED: Final = "HeartbeatReceived"
MACHINE_REASON_HEARTBEAT_STALE: Final = "HeartbeatStale"
MACHINE_REASON_NODE_NOT_REGISTERED: Final = "NodeNotRegistered"
MACHINE_REASON_NODE_STATUS_UNKNOWN: Final = "NodeStatusUnknown"
MACHINE_REASON_NODE_SYNCED: Final = "Synced"
MACHINE_REASON_NODE_SYNC_FAILED: Final = "SyncFailed"
MACHINE_REASON_COMPONENTS_READY: Final = "AllComponentsReady"
MACHINE_REASON_COMPONENTS_NOT_READY: Final = "ComponentsNotReady"
MACHINE_REASON_COMPONENT_FAILED: Final = "ComponentFailed"
MACHINE_REASON_NO_COMPONENTS: Final = "NoComponents"
#: MachineComponent Healthy=Unknown set by the Machine controller while the machine's agent does not report.
COMPONENT_REASON_AGENT_NOT_REPORTING: Final = "AgentNotReporting"
MACHINE_REASON_DRAIN_BLOCKED: Final = "DrainBlocked"
MACHINE_REASON_DRAIN_TIMEOUT: Final = "DrainTimeout"
MACHINE_REASON_READY: Final = "Ready"
MACHINE_REASON_DRAINING: Final = "Draining"
MACHINE_REASON_DRAIN_FAILED: Final = "DrainFailed"
MACHINE_REASON_DELETING: Final = "Deleting"
#: Events of the Machine controller.
MACHINE_REASON_BOOTSTRAP_TOKEN_REVOKED: Final = "BootstrapTokenRevoked"
MACHINE_REASON_RELEASED: Final = "Released"
MACHINE_REASON_DELETED: Final = "Deleted"
MACHINE_REASON_NODE_READY: Final = "NodeReady"
MACHINE_REASON_NODE_NOT_READY: Final = "NodeNotReady"

# --------------------------------------------------------------------------- MachineSet

DELETE_POLICY_RANDOM: Final = "Random"
DELETE_POLICY_NEWEST: Final = "Newest"
DELETE_POLICY_OLDEST: Final = "Oldest"
DELETE_POLICIES: Final = (DELETE_POLICY_RANDOM, DELETE_POLICY_NEWEST, DELETE_POLICY_OLDEST)

MACHINE_SET_CONDITION_MACHINES_CREATED: Final = "MachinesCreated"
MACHINE_SET_CONDITION_MACHINES_READY: Final = "MachinesReady"
MACHINE_SET_CONDITION_RESIZED: Final = "Resized"
MACHINE_SET_CONDITIONS: Final = (
    MACHINE_SET_CONDITION_MACHINES_CREATED, MACHINE_SET_CONDITION_MACHINES_READY, MACHINE_SET_CONDITION_RESIZED,
)

MACHINE_SET_REASON_MACHINE_CREATE_FAILED: Final = "MachineCreateFailed"
MACHINE_SET_REASON_MACHINES_CREATED: Final = "MachinesCreated"
MACHINE_SET_REASON_SCALING_UP: Final = "ScalingUp"
MACHINE_SET_REASON_SCALING_DOWN: Final = "ScalingDown"
MACHINE_SET_REASON_RESIZED: Final = "Resized"
MACHINE_SET_REASON_MACHINES_NOT_READY: Final = "MachinesNotReady"
MACHINE_SET_REASON_MACHINES_READY: Final = "AllMachinesReady"
MACHINE_SET_REASON_DELETION_DENIED: Final = "DeletionDeniedByDefender"

# --------------------------------------------------------------------------- MachineComponentSet

DISRUPTION_NONE: Final = "None"
DISRUPTION_RESTART: Final = "Restart"
DISRUPTION_DRAIN: Final = "Drain"
DISRUPTION_REBOOT: Final = "Reboot"
DISRUPTIONS: Final = (DISRUPTION_NONE, DISRUPTION_RESTART, DISRUPTION_DRAIN, DISRUPTION_REBOOT)

UPDATE_STRATEGY_ROLLING_UPDATE: Final = "RollingUpdate"
UPDATE_STRATEGY_ON_DELETE: Final = "OnDelete"
UPDATE_STRATEGIES: Final = (UPDATE_STRATEGY_ROLLING_UPDATE, UPDATE_STRATEGY_ON_DELETE)

ROLLOUT_PHASE_PROGRESSING: Final = "Progressing"
ROLLOUT_PHASE_PAUSED: Final = "Paused"
ROLLOUT_PHASE_COMPLETED: Final = "Completed"
ROLLOUT_PHASE_FAILED: Final = "Failed"
ROLLOUT_PHASE_ROLLING_BACK: Final = "RollingBack"
ROLLOUT_PHASES: Final = (
    ROLLOUT_PHASE_PROGRESSING, ROLLOUT_PHASE_PAUSED, ROLLOUT_PHASE_COMPLETED, ROLLOUT_PHASE_FAILED,
    ROLLOUT_PHASE_ROLLING_BACK,
)

COMPONENT_SET_CONDITION_PROGRESSING: Final = "Progressing"
COMPONENT_SET_CONDITION_AVAILABLE: Final = "Available"
COMPONENT_SET_CONDITION_DEGRADED: Final = "Degraded"
COMPONENT_SET_CONDITION_PAUSED: Final = "Paused"
#: False while a DefenderPolicy throttles the rollout (ComponentUpgrade operations).
COMPONENT_SET_CONDITION_ROLLOUT_ALLOWED: Final = "RolloutAllowed"
COMPONENT_SET_CONDITIONS: Final = (
    COMPONENT_SET_CONDITION_PROGRESSING, COMPONENT_SET_CONDITION_AVAILABLE, COMPONENT_SET_CONDITION_DEGRADED,
    COMPONENT_SET_CONDITION_PAUSED, COMPONENT_SET_CONDITION_ROLLOUT_ALLOWED,
)

COMPONENT_SET_REASON_NO_MACHINES: Final = "NoMachinesSelected"
COMPONENT_SET_REASON_BATCH_IN_PROGRESS: Final = "BatchInProgress"
COMPONENT_SET_REASON_BATCH_SOAKING: Final = "BatchSoaking"
COMPONENT_SET_REASON_ROLLOUT_COMPLETE: Final = "RolloutComplete"
COMPONENT_SET_REASON_PAUSED_BY_USER: Final = "PausedByUser"
COMPONENT_SET_REASON_PAUSED_AFTER_BATCH: Final = "PausedAfterBatch"
COMPONENT_SET_REASON_MAX_FAILURES_EXCEEDED: Final = "MaxFailuresExceeded"
COMPONENT_SET_REASON_MAX_UNAVAILABLE: Final = "MaxUnavailableReached"
COMPONENT_SET_REASON_ROLLING_BACK: Final = "RollingBack"
COMPONENT_SET_REASON_ROLLED_BACK: Final = "RolledBack"
COMPONENT_SET_REASON_ALL_AVAILABLE: Final = "AllMachinesAvailable"
COMPONENT_SET_REASON_MACHINES_UNAVAILABLE: Final = "MachinesUnavailable"
COMPONENT_SET_REASON_MACHINES_FAILED: Final = "MachinesFailed"
COMPONENT_SET_REASON_DEFENDER_DENIED: Final = "DeniedByDefender"
COMPONENT_SET_REASON_DEFENDER_ALLOWED: Final = "AllowedByDefender"
#: disruption Drain: the batch's nodes are cordoned and drained before the agents apply.
COMPONENT_SET_REASON_DRAINING: Final = "DrainingNodes"
COMPONENT_SET_REASON_DRAIN_BLOCKED: Final = "DrainBlocked"
COMPONENT_SET_REASON_UNCORDONED: Final = "NodesUncordoned"
#: The calm state of Degraded and Paused.
COMPONENT_SET_REASON_NO_FAILURES: Final = "NoFailures"
COMPONENT_SET_REASON_NOT_PAUSED: Final = "NotPaused"
#: Events of the MachineComponentSet controller.
COMPONENT_SET_REASON_INVALID_SPEC: Final = "InvalidSpec"
COMPONENT_SET_REASON_BATCH_STARTED: Final = "BatchStarted"
COMPONENT_SET_REASON_ROLLBACK_STARTED: Final = "RollbackStarted"
#: On Nodes a MachineComponentSet cordoned for a Drain disruption: `mcs/<set>` (it uncordons only those).
ANNOTATION_CORDONED_BY: Final = "kubenode.io/cordoned-by"

# --------------------------------------------------------------------------- MachineComponent

COMPONENT_PHASE_PENDING: Final = "Pending"
COMPONENT_PHASE_INSTALLING: Final = "Installing"
COMPONENT_PHASE_RUNNING: Final = "Running"
COMPONENT_PHASE_FAILED: Final = "Failed"
COMPONENT_PHASE_REMOVING: Final = "Removing"
COMPONENT_PHASES: Final = (
    COMPONENT_PHASE_PENDING, COMPONENT_PHASE_INSTALLING, COMPONENT_PHASE_RUNNING, COMPONENT_PHASE_FAILED,
    COMPONENT_PHASE_REMOVING,
)

COMPONENT_CONDITION_INSTALLED: Final = "Installed"
COMPONENT_CONDITION_HEALTHY: Final = "Healthy"
COMPONENT_CONDITIONS: Final = (COMPONENT_CONDITION_INSTALLED, COMPONENT_CONDITION_HEALTHY)

COMPONENT_REASON_DOWNLOAD_FAILED: Final = "DownloadFailed"
COMPONENT_REASON_CHECKSUM_MISMATCH: Final = "ChecksumMismatch"
COMPONENT_REASON_UNPACK_FAILED: Final = "UnpackFailed"
COMPONENT_REASON_PACKAGE_FAILED: Final = "PackageInstallFailed"
COMPONENT_REASON_INSTALLED: Final = "Installed"
#: disruption Reboot: installed, the node reboots (Installed=False, phase Installing, a Normal Event).
COMPONENT_REASON_REBOOTING: Final = "Rebooting"
COMPONENT_REASON_START_FAILED: Final = "StartFailed"
COMPONENT_REASON_EXITED: Final = "ProcessExited"
COMPONENT_REASON_HEALTH_CHECK_PASSED: Final = "HealthCheckPassed"
COMPONENT_REASON_HEALTH_CHECK_FAILED: Final = "HealthCheckFailed"
COMPONENT_REASON_NO_HEALTH_CHECK: Final = "NoHealthCheck"
COMPONENT_REASON_NOT_PROBED: Final = "NotProbed"
COMPONENT_REASON_INSTALLING: Final = "Installing"
COMPONENT_REASON_REMOVING: Final = "Removing"

#: The installed files differ from the verified artifact (as recorded at install); see agent/installer/drift.py.
COMPONENT_CONDITION_DRIFTED: Final = "Drifted"
COMPONENT_REASON_FILES_DIFFER: Final = "FilesDiffer"
COMPONENT_REASON_FILES_MATCH: Final = "FilesMatch"
COMPONENT_REASON_NO_HASH_RECORD: Final = "NoHashRecord"

# --------------------------------------------------------------------------- remediation actions

ACTION_RESTART_COMPONENT: Final = "RestartComponent"
ACTION_REBOOT: Final = "Reboot"
ACTION_RUN_SCRIPT: Final = "RunScript"
ACTION_CORDON: Final = "Cordon"
ACTION_UNCORDON: Final = "Uncordon"
ACTION_DRAIN: Final = "Drain"
ACTION_REPLACE: Final = "Replace"
REMEDIATION_ACTIONS: Final = (
    ACTION_RESTART_COMPONENT, ACTION_REBOOT, ACTION_RUN_SCRIPT, ACTION_CORDON, ACTION_UNCORDON, ACTION_DRAIN,
    ACTION_REPLACE,
)
#: Executed by the node's agent; the rest are executed by the Remedy Operator through the API.
AGENT_ACTIONS: Final = (ACTION_RESTART_COMPONENT, ACTION_REBOOT, ACTION_RUN_SCRIPT)
CONTROLLER_ACTIONS: Final = (ACTION_CORDON, ACTION_UNCORDON, ACTION_DRAIN, ACTION_REPLACE)

# --------------------------------------------------------------------------- NodeRemedier

REMEDIER_CONDITION_REMEDIATION_ALLOWED: Final = "RemediationAllowed"
REMEDIER_CONDITION_PAUSED: Final = "Paused"
REMEDIER_CONDITIONS: Final = (REMEDIER_CONDITION_REMEDIATION_ALLOWED, REMEDIER_CONDITION_PAUSED)

REMEDIER_REASON_ALLOWED: Final = "RemediationAllowed"
REMEDIER_REASON_TOO_MANY_UNHEALTHY: Final = "TooManyUnhealthy"
REMEDIER_REASON_DEFENDER_DENIED: Final = "DeniedByDefender"
REMEDIER_REASON_NO_DEFENDER_POLICY: Final = "NoDefenderPolicy"
REMEDIER_REASON_PAUSED_BY_USER: Final = "PausedByUser"
REMEDIER_REASON_DRY_RUN: Final = "DryRun"
REMEDIER_REASON_LADDER_EXHAUSTED: Final = "EscalationExhausted"
REMEDIER_REASON_MAX_ATTEMPTS: Final = "MaxAttemptsReached"
REMEDIER_REASON_NOT_PAUSED: Final = "NotPaused"
#: Event on the Node when a remedier creates a job for it.
REMEDIER_REASON_REMEDIATION_STARTED: Final = "RemediationStarted"

# --------------------------------------------------------------------------- RemedyOperationJob

JOB_PHASE_PENDING: Final = "Pending"
JOB_PHASE_APPROVED: Final = "Approved"
JOB_PHASE_DENIED: Final = "Denied"
JOB_PHASE_RUNNING: Final = "Running"
JOB_PHASE_SUCCEEDED: Final = "Succeeded"
JOB_PHASE_FAILED: Final = "Failed"
JOB_PHASE_TIMED_OUT: Final = "TimedOut"
JOB_PHASES: Final = (
    JOB_PHASE_PENDING, JOB_PHASE_APPROVED, JOB_PHASE_DENIED, JOB_PHASE_RUNNING, JOB_PHASE_SUCCEEDED,
    JOB_PHASE_FAILED, JOB_PHASE_TIMED_OUT,
)
#: Phases after which a job never changes again.
JOB_TERMINAL_PHASES: Final = (JOB_PHASE_DENIED, JOB_PHASE_SUCCEEDED, JOB_PHASE_FAILED, JOB_PHASE_TIMED_OUT)

JOB_CONDITION_APPROVED: Final = "Approved"
JOB_CONDITION_COMPLETE: Final = "Complete"
JOB_CONDITIONS: Final = (JOB_CONDITION_APPROVED, JOB_CONDITION_COMPLETE)

JOB_REASON_WAITING_FOR_DEFENDER: Final = "WaitingForDefender"
JOB_REASON_DEFENDER_ALLOWED: Final = "AllowedByDefender"
JOB_REASON_DEFENDER_DENIED: Final = "DeniedByDefender"
JOB_REASON_EXECUTING: Final = "Executing"
JOB_REASON_SUCCEEDED: Final = "ActionSucceeded"
JOB_REASON_FAILED: Final = "ActionFailed"
JOB_REASON_TIMED_OUT: Final = "ActionTimedOut"
JOB_REASON_DRY_RUN: Final = "DryRun"
JOB_REASON_NODE_HEALTHY: Final = "NodeHealthyAgain"

# --------------------------------------------------------------------------- DefenderPolicy

OPERATION_REMEDIATION: Final = "Remediation"
OPERATION_COMPONENT_UPGRADE: Final = "ComponentUpgrade"
OPERATION_MACHINE_DELETION: Final = "MachineDeletion"
OPERATIONS: Final = (OPERATION_REMEDIATION, OPERATION_COMPONENT_UPGRADE, OPERATION_MACHINE_DELETION)

#: `RemedyOperationJob.status.defender.decision`: the Defender's verdict.
DECISION_ALLOWED: Final = "Allowed"
DECISION_DENIED: Final = "Denied"
DECISION_PENDING_APPROVAL: Final = "PendingApproval"
DECISIONS: Final = (DECISION_ALLOWED, DECISION_DENIED, DECISION_PENDING_APPROVAL)

#: `DefenderPolicy.status.circuit.state`: Closed lets operations through, Open stops all of them until
#: the cooldown ends, HalfOpen lets one through to probe.
CIRCUIT_CLOSED: Final = "Closed"
CIRCUIT_OPEN: Final = "Open"
CIRCUIT_HALF_OPEN: Final = "HalfOpen"
CIRCUIT_STATES: Final = (CIRCUIT_CLOSED, CIRCUIT_OPEN, CIRCUIT_HALF_OPEN)

DEFENDER_CONDITION_VALID: Final = "Valid"
DEFENDER_CONDITION_CIRCUIT_OPEN: Final = "CircuitOpen"
DEFENDER_CONDITIONS: Final = (DEFENDER_CONDITION_VALID, DEFENDER_CONDITION_CIRCUIT_OPEN)

DEFENDER_REASON_ALLOWED: Final = "Allowed"
DEFENDER_REASON_BUDGET_EXHAUSTED: Final = "BudgetExhausted"
DEFENDER_REASON_MAX_CONCURRENT: Final = "MaxConcurrentReached"
#: A storm guard (maxUnhealthy) saw more unhealthy nodes than it allows.
DEFENDER_REASON_STORM_DETECTED: Final = "StormDetected"
#: A remediation held for the storm guard's settle window after its node turned unhealthy (not terminal).
DEFENDER_REASON_STORM_SETTLING: Final = "StormSettling"
#: Default `settleSeconds` of a maxUnhealthy rule.
DEFENDER_DEFAULT_SETTLE_SECONDS: Final = 5
DEFENDER_REASON_FREEZE_WINDOW: Final = "FreezeWindow"
DEFENDER_REASON_APPROVAL_REQUIRED: Final = "ApprovalRequired"
DEFENDER_REASON_CIRCUIT_OPEN: Final = "CircuitOpen"
DEFENDER_REASON_CIRCUIT_CLOSED: Final = "CircuitClosed"
DEFENDER_REASON_POLICY_INVALID: Final = "PolicyInvalid"
DEFENDER_REASON_POLICY_VALID: Final = "PolicyValid"
DEFENDER_REASON_NO_POLICY: Final = "NoDefenderPolicy"
#: The operation id was admitted before: a re-review is allowed and not charged again.
DEFENDER_REASON_ALREADY_ADMITTED: Final = "AlreadyAdmitted"
#: Policies exist but no rule of any of them covers the operation.
DEFENDER_REASON_NOT_COVERED: Final = "NotCovered"

# --------------------------------------------------------------------------- Cluster (management cluster)

CLUSTER_CONDITION_REACHABLE: Final = "Reachable"
CLUSTER_CONDITION_READY: Final = "Ready"
CLUSTER_CONDITIONS: Final = (CLUSTER_CONDITION_REACHABLE, CLUSTER_CONDITION_READY)

CLUSTER_REASON_PROBE_SUCCEEDED: Final = "ProbeSucceeded"
CLUSTER_REASON_PROBE_FAILED: Final = "ProbeFailed"
CLUSTER_REASON_KUBECONFIG_MISSING: Final = "KubeconfigMissing"
CLUSTER_REASON_KUBECONFIG_INVALID: Final = "KubeconfigInvalid"
CLUSTER_REASON_UNREACHABLE: Final = "Unreachable"
CLUSTER_REASON_NODES_READY: Final = "AllNodesReady"
CLUSTER_REASON_NODES_NOT_READY: Final = "NodesNotReady"
CLUSTER_REASON_NO_NODES: Final = "NoNodes"

# --------------------------------------------------------------------------- ComponentRelease

RELEASE_PHASE_PROGRESSING: Final = "Progressing"
RELEASE_PHASE_PAUSED: Final = "Paused"
RELEASE_PHASE_COMPLETED: Final = "Completed"
#: A failure stops the release in its stage: Paused with Degraded=True (as a MachineComponentSet whose
#: machines failed), so there is no separate Failed phase.
RELEASE_PHASES: Final = (RELEASE_PHASE_PROGRESSING, RELEASE_PHASE_PAUSED, RELEASE_PHASE_COMPLETED)

#: Phases of a stage and of one cluster in it.
STEP_PHASE_PENDING: Final = "Pending"
STEP_PHASE_ROLLING: Final = "Rolling"
STEP_PHASE_SUCCEEDED: Final = "Succeeded"
STEP_PHASE_FAILED: Final = "Failed"
STEP_PHASE_PAUSED: Final = "Paused"
STEP_PHASES: Final = (STEP_PHASE_PENDING, STEP_PHASE_ROLLING, STEP_PHASE_SUCCEEDED, STEP_PHASE_FAILED,
                      STEP_PHASE_PAUSED)

RELEASE_CONDITION_PROGRESSING: Final = "Progressing"
RELEASE_CONDITION_DEGRADED: Final = "Degraded"
#: False while the management cluster's Defender holds a cluster step (ComponentUpgrade operations).
RELEASE_CONDITION_RELEASE_ALLOWED: Final = "ReleaseAllowed"
RELEASE_CONDITIONS: Final = (RELEASE_CONDITION_PROGRESSING, RELEASE_CONDITION_DEGRADED,
                             RELEASE_CONDITION_RELEASE_ALLOWED)

RELEASE_REASON_ROLLING: Final = "ClustersRolling"
RELEASE_REASON_SOAKING: Final = "BatchSoaking"
RELEASE_REASON_WAITING_FOR_APPROVAL: Final = "WaitingForApproval"
RELEASE_REASON_CLUSTERS_UNREACHABLE: Final = "ClustersUnreachable"
RELEASE_REASON_PAUSED_BY_USER: Final = "PausedByUser"
RELEASE_REASON_RELEASE_COMPLETE: Final = "ReleaseComplete"
RELEASE_REASON_CLUSTERS_FAILED: Final = "ClustersFailed"
RELEASE_REASON_NO_FAILURES: Final = "NoFailedClusters"
RELEASE_REASON_NO_CLUSTERS: Final = "NoClustersSelected"
RELEASE_REASON_DEFENDER_DENIED: Final = "DeniedByDefender"
RELEASE_REASON_DEFENDER_ALLOWED: Final = "AllowedByDefender"
#: Events of the ComponentRelease controller.
RELEASE_REASON_CLUSTER_STARTED: Final = "ClusterStarted"
RELEASE_REASON_STAGE_SUCCEEDED: Final = "StageSucceeded"
RELEASE_REASON_STAGE_PAUSED: Final = "StagePaused"
