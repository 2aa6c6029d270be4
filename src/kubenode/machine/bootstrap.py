"""The agent's identity: a ServiceAccount per Machine and a bootstrap Secret with its kubeconfig.

Like Cluster API's bootstrap data secret: the kubeconfig is minted once
(TokenRequest on the Machine's ServiceAccount) and kept in a Secret, so a
restarted controller does not mint a new token on every reconcile. Both
objects are owned by the Machine and go with it; deleting the ServiceAccount
invalidates the token at once.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.resources import NAMESPACES, SECRETS, SERVICEACCOUNTS

Obj = dict[str, Any]

SYSTEM_NAMESPACE = "kubenode-system"
SA_PREFIX = "machine-"
SECRET_TYPE = "kubenode.io/bootstrap"


@dataclass(frozen=True)
class AgentEndpoint:
    """How agents reach the API server (may differ from how the operator reaches it)."""

    server: str
    ca_pem: bytes


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


async def ensure_agent_kubeconfig(client: KubeClient, machine: Obj, endpoint: AgentEndpoint) -> str:
    """The agent kubeconfig of `machine`, minting its ServiceAccount, token and Secret once."""
    name = machine["metadata"]["name"]
    secret_name = f"{SA_PREFIX}{name}-bootstrap"
    await ensure_system_namespace(client)
    try:
        secret = await client.get(SECRETS, secret_name, SYSTEM_NAMESPACE)
        owners = secret["metadata"].get("ownerReferences") or []
        if any(o.get("uid") == machine["metadata"]["uid"] for o in owners):
            return base64.b64decode(secret["data"]["kubeconfig"]).decode()
        # a leftover of an older machine with the same name: replace it
        await client.delete(SECRETS, secret_name, SYSTEM_NAMESPACE)
    except errors.NotFound:
        pass
    sa_name = service_account_name(name)
    sa: Obj | None
    try:
        sa = await client.get(SERVICEACCOUNTS, sa_name, SYSTEM_NAMESPACE)
    except errors.NotFound:
        sa = None
    if sa is not None and not any(o.get("uid") == machine["metadata"]["uid"]
                                  for o in sa["metadata"].get("ownerReferences") or []):
        # an older machine's account: its tokens must not carry over
        await client.delete(SERVICEACCOUNTS, sa_name, SYSTEM_NAMESPACE)
        sa = None
    if sa is None:
        try:
            await client.create(SERVICEACCOUNTS, {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": sa_name, "namespace": SYSTEM_NAMESPACE, "ownerReferences": _owner(machine),
                             "labels": {"kubenode.io/machine": name}},
            }, SYSTEM_NAMESPACE)
        except errors.AlreadyExists:
            pass
    issued = await client.create_token(SYSTEM_NAMESPACE, sa_name)
    kubeconfig = agent_kubeconfig(endpoint, issued.token, name)
    await client.create(SECRETS, {
        "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
        "metadata": {"name": secret_name, "namespace": SYSTEM_NAMESPACE, "ownerReferences": _owner(machine),
                     "labels": {"kubenode.io/machine": name}},
        "data": {"kubeconfig": base64.b64encode(kubeconfig.encode()).decode()},
    }, SYSTEM_NAMESPACE)
    return kubeconfig
