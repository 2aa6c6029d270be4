"""An imported host's kubelet joins: its bootstrap token → a CSR exactly as kubelet sends it → approved → signed.

On the in-process embedded server with the shipped RBAC: the kubelet bootstrap source
(`controlplane/kubelet_join.py`, what SSH import writes to the host) and KubeNode's CSR approver both act
with the operator ServiceAccount's token, so a right the shipped ClusterRole lacks (`approve` on the
kubelet signer, the token Secret, the Machine annotation) would fail here as a 403. The kubelet side is
`tests/kubelet_csr.py`, the request of kubelet's `requestNodeCertificate`.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kubenode.api.rbac import OPERATOR, SYSTEM_NAMESPACE
from kubenode.apiserver.server import RunningServer, ServerConfig, start_server
from kubenode.client.client import KubeClient
from kubenode.client.config import config_from_kubeconfig_text, load_config
from kubenode.client.resources import CSRS, EVENTS, SECRETS, Resource
from kubenode.controlplane.kubelet_join import kubelet_join_source
from kubenode.machine.bootstrap import AgentEndpoint, ensure_agent_kubeconfig
from kubenode.machine.csr_approver import CSRApprover, csrs_for_machine
from kubenode.machine.resources import MACHINES
from kubenode.providers.kubelet_join import KubeletJoin, KubeletJoinSource
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.manager import Manager

from ..kubelet_csr import kubelet_csr
from .installer_env import install_node_isolation
from .kube import Kube
from .polling import eventually

CLUSTER_ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding",
                                 namespaced=False)
WHOAMI = Resource("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", namespaced=False)
Obj = dict[str, Any]


@dataclass
class Env:
    server: RunningServer
    admin: KubeClient
    join: KubeletJoinSource

    async def machine(self, name: str, *, imported: bool = True) -> Obj:
        spec: Obj = ({"import": {"address": "192.0.2.10", "user": "root",
                                 "sshSecretRef": {"name": "host-key", "namespace": SYSTEM_NAMESPACE}}}
                     if imported else {"providerRef": {"name": "local"}})
        return await self.admin.create(MACHINES, {"apiVersion": "kubenode.io/v1alpha1", "kind": "Machine",
                                                  "metadata": {"name": name}, "spec": spec})


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    server = await start_server(ServerConfig(data_dir=tmp_path / "data", port=0))
    admin = KubeClient(load_config(server.kubeconfig))
    operator: KubeClient | None = None
    manager: Manager | None = None
    try:
        await install_node_isolation(admin)
        issued = await admin.create_token(SYSTEM_NAMESPACE, OPERATOR)
        operator = KubeClient(dataclasses.replace(load_config(server.kubeconfig), token=issued.token))
        manager = Manager(operator)
        machines = manager.informers.informer(MACHINES)
        csrs = manager.informers.informer(CSRS)
        approver = CSRApprover(operator, csrs, machines, EventRecorder(operator, "kubenode-csr-approver", "test"))
        manager.new_controller("csr-approver", approver).watches(csrs).watches(machines, csrs_for_machine(csrs))
        await manager.start()
        endpoint = AgentEndpoint(server.url, server.pki.ca_cert.read_bytes())
        yield Env(server, admin, kubelet_join_source(operator, endpoint))
    finally:
        if manager is not None:
            await manager.stop()
        if operator is not None:
            await operator.close()
        await admin.close()
        await server.stop()


def _token(join: KubeletJoin) -> str:
    doc = yaml.safe_load(join.kubeconfig)
    return str(doc["users"][0]["user"]["token"])


async def _post(kubeconfig: str, obj: Obj) -> str:
    async with KubeClient(config_from_kubeconfig_text(kubeconfig)) as c:
        created = await c.create(CSRS, obj)
    return str(created["metadata"]["name"])


async def _issued(admin: KubeClient, name: str) -> Obj:
    async def check() -> Obj | None:
        csr = await admin.get(CSRS, name)
        return csr if (csr.get("status") or {}).get("certificate") else None

    result: Obj = await eventually(check, what=f"CSR {name} approved and signed")
    return result


def _cert_kubeconfig(server: RunningServer, cert_pem: bytes, key: ec.EllipticCurvePrivateKey) -> str:
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    b64 = base64.b64encode
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server.url,
                                               "certificate-authority-data": b64(
                                                   server.pki.ca_cert.read_bytes()).decode()}}],
        "users": [{"name": "kubelet", "user": {"client-certificate-data": b64(cert_pem).decode(),
                                               "client-key-data": b64(key_pem).decode()}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "kubelet"}}], "current-context": "c"})


async def test_an_imported_machines_kubelet_joins_and_renews(env: Env) -> None:
    m1 = await env.machine("m1")
    join = await env.join(m1)
    assert join.ca_pem == env.server.pki.ca_cert.read_bytes()
    token_id = _token(join).split(".")[0]
    stored = await env.admin.get(MACHINES, "m1")
    assert stored["metadata"]["annotations"]["kubenode.io/kubelet-bootstrap-token-id"] == token_id
    secret = await env.admin.get(SECRETS, f"bootstrap-token-{token_id}", "kube-system")
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == m1["metadata"]["uid"]
    assert (await env.join(stored)) == join  # handed out again while valid: a repeated import changes nothing

    key, obj = kubelet_csr("m1")
    name = await _post(join.kubeconfig, obj)
    assert name.startswith("node-csr-")
    csr = await _issued(env.admin, name)
    assert csr["spec"]["username"] == f"system:bootstrap:{token_id}"
    assert "system:bootstrappers:kubenode:kubelets" in csr["spec"]["groups"]
    approved = next(c for c in csr["status"]["conditions"] if c["type"] == "Approved")
    assert approved["reason"] == "AutoApproved" and "m1" in approved["message"]
    cert_pem = base64.b64decode(csr["status"]["certificate"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.subject.rfc4514_string() == "CN=system:node:m1,O=system:nodes"

    # The certificate authenticates as the node, in system:nodes (what the Node authorizer keys on).
    as_node = _cert_kubeconfig(env.server, cert_pem, key)
    async with KubeClient(config_from_kubeconfig_text(as_node)) as c:
        review = await c.create(WHOAMI, {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    info = review["status"]["userInfo"]
    assert info["username"] == "system:node:m1"
    assert "system:nodes" in info["groups"]

    # Renewal: the kubelet asks with its current certificate (newer kubelets: no key encipherment for EC keys).
    # On a real cluster the Node authorizer lets system:nodes create CSRs; the embedded server has RBAC only,
    # so the test grants the same through the CSR-only bootstrapper role.
    await env.admin.create(CLUSTER_ROLE_BINDINGS, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "test-nodes-request-certificates"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubenode-bootstrapper"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}]})
    key2, renewal = kubelet_csr("m1", with_key_encipherment=False)
    renewed = await _issued(env.admin, await _post(as_node, renewal))
    assert renewed["spec"]["username"] == "system:node:m1"
    assert key2 is not key


async def _events_for(admin: KubeClient, name: str) -> list[Obj]:
    items, _ = await admin.list(EVENTS, "default")
    return [e for e in items if e["involvedObject"]["name"] == name]


@pytest.mark.parametrize(("node", "requester", "reason"), [
    ("ghost", "m1-kubelet", "NodeNotAMachine"),  # a node that is no Machine
    ("m2", "m1-kubelet", "RequesterNotMachine"),  # another imported machine's kubelet token
    ("m1", "m1-agent", "RequesterNotMachine"),  # the machine's agent bootstrap token is not its kubelet's
    ("local", "m1-kubelet", "MachineNotImported"),  # a Machine KubeNode built, not imported
])
async def test_other_kubelet_requests_stay_pending(env: Env, node: str, requester: str, reason: str) -> None:
    m1 = await env.machine("m1")
    m2 = await env.machine("m2")
    await env.machine("local", imported=False)
    kubeconfigs = {"m1-kubelet": (await env.join(m1)).kubeconfig, "m2-kubelet": (await env.join(m2)).kubeconfig,
                   "m1-agent": await ensure_agent_kubeconfig(
                       env.admin, await env.admin.get(MACHINES, "m1"),
                       AgentEndpoint(env.server.url, env.server.pki.ca_cert.read_bytes()))}
    _, obj = kubelet_csr(node)
    name = await _post(kubeconfigs[requester], obj)

    async def warned() -> list[Obj]:
        return [e for e in await _events_for(env.admin, name) if e["reason"] == reason]

    (event,) = await eventually(warned, what=f"a {reason} Warning Event")
    assert event["type"] == "Warning"
    # the legitimate join of m2 is approved meanwhile (the approver is not simply off) ...
    _, own = kubelet_csr("m2")
    await _issued(env.admin, await _post(kubeconfigs["m2-kubelet"], own))
    # ... and the foreign request is still undecided, never denied
    csr = await env.admin.get(CSRS, name)
    assert not (csr.get("status") or {}).get("conditions")
    assert not (csr.get("status") or {}).get("certificate")


@pytest.mark.parametrize(("path", "body", "status"), [
    # kube: "We don't care what you call your certificate requests" (kubelets: node-csr-<base64url digest>)
    ("/apis/certificates.k8s.io/v1/certificatesigningrequests", {"metadata": {"name": "node-csr-AbC_d-9"}}, 201),
    ("/apis/certificates.k8s.io/v1/certificatesigningrequests", {"metadata": {"name": "a/b"}}, 422),
    # v1 Events get legacy validation only (client-go names them <involved object>.<hex time>)
    ("/api/v1/namespaces/default/events", {"metadata": {"name": "node-csr-AbC_d.18ed8a44"},
                                           "involvedObject": {"kind": "CertificateSigningRequest",
                                                              "name": "node-csr-AbC_d"}}, 201),
    # everything else keeps DNS-subdomain names
    ("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "node-csr-AbC_d"}}, 422),
])
async def test_names_kube_accepts(kube: Kube, path: str, body: Obj, status: int) -> None:
    if "certificatesigningrequests" in path:
        _, csr = kubelet_csr("n1")
        body = {**csr, "metadata": body["metadata"]}
    r = await kube.post(path, body)
    assert r.status == status, r
