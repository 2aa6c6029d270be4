"""agent/bounded.run_bounded: the plugin, probe and remediation-script runner leaves no process behind.

Real processes (sh scripts in a temporary directory); each test checks that the program's whole process
group is gone: on exit, at its time limit, and when the agent stops (cancels) while it runs.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import psutil
import pytest

from kubenode.agent.bounded import run_bounded
from kubenode.agent.executor.actions import remedy_dir
from kubenode.agent.executor.service import ExecutorSettings, JobOutcome, RemedyExecutor
from kubenode.client import ClientConfig, KubeClient


def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


# A script that starts a grandchild in its process group, records both PIDs, then waits.
LINGERING = 'sleep 600 &\necho "$$ $!" > pids\necho started\nwait\n'


def gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def wait_gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + 10  # the kill is synchronous; the kernel's reaping of the orphan may lag
    while not gone(pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return gone(pids)


def read_pids(path: Path) -> list[int] | None:
    text = path.read_text() if path.exists() else ""
    return [int(x) for x in text.split()] if text.endswith("\n") else None


async def wait_for_file(path: Path) -> list[int]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = read_pids(path)
        if pids is not None:
            return pids
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} was never written")


@pytest.mark.parametrize(("body", "stderr", "code", "output"), [
    ("echo out\nexit 0\n", True, 0, b"out\n"),
    ("echo out\necho err >&2\nexit 3\n", True, 3, b"out\nerr\n"),
    ("echo out\necho err >&2\nexit 3\n", False, 3, b"out\n"),  # stderr discarded (plugins)
    ("printf '%s' \"$KUBENODE_X\"\n", True, 0, b"from-env"),
    ("kill -TERM $$\n", True, -15, b""),
])
async def test_exit_code_and_output(tmp_path: Path, body: str, stderr: bool, code: int, output: bytes) -> None:
    prog = script(tmp_path / "p.sh", body)
    done = await run_bounded([str(prog)], 10, cwd=tmp_path, env={"PATH": os.environ["PATH"], "KUBENODE_X": "from-env"},
                             stderr=stderr)
    assert (done.returncode, done.output) == (code, output)


async def test_the_limit_kills_the_whole_process_group(tmp_path: Path) -> None:
    prog = script(tmp_path / "slow.sh", LINGERING)
    with pytest.raises(TimeoutError):
        await run_bounded([str(prog)], 1.0, cwd=tmp_path)
    pids = [int(x) for x in (tmp_path / "pids").read_text().split()]
    assert wait_gone(pids), pids


async def test_a_cancelled_run_kills_its_program(tmp_path: Path) -> None:
    prog = script(tmp_path / "slow.sh", LINGERING)
    task = asyncio.create_task(run_bounded([str(prog)], 600, cwd=tmp_path))
    pids = await wait_for_file(tmp_path / "pids")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert wait_gone(pids), pids


async def test_a_program_that_cannot_start_is_an_os_error(tmp_path: Path) -> None:
    not_executable = tmp_path / "x.sh"
    not_executable.write_text("#!/bin/sh\n")
    with pytest.raises(PermissionError):
        await run_bounded([str(not_executable)], 5, cwd=tmp_path)


async def test_the_agent_stopping_mid_script_kills_the_remediation_script(tmp_path: Path) -> None:
    """Before, the executor's RunScript left the script (in its own session) running after a cancellation."""
    root = tmp_path / "root"
    directory = remedy_dir(root)
    script(directory / "fix.sh", LINGERING.replace("> pids", f"> {tmp_path / 'pids'}"))
    async with KubeClient(ClientConfig(server="https://127.0.0.1:1")) as client:
        executor = RemedyExecutor(client, ExecutorSettings(machine="m", node_name="m", root=root))
        task = asyncio.create_task(executor._run_script("fix.sh", 600))
        pids = await wait_for_file(tmp_path / "pids")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert wait_gone(pids), pids
        # Within its limit a script's outcome is still the job's.
        script(directory / "bad.sh", "echo no\nexit 2\n")
        with pytest.raises(JobOutcome, match=r"script bad\.sh exited 2: no"):
            await executor._run_script("bad.sh", 30)
