"""A stand-in agent that is killed in the middle of an upgrade (run as a child process by the tests).

Usage: python -m tests.integration.installer_crash ROOT STEP URL_1 SHA_1 URL_2 SHA_2

Installs version 1.0.0 from (URL_1, SHA_1), then upgrades to 1.1.0 from
(URL_2, SHA_2) and exits abruptly with code 137 — as if SIGKILLed — right
after journal step STEP. Its component processes are left running, exactly
as a killed agent leaves them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from kubenode.agent.installer.plan import Desired
from kubenode.agent.installer.transaction import ComponentHandle
from kubenode.api.constants import FINALIZER_MACHINE_COMPONENT

HEALTH = {"exec": {"command": ["bin/check"]}, "periodSeconds": 1, "timeoutSeconds": 3, "failureThreshold": 2}


def desired(version: str, url: str, sha: str) -> Desired:
    return Desired.from_object({
        "metadata": {"name": "mc1", "generation": 1, "finalizers": [FINALIZER_MACHINE_COMPONENT]},
        "spec": {"component": "node-exporter", "version": version, "source": {"url": url, "sha256": sha},
                 "run": {"command": ["bin/node-exporter"]}, "healthCheck": HEALTH, "disruption": "Restart"}})


async def main(root: Path, step: str, url1: str, sha1: str, url2: str, sha2: str) -> None:
    first = ComponentHandle(root, "node-exporter", "m1")
    outcome = await first.install(desired("1.0.0", url1, sha1))
    assert outcome.ok, outcome

    def crash(name: str) -> None:
        if name == step:
            os._exit(137)

    upgrade = ComponentHandle(root, "node-exporter", "m1", failpoint=crash)
    upgrade.service = first.service  # the same agent process: it supervises the running 1.0.0
    await upgrade.install(desired("1.1.0", url2, sha2))
    os._exit(3)  # the failpoint was never reached


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), *sys.argv[2:7]))
