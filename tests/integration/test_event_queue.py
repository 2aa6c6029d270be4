"""EventQueue against the embedded server: queued Events all land, in order, aggregated as before."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kubenode.apiserver.server import RunningServer
from kubenode.client import EVENTS, KubeClient, load_config
from kubenode.runtime.events import EventQueue, EventRecorder


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[KubeClient]:
    async with KubeClient(load_config(server.kubeconfig)) as c:
        yield c


async def test_queued_events_are_all_sent_by_a_draining_stop(client: KubeClient) -> None:
    q = EventQueue(EventRecorder(client, "kubenode-test", "here"))
    await q.start()
    objs = [{"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": f"cm-{i}", "namespace": "default", "uid": f"uid-{i}"}} for i in range(40)]
    for obj in objs:
        await q.event(obj, "Normal", "Queued", f"about {obj['metadata']['name']}")
    await q.event(objs[0], "Normal", "Queued", "about cm-0")  # the same again: aggregated, count 2
    await q.stop(drain=True)
    items, _ = await client.list(EVENTS, "default")
    mine = [e for e in items if e.get("reason") == "Queued"]
    assert sorted(e["involvedObject"]["name"] for e in mine) == sorted(o["metadata"]["name"] for o in objs)
    counts = {e["involvedObject"]["name"]: e["count"] for e in mine}
    assert counts["cm-0"] == 2 and all(n == 1 for name, n in counts.items() if name != "cm-0")
    assert {e["source"]["component"] for e in mine} == {"kubenode-test"}
    # Sent in the order recorded: the Events' times never go backwards in recording order.
    times = [next(e["eventTime"] for e in mine if e["involvedObject"]["name"] == f"cm-{i}") for i in range(40)]
    assert times == sorted(times)
