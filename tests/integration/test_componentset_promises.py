"""The promises of docs/rollouts.md that the first version did not keep, against the real embedded server.

* the soak (`batchSoakSeconds`) counts from when the batch was healthy at the
  new revision, even when a quick upgrade never flips the Healthy condition;
* a new set on machines already in service installs in batches, each admitted
  by the Defender; a machine that joins later gets the target at once;
* the Defender's `maxConcurrent` slot of a batch is derived from the set's
  status, so an operator restart mid-batch does not leak it (with
  maxConcurrent 1 the rollout still finishes).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubenode.api import constants as c
from kubenode.apiserver.server import RunningServer
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import EVENTS, NODES, PODS
from kubenode.componentset.resources import MACHINE_COMPONENT_SETS, MACHINE_COMPONENTS, MACHINES
from kubenode.componentset.revisions import template_hash
from kubenode.componentset.rollout_planner import MachineState, rollout_order
from kubenode.componentset.wiring import add_componentset_controllers
from kubenode.controlplane.up import install_crds
from kubenode.defender.resources import DEFENDER_POLICIES
from kubenode.defender.service import Defender
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.manager import Manager

from .polling import eventually
from .test_componentset import GateReviewer, Journal, SimulatedAgent, component_set

Obj = dict[str, Any]


class Fleet:
    """Machines with simulated agents, and a way to (re)start the componentset operator."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.journal = Journal()
        self.agents: dict[str, SimulatedAgent] = {}
        self.manager: Manager | None = None

    async def machine(self, name: str, *, in_service: bool, install_seconds: float = 0.15) -> None:
        await self.client.create(MACHINES, {"apiVersion": c.API_VERSION, "kind": "Machine",
                                            "metadata": {"name": name, "labels": {"pool": "a"}},
                                            "spec": {"providerRef": {"name": "local"}}})
        if in_service:
            await self.client.patch_status(MACHINES, name, {"status": {"phase": "Running"}})
        agent = SimulatedAgent(self.client, name, self.journal, set(), install_seconds=install_seconds)
        self.agents[name] = agent
        agent.start()

    async def start_operator(self, reviewer: Any = None, *, defender: bool = False) -> Manager:
        manager = Manager(self.client)
        if defender:
            reviewer = Defender(self.client, manager.informers.informer(DEFENDER_POLICIES),
                                manager.informers.informer(NODES), manager.registry,
                                EventRecorder(self.client, "kubenode-defender", "test"),
                                flush_interval=0.05, resync_interval=0.3)
            manager.add(reviewer)
        add_componentset_controllers(manager, self.client, reviewer=reviewer)
        await manager.start()
        self.manager = manager
        return manager

    async def stop_operator(self) -> None:
        if self.manager is not None:
            await self.manager.stop()
            self.manager = None

    async def status(self, name: str) -> Obj:
        return (await self.client.get(MACHINE_COMPONENT_SETS, name)).get("status") or {}

    async def phase(self, name: str, phase: str, within: float = 30.0) -> Obj:
        async def check() -> Obj | None:
            mcs = await self.client.get(MACHINE_COMPONENT_SETS, name)
            st = mcs.get("status") or {}
            ok = st.get("phase") == phase and st.get("observedGeneration") == mcs["metadata"]["generation"]
            return mcs if ok else None

        return await eventually(check, within, f"{name} to be {phase}")

    async def order(self, revision: str) -> list[str]:
        machines, _ = await self.client.list(MACHINES)
        return [m.name for m in rollout_order([MachineState(m["metadata"]["name"], m["metadata"]["uid"])
                                               for m in machines], revision)]


@pytest.fixture
async def fleet(server: RunningServer) -> AsyncIterator[Fleet]:
    client = KubeClient(load_config(server.kubeconfig))
    client.config.qps, client.config.burst = 1000.0, 1000
    await install_crds(client)
    f = Fleet(client)
    try:
        yield f
    finally:
        await f.stop_operator()
        for a in f.agents.values():
            await a.stop()
        await client.close()


def batches_of(order: list[str], bounds: list[int]) -> list[list[str]]:
    return [order[a:b] for a, b in itertools.pairwise([0, *bounds])]


async def test_soak_counts_from_batch_readiness_when_healthy_never_flips(fleet: Fleet) -> None:
    for i in range(3):
        await fleet.machine(f"m{i}", in_service=False)
    for agent in fleet.agents.values():
        # A quick upgrade keeps Healthy=True: its lastTransitionTime stays where the first install put it.
        agent.healthy_since = "2020-01-01T00:00:00Z"
    await fleet.start_operator(GateReviewer())
    await fleet.client.create(MACHINE_COMPONENT_SETS, component_set("demo", "1.0.0", batches=[1, 1, 1],
                                                                    batchSoakSeconds=2))
    await fleet.phase("demo", "Completed")
    await fleet.client.patch(MACHINE_COMPONENT_SETS, "demo", {"spec": {"template": {"version": "1.1.0"}}})
    mcs = await fleet.client.get(MACHINE_COMPONENT_SETS, "demo")
    v2 = template_hash(mcs["spec"]["template"])
    await fleet.phase("demo", "Completed")
    j = fleet.journal
    batches = batches_of(await fleet.order(v2), [1, 2, 3])
    for prev, nxt in itertools.pairwise(batches):
        ready = max(j.last(m, "ready", v2) for m in prev)
        started = min(j.first(m, "assigned", v2) for m in nxt)
        assert started - ready >= 2.0, f"batch {nxt} started {started - ready:.2f}s after {prev} was ready"


async def test_a_new_set_on_machines_in_service_goes_in_batches_through_the_defender(fleet: Fleet) -> None:
    for i in range(5):
        await fleet.machine(f"m{i}", in_service=True)
    reviewer = GateReviewer()
    reviewer.deny.add(2)
    await fleet.start_operator(reviewer)
    await fleet.client.create(MACHINE_COMPONENT_SETS, component_set("demo", "1.0.0"))  # batches [1, 2, 2]
    mcs = await fleet.client.get(MACHINE_COMPONENT_SETS, "demo")
    v1 = template_hash(mcs["spec"]["template"])

    async def held() -> Obj | None:
        st = await fleet.status("demo")
        allowed = {x["type"]: x for x in st.get("conditions") or []}.get("RolloutAllowed")
        return st if allowed and allowed["status"] == "False" else None

    await eventually(held, what="batch 2 held by the Defender")
    items, _ = await fleet.client.list(MACHINE_COMPONENTS)
    order = await fleet.order(v1)
    assert [mc["spec"]["machineName"] for mc in items] == order[:1]  # only the first batch was installed
    reviewer.deny.clear()
    mcs = await fleet.phase("demo", "Completed")
    assert mcs["status"]["ready"] == 5
    ids = [op.id for op in reviewer.reviews]
    assert [i.rsplit("/", 1)[1] for i in dict.fromkeys(ids)] == ["1", "2", "3"]
    assert [op.count for op in reviewer.reviews if op.id.endswith("/batch/3")][:1] == [2]
    j = fleet.journal
    for prev, nxt in itertools.pairwise(batches_of(order, [1, 3, 5])):
        assert min(j.first(m, "assigned", v1) for m in nxt) > max(j.last(m, "ready", v1) for m in prev)
    # a machine that joins later is not serving yet: it gets the target at once, with no Defender review
    reviews = len(reviewer.reviews)
    await fleet.machine("late", in_service=False)

    async def late() -> Obj | None:
        items, _ = await fleet.client.list(MACHINE_COMPONENTS, label_selector=f"{c.LABEL_MACHINE}=late")
        return items[0] if items and (items[0].get("status") or {}).get("healthy") else None

    mc = await eventually(late, what="the late machine's component")
    assert mc["spec"]["revision"] == v1
    assert len(reviewer.reviews) == reviews


async def test_operator_restart_mid_batch_does_not_leak_the_max_concurrent_slot(fleet: Fleet) -> None:
    await fleet.client.create(DEFENDER_POLICIES, {
        "apiVersion": c.API_VERSION, "kind": "DefenderPolicy", "metadata": {"name": "upgrades"},
        "spec": {"rules": [{"name": "one-at-a-time", "operations": ["ComponentUpgrade"], "maxConcurrent": 1}]}})
    for i in range(3):
        await fleet.machine(f"m{i}", in_service=False, install_seconds=1.0)
    await fleet.start_operator(defender=True)
    # maxConcurrent counts machines: batches of one, so that each batch fits the single slot
    await fleet.client.create(MACHINE_COMPONENT_SETS, component_set("demo", "1.0.0", batches=[1]))
    await fleet.phase("demo", "Completed")
    await fleet.client.patch(MACHINE_COMPONENT_SETS, "demo", {"spec": {"template": {"version": "1.1.0"}}})

    async def mid_batch() -> Obj | None:
        st = await fleet.status("demo")
        return st if st.get("currentBatch") == 2 and st.get("batchOperation", "").endswith("/batch/2") else None

    st = await eventually(mid_batch, within=30, what="batch 2 in flight")
    await fleet.stop_operator()  # the operator goes away mid-batch; the Defender's ledger is in its policy
    policy = await fleet.client.get(DEFENDER_POLICIES, "upgrades")
    assert st["batchOperation"] in str(policy.get("status", {}).get("ledger"))
    await fleet.start_operator(defender=True)  # a new operator: nothing in memory
    mcs = await fleet.phase("demo", "Completed", within=60)
    assert mcs["status"]["ready"] == 3 and "batchOperation" not in mcs["status"]


# --------------------------------------------------------------------------- disruption: Drain


class DrainAwareAgent(SimulatedAgent):
    """Records, each time it is handed a new spec, whether its node was cordoned and which pods still ran."""

    seen: list[tuple[str, str, bool, list[str]]]

    async def _handle(self, mc: Obj) -> None:
        meta, st = mc["metadata"], mc.get("status") or {}
        if (not meta.get("deletionTimestamp") and c.FINALIZER_MACHINE_COMPONENT in (meta.get("finalizers") or [])
                and st.get("observedGeneration") != meta["generation"]):
            node = await self.client.get(NODES, self.machine)
            pods, _ = await self.client.list(PODS, None, field_selector=f"spec.nodeName={self.machine}")
            self.seen.append((mc["spec"]["version"], self.machine, bool((node.get("spec") or {}).get("unschedulable")),
                              sorted(p["metadata"]["name"] for p in pods)))
        await super()._handle(mc)


def pod(name: str, node: str, **meta: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", **meta},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "example/app"}]}}


async def test_drain_disruption_cordons_and_drains_before_the_update_and_uncordons_after(fleet: Fleet) -> None:
    seen: list[tuple[str, str, bool, list[str]]] = []
    for i in range(3):
        name = f"m{i}"
        await fleet.client.create(MACHINES, {"apiVersion": c.API_VERSION, "kind": "Machine",
                                             "metadata": {"name": name, "labels": {"pool": "a"}},
                                             "spec": {"providerRef": {"name": "local"}}})
        await fleet.client.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                          "metadata": {"name": name, "labels": {c.LABEL_MACHINE: name}}})
        await fleet.client.create(PODS, pod(f"web-{name}", name))
        # a static pod's mirror: the drain leaves it alone (the kubelet owns it)
        await fleet.client.create(PODS, pod(f"static-{name}", name,
                                            annotations={"kubernetes.io/config.mirror": "hash"}))
        agent = DrainAwareAgent(fleet.client, name, fleet.journal, set())
        agent.seen = seen
        fleet.agents[name] = agent
        agent.start()
    await fleet.start_operator(GateReviewer())
    body = component_set("demo", "1.0.0", batches=[1])
    await fleet.client.create(MACHINE_COMPONENT_SETS, body)
    await fleet.phase("demo", "Completed")
    seen.clear()
    # Pods that take their time to go (a finalizer holds them): the drain waits for them, and says so.
    for i in range(3):
        await fleet.client.create(PODS, pod(f"slow-m{i}", f"m{i}", finalizers=["example.com/hold"]))
    await fleet.client.patch(MACHINE_COMPONENT_SETS, "demo", {"spec": {"template": {
        "version": "1.1.0", "disruption": "Drain"}}})

    mcs = await fleet.client.get(MACHINE_COMPONENT_SETS, "demo")
    first = (await fleet.order(template_hash(mcs["spec"]["template"])))[0]

    async def waiting() -> Obj | None:
        st = await fleet.status("demo")
        return st if f"slow-{first}" in str(st.get("message")) and st.get("phase") == "Progressing" else None

    st = await eventually(waiting, what="the drain to wait for the slow pod")
    assert st["currentBatch"] == 1 and st["updated"] == 0  # nothing moved while the node still drains
    for i in range(3):
        await fleet.client.patch(PODS, f"slow-m{i}", {"metadata": {"finalizers": None}}, namespace="default")
    await fleet.phase("demo", "Completed")
    assert sorted(m for v, m, _, _ in seen if v == "1.1.0") == ["m0", "m1", "m2"]
    for version, machine, cordoned, pods in seen:
        assert version == "1.1.0"
        assert cordoned, f"{machine} was not cordoned when its agent got the new spec"
        assert pods == [f"static-{machine}"], f"{machine} still ran {pods} when its agent got the new spec"

    async def uncordoned() -> bool:
        nodes, _ = await fleet.client.list(NODES)
        return all(not (n.get("spec") or {}).get("unschedulable")
                   and c.ANNOTATION_CORDONED_BY not in (n["metadata"].get("annotations") or {}) for n in nodes)

    await eventually(uncordoned, what="every node uncordoned")
    events, _ = await fleet.client.list(EVENTS, "default")
    reasons = {e["reason"] for e in events if e["involvedObject"]["name"] == "demo"}
    assert {"DrainingNodes", "NodesUncordoned"} <= reasons


async def test_drain_leaves_a_node_a_human_cordoned_cordoned(fleet: Fleet) -> None:
    await fleet.client.create(MACHINES, {"apiVersion": c.API_VERSION, "kind": "Machine",
                                         "metadata": {"name": "m0", "labels": {"pool": "a"}},
                                         "spec": {"providerRef": {"name": "local"}}})
    await fleet.client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "m0"},
                                      "spec": {"unschedulable": True}})
    agent = SimulatedAgent(fleet.client, "m0", fleet.journal, set())
    fleet.agents["m0"] = agent
    agent.start()
    await fleet.start_operator(GateReviewer())
    await fleet.client.create(MACHINE_COMPONENT_SETS, component_set("demo", "1.0.0"))
    await fleet.phase("demo", "Completed")
    await fleet.client.patch(MACHINE_COMPONENT_SETS, "demo", {"spec": {"template": {
        "version": "1.1.0", "disruption": "Drain"}}})
    await fleet.phase("demo", "Completed")
    assert (await fleet.client.get(NODES, "m0"))["spec"]["unschedulable"] is True
