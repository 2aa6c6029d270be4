"""Fault injection for hollow nodes: `--faults "KernelDeadlock:1%/10m,ReadonlyFilesystem:3"`.

One fault is ``TYPE[=REASON]:AMOUNT[/PERIOD]``: AMOUNT is a count (``3``)
or a percentage of the simulated nodes (``1%``, ``0.5%``; rounded up,
at least one); with PERIOD (a Go duration: ``30s``, ``10m``, ``1h``) that
many more nodes get the fault every PERIOD, without it once at start.
A faulty node reports ``TYPE=True`` with REASON (default: the reason
node-problem-detector uses for TYPE, else ``Simulated``) until a
remediation job succeeds on it. Choosing the victims is pure and seeded.

Named presets stand for a whole spec: ``storm`` is a developing
remediation storm (``KernelDeadlock:5%/30s``: 5 % more nodes hung every
30 s, so the storm guard's 30 % of the default policy is crossed after about
three minutes), used to rehearse a DefenderPolicy live (docs/defender.md).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from kubenode.agent.detectors.config import parse_duration

#: node-problem-detector's reasons for the problem conditions it reports.
PROBLEM_REASONS = {"KernelDeadlock": "TaskHung", "ReadonlyFilesystem": "FilesystemIsReadOnly",
                   "MemoryPressure": "KubeletHasInsufficientMemory", "DiskPressure": "KubeletHasDiskPressure",
                   "PIDPressure": "KubeletHasInsufficientPID", "FrequentKubeletRestart": "FrequentKubeletRestart",
                   "FrequentContainerdRestart": "FrequentContainerdRestart"}

_NAME = r"[A-Za-z][A-Za-z0-9]*"
_FAULT = re.compile(rf"^(?P<type>{_NAME})(?:=(?P<reason>{_NAME}))?:(?P<amount>[0-9]+(?:\.[0-9]+)?%?)"
                    r"(?:/(?P<period>[0-9a-z.]+))?$")


#: Named fault specs (`--faults storm`).
PRESETS = {"storm": "KernelDeadlock:5%/30s"}


class FaultSpecError(ValueError):
    """A --faults value that cannot be parsed; the message says what to write instead."""


@dataclass(frozen=True)
class Fault:
    """One kind of fault and how often it strikes."""

    type: str
    reason: str
    count: int = 0  # a fixed number of nodes, or
    percent: float = 0.0  # a share of the fleet
    period: float | None = None  # seconds between strikes; None: once at start

    def victims_per_strike(self, fleet: int) -> int:
        """How many nodes one strike hits in a fleet of `fleet` nodes (percentages round up, minimum 1)."""
        if self.count:
            return min(self.count, fleet)
        if fleet == 0 or self.percent <= 0:
            return 0
        return min(fleet, max(1, math.ceil(fleet * self.percent / 100 - 1e-9)))


def parse_faults(text: str) -> list[Fault]:
    """Parse a comma-separated --faults value; FaultSpecError names the bad part."""
    faults: list[Fault] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part in PRESETS:
            faults.extend(parse_faults(PRESETS[part]))
            continue
        m = _FAULT.match(part)
        if m is None:
            raise FaultSpecError(f"fault {part!r}: expected TYPE[=REASON]:AMOUNT[/PERIOD], "
                                 "e.g. KernelDeadlock:1%/10m or ReadonlyFilesystem=Remounted:5, or a preset: "
                                 + ", ".join(sorted(PRESETS)))
        if m["type"] == "Ready":
            raise FaultSpecError(f"fault {part!r}: Ready is the node's heartbeat; stop nodes instead "
                                 "(a problem condition is e.g. KernelDeadlock)")
        amount = m["amount"]
        period: float | None = None
        if m["period"] is not None:
            try:
                period = parse_duration(m["period"])
            except ValueError as exc:
                raise FaultSpecError(f"fault {part!r}: {exc}") from None
            if period <= 0:
                raise FaultSpecError(f"fault {part!r}: the period must be longer than 0")
        reason = m["reason"] or PROBLEM_REASONS.get(m["type"], "Simulated")
        if amount.endswith("%"):
            pct = float(amount[:-1])
            if not 0 < pct <= 100:
                raise FaultSpecError(f"fault {part!r}: a percentage must be in (0, 100]")
            faults.append(Fault(m["type"], reason, percent=pct, period=period))
        else:
            if "." in amount or int(amount) <= 0:
                raise FaultSpecError(f"fault {part!r}: a count must be a whole number above 0")
            faults.append(Fault(m["type"], reason, count=int(amount), period=period))
    return faults


def choose_victims(candidates: Sequence[str], n: int, rng: random.Random) -> list[str]:
    """`n` of the healthy `candidates`, sorted (fewer when fewer are healthy)."""
    return sorted(rng.sample(list(candidates), min(n, len(candidates))))
