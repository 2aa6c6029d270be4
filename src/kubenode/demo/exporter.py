"""A tiny node metrics exporter: the demo component that `kubenode up` rolls out to its fleet.

Shipped *inside* the demo archives as ``bin/node-exporter`` (stdlib only, so
it runs with any Python 3.11). It serves Prometheus text on ``/metrics``
(load averages, memory, filesystem space of the machine root, the boot ID,
its own build info) and ``/healthz``. The port comes from ``--port``, else
``EXPORTER_PORT``, else ``KUBENODE_COMPONENT_PORT`` (the agent gives each
machine's component its own port, so five local machines on one host do not
collide), else 9100.

Its build (version, and whether this build is the deliberately broken one)
is read from ``share/build.json`` next to ``bin/``: version 1.2.0 of the demo
answers ``/healthz`` with 503, which is how the demo shows a failed upgrade
being rolled back on the node.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STARTED = time.time()


def build_info() -> dict[str, object]:
    """The build this copy belongs to (``share/build.json``), or a development default."""
    path = Path(__file__).resolve().parent.parent / "share" / "build.json"
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {"version": "dev", "healthy": True}


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            fields = rest.split()
            if fields and fields[0].isdigit():
                out[key] = int(fields[0]) * (1024 if fields[1:2] == ["kB"] else 1)
    except OSError:
        pass
    return out


def render_metrics(root: str, build: dict[str, object], scrapes: int) -> str:
    """The exposition text (Prometheus format 0.0.4)."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_: str, value: float, labels: str = "") -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name}{labels} {value:g}")

    version = str(build.get("version", "dev"))
    metric("node_exporter_build_info", "gauge", "Build of the demo exporter.", 1, f'{{version="{version}"}}')
    try:
        l1, l5, l15 = os.getloadavg()
    except OSError:
        l1 = l5 = l15 = 0.0
    metric("node_load1", "gauge", "1-minute load average.", l1)
    metric("node_load5", "gauge", "5-minute load average.", l5)
    metric("node_load15", "gauge", "15-minute load average.", l15)
    mem = _meminfo()
    if "MemTotal" in mem:
        metric("node_memory_MemTotal_bytes", "gauge", "Total memory.", mem["MemTotal"])
        metric("node_memory_MemAvailable_bytes", "gauge", "Available memory.", mem.get("MemAvailable", 0))
    try:
        usage = shutil.disk_usage(root)
        metric("node_filesystem_avail_bytes", "gauge", "Free space of the machine root's filesystem.",
               usage.free, f'{{mountpoint="{root}"}}')
        metric("node_filesystem_size_bytes", "gauge", "Size of the machine root's filesystem.", usage.total,
               f'{{mountpoint="{root}"}}')
    except OSError:
        pass
    boot_id = ""
    for candidate in (Path(root) / "run" / "boot_id", Path("/proc/sys/kernel/random/boot_id")):
        try:
            boot_id = candidate.read_text().strip()
            break
        except OSError:
            continue
    metric("node_boot_info", "gauge", "Boot ID of the node.", 1, f'{{boot_id="{boot_id}"}}')
    metric("node_exporter_uptime_seconds", "gauge", "Seconds since the exporter started.", time.time() - STARTED)
    metric("node_exporter_scrapes_total", "counter", "Scrapes served.", scrapes)
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    """``/metrics`` and ``/healthz``."""

    scrapes = 0
    build: dict[str, object] = {}
    root = "/"

    def do_GET(self) -> None:
        """Serve one request."""
        if self.path == "/healthz":
            if self.build.get("healthy", True):
                self._reply(200, "ok\n")
            else:
                self._reply(503, f"collector 'diskstats' failed: regression in {self.build.get('version')}\n")
        elif self.path == "/metrics":
            Handler.scrapes += 1
            self._reply(200, render_metrics(self.root, self.build, Handler.scrapes),
                        "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._reply(404, "not found: try /metrics or /healthz\n")

    def _reply(self, code: int, body: str, content_type: str = "text/plain; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: scrapes would flood the component log."""


def port_from(argv: list[str] | None = None, env: dict[str, str] | None = None) -> int:
    """The port to listen on: --port, EXPORTER_PORT, KUBENODE_COMPONENT_PORT, 9100."""
    env = dict(os.environ) if env is None else env
    parser = argparse.ArgumentParser(description="KubeNode demo node exporter")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    for value in (args.port, env.get("EXPORTER_PORT"), env.get("KUBENODE_COMPONENT_PORT")):
        if value:
            return int(value)
    return 9100


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM."""
    port = port_from(argv)
    Handler.build = build_info()
    Handler.root = os.environ.get("KUBENODE_ROOT", "/")
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"node-exporter {Handler.build.get('version')} listening on 127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
