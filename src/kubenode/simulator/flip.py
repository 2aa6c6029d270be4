"""`kubenode simulate flip`: set a Node condition on a selection of nodes, through the API.

Independent of a running simulator (it only lists Nodes by label and patches
their status), so it flips conditions on hollow nodes, local machines or a
test cluster's nodes alike. A strategic merge patch sets only the one
condition; the simulator's own status posts keep it (they merge by type too).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Any

from kubenode.client.client import KubeClient
from kubenode.client.resources import NODES
from kubenode.runtime.conditions import now_rfc3339

from .faults import PROBLEM_REASONS
from .profile import HEALTHY_CONDITIONS, condition

Obj = dict[str, Any]
FIELD_MANAGER = "kubenode-simulator"
_SETTING = re.compile(r"^(?P<type>[A-Za-z][A-Za-z0-9]*)=(?P<status>True|False|Unknown)$")
_HEALTHY = {t: r for t, r, _ in HEALTHY_CONDITIONS}


@dataclass(frozen=True)
class Flip:
    """Which condition to set to what."""

    type: str
    status: str
    reason: str

    @staticmethod
    def parse(text: str, reason: str = "") -> Flip:
        """`KernelDeadlock=True` → Flip; ValueError says what to write."""
        m = _SETTING.match(text.strip())
        if m is None:
            raise ValueError(f"condition {text!r}: expected TYPE=True|False|Unknown, e.g. KernelDeadlock=True")
        if m["type"] == "Ready":
            raise ValueError("Ready is the node's heartbeat (its agent re-posts it); flip a problem condition")
        default = (PROBLEM_REASONS.get(m["type"], "Simulated") if m["status"] == "True"
                   else _HEALTHY.get(m["type"], "NoProblem"))
        return Flip(m["type"], m["status"], reason or default)


def pick(names: list[str], *, count: int | None, percent: float | None, seed: int | None) -> list[str]:
    """The nodes to flip: all, `count` of them or `percent` % (rounded up); random with a seed, else first by name."""
    ordered = sorted(names)
    if count is None and percent is None:
        return ordered
    n = count if count is not None else math.ceil(len(ordered) * (percent or 0.0) / 100 - 1e-9)
    n = max(0, min(n, len(ordered)))
    if seed is None:
        return ordered[:n]
    return sorted(random.Random(seed).sample(ordered, n))


async def flip(client: KubeClient, setting: Flip, selector: str, *, count: int | None = None,
               percent: float | None = None, seed: int | None = None, message: str = "") -> list[str]:
    """Set the condition on the chosen nodes matching `selector`; returns their names."""
    nodes, _rv = await client.list(NODES, label_selector=selector or None, limit=1000)
    names = [n["metadata"]["name"] for n in nodes]
    chosen = pick(names, count=count, percent=percent, seed=seed)
    now = now_rfc3339()
    cond = condition(setting.type, setting.status, setting.reason,
                     message or f"set by kubenode simulate flip ({setting.type}={setting.status})", now)
    for name in chosen:
        await client.patch(NODES, name, {"status": {"conditions": [cond]}}, subresource="status",
                           patch_type="strategic", field_manager=FIELD_MANAGER)
    return chosen
