"""The Defender service: `kubenode.api.defender.Reviewer` over DefenderPolicies and Nodes.

It keeps policies and nodes in informers (no API call on the review path),
decides with the pure engine, and remembers admitted operations in memory.
Every review (and every finished operation) is also appended to the durable
ledger, ConfigMap chunks in kubenode-system (`store.py`), which
`kubenode defender replay` decides again under a candidate policy.
What must survive an operator restart or a leader change — admissions still
inside a budget window or in progress, open circuits, recent decisions — is
written into each DefenderPolicy's status; `start()` rebuilds from there, so
a restart never refills a budget or closes a circuit early.

`review()` awaits nothing between reading the ledger and recording the
admission, so two concurrent reviews can never both take the last token.
Status writes and Events happen in a background loop, coalesced (a burst of
decisions is one status write per policy), so a review costs no API round
trip. The service is a leader-elected runnable of the Manager: only the
leader's ledger is authoritative, and only the leader writes status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from kubenode.api import constants as c
from kubenode.api.defender import Operation, Verdict
from kubenode.apimachinery.tasks import cancel_and_wait
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.informer import Informer

from .engine import Decision, FleetState, Ledger, apply, decide, node_health
from .metrics import DefenderMetrics, PolicySample
from .policy import Policy, parse_policy
from .records import FleetSummary, finished_record, policy_keys, review_record, summarize_fleet
from .resources import DEFENDER_POLICIES
from .status import MAX_RECENT_DECISIONS, format_time, parse_time, render_status, restore_ledger
from .store import LedgerSettings, LedgerWriter

__all__ = ["Defender"]

log = logging.getLogger("kubenode.defender")
Obj = dict[str, Any]
FIELD_MANAGER = "kubenode-defender"
#: Where the one-time "no DefenderPolicy" warning is attached (the operators' namespace).
_NO_POLICY_OBJECT: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubenode-system"}}
_MAX_PENDING_EVENTS = 1000


class Defender:
    """Reviews fleet operations against every DefenderPolicy (implements `Reviewer`)."""

    def __init__(self, client: KubeClient, policies: Informer, nodes: Informer,
                 registry: CollectorRegistry | None = None, recorder: EventRecorder | None = None, *,
                 clock: Callable[[], float] = time.time, flush_interval: float = 0.5,
                 resync_interval: float = 10.0, ledger_settings: LedgerSettings | None = None) -> None:
        """`policies` and `nodes` are informers the Manager starts; `clock` is wall time (freeze windows).

        Every review and every finished operation is also a record of the durable ledger (`store.py`),
        written by the same background loop."""
        self.client = client
        self.policies = policies
        self.nodes = nodes
        self.recorder = recorder
        self.clock = clock
        self.flush_interval = flush_interval
        self.resync_interval = resync_interval
        self.ledger = Ledger()
        self.records = LedgerWriter(client, ledger_settings)
        self._summary: tuple[int, tuple[str, ...], FleetSummary] | None = None
        self._parsed: dict[str, tuple[object, Policy]] = {}
        # Kept current on every Node event (its storm-guard counts too): a review never rebuilds it.
        self._fleet = FleetState()
        self._recent: dict[str, list[Obj]] = {}
        self._last_decision: dict[str, float] = {}
        self._written: dict[str, Obj] = {}
        self._dirty: set[str] = set()
        self._events: deque[tuple[Obj, str, str, str]] = deque(maxlen=_MAX_PENDING_EVENTS)
        self._warned_no_policy = False
        self._loaded = asyncio.Event()
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Last: a registry with auto_describe samples the state at registration.
        self.metrics = DefenderMetrics(registry if registry is not None else CollectorRegistry(), self._sample)
        self._watching = False

    # ------------------------------------------------------------------ Reviewer

    async def review(self, op: Operation) -> Verdict:
        """Decide whether `op` may go ahead now (see `kubenode.api.defender`); waits until `start()` rebuilt."""
        await self._loaded.wait()
        now = self.clock()
        decision = decide(self._policy_list(), op, self.ledger, self._fleet_state(), now)
        changed = apply(self.ledger, op, decision, now)
        self._journal(op, decision, now)
        if not decision.replay:
            self._record(op, decision, changed, now)
        return decision.verdict

    def finished(self, op_id: str) -> None:
        """`op_id` has finished: free its concurrency slot (unknown ids are ignored)."""
        now = self.clock()
        if self.ledger.finish(op_id, now):
            self._dirty.update(self.ledger.admissions[op_id].charges)
            self.records.append(finished_record(op_id, now))
            self._kick.set()

    async def in_progress(self, prefix: str) -> list[str]:
        """Admitted, unfinished operations whose id starts with `prefix` (waits until `start()` rebuilt)."""
        await self._loaded.wait()
        now = self.clock()
        return sorted(op_id for op_id, a in self.ledger.admissions.items()
                      if op_id.startswith(prefix) and a.in_flight(now))

    # ------------------------------------------------------------------ Runnable

    async def start(self) -> None:
        """Rebuild the ledger from the policies' status and start the status/Event loop."""
        if self._task is not None:
            return
        if not self._watching:  # once: the informers replay what they hold, then report every change
            self._watching = True
            self.nodes.on_change(self._on_node)
            self.policies.on_change(self._on_policy)
        objs = self.policies.cache.list()
        self.ledger = restore_ledger(objs)
        for obj in objs:
            name = obj["metadata"]["name"]
            status = obj.get("status") or {}
            self._recent[name] = [dict(d) for d in status.get("recentDecisions") or []][:MAX_RECENT_DECISIONS]
            last = parse_time(status.get("lastDecisionTime"))
            if last is not None:
                self._last_decision[name] = last
            self._dirty.add(name)
        log.info("defender: %d policies, %d admissions and %d open circuits restored", len(objs),
                 len(self.ledger.admissions), len(self.ledger.circuits))
        self._loaded.set()
        self._task = asyncio.create_task(self._loop(), name="defender-status")

    async def stop(self, *, drain: bool = True) -> None:
        """Stop the loop; with `drain` write pending status and Events first (not after losing the Lease)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if drain:
            await self._flush(self.clock())

    # ------------------------------------------------------------------ state

    def policy(self, name: str) -> Policy | None:
        """The parsed policy called `name`, if it exists."""
        entry = self._parsed.get(name)
        return entry[1] if entry else None

    def _policy_list(self) -> list[Policy]:
        return [p for _, p in self._parsed.values()]

    def _fleet_state(self) -> FleetState:
        return self._fleet

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        if new is None:
            if old is not None:
                self._fleet.remove(old["metadata"]["name"])
        else:
            self._fleet.upsert(node_health(new))

    def _on_policy(self, old: Obj | None, new: Obj | None) -> None:
        if new is None:
            if old is not None:
                name = old["metadata"]["name"]
                self._parsed.pop(name, None)
                self.ledger.circuits.pop(name, None)
                self._recent.pop(name, None)
                self._written.pop(name, None)
                self._dirty.discard(name)
            return
        name = new["metadata"]["name"]
        meta = new["metadata"]
        key = meta.get("generation") or meta.get("resourceVersion")
        known = self._parsed.get(name)
        if known is not None and known[0] == key:
            return
        policy = parse_policy(name, new.get("spec"))
        self._parsed[name] = (key, policy)
        self.metrics.init_policy(policy)
        if not policy.valid:
            log.warning("DefenderPolicy %s is invalid and denies %s: %s", name, ", ".join(sorted(policy.covered)),
                        policy.error_message())
            self._events.append((new, "Warning", c.DEFENDER_REASON_POLICY_INVALID,
                                 f"fails closed: {policy.error_message()}"))
        self._dirty.add(name)
        self._kick.set()

    def _sample(self) -> list[PolicySample]:
        now = self.clock()
        out = []
        for name, (_, p) in sorted(self._parsed.items()):
            remaining = tuple((r.name, b.window, max(0, b.limit - self.ledger.used(name, r.name, b.seconds, now)))
                              for r in p.rules for b in r.budgets)
            out.append(PolicySample(name, p.valid, self.ledger.circuit(name).effective(now), remaining))
        return out

    # ------------------------------------------------------------------ recording

    def _journal(self, op: Operation, decision: Decision, now: float) -> None:
        """Queue the durable record of this review (the fleet summary is cached until a node changes)."""
        fleet = self._fleet_state()
        policies = self._policy_list()
        keys = policy_keys(policies)
        if self._summary is None or self._summary[0] != fleet.version or self._summary[1] != keys:
            self._summary = (fleet.version, keys, summarize_fleet(fleet, keys))
        versions = [(name, key) for name, (key, _) in self._parsed.items()]
        self.records.append(review_record(op, decision, now, self._summary[2], fleet, versions))
        self._kick.set()

    def _record(self, op: Operation, decision: Decision, changed: list[tuple[str, Any]], now: float) -> None:
        v = decision.verdict
        if not decision.outcomes:
            self.metrics.observe_unmatched(v.reason)
            if v.reason == c.DEFENDER_REASON_NO_POLICY and not self._warned_no_policy:
                self._warned_no_policy = True
                log.warning("no DefenderPolicy: nothing is throttled")
                self._events.append((_NO_POLICY_OBJECT, "Warning", c.DEFENDER_REASON_NO_POLICY,
                                     "no DefenderPolicy: nothing is throttled"))
                self._kick.set()
            return
        self.metrics.observe(decision.outcomes)
        by_policy: dict[str, list[Any]] = {}
        for o in decision.outcomes:
            by_policy.setdefault(o.policy, []).append(o)
        for name, outs in by_policy.items():
            worst = max(outs, key=lambda o: {c.DECISION_ALLOWED: 0, c.DECISION_PENDING_APPROVAL: 1}.get(
                o.decision, 2))
            message = v.message if worst.decision == c.DECISION_ALLOWED else f"{op.id}: {worst.message}"
            entry = {"time": format_time(now), "operation": op.kind, "id": op.id[:512], "action": op.action,
                     "decision": worst.decision, "rule": worst.rule, "reason": worst.reason,
                     "message": message[:1024]}
            recent = self._recent.setdefault(name, [])
            recent.insert(0, entry)
            del recent[MAX_RECENT_DECISIONS:]
            self._last_decision[name] = now
            self._dirty.add(name)
            obj = self.policies.cache.get("", name)
            if obj is not None:
                type_ = "Normal" if worst.decision == c.DECISION_ALLOWED else "Warning"
                self._events.append((obj, type_, worst.reason, message))
        for name, circuit in changed:
            obj = self.policies.cache.get("", name)
            if obj is not None:
                if circuit.state == c.CIRCUIT_OPEN:
                    until = (circuit.open_until or now) - now
                    self._events.append((obj, "Warning", c.DEFENDER_REASON_CIRCUIT_OPEN,
                                         f"circuit opened for {until:.0f}s by {circuit.reason}: {circuit.message}"))
                else:
                    self._events.append((obj, "Normal", c.DEFENDER_REASON_CIRCUIT_CLOSED, circuit.message))
            self._dirty.add(name)
        self._kick.set()

    # ------------------------------------------------------------------ background loop

    async def _loop(self) -> None:
        last_resync = 0.0
        while True:
            # asyncio.timeout, not wait_for: wait_for can swallow a cancellation that races its timeout.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.resync_interval):
                    await self._kick.wait()
            # Coalesce: a burst of decisions in the next moment lands in the same write.
            await asyncio.sleep(self.flush_interval)
            self._kick.clear()
            now = self.clock()
            if time.monotonic() - last_resync >= self.resync_interval:
                # Windows slide and cooldowns end without any event: refresh every policy's figures.
                last_resync = time.monotonic()
                self._dirty.update(self._parsed)
                self.ledger.prune({n: p.longest_window for n, (_, p) in self._parsed.items()}, now)
            try:
                await self._flush(now)
            except Exception:  # the loop must survive anything; the next round retries
                log.exception("defender: status flush failed")

    async def _flush(self, now: float) -> None:
        try:
            await self.records.flush(now)
        except (errors.ApiError, OSError) as exc:
            log.warning("defender: could not write the ledger (%d records wait): %s", self.records.pending, exc)
        while self._events:
            obj, type_, reason, message = self._events.popleft()
            if self.recorder is not None:
                await self.recorder.event(obj, type_, reason, message)
        dirty, self._dirty = self._dirty, set()
        for name in sorted(dirty):
            entry = self._parsed.get(name)
            current = self.policies.cache.get("", name)
            if entry is None or current is None:
                continue
            status = render_status(entry[1], current["metadata"].get("generation"), current.get("status"),
                                   self.ledger, self._fleet_state(), now, self._recent.get(name, []),
                                   self._last_decision.get(name))
            if status == current.get("status") or status == self._written.get(name):
                continue
            try:
                await self.client.patch_status(DEFENDER_POLICIES, name, {"status": status},
                                               field_manager=FIELD_MANAGER)
                self._written[name] = status
            except errors.NotFound:
                self._written.pop(name, None)
            except (errors.ApiError, OSError) as exc:
                log.warning("defender: could not write the status of %s: %s", name, exc)
                self._dirty.add(name)
