"""Who may read the agent's logs: the API server decides, the agent only asks.

The agent's log endpoint is never open. A caller presents a bearer token
(its own kubeconfig's, as `kubectl` would); the agent asks the API server,
*with that token*, a SelfSubjectAccessReview for `get nodes/proxy <node>` —
the permission kube-apiserver requires to reach a kubelet's logs through
the node proxy, and the one `kubenode diagnose node` callers (cluster
admins, on-call roles) are granted. A token the server does not know is
401 there and 401 here; a known caller without the permission gets 403.

Why a self review and not TokenReview + SubjectAccessReview as the kubelet
does: a self review needs no extra rights for the agent (every
authenticated identity may ask about itself), so the agent's own credential
stays least-privilege — on a real cluster and on the embedded server alike.
The connection carries the caller's token only: the agent's client
certificate (if it has one) is not presented, or the server would answer
for the agent instead of the caller.

Answers are cached for a short while per token hash, so a burst of calls
costs one review.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ssl
import time
from dataclasses import dataclass

from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import ClientConfig
from kubenode.client.resources import Resource

__all__ = ["SELF_SUBJECT_ACCESS_REVIEWS", "AccessDecision", "LogAccess", "caller_config"]

SELF_SUBJECT_ACCESS_REVIEWS = Resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews",
                                       "SelfSubjectAccessReview", namespaced=False)
ALLOW_TTL = 60.0
DENY_TTL = 5.0


@dataclass(frozen=True)
class AccessDecision:
    """The answer for one token: HTTP status to return (200, 401, 403, 503) and why."""

    status: int
    reason: str


def _ca_only(ctx: ssl.SSLContext | None) -> ssl.SSLContext | None:
    """A TLS context trusting the same CAs as `ctx`, without any client certificate."""
    if ctx is None:
        return None
    cas = ctx.get_ca_certs(binary_form=True)
    fresh = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cas:
        fresh.load_verify_locations(cadata=b"".join(cas))
    else:
        fresh.load_default_certs()
    fresh.check_hostname = ctx.check_hostname
    fresh.verify_mode = ctx.verify_mode
    return fresh


def caller_config(agent: ClientConfig, token: str) -> ClientConfig:
    """The agent's server settings with the caller's bearer token as the only credential."""
    return dataclasses.replace(agent, ssl_context=_ca_only(agent.ssl_context), token=token, token_file=None,
                               username=None, password=None, max_retries=1, request_timeout=10.0,
                               _token_cache=None)


class LogAccess:
    """Decides whether a bearer token may read this node's agent logs (`get nodes/proxy <node>`)."""

    def __init__(self, agent_config: ClientConfig, node_name: str) -> None:
        self.agent_config = agent_config
        self.node_name = node_name
        self._cache: dict[str, tuple[float, AccessDecision]] = {}

    def attributes(self) -> dict[str, str]:
        """The resource attributes asked about."""
        return {"verb": "get", "resource": "nodes", "subresource": "proxy", "name": self.node_name}

    async def check(self, authorization: str | None) -> AccessDecision:
        """The decision for an `Authorization` header value."""
        if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
            return AccessDecision(401, "a bearer token is required (Authorization: Bearer …)")
        token = authorization[7:].strip()
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        decision = await self._review(token)
        if decision.status in (200, 401, 403):
            self._cache[key] = (now + (ALLOW_TTL if decision.status == 200 else DENY_TTL), decision)
            if len(self._cache) > 1024:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        return decision

    async def _review(self, token: str) -> AccessDecision:
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": self.attributes()}}
        what = f"get nodes/proxy {self.node_name}"
        try:
            async with KubeClient(caller_config(self.agent_config, token)) as client:
                review = await client.create(SELF_SUBJECT_ACCESS_REVIEWS, body)
        except errors.Unauthorized:
            return AccessDecision(401, "the API server does not accept this token")
        except errors.Forbidden:
            return AccessDecision(403, f"the caller may not ask the API server about {what}")
        except (errors.KubeError, OSError, TimeoutError) as exc:
            return AccessDecision(503, f"cannot ask the API server whether the caller may {what}: {exc}")
        status = review.get("status") or {}
        if status.get("allowed") is True:
            return AccessDecision(200, "allowed")
        why = status.get("reason") or "RBAC does not allow it"
        return AccessDecision(403, f"the caller may not {what} ({why})")
