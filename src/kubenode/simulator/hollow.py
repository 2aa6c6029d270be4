"""N hollow agents in one process: the agent's API contract without the host.

Each simulated node does what a real agent does through the API, at the
same periods: registers its Node (capacity, labels, conditions) and posts
its status every `status_seconds`, renews its Lease in kube-node-lease
every `lease_seconds` (10 s, as a kubelet), writes its Machine heartbeat
every `heartbeat_seconds`, reports MachineComponent installs (after
`install_seconds`, failing at `install_failure_rate`) and executes the
agent-side RemedyOperationJobs approved for it (after `remedy_seconds`,
failing at `remedy_failure_rate`; a success clears the node's problem
conditions, as a restart or a reboot would).

It is built to be cheap per node, so one process can stand in for a large
fleet: one HTTP session, one watch per kind for the whole fleet (not one per
node), one scheduler heap instead of a task per node, and a fixed pool of
workers, so a slow API server makes the simulated nodes late — as it would
make real ones — instead of piling up requests. Every write is an ordinary
API call: it runs against the embedded server and a real cluster alike.

Unlike real agents, all nodes share one identity (the kubeconfig's), so a
real cluster's node-isolation policy does not apply to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubenode.agent.agent import DEFAULT_HEARTBEAT_SECONDS, DEFAULT_STATUS_SECONDS, heartbeat_period
from kubenode.agent.facts import AGENT_VERSION
from kubenode.api import constants as c
from kubenode.apimachinery.tasks import cancel_and_wait
from kubenode.apimachinery.timefmt import format_micro
from kubenode.client import errors, kinds
from kubenode.client.client import KubeClient
from kubenode.client.resources import LEASES, NODES, Resource
from kubenode.runtime.conditions import now_rfc3339, set_condition
from kubenode.runtime.informer import Informer

from .faults import Fault, choose_victims
from .profile import (
    HEALTHY_CONDITIONS,
    FleetShape,
    HollowNode,
    condition,
    hollow_node,
    new_machine,
    new_node,
    node_status,
)

log = logging.getLogger("kubenode.simulator")
Obj = dict[str, Any]

MACHINES, MACHINE_COMPONENTS, JOBS = kinds.MACHINES, kinds.MACHINE_COMPONENTS, kinds.REMEDY_OPERATION_JOBS
LEASE_NAMESPACE = "kube-node-lease"
FIELD_MANAGER = "kubenode-simulator"
_HEALTHY = {t: (r, m) for t, r, m in HEALTHY_CONDITIONS}

# Periodic duties, in the scheduler heap as (due, duty, node index).
_LEASE, _STATUS, _HEARTBEAT = 0, 1, 2
_DUTY_NAMES = ("lease", "node-status", "heartbeat")


@dataclass
class SimulatorSettings:
    """How the hollow fleet behaves; every period in seconds."""

    nodes: int
    shape: FleetShape = field(default_factory=FleetShape)
    lease_seconds: float = 10.0
    lease_duration: int = 40
    status_seconds: float = DEFAULT_STATUS_SECONDS
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    #: How long an install takes; installs running longer than 2 s report Installing first (as the agent does).
    install_seconds: float = 0.0
    install_failure_rate: float = 0.0
    remedy_seconds: float = 0.0
    remedy_failure_rate: float = 0.0
    #: A succeeded remediation clears the node's problem conditions.
    remedy_fixes: bool = True
    faults: list[Fault] = field(default_factory=list)
    #: Requests in flight at once (the simulator's connection pool).
    concurrency: int = 256
    #: Create a Machine per node (off: the Machines exist, e.g. made by a MachineSet).
    create_machines: bool = True
    seed: int = 0


@dataclass
class SimulatorStats:
    """What the simulator did, for `kubenode simulate` and the benches."""

    writes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    #: Client-side latency (seconds) of each periodic write, by duty ("lease", "node-status",
    #: "heartbeat"): at least the last 100,000 of each.
    latencies: dict[str, list[float]] = field(default_factory=dict)
    #: Periodic duties that started later than due by more than one period (the API could not keep up).
    late: int = 0
    installs: int = 0
    install_failures: int = 0
    remediations: int = 0
    remediation_failures: int = 0
    faults_injected: int = 0

    def count(self, what: str) -> None:
        """One more successful write of `what`."""
        self.writes[what] = self.writes.get(what, 0) + 1

    def error(self, what: str) -> None:
        """One more failed write of `what`."""
        self.errors[what] = self.errors.get(what, 0) + 1

    def record_latency(self, duty: str, seconds: float) -> None:
        """One periodic write of `duty` took `seconds`, from its start to the server's answer."""
        xs = self.latencies.setdefault(duty, [])
        xs.append(seconds)
        if len(xs) > 200_000:
            del xs[:100_000]

    def clear_latencies(self) -> None:
        """Forget the latencies recorded so far (a bench's window starts)."""
        self.latencies.clear()

    def percentile(self, p: float, duty: str | None = None) -> float:
        """The p-th percentile (0-100) of one duty's write latency, or of every periodic
        (mutating) write's when `duty` is None; 0 when none yet."""
        if duty is None:
            xs = sorted(x for values in self.latencies.values() for x in values)
        else:
            xs = sorted(self.latencies.get(duty, ()))
        if not xs:
            return 0.0
        return xs[min(len(xs) - 1, int(len(xs) * p / 100))]

    def lease_percentile(self, p: float) -> float:
        """The p-th percentile (0-100) of Lease renewal latency, 0 when none yet."""
        return self.percentile(p, "lease")

    def summary(self) -> str:
        """One line for humans."""
        writes = sum(self.writes.values())
        errs = sum(self.errors.values())
        return (f"writes {writes} ({', '.join(f'{k} {v}' for k, v in sorted(self.writes.items()))}), "
                f"errors {errs}, late {self.late}, lease p50 {self.lease_percentile(50) * 1000:.0f} ms "
                f"p99 {self.lease_percentile(99) * 1000:.0f} ms, all periodic writes p99 "
                f"{self.percentile(99) * 1000:.0f} ms, installs {self.installs} "
                f"({self.install_failures} failed), remediations {self.remediations} "
                f"({self.remediation_failures} failed), faults {self.faults_injected}")


def _micro_now() -> str:
    return format_micro(time.time())


class Simulator:
    """A fleet of hollow nodes on one client."""

    def __init__(self, client: KubeClient, settings: SimulatorSettings) -> None:
        self.client = client
        self.settings = settings
        self.nodes: list[HollowNode] = [hollow_node(settings.shape, i) for i in range(settings.nodes)]
        self._index = {n.name: n.index for n in self.nodes}
        self._node_uid: list[str] = [""] * settings.nodes
        #: Problem conditions each node reports now: node index -> {type: reason}.
        self.problems: dict[int, dict[str, str]] = {}
        self.stats = SimulatorStats()
        self.rng = random.Random(settings.seed)
        self._heap: list[tuple[float, int, int]] = []
        self._wakeup = asyncio.Event()
        self._work: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._queued: set[tuple[str, str]] = set()  # (kind, object name) waiting in _work: duplicates collapse
        self._busy_jobs: set[str] = set()
        self.components = Informer(client, MACHINE_COMPONENTS, page_size=5000)
        self.jobs = Informer(client, JOBS, page_size=5000)
        self.registered = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Register every node (Node, status, Lease, Machine), then run its duties in the background."""
        await self._register_all()
        self.registered.set()
        now = time.monotonic()
        s = self.settings
        for n in self.nodes:  # spread each duty evenly over its period, as independent agents would be
            self._heap.append((now + self.rng.uniform(0, s.lease_seconds), _LEASE, n.index))
            self._heap.append((now + self.rng.uniform(0, s.status_seconds), _STATUS, n.index))
            self._heap.append((now + self.rng.uniform(0, s.heartbeat_seconds), _HEARTBEAT, n.index))
        heapq.heapify(self._heap)
        self.components.on_change(self._on_component)
        self.jobs.on_change(self._on_job)
        self.components.start()
        self.jobs.start()
        self._tasks.append(asyncio.create_task(self._dispatch(), name="simulator-dispatch"))
        self._tasks += [asyncio.create_task(self._worker(), name=f"simulator-worker-{i}")
                        for i in range(s.concurrency)]
        self._tasks += [asyncio.create_task(self._strike(f), name=f"simulator-fault-{f.type}") for f in s.faults]

    async def stop(self) -> None:
        """Stop every duty (the objects stay; :meth:`delete_all` removes them)."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        await cancel_and_wait(*self._tasks)
        self._tasks.clear()
        await self.components.stop()
        await self.jobs.stop()

    async def delete_all(self) -> None:
        """Delete the simulated Machines and Nodes (their Leases go with the Nodes)."""
        async def one(n: HollowNode) -> None:
            for res in ((MACHINES,) if self.settings.create_machines else ()) + (NODES,):
                with contextlib.suppress(errors.NotFound):
                    await self.client.delete(res, n.name)
        await self._bounded([one(n) for n in self.nodes])

    async def _bounded(self, coros: list[Awaitable[None]]) -> None:
        sem = asyncio.Semaphore(self.settings.concurrency)

        async def run(co: Awaitable[None]) -> None:
            async with sem:
                await co

        await asyncio.gather(*(run(co) for co in coros))

    # ------------------------------------------------------------------ registration
    async def _register_all(self) -> None:
        await self._bounded([self._register(n) for n in self.nodes])

    async def _retrying(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Registration must succeed: retry API and connection errors with backoff."""
        delay = 0.2
        while True:
            try:
                return await call()
            except (errors.ApiError, OSError, TimeoutError) as exc:
                if isinstance(exc, errors.ApiError) and exc.status in (400, 403, 404, 422):
                    raise
                self.stats.error(what)
                log.warning("%s failed (will retry): %s", what, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _register(self, n: HollowNode) -> None:
        shape = self.settings.shape

        async def node() -> Obj:
            try:
                obj = await self.client.create(NODES, new_node(shape, n), field_manager=FIELD_MANAGER)
            except errors.AlreadyExists:
                return await self.client.get(NODES, n.name)
            self.stats.count("node")
            return obj

        created = await self._retrying("node", node)
        self._node_uid[n.index] = created["metadata"]["uid"]
        await self._retrying("node-status", lambda: self._post_status(n.index, full=True))
        await self._retrying("lease", lambda: self._renew_lease(n.index))
        if self.settings.create_machines:
            async def machine() -> None:
                with contextlib.suppress(errors.AlreadyExists):
                    await self.client.create(MACHINES, new_machine(shape, n), field_manager=FIELD_MANAGER)
                    self.stats.count("machine")
            await self._retrying("machine", machine)
        await self._retrying("heartbeat", lambda: self._heartbeat(n.index, first=True))

    # ------------------------------------------------------------------ periodic duties
    async def _dispatch(self) -> None:
        """Hand every due duty to the workers; a duty is rescheduled only once it has run."""
        while True:
            now = time.monotonic()
            while self._heap and self._heap[0][0] <= now:
                due, duty, index = heapq.heappop(self._heap)
                self._work.put_nowait(self._duty(due, duty, index))
            delay = (self._heap[0][0] - now) if self._heap else 1.0
            self._wakeup.clear()
            # A timer rather than asyncio.wait_for: on Python 3.11 wait_for can swallow a cancellation that
            # arrives as the event is set (which happens after every duty), and stop() would wait forever.
            timer = asyncio.get_running_loop().call_later(max(0.005, delay), self._wakeup.set)
            try:
                await self._wakeup.wait()
            finally:
                timer.cancel()

    def _duty(self, due: float, duty: int, index: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            s = self.settings
            period = (s.lease_seconds, s.status_seconds, s.heartbeat_seconds)[duty]
            start = time.monotonic()
            if start - due > period:
                self.stats.late += 1
            what = _DUTY_NAMES[duty]
            try:
                if duty == _LEASE:
                    await self._renew_lease(index)
                elif duty == _STATUS:
                    await self._post_status(index)
                else:
                    await self._heartbeat(index)
                self.stats.record_latency(what, time.monotonic() - start)
            except (errors.ApiError, OSError, TimeoutError) as exc:
                self.stats.error(what)
                log.debug("%s of %s failed: %s", duty, self.nodes[index].name, exc)
            heapq.heappush(self._heap, (max(due + period, time.monotonic()), duty, index))
            self._wakeup.set()
        return run

    async def _worker(self) -> None:
        while True:
            job = await self._work.get()
            await job()

    async def _renew_lease(self, index: int) -> None:
        n = self.nodes[index]
        spec = {"holderIdentity": n.name, "leaseDurationSeconds": self.settings.lease_duration,
                "renewTime": _micro_now()}
        try:
            await self.client.patch(LEASES, n.name, {"spec": spec}, namespace=LEASE_NAMESPACE,
                                    field_manager=FIELD_MANAGER)
        except errors.NotFound:
            lease: Obj = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                          "metadata": {"name": n.name, "namespace": LEASE_NAMESPACE}, "spec": spec}
            if self._node_uid[index]:
                lease["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": n.name,
                                                         "uid": self._node_uid[index]}]
            with contextlib.suppress(errors.AlreadyExists):
                await self.client.create(LEASES, lease, namespace=LEASE_NAMESPACE, field_manager=FIELD_MANAGER)
        self.stats.count("lease")

    def _conditions(self, index: int, now: str) -> list[Obj]:
        """The node's problem conditions as it reports them now, plus Ready."""
        problems = self.problems.get(index, {})
        conds = [condition(t, "True", problems[t], f"simulated {t}", now) for t in sorted(problems)]
        conds.append(condition("Ready", "True", "KubeletReady", "kubenode simulator is posting ready status", now))
        return conds

    async def _post_status(self, index: int, *, full: bool = False) -> None:
        """Post the node's status: everything at registration, then Ready and its problems.

        A strategic merge patch merges conditions by type, so conditions
        somebody else set (e.g. `kubenode simulate flip`) survive.
        """
        n = self.nodes[index]
        now = now_rfc3339()
        if full:
            status = node_status(n, now)
            if index in self.problems:
                by_type = {x["type"]: x for x in self._conditions(index, now)}
                status["conditions"] = [by_type.get(x["type"], x) for x in status["conditions"]]
        else:
            status = {"conditions": self._conditions(index, now)}
        await self.client.patch(NODES, n.name, {"status": status}, subresource="status", patch_type="strategic",
                                field_manager=FIELD_MANAGER)
        self.stats.count("node-status")

    async def _heartbeat(self, index: int, *, first: bool = False) -> None:
        n = self.nodes[index]
        agent = {"version": AGENT_VERSION, "lastHeartbeatTime": now_rfc3339(), "nodeName": n.name,
                 "heartbeatSeconds": heartbeat_period(self.settings.heartbeat_seconds),
                 "bootID": f"sim-{self.settings.seed}-{index}"}
        status: Obj = {"agent": agent}
        if first:
            status.update({"phase": c.MACHINE_PHASE_RUNNING, "nodeRef": {"name": n.name},
                           "providerID": f"simulated://{n.name}"})
        try:
            await self.client.patch(MACHINES, n.name, {"status": status}, subresource="status",
                                    field_manager=FIELD_MANAGER)
        except errors.NotFound:
            if first and self.settings.create_machines:
                raise
            return  # replaced or not ours: nothing to report to
        self.stats.count("heartbeat")

    # ------------------------------------------------------------------ faults
    def set_problem(self, index: int, type_: str, reason: str) -> None:
        """Mark a node faulty; its next status post (queued now) reports it."""
        self.problems.setdefault(index, {})[type_] = reason
        self._work.put_nowait(self._status_now(index))

    def _status_now(self, index: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            try:
                await self._post_status(index)
            except (errors.ApiError, OSError, TimeoutError) as exc:
                self.stats.error("node-status")
                log.warning("status of %s failed: %s", self.nodes[index].name, exc)
        return run

    def inject(self, fault: Fault) -> list[str]:
        """One strike of `fault`: the names of the nodes it hit (only nodes without this fault are hit)."""
        healthy = [n.name for n in self.nodes if fault.type not in self.problems.get(n.index, {})]
        victims = choose_victims(healthy, fault.victims_per_strike(len(self.nodes)), self.rng)
        for name in victims:
            self.set_problem(self._index[name], fault.type, fault.reason)
        self.stats.faults_injected += len(victims)
        if victims:
            log.info("fault %s on %d node(s): %s%s", fault.type, len(victims), ", ".join(victims[:5]),
                     " ..." if len(victims) > 5 else "")
        return victims

    async def _strike(self, fault: Fault) -> None:
        await asyncio.sleep(0)
        self.inject(fault)
        while fault.period is not None:
            await asyncio.sleep(fault.period)
            self.inject(fault)

    def clear_problems(self, index: int) -> None:
        """The node is healthy again: post every problem condition False with its healthy reason."""
        problems = self.problems.pop(index, {})
        if not problems:
            return
        n = self.nodes[index]

        async def run() -> None:
            now = now_rfc3339()
            conds = [condition(t, "False", *_HEALTHY.get(t, ("NoProblem", f"no {t}")), now) for t in problems]
            try:
                await self.client.patch(NODES, n.name, {"status": {"conditions": conds}}, subresource="status",
                                        patch_type="strategic", field_manager=FIELD_MANAGER)
                self.stats.count("node-status")
            except (errors.ApiError, OSError, TimeoutError) as exc:
                self.stats.error("node-status")
                log.warning("clearing %s on %s failed: %s", ", ".join(problems), n.name, exc)
        self._work.put_nowait(run)

    # ------------------------------------------------------------------ components
    def _ours(self, obj: Obj) -> int | None:
        labels = obj["metadata"].get("labels") or {}
        return self._index.get(labels.get(c.LABEL_MACHINE, ""))

    def _enqueue(self, kind: str, name: str, handler: Callable[[str], Awaitable[None]]) -> None:
        key = (kind, name)
        if key in self._queued:
            return
        self._queued.add(key)

        async def run() -> None:
            self._queued.discard(key)
            try:
                await handler(name)
            except (errors.ApiError, OSError, TimeoutError) as exc:
                self.stats.error(kind)
                log.warning("%s %s: %s (will retry)", kind, name, exc)
                self._later(2.0, lambda: self._enqueue(kind, name, handler))
        self._work.put_nowait(run)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            fn()

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def _on_component(self, _old: Obj | None, new: Obj | None) -> None:
        if new is not None and self._ours(new) is not None:
            self._enqueue("component", new["metadata"]["name"], self._reconcile_component)

    async def _reconcile_component(self, name: str) -> None:
        mc = self.components.cache.get("", name)
        if mc is None:
            return
        meta, spec, st = mc["metadata"], mc.get("spec") or {}, mc.get("status") or {}
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp"):
            if c.FINALIZER_MACHINE_COMPONENT in finalizers:  # removed from the node: let it go
                finalizers.remove(c.FINALIZER_MACHINE_COMPONENT)
                await self._patch_guarded(MACHINE_COMPONENTS, mc, {"metadata": {"finalizers": finalizers}})
            return
        if c.FINALIZER_MACHINE_COMPONENT not in finalizers:
            await self._patch_guarded(MACHINE_COMPONENTS, mc, {"metadata": {
                "finalizers": [*finalizers, c.FINALIZER_MACHINE_COMPONENT]}})
            return  # the watch brings the updated object back
        gen = meta.get("generation", 1)
        if st.get("observedGeneration") == gen and st.get("phase") != c.COMPONENT_PHASE_INSTALLING:
            return
        if st.get("observedGeneration") == gen:
            return  # Installing: the finish is scheduled
        seconds = self.settings.install_seconds
        if seconds > 2.0:  # as the real agent: only a long install reports Installing first
            await self._patch_status(MACHINE_COMPONENTS, name, {"status": {
                "phase": c.COMPONENT_PHASE_INSTALLING, "observedGeneration": gen,
                "message": f"installing {spec.get('version', '')}"}})
        if seconds > 0:
            jitter = self.rng.uniform(0.8, 1.2)
            self._later(seconds * jitter, lambda: self._work.put_nowait(self._finish_install(name, gen)))
        else:
            await self._finish_install(name, gen)()

    def _finish_install(self, name: str, gen: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            mc = self.components.cache.get("", name)
            if mc is None or mc["metadata"].get("generation") != gen:
                return  # changed while installing: the new spec is handled on its own
            spec, st = mc.get("spec") or {}, mc.get("status") or {}
            now = now_rfc3339()
            conds = [dict(x) for x in st.get("conditions") or []]
            failed = self.rng.random() < self.settings.install_failure_rate
            if failed:
                status: Obj = {"phase": c.COMPONENT_PHASE_FAILED, "healthy": False, "observedGeneration": gen,
                               "message": f"simulated install failure of {spec.get('version', '')}"}
                set_condition(conds, c.COMPONENT_CONDITION_INSTALLED, "False", c.COMPONENT_REASON_START_FAILED,
                              status["message"], now=now)
            else:
                status = {"phase": c.COMPONENT_PHASE_RUNNING, "healthy": True, "observedGeneration": gen,
                          "installedVersion": spec.get("version", ""), "installedRevision": spec.get("revision", ""),
                          "message": ""}
                set_condition(conds, c.COMPONENT_CONDITION_INSTALLED, "True", c.COMPONENT_REASON_INSTALLED,
                              f"version {spec.get('version', '')} installed", now=now)
                set_condition(conds, c.COMPONENT_CONDITION_HEALTHY, "True", c.COMPONENT_REASON_HEALTH_CHECK_PASSED,
                              "", now=now)
            status["conditions"] = conds
            try:
                await self._patch_status(MACHINE_COMPONENTS, name, {"status": status})
            except errors.NotFound:
                return
            self.stats.installs += 1
            self.stats.install_failures += failed
        return run

    async def _patch_guarded(self, res: Resource, obj: Obj, body: Obj) -> None:
        body = {**body, "metadata": {**body.get("metadata", {}),
                                     "resourceVersion": obj["metadata"]["resourceVersion"]}}
        with contextlib.suppress(errors.Conflict, errors.NotFound):  # changed meanwhile: the watch brings it
            await self.client.patch(res, obj["metadata"]["name"], body, field_manager=FIELD_MANAGER)
            self.stats.count(res.plural)

    async def _patch_status(self, res: Resource, name: str, body: Obj) -> None:
        await self.client.patch(res, name, body, subresource="status", field_manager=FIELD_MANAGER)
        self.stats.count(res.plural)

    # ------------------------------------------------------------------ remediation
    def _on_job(self, _old: Obj | None, new: Obj | None) -> None:
        if new is None or self._ours(new) is None:
            return
        phase = (new.get("status") or {}).get("phase")
        if phase == c.JOB_PHASE_APPROVED and new["metadata"]["name"] not in self._busy_jobs:
            self._enqueue("job", new["metadata"]["name"], self._execute_job)

    async def _execute_job(self, name: str) -> None:
        job = self.jobs.cache.get("", name)
        if job is None or name in self._busy_jobs:
            return
        spec = job.get("spec") or {}
        action = (spec.get("action") or {}).get("type")
        if (job.get("status") or {}).get("phase") != c.JOB_PHASE_APPROVED or action not in c.AGENT_ACTIONS \
                or spec.get("dryRun"):
            return
        running = await self._job_status(job, c.JOB_PHASE_RUNNING, c.JOB_REASON_EXECUTING,
                                         f"{action} started by the simulated agent", start=True)
        if running is None:
            return
        self._busy_jobs.add(name)
        seconds = self.settings.remedy_seconds
        if seconds > 0:
            self._later(seconds * self.rng.uniform(0.8, 1.2),
                        lambda: self._work.put_nowait(self._finish_job(running, str(action))))
        else:
            await self._finish_job(running, str(action))()

    def _finish_job(self, job: Obj, action: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            name = job["metadata"]["name"]
            failed = self.rng.random() < self.settings.remedy_failure_rate
            phase = c.JOB_PHASE_FAILED if failed else c.JOB_PHASE_SUCCEEDED
            reason = c.JOB_REASON_FAILED if failed else c.JOB_REASON_SUCCEEDED
            message = f"simulated {action} {'failed' if failed else 'succeeded'}"
            try:
                done = await self._job_status(job, phase, reason, message)
            finally:
                self._busy_jobs.discard(name)
            if done is None:
                return  # the controller moved it first (timed out)
            self.stats.remediations += 1
            self.stats.remediation_failures += failed
            index = self._ours(job)
            if not failed and self.settings.remedy_fixes and index is not None:
                self.clear_problems(index)
        return run

    async def _job_status(self, job: Obj, phase: str, reason: str, message: str, *,
                          start: bool = False) -> Obj | None:
        status = dict(job.get("status") or {})
        conds = [dict(x) for x in status.get("conditions") or []]
        now = now_rfc3339()
        body: Obj = {"phase": phase, "message": message, "conditions": conds}
        if start:
            body["startTime"] = now
        if phase in c.JOB_TERMINAL_PHASES:
            set_condition(conds, c.JOB_CONDITION_COMPLETE, "True", reason, message, now=now)
            body["completionTime"] = now
        try:
            out = await self.client.patch(JOBS, job["metadata"]["name"], {
                "metadata": {"resourceVersion": job["metadata"]["resourceVersion"]}, "status": body},
                subresource="status", field_manager=FIELD_MANAGER)
        except (errors.Conflict, errors.NotFound):
            return None
        self.stats.count("remedyoperationjobs")
        return out

