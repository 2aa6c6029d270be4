"""The Defender's verdicts as a pure function of policies, ledger, fleet state and time.

`decide(policies, op, ledger, fleet, now)` is the whole decision and touches
nothing; `apply(ledger, op, decision, now)` is the only mutation (record the
admission, open or close circuits). The service wraps the two with I/O; the
unit tests drive them with a fake clock.

Semantics (docs/defender.md says the same for users):

* An operation is allowed only if every matching rule of every policy allows
  it. The most restrictive answer wins: Denied over PendingApproval over
  Allowed; among denials the first policy (by name) and rule (in order) is
  reported, and every denial is listed in the verdict's details.
* Re-reviewing an admitted operation id answers Allowed and charges nothing
  (callers re-ask after a restart).
* Per rule, in this order of reporting: freeze window (FreezeWindow), storm
  guard (StormDetected), budgets (BudgetExhausted), maxConcurrent
  (MaxConcurrentReached), approval (PendingApproval / ApprovalRequired).
* Budgets are sliding windows over the ledger of admitted operations; an
  operation costs `op.count` tokens in every budget of every rule it matched.
  Concurrency counts the tokens of admitted operations not yet finished.
* A storm is more than `maxUnhealthy` unhealthy nodes among the counted ones
  (percentages round up), per topology domain when `topologyKey` is set: the
  domains of the operation's nodes, or every domain when it names none.
* The storm guard sees a developing storm: an operation on a node that
  turned unhealthy less than the rule's `settleSeconds` ago is held
  (StormSettling, Denied with the time left as retry_after; callers keep it
  pending and ask again), so the nodes that fail in the same moment are all
  unhealthy by the time it is decided. `settleSeconds: 0` disables the hold.
* A storm or an exhausted budget opens the policy's circuit: for
  `cooldownSeconds` every operation the policy covers is denied
  (CircuitOpen). Then it is HalfOpen: the next operation is evaluated
  normally; if admitted the circuit closes, if it hits a budget or a storm
  again the circuit re-opens. `cooldownSeconds: 0` disables the breaker.
* An invalid policy denies every operation it covers (PolicyInvalid).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from kubenode.api import constants as c
from kubenode.api.defender import ALLOWED, DENIED, PENDING_APPROVAL, Operation, Verdict
from kubenode.apimachinery.selectors import LabelSelector
from kubenode.apimachinery.timefmt import parse_time

from .policy import Policy, Rule

__all__ = [
    "STALE_IN_FLIGHT_SECONDS", "Admission", "Circuit", "Decision", "FleetState", "Ledger", "NodeHealth",
    "RuleOutcome", "apply", "decide", "evaluate", "node_health", "project_labels", "storm_check",
]

#: An admitted operation nobody reported finished after this long stops holding a concurrency slot
#: (a caller that crashed must not block the fleet forever).
STALE_IN_FLIGHT_SECONDS = 6 * 3600
#: Finished admissions are kept at least this long so that re-reviews stay idempotent.
MIN_RETENTION_SECONDS = 3600

_RANK = {ALLOWED: 0, PENDING_APPROVAL: 1, DENIED: 2}
_K = TypeVar("_K")


# --------------------------------------------------------------------------- fleet state


@dataclass(frozen=True, slots=True)
class NodeHealth:
    """What the storm guard needs to know about one Node (slots: one per Node of the fleet)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    unhealthy: bool = False
    problem: str = ""  # why it is unhealthy, for messages
    #: When it turned unhealthy: the newest transition of its problem conditions, rounded up to the next
    #: second (metav1.Time has whole seconds, so the true time lies in [t, t+1)). None: unknown.
    unhealthy_since: float | None = None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def node_health(node: Mapping[str, object]) -> NodeHealth:
    """Unhealthy = Ready is not True (False, Unknown or missing) or any other condition is True.

    Every condition but Ready is a problem condition when True (MemoryPressure, KernelDeadlock,
    ReadonlyFilesystem, ...), as node-problem-detector and the kubelet use them.

    The labels are the node's own mapping, not a copy (at 50,000 Nodes a copy each is tens of MiB): pass
    an object nobody mutates afterwards, as an informer's cached objects are (read-only by contract).
    """
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    assert isinstance(meta, Mapping) and isinstance(status, Mapping)
    conditions = [x for x in status.get("conditions") or [] if isinstance(x, Mapping)]
    ready = next((x for x in conditions if x.get("type") == "Ready"), None)
    problem = ""
    culprits: list[Mapping[str, object]] = []
    if ready is None:
        problem = "Ready condition missing"
    elif ready.get("status") != c.CONDITION_TRUE:
        problem = f"Ready={ready.get('status')}"
        culprits = [ready]
    else:
        culprits = [x for x in conditions if x.get("type") != "Ready" and x.get("status") == "True"]
        if culprits:
            problem = ", ".join(f"{t}=True" for t in sorted(str(x.get("type")) for x in culprits))
    times = [t for t in (parse_time(_str(x.get("lastTransitionTime"))) for x in culprits) if t is not None]
    labels = meta.get("labels") or {}
    return NodeHealth(str(meta.get("name", "")), labels if isinstance(labels, Mapping) else {},
                      bool(problem), problem, max(times) + 1 if times else None)


#: Per domain of a (selector, topologyKey): [counted nodes, unhealthy nodes among them].
DomainCounts = dict[str, list[int]]
#: Per projection of the labels on some keys: [nodes, unhealthy nodes] (the ledger's fleet summary).
GroupCounts = dict[tuple[tuple[str, str], ...], list[int]]
#: Tracked (selector, topologyKey) pairs and key tuples beyond this are forgotten (rebuilt when asked again):
#: a policy edited many times must not leave counters that every Node change keeps paying for.
MAX_TRACKED = 64


def project_labels(labels: Mapping[str, str], keys: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The (key, value) pairs of `labels` for the `keys` it has, in the order of `keys`."""
    return tuple((k, labels[k]) for k in keys if k in labels)


class FleetState:
    """The nodes as the Defender last saw them, with the counts the storm guard needs kept up to date.

    Built from a snapshot of nodes (replay) or kept current with :meth:`upsert` and :meth:`remove` (the
    Defender, on every Node event). The counts a storm guard reads — per (selector, topologyKey), per
    domain: counted nodes and unhealthy ones — are built from scratch the first time a rule asks for them
    (O(fleet), once per rule) and then adjusted by every upsert and remove (O(tracked rules) per change),
    so a review costs O(its nodes + domains) instead of O(fleet). The same holds for the label groups of
    the ledger's fleet summary (:meth:`group_counts`). `version` grows with every change.
    """

    def __init__(self, nodes: Iterable[NodeHealth] = ()) -> None:
        self._by_name: dict[str, NodeHealth] = {}
        self._domains: dict[tuple[LabelSelector | None, str], DomainCounts] = {}
        self._groups: dict[tuple[str, ...], GroupCounts] = {}
        self.unhealthy = 0
        self.version = 0
        for n in nodes:
            self.upsert(n)

    @property
    def nodes(self) -> tuple[NodeHealth, ...]:
        """Every node (a new tuple: O(fleet), for reports and tests, never on a review's path)."""
        return tuple(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> NodeHealth | None:
        """The node called `name`, if known."""
        return self._by_name.get(name)

    def upsert(self, node: NodeHealth) -> None:
        """Add `node` or replace the node of the same name, adjusting every tracked count."""
        old = self._by_name.get(node.name)
        if old == node:
            # Nothing counted changed; keep the new one all the same: its labels are the cached Node's
            # current mapping, and holding the previous one would keep the replaced object's labels alive.
            self._by_name[node.name] = node
            return
        if old is not None:
            self._count(old, -1)
        self._by_name[node.name] = node
        self._count(node, 1)
        self.version += 1

    def remove(self, name: str) -> None:
        """Forget the node called `name` (unknown names are ignored)."""
        old = self._by_name.pop(name, None)
        if old is not None:
            self._count(old, -1)
            self.version += 1

    def domain_counts(self, selector: LabelSelector | None, topology_key: str) -> DomainCounts:
        """Per domain (`""` without a topology key): [nodes `selector` counts, unhealthy ones]. Read-only."""
        key = (selector, topology_key)
        counts = self._domains.get(key)
        if counts is None:
            if len(self._domains) >= MAX_TRACKED:
                self._domains.clear()
            counts = self._domains[key] = {}
            for n in self._by_name.values():
                _add_domain(counts, selector, topology_key, n, 1)
        return counts

    def group_counts(self, keys: tuple[str, ...]) -> GroupCounts:
        """Per projection of the nodes' labels on `keys`: [nodes, unhealthy ones]. Read-only."""
        counts = self._groups.get(keys)
        if counts is None:
            if len(self._groups) >= MAX_TRACKED:
                self._groups.clear()
            counts = self._groups[keys] = {}
            for n in self._by_name.values():
                _add_group(counts, keys, n, 1)
        return counts

    def _count(self, n: NodeHealth, sign: int) -> None:
        if n.unhealthy:
            self.unhealthy += sign
        for (selector, topology_key), counts in self._domains.items():
            _add_domain(counts, selector, topology_key, n, sign)
        for keys, groups in self._groups.items():
            _add_group(groups, keys, n, sign)


def _add_domain(counts: DomainCounts, selector: LabelSelector | None, topology_key: str, n: NodeHealth,
                sign: int) -> None:
    if selector is not None and not selector.matches(n.labels):
        return
    _bump(counts, n.labels.get(topology_key, "") if topology_key else "", n.unhealthy, sign)


def _add_group(counts: GroupCounts, keys: tuple[str, ...], n: NodeHealth, sign: int) -> None:
    _bump(counts, project_labels(n.labels, keys), n.unhealthy, sign)


def _bump(counts: dict[_K, list[int]], key: _K, unhealthy: bool, sign: int) -> None:
    entry = counts.get(key)
    if entry is None:
        entry = counts[key] = [0, 0]
    entry[0] += sign
    entry[1] += sign if unhealthy else 0
    if entry[0] <= 0:  # an empty domain is no domain (as when counting from scratch)
        del counts[key]


# --------------------------------------------------------------------------- ledger


@dataclass
class Admission:
    """One admitted operation and the (policy -> rules) it was charged to."""

    op_id: str
    kind: str
    time: float
    count: int
    charges: dict[str, tuple[str, ...]]
    action: str = ""
    finished_at: float | None = None

    def in_flight(self, now: float) -> bool:
        """Admitted, not finished, not stale."""
        return self.finished_at is None and now - self.time < STALE_IN_FLIGHT_SECONDS


@dataclass
class Circuit:
    """A policy's circuit breaker as stored; `effective(now)` turns an expired Open into HalfOpen."""

    state: str = c.CIRCUIT_CLOSED
    reason: str = ""
    message: str = ""
    since: float | None = None
    open_until: float | None = None

    def effective(self, now: float) -> str:
        """Closed, Open, or HalfOpen once an open circuit's cooldown has passed."""
        if self.state == c.CIRCUIT_OPEN and (self.open_until is None or now >= self.open_until):
            return c.CIRCUIT_HALF_OPEN
        return self.state


@dataclass
class Ledger:
    """Admitted operations (by id) and circuits (by policy): the Defender's whole memory."""

    admissions: dict[str, Admission] = field(default_factory=dict)
    circuits: dict[str, Circuit] = field(default_factory=dict)

    def charged(self, policy: str, rule: str) -> list[Admission]:
        """Admissions charged to `policy`/`rule`, oldest first."""
        out = [a for a in self.admissions.values() if rule in a.charges.get(policy, ())]
        out.sort(key=lambda a: a.time)
        return out

    def used(self, policy: str, rule: str, seconds: int, now: float) -> int:
        """Tokens spent under `policy`/`rule` in the window of `seconds` ending at `now`."""
        return sum(a.count for a in self.charged(policy, rule) if now - a.time < seconds)

    def in_flight(self, policy: str, rule: str, now: float) -> int:
        """Tokens of admitted, unfinished operations under `policy`/`rule`."""
        return sum(a.count for a in self.charged(policy, rule) if a.in_flight(now))

    def circuit(self, policy: str) -> Circuit:
        """The circuit of `policy` (Closed when never tripped)."""
        return self.circuits.get(policy) or Circuit()

    def finish(self, op_id: str, now: float) -> bool:
        """Mark `op_id` finished; False when unknown or already finished."""
        a = self.admissions.get(op_id)
        if a is None or a.finished_at is not None:
            return False
        a.finished_at = now
        return True

    def prune(self, retention: Mapping[str, int], now: float) -> int:
        """Forget finished (or stale) admissions older than every window they count in; returns how many."""
        drop = []
        for op_id, a in self.admissions.items():
            if a.in_flight(now):
                continue
            keep = max([MIN_RETENTION_SECONDS, *(retention.get(p, 0) for p in a.charges)])
            if now - a.time >= keep:
                drop.append(op_id)
        for op_id in drop:
            del self.admissions[op_id]
        return len(drop)


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class RuleOutcome:
    """What one rule (or a policy's circuit / validity, with rule "") said about an operation."""

    policy: str
    rule: str
    decision: str
    reason: str
    message: str = ""
    retry_after: float | None = None
    trips: bool = False  # a budget ran out or a storm was seen: open the circuit


@dataclass(frozen=True)
class Decision:
    """A verdict plus what `apply` must record."""

    verdict: Verdict
    outcomes: tuple[RuleOutcome, ...] = ()
    charges: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # empty unless admitted
    trips: Mapping[str, RuleOutcome] = field(default_factory=dict)  # policy -> the outcome that tripped it
    cooldowns: Mapping[str, int] = field(default_factory=dict)
    closes: tuple[str, ...] = ()  # half-open policies whose probe was admitted
    replay: bool = False  # an already admitted id: nothing to record

    @property
    def admitted(self) -> bool:
        """Whether the operation is recorded as admitted (a replay was recorded before)."""
        return self.verdict.allowed and not self.replay


def _fmt_seconds(s: float) -> str:
    s = max(0, round(s))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def storm_check(rule: Rule, op: Operation, fleet: FleetState) -> tuple[bool, str, int]:
    """(storm?, message, unhealthy count of the worst relevant domain) for a maxUnhealthy rule."""
    assert rule.max_unhealthy is not None
    # Counts kept current by the fleet (O(1) per Node change), not a scan of every node per review.
    domains = fleet.domain_counts(rule.selector, rule.topology_key)
    relevant: Iterable[str] = domains
    if rule.topology_key and op.nodes:
        mine = {n.labels.get(rule.topology_key, "") for n in (fleet.get(x) for x in op.nodes) if n is not None}
        relevant = [d for d in mine if d in domains] or domains
    worst = (0, "", 0, 0)  # (unhealthy, domain, total, allowed)
    storm: tuple[int, str, int, int] | None = None
    for d in sorted(relevant):
        total, bad = domains[d]
        allowed = rule.max_unhealthy.allowed(total)
        if bad > worst[0]:
            worst = (bad, d, total, allowed)
        if bad > allowed and storm is None:
            storm = (bad, d, total, allowed)
    if storm is None:
        return False, "", worst[0]
    bad, d, total, allowed = storm
    where = f" in {rule.topology_key}={d or '<none>'}" if rule.topology_key else ""
    return True, (f"{bad} of {total} counted nodes{where} are unhealthy, more than maxUnhealthy "
                  f"{rule.max_unhealthy} ({allowed})"), worst[0]


def _settle_left(rule: Rule, op: Operation, fleet: FleetState, now: float) -> tuple[float, str] | None:
    """(seconds left, node) while a node of `op` is within `rule.settle_seconds` of turning unhealthy."""
    if rule.settle_seconds <= 0:
        return None
    worst: tuple[float, str] | None = None
    for name in op.nodes:
        n = fleet.get(name)
        if n is None or not n.unhealthy or n.unhealthy_since is None:
            continue
        left = n.unhealthy_since + rule.settle_seconds - now
        if left > 0 and (worst is None or left > worst[0]):
            worst = (left, name)
    return worst


def _budget_failure(policy: str, rule: Rule, op: Operation, ledger: Ledger,
                    now: float) -> tuple[str, float | None] | None:
    count = max(0, op.count)
    entries = ledger.charged(policy, rule.name)
    for b in rule.budgets:
        window = [a for a in entries if now - a.time < b.seconds]
        used = sum(a.count for a in window)
        if used + count <= b.limit:
            continue
        if count > b.limit:
            return (f"budget {b.window}: the operation costs {count} tokens, more than the limit {b.limit}", None)
        need = used + count - b.limit
        freed = 0
        retry: float | None = None
        for a in window:  # oldest first: they leave the window first
            freed += a.count
            if freed >= need:
                retry = a.time + b.seconds - now
                break
        tail = f"; next token in {_fmt_seconds(retry)}" if retry is not None else ""
        return f"budget {b.window}: {used}/{b.limit} used, {count} more needed{tail}", retry
    return None


def _evaluate_rule(policy: Policy, rule: Rule, op: Operation, ledger: Ledger, fleet: FleetState,
                   now: float) -> RuleOutcome:
    name = policy.name
    failures: list[tuple[str, str, str, float | None]] = []  # (decision, reason, message, retry)
    trips = False
    for w in rule.freeze_windows:
        active = w.active(now)
        if active is not None:
            failures.append((DENIED, c.DEFENDER_REASON_FREEZE_WINDOW,
                             f"freeze window '{w.schedule}' ({w.zone_name}) until {_fmt_seconds(active[1] - now)} "
                             "from now", active[1] - now))
            break
    if rule.max_unhealthy is not None:
        settling = _settle_left(rule, op, fleet, now)
        storm, msg, bad = storm_check(rule, op, fleet)
        if storm:
            failures.append((DENIED, c.DEFENDER_REASON_STORM_DETECTED, msg, None))
            trips = True
        elif settling is not None:
            failures.append((DENIED, c.DEFENDER_REASON_STORM_SETTLING,
                             f"{settling[1]} turned unhealthy {rule.settle_seconds - settling[0]:.0f}s ago: "
                             f"held for the storm guard's settle window ({rule.settle_seconds:g}s) to see "
                             f"whether more nodes fail ({bad} unhealthy so far, maxUnhealthy "
                             f"{rule.max_unhealthy})", settling[0]))
    budget = _budget_failure(name, rule, op, ledger, now)
    if budget is not None:
        failures.append((DENIED, c.DEFENDER_REASON_BUDGET_EXHAUSTED, budget[0], budget[1]))
        trips = True
    if rule.max_concurrent is not None:
        busy = ledger.in_flight(name, rule.name, now)
        if busy + max(0, op.count) > rule.max_concurrent:
            failures.append((DENIED, c.DEFENDER_REASON_MAX_CONCURRENT,
                             f"{busy} in progress, maxConcurrent {rule.max_concurrent}, the operation needs "
                             f"{max(0, op.count)}", None))
    if rule.require_approval and not op.approved:
        failures.append((PENDING_APPROVAL, c.DEFENDER_REASON_APPROVAL_REQUIRED,
                         f"waiting for approval (annotate it {c.ANNOTATION_APPROVED}=true)", None))
    if not failures:
        return RuleOutcome(name, rule.name, ALLOWED, c.DEFENDER_REASON_ALLOWED)
    # Denials outrank a pending approval: approving would not help.
    failures.sort(key=lambda f: -_RANK[f[0]])
    decision, reason, message, retry = failures[0]
    return RuleOutcome(name, rule.name, decision, reason, message, retry, trips)


def _describe(op: Operation) -> str:
    what = f"{op.kind} {op.id}"
    if op.action:
        what += f" ({op.action})"
    if op.nodes:
        what += " on " + ", ".join(op.nodes[:3]) + (f" and {len(op.nodes) - 3} more" if len(op.nodes) > 3 else "")
    return what


def decide(policies: Sequence[Policy], op: Operation, ledger: Ledger, fleet: FleetState, now: float) -> Decision:
    """The verdict on `op` and what admitting it would record. Pure: reads its arguments only."""
    if op.id in ledger.admissions:
        return Decision(Verdict(ALLOWED, reason=c.DEFENDER_REASON_ALREADY_ADMITTED,
                                message=f"{op.id} was already admitted"), replay=True)
    if not policies:
        return Decision(Verdict(ALLOWED, reason=c.DEFENDER_REASON_NO_POLICY,
                                message="no DefenderPolicy: nothing is throttled"))
    outcomes: list[RuleOutcome] = []
    charges: dict[str, tuple[str, ...]] = {}
    trips: dict[str, RuleOutcome] = {}
    cooldowns: dict[str, int] = {}
    half_open: list[str] = []
    for policy in sorted(policies, key=lambda p: p.name):
        if not policy.covers(op.kind, op.action):
            continue
        if not policy.valid:
            outcomes.append(RuleOutcome(policy.name, "", DENIED, c.DEFENDER_REASON_POLICY_INVALID,
                                        f"policy is invalid, so it allows nothing: {policy.error_message()}"))
            continue
        circuit = ledger.circuit(policy.name)
        state = circuit.effective(now)
        if state == c.CIRCUIT_OPEN:
            until = (circuit.open_until or now) - now
            outcomes.append(RuleOutcome(policy.name, "", DENIED, c.DEFENDER_REASON_CIRCUIT_OPEN,
                                        f"circuit open ({circuit.reason}: {circuit.message}) for another "
                                        f"{_fmt_seconds(until)}", until))
            continue
        matched = [r for r in policy.rules if r.matches(op.kind, op.action)]
        rule_outcomes = [_evaluate_rule(policy, r, op, ledger, fleet, now) for r in matched]
        outcomes.extend(rule_outcomes)
        charges[policy.name] = tuple(r.name for r in matched)
        tripped = next((o for o in rule_outcomes if o.trips), None)
        if tripped is not None and policy.cooldown_seconds > 0:
            trips[policy.name] = tripped
            cooldowns[policy.name] = policy.cooldown_seconds
        if state == c.CIRCUIT_HALF_OPEN:
            half_open.append(policy.name)
    if not outcomes:
        return Decision(Verdict(ALLOWED, reason=c.DEFENDER_REASON_NOT_COVERED,
                                message=f"no DefenderPolicy rule covers {op.kind}"
                                        + (f" ({op.action})" if op.action else "")))
    worst = max(_RANK[o.decision] for o in outcomes)
    if worst == _RANK[ALLOWED]:
        first = outcomes[0]
        rules = ", ".join(f"{o.policy}/{o.rule}" for o in outcomes)
        verdict = Verdict(ALLOWED, policy=first.policy, rule=first.rule, reason=c.DEFENDER_REASON_ALLOWED,
                          message=f"{_describe(op)} allowed by {rules}", details={"rules": rules})
        return Decision(verdict, tuple(outcomes), charges, trips, cooldowns, tuple(half_open))
    blocking = [o for o in outcomes if _RANK[o.decision] == worst]
    first = blocking[0]
    retries = [o.retry_after for o in blocking]
    retry = max(r for r in retries if r is not None) if retries and None not in retries else None
    listing = "; ".join(f"{o.policy}/{o.rule or '*'}={o.reason}" for o in blocking)
    more = f" (and {len(blocking) - 1} more: {listing})" if len(blocking) > 1 else ""
    verdict = Verdict(first.decision, policy=first.policy, rule=first.rule, reason=first.reason,
                      message=f"{_describe(op)}: {first.message}{more}", retry_after_seconds=retry,
                      details={"denials" if worst == _RANK[DENIED] else "pending": listing})
    return Decision(verdict, tuple(outcomes), {}, trips, cooldowns, ())


def evaluate(policies: Sequence[Policy], op: Operation, ledger: Ledger, fleet: FleetState, now: float) -> Verdict:
    """Just the verdict of `decide`."""
    return decide(policies, op, ledger, fleet, now).verdict


def apply(ledger: Ledger, op: Operation, decision: Decision, now: float) -> list[tuple[str, Circuit]]:
    """Record `decision` in `ledger`; returns the circuits that changed state (policy, new circuit)."""
    changed: list[tuple[str, Circuit]] = []
    if decision.replay:
        return changed
    for policy, outcome in decision.trips.items():
        circuit = Circuit(c.CIRCUIT_OPEN, outcome.reason, f"{outcome.rule}: {outcome.message}", since=now,
                          open_until=now + decision.cooldowns.get(policy, 0))
        ledger.circuits[policy] = circuit
        changed.append((policy, circuit))
    if decision.admitted:
        ledger.admissions[op.id] = Admission(op.id, op.kind, now, max(0, op.count), dict(decision.charges),
                                             action=op.action)
        for policy in decision.closes:
            circuit = Circuit(c.CIRCUIT_CLOSED, c.DEFENDER_REASON_CIRCUIT_CLOSED,
                              f"{op.id} admitted after the cooldown", since=now)
            ledger.circuits[policy] = circuit
            changed.append((policy, circuit))
    return changed
