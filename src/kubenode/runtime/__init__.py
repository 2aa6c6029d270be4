"""Domain-free controller runtime: informers, cache, work queue, controllers, manager, leader election.

Level-triggered, controller-runtime style: informers keep a local cache of
raw dicts and enqueue keys; controllers reconcile ``Request``s read from the
cache; the manager runs them, leader-elected, behind health and metrics.
"""

from .cache import Cache, object_key
from .controller import (
    Controller,
    ControllerMetrics,
    Mapper,
    Reconciler,
    Request,
    Result,
    TerminalError,
    metrics_for,
    owner_mapper,
    request_for_object,
)
from .informer import Handler, Informer, InformerFactory
from .labels import compile_selector
from .leaderelection import LeaderElectionConfig, LeaderElector, micro_time
from .manager import Manager, Runnable
from .workqueue import (
    BucketRateLimiter,
    ItemExponentialRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    WorkQueue,
    default_rate_limiter,
)

__all__ = [
    "BucketRateLimiter",
    "Cache",
    "Controller",
    "ControllerMetrics",
    "Handler",
    "Informer",
    "InformerFactory",
    "ItemExponentialRateLimiter",
    "LeaderElectionConfig",
    "LeaderElector",
    "Manager",
    "Mapper",
    "MaxOfRateLimiter",
    "RateLimiter",
    "Reconciler",
    "Request",
    "Result",
    "Runnable",
    "TerminalError",
    "WorkQueue",
    "compile_selector",
    "default_rate_limiter",
    "metrics_for",
    "micro_time",
    "object_key",
    "owner_mapper",
    "request_for_object",
]
