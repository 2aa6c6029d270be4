"""The ComponentRelease controller: a release's MachineComponentSet in each member, stage by stage.

Each reconcile:

1. computes the release revision (hash of component, selector, template and
   update strategy) and finds the active stage (the first that has not
   succeeded for this revision);
2. reads the release's MachineComponentSet in each cluster of that stage
   (through the cluster's kubeconfig Secret; a cluster that does not answer
   is unreachable);
3. asks the pure planner (`release_planner.plan_release`) what comes next;
4. for each cluster to start, asks the management cluster's Defender
   (`Operation(kind="ComponentUpgrade", id="cr/<release>/<revision>/<cluster>")`,
   so budgets and freezes span clusters) and, if admitted, creates or updates
   the member set `<release>` (label `kubenode.io/release`, annotation
   `kubenode.io/release-revision`); a held cluster stays Pending and
   ReleaseAllowed=False says why;
5. writes the status once, only when it changed, with an Event for every
   cluster started, stage finished and failure.

Approvals (`kubenode release approve`) live in the annotation
`kubenode.io/approved-stage: "<revision>/<stage>,..."`: tied to the revision,
so a new release never inherits an old approval.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from kubenode.api import constants as c
from kubenode.api.defender import COMPONENT_UPGRADE, Operation, Reviewer
from kubenode.apimachinery.selectors import label_selector_from_dict
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.runtime.conditions import get_condition, now_rfc3339, set_condition
from kubenode.runtime.controller import Request, Result, TerminalError
from kubenode.runtime.informer import Informer

from .members import UNREACHABLE_ERRORS, MemberClients, MemberUnavailable
from .metrics import ReleaseMetrics
from .release_planner import (
    PENDING,
    ClusterView,
    MemberSet,
    ReleaseInput,
    ReleasePlan,
    StageSpec,
    assign_stages,
    plan_release,
)
from .resources import COMPONENT_RELEASES, MACHINE_COMPONENT_SETS

log = logging.getLogger("kubenode.release")
Obj = dict[str, Any]
EventFn = Callable[[Obj, str, str, str], Awaitable[None]]

FIELD_MANAGER = "kubenode-release-controller"
#: While clusters roll, re-read them this often (members are not watched: they may be hundreds).
DEFAULT_POLL_SECONDS = 3.0
DEFAULT_HOLD_RETRY = 10.0
#: Re-check now and then even when nothing changes (approvals, lost events).
RESYNC_SECONDS = 60.0


def release_revision(spec: Obj) -> str:
    """The revision of a release: what reaches the members (component, selector, template, strategy)."""
    body = {k: spec.get(k) for k in ("component", "selector", "template", "updateStrategy")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:10]


def approved_stages(cr: Obj, revision: str) -> frozenset[str]:
    """The stages `kubenode release approve` approved for `revision`."""
    raw = (cr["metadata"].get("annotations") or {}).get(c.ANNOTATION_APPROVED_STAGE) or ""
    out = set()
    for item in raw.split(","):
        rev, _, stage = item.strip().partition("/")
        if rev == revision and stage:
            out.add(stage)
    return frozenset(out)


def stage_specs(spec: Obj) -> list[StageSpec]:
    """The planner's stages; a bad selector is a TerminalError (the schema catches most)."""
    out = []
    for s in spec.get("stages") or []:
        try:
            sel = label_selector_from_dict(s.get("clusterSelector") or {})
        except ValueError as exc:
            raise TerminalError(f"stage {s.get('name')}: invalid clusterSelector: {exc}") from None
        out.append(StageSpec(name=str(s["name"]), matches=sel.matches,
                             batches=tuple(s.get("clusterBatches") or ["100%"]),
                             soak_seconds=float(s.get("soakSeconds") or 0),
                             require_approval=bool(s.get("requireApproval")),
                             max_failed=int(s.get("maxFailedClusters") or 0)))
    return out


def member_set(mcs: Obj) -> MemberSet:
    """The planner's view of a member MachineComponentSet."""
    meta, st = mcs["metadata"], mcs.get("status") or {}
    conds = st.get("conditions")
    degraded = (get_condition(conds, c.COMPONENT_SET_CONDITION_DEGRADED) or {}).get("status") == c.CONDITION_TRUE
    allowed = get_condition(conds, c.COMPONENT_SET_CONDITION_ROLLOUT_ALLOWED) or {}
    denied = allowed.get("status") == c.CONDITION_FALSE and allowed.get("reason") == \
        c.COMPONENT_SET_REASON_DEFENDER_DENIED
    msg = str(st.get("message") or "")
    if denied:
        msg = f"the cluster's Defender denied the rollout: {allowed.get('message', '')}"
    return MemberSet(revision=str((meta.get("annotations") or {}).get(c.ANNOTATION_RELEASE_REVISION) or ""),
                     version=str(((mcs.get("spec") or {}).get("template") or {}).get("version") or ""),
                     observed=int(st.get("observedGeneration") or 0) >= int(meta.get("generation") or 1),
                     phase=str(st.get("phase") or ""), desired=int(st.get("desired") or 0),
                     ready=int(st.get("ready") or 0), degraded=degraded, denied=denied, message=msg)


def member_body(cr: Obj, revision: str, existing: Obj | None) -> Obj:
    """The member MachineComponentSet of the release (a full object for create or replace)."""
    name, spec = cr["metadata"]["name"], cr.get("spec") or {}
    body: Obj = {
        "apiVersion": c.API_VERSION, "kind": c.KIND_MACHINE_COMPONENT_SET,
        "metadata": {"name": name, "labels": {c.LABEL_RELEASE: name},
                     "annotations": {c.ANNOTATION_RELEASE_REVISION: revision}},
        "spec": {"component": spec.get("component"), "selector": spec.get("selector") or {},
                 "template": spec.get("template"), "updateStrategy": spec.get("updateStrategy") or {},
                 "paused": False},
    }
    if existing is not None:
        meta = existing["metadata"]
        body["metadata"]["labels"] = {**(meta.get("labels") or {}), c.LABEL_RELEASE: name}
        body["metadata"]["annotations"] = {**(meta.get("annotations") or {}),
                                           c.ANNOTATION_RELEASE_REVISION: revision}
        body["metadata"]["resourceVersion"] = meta["resourceVersion"]
        old_spec = existing.get("spec") or {}
        for keep in ("revisionHistoryLimit",):
            if keep in old_spec:
                body["spec"][keep] = old_spec[keep]
    return body


@dataclass
class ReleaseSettings:
    """Timing knobs of the release controller."""

    poll_seconds: float = DEFAULT_POLL_SECONDS


class ReleaseReconciler:
    """Reconciles one ComponentRelease per call."""

    def __init__(self, client: KubeClient, releases: Informer, clusters: Informer, members: MemberClients,
                 reviewer: Reviewer, *, on_event: EventFn | None = None, metrics: ReleaseMetrics | None = None,
                 settings: ReleaseSettings | None = None, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.releases = releases
        self.clusters = clusters
        self.members = members
        self.reviewer = reviewer
        self.on_event = on_event
        self.metrics = metrics
        self.settings = settings or ReleaseSettings()
        self.clock = clock
        self._admitted: dict[str, set[str]] = {}  # release name → Defender op ids in flight

    async def _event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        if self.on_event is not None:
            await self.on_event(obj, type_, reason, message)

    async def _read_member(self, cluster: Obj, name: str) -> tuple[bool, str, Obj | None]:
        """(reachable, why not, the member set or None)."""
        try:
            member = await self.members.get(cluster)
            return True, "", await member.get(MACHINE_COMPONENT_SETS, name)
        except errors.NotFound:
            return True, "", None
        except MemberUnavailable as exc:
            return False, str(exc), None
        except UNREACHABLE_ERRORS as exc:
            return False, f"the member API did not answer: {exc or type(exc).__name__}", None

    async def _apply(self, cluster: Obj, cr: Obj, revision: str) -> str:
        """Create or update the member set; returns the version the member had before ("" if none)."""
        member = await self.members.get(cluster)
        name = cr["metadata"]["name"]
        try:
            existing: Obj | None = await member.get(MACHINE_COMPONENT_SETS, name)
        except errors.NotFound:
            existing = None
        if existing is None:
            await member.create(MACHINE_COMPONENT_SETS, member_body(cr, revision, None), field_manager=FIELD_MANAGER)
            return ""
        before = str(((existing.get("spec") or {}).get("template") or {}).get("version") or "")
        await member.replace(MACHINE_COMPONENT_SETS, member_body(cr, revision, existing), field_manager=FIELD_MANAGER)
        return before

    async def __call__(self, req: Request) -> Result | None:
        cr = self.releases.cache.get("", req.name)
        if cr is None or cr["metadata"].get("deletionTimestamp"):
            for op_id in self._admitted.pop(req.name, set()):
                self.reviewer.finished(op_id)
            return None
        spec, previous = cr.get("spec") or {}, cr.get("status") or {}
        revision = release_revision(spec)
        stages = stage_specs(spec)
        cluster_objs = {o["metadata"]["name"]: o for o in self.clusters.cache.list()
                        if not o["metadata"].get("deletionTimestamp")}
        views = {n: ClusterView(n, o["metadata"].get("labels") or {}, reachable=(o.get("status") or {}).get(
            "reachable") is not False) for n, o in cluster_objs.items()}

        # Read the members of the active stage (the first that has not succeeded for this revision).
        prev_same = previous if previous.get("revision") == revision else {}
        done = {s.get("name") for s in prev_same.get("stages") or [] if s.get("phase") == c.STEP_PHASE_SUCCEEDED}
        by_stage = assign_stages(stages, list(views.values()))
        active = next((s.name for s in stages if s.name not in done), None)
        members: dict[str, MemberSet] = {}
        raw_members: dict[str, Obj] = {}
        if active is not None:
            names = [v.name for v in by_stage[active]]
            reads = await asyncio.gather(*(self._read_member(cluster_objs[n], req.name) for n in names))
            for n, (ok, why, mcs) in zip(names, reads, strict=True):
                if not ok:
                    views[n] = ClusterView(n, views[n].labels, reachable=False, message=why)
                    continue
                views[n] = ClusterView(n, views[n].labels, reachable=True)
                if mcs is not None:
                    raw_members[n] = mcs
                    members[n] = member_set(mcs)

        now = self.clock()
        plan = plan_release(ReleaseInput(
            revision=revision, stages=stages, clusters=list(views.values()), members=members, previous=previous,
            approved_stages=approved_stages(cr, revision), paused=bool(spec.get("paused")), now=now))

        allowed_cond = (c.CONDITION_TRUE, c.RELEASE_REASON_DEFENDER_ALLOWED, "the Defender allows the release")
        requeue = plan.requeue_after
        started: list[str] = []
        for cluster in plan.apply:
            op = Operation(kind=COMPONENT_UPGRADE, id=f"cr/{req.name}/{revision}/{cluster}", count=1,
                           approved=plan.current_stage in approved_stages(cr, revision),
                           source=f"ComponentRelease/{req.name}")
            verdict = await self.reviewer.review(op)
            step = _step(plan, cluster)
            if not verdict.allowed:
                step.update({"phase": PENDING, "message": f"held by the Defender: {verdict.reason}: {verdict.message}"})
                step.pop("startedAt", None)
                allowed_cond = (c.CONDITION_FALSE, c.RELEASE_REASON_DEFENDER_DENIED,
                                f"{verdict.policy}/{verdict.rule}: {verdict.reason}: {verdict.message}")
                hold = verdict.retry_after_seconds or DEFAULT_HOLD_RETRY
                requeue = hold if requeue is None else min(requeue, hold)
                if self.metrics is not None:
                    self.metrics.held.labels(req.name).inc()
                continue
            self._admitted.setdefault(req.name, set()).add(op.id)
            try:
                before = await self._apply(cluster_objs[cluster], cr, revision)
            except (MemberUnavailable, errors.ApiError, OSError, TimeoutError, aiohttp.ClientError) as exc:
                self.reviewer.finished(op.id)
                self._admitted[req.name].discard(op.id)
                step.update({"phase": PENDING, "message": f"could not update the cluster: {exc}"})
                step.pop("startedAt", None)
                requeue = self.settings.poll_seconds
                continue
            if before and before != str((spec.get("template") or {}).get("version")):
                step["previousVersion"] = before
            started.append(cluster)
        for cluster in plan.settled:
            op_id = f"cr/{req.name}/{revision}/{cluster}"
            if op_id in self._admitted.get(req.name, set()):
                self.reviewer.finished(op_id)
                self._admitted[req.name].discard(op_id)

        status = self._status(cr, plan, revision, allowed_cond, previous)
        if _comparable(status) != _comparable(previous):
            try:
                await self.client.patch_status(COMPONENT_RELEASES, req.name, {"status": status},
                                               field_manager=FIELD_MANAGER)
            except errors.NotFound:
                return None
            await self._events(cr, previous, status, started)
        if self.metrics is not None:
            self.metrics.observe(req.name, status)
        if plan.phase == c.RELEASE_PHASE_PROGRESSING:
            poll = self.settings.poll_seconds
            requeue = poll if requeue is None else min(requeue, poll)
        return Result(requeue_after=max(0.05, requeue if requeue is not None else RESYNC_SECONDS))

    def _status(self, cr: Obj, plan: ReleasePlan, revision: str, allowed: tuple[str, str, str],
                previous: Obj) -> Obj:
        generation = int(cr["metadata"].get("generation") or 1)
        now = now_rfc3339()
        conds = [dict(x) for x in previous.get("conditions") or []]
        set_condition(conds, c.RELEASE_CONDITION_PROGRESSING, *plan.progressing, observed_generation=generation,
                      now=now)
        set_condition(conds, c.RELEASE_CONDITION_DEGRADED, *plan.degraded, observed_generation=generation, now=now)
        set_condition(conds, c.RELEASE_CONDITION_RELEASE_ALLOWED, *allowed, observed_generation=generation, now=now)
        message = plan.message
        if allowed[0] == c.CONDITION_FALSE:
            message = f"{message}; held by the Defender: {allowed[2]}"
        return {"observedGeneration": generation, "phase": plan.phase, "revision": revision,
                "version": str(((cr.get("spec") or {}).get("template") or {}).get("version") or ""),
                "currentStage": plan.current_stage, "stages": plan.stages, "message": message, "conditions": conds}

    async def _events(self, cr: Obj, previous: Obj, status: Obj, started: list[str]) -> None:
        for cluster in started:
            await self._event(cr, "Normal", c.RELEASE_REASON_CLUSTER_STARTED,
                              f"released {status['version']} to cluster {cluster} (stage {status['currentStage']})")
        before = {s.get("name"): s.get("phase") for s in previous.get("stages") or []} \
            if previous.get("revision") == status["revision"] else {}
        for s in status["stages"]:
            if before.get(s["name"]) == s["phase"]:
                continue
            if s["phase"] == c.STEP_PHASE_SUCCEEDED:
                await self._event(cr, "Normal", c.RELEASE_REASON_STAGE_SUCCEEDED, f"stage {s['name']} succeeded")
            elif s["phase"] == c.STEP_PHASE_FAILED:
                await self._event(cr, "Warning", c.RELEASE_REASON_CLUSTERS_FAILED, status["message"])
            elif s["phase"] == c.STEP_PHASE_PAUSED:
                await self._event(cr, "Normal", c.RELEASE_REASON_STAGE_PAUSED, status["message"])
        if status["phase"] == c.RELEASE_PHASE_COMPLETED and previous.get("phase") != c.RELEASE_PHASE_COMPLETED:
            await self._event(cr, "Normal", c.RELEASE_REASON_RELEASE_COMPLETE, status["message"])


def _step(plan: ReleasePlan, cluster: str) -> Obj:
    for s in plan.stages:
        for step in s.get("clusters") or []:
            if step["name"] == cluster:
                return step
    raise KeyError(cluster)


def _comparable(status: Obj) -> Obj:
    """A status without the timestamps of conditions (which only move with their status)."""
    out = dict(status)
    out["conditions"] = sorted(((x.get("type"), x.get("status"), x.get("reason"), x.get("message"))
                                for x in status.get("conditions") or []), key=lambda t: str(t[0]))
    return out
