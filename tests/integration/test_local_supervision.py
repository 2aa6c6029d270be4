"""The local provider supervises its agents: one that dies is restarted with backoff, one powered off is not."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from kubenode.providers.local import POWERED_OFF, LocalProvider, restart_delay

from .polling import eventually


def machine_root(data: Path, name: str) -> Path:
    """A machine root as `create` leaves it, whose 'agent' is a process that just waits."""
    root = data / "machines" / name
    for sub in ("run", "var/log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "run" / "agent.cmd").write_text("\0".join([sys.executable, "-c", "import time; time.sleep(600)"]))
    (root / POWERED_OFF).touch()
    return root


def pid_of(root: Path) -> int:
    return int((root / "run" / "agent.pid").read_text().split()[0])


@pytest.mark.parametrize(("restart", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (30, 60.0)])
def test_restart_backoff(restart: int, delay: float) -> None:
    assert restart_delay(restart) == delay


async def test_a_killed_agent_is_restarted_with_backoff(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path)
    root = machine_root(tmp_path, "m0")
    try:
        assert await provider.power_on_all() == ["m0"]
        first = pid_of(root)
        os.kill(first, signal.SIGKILL)

        async def restarted(old: int) -> int | None:
            proc = provider._process(root)
            return proc.pid if proc is not None and proc.pid != old else None

        second = await eventually(lambda: restarted(first), 20, "the agent restarted")
        assert provider.restarts(root) == 1
        os.kill(second, signal.SIGKILL)
        await eventually(lambda: restarted(second), 20, "the agent restarted again")
        assert provider.restarts(root) == 2  # the second restart waited restart_delay(2)
        state = await provider.state({"metadata": {"name": "m0", "uid": ""}})
        assert state.state in ("Running", "Missing")  # Missing: this root has no machine-uid (not created)
    finally:
        await provider.power_off_all()


async def test_a_powered_off_agent_is_not_restarted(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path)
    root = machine_root(tmp_path, "m1")
    await provider.power_on_all()
    pid = pid_of(root)
    await provider.power_off_all()
    assert provider._process(root) is None and (root / POWERED_OFF).exists()
    assert not provider._supervisors  # nothing left that could bring it back
    assert pid_of(root) == pid


async def test_a_reboot_starts_its_own_machine_only(tmp_path: Path) -> None:
    """Before, a reboot ended with `power_on_all`: every machine a clean shutdown had powered off came up."""
    provider = LocalProvider(tmp_path)
    a, b = machine_root(tmp_path, "ma"), machine_root(tmp_path, "mb")
    (a / "machine-uid").write_text("uid-a\n")
    try:
        assert await provider.power_on_all() == ["ma", "mb"]
        await provider._stop(b)
        (b / POWERED_OFF).touch()  # mb is off on purpose
        before, boot = pid_of(a), (a / "run" / "boot_id")
        await provider.reboot({"metadata": {"name": "ma", "uid": "uid-a"}})
        assert provider._process(a) is not None and pid_of(a) != before and boot.read_text().strip()
        assert not (a / POWERED_OFF).exists()
        assert provider._process(b) is None and (b / POWERED_OFF).exists()  # still off
    finally:
        await provider.power_off_all()
