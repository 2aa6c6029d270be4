"""The only layer that speaks HTTP to a Kubernetes API server.

Raw dicts in, raw dicts out: :class:`KubeClient` (aiohttp + orjson),
:func:`load_config` (kubeconfig / in-cluster), :class:`Resource` descriptors of
the built-ins, and the exception hierarchy documented in :mod:`.errors`.
"""

from .client import PATCH_CONTENT_TYPES, IssuedToken, KubeClient, PatchType, WatchEvent
from .config import ClientConfig, load_config
from .errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    ConfigError,
    Conflict,
    Expired,
    Forbidden,
    Gone,
    Invalid,
    KubeError,
    NotFound,
    ServerError,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
)
from .ratelimit import TokenBucket
from .resources import (
    CONFIGMAPS,
    CRDS,
    EVENTS,
    LEASES,
    NAMESPACES,
    NODES,
    PODS,
    SECRETS,
    SERVICEACCOUNTS,
    Resource,
)
from .retry import retry

__all__ = [
    "CONFIGMAPS",
    "CRDS",
    "EVENTS",
    "LEASES",
    "NAMESPACES",
    "NODES",
    "PATCH_CONTENT_TYPES",
    "PODS",
    "SECRETS",
    "SERVICEACCOUNTS",
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "ClientConfig",
    "ConfigError",
    "Conflict",
    "Expired",
    "Forbidden",
    "Gone",
    "Invalid",
    "IssuedToken",
    "KubeClient",
    "KubeError",
    "NotFound",
    "PatchType",
    "Resource",
    "ServerError",
    "TokenBucket",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "WatchEvent",
    "load_config",
    "retry",
]
