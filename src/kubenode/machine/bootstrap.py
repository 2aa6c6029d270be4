"""The agent's bootstrap credential: a short-lived bootstrap token per Machine, in a bootstrap kubeconfig.

As kubeadm joins a kubelet: the Machine controller creates a bootstrap token
(Secret ``kube-system/bootstrap-token-<id>``, type
``bootstrap.kubernetes.io/token``, valid `TOKEN_TTL_SECONDS`) and records its
id on the Machine (annotation ``kubenode.io/bootstrap-token-id``, written by
the operator only). The agent uses the token once, to request its client
certificate (``CN=kubenode:agent:<node>``, see `agent/identity.py`); KubeNode's
approver (`csr_approver.py`) approves only the request made with *this*
Machine's token for *this* Machine's node. Once the agent has connected with
its certificate the token is deleted (`revoke_bootstrap_token`); an unused
token expires and the API server's token cleaner deletes it.

The bootstrap kubeconfig is kept in a Secret owned by the Machine, so a
restarted controller hands out the same one instead of minting a token on
every reconcile. Both Secrets are owned by the Machine and go with it.
"""

from __future__ import annotations

import base64
import secrets
import string
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubenode.apimachinery.timefmt import format_time, parse_time
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import NAMESPACES, SECRETS

Obj = dict[str, Any]

SYSTEM_NAMESPACE = "kubenode-system"
#: Prefix of the per-machine names (the bootstrap kubeconfig Secret; the legacy per-machine ServiceAccount).
SA_PREFIX = "machine-"
SECRET_TYPE = "kubenode.io/bootstrap"
TOKEN_NAMESPACE = "kube-system"
TOKEN_SECRET_TYPE = "bootstrap.kubernetes.io/token"
TOKEN_SECRET_PREFIX = "bootstrap-token-"
#: The Machine annotation naming its bootstrap token (the approver trusts only this one).
ANNOTATION_TOKEN_ID = "kubenode.io/bootstrap-token-id"
#: Extra group of KubeNode's bootstrap tokens (kube's pattern system:bootstrappers:...).
TOKEN_GROUP = "system:bootstrappers:kubenode:machines"
#: How long an unused bootstrap token stays valid (kubeadm's default is 24 h; an agent joins in seconds).
TOKEN_TTL_SECONDS = 3600
_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class AgentEndpoint:
    """How agents reach the API server (may differ from how the operator reaches it)."""

    server: str
    ca_pem: bytes


def endpoint_in_cluster(server: str, ca_file: Path, server_override: str = "") -> AgentEndpoint:
    """The endpoint of an operator running in a pod: the client's server URL and the ServiceAccount's CA."""
    return AgentEndpoint(server_override or server, ca_file.read_bytes() if ca_file.is_file() else b"")


def endpoint_from_kubeconfig(path: Path, server_override: str = "") -> AgentEndpoint:
    """The server URL and CA of a kubeconfig's current context."""
    doc = yaml.safe_load(path.read_text())
    ctx_name = doc.get("current-context")
    ctx = next((c["context"] for c in doc.get("contexts") or [] if c.get("name") == ctx_name), None)
    cluster_name = ctx["cluster"] if ctx else (doc.get("clusters") or [{}])[0].get("name")
    cluster = next(c["cluster"] for c in doc.get("clusters") or [] if c.get("name") == cluster_name)
    if cluster.get("certificate-authority-data"):
        ca = base64.b64decode(cluster["certificate-authority-data"])
    elif cluster.get("certificate-authority"):
        ca = Path(cluster["certificate-authority"]).read_bytes()
    else:
        ca = b""
    return AgentEndpoint(server_override or cluster["server"], ca)


def service_account_name(machine_name: str) -> str:
    """The ServiceAccount of a Machine's agent."""
    return SA_PREFIX + machine_name


def agent_kubeconfig(endpoint: AgentEndpoint, token: str, machine_name: str) -> str:
    """A kubeconfig YAML for the agent."""
    cluster: Obj = {"server": endpoint.server}
    if endpoint.ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(endpoint.ca_pem).decode()
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "kubenode", "cluster": cluster}],
        "users": [{"name": f"agent-{machine_name}", "user": {"token": token}}],
        "contexts": [{"name": "kubenode", "context": {"cluster": "kubenode", "user": f"agent-{machine_name}"}}],
        "current-context": "kubenode",
    }, sort_keys=False)


def _owner(machine: Obj) -> list[Obj]:
    return [{"apiVersion": machine["apiVersion"], "kind": machine["kind"], "name": machine["metadata"]["name"],
             "uid": machine["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]


async def ensure_system_namespace(client: KubeClient) -> None:
    """Create `kubenode-system` if missing (looked up first: the operators may read, not create, namespaces)."""
    try:
        await client.get(NAMESPACES, SYSTEM_NAMESPACE)
        return
    except errors.NotFound:
        pass
    try:
        await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": SYSTEM_NAMESPACE}})
    except errors.AlreadyExists:
        pass


def new_bootstrap_token() -> tuple[str, str]:
    """A random (token-id, token-secret) pair in kube's format ([a-z0-9]{6}, [a-z0-9]{16})."""
    return ("".join(secrets.choice(_ALPHABET) for _ in range(6)),
            "".join(secrets.choice(_ALPHABET) for _ in range(16)))


def bootstrap_token_secret(machine: Obj, token_id: str, token_secret: str, expires_at: float, *,
                           groups: str = TOKEN_GROUP, description: str = "", labels: dict[str, str] | None = None,
                           ) -> Obj:
    """The kube-system Secret (kubeadm's form) of a bootstrap token owned by `machine`.

    By default the agent's (`TOKEN_GROUP`); the kubelet's join token passes its own group and labels.
    """
    name = machine["metadata"]["name"]
    data = {
        "token-id": token_id, "token-secret": token_secret,
        "expiration": format_time(expires_at),
        "usage-bootstrap-authentication": "true", "auth-extra-groups": groups,
        "description": description or f"KubeNode agent bootstrap for machine {name}",
    }
    return {"apiVersion": "v1", "kind": "Secret", "type": TOKEN_SECRET_TYPE,
            "metadata": {"name": TOKEN_SECRET_PREFIX + token_id, "namespace": TOKEN_NAMESPACE,
                         "ownerReferences": _owner(machine),
                         "labels": {"kubenode.io/machine": name, **(labels or {})}},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def token_expiry(secret: Obj, machine: Obj) -> float | None:
    """When a bootstrap-token Secret owned by `machine` expires (None: not the machine's, or unreadable)."""
    if not any(o.get("uid") == machine["metadata"]["uid"] for o in secret["metadata"].get("ownerReferences") or []):
        return None
    try:
        raw = base64.b64decode((secret.get("data") or {}).get("expiration", "")).decode()
    except ValueError:
        return None
    return parse_time(raw)


def token_id_of(machine: Obj) -> str:
    """The id of the bootstrap token the Machine controller issued for `machine` ("" if none)."""
    return str(((machine.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_TOKEN_ID) or "")


async def _token_usable(client: KubeClient, token_id: str, machine: Obj) -> bool:
    if not token_id:
        return False
    try:
        secret = await client.get(SECRETS, TOKEN_SECRET_PREFIX + token_id, TOKEN_NAMESPACE)
    except errors.NotFound:
        return False
    expires = token_expiry(secret, machine)
    if expires is None:
        return False
    # Leave the agent time to use it: a token about to expire is replaced by a fresh one.
    return expires - time.time() > TOKEN_TTL_SECONDS / 4


async def ensure_agent_kubeconfig(client: KubeClient, machine: Obj, endpoint: AgentEndpoint) -> str:
    """The bootstrap kubeconfig of `machine`, minting its bootstrap token (and recording its id) when needed."""
    from .resources import MACHINES

    name = machine["metadata"]["name"]
    secret_name = f"{SA_PREFIX}{name}-bootstrap"
    await ensure_system_namespace(client)
    try:
        secret = await client.get(SECRETS, secret_name, SYSTEM_NAMESPACE)
        owners = secret["metadata"].get("ownerReferences") or []
        if any(o.get("uid") == machine["metadata"]["uid"] for o in owners) and await _token_usable(
                client, token_id_of(machine), machine):
            return base64.b64decode(secret["data"]["kubeconfig"]).decode()
        # a leftover of an older machine with the same name, or its token is gone: replace it
        await client.delete(SECRETS, secret_name, SYSTEM_NAMESPACE)
    except errors.NotFound:
        pass
    token_id, token_secret = new_bootstrap_token()
    await client.create(SECRETS, bootstrap_token_secret(machine, token_id, token_secret,
                                                        time.time() + TOKEN_TTL_SECONDS), TOKEN_NAMESPACE)
    await client.patch(MACHINES, name, {"metadata": {"annotations": {ANNOTATION_TOKEN_ID: token_id}}},
                       field_manager="kubenode-machine-controller")
    kubeconfig = agent_kubeconfig(endpoint, f"{token_id}.{token_secret}", name)
    await client.create(SECRETS, {
        "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
        "metadata": {"name": secret_name, "namespace": SYSTEM_NAMESPACE, "ownerReferences": _owner(machine),
                     "labels": {"kubenode.io/machine": name}},
        "data": {"kubeconfig": base64.b64encode(kubeconfig.encode()).decode()},
    }, SYSTEM_NAMESPACE)
    return kubeconfig


async def revoke_bootstrap_token(client: KubeClient, machine: Obj) -> bool:
    """Delete `machine`'s bootstrap token and kubeconfig once its agent has connected; True if it did anything.

    The annotation goes last, so a crash in between only repeats the (idempotent) deletions.
    """
    from .resources import MACHINES

    token_id = token_id_of(machine)
    if not token_id:
        return False
    name = machine["metadata"]["name"]
    for secret, ns in ((TOKEN_SECRET_PREFIX + token_id, TOKEN_NAMESPACE), (f"{SA_PREFIX}{name}-bootstrap",
                                                                            SYSTEM_NAMESPACE)):
        try:
            await client.delete(SECRETS, secret, ns)
        except errors.NotFound:
            pass
    await client.patch(MACHINES, name, {"metadata": {"annotations": {ANNOTATION_TOKEN_ID: None}}},
                       field_manager="kubenode-machine-controller")
    return True
