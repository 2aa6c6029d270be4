"""The NodeRemedier controller: unhealthy node conditions → RemedyOperationJobs, one step at a time.

Level-triggered: each reconcile builds one `RemedierScope` (the remedier,
its parsed rules and selector, its jobs by node and rule, the clock) and runs
the ordered `PHASES` on it: select the nodes to look at, plan each (node,
rule) with the pure planner (`planner.plan`), then act on the decisions —
a new job (deterministic name, owned by the remedier, labelled with node,
machine and remedier), a recovery mark on the last job of a ladder, a
give-up Event. The remedier's status (`status.remedier_status`) is written
once at the end. Every decision also lands in an Event.

How long a remediated node must stay healthy before its ladder counts as
recovered is the rule's `healthyDelaySeconds`, or the operator's default
(`RemedySettings.healthy_delay_seconds`, 60 s) when the rule does not say.

Cost in proportion to what changed, not the fleet (as `componentset/fleet.py`
does for rollouts): a Node event wakes only the remediers whose selector
matches the node (before or after the change) and marks that node dirty for
them; a reconcile plans the dirty nodes plus the nodes it is already watching
(a rule matches them, or they have jobs) and keeps the counts of
`status.matchedNodes/unhealthyNodes` as sets updated per node. A remedier
whose spec changed (a new generation), one seen for the first time, or one
not fully looked at for `FULL_RESYNC_SECONDS` gets one full pass over the
fleet, which keeps the whole level-triggered.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubenode.api import constants as c
from kubenode.apimachinery.selectors import LabelSelector, label_selector_from_dict
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.runtime.concurrency import gather_bounded
from kubenode.runtime.controller import Request, Result
from kubenode.runtime.informer import Informer
from kubenode.runtime.labels import labels_of

from . import planner as p
from .job_controller import FIELD_MANAGER
from .resources import NODE_REMEDIERS, REMEDY_JOBS
from .rules import Match, RuleSpec, healthy_since, job_name, match_rule, parse_rules, parse_time
from .status import recovered_patch, remedier_status, status_changed

log = logging.getLogger("kubenode.remedy")
Obj = dict[str, Any]
#: On jobs: when the condition that started the ladder turned unhealthy (epoch seconds), for the recovery metric.
ANNOTATION_DETECTED_AT = "kubenode.io/detected-at"
RESYNC_SECONDS = 30.0
#: A full pass over every node a remedier selects at least this often (the incremental view's safety net).
FULL_RESYNC_SECONDS = 300.0
#: Job creations (and recoveries) of one reconcile in flight at once.
STEP_CONCURRENCY = 32

EventFn = Callable[[Obj, str, str, str], Awaitable[None]]


@dataclass
class RemedySettings:
    """Operator-side knobs of remediation."""

    healthy_delay_seconds: float = 60.0
    denied_retry_seconds: float = 60.0
    #: RemedyOperationJob workers: each review is one status write and one Event, so a wave of 1 % of a
    #: 10,000-node fleet (100 jobs) waits ~25 round trips with 4 workers, ~7 with 16 (bench/scale.py).
    workers: int = 16


@dataclass
class FleetView:
    """What one remedier knows about its nodes between reconciles (rebuilt by a full pass)."""

    generation: int = -1
    full_at: float = 0.0
    matched: set[str] = field(default_factory=set)
    unhealthy: set[str] = field(default_factory=set)
    #: Nodes a rule matches (possibly not for long enough yet): planned again on every reconcile.
    watching: set[str] = field(default_factory=set)


def is_active(job: Obj) -> bool:
    """Whether a job has not reached a final phase."""
    return ((job.get("status") or {}).get("phase") or c.JOB_PHASE_PENDING) in p.ACTIVE_PHASES


def is_recovered(job: Obj) -> bool:
    """Whether the remedier marked the node healthy again after this job."""
    return any(x.get("type") == c.JOB_CONDITION_COMPLETE and x.get("reason") == c.JOB_REASON_NODE_HEALTHY
               for x in (job.get("status") or {}).get("conditions") or [])


def job_view(job: Obj) -> p.JobView:
    """The planner's view of a job."""
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    return p.JobView(name=job["metadata"]["name"], attempt=int(spec.get("attempt", 1)), step=int(spec.get("step", 0)),
                     phase=status.get("phase") or c.JOB_PHASE_PENDING,
                     created=parse_time(job["metadata"].get("creationTimestamp")) or 0.0,
                     completed=parse_time(status.get("completionTime")), recovered=is_recovered(job))


def new_job(remedier: Obj, node: Obj, rule: RuleSpec, d: p.Decision, m: Match, detected_at: float,
            now: float) -> Obj:
    """The RemedyOperationJob for decision `d`. Pure."""
    rname = remedier["metadata"]["name"]
    nname = node["metadata"]["name"]
    machine = labels_of(node).get(c.LABEL_MACHINE, "")
    action = dict(rule.actions[d.step].raw)
    labels = {c.LABEL_NODE: nname, c.LABEL_REMEDIER: rname}
    if machine:
        labels[c.LABEL_MACHINE] = machine
    spec: Obj = {"nodeName": nname, "remedier": rname, "rule": rule.name, "step": d.step, "attempt": d.attempt,
                 "action": action, "dryRun": bool((remedier.get("spec") or {}).get("dryRun")),
                 "reason": f"{m.describe(now)} (rule {rule.name}, attempt {d.attempt}, step {d.step + 1}/"
                           f"{len(rule.actions)}: {d.reason})"}
    if machine:
        spec["machineName"] = machine
    return {
        "apiVersion": c.API_VERSION, "kind": c.KIND_REMEDY_OPERATION_JOB,
        "metadata": {
            "name": job_name(rname, nname, rule.name, d.attempt, d.step, d.retry), "labels": labels,
            "annotations": {ANNOTATION_DETECTED_AT: f"{detected_at:.3f}"},
            "ownerReferences": [{"apiVersion": c.API_VERSION, "kind": c.KIND_NODE_REMEDIER, "name": rname,
                                 "uid": remedier["metadata"]["uid"], "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "spec": spec,
    }


def _detected_at(jobs: list[Obj], d: p.Decision, m: Match) -> float:
    """Detection time of the ladder: carried over from the attempt's earlier jobs, else the condition's."""
    if d.step > 0 or d.retry > 0 or d.reason == "LadderRestart":
        for j in jobs:
            raw = (j["metadata"].get("annotations") or {}).get(ANNOTATION_DETECTED_AT)
            if raw:
                try:
                    return min(float(raw), m.since)
                except ValueError:
                    pass
    return m.since


#: Index names on the RemedyOperationJob cache (added by the wiring).
INDEX_REMEDIER = "remedier"
INDEX_ACTIVE_NODE = "active-node"


def remedier_of_job(job: Obj) -> list[str]:
    """Index function: the remedier a job belongs to (label kubenode.io/remedier)."""
    return [labels_of(job).get(c.LABEL_REMEDIER, "")]


def active_node_of_job(job: Obj) -> list[str]:
    """Index function: the node of a job that has not reached a final phase."""
    return [str((job.get("spec") or {}).get("nodeName"))] if is_active(job) else []


@dataclass
class Step:
    """One planned decision for one (node, rule), to be acted on."""

    node: Obj
    rule: RuleSpec
    decision: p.Decision
    match: Match | None
    jobs: list[Obj]
    conditions: list[Obj]


@dataclass
class RemedierScope:
    """What one reconcile of one NodeRemedier knows: built once per run, filled in by the phases in order."""

    nr: Obj
    now: float
    rules: list[RuleSpec]
    selector: LabelSelector
    #: The remedier's jobs by (node, rule).
    jobs: dict[tuple[str, str], list[Obj]]
    dirty: set[str]
    view: FleetView = field(default_factory=FleetView)
    full: bool = False
    candidates: list[Obj] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    requeue: float = 0.0
    created: int = 0

    @property
    def name(self) -> str:
        return str(self.nr["metadata"]["name"])

    @property
    def paused(self) -> bool:
        return bool((self.nr.get("spec") or {}).get("paused"))


Phase = Callable[["RemedierReconciler", RemedierScope], Awaitable[None]]


class RemedierReconciler:
    """Reconciles one NodeRemedier per call (wired by `wiring.add_remedy_controllers`; jobs indexed by
    `INDEX_REMEDIER` and `INDEX_ACTIVE_NODE`)."""

    def __init__(self, client: KubeClient, remediers: Informer, nodes: Informer, jobs: Informer,
                 settings: RemedySettings, *, on_event: EventFn,
                 on_recovered: Callable[[float], None] = lambda s: None,
                 on_gave_up: Callable[[], None] = lambda: None,
                 on_planned: Callable[[str, int], None] = lambda kind, n: None) -> None:
        self.client = client
        self.remediers = remediers
        self.nodes = nodes
        self.jobs = jobs
        self.settings = settings
        self.on_event = on_event
        self.on_recovered = on_recovered
        self.on_gave_up = on_gave_up
        self.on_planned = on_planned
        self._gave_up: set[tuple[str, str, str, int]] = set()
        self._views: dict[str, FleetView] = {}
        self._dirty: dict[str, set[str]] = defaultdict(set)
        self._selectors: dict[str, tuple[str, LabelSelector]] = {}

    def _selector(self, nr: Obj) -> LabelSelector:
        name, rv = nr["metadata"]["name"], str(nr["metadata"].get("resourceVersion", ""))
        cached = self._selectors.get(name)
        if cached is None or cached[0] != rv:
            cached = (rv, label_selector_from_dict((nr.get("spec") or {}).get("selector") or {}))
            self._selectors[name] = cached
        return cached[1]

    def requests_for_node(self, node: Obj) -> list[Request]:
        """The remediers a change of `node` concerns (its selector matches it, or matched it); marks it dirty."""
        name = node["metadata"]["name"]
        labels = labels_of(node)
        out: list[Request] = []
        for nr in self.remediers.cache.list():
            rname = nr["metadata"]["name"]
            view = self._views.get(rname)
            if self._selector(nr).matches(labels) or (view is not None and name in view.matched):
                self._dirty[rname].add(name)
                out.append(Request(rname))
        return out

    async def __call__(self, req: Request) -> Result | None:
        dirty = self._dirty.pop(req.name, set())
        try:
            return await self._reconcile(req, dirty)
        except BaseException:
            self._dirty[req.name] |= dirty  # retried: nothing that changed is forgotten
            raise

    def scope(self, nr: Obj, dirty: set[str]) -> RemedierScope:
        """The per-run scope: the remedier's rules, selector and jobs, read once."""
        mine: dict[tuple[str, str], list[Obj]] = defaultdict(list)
        for j in self.jobs.cache.by_index(INDEX_REMEDIER, nr["metadata"]["name"]):
            js = j.get("spec") or {}
            mine[(str(js.get("nodeName")), str(js.get("rule")))].append(j)
        return RemedierScope(nr, time.time(), parse_rules(nr), self._selector(nr), mine, dirty,
                             requeue=RESYNC_SECONDS)

    async def _reconcile(self, req: Request, dirty: set[str]) -> Result | None:
        nr = self.remediers.cache.get("", req.name)
        if nr is None or nr["metadata"].get("deletionTimestamp"):
            self._views.pop(req.name, None)
            self._selectors.pop(req.name, None)
            return None  # its jobs go with it (owner references); no status to write
        scope = self.scope(nr, dirty)
        for phase in PHASES:
            await phase(self, scope)
        await self._write_status(scope)
        view = scope.view
        return Result(requeue_after=max(0.2, min(scope.requeue, view.full_at + FULL_RESYNC_SECONDS - scope.now)))

    async def _select(self, scope: RemedierScope) -> None:
        """The nodes to plan: all selected ones on a full pass, else the dirty and watched ones."""
        nr, now = scope.nr, scope.now
        view = self._views.get(scope.name)
        generation = int(nr["metadata"].get("generation") or 0)
        scope.full = view is None or view.generation != generation or now - view.full_at >= FULL_RESYNC_SECONDS
        if view is None or scope.full:
            view = self._views[scope.name] = FleetView(generation=generation, full_at=now)
            scope.candidates = [n for n in self.nodes.cache.list() if scope.selector.matches(labels_of(n))]
            view.matched = {n["metadata"]["name"] for n in scope.candidates}
        else:
            # Nodes with a remediation in progress or awaiting its recovery mark, not every node that ever
            # had a job: after a wave at 50,000 nodes re-planning all of those was 40 % of the operator.
            unsettled = {node for (node, _rule), jobs in scope.jobs.items()
                         if not p.settled(tuple(job_view(j) for j in jobs))}
            for name in scope.dirty | view.watching | unsettled:
                node = self.nodes.cache.get("", name)
                if node is None or not scope.selector.matches(labels_of(node)):
                    view.matched.discard(name)
                    view.unhealthy.discard(name)
                    view.watching.discard(name)
                    continue
                view.matched.add(name)
                scope.candidates.append(node)
        scope.view = view
        self.on_planned("full" if scope.full else "incremental", len(scope.candidates))

    async def _plan(self, scope: RemedierScope) -> None:
        """Plan every (node, rule) of the candidates (pure), and bring the view's counts up to date."""
        now, view = scope.now, scope.view
        for node in scope.candidates:
            nname = node["metadata"]["name"]
            conds = (node.get("status") or {}).get("conditions") or []
            busy = any(is_active(j) for j in self.jobs.cache.by_index(INDEX_ACTIVE_NODE, nname))
            node_unhealthy = False
            matched_any = False
            for rule in scope.rules:
                jobs = scope.jobs.get((nname, rule.name), [])
                m = match_rule(rule, conds, now)
                matched_any |= m is not None
                if m is None and not jobs:
                    continue  # the common case at fleet scale: healthy and never remediated
                node_unhealthy |= m is not None and m.ready_at <= now
                own_active = any(is_active(j) for j in jobs)
                d = p.plan(p.PlanInput(
                    rule=rule, match=m, jobs=tuple(job_view(j) for j in jobs), now=now,
                    healthy_since=healthy_since(rule, conds), node_busy=busy and not own_active,
                    paused=scope.paused, healthy_delay=self.settings.healthy_delay_seconds,
                    denied_retry_seconds=self.settings.denied_retry_seconds))
                if d.requeue_after is not None:
                    scope.requeue = min(scope.requeue, d.requeue_after)
                if d.kind in (p.CREATE, p.RECOVERED, p.GIVE_UP):
                    scope.steps.append(Step(node, rule, d, m, jobs, conds))
                if d.kind == p.CREATE and m is not None:
                    busy = True  # one step per node at a time: later rules see the node busy
            (view.unhealthy.add if node_unhealthy else view.unhealthy.discard)(nname)
            (view.watching.add if matched_any else view.watching.discard)(nname)

    async def _act(self, scope: RemedierScope) -> None:
        """Carry out the planned steps side by side (each is one node's; `STEP_CONCURRENCY` at a time).

        One after the other, the 100 faulted nodes of a 10,000-node fleet waited ~12 s for their jobs
        (bench/scale.py). Every step is awaited, then the first failure is raised: the reconcile is retried.
        """
        done = await gather_bounded([self._step(scope, step) for step in scope.steps], STEP_CONCURRENCY)
        scope.created += sum(done)

    async def _step(self, scope: RemedierScope, step: Step) -> bool:
        """One planned step; whether it created a job."""
        d, m = step.decision, step.match
        if d.kind == p.CREATE and m is not None:
            return await self._create(scope.nr, step.node, step.rule, d, m, step.jobs, scope.now)
        if d.kind == p.RECOVERED:
            await self._recovered(step.node, step.rule, step.jobs, d, step.conditions)
        elif d.kind == p.GIVE_UP:
            await self._give_up(scope.nr, step.node, step.rule, step.jobs)
        return False

    async def _create(self, nr: Obj, node: Obj, rule: RuleSpec, d: p.Decision, m: Match, jobs: list[Obj],
                      now: float) -> bool:
        body = new_job(nr, node, rule, d, m, _detected_at(jobs, d, m), now)
        try:
            created = await self.client.create(REMEDY_JOBS, body, field_manager=FIELD_MANAGER)
        except errors.AlreadyExists:
            return False  # an earlier reconcile made it; the cache catches up
        # Visible to the next reconcile even before the watch event arrives: no duplicate step.
        self.jobs.cache.remember(created)
        action = rule.actions[d.step].type
        log.info("remedier %s: node %s: %s -> job %s (%s)", nr["metadata"]["name"], node["metadata"]["name"],
                 m.describe(now), created["metadata"]["name"], action)
        await self.on_event(node, "Warning", c.REMEDIER_REASON_REMEDIATION_STARTED,
                            f"{nr['metadata']['name']}/{rule.name}: {m.describe(now)}; step {d.step + 1}/"
                            f"{len(rule.actions)} {action} (job {created['metadata']['name']})")
        return True

    async def _recovered(self, node: Obj, rule: RuleSpec, jobs: list[Obj], d: p.Decision, conds: list[Obj]) -> None:
        job = next((j for j in jobs if j["metadata"]["name"] == d.job), None)
        if job is None:
            return
        healthy_at = healthy_since(rule, conds) or time.time()
        detected_raw = (job["metadata"].get("annotations") or {}).get(ANNOTATION_DETECTED_AT)
        took = None
        try:
            took = healthy_at - float(detected_raw) if detected_raw else None
        except ValueError:
            took = None
        msg = f"node {node['metadata']['name']} healthy again" + (f" {took:.1f}s after detection" if took else "")
        try:
            updated = await self.client.patch(REMEDY_JOBS, d.job, recovered_patch(job, msg), subresource="status",
                                              field_manager=FIELD_MANAGER)
        except (errors.Conflict, errors.NotFound):
            return
        self.jobs.cache.remember(updated)
        if took is not None:
            self.on_recovered(took)
        await self.on_event(node, "Normal", c.JOB_REASON_NODE_HEALTHY, f"{rule.name}: {msg} (job {d.job})")

    async def _give_up(self, nr: Obj, node: Obj, rule: RuleSpec, jobs: list[Obj]) -> None:
        last_attempt = max((int((j.get("spec") or {}).get("attempt", 1)) for j in jobs), default=0)
        key = (nr["metadata"]["name"], node["metadata"]["name"], rule.name, last_attempt)
        if key in self._gave_up:
            return
        self._gave_up.add(key)
        self.on_gave_up()
        await self.on_event(node, "Warning", c.REMEDIER_REASON_MAX_ATTEMPTS,
                            f"{nr['metadata']['name']}/{rule.name}: gave up after {rule.max_attempts} ladder "
                            "climb(s) without recovery; a human must look")

    async def _write_status(self, scope: RemedierScope) -> None:
        nr = scope.nr
        active = sum(1 for j in self.jobs.cache.by_index(INDEX_REMEDIER, scope.name) if is_active(j))
        status = remedier_status(nr, matched=len(scope.view.matched), unhealthy=len(scope.view.unhealthy),
                                 active=active, created=scope.created, paused=scope.paused)
        if not status_changed(nr.get("status") or {}, status):
            return
        try:
            await self.client.patch(NODE_REMEDIERS, scope.name, {"status": status}, subresource="status",
                                    field_manager=FIELD_MANAGER)
        except errors.NotFound:
            pass


#: One reconcile, in order (the status write follows).
PHASES: Sequence[Phase] = (RemedierReconciler._select, RemedierReconciler._plan, RemedierReconciler._act)
