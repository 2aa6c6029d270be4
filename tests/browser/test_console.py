"""The console in a real browser: Playwright driving Debian's Chromium (headless) against the embedded API server.

The API server runs in-process on a free port, the console in front of it
over TLS with the server's certificate; the browser signs in with real
bearer tokens (the admin's, and a read-only ServiceAccount's). The tests
write the screenshots that docs/console.md shows.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright import async_api as playwright_api

from kubenode.apiserver.security import server_ssl_context
from kubenode.apiserver.server import RunningServer, ServerConfig, start_server
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import NODES, Resource
from kubenode.console import RunningConsole, start_console
from kubenode.controlplane.up import install_crds
from kubenode.machine.bootstrap import ensure_system_namespace
from kubenode.runtime.conditions import now_rfc3339

CHROMIUM = os.environ.get("KUBENODE_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"
MACHINES = Resource("kubenode.io", "v1alpha1", "machines", "Machine", namespaced=False)
MCS = Resource("kubenode.io", "v1alpha1", "machinecomponentsets", "MachineComponentSet", namespaced=False)
SA = Resource("", "v1", "serviceaccounts", "ServiceAccount", namespaced=True)
CLUSTER_ROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False)
BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False)


@dataclass
class Env:
    server: RunningServer
    console: RunningConsole
    admin: KubeClient
    browser: Any
    viewer_token: str


def machine(name: str, address: str = "192.0.2.10") -> dict[str, Any]:
    return {"apiVersion": "kubenode.io/v1alpha1", "kind": "Machine", "metadata": {"name": name},
            "spec": {"import": {"address": address}}}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    # A long node grace: the nodes these tests create have no kubelet renewing a Lease.
    server = await start_server(ServerConfig(data_dir=tmp_path / "data", port=0, node_grace_seconds=3600))
    admin = KubeClient(load_config(server.kubeconfig))
    console = None
    pw = None
    try:
        await install_crds(admin)
        await ensure_system_namespace(admin)
        await admin.create(SA, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer"}},
                           "default")
        await admin.create(CLUSTER_ROLES, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                                           "metadata": {"name": "kubenode-viewer"}, "rules": [
                                               {"apiGroups": ["", "kubenode.io"], "resources": ["*"],
                                                "verbs": ["get", "list", "watch"]}]})
        await admin.create(BINDINGS, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                                      "metadata": {"name": "kubenode-viewer"},
                                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                  "name": "kubenode-viewer"},
                                      "subjects": [{"kind": "ServiceAccount", "name": "viewer",
                                                    "namespace": "default"}]})
        viewer = (await admin.create_token("default", "viewer")).token
        console = await start_console(load_config(server.kubeconfig), server_ssl_context(server.pki))
        pw = await playwright_api.async_playwright().start()
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield Env(server, console, admin, browser, viewer)
        await browser.close()
    finally:
        if pw is not None:
            await pw.stop()
        if console is not None:
            await console.stop()
        await admin.close()
        await server.stop()


async def signed_in(env: Env, token: str) -> Any:
    ctx = await env.browser.new_context(ignore_https_errors=True, viewport={"width": 1200, "height": 700})
    page = await ctx.new_page()
    await page.goto(env.console.url + "/login")
    await page.fill("input[name=token]", token)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#overview")
    return page


async def test_sign_in_and_401_without_credentials(env: Env) -> None:
    ctx = await env.browser.new_context(ignore_https_errors=True)
    page = await ctx.new_page()
    resp = await page.goto(env.console.url + "/machines")
    assert resp.status == 401
    assert "sign in required" in await page.content()
    await page.goto(env.console.url + "/login")
    await page.fill("input[name=token]", "not-a-token")
    await page.click("button[type=submit]")
    assert "sign-in refused by the API server" in await page.inner_text("[role=alert]")
    page = await signed_in(env, env.server.admin_token)
    assert "Sign out" in await page.inner_text("nav")
    await page.screenshot(path=str(SHOTS / "console-overview.png"))


async def test_overview_numbers_equal_the_api(env: Env) -> None:
    now = now_rfc3339()
    for n, ready in (("n1", "True"), ("n2", "True"), ("n3", "False")):
        await env.admin.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}})
        await env.admin.patch_status(NODES, n, {"status": {"conditions": [
            {"type": "Ready", "status": ready, "reason": "Test", "message": "",
             "lastHeartbeatTime": now, "lastTransitionTime": now}]}})
    await env.admin.create(MACHINES, machine("m1"))
    page = await signed_in(env, env.server.admin_token)
    nodes, _ = await env.admin.list(NODES)
    api_ready = sum(1 for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                            for c in (n.get("status") or {}).get("conditions") or []))
    assert api_ready == 2
    assert int(await page.inner_text("[data-k=nodes-ready]")) == api_ready
    assert int(await page.inner_text("[data-k=nodes-notready]")) == len(nodes) - api_ready
    assert int(await page.inner_text("[data-k=remediations]")) == 0


async def test_rollout_progress_updates_live(env: Env) -> None:
    await env.admin.create(MCS, {"apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponentSet",
                                 "metadata": {"name": "exporter"}, "spec": {
                                     "component": "exporter", "selector": {},
                                     "template": {"version": "1.1.0", "source": {"package": {"name": "x"}}}}})
    page = await signed_in(env, env.server.admin_token)
    await page.goto(env.console.url + "/rollouts")
    await page.wait_for_function("document.querySelector('#rollouts').dataset.updates >= 1")
    for ready in (1, 2):
        await env.admin.patch_status(MCS, "exporter", {"status": {"phase": "Progressing", "desired": 3,
                                                                  "ready": ready, "currentBatch": ready,
                                                                  "totalBatches": 3}})
        # No reload: the Server-Sent Events stream (a watch) replaces the table.
        await page.wait_for_function(f"document.querySelector('#sets .ready').textContent === '{ready}'")
    assert await page.inner_text("#sets .phase") == "Progressing"
    await page.screenshot(path=str(SHOTS / "console-rollouts.png"))


async def test_import_shows_the_api_message_and_creates_the_machine(env: Env) -> None:
    page = await signed_in(env, env.server.admin_token)
    await page.goto(env.console.url + "/import")
    await page.fill("input[name=name]", "edge-1")
    await page.fill("input[name=address]", "192.0.2.20")
    await page.fill("input[name=port]", "70000")
    await page.fill("textarea[name=key]", "-----BEGIN OPENSSH PRIVATE KEY-----\ntest\n")
    await page.click("#import button[type=submit]")
    cause = page.locator("li.cause[data-field='spec.import.port']")
    assert "65535" in await cause.inner_text()
    await page.screenshot(path=str(SHOTS / "console-import-error.png"))
    machines, _ = await env.admin.list(MACHINES)
    assert machines == []  # a bad field creates nothing (the Machine is validated first)
    await page.fill("input[name=port]", "22")
    await page.fill("textarea[name=key]", "-----BEGIN OPENSSH PRIVATE KEY-----\ntest\n")
    await page.click("#import button[type=submit]")
    assert "machine edge-1 created" in await page.inner_text("[role=status]")
    m = await env.admin.get(MACHINES, "edge-1")
    assert m["spec"]["import"] == {"address": "192.0.2.20", "port": 22, "user": "root",
                                   "sshSecretRef": {"name": "ssh-edge-1", "namespace": "kubenode-system"}}


async def test_an_admin_action_is_refused_for_a_read_only_user(env: Env) -> None:
    await env.admin.create(MACHINES, machine("m1"))
    page = await signed_in(env, env.viewer_token)
    await page.goto(env.console.url + "/machines?phase=")
    assert "m1" in await page.inner_text("#machines")
    await page.click("#machines a")
    await page.click("#delete button")
    alert = await page.inner_text("[role=alert]")
    assert "forbidden" in alert.lower()
    await page.screenshot(path=str(SHOTS / "console-refused.png"))
    assert (await env.admin.get(MACHINES, "m1"))["metadata"].get("deletionTimestamp") is None
    # A form without the session's CSRF token is refused before anything is sent to the API.
    resp = await page.request.post(env.console.url + "/machines/m1/delete", form={"csrf": "forged"})
    assert resp.status == 403
    await asyncio.sleep(0)
