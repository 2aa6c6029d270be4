"""Benchmark of a light agent: RSS and CPU of one real `kubenode agent`, idle and under a kernel-log burst.

Starts a real `kubenode apiserver` (subprocess, its own data directory), one
Machine, and a real `kubenode agent --register-node` for it in local mode
(root with `dev/kmsg`, the kernel-log detector's input) with every extension
running: detectors, installer, executor, metrics endpoint. Then

* waits `--warmup-seconds` after the agent registered and serves /metrics;
* idle: samples RSS every second for `--idle-seconds` (the window the issue
  asks for is 60 s) and prints the last and the peak RSS and CPU (user+system)
  as a percentage of one core;
* burst: appends `--burst-lines` kernel-style lines to `dev/kmsg` over
  `--burst-seconds` (a hung task every 100th line, noise otherwise) and
  prints the same figures, then checks the agent still works (its Node says
  KernelDeadlock=True and its /metrics counts the problem).

    python bench/agent.py [--idle-seconds 60] [--burst-lines 20000] [--burst-seconds 10] [--json]

Figures only: nothing here asserts a timing or a size. The machine is shared;
quote figures with the load they were measured under.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psutil

from kubenode.apiserver.server import free_port
from kubenode.client.client import KubeClient
from kubenode.client.config import load_config
from kubenode.client.resources import NODES
from kubenode.controlplane.up import install_crds
from kubenode.machine.resources import MACHINES

MACHINE = "bench-agent-1"
MIB = 1024 * 1024


def _wait(check: Any, within: float, what: str, proc: subprocess.Popen[bytes] | None = None) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{what}: the process exited with {proc.returncode}")
        try:
            value = check()
        except (OSError, ValueError, KeyError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit(f"timed out after {within}s waiting for {what}")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


async def _prepare(kubeconfig: Path) -> None:
    async with KubeClient(load_config(kubeconfig)) as client:
        await install_crds(client)
        await client.create(MACHINES, {"apiVersion": "kubenode.io/v1alpha1", "kind": "Machine",
                                       "metadata": {"name": MACHINE}, "spec": {"providerRef": {"name": "local"}}})


async def _node_condition(kubeconfig: Path, type_: str) -> str:
    async with KubeClient(load_config(kubeconfig)) as client:
        node = await client.get(NODES, MACHINE)
    return next((c.get("status", "") for c in (node.get("status") or {}).get("conditions") or []
                 if c.get("type") == type_), "")


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return float(t.user + t.system)


def _window(p: psutil.Process, seconds: float, during: Any = None) -> dict[str, float]:
    """RSS (last, peak) and CPU % of one core over `seconds`; `during(elapsed)` runs once per tick."""
    rss: list[int] = []
    cpu0, t0 = _cpu(p), time.monotonic()
    next_tick = t0
    while (elapsed := time.monotonic() - t0) < seconds:
        if during is not None:
            during(elapsed)
        rss.append(p.memory_info().rss)
        next_tick += 0.1 if during is not None else 1.0
        time.sleep(max(0.0, next_tick - time.monotonic()))
    wall = time.monotonic() - t0
    rss.append(p.memory_info().rss)
    return {"seconds": round(wall, 1), "rss_mib": round(rss[-1] / MIB, 1), "rss_peak_mib": round(max(rss) / MIB, 1),
            "cpu_percent": round(100 * (_cpu(p) - cpu0) / wall, 2), **_status(p.pid)}


def _status(pid: int) -> dict[str, float]:
    """Anonymous (heap) vs file-backed (code, shared libraries) RSS and threads, from /proc/PID/status."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            out[f"{key[3:].lower()}_mib"] = round(int(value.split()[0]) / 1024, 1)
        elif key == "Threads":
            out["threads"] = int(value)
    return out


def _slowest_imports(log: Path, n: int) -> list[tuple[int, str]]:
    """The `n` top-level imports of -X importtime output with the largest cumulative time."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line[len("import time:"):].split("|", 2)
            if cumulative.strip().isdigit() and not name.startswith("  "):
                out.append((int(cumulative), name.strip()))
    return sorted(out, reverse=True)[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    ap.add_argument("--warmup-seconds", type=float, default=10.0)
    ap.add_argument("--burst-lines", type=int, default=20000)
    ap.add_argument("--burst-seconds", type=float, default=10.0)
    ap.add_argument("--json", action="store_true", help="Print the figures as one JSON object.")
    ap.add_argument("--importtime", type=int, default=0, metavar="N",
                    help="Run the agent with -X importtime and print its N slowest top-level imports.")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="kubenode-bench-agent-") as tmp:
        base = Path(tmp)
        data, root = base / "data", base / "machines" / MACHINE
        (root / "dev").mkdir(parents=True)
        (root / "run").mkdir()
        (root / "run" / "boot_id").write_text(str(uuid.uuid4()))
        kmsg = root / "dev" / "kmsg"
        kmsg.write_text("")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        api_log = (base / "apiserver.log").open("wb")
        agent_log = (base / "agent.log").open("wb")
        api = subprocess.Popen([sys.executable, "-m", "kubenode.cli.main", "apiserver", "--data-dir", str(data),
                                "--port", str(free_port())], stdout=api_log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, env=env)
        agent: subprocess.Popen[bytes] | None = None
        try:
            kubeconfig = data / "kubeconfig"
            _wait(kubeconfig.exists, 120, "the apiserver's kubeconfig", api)
            _wait(lambda: asyncio.run(_prepare(kubeconfig)) or True, 120, "CRDs and the Machine", api)
            port = free_port()
            metrics = f"http://127.0.0.1:{port}/metrics"
            agent_env = {**env, "PYTHONPROFILEIMPORTTIME": "1"} if args.importtime else env
            agent = subprocess.Popen([sys.executable, "-m", "kubenode.cli.main", "agent", "--machine", MACHINE,
                                      "--kubeconfig", str(kubeconfig), "--root", str(root), "--register-node",
                                      "--metrics-port", str(port)],
                                     stdout=agent_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=agent_env)
            t_start = time.monotonic()
            _wait(lambda: "problem_gauge" in _get(metrics), 120, "the agent's /metrics", agent)
            _wait(lambda: asyncio.run(_node_condition(kubeconfig, "KernelDeadlock")) == "False", 120,
                  "the agent's Node with KernelDeadlock=False", agent)
            ready_seconds = time.monotonic() - t_start
            proc = psutil.Process(agent.pid)
            time.sleep(args.warmup_seconds)
            idle = _window(proc, args.idle_seconds)

            written = 0
            with kmsg.open("a") as f:

                def feed(elapsed: float) -> None:
                    nonlocal written
                    share = min(1.0, elapsed / (0.9 * args.burst_seconds))  # all lines in by 90 % of the window
                    due = min(args.burst_lines, int(args.burst_lines * share) + 1)
                    lines = []
                    for i in range(written, due):
                        lines.append(f"INFO: task bench:{1000 + i} blocked for more than 120 seconds.\n"
                                     if i % 100 == 0 else
                                     f"eth0: link up, 10Gbps, full duplex, lpa 0x{i:04X} (bench line {i})\n")
                    if lines:
                        f.write("".join(lines))
                        f.flush()
                    written = due

                burst = _window(proc, args.burst_seconds, feed)
            _wait(lambda: asyncio.run(_node_condition(kubeconfig, "KernelDeadlock")) == "True", 120,
                  "KernelDeadlock=True on the agent's Node after the burst", agent)
            counted = _wait(lambda: next((line for line in _get(metrics).splitlines()
                                          if line.startswith('problem_counter{reason="TaskHung"}')
                                          and not line.endswith(" 0")), ""), 60, "the TaskHung counter", agent)
            figures: dict[str, Any] = {"ready_seconds": round(ready_seconds, 1), "idle": idle,
                       "burst": {**burst, "lines": written,
                                 "lines_per_second": round(written / max(burst["seconds"], 1e-9))},
                       "after_burst": {"rss_mib": round(proc.memory_info().rss / MIB, 1)},
                       "agent_worked": {"KernelDeadlock": "True", "problem_counter": counted}}
        finally:
            for p in (agent, api):
                if p is not None and p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(30)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
            api_log.close()
            agent_log.close()
            imports = _slowest_imports(base / "agent.log", args.importtime) if args.importtime else []
    if args.json:
        print(json.dumps(figures))
        return
    for us, name in imports:
        print(f"import {name:<50} {us / 1000:8.1f} ms cumulative")
    i, b = figures["idle"], figures["burst"]
    print(f"agent ready (Node registered, /metrics served) in {figures['ready_seconds']}s")
    print(f"idle  {i['seconds']:>6}s: RSS {i['rss_mib']} MiB (peak {i['rss_peak_mib']}; anonymous {i.get('anon_mib')}, "
          f"files {i.get('file_mib')}; {i.get('threads')} threads), CPU {i['cpu_percent']} % of one core")
    print(f"burst {b['seconds']:>6}s: {b['lines']} kernel-log lines ({b['lines_per_second']}/s): RSS "
          f"{b['rss_mib']} MiB (peak {b['rss_peak_mib']}), CPU {b['cpu_percent']} % of one core")
    print(f"after the burst: RSS {figures['after_burst']['rss_mib']} MiB; Node KernelDeadlock=True; "
          f"{counted}")


if __name__ == "__main__":
    main()
