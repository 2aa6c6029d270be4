"""The Defender as the operator runs it, for the integration tests: a Manager with just the Defender."""

from __future__ import annotations

from typing import Any

from kubenode.client.client import KubeClient
from kubenode.client.resources import NODES
from kubenode.defender.resources import DEFENDER_POLICIES
from kubenode.defender.service import Defender
from kubenode.runtime.manager import Manager


class RunningDefender:
    """`async with RunningDefender(client, **options) as defender`: started on its own Manager (its informers of
    DefenderPolicies and Nodes), stopped on exit. Fast flushes and resyncs for the tests; `options` are the
    Defender's other keyword arguments (recorder, ledger_settings, ...)."""

    def __init__(self, client: KubeClient, **options: Any) -> None:
        self.manager = Manager(client)
        self.defender = Defender(client, self.manager.informers.informer(DEFENDER_POLICIES),
                                 self.manager.informers.informer(NODES), self.manager.registry,
                                 **{"flush_interval": 0.05, "resync_interval": 0.3, **options})
        self.manager.add(self.defender)

    async def __aenter__(self) -> Defender:
        await self.manager.start()
        return self.defender

    async def __aexit__(self, *exc: object) -> None:
        await self.manager.stop()
