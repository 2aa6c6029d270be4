"""The Machine controller: from a Machine to a Ready node, and back to nothing.

Reconcile is level-triggered: it builds one `MachineScope` per run and runs
an ordered list of phases on it — `NORMAL_PHASES` (finalizer → provider and
agent identity → providerID → node sync → status) or, once the Machine is
being deleted, `DELETE_PHASES` (drain → deprovision → Node). A phase may end
the run early (`scope.result`). Every observation goes into
`phases.compute_status` (pure); on both paths the status is written once at
the end, only when it changed (`status.py`), and the run's Events follow the
write. Deletion runs behind the
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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubenode.api import constants as c
from kubenode.api.constants import FINALIZER_MACHINE, LABEL_MACHINE
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
from kubenode.runtime.controller import Request, Result
from kubenode.runtime.informer import Informer

from .adoption_controller import ANNOTATION_ADOPT
from .bootstrap import AgentEndpoint, ensure_agent_kubeconfig, revoke_bootstrap_token, token_id_of
from .node_sync import node_patch, sync_summary
from .phases import Timeouts, compute_status, parse_time
from .resources import MACHINE_COMPONENTS, MACHINES
from .status import (
    Event,
    agent_silent,
    component_unknown_patch,
    condition_is,
    phase_patch,
    status_patch,
    transition_event,
)

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


@dataclass
class MachineScope:
    """What one reconcile of one Machine knows: built once per run, filled in by the phases in order."""

    machine: Obj
    now: float
    node: Obj | None
    components: list[Obj] | None
    provider: InfraProvider | None = None
    infra: InfraStatus | None = None
    problem: tuple[str, str] | None = None
    agent_required: bool = False
    synced: tuple[bool, str] | None = None
    #: The status to write at the end (normal path), or the phase to move to (delete path).
    status: Obj | None = None
    phase: str | None = None
    #: Set by a phase that ends the run early; the status is still written.
    result: Result | None = None
    stopped: bool = False
    #: Delete path: every step is done, the finalizer can go.
    release: bool = False
    #: Events of this run, recorded after the status write (a reader who sees one sees the status it names).
    events: list[Event] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.machine["metadata"]["name"])

    @property
    def old_status(self) -> Obj:
        return self.machine.get("status") or {}

    def stop(self, result: Result | None) -> None:
        """End the run after this phase with `result`."""
        self.stopped, self.result = True, result

    def event(self, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


Phase = Callable[["MachineReconciler", MachineScope], Awaitable[None]]


class MachineReconciler:
    """Reconciles one Machine per call (wired by `wiring.add_machine_controllers`)."""

    def __init__(self, client: KubeClient, machines: Informer, nodes: Informer, resolve: ProviderResolver,
                 endpoint: AgentEndpoint, config: MachineControllerConfig | None = None,
                 on_event: Callable[[Obj, str, str, str], Awaitable[None]] | None = None,
                 components: Informer | None = None) -> None:
        """`components` (MachineComponents, indexed by `INDEX_COMPONENTS_OF`) feeds ComponentsReady."""
        self.client = client
        self.machines = machines
        self.nodes = nodes
        self.resolve = resolve
        self.endpoint = endpoint
        self.config = config or MachineControllerConfig()
        self.on_event = on_event
        self.components = components

    async def _event(self, machine: Obj, type_: str, reason: str, message: str) -> None:
        if self.on_event is not None:
            await self.on_event(machine, type_, reason, message)

    def scope(self, machine: Obj) -> MachineScope:
        """The per-run scope: the Machine, the clock, its Node and its components, read once from the caches."""
        components = (None if self.components is None else
                      self.components.cache.by_index(INDEX_COMPONENTS_OF, machine["metadata"]["name"]))
        return MachineScope(machine, time.time(), self.nodes.cache.get("", node_name_of(machine)), components)

    async def __call__(self, req: Request) -> Result | None:
        machine = self.machines.cache.get("", req.name)
        if machine is None:
            return None
        scope = self.scope(machine)
        deleting = bool(machine["metadata"].get("deletionTimestamp"))
        phases = DELETE_PHASES if deleting else NORMAL_PHASES
        try:
            for phase in phases:
                await phase(self, scope)
                if scope.stopped:
                    break
        finally:
            await (self._write_phase(scope) if deleting else self._write_status(scope))
            for type_, reason, message in scope.events:
                await self._event(scope.machine, type_, reason, message)
        if deleting:
            return await self._release(scope) if scope.release else scope.result
        if scope.stopped:
            return scope.result
        await self._after_write(scope)
        return scope.result

    # ------------------------------------------------------------------ the normal path

    async def _ensure_finalizer(self, scope: MachineScope) -> None:
        meta = scope.machine["metadata"]
        if FINALIZER_MACHINE in (meta.get("finalizers") or []):
            return
        await self.client.patch(MACHINES, scope.name, {"metadata": {
            "finalizers": [*(meta.get("finalizers") or []), FINALIZER_MACHINE],
            "resourceVersion": meta["resourceVersion"]}}, field_manager=FIELD_MANAGER)
        scope.stop(None)  # the update brings us back with the new object

    async def _provision(self, scope: MachineScope) -> None:
        machine, status = scope.machine, scope.old_status
        if status.get("phase") == c.MACHINE_PHASE_FAILED:
            return  # terminal: report, do not act (the MachineSet replaces it, a human may delete it)
        try:
            provider = scope.provider = await self.resolve(machine)
            scope.agent_required = provider.requires_agent
            scope.infra = await provider.state(machine)
            created = status.get("providerID") or (machine.get("spec") or {}).get("providerID")
            if scope.infra.state == STATE_MISSING and not created:
                scope.infra = await provider.create(machine, await self._bootstrap(machine))
                scope.event("Normal", c.MACHINE_REASON_PROVISIONING, f"{provider.type} provider creating the host")
            elif scope.infra.state == STATE_RUNNING and condition_is(
                    status, c.MACHINE_CONDITION_AGENT_CONNECTED, c.CONDITION_UNKNOWN):
                # The host runs but its agent stopped reporting: its certificate may have expired while the
                # host was off. Hand it a fresh bootstrap token (reused while still valid; the approver
                # accepts it for this Machine's node only). An agent with a valid certificate ignores it,
                # and the token is revoked as soon as the agent reports again.
                scope.infra = await provider.create(machine, await self._bootstrap(machine))
        except ProviderError as exc:
            scope.problem = (exc.reason, str(exc))
            if not exc.retryable:
                scope.infra = InfraStatus("Failed", message=str(exc))
                scope.problem = None

    async def _bootstrap(self, machine: Obj) -> Bootstrap:
        kubeconfig = await ensure_agent_kubeconfig(self.client, machine, self.endpoint)
        return Bootstrap(machine_name=machine["metadata"]["name"], machine_uid=machine["metadata"]["uid"],
                         node_name=node_name_of(machine), kubeconfig=kubeconfig)

    async def _record_provider_id(self, scope: MachineScope) -> None:
        infra = scope.infra
        if infra is not None and infra.provider_id and not (scope.machine.get("spec") or {}).get("providerID"):
            # DESIGN.md: spec.providerID is set once the host exists (as Cluster API does).
            await self.client.patch(MACHINES, scope.name, {"spec": {"providerID": infra.provider_id}},
                                    field_manager=FIELD_MANAGER)

    async def _sync_node(self, scope: MachineScope) -> None:
        node = scope.node
        if node is None:
            return
        patch = node_patch(scope.machine, node)
        if patch is None:
            scope.synced = True, sync_summary(scope.machine)
            return
        try:
            await self.client.patch(NODES, node["metadata"]["name"], patch, field_manager=FIELD_MANAGER)
        except errors.Conflict:
            scope.synced = False, "the node changed while syncing; retrying"
        except errors.ApiError as exc:
            scope.synced = False, f"could not update the node: {exc}"
        else:
            scope.synced = True, sync_summary(scope.machine)

    async def _compute_status(self, scope: MachineScope) -> None:
        scope.status = compute_status(scope.machine, scope.infra, scope.node, scope.now, self.config.timeouts,
                                      node_synced=scope.synced, provider_problem=scope.problem,
                                      components=scope.components, agent_required=scope.agent_required)
        phase = scope.status.get("phase")
        scope.result = (Result(requeue_after=self.config.resync_seconds) if phase == c.MACHINE_PHASE_RUNNING
                        else Result() if phase == c.MACHINE_PHASE_FAILED
                        else Result(requeue_after=self.config.poll_seconds))

    async def _write_status(self, scope: MachineScope) -> bool:
        """Write the computed status if it changed (the written object goes into the cache); True when written."""
        if scope.status is None:
            return False
        body = status_patch(scope.old_status, scope.status)
        if body is None:
            return False
        # The agent owns status.agent (heartbeats): `status_patch` never overwrites it from a stale cache.
        updated = await self.client.patch(MACHINES, scope.name, body, subresource="status",
                                          field_manager=FIELD_MANAGER)
        self.machines.cache.remember(updated)
        if (ev := transition_event(scope.old_status, scope.status)) is not None:
            # Once, after the write: the written object is in the cache, so a reconcile that runs before the
            # watch event arrives sees the new phase and does not announce it again.
            scope.event(*ev)
        return True

    async def _after_write(self, scope: MachineScope) -> None:
        """What follows from the written status: stale components aged out, a used bootstrap token revoked."""
        assert scope.status is not None
        await self._age_out_components(scope)
        if token_id_of(scope.machine) and condition_is(scope.status, c.MACHINE_CONDITION_AGENT_CONNECTED,
                                                       c.CONDITION_TRUE):
            # The agent works with its own certificate now: its bootstrap token has served its purpose.
            await revoke_bootstrap_token(self.client, scope.machine)
            await self._event(scope.machine, "Normal", c.MACHINE_REASON_BOOTSTRAP_TOKEN_REVOKED,
                              "the agent connected with its client certificate; its bootstrap token was deleted")

    async def _age_out_components(self, scope: MachineScope) -> None:
        """While the machine's agent does not report (AgentConnected Unknown: its heartbeat went stale),
        its components' health is Unknown too, as the node lifecycle controller does for a Node's Ready:
        a stale "healthy" must not keep a rollout or ComponentsReady going. The agent's next report
        replaces it."""
        agent = agent_silent(scope.status or {})
        if not scope.components or agent is None:
            return
        for mc in scope.components:
            body = component_unknown_patch(mc, scope.name, agent)
            if body is None:
                continue
            try:
                updated = await self.client.patch_status(MACHINE_COMPONENTS, mc["metadata"]["name"], body,
                                                         field_manager=FIELD_MANAGER)
            except (errors.Conflict, errors.NotFound):
                continue  # the agent (or a deletion) got there first: look again next time
            except errors.ApiError as exc:
                log.warning("machine %s: cannot mark component %s Unknown: %s", scope.name,
                            mc["metadata"]["name"], exc)
                return
            if self.components is not None:
                self.components.cache.remember(updated)

    # ------------------------------------------------------------------ the delete path

    async def _check_finalizer(self, scope: MachineScope) -> None:
        if FINALIZER_MACHINE not in (scope.machine["metadata"].get("finalizers") or []):
            scope.stop(None)  # not ours (any more): nothing to do

    async def _drain(self, scope: MachineScope) -> None:
        machine, old = scope.machine, scope.old_status.get("phase")
        if scope.node is None or old == c.MACHINE_PHASE_DELETING:
            return
        node_name = node_name_of(machine)
        scope.phase = c.MACHINE_PHASE_DRAINING
        if old != c.MACHINE_PHASE_DRAINING:
            scope.event("Normal", c.MACHINE_REASON_DRAINING, f"cordoning and draining node {node_name}")
        result = await drain(self.client, node_name, field_manager=FIELD_MANAGER)
        if result.done:
            return
        started = parse_time(machine["metadata"].get("deletionTimestamp")) or time.time()
        timeout = (machine.get("spec") or {}).get("nodeDrainTimeoutSeconds")
        waited = time.time() - started
        if timeout is None or waited < float(timeout):
            reason = c.MACHINE_REASON_DRAIN_BLOCKED if result.blocked else c.MACHINE_REASON_DRAINING
            scope.event("Warning" if result.blocked else "Normal", reason,
                        f"{result.message()} (waiting {int(waited)}s"
                        + (f" of nodeDrainTimeoutSeconds {timeout})" if timeout is not None
                           else "; set spec.nodeDrainTimeoutSeconds to bound it)"))
            scope.stop(Result(requeue_after=self.config.drain_poll_seconds))
            return
        scope.event("Warning", c.MACHINE_REASON_DRAIN_TIMEOUT,
                    f"{result.message()}; nodeDrainTimeoutSeconds {timeout} passed: deleting anyway")

    async def _deprovision(self, scope: MachineScope) -> None:
        scope.phase = c.MACHINE_PHASE_DELETING
        try:
            scope.provider = await self.resolve(scope.machine)
            infra = await scope.provider.delete(scope.machine)
        except ProviderError as exc:
            if exc.retryable:
                log.warning("deprovisioning %s failed, will retry: %s", scope.name, exc)
                scope.stop(Result(requeue_after=self.config.poll_seconds))
                return
            infra = InfraStatus(STATE_MISSING, message=str(exc))
        if infra.state != STATE_MISSING:
            scope.stop(Result(requeue_after=1.0))

    async def _remove_node(self, scope: MachineScope) -> None:
        node_name = node_name_of(scope.machine)
        if scope.provider is not None and not scope.provider.owns_hosts:
            # An adopted Node is the kubelet's: it stays (cordoned, drained) and is kept out of re-adoption.
            await self._release_node(node_name)
        else:
            try:
                await self.client.delete(NODES, node_name)
            except errors.NotFound:
                pass
        scope.release = True

    async def _write_phase(self, scope: MachineScope) -> bool:
        """The delete path's one status write: the phase it reached (Draining, Deleting)."""
        body = None if scope.phase is None else phase_patch(scope.old_status, scope.phase)
        if body is None:
            return False
        try:
            updated = await self.client.patch(MACHINES, scope.name, body, subresource="status",
                                              field_manager=FIELD_MANAGER)
        except errors.NotFound:
            return False
        scope.machine = updated
        self.machines.cache.remember(updated)
        return True

    async def _release(self, scope: MachineScope) -> Result | None:
        """Every step done: drop the finalizer (the Machine goes) and say what happened to its host and Node."""
        machine = scope.machine
        name, node_name = scope.name, node_name_of(machine)
        fins = [f for f in machine["metadata"].get("finalizers") or [] if f != FINALIZER_MACHINE]
        try:
            await self.client.patch(MACHINES, name, {"metadata": {
                "finalizers": fins or None, "resourceVersion": machine["metadata"]["resourceVersion"]}},
                field_manager=FIELD_MANAGER)
        except errors.NotFound:
            pass
        if scope.provider is not None and not scope.provider.owns_hosts:
            await self._event(machine, "Normal", c.MACHINE_REASON_RELEASED,
                              f"machine {name} deleted; node {node_name} is cordoned and drained and was left in "
                              f"place with its host (annotated {ANNOTATION_ADOPT}=false)")
        else:
            await self._event(machine, "Normal", c.MACHINE_REASON_DELETED,
                              f"machine {name} deprovisioned and node {node_name} removed")
        return None

    async def _release_node(self, node_name: str) -> None:
        """Keep a released adopted Node out of adoption (`kubenode.io/adopt: "false"`); it stays cordoned."""
        try:
            await self.client.patch(NODES, node_name, {"metadata": {"annotations": {ANNOTATION_ADOPT: "false"}}},
                                    field_manager=FIELD_MANAGER)
        except errors.NotFound:
            pass


#: The normal path, in order (each phase reads and fills the scope; the status write follows).
NORMAL_PHASES: Sequence[Phase] = (MachineReconciler._ensure_finalizer, MachineReconciler._provision,
                                  MachineReconciler._record_provider_id, MachineReconciler._sync_node,
                                  MachineReconciler._compute_status)
#: The delete path, in order (behind the finalizer; the phase write follows, then the finalizer goes).
DELETE_PHASES: Sequence[Phase] = (MachineReconciler._check_finalizer, MachineReconciler._drain,
                                  MachineReconciler._deprovision, MachineReconciler._remove_node)


def machine_of_component(mc: Obj) -> list[Request]:
    """Map a MachineComponent to its Machine (label kubenode.io/machine)."""
    name = ((mc.get("metadata") or {}).get("labels") or {}).get(LABEL_MACHINE)
    return [Request(name)] if name else []


def machines_for_node(node: Obj) -> list[Request]:
    """Map a Node to its Machine (label kubenode.io/machine, else the same name)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    return [Request(labels.get(LABEL_MACHINE) or node["metadata"]["name"])]
