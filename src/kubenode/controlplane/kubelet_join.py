"""The kubelet bootstrap token of an imported Machine, minted through the API (providers never write to it).

The SSH importer asks this source for a Machine's `KubeletJoin` every time it
converges a host; the first call creates a bootstrap token (Secret
``kube-system/bootstrap-token-<id>``, kubeadm's format, valid
`KUBELET_TOKEN_TTL_SECONDS`, owned by the Machine) and records its id in the
Machine's annotation ``kubenode.io/kubelet-bootstrap-token-id``; later calls
hand out the same token while it has at least a quarter of its life left, so a
repeated import rewrites nothing. KubeNode's CSR approver approves a kubelet
client certificate for the Machine's node only when the request was made with
that token (`machine/csr_approval.py`).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import SECRETS
from kubenode.machine.bootstrap import (
    TOKEN_NAMESPACE,
    TOKEN_SECRET_PREFIX,
    AgentEndpoint,
    bootstrap_token_secret,
    new_bootstrap_token,
    token_expiry,
)
from kubenode.machine.resources import MACHINES
from kubenode.providers.base import ProviderError
from kubenode.providers.kubelet_join import (
    ANNOTATION_KUBELET_TOKEN_ID,
    KUBELET_TOKEN_GROUP,
    KUBELET_TOKEN_TTL_SECONDS,
    KubeletJoin,
    KubeletJoinSource,
    bootstrap_kubelet_kubeconfig,
)

Obj = dict[str, Any]
FIELD_MANAGER = "kubenode-ssh-import"


def kubelet_token_secret(machine: Obj, token_id: str, token_secret: str, expires_at: float) -> Obj:
    """The kube-system Secret of a Machine's kubelet bootstrap token (owned by the Machine)."""
    return bootstrap_token_secret(
        machine, token_id, token_secret, expires_at, groups=KUBELET_TOKEN_GROUP,
        description=f"KubeNode kubelet TLS bootstrap for imported machine {machine['metadata']['name']}",
        labels={"kubenode.io/purpose": "kubelet-bootstrap"})


def _usable_token(secret: Obj, machine: Obj, now: float) -> str | None:
    """`<id>.<secret>` of a token Secret owned by `machine` with a quarter of its life left, else None."""
    expires = token_expiry(secret, machine)
    if expires is None:
        return None
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    if expires - now <= KUBELET_TOKEN_TTL_SECONDS / 4 or not data.get("token-id") or not data.get("token-secret"):
        return None
    return f"{data['token-id']}.{data['token-secret']}"


def kubelet_join_source(client: KubeClient, endpoint: AgentEndpoint) -> KubeletJoinSource:
    """The `KubeletJoin` of a Machine: its kubelet bootstrap token (minted when needed), the server and the CA."""

    async def issue(machine: Obj) -> KubeletJoin:
        name = machine["metadata"]["name"]
        try:
            # The annotation of the stored Machine, not of a possibly older copy: never mint a second token.
            current = await client.get(MACHINES, name)
            if current["metadata"]["uid"] != machine["metadata"]["uid"]:
                raise ProviderError(f"machine {name} was replaced while importing", reason="MachineReplaced")
            token_id = str((current["metadata"].get("annotations") or {}).get(ANNOTATION_KUBELET_TOKEN_ID) or "")
            token = None
            if token_id:
                try:
                    secret = await client.get(SECRETS, TOKEN_SECRET_PREFIX + token_id, TOKEN_NAMESPACE)
                    token = _usable_token(secret, current, time.time())
                except errors.NotFound:
                    token = None
            if token is None:
                token_id, token_secret = new_bootstrap_token()
                await client.create(SECRETS, kubelet_token_secret(current, token_id, token_secret,
                                                                  time.time() + KUBELET_TOKEN_TTL_SECONDS),
                                    TOKEN_NAMESPACE)
                await client.patch(MACHINES, name, {"metadata": {"annotations": {
                    ANNOTATION_KUBELET_TOKEN_ID: token_id}}}, field_manager=FIELD_MANAGER)
                token = f"{token_id}.{token_secret}"
        except errors.ApiError as exc:
            raise ProviderError(f"could not issue the kubelet bootstrap token of machine {name}: {exc}",
                                reason="KubeletBootstrapFailed") from None
        try:
            kubeconfig = bootstrap_kubelet_kubeconfig(endpoint.server, endpoint.ca_pem, token)
        except ValueError as exc:
            raise ProviderError(str(exc), retryable=False, reason="KubeletBootstrapFailed") from None
        return KubeletJoin(endpoint.ca_pem, kubeconfig)

    return issue
