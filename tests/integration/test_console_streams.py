"""The console's live views: which watches wake the rollouts page (against the embedded server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kubenode.apiserver.server import RunningServer
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import Resource
from kubenode.console.app import MACHINE_COMPONENT_SETS, RELEASES, _changes
from kubenode.controlplane.up import install_crds

RELEASE = {"apiVersion": "kubenode.io/v1alpha1", "kind": "ComponentRelease", "metadata": {"name": "r1"},
           "spec": {"component": "node-exporter", "selector": {},
                    "template": {"component": "node-exporter", "version": "1.0.0",
                                 "source": {"url": "https://example.invalid/a.tgz", "sha256": "0" * 64}},
                    "stages": [{"name": "test", "clusterSelector": {"matchLabels": {"kubenode.io/stage": "test"}}}]}}


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[KubeClient]:
    async with KubeClient(load_config(server.kubeconfig)) as c:
        await install_crds(c)
        yield c


async def next_wake(it: AsyncIterator[None], within: float = 20.0) -> None:
    await asyncio.wait_for(it.__anext__(), within)


async def test_a_release_change_wakes_the_rollouts_stream(client: KubeClient) -> None:
    it = _changes(client, MACHINE_COMPONENT_SETS, optional=(RELEASES,))
    try:
        await next_wake(it)  # the first render
        created = await client.create(RELEASES, RELEASE)
        await next_wake(it)
        created["spec"]["paused"] = True
        await client.replace(RELEASES, created)
        await next_wake(it)
    finally:
        await it.aclose()  # type: ignore[attr-defined]


async def test_an_unserved_optional_resource_is_not_followed(client: KubeClient) -> None:
    missing = Resource("nothing.example.com", "v1", "ghosts", "Ghost", namespaced=False)
    it = _changes(client, MACHINE_COMPONENT_SETS, optional=(missing,))
    try:
        await next_wake(it)
        await client.create(MACHINE_COMPONENT_SETS, {
            "apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponentSet", "metadata": {"name": "s1"},
            "spec": {"component": "node-exporter", "selector": {"matchLabels": {"none": "none"}},
                     "template": {"component": "node-exporter", "version": "1.0.0",
                                  "source": {"url": "https://example.invalid/a.tgz", "sha256": "0" * 64}}}})
        await next_wake(it)
    finally:
        await it.aclose()  # type: ignore[attr-defined]


async def test_an_unserved_required_resource_ends_the_stream_with_its_error(client: KubeClient) -> None:
    missing = Resource("nothing.example.com", "v1", "ghosts", "Ghost", namespaced=False)
    it = _changes(client, missing)
    try:
        await next_wake(it)
        with pytest.raises(errors.ApiError):
            await next_wake(it)
    finally:
        await it.aclose()  # type: ignore[attr-defined]
