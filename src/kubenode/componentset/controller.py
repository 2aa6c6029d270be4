"""The MachineComponentSet controller: one MachineComponent per selected Machine, rolled out in batches.

Each reconcile reads the set, the Machines its selector matches and the
MachineComponents it owns from the informer caches, asks the pure planner
(`rollout_planner.plan_rollout`) what comes next, and carries it out:

1. delete the components of machines that left the selector (or were deleted);
2. create components for machines that have none (name `<set>-<machine>`,
   owned by the set, labelled machine/component/set/revision);
3. ask the Defender about the proposed batch (`Operation(kind=
   "ComponentUpgrade", id="mcs/<set>/<revision>/batch/<n>")`); if admitted,
   move the batch's components to the batch's revision (creating those of
   machines in service that had none), otherwise record the hold
   (RolloutAllowed=False, a Warning Event) and retry after the verdict's
   `retry_after`;
4. write the status once, only when it changed.

The admitted batch's operation id lives in `status.batchOperation`, not in
memory: once the batch is no longer in flight the reconcile tells the
Defender it finished, and any ComponentUpgrade admission of this set that
the status does not name (an older rollout, a write lost in a crash, a set
deleted while no operator ran) is finished too. So an operator restart, a
leader hand-over or a deletion never keeps a `maxConcurrent` slot taken.
`status.batchReadyTime` is when the last batch was first seen complete: the
soak clock (`batchSoakSeconds`) starts there.

`disruption: Drain`: an admitted batch whose revision asks for it first has
its nodes cordoned (annotated `kubenode.io/cordoned-by: mcs/<set>`, unless a
human had cordoned them already) and drained (`kubenode.drain`); only once
every node is drained do its components move, and each node is uncordoned
once its component is Running and healthy at its revision again. Until the
batch moves it stays the proposed batch, so its Defender admission is kept.

The agent owns the finalizer `kubenode.io/machinecomponent`: it adds it
before the first install and drops it once it removed the component, so
deleting a MachineComponent is all the controller does. Only when the
machine itself is gone (no agent will ever answer) does a second, tiny
reconciler drop the finalizer in the agent's place.

Pause points approved by `kubenode rollout resume` live in the annotation
`kubenode.io/resume-batch: "<revision>/<batch>"`: it belongs to one revision,
so a new rollout never inherits an old approval, and resume is one metadata
write that needs no status field.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kubenode.api import constants as c
from kubenode.api.defender import COMPONENT_UPGRADE, Operation, Reviewer, Verdict
from kubenode.apimachinery.selectors import LabelSelector, label_selector_from_dict
from kubenode.apimachinery.timefmt import format_time_up, parse_time
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.drain import cordon, drain, uncordon
from kubenode.metrics.component_metrics import RolloutMetrics
from kubenode.runtime.conditions import get_condition, now_rfc3339
from kubenode.runtime.controller import Request, Result, TerminalError
from kubenode.runtime.informer import Informer

from .resources import MACHINE_COMPONENT_SETS, MACHINE_COMPONENTS
from .revisions import find_revision, previous_revision, record_revision, template_hash
from .rollout_planner import (
    Batch,
    ComponentState,
    FleetView,
    MachineState,
    Plan,
    RolloutInput,
    Strategy,
    normalized_stable,
    plan_rollout,
)
from .status import build_status

log = logging.getLogger("kubenode.componentset")
Obj = dict[str, Any]
EventFn = Callable[[Obj, str, str, str], Awaitable[None]]

FIELD_MANAGER = "kubenode-componentset-controller"
#: Set by `kubenode rollout resume`: pause points up to this batch of this revision are approved.
ANNOTATION_RESUME_BATCH = "kubenode.io/resume-batch"
#: Index names on the shared MachineComponent cache.
INDEX_OWNER = "componentset-owner"
INDEX_MACHINE = "componentset-machine"
#: Retry a held batch after this long when the Defender gives no hint.
DEFAULT_HOLD_RETRY = 10.0
#: Re-check a set now and then even when nothing changes (clock-driven soak, lost events).
RESYNC_SECONDS = 60.0
#: Concurrent writes of one batch (the client's QPS limiter still applies).
WRITE_CONCURRENCY = 32
#: How soon a drain that is still waiting (pods leaving, disruption budgets) is looked at again.
DRAIN_RECHECK = 2.0
#: Index of the Nodes cache: the set that cordoned a node (annotation kubenode.io/cordoned-by).
INDEX_CORDONED_BY = "componentset-cordoned-by"
MAX_NAME = 253


@dataclass
class RolloutScope:
    """One reconcile of one set: what it read once, and what its phases decided (written at the end)."""

    mcs: Obj
    spec: Obj
    old_status: Obj
    target: str
    history: list[Obj]
    templates: dict[str, Obj]
    selector: LabelSelector = field(default_factory=lambda: label_selector_from_dict({}))
    strategy: Any = None
    stable: str | None = None
    view: Any = None
    plan: Any = None
    recorded_ready: float | None = None
    batch_start: str | None = None
    batch_ready: str | None = None
    requeue: float | None = None
    proposed: str | None = None
    admitted: str | None = None
    allowed: tuple[str, str, str] | None = None
    draining: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return str(self.mcs["metadata"]["name"])


def component_name(set_name: str, machine: str) -> str:
    """The deterministic MachineComponent name of `machine` in `set_name` (hashed when too long)."""
    name = f"{set_name}-{machine}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[:MAX_NAME - 11].rstrip('-.')}-{digest}"


def resume_approval(mcs: Obj, revision: str) -> int:
    """The batch number `kubenode rollout resume` approved for `revision` (0 if none)."""
    raw = ((mcs["metadata"].get("annotations") or {}).get(ANNOTATION_RESUME_BATCH) or "")
    rev, _, batch = raw.rpartition("/")
    return int(batch) if rev == revision and batch.isdigit() else 0


def rollout_key(history: list[Obj], target: str) -> str:
    """The identity of this rollout: the target revision and the history number it got this time."""
    entry = find_revision(history, target)
    return f"{target}.{entry.get('revision')}" if entry is not None else target


def stable_revision(status: Obj, history: list[Obj], target: str) -> str | None:
    """The revision a failed rollout returns to: the last completed one, else the previous in history."""
    current = status.get("currentRevision")
    if current and current != target and find_revision(history, current) is not None:
        return str(current)
    prev = previous_revision(history, target)
    return str(prev["name"]) if prev else None


def component_state(mc: Obj) -> ComponentState:
    """What the planner needs from one MachineComponent."""
    meta, spec, st = mc["metadata"], mc.get("spec") or {}, mc.get("status") or {}
    revision = str(spec.get("revision") or "")
    installed = str(st.get("installedRevision") or "")
    observed = st.get("observedGeneration")
    # A status is about the current spec when the agent says which generation it saw; agents that do not
    # report it are trusted only once they report the assigned revision as installed (or failed for it).
    fresh = (int(observed) >= int(meta.get("generation") or 1)) if observed is not None else (
        installed == revision or st.get("phase") == c.COMPONENT_PHASE_FAILED)
    healthy_cond = get_condition(st.get("conditions"), c.COMPONENT_CONDITION_HEALTHY)
    since = (parse_time(healthy_cond.get("lastTransitionTime"))
             if healthy_cond is not None and healthy_cond.get("status") == c.CONDITION_TRUE else None)
    return ComponentState(
        name=meta["name"], revision=revision, phase=str(st.get("phase") or ""), healthy=bool(st.get("healthy")),
        installed_revision=installed, installed_version=str(st.get("installedVersion") or ""),
        message=str(st.get("message") or ""), fresh=fresh, healthy_since=since,
        deleting=bool(meta.get("deletionTimestamp")),
        drifted=(get_condition(st.get("conditions"), c.COMPONENT_CONDITION_DRIFTED) or {}).get("status")
        == c.CONDITION_TRUE)


def node_of(machine: Obj) -> str:
    """The Node name of a Machine."""
    ref = ((machine.get("status") or {}).get("nodeRef") or {}).get("name")
    return str(ref or (machine.get("spec") or {}).get("nodeName") or machine["metadata"]["name"])


def machine_state(machine: Obj, mc: Obj | None) -> MachineState:
    """The planner's view of one selected machine and its component (None: it has none yet)."""
    meta = machine["metadata"]
    in_service = (machine.get("status") or {}).get("phase") == c.MACHINE_PHASE_RUNNING
    return MachineState(meta["name"], str(meta.get("uid", "")), node_of(machine),
                        None if mc is None else component_state(mc), in_service)


#: Prefix of every Defender operation id of a set's batches.
def op_prefix(set_name: str) -> str:
    """`mcs/<set>/`: the prefix of the Defender operation ids of `set_name`'s batches."""
    return f"mcs/{set_name}/"


@dataclass
class _Tracker:
    """One set's incremental view: valid for `key` (target, stable revision, selector)."""

    key: tuple[str, str | None, str]
    view: FleetView
    dirty: set[str] = field(default_factory=set)  # machines to re-read before the next plan


def component_spec(machine: str, component: str, revision: str, template: Obj, node: str = "") -> Obj:
    """A MachineComponent spec: the machine (and its node), the component, the revision and its template's fields."""
    return {**template, "machineName": machine, "nodeName": node or machine, "component": component,
            "revision": revision}


def controller_uids(obj: Obj) -> list[str]:
    """Index function (`INDEX_OWNER`): the uid of `obj`'s controller reference."""
    return [r["uid"] for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")]


def cordoned_by(node: Obj) -> list[str]:
    """Index function (`INDEX_CORDONED_BY`): who cordoned a node for an update (annotation kubenode.io/cordoned-by)."""
    return [v for v in [(node["metadata"].get("annotations") or {}).get(c.ANNOTATION_CORDONED_BY)] if v]


def machine_of(mc: Obj) -> list[str]:
    """Index function (`INDEX_MACHINE`): the machine a MachineComponent is on."""
    return [str((mc.get("spec") or {}).get("machineName") or "")]


class ComponentSetReconciler:
    """Reconciles one MachineComponentSet per call.

    Wired by `wiring.add_componentset_controllers`, which indexes the caches (`INDEX_OWNER`,
    `INDEX_CORDONED_BY`) and registers `on_machine`/`on_component` as informer handlers.
    """

    def __init__(self, client: KubeClient, sets: Informer, components: Informer, machines: Informer,
                 reviewer: Reviewer, *, on_event: EventFn | None = None, metrics: RolloutMetrics | None = None,
                 clock: Callable[[], float] = time.time, nodes: Informer | None = None) -> None:
        self.client = client
        self.sets = sets
        self.components = components
        self.machines = machines
        self.reviewer = reviewer
        self.on_event = on_event
        self.metrics = metrics
        self.clock = clock
        self.nodes = nodes
        self._trackers: dict[str, _Tracker] = {}  # set uid → its incremental view (see `_sync_view`)
        self.full_syncs = 0  # how many times a view was built from scratch (tests and benches read it)

    # ------------------------------------------------------------------ the incremental view

    def on_machine(self, old: Obj | None, new: Obj | None) -> None:
        """Informer handler: a machine changed; every set re-reads it on its next reconcile.

        Not filtered by what changed: the event's `old` may be a version a controller already put into the
        shared cache (`Cache.remember`), so "nothing I care about changed" cannot be told from here. A
        heartbeat costs one cheap comparison in `FleetView.put`.
        """
        name = (new or old or {}).get("metadata", {}).get("name")
        if name:
            for tracker in self._trackers.values():
                tracker.dirty.add(name)

    def on_component(self, old: Obj | None, new: Obj | None) -> None:
        """Informer handler: a component changed; its set re-reads that machine on its next reconcile."""
        for obj in (old, new):
            if obj is None:
                continue
            machine = str((obj.get("spec") or {}).get("machineName") or "")
            for ref in obj["metadata"].get("ownerReferences") or []:
                tracker = self._trackers.get(ref.get("uid", "")) if ref.get("controller") else None
                if tracker is not None:
                    tracker.dirty.add(machine)

    def _owned_component(self, set_name: str, set_uid: str, machine: str) -> Obj | None:
        """The live MachineComponent of `machine` owned by the set (None if absent or being deleted)."""
        mc = self.components.cache.get("", component_name(set_name, machine))
        if mc is None or mc["metadata"].get("deletionTimestamp") or not any(
                r.get("uid") == set_uid and r.get("controller") for r in mc["metadata"].get("ownerReferences") or []):
            return None
        return mc

    def _sync_view(self, mcs: Obj, selector: LabelSelector, target: str,
                   stable: str | None) -> tuple[FleetView, list[Obj]]:
        """The set's view of its machines, brought up to date; and the components whose machine left.

        The first reconcile of a set (and of every new target, stable revision or selector) builds the
        view from the caches; later ones re-read only the machines the informer handlers marked dirty
        since, so a reconcile costs what changed, not the fleet.
        """
        name, uid = mcs["metadata"]["name"], mcs["metadata"]["uid"]
        key = (target, stable, json.dumps((mcs.get("spec") or {}).get("selector") or {}, sort_keys=True))
        tracker = self._trackers.get(uid)
        if tracker is None or tracker.key != key:
            states = []
            for m in self.machines.cache.list():
                if not m["metadata"].get("deletionTimestamp") and selector.matches(m["metadata"].get("labels")):
                    states.append(machine_state(m, self._owned_component(name, uid, m["metadata"]["name"])))
            tracker = self._trackers[uid] = _Tracker(key, FleetView(target, stable, states))
            orphans = [o for o in self.components.cache.by_index(INDEX_OWNER, uid)
                       if not o["metadata"].get("deletionTimestamp")
                       and str((o.get("spec") or {}).get("machineName")) not in tracker.view]
            self.full_syncs += 1
            return tracker.view, orphans
        orphans = []
        dirty, tracker.dirty = tracker.dirty, set()
        for machine_name in dirty:
            machine = self.machines.cache.get("", machine_name)
            mc = self._owned_component(name, uid, machine_name)
            if machine is not None and not machine["metadata"].get("deletionTimestamp") and selector.matches(
                    machine["metadata"].get("labels")):
                tracker.view.put(machine_state(machine, mc))
            else:
                tracker.view.discard(machine_name)
                if mc is not None:
                    orphans.append(mc)
        return tracker.view, orphans

    def _mark_dirty(self, set_uid: str, machines: Iterable[str]) -> None:
        """Our own writes went into the cache without an informer event: re-read those machines next time."""
        tracker = self._trackers.get(set_uid)
        if tracker is not None:
            tracker.dirty.update(machines)

    async def _event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        if self.on_event is not None:
            await self.on_event(obj, type_, reason, message)

    async def __call__(self, req: Request) -> Result | None:
        try:
            return await self._reconcile(req)
        except BaseException:
            # The dirty machines this reconcile took may not have been acted on: the retry starts from a
            # fresh view rather than trust one that may have lost them.
            mcs = self.sets.cache.get("", req.name)
            if mcs is not None:
                self._trackers.pop(mcs["metadata"]["uid"], None)
            raise

    async def _reconcile(self, req: Request) -> Result | None:
        mcs = self.sets.cache.get("", req.name)
        if mcs is None or mcs["metadata"].get("deletionTimestamp"):
            await self._release_admissions(req.name, keep=None)
            await self._uncordon(req.name, None, keep=())
            live = {o["metadata"]["uid"] for o in self.sets.cache.list() if not o["metadata"].get("deletionTimestamp")}
            for gone in [u for u in self._trackers if u not in live]:
                del self._trackers[gone]
            return None  # owned components go with the set (garbage collection); no status to write
        scope = self.scope(mcs)
        for phase in PHASES:
            await phase(self, scope)
        await self._write_status(mcs, scope.plan, scope.target, scope.history, scope.batch_start, scope.allowed,
                                 batch_ready=scope.batch_ready, batch_operation=scope.admitted)
        await self._release_admissions(scope.name, keep=scope.admitted)
        requeue = scope.requeue
        return Result(requeue_after=min(requeue, RESYNC_SECONDS) if requeue else RESYNC_SECONDS)

    def scope(self, mcs: Obj) -> RolloutScope:
        """The per-run scope: the set's spec, target revision and history, read once."""
        spec = mcs.get("spec") or {}
        old_status = mcs.get("status") or {}
        template: Obj = spec.get("template") or {}
        target = template_hash(template)
        history = record_revision(list(old_status.get("revisions") or []), template, now_rfc3339(),
                                  int(spec.get("revisionHistoryLimit", 10)))
        return RolloutScope(mcs=mcs, spec=spec, old_status=old_status, target=target, history=history,
                            templates={r["name"]: r["template"] for r in history})

    async def _parse(self, scope: RolloutScope) -> None:
        """The selector and strategy; an invalid spec is a Warning Event and a terminal error (no retry)."""
        try:
            scope.selector = label_selector_from_dict(scope.spec.get("selector") or {})
            scope.strategy = Strategy.from_spec(scope.spec.get("updateStrategy"))
        except ValueError as exc:
            await self._event(scope.mcs, "Warning", c.COMPONENT_SET_REASON_INVALID_SPEC, str(exc))
            raise TerminalError(f"machinecomponentset {scope.name}: {exc}") from None

    async def _sync(self, scope: RolloutScope) -> None:
        """The set's view of its machines (incremental), and the components no machine wants any more."""
        old_status, target = scope.old_status, scope.target
        scope.stable = normalized_stable(target, stable_revision(old_status, scope.history, target))
        view, orphans = self._sync_view(scope.mcs, scope.selector, target, scope.stable)
        scope.view = view
        await self._delete_orphans(orphans)

    async def _plan(self, scope: RolloutScope) -> None:
        """The pure rollout plan of this pass."""
        mcs, spec, old_status, target = scope.mcs, scope.spec, scope.old_status, scope.target
        same_rollout = old_status.get("updateRevision") == target
        scope.recorded_ready = parse_time(old_status.get("batchReadyTime")) if same_rollout else None
        inp = RolloutInput(
            target=target, strategy=scope.strategy, stable=scope.stable, machines=scope.view,
            paused=bool(spec.get("paused")), approved_batch=resume_approval(mcs, target),
            previous_phase=str(old_status.get("phase") or "") if same_rollout else "",
            previous_failed=tuple((str(f.get("name")), str(f.get("message") or ""))
                                  for f in old_status.get("failedMachines") or []) if same_rollout else (),
            batch_start=parse_time(old_status.get("batchStartTime")) if same_rollout else None,
            batch_ready=self.clock() if scope.recorded_ready is None else scope.recorded_ready,
            now=self.clock())
        scope.plan = plan = plan_rollout(inp)
        scope.batch_start = old_status.get("batchStartTime") if same_rollout else None
        scope.batch_ready = (None if plan.batch_ready is None else old_status["batchReadyTime"]
                             if scope.recorded_ready is not None else format_time_up(plan.batch_ready))
        scope.requeue = plan.requeue_after

    async def _create_new(self, scope: RolloutScope) -> None:
        """Components for machines that joined: the set's current target directly (they are not serving)."""
        await self._create(scope.mcs, scope.plan.creates, scope.templates, scope.target)

    async def _settle_admission(self, scope: RolloutScope) -> None:
        """The batch's Defender admission, derived from status: a finished batch's slot is handed back."""
        plan, name = scope.plan, scope.name
        admitted: str | None = str(scope.old_status.get("batchOperation") or "") or None
        scope.proposed = (self._op_id(name, plan.batch, rollout_key(scope.history, scope.target))
                          if plan.batch is not None and plan.batch.machines else None)
        if admitted is not None and not plan.in_flight and admitted != scope.proposed:
            self.reviewer.finished(admitted)  # the batch is done (`_release_admissions` catches the rest)
            admitted = None
        scope.admitted = admitted

    async def _start_batch(self, scope: RolloutScope) -> None:
        """Review the next batch with the Defender; once allowed (and drained) move its machines."""
        mcs, plan, templates, target = scope.mcs, scope.plan, scope.templates, scope.target
        if plan.batch is None or not plan.batch.machines:
            return
        verdict = await self._review(mcs, plan.batch, rollout_key(scope.history, target))
        drained = True
        if verdict.allowed:
            scope.admitted = scope.proposed
            template = templates.get(plan.batch.revision) or templates.get(target) or {}
            if template.get("disruption") == c.DISRUPTION_DRAIN:
                drained = await self._drain_batch(mcs, plan, scope.old_status)
                if not drained:
                    scope.draining = plan.batch.machines
                    scope.requeue = DRAIN_RECHECK
        if verdict.allowed and not drained:
            scope.allowed = (c.CONDITION_TRUE, c.COMPONENT_SET_REASON_DEFENDER_ALLOWED,
                             verdict.message or "the Defender admitted the batch")
        elif verdict.allowed:
            await self._move(mcs, plan.batch, templates, target, scope.view)
            scope.batch_start, scope.batch_ready = now_rfc3339(), None
            scope.allowed = (c.CONDITION_TRUE, c.COMPONENT_SET_REASON_DEFENDER_ALLOWED,
                             verdict.message or "the Defender admitted the batch")
            what = "rollback" if plan.batch.rollback else f"batch {plan.batch.number} of {plan.total_batches}"
            await self._event(mcs, "Normal", c.COMPONENT_SET_REASON_ROLLBACK_STARTED if plan.batch.rollback
                              else c.COMPONENT_SET_REASON_BATCH_STARTED,
                              f"{what}: {len(plan.batch.machines)} machine(s) to revision "
                              f"{plan.batch.revision}: {', '.join(plan.batch.machines[:10])}")
        else:
            reason = "".join(w[:1].upper() + w[1:] for w in (verdict.reason or "Denied").split())
            message = (f"{verdict.decision} by the Defender ({verdict.policy or 'no policy'}/"
                       f"{verdict.rule or '-'}: {verdict.reason}): {verdict.message}")
            scope.allowed = (c.CONDITION_FALSE, c.COMPONENT_SET_REASON_DEFENDER_DENIED, message)
            plan.message = f"batch held: {message}"
            await self._event(mcs, "Warning", c.COMPONENT_SET_REASON_DEFENDER_DENIED, f"{reason}: {message}")
            scope.requeue = verdict.retry_after_seconds or DEFAULT_HOLD_RETRY

    async def _finish_disruption(self, scope: RolloutScope) -> None:
        """Uncordon the nodes this set cordoned that no longer need it (healthy, or no batch draining)."""
        await self._uncordon(scope.name, scope.view, keep=scope.draining)

    async def _report(self, scope: RolloutScope) -> None:
        """Events for the rollout's transitions (completed, failed, paused)."""
        await self._report_transition(scope.mcs, scope.old_status, scope.plan)

    # ------------------------------------------------------------------ disruption: Drain

    async def _drain_batch(self, mcs: Obj, plan: Plan, old_status: Obj) -> bool:
        """Cordon and drain the nodes of `plan.batch` (one round); True once every node is drained.

        Sets `plan.reason`/`plan.message` while it waits, and says in an Event what blocks it.
        """
        assert plan.batch is not None
        name = mcs["metadata"]["name"]
        owner = f"mcs/{name}"
        batch = plan.batch

        async def one(node_name: str) -> Any:
            node = self.nodes.cache.get("", node_name) if self.nodes is not None else None
            if node is not None and not (node.get("spec") or {}).get("unschedulable"):
                await cordon(self.client, node_name, field_manager=FIELD_MANAGER,
                             annotations={c.ANNOTATION_CORDONED_BY: owner})
            return await drain(self.client, node_name, field_manager=FIELD_MANAGER, cordon_first=False)

        results = await asyncio.gather(*(one(n) for n in batch.nodes))
        what = f"batch {batch.number}" if not batch.rollback else "rollback"
        if all(r.done for r in results):
            await self._event(mcs, "Normal", c.COMPONENT_SET_REASON_DRAINING,
                              f"{what}: {len(results)} node(s) cordoned and drained: {', '.join(batch.nodes[:10])}")
            return True
        blocked = [r for r in results if r.blocked]
        waiting = "; ".join(r.message() for r in results if not r.done)
        plan.reason = c.COMPONENT_SET_REASON_DRAINING
        plan.message = f"{what}: draining {len(results)} node(s) before the update: {waiting}"[:2048]
        if blocked:
            await self._event(mcs, "Warning", c.COMPONENT_SET_REASON_DRAIN_BLOCKED,
                              f"{what}: " + "; ".join(r.message() for r in blocked))
        elif old_status.get("message") != plan.message:
            log.info("machinecomponentset %s: %s", name, plan.message)
        return False

    async def _uncordon(self, set_name: str, view: FleetView | None, keep: Iterable[str]) -> None:
        """Uncordon the nodes this set cordoned whose component is Running and healthy at its revision again
        (all of them when the set is gone, `view` None); machines in `keep` are still being drained."""
        if self.nodes is None:
            return
        kept = set(keep)
        done = []
        for node in self.nodes.cache.by_index(INDEX_CORDONED_BY, f"mcs/{set_name}"):
            machine = str((node["metadata"].get("labels") or {}).get(c.LABEL_MACHINE) or node["metadata"]["name"])
            if machine in kept:
                continue
            state = view.get(machine) if view is not None else None
            comp = state.component if state is not None else None
            if comp is not None and not (comp.fresh and comp.running_healthy()
                                         and comp.installed_revision in ("", comp.revision)):
                continue  # still updating (or failed: it stays cordoned until someone looks)
            if await uncordon(self.client, node["metadata"]["name"], field_manager=FIELD_MANAGER,
                              annotations={c.ANNOTATION_CORDONED_BY: None}):
                done.append(node["metadata"]["name"])
        if done:
            mcs = self.sets.cache.get("", set_name)
            if mcs is not None:
                await self._event(mcs, "Normal", c.COMPONENT_SET_REASON_UNCORDONED,
                                  f"{len(done)} node(s) healthy again and uncordoned: {', '.join(done[:10])}")

    # ------------------------------------------------------------------ Defender

    async def _release_admissions(self, set_name: str, keep: str | None) -> None:
        """Finish every admission the Defender holds for `set_name` but `keep`, and those of sets gone.

        Derived from what the status names, so nothing depends on this process having seen the admission.
        """
        for op_id in await self.reviewer.in_progress("mcs/"):
            owner = op_id.split("/")[1] if op_id.count("/") >= 2 else ""
            if owner == set_name:
                if op_id != keep:
                    self.reviewer.finished(op_id)
                continue
            other = self.sets.cache.get("", owner)
            if other is None or other["metadata"].get("deletionTimestamp"):
                self.reviewer.finished(op_id)

    @staticmethod
    def _op_id(name: str, batch: Batch, target: str) -> str:
        # `target` is a rollout key (revision name and number), so rolling to the same template again
        # later is a new operation for the Defender, not a replay of an old admission.
        return f"mcs/{name}/{target}/rollback" if batch.rollback else f"mcs/{name}/{target}/batch/{batch.number}"

    async def _review(self, mcs: Obj, batch: Batch, target: str) -> Verdict:
        name = mcs["metadata"]["name"]
        op_id = self._op_id(name, batch, target)
        approval = (mcs["metadata"].get("annotations") or {}).get(c.ANNOTATION_APPROVED)
        op = Operation(kind=COMPONENT_UPGRADE, id=op_id, nodes=batch.nodes, count=len(batch.machines),
                       approved=approval in ("true", op_id), source=f"MachineComponentSet/{name}")
        verdict = await self.reviewer.review(op)
        if self.metrics is not None:
            self.metrics.decision(verdict.decision)
        return verdict

    # ------------------------------------------------------------------ writes

    async def _delete_orphans(self, orphans: Iterable[Obj]) -> None:
        for mc in orphans:
            try:
                await self.client.delete(MACHINE_COMPONENTS, mc["metadata"]["name"],
                                         preconditions={"uid": mc["metadata"]["uid"]})
                log.info("deleted machinecomponent %s (machine left the selector)", mc["metadata"]["name"])
            except (errors.NotFound, errors.Conflict):
                pass

    async def _create(self, mcs: Obj, creates: dict[str, str], templates: dict[str, Obj], target: str) -> None:
        if not creates:
            return
        set_name = mcs["metadata"]["name"]
        component = str((mcs.get("spec") or {}).get("component"))

        async def one(machine: str, revision: str) -> None:
            if revision not in templates:
                revision = target  # history trimmed: the target is the only template we still have
            body = {
                "apiVersion": c.API_VERSION, "kind": c.KIND_MACHINE_COMPONENT,
                "metadata": {
                    "name": component_name(set_name, machine),
                    "labels": {c.LABEL_MACHINE: machine, c.LABEL_COMPONENT: component,
                               c.LABEL_MACHINE_COMPONENT_SET: set_name, c.LABEL_REVISION: revision},
                    "ownerReferences": [{"apiVersion": mcs["apiVersion"], "kind": c.KIND_MACHINE_COMPONENT_SET,
                                         "name": set_name, "uid": mcs["metadata"]["uid"], "controller": True,
                                         "blockOwnerDeletion": True}],
                },
                "spec": component_spec(machine, component, revision, templates[revision], self._node_name(machine)),
            }
            try:
                created = await self.client.create(MACHINE_COMPONENTS, body, field_manager=FIELD_MANAGER)
            except errors.AlreadyExists:
                return  # our cache is behind: the next reconcile sees it
            self.components.cache.remember(created)  # so that a quick second reconcile does not try again

        try:
            await _bounded(one(m, r) for m, r in sorted(creates.items()))
        finally:
            self._mark_dirty(mcs["metadata"]["uid"], creates)
        log.info("machinecomponentset %s: created %d component(s)", set_name, len(creates))

    def _node_name(self, machine: str) -> str:
        """The Node a Machine registers as (what the agent's identity names): spec.nodeName, else its name."""
        m = self.machines.cache.get("", machine)
        return str(((m or {}).get("spec") or {}).get("nodeName") or machine)

    async def _move(self, mcs: Obj, batch: Batch, templates: dict[str, Obj], target: str,
                    view: FleetView) -> None:
        component = str((mcs.get("spec") or {}).get("component"))
        revision = batch.revision if batch.revision in templates else target
        set_name, set_uid = mcs["metadata"]["name"], mcs["metadata"]["uid"]
        first_installs = {}
        for m in batch.machines:
            state = view.get(m)
            if state is not None and state.component is None:
                first_installs[m] = revision  # a machine in service gets its first install in this batch
        await self._create(mcs, first_installs, templates, target)

        async def one(machine: str) -> None:
            if machine in first_installs:
                return
            mc = self._owned_component(set_name, set_uid, machine)
            if mc is None:
                return  # gone since the view saw it: its deletion event brings the machine back to the plan
            new_spec = component_spec(machine, component, revision, templates[revision], self._node_name(machine))
            patch_spec: Obj = {k: None for k in (mc.get("spec") or {}) if k not in new_spec}
            patch_spec.update(new_spec)
            try:
                updated = await self.client.patch(
                    MACHINE_COMPONENTS, mc["metadata"]["name"],
                    {"metadata": {"labels": {c.LABEL_REVISION: revision}}, "spec": patch_spec},
                    field_manager=FIELD_MANAGER)
            except errors.NotFound:
                return
            self.components.cache.remember(updated)

        try:
            await _bounded(one(m) for m in batch.machines)
        finally:
            self._mark_dirty(set_uid, batch.machines)
        log.info("machinecomponentset %s: moved %d machine(s) to revision %s", mcs["metadata"]["name"],
                 len(batch.machines), revision)

    async def _report_transition(self, mcs: Obj, old: Obj, plan: Plan) -> None:
        target = template_hash((mcs.get("spec") or {}).get("template") or {})
        if old.get("phase") == plan.phase and old.get("updateRevision") == target:
            return
        warning = plan.phase in (c.ROLLOUT_PHASE_FAILED, c.ROLLOUT_PHASE_ROLLING_BACK) or (
            plan.phase == c.ROLLOUT_PHASE_PAUSED and plan.reason == c.COMPONENT_SET_REASON_MAX_FAILURES_EXCEEDED)
        await self._event(mcs, "Warning" if warning else "Normal", plan.reason, plan.message)
        if self.metrics is not None and plan.phase == c.ROLLOUT_PHASE_ROLLING_BACK:
            self.metrics.rollback()

    async def _write_status(self, mcs: Obj, plan: Plan, target: str, history: list[Obj], batch_start: str | None,
                            allowed: tuple[str, str, str] | None, *, batch_ready: str | None,
                            batch_operation: str | None) -> None:
        old = mcs.get("status") or {}
        status = build_status(mcs, plan, target=target, history=history, batch_start=batch_start,
                              rollout_allowed=allowed, now=now_rfc3339(), batch_ready=batch_ready,
                              batch_operation=batch_operation)
        if status == old:
            return
        # A merge patch keeps what it does not mention: fields the new status drops are removed explicitly.
        patch = {**status, **{k: None for k in old if k not in status}}
        try:
            updated = await self.client.patch_status(MACHINE_COMPONENT_SETS, mcs["metadata"]["name"],
                                                     {"status": patch}, field_manager=FIELD_MANAGER)
        except errors.NotFound:
            return
        self.sets.cache.remember(updated)


class ComponentFinalizer:
    """Drops `kubenode.io/machinecomponent` from deleted components whose machine is gone (no agent left).

    Components are indexed by machine (`INDEX_MACHINE`) by the wiring."""

    def __init__(self, client: KubeClient, components: Informer, machines: Informer) -> None:
        self.client = client
        self.components = components
        self.machines = machines

    async def __call__(self, req: Request) -> Result | None:
        mc = self.components.cache.get("", req.name)
        if mc is None or not mc["metadata"].get("deletionTimestamp"):
            return None
        finalizers = list(mc["metadata"].get("finalizers") or [])
        if c.FINALIZER_MACHINE_COMPONENT not in finalizers:
            return None
        machine = self.machines.cache.get("", str((mc.get("spec") or {}).get("machineName") or ""))
        if machine is not None and not machine["metadata"].get("deletionTimestamp"):
            return None  # the machine's agent removes the component and then its finalizer
        finalizers.remove(c.FINALIZER_MACHINE_COMPONENT)
        try:
            await self.client.patch(MACHINE_COMPONENTS, req.name, {"metadata": {
                "finalizers": finalizers, "resourceVersion": mc["metadata"]["resourceVersion"]}},
                field_manager=FIELD_MANAGER)
        except errors.NotFound:
            return None
        log.info("machinecomponent %s: finalizer dropped, its machine is gone", req.name)
        return None

    def components_of_machine(self, machine: Obj) -> list[Request]:
        """Mapper: a machine's components (its deletion may release their finalizers)."""
        return [Request(mc["metadata"]["name"])
                for mc in self.components.cache.by_index(INDEX_MACHINE, machine["metadata"]["name"])]


async def _bounded(coros: Iterable[Awaitable[None]], limit: int = WRITE_CONCURRENCY) -> None:
    """Run `coros` with at most `limit` at once; the first error is raised after all finished."""
    sem = asyncio.Semaphore(limit)

    async def run(coro: Awaitable[None]) -> None:
        async with sem:
            await coro

    results = await asyncio.gather(*(run(co) for co in coros), return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r


Phase = Callable[[ComponentSetReconciler, RolloutScope], Awaitable[None]]
#: A reconcile's phases in order; the status is written once after the last (`ComponentSetReconciler._reconcile`).
PHASES: tuple[Phase, ...] = (
    ComponentSetReconciler._parse,
    ComponentSetReconciler._sync,
    ComponentSetReconciler._plan,
    ComponentSetReconciler._create_new,
    ComponentSetReconciler._settle_admission,
    ComponentSetReconciler._start_batch,
    ComponentSetReconciler._finish_disruption,
    ComponentSetReconciler._report,
)
