"""Cyclic garbage collector settings for KubeNode's long-running processes.

The API server, the operators and the agents keep large, long-lived heaps of
small containers (stored objects, informer caches: tens of objects per
Kubernetes object). CPython's default thresholds (700, 10, 10) run a young
collection every 700 net allocations and, every hundred of those, consider a
full collection that walks the whole heap. With 5,000 machines the bench of
a rollout spent about half of the API server's CPU in the collector, and a
full pass cost 0.44 s — work that grew faster than the fleet.

Our hot data is acyclic JSON (dicts, lists, strings): reference counting frees
it, the cycle collector only has to find the rare cycles (exceptions with
tracebacks, finished tasks). Collecting young objects every 50,000 net
allocations instead of 700 keeps that promise at a fraction of the cost and
makes full passes rare; memory held by uncollected cycles in between stays in
the low megabytes. Measured with `bench/rollout.py` (docs/rollouts.md).
"""

from __future__ import annotations

import gc

#: (young, middle, old) thresholds: see the module docstring.
THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    """Apply `THRESHOLDS` to this process (idempotent)."""
    gc.set_threshold(*THRESHOLDS)
