"""Clients of member clusters, built from the kubeconfig Secret each Cluster names.

The Secret is read on every use (a GET; the operator may only `get` Secrets
in kubenode-system) and the client is rebuilt only when the Secret changed,
so a rotated kubeconfig takes effect on the next reconcile.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import Any

import aiohttp

from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import config_from_kubeconfig_text
from kubenode.client.resources import SECRETS

Obj = dict[str, Any]

#: Member requests fail fast: an unreachable member must not hold a worker for long.
MEMBER_REQUEST_TIMEOUT = 8.0
KUBECONFIG_KEY = "kubeconfig"


class MemberUnavailable(Exception):
    """A member cluster cannot be reached (no Secret, a bad kubeconfig, or no answer); the message says why."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


#: What a failed member request can raise (its API's errors are ApiError, the network's OSError/timeouts).
UNREACHABLE_ERRORS: tuple[type[BaseException], ...] = (errors.ApiError, OSError, TimeoutError, aiohttp.ClientError)


class MemberClients:
    """One KubeClient per member cluster, keyed by the Cluster's name."""

    def __init__(self, client: KubeClient, *, request_timeout: float = MEMBER_REQUEST_TIMEOUT) -> None:
        self.client = client
        self.request_timeout = request_timeout
        self._clients: dict[str, tuple[str, KubeClient]] = {}

    async def get(self, cluster: Obj) -> KubeClient:
        """The client of `cluster`; raises :class:`MemberUnavailable` when its Secret is missing or invalid."""
        name = cluster["metadata"]["name"]
        ref = (cluster.get("spec") or {}).get("kubeconfigSecretRef") or {}
        where = f"{ref.get('namespace')}/{ref.get('name')}"
        try:
            secret = await self.client.get(SECRETS, str(ref.get("name")), str(ref.get("namespace")))
        except errors.NotFound:
            raise MemberUnavailable(f"the kubeconfig Secret {where} does not exist", "KubeconfigMissing") from None
        key = f"{secret['metadata'].get('uid')}/{secret['metadata'].get('resourceVersion')}"
        cached = self._clients.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        raw = (secret.get("data") or {}).get(KUBECONFIG_KEY)
        if not raw:
            raise MemberUnavailable(f"the Secret {where} has no key {KUBECONFIG_KEY!r}", "KubeconfigMissing")
        try:
            text = base64.b64decode(raw, validate=True)
            config = config_from_kubeconfig_text(text)
        except (binascii.Error, errors.ConfigError) as exc:
            raise MemberUnavailable(f"the kubeconfig in Secret {where} is invalid: {exc}",
                                    "KubeconfigInvalid") from None
        member = KubeClient(dataclasses.replace(config, request_timeout=self.request_timeout, max_retries=1,
                                                user_agent="kubenode-release-controller/0.1.0"))
        if cached is not None:
            await cached[1].close()
        self._clients[name] = (key, member)
        return member

    async def forget(self, name: str) -> None:
        """Close the client of a deleted Cluster."""
        cached = self._clients.pop(name, None)
        if cached is not None:
            await cached[1].close()

    async def close(self) -> None:
        """Close every member client."""
        for _, member in self._clients.values():
            await member.close()
        self._clients.clear()
