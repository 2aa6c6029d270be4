"""The adoption controller: a Machine for every Node an `existing` InfraProvider selects.

A cluster KubeNode did not build already has Nodes (the kubelet registered
them). An InfraProvider of type `existing` names them with
`spec.parameters.nodeSelector` (a LabelSelector); this controller keeps one
Machine per selected Node — named after the Node, `spec.nodeName` the Node,
`spec.providerRef` the provider, `spec.providerID` `existing://<node>`,
labelled `kubenode.io/infraprovider=<provider>` — so components,
remediation and the Defender work on those nodes like on any other. From
there on the Machine controller runs them (the provider reports the host
running while its Node exists, and Running waits for the agent).

Adoption only ever creates Machines. A Node that stops matching, or goes
away, keeps its Machine (a selector typo must never cordon and drain a fleet);
deleting a Machine is a human's (or a MachineSet's) decision. Deleting an
adopted Machine cordons and drains its Node and marks it
`kubenode.io/adopt: "false"`, so it is not adopted again at once; remove the
annotation to adopt it again. A Node of the same name as a Machine that is not
this provider's is skipped and said so.

The decision is a pure function (`plan_adoption`); the reconciler writes the
Machines, one status write on the InfraProvider (condition `Ready`,
`status.machines`), an Event per adoption and the counter
`kubenode_machines_adopted_total{provider}`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from kubenode.api import constants as c
from kubenode.api.constants import API_VERSION, KIND_MACHINE
from kubenode.apimachinery.selectors import label_selector_from_dict
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.providers.existing import TYPE as EXISTING
from kubenode.providers.existing import parse_parameters, provider_id
from kubenode.runtime.conditions import set_condition
from kubenode.runtime.controller import Request, Result
from kubenode.runtime.informer import Informer

from .resources import INFRA_PROVIDERS, MACHINES

log = logging.getLogger("kubenode.machine.adoption")

Obj = dict[str, Any]
FIELD_MANAGER = "kubenode-adoption-controller"

#: On Machines: the InfraProvider that adopted their Node.
LABEL_INFRA_PROVIDER = "kubenode.io/infraprovider"
#: On Nodes: "false" keeps the Node out of adoption (set when its adopted Machine was deleted).
ANNOTATION_ADOPT = "kubenode.io/adopt"


@dataclass
class AdoptionPlan:
    """What one reconcile of an `existing` provider does."""

    #: Node names to create a Machine for.
    adopt: list[str] = field(default_factory=list)
    #: Node name → why it is selected but not adopted.
    skipped: dict[str, str] = field(default_factory=dict)
    #: Machines of this provider (alive), after the plan is carried out.
    machines: int = 0


def is_existing(ip: Obj) -> bool:
    """Whether an InfraProvider is of type `existing`."""
    return (ip.get("spec") or {}).get("type") == EXISTING


def plan_adoption(provider: str, selector: Obj, nodes: list[Obj], machines: dict[str, Obj]) -> AdoptionPlan:
    """Which selected Nodes get a Machine; `machines` are all Machines by name (pure)."""
    sel = label_selector_from_dict(selector)
    plan = AdoptionPlan()
    ours = {n for n, m in machines.items()
            if ((m.get("metadata") or {}).get("labels") or {}).get(LABEL_INFRA_PROVIDER) == provider
            and not m["metadata"].get("deletionTimestamp")}
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        meta = node["metadata"]
        name = meta["name"]
        if meta.get("deletionTimestamp") or not sel.matches(meta.get("labels") or {}):
            continue
        if (meta.get("annotations") or {}).get(ANNOTATION_ADOPT) == "false":
            plan.skipped[name] = f'annotated {ANNOTATION_ADOPT}="false"'
            continue
        existing = machines.get(name)
        if existing is None:
            plan.adopt.append(name)
            continue
        if name in ours:
            continue
        if existing["metadata"].get("deletionTimestamp"):
            plan.skipped[name] = "its previous Machine is still being deleted"
        else:
            plan.skipped[name] = f"a Machine named {name} already exists and belongs to another provider"
    plan.machines = len(ours) + len(plan.adopt)
    return plan


def adopted_machine(ip: Obj, node: Obj) -> Obj:
    """The Machine that adopts `node` for the InfraProvider `ip`."""
    name = node["metadata"]["name"]
    return {
        "apiVersion": API_VERSION, "kind": KIND_MACHINE,
        "metadata": {"name": name, "labels": {LABEL_INFRA_PROVIDER: ip["metadata"]["name"]}},
        "spec": {"providerRef": {"name": ip["metadata"]["name"]}, "nodeName": name,
                 "providerID": provider_id(name)},
    }


def adopted_counter(registry: CollectorRegistry | None) -> Counter:
    """`kubenode_machines_adopted_total{provider}` on `registry` (None: on no registry)."""
    return Counter("kubenode_machines_adopted_total", "Machines created for existing Nodes, by InfraProvider.",
                   ["provider"], registry=registry)


class AdoptionReconciler:
    """Reconciles one InfraProvider of type `existing` per call."""

    def __init__(self, client: KubeClient, infraproviders: Informer, nodes: Informer, machines: Informer,
                 adopted: Counter | None = None,
                 on_event: Callable[[Obj, str, str, str], Awaitable[None]] | None = None) -> None:
        """`adopted` is `adopted_counter(registry)`, registered by the wiring."""
        self.client = client
        self.infraproviders = infraproviders
        self.nodes = nodes
        self.machines = machines
        self.on_event = on_event
        self.adopted = adopted if adopted is not None else adopted_counter(None)

    async def __call__(self, req: Request) -> Result | None:
        ip = self.infraproviders.cache.get("", req.name)
        if ip is None or ip["metadata"].get("deletionTimestamp") or not is_existing(ip):
            return None
        self.adopted.labels(req.name)  # pre-initialised: the series exists at 0
        try:
            selector = parse_parameters((ip.get("spec") or {}).get("parameters"))
        except ValueError as exc:
            await self._write_status(ip, c.CONDITION_FALSE, c.INFRA_PROVIDER_REASON_INVALID_PARAMETERS, str(exc), None)
            await self._event(ip, "Warning", c.INFRA_PROVIDER_REASON_INVALID_PARAMETERS, str(exc))
            return Result()
        machines = {m["metadata"]["name"]: m for m in self.machines.cache.list()}
        nodes = {n["metadata"]["name"]: n for n in self.nodes.cache.list()}
        plan = plan_adoption(req.name, selector, list(nodes.values()), machines)
        for name in plan.adopt:
            try:
                created = await self.client.create(MACHINES, adopted_machine(ip, nodes[name]),
                                                   field_manager=FIELD_MANAGER)
            except errors.AlreadyExists:
                continue  # our cache was behind; the next reconcile sees it
            self.machines.cache.remember(created)
            self.adopted.labels(req.name).inc()
            await self._event(ip, "Normal", c.INFRA_PROVIDER_REASON_ADOPTED,
                              f"created Machine {name} for existing Node {name}")
            log.info("infraprovider %s adopted node %s", req.name, name)
        if plan.skipped:
            detail = "; ".join(f"{n}: {why}" for n, why in sorted(plan.skipped.items())[:5])
            more = f" (and {len(plan.skipped) - 5} more)" if len(plan.skipped) > 5 else ""
            msg = f"{plan.machines} node(s) adopted; {len(plan.skipped)} selected node(s) skipped: {detail}{more}"
            await self._write_status(ip, c.CONDITION_TRUE, c.INFRA_PROVIDER_REASON_NODES_SKIPPED, msg, plan.machines)
        else:
            await self._write_status(ip, c.CONDITION_TRUE, c.INFRA_PROVIDER_REASON_READY,
                                     f"{plan.machines} node(s) adopted",
                                     plan.machines)
        return Result(requeue_after=60.0)

    async def _event(self, ip: Obj, type_: str, reason: str, message: str) -> None:
        if self.on_event is not None:
            await self.on_event(ip, type_, reason, message)

    async def _write_status(self, ip: Obj, status: str, reason: str, message: str, count: int | None) -> None:
        old = ip.get("status") or {}
        conditions = [dict(c) for c in old.get("conditions") or []]
        gen = ip["metadata"].get("generation")
        set_condition(conditions, c.INFRA_PROVIDER_CONDITION_READY, status, reason, message, observed_generation=gen)
        new: Obj = {"observedGeneration": gen, "conditions": conditions}
        if count is not None:
            new["machines"] = count
        if all(old.get(k) == v for k, v in new.items()):
            return
        await self.client.patch(INFRA_PROVIDERS, ip["metadata"]["name"], {"status": new}, subresource="status",
                                field_manager=FIELD_MANAGER)


def providers_for_node(infraproviders: Informer) -> Callable[[Obj], list[Request]]:
    """A changed Node wakes every `existing` provider (each decides with its own selector)."""

    def mapper(_: Obj) -> list[Request]:
        return [Request(ip["metadata"]["name"]) for ip in infraproviders.cache.list() if is_existing(ip)]

    return mapper


def provider_of_machine(machine: Obj) -> list[Request]:
    """A changed adopted Machine wakes its provider (a deleted one may be re-adopted)."""
    name = ((machine.get("metadata") or {}).get("labels") or {}).get(LABEL_INFRA_PROVIDER)
    return [Request(name)] if name else []
