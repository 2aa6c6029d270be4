"""The planner's view of a set's machines, kept up to date one machine at a time.

A rollout across a large fleet reconciles its set many times per batch, and
between two reconciles only about a batch's worth of machines changed. A
planner that re-sorts and re-counts the whole fleet every time does O(N)
work per reconcile for O(N) batches: quadratic in the fleet. `FleetView`
makes a reconcile cost what changed instead:

* each machine gets its **traits** relative to the rollout's target and
  stable revisions (has a component, assigned the target, ready there,
  failed there, available, ...). Machines with equal traits share a bucket;
  a fleet has only a handful of distinct trait combinations;
* each bucket is a list kept sorted in **rollout order** (sha256 of machine
  UID + target revision, then name), so "the next k machines not at the
  target" is a lazy merge of a few sorted lists, and counts are sums over
  buckets;
* `put`/`discard` move one machine between buckets (binary search).

A view belongs to one (target, stable) pair: when either changes the order
and the traits change, and the caller builds a new view (O(N log N), once per
rollout). Pure: no I/O, no clock. The states have slots: a view holds one of each per machine.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from kubenode.api import constants as c


@dataclass(frozen=True, slots=True)
class ComponentState:
    """What one MachineComponent says: the revision it is assigned and what its agent reported."""

    name: str
    revision: str  # spec.revision: what the controller assigned
    phase: str = ""  # status.phase
    healthy: bool = False
    installed_revision: str = ""
    installed_version: str = ""
    message: str = ""
    #: The status was written for the current spec (status.observedGeneration >= metadata.generation,
    #: or the agent does not report observedGeneration and installedRevision matches).
    fresh: bool = True
    healthy_since: float | None = None  # lastTransitionTime of the Healthy=True condition
    deleting: bool = False
    drifted: bool = False  # Drifted=True: its files differ from the verified artifact, so it is not updated

    def running_healthy(self) -> bool:
        """Running and healthy, whatever the revision."""
        return self.phase == c.COMPONENT_PHASE_RUNNING and self.healthy and not self.deleting

    def ready_at(self, revision: str) -> bool:
        """Assigned `revision`, installed at it, Running and healthy."""
        return (self.revision == revision and self.fresh and self.running_healthy()
                and self.installed_revision in ("", revision))

    def failed_at(self, revision: str) -> bool:
        """Assigned `revision` and its agent reported Failed for it."""
        return self.revision == revision and self.fresh and self.phase == c.COMPONENT_PHASE_FAILED


@dataclass(frozen=True, slots=True)
class MachineState:
    """One selected machine and its component (None: no MachineComponent yet)."""

    name: str
    uid: str
    node: str = ""
    component: ComponentState | None = None
    #: The machine already serves (its Machine is Running): a first install there is a change to a machine
    #: in service and goes in batches through the Defender; a machine still joining gets the target at once.
    in_service: bool = False


@functools.lru_cache(maxsize=1 << 16)
def order_key(uid: str, revision: str) -> str:
    """Sort key of a machine for a revision: sha256(uid + revision), as system-upgrade-controller does."""
    return hashlib.sha256(f"{uid}{revision}".encode()).hexdigest()


class Traits(NamedTuple):
    """What the planner asks of one machine, relative to the view's target and stable revisions."""

    component: bool  # has a MachineComponent
    at_target: bool  # assigned the target revision
    at_stable: bool  # assigned the stable revision
    updated: bool  # installed at the target (status about the current spec)
    ready: bool  # ready at the target: installed there, Running and healthy
    failed: bool  # its agent reported Failed for the target
    available: bool  # Running and healthy, whatever the revision
    ready_stable: bool  # ready at the stable revision
    #: No component yet on a machine already in service: it waits for its batch (see `MachineState`).
    waiting: bool = False


NO_COMPONENT = Traits(False, False, False, False, False, False, False, False)
WAITING = NO_COMPONENT._replace(waiting=True)
Predicate = Callable[[Traits], bool]


def traits_of(comp: ComponentState | None, target: str, stable: str | None, in_service: bool = False) -> Traits:
    """The traits of a machine whose component is `comp` (`in_service`: see `MachineState`)."""
    if comp is None:
        return WAITING if in_service else NO_COMPONENT
    return Traits(
        component=True, at_target=comp.revision == target,
        at_stable=stable is not None and comp.revision == stable,
        updated=comp.fresh and comp.revision == target and comp.installed_revision == target and not comp.drifted,
        ready=comp.ready_at(target) and not comp.drifted, failed=comp.failed_at(target),
        available=comp.running_healthy(),
        ready_stable=stable is not None and comp.ready_at(stable))


class _Entry(NamedTuple):
    state: MachineState
    traits: Traits
    key: tuple[str, str]  # position in rollout order


class FleetView:
    """The selected machines of one set, bucketed by traits and kept in rollout order of `target`."""

    def __init__(self, target: str, stable: str | None, machines: Iterable[MachineState] = ()) -> None:
        self.target = target
        self.stable = stable
        self._entries: dict[str, _Entry] = {}
        self._buckets: dict[Traits, list[tuple[str, str]]] = {}
        #: (-healthy_since, name) of machines ready at the target: a lazy max-heap for the soak clock.
        self._since: list[tuple[float, str]] = []
        self._ready_without_since: set[str] = set()
        for m in machines:  # bulk load: append, then sort each bucket once
            if m.name in self._entries:
                raise ValueError(f"machine {m.name!r} appears twice")
            entry = self._entry(m)
            self._entries[m.name] = entry
            self._buckets.setdefault(entry.traits, []).append(entry.key)
            self._track_since(entry)
        for keys in self._buckets.values():
            keys.sort()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> MachineState | None:
        """The state of machine `name`, or None when the view does not hold it."""
        entry = self._entries.get(name)
        return None if entry is None else entry.state

    def names(self) -> set[str]:
        """The names of every machine in the view."""
        return set(self._entries)

    # ------------------------------------------------------------------ updates

    def put(self, m: MachineState) -> bool:
        """Add machine `m` or replace its state; returns whether anything changed."""
        old = self._entries.get(m.name)
        if old is not None:
            if old.state == m:
                return False
            self._unbucket(old)
        entry = self._entry(m)
        self._entries[m.name] = entry
        bisect.insort(self._buckets.setdefault(entry.traits, []), entry.key)
        self._track_since(entry)
        return True

    def discard(self, name: str) -> bool:
        """Remove machine `name`; returns whether the view held it."""
        old = self._entries.pop(name, None)
        if old is None:
            return False
        self._unbucket(old)
        self._ready_without_since.discard(name)
        return True

    def _entry(self, m: MachineState) -> _Entry:
        return _Entry(m, traits_of(m.component, self.target, self.stable, m.in_service),
                      (order_key(m.uid, self.target), m.name))

    def _unbucket(self, entry: _Entry) -> None:
        keys = self._buckets[entry.traits]
        del keys[bisect.bisect_left(keys, entry.key)]
        if not keys:
            del self._buckets[entry.traits]

    def _track_since(self, entry: _Entry) -> None:
        name, comp = entry.state.name, entry.state.component
        if not entry.traits.ready or comp is None:
            self._ready_without_since.discard(name)
        elif comp.healthy_since is None:
            self._ready_without_since.add(name)
        else:
            self._ready_without_since.discard(name)
            heapq.heappush(self._since, (-comp.healthy_since, name))
            if len(self._since) > 2 * len(self._entries) + 64:  # drop the stale entries now and then
                self._since = [(-e.state.component.healthy_since, n) for n, e in self._entries.items()
                               if e.traits.ready and e.state.component is not None
                               and e.state.component.healthy_since is not None]
                heapq.heapify(self._since)

    # ------------------------------------------------------------------ queries

    def count(self, pred: Predicate) -> int:
        """How many machines have traits satisfying `pred`."""
        return sum(len(keys) for t, keys in self._buckets.items() if pred(t))

    def walk(self, pred: Predicate, limit: int | None = None) -> Iterator[MachineState]:
        """The machines whose traits satisfy `pred`, in rollout order (at most `limit`)."""
        lists = [keys for t, keys in self._buckets.items() if pred(t)]
        if not lists:
            return
        merged: Iterable[tuple[str, str]] = lists[0] if len(lists) == 1 else heapq.merge(*lists)
        for _, name in itertools.islice(merged, limit):
            yield self._entries[name].state

    def newest_ready_since(self) -> float | None:
        """The newest Healthy transition among machines ready at the target (None: none reported one)."""
        heap = self._since
        while heap:
            since, name = -heap[0][0], heap[0][1]
            entry = self._entries.get(name)
            if (entry is not None and entry.traits.ready and entry.state.component is not None
                    and entry.state.component.healthy_since == since):
                return since
            heapq.heappop(heap)
        return None

    def has_ready_without_since(self) -> bool:
        """Whether some machine ready at the target reported no Healthy transition time."""
        return bool(self._ready_without_since)
