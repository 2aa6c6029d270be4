"""Domain-free controller runtime: informers, cache, work queue, controllers, manager, leader election.

Level-triggered, controller-runtime style: informers keep a local cache of
raw dicts and enqueue keys; controllers reconcile ``Request``s read from the
cache; the manager runs them, leader-elected, behind health and metrics.
"""

from typing import TYPE_CHECKING, Any

# The names are imported on first use (PEP 562): a process that needs only the informer (the node agent)
# does not load the manager's HTTP server (aiohttp.web) with it.
_WHERE = {
    "Cache": "cache", "object_key": "cache",
    "Controller": "controller", "ControllerMetrics": "controller", "Mapper": "controller",
    "Reconciler": "controller", "Request": "controller", "Result": "controller", "TerminalError": "controller",
    "metrics_for": "controller", "owner_mapper": "controller", "request_for_object": "controller",
    "Handler": "informer", "Informer": "informer", "InformerFactory": "informer",
    "compile_selector": "labels",
    "LeaderElectionConfig": "leaderelection", "LeaderElector": "leaderelection", "micro_time": "leaderelection",
    "Manager": "manager", "Runnable": "manager",
    "BucketRateLimiter": "workqueue", "ItemExponentialRateLimiter": "workqueue", "MaxOfRateLimiter": "workqueue",
    "RateLimiter": "workqueue", "WorkQueue": "workqueue", "default_rate_limiter": "workqueue",
}

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
