"""`kubenode up --prometheus`: a real Prometheus (Debian's `prometheus` package) wired to the fleet.

It scrapes the operator (job `kubenode-operator`) and every agent the
operator's `/sd/agents` lists (job `kubenode-agents`), and evaluates the
recording and alert rules of `deploy/monitoring/rules` — the same files a
real cluster's Prometheus loads, so what `kubenode up` shows is what
production alerts on. Data lives under `DIR/prometheus/data`, it listens on a
free loopback port and stops with `kubenode up`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

log = logging.getLogger("kubenode.up.prometheus")

#: Where Debian's package installs the server.
DEFAULT_BINARY = "/usr/bin/prometheus"
START_TIMEOUT = 60.0
INTERVAL = "5s"


class PrometheusUnavailable(RuntimeError):
    """Prometheus cannot be started; the message says what to install or fix."""


def find_binary() -> str:
    """The prometheus binary (PATH first, then Debian's path), or a clear error."""
    found = shutil.which("prometheus") or (DEFAULT_BINARY if os.access(DEFAULT_BINARY, os.X_OK) else None)
    if not found:
        raise PrometheusUnavailable("--prometheus needs Prometheus: install Debian's package "
                                    "(apt-get install -y prometheus) or put `prometheus` on PATH")
    return found


def monitoring_dir() -> Path:
    """`deploy/monitoring` of this source tree (rules, dashboards)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "deploy" / "monitoring"
        if (candidate / "rules").is_dir():
            return candidate
    raise PrometheusUnavailable("--prometheus needs deploy/monitoring/rules of KubeNode's source tree; "
                                "install KubeNode from a checkout (pip install -e .)")


def render_config(operator_port: int, rules: list[Path], interval: str = INTERVAL) -> dict[str, Any]:
    """The prometheus.yml of a local fleet: the two jobs on loopback and our rule files."""
    operator = f"127.0.0.1:{operator_port}"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(r) for r in rules],
        "scrape_configs": [
            {"job_name": "kubenode-operator", "static_configs": [{"targets": [operator]}]},
            {"job_name": "kubenode-agents",
             "http_sd_configs": [{"url": f"http://{operator}/sd/agents", "refresh_interval": interval}]},
        ],
    }


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(argv: list[str], logfile: Path) -> subprocess.Popen[bytes]:
    with logfile.open("ab") as out:
        logfile.chmod(0o600)
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


@dataclass
class RunningPrometheus:
    """A Prometheus child process."""

    process: subprocess.Popen[bytes]
    url: str
    directory: Path

    async def stop(self) -> None:
        """SIGTERM (Prometheus flushes its head block), SIGKILL after 20 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait, 10)


async def _wait_ready(prom: RunningPrometheus, within: float) -> None:
    async with asyncio.timeout(within), aiohttp.ClientSession() as session:
        while True:
            if prom.process.poll() is not None:
                raise PrometheusUnavailable(f"prometheus exited with {prom.process.returncode}; see "
                                            f"{prom.directory / 'prometheus.log'}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{prom.url}/-/ready") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)


async def start_prometheus(data_dir: Path, operator_port: int, binary: str | None = None) -> RunningPrometheus:
    """Write DIR/prometheus/prometheus.yml and start Prometheus on it; returns once it is ready."""
    exe = binary or find_binary()
    rules = sorted((monitoring_dir() / "rules").glob("*.yml"))
    directory = data_dir / "prometheus"
    directory.mkdir(mode=0o700, exist_ok=True)
    config = directory / "prometheus.yml"
    config.write_text(yaml.safe_dump(render_config(operator_port, rules), sort_keys=False))
    config.chmod(0o600)
    port = _free_loopback_port()
    argv = [exe, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=7d"]
    process = await asyncio.to_thread(_spawn, argv, directory / "prometheus.log")
    prom = RunningPrometheus(process, f"http://127.0.0.1:{port}", directory)
    try:
        await _wait_ready(prom, START_TIMEOUT)
    except BaseException:
        await prom.stop()
        raise
    log.info("prometheus ready at %s (config %s)", prom.url, config)
    return prom
