"""What the benches share: starting and stopping the processes, waiting for them, sampling their RSS.

Every bench runs the product's own processes (`kubenode apiserver`,
`kubenode operator`, ...) in their own sessions, with their output in a log
file, and stops them with SIGTERM (SIGKILL after a grace period) in a
`finally`, so an interrupted bench leaves nothing running. Import it from a
bench script as `import benchlib` (a script's own folder is on `sys.path`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Iterable, Sequence
from pathlib import Path
from typing import Any

import psutil

from kubenode.api.constants import API_VERSION
from kubenode.apiserver.server import free_port
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.controlplane.up import install_crds

Obj = dict[str, Any]


def spawn(argv: list[str], log: Path | None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session, stdout and stderr appended to `log` (discarded when None; `env`: None
    inherits ours).

    A file, not a pipe nobody reads, so the child never blocks on its output.
    """
    if log is None:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)


def kubenode(*args: str) -> list[str]:
    """The command line of `kubenode ARGS` with this interpreter."""
    return [sys.executable, "-m", "kubenode.cli.main", *args]


def apiserver_cmd(data: Path, port: int, *extra: str) -> list[str]:
    """The command line of `kubenode apiserver` on `port` with its data (and kubeconfig) under `data`."""
    return kubenode("apiserver", "--data-dir", str(data), "--port", str(port), *extra)


def spawn_apiserver(data: Path, log: Path | None, *extra: str) -> subprocess.Popen[bytes]:
    """`kubenode apiserver` on a free port with its data (and kubeconfig) under `data`."""
    return spawn(apiserver_cmd(data, free_port(), *extra), log)


def terminate(proc: subprocess.Popen[bytes], grace: float = 20.0, sig: int = signal.SIGTERM) -> None:
    """`sig` (SIGTERM), then SIGKILL if it has not exited after `grace` seconds."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop(proc: subprocess.Popen[bytes], grace: float = 60.0) -> None:
    """SIGINT (what Ctrl-C sends: the product's clean stop), then SIGKILL after `grace` seconds."""
    terminate(proc, grace, signal.SIGINT)


def tail(log: Path | None) -> str:
    """The end of a log file ("" when there is none)."""
    return log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""


async def wait_file(path: Path, proc: subprocess.Popen[bytes], within: float = 60.0, log: Path | None = None) -> None:
    """Wait for `proc` to write `path` (e.g. the API server's kubeconfig); fail if it exits first.

    The error names the command, its exit code and the end of its `log`."""
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(path.exists):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{shlex.join(map(str, proc.args))} did not write {path} (exit code {proc.poll()})"
                               + (f": {tail(log)}" if log is not None else ""))
        await asyncio.sleep(0.1)


def load_average() -> str:
    """The 1/5/15-minute load average, for the figures' context."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def fast_client(kubeconfig: Path, qps: float = 5000.0, connections: int = 200) -> KubeClient:
    """A client whose own rate limit is out of the way of what a bench measures."""
    config = dataclasses.replace(load_config(kubeconfig), qps=qps, burst=int(qps), connection_limit=connections)
    return KubeClient(config)


async def install_crds_retrying(client: KubeClient, within: float = 30.0) -> None:
    """Install the CRDs as soon as the freshly started server accepts connections."""
    deadline = time.monotonic() + within
    while True:
        try:
            await install_crds(client)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def bounded(coros: Iterable[Awaitable[Any]], limit: int = 100) -> None:
    """Await every coroutine, at most `limit` at a time."""
    sem = asyncio.Semaphore(limit)

    async def one(co: Awaitable[Any]) -> None:
        async with sem:
            await co

    await asyncio.gather(*(one(co) for co in coros))


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU seconds of `proc` so far."""
    t = proc.cpu_times()
    return float(t.user + t.system)


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank p-th percentile (0-100) of `values` (0 when empty)."""
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


class PeakRss:
    """Samples a process's RSS in a thread; `peak` is the highest seen."""

    def __init__(self, proc: psutil.Process, every: float = 0.05) -> None:
        self.proc = proc
        self.peak = 0
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(self.every)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------- MachineComponentSet rollouts

SHA = "c" * 64


def template(version: str) -> Obj:
    """A MachineComponentSet template of the demo component at `version`."""
    return {"version": version, "source": {"url": f"https://example.com/demo-{version}.tar.gz", "sha256": SHA},
            "run": {"command": ["bin/demo"]}, "healthCheck": {"tcp": {"port": 9100}}}


def component_set(selector: dict[str, str], batches: Sequence[int | str], version: str = "1.0.0") -> Obj:
    """MachineComponentSet `demo` of the demo component at `version` on the machines labelled `selector`,
    rolled out in `batches` without soak."""
    return {"apiVersion": API_VERSION, "kind": "MachineComponentSet", "metadata": {"name": "demo"},
            "spec": {"component": "demo", "selector": {"matchLabels": selector}, "template": template(version),
                     "updateStrategy": {"rollingUpdate": {"batches": list(batches), "batchSoakSeconds": 0}}}}


def growth(a: dict[str, float], b: dict[str, float], key: str, slack: float) -> tuple[float, float, str]:
    """How the time `key` grew from run `a` to the larger run `b`: (time ratio, size ratio of their
    "machines", verdict); linear when the time grew no more than the size times `slack` (the noise allowed)."""
    size_ratio = b["machines"] / a["machines"]
    time_ratio = b[key] / a[key]
    return time_ratio, size_ratio, "linear or better" if time_ratio <= size_ratio * slack else "WORSE than linear"


async def wait_phase(client: KubeClient, name: str, phase: str, revision: str | None, within: float,
                     every: float = 0.05) -> Obj:
    """Poll MachineComponentSet `name` until its status of the current generation is `phase`."""
    from kubenode.componentset.resources import MACHINE_COMPONENT_SETS

    deadline = time.monotonic() + within
    st: Obj = {}
    while time.monotonic() < deadline:
        mcs = await client.get(MACHINE_COMPONENT_SETS, name)
        st = mcs.get("status") or {}
        if (st.get("phase") == phase and st.get("observedGeneration") == mcs["metadata"]["generation"]
                and (revision is None or st.get("updateRevision") == revision)):
            return mcs
        await asyncio.sleep(every)
    raise TimeoutError(f"{name} not {phase} after {within}s: {st}")
