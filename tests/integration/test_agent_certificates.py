"""Agent certificates end to end on the in-process server: bootstrap token → CSR → KubeNode's approver → signer.

The approver runs as in the operator (a Manager with its controller, speaking
only the API); the agent side is `agent/identity.py`, the code `kubenode
agent` runs. The server signs with a short maximum validity, so rotation is
observable within seconds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from kubenode.agent import identity
from kubenode.apiserver.server import RunningServer, ServerConfig, start_server
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import CSRS, EVENTS, SECRETS, Resource
from kubenode.machine.bootstrap import AgentEndpoint, ensure_agent_kubeconfig, revoke_bootstrap_token
from kubenode.machine.csr_approver import CSRApprover, csrs_for_machine
from kubenode.machine.resources import MACHINES
from kubenode.runtime.events import EventRecorder
from kubenode.runtime.manager import Manager

from .installer_env import install_node_isolation
from .polling import eventually

WHOAMI = Resource("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", namespaced=False)
MAX_SECONDS = 12


@dataclass
class Env:
    server: RunningServer
    admin: KubeClient
    tmp: Path

    async def machine(self, name: str) -> tuple[dict[str, Any], Path]:
        """A Machine and its bootstrap kubeconfig file, as the Machine controller hands it to the provider."""
        m = await self.admin.create(MACHINES, {"apiVersion": "kubenode.io/v1alpha1", "kind": "Machine",
                                               "metadata": {"name": name},
                                               "spec": {"providerRef": {"name": "local"}}})
        endpoint = AgentEndpoint(self.server.url, self.server.pki.ca_cert.read_bytes())
        text = await ensure_agent_kubeconfig(self.admin, m, endpoint)
        path = self.tmp / name / "bootstrap-kubeconfig"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return await self.admin.get(MACHINES, name), path


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    server = await start_server(ServerConfig(data_dir=tmp_path / "data", port=0, csr_max_seconds=MAX_SECONDS))
    admin = KubeClient(load_config(server.kubeconfig))
    manager = Manager(admin)
    try:
        await install_node_isolation(admin)  # agents and bootstrap tokens: the shipped RBAC and policy alone
        machines = manager.informers.informer(MACHINES)
        csrs = manager.informers.informer(CSRS)
        approver = CSRApprover(admin, csrs, machines, EventRecorder(admin, "kubenode-csr-approver", "test"))
        manager.new_controller("csr-approver", approver).watches(csrs).watches(machines, csrs_for_machine(csrs))
        await manager.start()
        yield Env(server, admin, tmp_path)
    finally:
        await manager.stop()
        await admin.close()
        await server.stop()


async def whoami(client: KubeClient) -> dict[str, Any]:
    body = await client.create(WHOAMI, {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    info: dict[str, Any] = body["status"]["userInfo"]
    return info


def _cert(paths: identity.IdentityPaths) -> x509.Certificate:
    return x509.load_pem_x509_certificate(paths.pem.read_bytes())


async def test_machine_agent_joins_with_its_certificate_and_rotates(env: Env) -> None:
    machine, bootstrap = await env.machine("m1")
    token_id = machine["metadata"]["annotations"]["kubenode.io/bootstrap-token-id"]
    paths = identity.IdentityPaths(env.tmp / "m1" / "kubeconfig", bootstrap)
    await asyncio.wait_for(identity.ensure_identity(paths, "m1", 600), 30)

    (csr,) = [c for c in (await env.admin.list(CSRS))[0]]
    assert csr["spec"]["username"] == f"system:bootstrap:{token_id}"
    approved = [c for c in csr["status"]["conditions"] if c["type"] == "Approved"]
    assert approved and approved[0]["reason"] == "AutoApproved"
    first = _cert(paths)
    assert first.subject.rfc4514_string() == "CN=kubenode:agent:m1,O=kubenode:agents"
    assert paths.pem.stat().st_mode & 0o777 == 0o600 and paths.kubeconfig.stat().st_mode & 0o777 == 0o600

    # a restarted agent reuses its valid certificate: no new CSR
    await identity.ensure_identity(paths, "m1", 600)
    assert len((await env.admin.list(CSRS))[0]) == 1

    # the Machine controller revokes the bootstrap token once the agent has connected
    assert await revoke_bootstrap_token(env.admin, machine)
    with pytest.raises(errors.NotFound):
        await env.admin.get(SECRETS, f"bootstrap-token-{token_id}", "kube-system")

    client = KubeClient(load_config(paths.kubeconfig))
    stop = asyncio.Event()
    rotator = identity.CertificateRotator(client, paths, "m1", 600, retry_seconds=0.5)
    task = asyncio.create_task(rotator.run(stop))
    try:
        assert (await whoami(client))["username"] == "kubenode:agent:m1"

        async def rotated() -> bool:
            return rotator.rotations >= 1

        await eventually(rotated, within=MAX_SECONDS + 10, what="the agent renewing its certificate")
        second = _cert(paths)
        assert second.serial_number != first.serial_number
        renewal = [c for c in (await env.admin.list(CSRS))[0] if c["spec"]["username"] == "kubenode:agent:m1"]
        assert renewal, "the renewal is requested with the agent's own certificate identity"

        async def first_expired() -> bool:
            return time.time() > first.not_valid_after_utc.timestamp() + 0.5

        await eventually(first_expired, within=MAX_SECONDS + 5, what="the first certificate to expire")
        # the same client keeps working: it picked up the rotated certificate
        assert (await whoami(client))["username"] == "kubenode:agent:m1"
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


async def _events_for(admin: KubeClient, name: str) -> list[dict[str, Any]]:
    items, _ = await admin.list(EVENTS, "default")
    return [e for e in items if e["involvedObject"]["name"] == name]


async def _request_as(bootstrap: Path, node: str) -> str:
    _, csr_pem = identity.new_request(node)
    async with KubeClient(load_config(bootstrap)) as c:
        created = await c.create(CSRS, {
            "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"generateName": "probe-"},
            "spec": {"request": base64.b64encode(csr_pem).decode(), "signerName": identity.SIGNER,
                     "usages": list(identity.USAGES)}})
    return str(created["metadata"]["name"])


@pytest.mark.parametrize(("node", "token_of", "reason"), [
    ("ghost", "m1", "NodeNotAMachine"),  # a node that is no Machine
    ("m1", "m2", "RequesterNotMachine"),  # another machine's bootstrap token
])
async def test_foreign_requests_stay_pending(env: Env, node: str, token_of: str, reason: str) -> None:
    _, b1 = await env.machine("m1")
    _, b2 = await env.machine("m2")
    name = await _request_as(b1 if token_of == "m1" else b2, node)

    async def warned() -> list[dict[str, Any]]:
        return [e for e in await _events_for(env.admin, name) if e["reason"] == reason]

    (event,) = await eventually(warned, what=f"a {reason} Warning Event")
    assert event["type"] == "Warning"
    csr = await env.admin.get(CSRS, name)
    assert not (csr.get("status") or {}).get("conditions")
    assert not (csr.get("status") or {}).get("certificate")
    # and its own node's request from the same token is approved (the approver is not simply off)
    own = await _request_as(b2 if token_of == "m2" else b1, token_of)

    async def approved() -> bool:
        conds = ((await env.admin.get(CSRS, own)).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Approved" for c in conds)

    await eventually(approved, what="the legitimate request approved")
    assert not ((await env.admin.get(CSRS, name)).get("status") or {}).get("conditions")
