"""Shared set-up for agent integration tests: the shipped RBAC and policy, agent identities, archives, waits."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import tarfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kubenode.agent.identity import new_request
from kubenode.agent.installer.component_agent import MACHINE_COMPONENTS
from kubenode.agent.installer.layout import ComponentLayout
from kubenode.api.constants import API_VERSION, FINALIZER_MACHINE_COMPONENT, LABEL_MACHINE
from kubenode.apiserver.certificates import sign
from kubenode.apiserver.security import client_ssl_context
from kubenode.apiserver.server import RunningServer, ServerConfig, start_server
from kubenode.client.client import KubeClient
from kubenode.client.config import ClientConfig, load_config
from kubenode.client.kinds import MACHINE_COMPONENT_SETS
from kubenode.demo.artifacts import Artifact, build_archive
from kubenode.demo.start import template

Obj = dict[str, Any]
#: The machine an `agent_env` agent runs for, and the component its MachineComponentSet is for.
MACHINE = "m1"
COMPONENT = "node-exporter"
FAST_HEALTH = {"exec": {"command": ["bin/check"]}, "initialDelaySeconds": 0, "periodSeconds": 1,
               "timeoutSeconds": 3, "failureThreshold": 2}


def agent_client(server: RunningServer, token: str) -> KubeClient:
    """A client that authenticates as an agent."""
    return KubeClient(ClientConfig(server=server.url, ssl_context=client_ssl_context(server.pki.ca_cert),
                                   token=token, max_retries=1))


async def install_node_isolation(admin: KubeClient) -> None:
    """What `kubenode up` installs as the admin before agents run: CRDs, the node-isolation policy, RBAC."""
    from kubenode.controlplane.admission_install import install_admission_policies
    from kubenode.controlplane.rbac_install import install_rbac
    from kubenode.controlplane.up import install_crds
    from kubenode.machine.bootstrap import ensure_system_namespace

    await install_crds(admin)
    await install_admission_policies(admin)
    await ensure_system_namespace(admin)
    await install_rbac(admin)


def agent_certificate(server: RunningServer, node: str, directory: Path) -> tuple[Path, Path]:
    """The client certificate the server's signer issues for an approved CSR of `node`'s agent (cert, key).

    Signed directly with the CA (the approval flow itself is tested in test_agent_certificates.py), so
    that agent tests authenticate exactly as agents do: CN=kubenode:agent:<node>, O=kubenode:agents.
    """
    key_pem, csr_pem = new_request(node)
    ca_cert = x509.load_pem_x509_certificate(server.pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(server.pki.ca_key.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    cert = sign(x509.load_pem_x509_csr(csr_pem), ["digital signature", "client auth"], ca_cert, ca_key, 3600,
                dt.datetime.now(dt.UTC))
    directory.mkdir(parents=True, exist_ok=True)
    crt, key = directory / f"{node}.crt", directory / f"{node}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(key_pem)
    key.chmod(0o600)
    return crt, key


def agent_cert_client(server: RunningServer, node: str, directory: Path) -> KubeClient:
    """A client that authenticates as `node`'s agent with its client certificate."""
    crt, key = agent_certificate(server, node, directory)
    ssl = client_ssl_context(server.pki.ca_cert)
    ssl.load_cert_chain(str(crt), str(key))
    return KubeClient(ClientConfig(server=server.url, ssl_context=ssl, client_cert_file=str(crt),
                                   client_key_file=str(key), max_retries=1))


def demo_archives(directory: Path) -> dict[str, Artifact]:
    """The demo exporter's 1.0.0, 1.1.0 and (unhealthy) 1.2.0."""
    return {v: build_archive(directory, v, ok) for v, ok in (("1.0.0", True), ("1.1.0", True), ("1.2.0", False))}


def spec_for(artifact: Artifact, url: str | None = None, **overrides: Any) -> Obj:
    """A MachineComponent template for a demo archive (fast health checks)."""
    t = template(artifact, url or artifact.path.as_uri())
    t["healthCheck"] = dict(FAST_HEALTH)
    t.update(overrides)
    return t


def machine_component(name: str, machine: str, component: str, tmpl: Obj, owner: Obj | None = None) -> Obj:
    """A MachineComponent object as the MachineComponentSet controller would create it (controlled by `owner`)."""
    meta: Obj = {"name": name, "labels": {LABEL_MACHINE: machine, "kubenode.io/component": component}}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": API_VERSION, "kind": "MachineComponentSet",
                                    "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                    "controller": True, "blockOwnerDeletion": True}]
    return {"apiVersion": API_VERSION, "kind": "MachineComponent", "metadata": meta,
            "spec": {"machineName": machine, "component": component, **tmpl}}


def raw_archive(members: list[tuple[str, bytes | None, str]]) -> bytes:
    """A tar.gz with (name, data or None for a dir, linkname for a symlink) members."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tar.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o755
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


async def eventually(check: Callable[[], Awaitable[Any]], within: float, what: str, every: float = 0.1) -> Any:
    """Poll the async ``check`` until it returns something truthy; fail with ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")


def has_finalizer(obj: Obj) -> bool:
    """Whether the agent's finalizer is on the object."""
    return FINALIZER_MACHINE_COMPONENT in (obj["metadata"].get("finalizers") or [])


@dataclass
class AgentEnv:
    """A running server, its admin, the agent of MACHINE (with its certificate), the machine's root, the demo
    archives, the test's directory, and the MachineComponentSet that controls the test's MachineComponents
    (the agent acts only on those)."""

    server: RunningServer
    admin: KubeClient
    agent: KubeClient
    root: Path
    artifacts: dict[str, Artifact]
    tmp: Path
    owner: Obj

    def machine_component(self, name: str, machine: str, component: str, tmpl: Obj) -> Obj:
        return machine_component(name, machine, component, tmpl, owner=self.owner)

    def layout(self) -> ComponentLayout:
        return ComponentLayout(self.root, COMPONENT)

    async def mc(self, name: str = "mc1") -> Obj:
        return await self.admin.get(MACHINE_COMPONENTS, name)

    async def status_where(self, name: str, what: str, within: float = 30.0, **expected: Any) -> Obj:
        async def check() -> Obj | None:
            st = (await self.mc(name)).get("status") or {}
            return st if all(st.get(k) == v for k, v in expected.items()) else None
        result: Obj = await eventually(check, within, what)
        return result


@contextlib.asynccontextmanager
async def agent_env(tmp_path: Path) -> AsyncIterator[AgentEnv]:
    """A fresh server under `tmp_path` set up as `kubenode up` does, with an agent identity for MACHINE."""
    server = await start_server(ServerConfig(data_dir=tmp_path / "data", port=0))
    admin = KubeClient(load_config(server.kubeconfig))
    agent: KubeClient | None = None
    try:
        # The agent works under the shipped RBAC and node-isolation policy alone, with its certificate.
        await install_node_isolation(admin)
        agent = agent_cert_client(server, MACHINE, tmp_path / "agent-pki")
        artifacts = demo_archives(tmp_path / "artifacts")
        owner = await admin.create(MACHINE_COMPONENT_SETS, {
            "apiVersion": API_VERSION, "kind": "MachineComponentSet", "metadata": {"name": COMPONENT},
            "spec": {"component": COMPONENT, "selector": {"matchLabels": {"none": "none"}},
                     "template": spec_for(artifacts["1.0.0"])}})
        yield AgentEnv(server, admin, agent, tmp_path / "machines" / MACHINE, artifacts, tmp_path, owner)
    finally:
        if agent is not None:
            await agent.close()
        await admin.close()
        await server.stop()
