"""The Machine controller: from a Machine to a Ready node, and back to nothing.

Reconcile is level-triggered and runs phases in order on one per-run scope:
finalizer → provider → agent identity → infrastructure → node sync → status.
Every observation goes into `phases.compute_status` (pure); the status is
written once at the end, and only when it changed. Deletion runs behind the
`kubenode.io/machine` finalizer: cordon, drain through the Eviction API
(`kubenode.drain`), deprovision, delete the Node, release the finalizer. The
drain waits as Cluster API's does: as long as pods remain, unless
`spec.nodeDrainTimeoutSeconds` is set; while it waits an Event names the
pods that block it (a disruption budget, or pods slow to go).
A provider that does not own its hosts (`existing`: adopted Nodes) leaves the
host alone on delete, and its Node stays in place, cordoned, drained and
marked not to be re-adopted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubenode.api.constants import (
    COMPONENT_CONDITION_HEALTHY,
    COMPONENT_REASON_AGENT_NOT_REPORTING,
    FINALIZER_MACHINE,
    LABEL_MACHINE,
    MACHINE_REASON_DRAIN_BLOCKED,
    MACHINE_REASON_DRAIN_TIMEOUT,
    MACHINE_REASON_DRAINING,
)
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import NODES
from kubenode.drain import drain
from kubenode.providers.base import (
    STATE_MISSING,
    STATE_RUNNING,
    Bootstrap,
    InfraProvider,
    InfraStatus,
    ProviderError,
)
from kubenode.runtime.conditions import set_condition
from kubenode.runtime.controller import Request, Result
from kubenode.runtime.informer import Informer

from .adoption_controller import ANNOTATION_ADOPT
from .bootstrap import AgentEndpoint, ensure_agent_kubeconfig, revoke_bootstrap_token, token_id_of
from .node_sync import node_patch, sync_summary
from .phases import AGENT, Timeouts, compute_status, parse_time
from .resources import MACHINE_COMPONENTS, MACHINES

log = logging.getLogger("kubenode.machine")

Obj = dict[str, Any]
#: Finds the provider for a Machine: returns the provider or raises ProviderError (reason, message).
ProviderResolver = Callable[[Obj], Awaitable[InfraProvider]]

FIELD_MANAGER = "kubenode-machine-controller"
#: Index of the MachineComponents cache: the machine a component belongs to (label kubenode.io/machine).
INDEX_COMPONENTS_OF = "machine-components"


@dataclass
class MachineControllerConfig:
    """Timeouts and intervals of the Machine controller."""

    timeouts: Timeouts = field(default_factory=Timeouts)
    poll_seconds: float = 5.0  # re-check machines that are not yet Running
    resync_seconds: float = 30.0  # re-check running machines (agent heartbeats age)
    drain_poll_seconds: float = 2.0  # re-check a drain that still waits for pods


def node_name_of(machine: Obj) -> str:
    """The Node a Machine registers: spec.nodeName, else the machine's name."""
    return str((machine.get("spec") or {}).get("nodeName") or machine["metadata"]["name"])


class MachineReconciler:
    """Reconciles one Machine per call."""

    def __init__(self, client: KubeClient, machines: Informer, nodes: Informer, resolve: ProviderResolver,
                 endpoint: AgentEndpoint, config: MachineControllerConfig | None = None,
                 on_event: Callable[[Obj, str, str, str], Awaitable[None]] | None = None,
                 components: Informer | None = None) -> None:
        """`components` (MachineComponents) feeds the ComponentsReady condition; indexed here by machine."""
        self.client = client
        self.machines = machines
        self.nodes = nodes
        self.resolve = resolve
        self.endpoint = endpoint
        self.config = config or MachineControllerConfig()
        self.on_event = on_event
        self.components = components
        if components is not None:
            components.cache.add_index(INDEX_COMPONENTS_OF, lambda o: [
                str(((o.get("metadata") or {}).get("labels") or {}).get(LABEL_MACHINE) or "")])

    async def _event(self, machine: Obj, type_: str, reason: str, message: str) -> None:
        if self.on_event is not None:
            await self.on_event(machine, type_, reason, message)

    async def __call__(self, req: Request) -> Result | None:
        machine = self.machines.cache.get("", req.name)
        if machine is None:
            return None
        if machine["metadata"].get("deletionTimestamp"):
            return await self._reconcile_delete(machine)
        if FINALIZER_MACHINE not in (machine["metadata"].get("finalizers") or []):
            await self.client.patch(MACHINES, req.name, {"metadata": {
                "finalizers": [*(machine["metadata"].get("finalizers") or []), FINALIZER_MACHINE],
                "resourceVersion": machine["metadata"]["resourceVersion"]}}, field_manager=FIELD_MANAGER)
            return None  # the update brings us back with the new object
        return await self._reconcile_normal(machine)

    async def _reconcile_normal(self, machine: Obj) -> Result:
        now = time.time()
        status = machine.get("status") or {}
        infra: InfraStatus | None = None
        problem: tuple[str, str] | None = None
        agent_required = False
        if status.get("phase") == "Failed":
            # terminal: report, do not act (the MachineSet replaces it, a human may delete it)
            infra = None
        else:
            try:
                provider = await self.resolve(machine)
                agent_required = provider.requires_agent
                infra = await provider.state(machine)
                created = status.get("providerID") or (machine.get("spec") or {}).get("providerID")
                if infra.state == STATE_MISSING and not created:
                    kubeconfig = await ensure_agent_kubeconfig(self.client, machine, self.endpoint)
                    infra = await provider.create(machine, Bootstrap(
                        machine_name=machine["metadata"]["name"], machine_uid=machine["metadata"]["uid"],
                        node_name=node_name_of(machine), kubeconfig=kubeconfig))
                    await self._event(machine, "Normal", "Provisioning", f"{provider.type} provider creating the host")
                elif infra.state == STATE_RUNNING and _condition_is(status, AGENT, "Unknown"):
                    # The host runs but its agent stopped reporting: its certificate may have expired while the
                    # host was off. Hand it a fresh bootstrap token (reused while still valid; the approver
                    # accepts it for this Machine's node only). An agent with a valid certificate ignores it,
                    # and the token is revoked as soon as the agent reports again.
                    kubeconfig = await ensure_agent_kubeconfig(self.client, machine, self.endpoint)
                    infra = await provider.create(machine, Bootstrap(
                        machine_name=machine["metadata"]["name"], machine_uid=machine["metadata"]["uid"],
                        node_name=node_name_of(machine), kubeconfig=kubeconfig))
            except ProviderError as exc:
                problem = (exc.reason, str(exc))
                if not exc.retryable:
                    infra = InfraStatus("Failed", message=str(exc))
                    problem = None
        if infra is not None and infra.provider_id and not (machine.get("spec") or {}).get("providerID"):
            # DESIGN.md: spec.providerID is set once the host exists (as Cluster API does).
            await self.client.patch(MACHINES, machine["metadata"]["name"], {"spec": {"providerID": infra.provider_id}},
                                    field_manager=FIELD_MANAGER)
        node = self.nodes.cache.get("", node_name_of(machine))
        synced: tuple[bool, str] | None = None
        if node is not None:
            synced = await self._sync_node(machine, node)
        components = (None if self.components is None else
                      self.components.cache.by_index(INDEX_COMPONENTS_OF, machine["metadata"]["name"]))
        new_status = compute_status(machine, infra, node, now, self.config.timeouts, node_synced=synced,
                                    provider_problem=problem, components=components,
                                    agent_required=agent_required)
        written = await self._write_status(machine, new_status)
        await self._age_out_components(machine, new_status, components)
        if written and new_status.get("phase") != status.get("phase"):
            # After the write, and once: the written object is in the cache, so a reconcile that runs before
            # the watch event arrives sees the new phase and does not announce it again.
            kind = "Warning" if new_status.get("phase") == "Failed" else "Normal"
            msg = new_status.get("failureMessage") or f"machine is {new_status.get('phase')}"
            await self._event(machine, kind, str(new_status.get("failureReason") or new_status.get("phase")), msg)
        if token_id_of(machine) and _condition_true(new_status, AGENT):
            # The agent works with its own certificate now: its bootstrap token has served its purpose.
            await revoke_bootstrap_token(self.client, machine)
            await self._event(machine, "Normal", "BootstrapTokenRevoked",
                              "the agent connected with its client certificate; its bootstrap token was deleted")
        if new_status.get("phase") == "Running":
            return Result(requeue_after=self.config.resync_seconds)
        if new_status.get("phase") == "Failed":
            return Result()
        return Result(requeue_after=self.config.poll_seconds)

    async def _sync_node(self, machine: Obj, node: Obj) -> tuple[bool, str]:
        patch = node_patch(machine, node)
        if patch is None:
            return True, sync_summary(machine)
        try:
            await self.client.patch(NODES, node["metadata"]["name"], patch, field_manager=FIELD_MANAGER)
        except errors.Conflict:
            return False, "the node changed while syncing; retrying"
        except errors.ApiError as exc:
            return False, f"could not update the node: {exc}"
        return True, sync_summary(machine)

    async def _age_out_components(self, machine: Obj, status: Obj, components: list[Obj] | None) -> None:
        """While the machine's agent does not report (AgentConnected Unknown: its heartbeat went stale),
        its components' health is Unknown too, as the node lifecycle controller does for a Node's Ready:
        a stale "healthy" must not keep a rollout or ComponentsReady going. The agent's next report
        replaces it."""
        agent = next((x for x in status.get("conditions") or [] if x.get("type") == "AgentConnected"), None)
        if not components or agent is None or agent.get("status") != "Unknown":
            return
        for mc in components:
            st = mc.get("status") or {}
            health = next((x for x in st.get("conditions") or [] if x.get("type") == COMPONENT_CONDITION_HEALTHY),
                          None)
            if st.get("healthy") is None and health is not None and health.get("status") == "Unknown":
                continue
            conditions = [dict(x) for x in st.get("conditions") or []]
            set_condition(conditions, COMPONENT_CONDITION_HEALTHY, "Unknown", COMPONENT_REASON_AGENT_NOT_REPORTING,
                          f"the agent of machine {machine['metadata']['name']} is not reporting: "
                          f"{agent.get('message', '')}".rstrip(": "))
            try:
                updated = await self.client.patch_status(MACHINE_COMPONENTS, mc["metadata"]["name"], {
                    "metadata": {"resourceVersion": mc["metadata"]["resourceVersion"]},
                    "status": {"healthy": None, "conditions": conditions}}, field_manager=FIELD_MANAGER)
            except (errors.Conflict, errors.NotFound):
                continue  # the agent (or a deletion) got there first: look again next time
            except errors.ApiError as exc:
                log.warning("machine %s: cannot mark component %s Unknown: %s", machine["metadata"]["name"],
                            mc["metadata"]["name"], exc)
                return
            if self.components is not None:
                self.components.cache.remember(updated)

    async def _write_status(self, machine: Obj, new_status: Obj) -> bool:
        """Write the status if it changed (the written object goes into the cache); True when written."""
        old = machine.get("status") or {}
        if _same_status(old, new_status):
            return False
        # The agent owns status.agent (heartbeats): never overwrite it from a stale cache.
        body = {"status": {k: v for k, v in new_status.items() if k != "agent"}}
        for k in old:
            if k not in new_status and k != "agent":
                body["status"][k] = None
        updated = await self.client.patch(MACHINES, machine["metadata"]["name"], body, subresource="status",
                                          field_manager=FIELD_MANAGER)
        self.machines.cache.remember(updated)
        return True

    # ------------------------------------------------------------------ deletion
    async def _reconcile_delete(self, machine: Obj) -> Result | None:
        if FINALIZER_MACHINE not in (machine["metadata"].get("finalizers") or []):
            return None
        name = machine["metadata"]["name"]
        node_name = node_name_of(machine)
        node = self.nodes.cache.get("", node_name)
        status = machine.get("status") or {}
        if node is not None and status.get("phase") not in ("Deleting",):
            if status.get("phase") != "Draining":
                await self._set_phase(machine, "Draining")
                await self._event(machine, "Normal", "Draining", f"cordoning and draining node {node_name}")
            result = await drain(self.client, node_name, field_manager=FIELD_MANAGER)
            if not result.done:
                started = parse_time(machine["metadata"].get("deletionTimestamp")) or time.time()
                timeout = (machine.get("spec") or {}).get("nodeDrainTimeoutSeconds")
                waited = time.time() - started
                if timeout is None or waited < float(timeout):
                    reason = MACHINE_REASON_DRAIN_BLOCKED if result.blocked else MACHINE_REASON_DRAINING
                    await self._event(machine, "Warning" if result.blocked else "Normal", reason,
                                      f"{result.message()} (waiting {int(waited)}s"
                                      + (f" of nodeDrainTimeoutSeconds {timeout})" if timeout is not None
                                         else "; set spec.nodeDrainTimeoutSeconds to bound it)"))
                    return Result(requeue_after=self.config.drain_poll_seconds)
                await self._event(machine, "Warning", MACHINE_REASON_DRAIN_TIMEOUT,
                                  f"{result.message()}; nodeDrainTimeoutSeconds {timeout} passed: deleting anyway")
        if status.get("phase") != "Deleting":
            await self._set_phase(machine, "Deleting")
        provider: InfraProvider | None = None
        try:
            provider = await self.resolve(machine)
            infra = await provider.delete(machine)
        except ProviderError as exc:
            if exc.retryable:
                log.warning("deprovisioning %s failed, will retry: %s", name, exc)
                return Result(requeue_after=self.config.poll_seconds)
            infra = InfraStatus(STATE_MISSING, message=str(exc))
        if infra.state != STATE_MISSING:
            return Result(requeue_after=1.0)
        if provider is not None and not provider.owns_hosts:
            # An adopted Node is the kubelet's: it stays (cordoned, drained) and is kept out of re-adoption.
            await self._release_node(node_name)
        else:
            try:
                await self.client.delete(NODES, node_name)
            except errors.NotFound:
                pass
        fins = [f for f in machine["metadata"].get("finalizers") or [] if f != FINALIZER_MACHINE]
        try:
            await self.client.patch(MACHINES, name, {"metadata": {
                "finalizers": fins or None, "resourceVersion": machine["metadata"]["resourceVersion"]}},
                field_manager=FIELD_MANAGER)
        except errors.NotFound:
            pass
        if provider is not None and not provider.owns_hosts:
            await self._event(machine, "Normal", "Released",
                              f"machine {name} deleted; node {node_name} is cordoned and drained and was left in "
                              f"place with its host (annotated {ANNOTATION_ADOPT}=false)")
        else:
            await self._event(machine, "Normal", "Deleted",
                              f"machine {name} deprovisioned and node {node_name} removed")
        return None

    async def _release_node(self, node_name: str) -> None:
        """Keep a released adopted Node out of adoption (`kubenode.io/adopt: "false"`); it stays cordoned."""
        try:
            await self.client.patch(NODES, node_name, {"metadata": {"annotations": {ANNOTATION_ADOPT: "false"}}},
                                    field_manager=FIELD_MANAGER)
        except errors.NotFound:
            pass

    async def _set_phase(self, machine: Obj, phase: str) -> None:
        await self.client.patch(MACHINES, machine["metadata"]["name"], {"status": {"phase": phase}},
                                subresource="status", field_manager=FIELD_MANAGER)


def _condition_is(status: Obj, type_: str, value: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == value for c in status.get("conditions") or [])


def _condition_true(status: Obj, type_: str) -> bool:
    return _condition_is(status, type_, "True")


def _same_status(old: Obj, new: Obj) -> bool:
    keys = (set(old) | set(new)) - {"agent"}
    return all(old.get(k) == new.get(k) for k in keys)


def machine_of_component(mc: Obj) -> list[Request]:
    """Map a MachineComponent to its Machine (label kubenode.io/machine)."""
    name = ((mc.get("metadata") or {}).get("labels") or {}).get(LABEL_MACHINE)
    return [Request(name)] if name else []


def machines_for_node(node: Obj) -> list[Request]:
    """Map a Node to its Machine (label kubenode.io/machine, else the same name)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    return [Request(labels.get(LABEL_MACHINE) or node["metadata"]["name"])]
