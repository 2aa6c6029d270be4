"""The kubelet's TLS bootstrap on an imported host: what goes where, and the kubeconfig it reads.

An imported host becomes a Kubernetes node the way `kubeadm join` makes one:
the kubelet starts with `--bootstrap-kubeconfig /etc/kubernetes/bootstrap-kubelet.conf`
(a bootstrap token, the API server's URL and the cluster CA), generates a key,
requests a client certificate (`kubernetes.io/kube-apiserver-client-kubelet`,
`CN=system:node:<node>`, `O=system:nodes`) with that token and, once it is
approved and signed, talks to the API server as `system:node:<node>`.

KubeNode puts those two files on the host (the CA at `/etc/kubernetes/pki/ca.crt`,
kubeadm's path, and the bootstrap kubeconfig, mode 0600); its CSR approver
(`machine/csr_approval.py`) approves the kubelet's request only when it is made
with the token issued for *that* imported Machine (annotation
`kubenode.io/kubelet-bootstrap-token-id`). The kubelet and the container runtime
themselves are MachineComponents (docs/deploy.md, deploy/examples/).

The token is the kubelet's own, separate from the agent's bootstrap token (which
is revoked as soon as the agent has its certificate, usually before a kubelet
is even installed); it lives as long as kubeadm's default, 24 h, and goes with
the Machine (owner reference). This module only renders: the token is minted
through the API by the operator (`controlplane/kubelet_join.py`).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml

from .base import Obj

#: kubeadm's paths of the cluster CA and the kubelet's bootstrap kubeconfig, relative to the host's root.
KUBELET_CA = "etc/kubernetes/pki/ca.crt"
KUBELET_BOOTSTRAP_KUBECONFIG = "etc/kubernetes/bootstrap-kubelet.conf"
#: The Machine annotation naming the kubelet's bootstrap token (written by the operator only).
ANNOTATION_KUBELET_TOKEN_ID = "kubenode.io/kubelet-bootstrap-token-id"
#: The extra group of KubeNode's kubelet bootstrap tokens (kube's pattern system:bootstrappers:...).
KUBELET_TOKEN_GROUP = "system:bootstrappers:kubenode:kubelets"
#: How long an unused kubelet bootstrap token stays valid: kubeadm's default token TTL.
KUBELET_TOKEN_TTL_SECONDS = 24 * 3600
#: The user and cluster names kubeadm writes into bootstrap-kubelet.conf.
_USER = "tls-bootstrap-token-user"
_CLUSTER = "kubernetes"


@dataclass(frozen=True)
class KubeletJoin:
    """What an imported host gets for its kubelet: the cluster CA and the bootstrap kubeconfig."""

    ca_pem: bytes
    kubeconfig: str


#: Mints (or hands out again, while valid) the kubelet bootstrap of one Machine.
KubeletJoinSource = Callable[[Obj], Awaitable[KubeletJoin]]


def bootstrap_kubelet_kubeconfig(server: str, ca_pem: bytes, token: str) -> str:
    """bootstrap-kubelet.conf as kubeadm writes it: the CA embedded, the bootstrap token as the credential."""
    if not ca_pem:
        raise ValueError("the kubelet's bootstrap kubeconfig needs the cluster CA")
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": _CLUSTER, "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "contexts": [{"name": f"{_USER}@{_CLUSTER}", "context": {"cluster": _CLUSTER, "user": _USER}}],
        "current-context": f"{_USER}@{_CLUSTER}",
        "preferences": {},
        "users": [{"name": _USER, "user": {"token": token}}],
    }, sort_keys=False)


def host_path(host_root: str, relative: str) -> str:
    """`relative` under the host's root directory (`/` on a real host)."""
    return str(PurePosixPath(host_root, relative))
