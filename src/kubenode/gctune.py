"""Cyclic garbage collector settings for KubeNode's long-running processes.

The API server, the operators and the agents keep large, long-lived heaps of
small containers (stored objects, informer caches: tens of objects per
Kubernetes object). CPython's default thresholds (700, 10, 10) run a young
collection every 700 net allocations and, every hundred of those, consider a
full collection that walks the whole heap. In `bench/rollout.py` at 5,000
machines the API server spent 12.7 s in the collector over the bench's life,
9.2 s of it in 21 full passes of 0.44 s each — work that grew faster than the
fleet (at 1,000 machines: 7 passes of 0.12 s). With these thresholds: 2.0 s.

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
