"""MachineComponentSet rollouts against the real embedded API server, with simulated agents.

The simulated agents follow the agent's API contract and nothing more: each
watches only the MachineComponents labelled with its machine, adds the
`kubenode.io/machinecomponent` finalizer, "installs" the spec (a short
delay) and patches `/status` — Running, healthy, installedVersion/Revision,
observedGeneration and a Healthy condition — or Failed for the versions the
test marks as broken (after rolling back locally, as the real agent does); on
deletion it reports Removing and drops its finalizer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kubenode.api import constants as c
from kubenode.api.defender import ALLOWED, DENIED, AllowAll, Operation, Verdict
from kubenode.apiserver.server import RunningServer
from kubenode.cli import rollout_cmd
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import EVENTS
from kubenode.componentset.resources import MACHINE_COMPONENT_SETS, MACHINE_COMPONENTS, MACHINES
from kubenode.componentset.revisions import template_hash
from kubenode.componentset.rollout_planner import MachineState, rollout_order
from kubenode.componentset.wiring import ComponentSetControllers, add_componentset_controllers
from kubenode.controlplane.up import install_crds
from kubenode.runtime.informer import Informer
from kubenode.runtime.manager import Manager

from .polling import eventually

Obj = dict[str, Any]
SHA = "b" * 64


def template(version: str) -> Obj:
    return {"version": version, "source": {"url": f"https://example.com/demo-{version}.tar.gz", "sha256": SHA},
            "run": {"command": ["bin/demo", "--port=0"]}, "healthCheck": {"exec": {"command": ["bin/check"]}}}


def component_set(name: str, version: str, **rolling: Any) -> Obj:
    return {"apiVersion": c.API_VERSION, "kind": "MachineComponentSet", "metadata": {"name": name},
            "spec": {"component": "demo", "selector": {"matchLabels": {"pool": "a"}}, "template": template(version),
                     "updateStrategy": {"rollingUpdate": {"batches": [1, 2, 2], **rolling}}}}




# --------------------------------------------------------------------------- simulated agents


@dataclass
class Journal:
    """What the simulated agents saw and did, in order: (time, machine, event, revision)."""

    entries: list[tuple[float, str, str, str]] = field(default_factory=list)

    def add(self, machine: str, event: str, revision: str) -> None:
        self.entries.append((time.monotonic(), machine, event, revision))

    def first(self, machine: str, event: str, revision: str) -> float:
        return min(t for t, m, e, r in self.entries if (m, e, r) == (machine, event, revision))

    def last(self, machine: str, event: str, revision: str) -> float:
        return max(t for t, m, e, r in self.entries if (m, e, r) == (machine, event, revision))


class SimulatedAgent:
    """One machine's agent, reduced to its API contract."""

    def __init__(self, client: KubeClient, machine: str, journal: Journal, broken: set[str],
                 install_seconds: float = 0.15) -> None:
        self.client = client
        self.machine = machine
        self.journal = journal
        self.broken = broken
        self.install_seconds = install_seconds
        self.installed: dict[str, tuple[str, str]] = {}  # component name → (version, revision) running now
        self.informer = Informer(client, MACHINE_COMPONENTS, label_selector=f"{c.LABEL_MACHINE}={machine}")
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.healthy_since: str | None = None  # a fixed Healthy transition time (a quick upgrade never flips it)

    def start(self) -> None:
        self.informer.on_change(lambda old, new: self.wake.set())
        self.informer.start()
        self.task = asyncio.create_task(self._run(), name=f"agent:{self.machine}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.informer.stop()

    async def _run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            for mc in self.informer.cache.list():
                try:
                    await self._handle(mc)
                except (errors.NotFound, errors.Conflict):
                    self.wake.set()  # look again with fresh data

    async def _status(self, name: str, status: Obj) -> None:
        await self.client.patch_status(MACHINE_COMPONENTS, name, {"status": status}, field_manager="agent")

    async def _handle(self, mc: Obj) -> None:
        meta, spec, st = mc["metadata"], mc["spec"], mc.get("status") or {}
        name, gen = meta["name"], meta["generation"]
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp"):
            if c.FINALIZER_MACHINE_COMPONENT in finalizers:
                self.installed.pop(name, None)
                self.journal.add(self.machine, "removed", spec["revision"])
                await self._status(name, {"phase": "Removing", "installedVersion": None, "installedRevision": None,
                                          "observedGeneration": gen})
                await self.client.patch(MACHINE_COMPONENTS, name, {"metadata": {
                    "finalizers": [f for f in finalizers if f != c.FINALIZER_MACHINE_COMPONENT],
                    "resourceVersion": meta["resourceVersion"]}}, field_manager="agent")
            return
        if c.FINALIZER_MACHINE_COMPONENT not in finalizers:
            await self.client.patch(MACHINE_COMPONENTS, name, {"metadata": {
                "finalizers": [*finalizers, c.FINALIZER_MACHINE_COMPONENT],
                "resourceVersion": meta["resourceVersion"]}}, field_manager="agent")
            return  # the patch comes back as an event
        if st.get("observedGeneration") == gen:
            return
        revision, version = spec["revision"], spec["version"]
        self.journal.add(self.machine, "assigned", revision)
        await self._status(name, {"phase": "Installing", "healthy": False, "observedGeneration": gen})
        await asyncio.sleep(self.install_seconds)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        previous = self.installed.get(name)
        if version in self.broken:
            # The health check fails after the upgrade: roll back locally and report Failed.
            self.journal.add(self.machine, "failed", revision)
            await self._status(name, {
                "phase": "Failed", "healthy": False, "observedGeneration": gen,
                "installedVersion": previous[0] if previous else None,
                "installedRevision": previous[1] if previous else None,
                "message": f"health check failed after upgrade to {version}; rolled back locally",
                "conditions": [{"type": "Healthy", "status": "False", "reason": "HealthCheckFailed",
                                "message": "bin/check exited 1", "lastTransitionTime": now}]})
            return
        self.installed[name] = (version, revision)
        self.journal.add(self.machine, "ready", revision)
        await self._status(name, {
            "phase": "Running", "healthy": True, "installedVersion": version, "installedRevision": revision,
            "observedGeneration": gen, "message": "",
            "conditions": [{"type": "Healthy", "status": "True", "reason": "HealthCheckPassed", "message": "",
                            "lastTransitionTime": self.healthy_since or now}]})


# --------------------------------------------------------------------------- fixtures


class GateReviewer:
    """A Defender stand-in: denies ComponentUpgrade batches whose number is in `deny`."""

    def __init__(self) -> None:
        self.deny: set[int] = set()
        self.reviews: list[Operation] = []
        self.finished_ids: list[str] = []

    async def review(self, op: Operation) -> Verdict:
        self.reviews.append(op)
        number = int(op.id.rsplit("/", 1)[1]) if "/batch/" in op.id else 0
        if number in self.deny:
            return Verdict(DENIED, policy="upgrades", rule="budget", reason="BudgetExhausted",
                           message=f"upgrade budget spent; {op.count} machine(s) would exceed it",
                           retry_after_seconds=0.2)
        return Verdict(ALLOWED, policy="upgrades", rule="budget", reason="Allowed")

    def finished(self, op_id: str) -> None:
        self.finished_ids.append(op_id)

    async def in_progress(self, prefix: str) -> list[str]:
        done = set(self.finished_ids)
        return sorted({op.id for op in self.reviews if op.id.startswith(prefix) and op.id not in done
                       and int(op.id.rsplit("/", 1)[1]) not in self.deny if "/batch/" in op.id})


@dataclass
class Env:
    client: KubeClient
    manager: Manager
    journal: Journal
    broken: set[str]
    reviewer: GateReviewer
    agents: dict[str, SimulatedAgent]
    controllers: ComponentSetControllers

    async def machine(self, name: str, labels: dict[str, str] | None = None, *, agent: bool = True) -> Obj:
        m = await self.client.create(MACHINES, {
            "apiVersion": c.API_VERSION, "kind": "Machine",
            "metadata": {"name": name, "labels": {"pool": "a"} if labels is None else labels},
            "spec": {"providerRef": {"name": "local"}}})
        if agent:
            a = SimulatedAgent(self.client, name, self.journal, self.broken)
            self.agents[name] = a
            a.start()
        return m

    async def mcs(self, name: str) -> Obj:
        return await self.client.get(MACHINE_COMPONENT_SETS, name)

    async def components(self, name: str) -> dict[str, Obj]:
        items, _ = await self.client.list(MACHINE_COMPONENTS,
                                          label_selector=f"{c.LABEL_MACHINE_COMPONENT_SET}={name}")
        return {mc["spec"]["machineName"]: mc for mc in items}

    async def phase(self, name: str, phase: str, within: float = 20.0) -> Obj:
        async def check() -> Obj | None:
            mcs = await self.mcs(name)
            st = mcs.get("status") or {}
            ok = st.get("phase") == phase and st.get("observedGeneration") == mcs["metadata"]["generation"]
            return mcs if ok else None

        return await eventually(check, within, f"{name} to be {phase}")

    async def set_version(self, name: str, version: str) -> str:
        await self.client.patch(MACHINE_COMPONENT_SETS, name, {"spec": {"template": {"version": version}}})
        return template_hash((await self.mcs(name))["spec"]["template"])


@pytest.fixture
async def env(server: RunningServer) -> AsyncIterator[Env]:
    client = KubeClient(load_config(server.kubeconfig))
    client.config.qps, client.config.burst = 1000.0, 1000
    await install_crds(client)
    reviewer = GateReviewer()
    manager = Manager(client)
    controllers = add_componentset_controllers(manager, client, reviewer=reviewer)
    await manager.start()
    e = Env(client, manager, Journal(), set(), reviewer, {}, controllers)
    try:
        yield e
    finally:
        await manager.stop()
        for a in e.agents.values():
            await a.stop()
        await client.close()


async def fleet_at(env: Env, name: str, version: str, n: int = 5, **rolling: Any) -> str:
    """`n` machines with agents, and a set that has installed `version` on all of them."""
    for i in range(n):
        await env.machine(f"m{i}")
    await env.client.create(MACHINE_COMPONENT_SETS, component_set(name, version, **rolling))
    mcs = await env.phase(name, "Completed")
    assert mcs["status"]["ready"] == n
    return str(mcs["status"]["updateRevision"])


def cond(mcs: Obj, type_: str) -> Obj:
    return next(x for x in mcs["status"]["conditions"] if x["type"] == type_)


# --------------------------------------------------------------------------- tests


async def test_rollout_keeps_order_and_one_batch_in_flight(env: Env) -> None:
    v1 = await fleet_at(env, "demo", "1.0.0")
    comps = await env.components("demo")
    assert sorted(comps) == [f"m{i}" for i in range(5)]
    mc = comps["m0"]
    assert mc["metadata"]["name"] == "demo-m0"
    assert mc["metadata"]["labels"] == {c.LABEL_MACHINE: "m0", c.LABEL_COMPONENT: "demo",
                                        c.LABEL_MACHINE_COMPONENT_SET: "demo", c.LABEL_REVISION: v1}
    assert mc["metadata"]["ownerReferences"][0]["kind"] == "MachineComponentSet"
    assert mc["spec"]["revision"] == v1 and mc["spec"]["version"] == "1.0.0"

    v2 = await env.set_version("demo", "1.1.0")
    mcs = await env.phase("demo", "Completed")
    st = mcs["status"]
    assert (st["desired"], st["updated"], st["ready"], st["failed"], st["unavailable"]) == (5, 5, 5, 0, 0)
    assert (st["currentBatch"], st["totalBatches"], st["currentRevision"]) == (3, 3, v2)
    assert [r["version"] for r in st["revisions"]] == ["1.0.0", "1.1.0"]

    machines, _ = await env.client.list(MACHINES)
    order = [m.name for m in rollout_order([MachineState(m["metadata"]["name"], m["metadata"]["uid"])
                                            for m in machines], v2)]
    batches = [order[0:1], order[1:3], order[3:5]]
    j = env.journal
    for prev, nxt in itertools.pairwise(batches):
        done = max(j.last(m, "ready", v2) for m in prev)
        started = min(j.first(m, "assigned", v2) for m in nxt)
        assert started > done, f"batch {nxt} started before {prev} was healthy"
    moved = sorted(order, key=lambda m: j.first(m, "assigned", v2))
    assert [set(moved[0:1]), set(moved[1:3]), set(moved[3:5])] == [set(b) for b in batches]
    # every batch was admitted by the Defender first, and released when done
    # (the id names the rollout: revision v2 as history entry 2, so a later roll back to v2 is a new one)
    ids = [op.id for op in env.reviewer.reviews if op.id.startswith(f"mcs/demo/{v2}.2/")]
    assert ids[:3] == [f"mcs/demo/{v2}.2/batch/{n}" for n in (1, 2, 3)]
    assert env.reviewer.reviews[0].kind == "ComponentUpgrade" and env.reviewer.reviews[0].count == 1
    await eventually(lambda: _true(f"mcs/demo/{v2}.2/batch/3" in env.reviewer.finished_ids), what="finished()")
    comps = await env.components("demo")
    assert all(mc["metadata"]["labels"][c.LABEL_REVISION] == v2 for mc in comps.values())
    # planning was incremental: the view of the fleet was built once per target revision (1.0.0, then
    # 1.1.0), not once per reconcile — every later reconcile re-read only the machines that changed
    assert env.controllers.reconciler.full_syncs == 2


async def _true(x: bool) -> bool:
    return x


async def test_failing_version_pauses_degraded_and_undo_restores(env: Env) -> None:
    v1 = await fleet_at(env, "demo", "1.0.0")
    env.broken.add("1.2.0")
    v2 = await env.set_version("demo", "1.2.0")
    mcs = await env.phase("demo", "Paused")
    st = mcs["status"]
    assert cond(mcs, "Degraded")["status"] == "True" and cond(mcs, "Degraded")["reason"] == "MaxFailuresExceeded"
    assert cond(mcs, "Paused")["reason"] == "MaxFailuresExceeded"
    assert st["failed"] == 1 and len(st["failedMachines"]) == 1
    canary = st["failedMachines"][0]["name"]
    assert "health check failed" in st["failedMachines"][0]["message"]
    comps = await env.components("demo")
    others = {m: mc["spec"]["revision"] for m, mc in comps.items() if m != canary}
    assert set(others.values()) == {v1}, "machines outside the failed batch were touched"
    assert comps[canary]["status"]["installedVersion"] == "1.0.0"  # the agent rolled back locally
    # the failure pause is sticky: resume refuses, the status says what to do
    with pytest.raises(rollout_cmd.RolloutError, match="undo"):
        await rollout_cmd.resume(env.client, "demo")
    events, _ = await env.client.list(EVENTS, "default")
    assert any(e["reason"] == "MaxFailuresExceeded" and e["type"] == "Warning" for e in events)

    msg = await rollout_cmd.undo(env.client, "demo")
    assert "version 1.0.0" in msg
    mcs = await env.phase("demo", "Completed")
    assert mcs["status"]["updateRevision"] == v1 and mcs["status"]["ready"] == 5
    assert cond(mcs, "Degraded")["status"] == "False"
    assert [r["version"] for r in mcs["status"]["revisions"]] == ["1.2.0", "1.0.0"]
    assert all(mc["spec"]["revision"] == v1 for mc in (await env.components("demo")).values())
    assert v2 != v1


async def test_rollback_on_failure(env: Env) -> None:
    v1 = await fleet_at(env, "demo", "1.0.0", rollbackOnFailure=True, batches=[2, 3])
    env.broken.add("1.2.0")
    await env.set_version("demo", "1.2.0")
    mcs = await env.phase("demo", "Failed")
    assert cond(mcs, "Degraded")["reason"] == "RolledBack"
    assert len(mcs["status"]["failedMachines"]) == 2  # both canaries failed, and are remembered
    comps = await env.components("demo")
    assert all(mc["spec"]["revision"] == v1 and mc["status"]["phase"] == "Running" for mc in comps.values())
    assert any(op.id.endswith("/rollback") for op in env.reviewer.reviews)
    events, _ = await env.client.list(EVENTS, "default")
    assert {"RollbackStarted", "RolledBack"} <= {e["reason"] for e in events}


async def test_pause_after_batch_and_resume(env: Env) -> None:
    await fleet_at(env, "demo", "1.0.0", pauseAfterBatches=[1])
    v2 = await env.set_version("demo", "1.1.0")
    mcs = await env.phase("demo", "Paused")
    assert cond(mcs, "Paused")["reason"] == "PausedAfterBatch"
    assert mcs["status"]["currentBatch"] == 1 and mcs["status"]["updated"] == 1
    view = await rollout_cmd.fetch(env.client, "demo")
    assert view.settled and view.moving() == []
    assert await rollout_cmd.resume(env.client, "demo") == "machinecomponentset demo resumed"
    mcs = await env.phase("demo", "Completed")
    assert mcs["metadata"]["annotations"]["kubenode.io/resume-batch"] == f"{v2}/1"


async def test_spec_paused_holds_and_resume_continues(env: Env) -> None:
    v1 = await fleet_at(env, "demo", "1.0.0")
    assert await rollout_cmd.pause(env.client, "demo") == "machinecomponentset demo paused"
    await env.set_version("demo", "1.1.0")
    mcs = await env.phase("demo", "Paused")
    assert cond(mcs, "Paused")["reason"] == "PausedByUser"
    assert all(mc["spec"]["revision"] == v1 for mc in (await env.components("demo")).values())
    await rollout_cmd.resume(env.client, "demo")
    await env.phase("demo", "Completed")


async def test_defender_holds_a_batch(env: Env) -> None:
    await fleet_at(env, "demo", "1.0.0")
    env.reviewer.deny.add(2)
    v2 = await env.set_version("demo", "1.1.0")

    async def held() -> Obj | None:
        mcs = await env.mcs("demo")
        conds = {x["type"]: x for x in (mcs.get("status") or {}).get("conditions") or []}
        allowed = conds.get("RolloutAllowed")
        return mcs if allowed and allowed["status"] == "False" else None

    mcs = await eventually(held, what="a held batch")
    allowed = cond(mcs, "RolloutAllowed")
    assert allowed["reason"] == "DeniedByDefender" and "BudgetExhausted" in allowed["message"]
    assert mcs["status"]["phase"] == "Progressing" and mcs["status"]["message"].startswith("batch held")
    await asyncio.sleep(0.5)  # the hold lasts: retries (every 0.2 s) keep being denied
    comps = await env.components("demo")
    assert sum(1 for mc in comps.values() if mc["spec"]["revision"] == v2) == 1
    events, _ = await env.client.list(EVENTS, "default")
    assert any(e["reason"] == "DeniedByDefender" and e["type"] == "Warning" for e in events)
    env.reviewer.deny.clear()
    mcs = await env.phase("demo", "Completed")
    assert cond(mcs, "RolloutAllowed")["status"] == "True"


async def test_machines_join_and_leave(env: Env) -> None:
    v1 = await fleet_at(env, "demo", "1.0.0", n=2)
    await env.machine("late")
    mc = await eventually(lambda: _component(env, "late"), what="a component for the late machine")
    assert mc["spec"]["revision"] == v1
    await env.phase("demo", "Completed")
    # a machine that leaves the selector loses its component (the agent removes it, then the finalizer)
    await env.client.patch(MACHINES, "m0", {"metadata": {"labels": {"pool": "b"}}})
    await eventually(lambda: _gone(env, "demo-m0"), what="demo-m0 to be deleted")
    assert any(m == "m0" and e == "removed" for _, m, e, _ in env.journal.entries)
    # a deleted machine has no agent any more: the controller drops the finalizer in its place
    await env.agents.pop("m1").stop()
    await env.client.delete(MACHINES, "m1")
    await eventually(lambda: _gone(env, "demo-m1"), what="demo-m1 to be deleted")
    mcs = await env.phase("demo", "Completed")
    assert mcs["status"]["desired"] == 1


async def test_a_deleted_component_comes_back_at_the_target_revision(env: Env) -> None:
    await fleet_at(env, "demo", "1.0.0", n=3)
    v2 = await env.set_version("demo", "1.1.0")
    await env.phase("demo", "Completed")
    old_uid = (await env.client.get(MACHINE_COMPONENTS, "demo-m1"))["metadata"]["uid"]
    await env.client.delete(MACHINE_COMPONENTS, "demo-m1")  # e.g. a human, to force a reinstall

    async def recreated() -> Obj | None:
        try:
            mc = await env.client.get(MACHINE_COMPONENTS, "demo-m1")
        except errors.NotFound:
            return None
        return mc if mc["metadata"]["uid"] != old_uid else None

    mc = await eventually(recreated, what="demo-m1 recreated")
    assert mc["spec"]["revision"] == v2 and mc["spec"]["version"] == "1.1.0"
    mcs = await env.phase("demo", "Completed")
    assert (mcs["status"]["desired"], mcs["status"]["ready"]) == (3, 3)
    # all of it on the incremental view: built for 1.0.0 and 1.1.0, never again
    assert env.controllers.reconciler.full_syncs == 2


async def _component(env: Env, machine: str) -> Obj | None:
    return (await env.components("demo")).get(machine)


async def _gone(env: Env, name: str) -> bool:
    try:
        await env.client.get(MACHINE_COMPONENTS, name)
    except errors.NotFound:
        return True
    return False


async def test_unknown_set_and_nothing_to_undo(env: Env) -> None:
    with pytest.raises(rollout_cmd.RolloutError, match='machinecomponentset "nope" not found'):
        await rollout_cmd.fetch(env.client, "nope")
    await fleet_at(env, "demo", "1.0.0", n=1)
    with pytest.raises(rollout_cmd.RolloutError, match="no previous revision"):
        await rollout_cmd.undo(env.client, "demo")
    with pytest.raises(rollout_cmd.RolloutError, match="no revision 9"):
        await rollout_cmd.undo(env.client, "demo", to_revision=9)


async def test_metrics(env: Env) -> None:
    await fleet_at(env, "demo", "1.0.0", n=3)
    reg = env.manager.registry
    # the operator's caches may trail the API by a watch event
    await eventually(lambda: _true(reg.get_sample_value("kubenode_machinecomponentset_status_updated",
                                                        {"machinecomponentset": "demo"}) == 3), what="metrics")
    assert reg.get_sample_value("kubenode_machinecomponents", {"component": "demo", "phase": "Running"}) == 3
    assert reg.get_sample_value("kubenode_machinecomponents", {"component": "demo", "phase": "Failed"}) == 0
    assert reg.get_sample_value("kubenode_machinecomponent_installed_version",
                                {"component": "demo", "version": "1.0.0"}) == 3
    assert reg.get_sample_value("kubenode_machinecomponentset_status_updated", {"machinecomponentset": "demo"}) == 3
    assert reg.get_sample_value("kubenode_machinecomponentset_phase",
                                {"machinecomponentset": "demo", "phase": "Completed"}) == 1
    assert reg.get_sample_value("kubenode_machinecomponentset_batch_decisions_total",
                                {"decision": "Denied"}) == 0


@pytest.mark.parametrize(
    ("template_patch", "field_path"),
    [
        ({"source": {"url": "https://example.com/x.tar.gz"}}, "spec.template.source.sha256"),
        ({"run": {"command": ["/bin/sh", "-c", "x"]}}, "spec.template.run.command[0]"),
        ({"files": [{"path": "../etc/passwd", "content": "x"}]}, "spec.template.files[0].path"),
    ],
)
async def test_bad_template_is_rejected_with_field_paths(server: RunningServer, template_patch: Obj,
                                                         field_path: str) -> None:
    async with KubeClient(load_config(server.kubeconfig)) as client:
        await install_crds(client)
        body = component_set("bad", "1.0.0")
        body["spec"]["template"].update(template_patch)
        with pytest.raises(errors.Invalid) as info:
            await client.create(MACHINE_COMPONENT_SETS, body)
        assert info.value.status == 422
        assert field_path in {cause.get("field") for cause in info.value.causes}, info.value.causes


async def test_allow_all_is_the_default_reviewer(server: RunningServer) -> None:
    async with KubeClient(load_config(server.kubeconfig)) as client:
        manager = Manager(client)
        ctrls = add_componentset_controllers(manager, client)
        assert isinstance(ctrls.reconciler.reviewer, AllowAll)
