"""Benchmark of the agent's /metrics: scrape cost and the idle agent's CPU.

Starts `kubenode up` with one local machine (real processes), waits for the
agent's `Machine.status.agent.metricsEndpoint`, then

* scrapes it `--scrapes` times back to back and prints the agent's own
  collection time per scrape (`kubenode_agent_scrape_duration_seconds`,
  which the next scrape reports) and the HTTP round trip, p50/p99/max;
* leaves the agent alone for `--idle-seconds` and prints its CPU use
  (psutil, user+system of the agent process) as a percentage of one core;
* does the same while Prometheus' default 15 s scrape interval is simulated.

    python bench/agent_metrics.py [--scrapes 200] [--idle-seconds 60]

Figures only: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import yaml

from kubenode.apiserver.server import free_port


def _kubectl_json(kubeconfig: Path, *args: str) -> dict[str, object]:
    out = subprocess.run(["kubectl", f"--kubeconfig={kubeconfig}", *args, "-o", "yaml"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    doc: dict[str, object] = yaml.safe_load(out)
    return doc


def _wait(check, within: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            value = check()
        except (subprocess.CalledProcessError, OSError, KeyError, TypeError):
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def _scrape(url: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = resp.read().decode()
    return time.perf_counter() - t0, body


def _collect_seconds(body: str) -> float:
    for line in body.splitlines():
        if line.startswith("kubenode_agent_scrape_duration_seconds "):
            return float(line.split()[1])
    return float("nan")


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    total = t.user + t.system
    for child in proc.children(recursive=True):
        try:
            ct = child.cpu_times()
            total += ct.user + ct.system
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubenode-bench-agent-") as tmp:
        data = Path(tmp) / "data"
        up = subprocess.Popen([sys.executable, "-m", "kubenode.cli.main", "up", "--data-dir", str(data), "--port",
                               str(free_port()), "--machines", "1"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            kubeconfig = data / "kubeconfig"
            _wait(kubeconfig.exists, 60, "the kubeconfig")

            def endpoint() -> str | None:
                items = _kubectl_json(kubeconfig, "get", "machines")["items"]
                assert isinstance(items, list)
                for m in items:
                    url = ((m.get("status") or {}).get("agent") or {}).get("metricsEndpoint")
                    if url:
                        return str(url)
                return None

            url: str = _wait(endpoint, 120, "the agent's metricsEndpoint")
            pid_file = next(data.glob("machines/*/run/agent.pid"))
            agent = psutil.Process(int(pid_file.read_text().split()[0]))
            _scrape(url)  # warm-up
            rtt, collect = [], []
            for _ in range(args.scrapes):
                seconds, body = _scrape(url)
                rtt.append(seconds)
                collect.append(_collect_seconds(body))
            _, body = _scrape(url)
            series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
            print(f"agent /metrics: {series} series, {len(body.encode())} bytes")
            print(f"  collection per scrape (agent side): p50 {statistics.median(collect) * 1e3:.2f} ms, "
                  f"p99 {_pct(collect, 0.99) * 1e3:.2f} ms, max {max(collect) * 1e3:.2f} ms")
            print(f"  HTTP round trip:                    p50 {statistics.median(rtt) * 1e3:.2f} ms, "
                  f"p99 {_pct(rtt, 0.99) * 1e3:.2f} ms, max {max(rtt) * 1e3:.2f} ms")
            time.sleep(5)  # let the scrape burst settle before measuring idle CPU
            c0, t0 = _cpu(agent), time.monotonic()
            time.sleep(args.idle_seconds)
            idle = (_cpu(agent) - c0) / (time.monotonic() - t0) * 100
            print(f"  idle agent CPU over {args.idle_seconds:.0f} s: {idle:.2f} % of one core")
            c0, t0 = _cpu(agent), time.monotonic()
            deadline = t0 + args.idle_seconds
            while time.monotonic() < deadline:
                _scrape(url)
                time.sleep(min(15.0, max(0.0, deadline - time.monotonic())))
            scraped = (_cpu(agent) - c0) / (time.monotonic() - t0) * 100
            print(f"  agent CPU scraped every 15 s:       {scraped:.2f} % of one core")
        finally:
            up.terminate()
            try:
                up.wait(30)
            except subprocess.TimeoutExpired:
                up.kill()
            for pid_file in data.glob("machines/*/run/agent.pid"):
                try:
                    psutil.Process(int(pid_file.read_text().split()[0])).kill()
                except (psutil.NoSuchProcess, ValueError, OSError):
                    pass


if __name__ == "__main__":
    main()
