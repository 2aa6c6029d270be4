"""Health checks of a component: exec (a program inside the artifact), http and tcp probes.

The semantics are the kubelet's probes: wait ``initialDelaySeconds`` after a
(re)start, probe every ``periodSeconds``, a probe that takes longer than
``timeoutSeconds`` failed, and ``failureThreshold`` consecutive failures make
the component unhealthy; one success makes it healthy again
(:class:`HealthTracker`, pure). An exec probe's program is resolved inside the
verified artifact exactly like the service's command, runs without a shell
in the version directory with the service's environment, and is killed on
timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubenode.client.h11_transport import H11Transport

from ..bounded import run_bounded
from .supervisor import resolve_program

__all__ = ["HealthCheck", "HealthTracker", "ProbeResult", "await_verdict", "probe"]


@dataclass(frozen=True)
class HealthCheck:
    """A parsed ``spec.healthCheck``."""

    kind: str  # exec | http | tcp
    command: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 0
    path: str = "/"
    scheme: str = "HTTP"
    initial_delay: float = 0.0
    period: float = 5.0
    timeout: float = 5.0
    failure_threshold: int = 3

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> HealthCheck | None:
        """Parse ``spec.healthCheck`` (None when absent); raises ValueError with the field path."""
        if not spec:
            return None
        common: dict[str, Any] = {
            "initial_delay": float(spec.get("initialDelaySeconds", 0)),
            "period": float(spec.get("periodSeconds", 5)),
            "timeout": float(spec.get("timeoutSeconds", 5)),
            "failure_threshold": int(spec.get("failureThreshold", 3)),
        }
        if common["period"] <= 0 or common["timeout"] <= 0 or common["failure_threshold"] < 1 \
                or common["initial_delay"] < 0:
            raise ValueError("spec.healthCheck: periodSeconds, timeoutSeconds and failureThreshold must be "
                             "positive, initialDelaySeconds not negative")
        kinds = [k for k in ("exec", "http", "tcp") if spec.get(k)]
        if len(kinds) != 1:
            raise ValueError("spec.healthCheck: exactly one of exec, http or tcp is required")
        kind = kinds[0]
        body = spec[kind]
        if kind == "exec":
            command = tuple(str(a) for a in body.get("command") or ())
            if not command:
                raise ValueError("spec.healthCheck.exec.command: required")
            return cls(kind="exec", command=command, **common)
        port = int(body.get("port", 0))
        if not 1 <= port <= 65535:
            raise ValueError(f"spec.healthCheck.{kind}.port: must be 1-65535, not {port}")
        host = str(body.get("host") or "127.0.0.1")
        if kind == "http":
            scheme = str(body.get("scheme") or "HTTP").upper()
            if scheme not in ("HTTP", "HTTPS"):
                raise ValueError(f"spec.healthCheck.http.scheme: HTTP or HTTPS, not {scheme!r}")
            return cls(kind="http", host=host, port=port, path=str(body.get("path") or "/"), scheme=scheme,
                       **common)
        return cls(kind="tcp", host=host, port=port, **common)


@dataclass(frozen=True)
class ProbeResult:
    """One probe's outcome; the message is trimmed to 200 characters."""

    ok: bool
    message: str


def _trim(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _probe_exec(check: HealthCheck, version_dir: Path, env: Mapping[str, str]) -> ProbeResult:
    argv = resolve_program(version_dir, check.command, field="spec.healthCheck.exec.command")
    try:
        done = await run_bounded(argv, check.timeout, cwd=version_dir, env=env)
    except TimeoutError:
        return ProbeResult(False, f"{check.command[0]} timed out after {check.timeout:g}s")
    text = _trim(done.output.decode(errors="replace"))
    if done.returncode == 0:
        return ProbeResult(True, text or f"{check.command[0]} exited 0")
    return ProbeResult(False, f"{check.command[0]} exited {done.returncode}" + (f": {text}" if text else ""))


async def _probe_http(check: HealthCheck) -> ProbeResult:
    # The schema says HTTPS certificates are not verified (probes target the node's own services).
    url = f"{check.scheme.lower()}://{check.host}:{check.port}{check.path}"
    try:
        async with asyncio.timeout(check.timeout), H11Transport(limit=1, verify=False) as http, \
                http.stream("GET", url, headers={"User-Agent": "kubenode-agent-probe"}) as resp:
            body = _trim((await resp.read(512)).decode(errors="replace"))
            ok = 200 <= resp.status < 400
            return ProbeResult(ok, f"GET {url}: {resp.status}" + (f" {body}" if body and not ok else ""))
    except (OSError, TimeoutError) as exc:  # TransportError is an OSError
        return ProbeResult(False, f"GET {url}: {type(exc).__name__}: {exc}".rstrip(": "))


async def _probe_tcp(check: HealthCheck) -> ProbeResult:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(check.host, check.port), check.timeout)
    except (OSError, TimeoutError) as exc:
        return ProbeResult(False, f"tcp {check.host}:{check.port}: {type(exc).__name__}: {exc}".rstrip(": "))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeResult(True, f"tcp {check.host}:{check.port}: connected")


async def probe(check: HealthCheck, version_dir: Path, env: Mapping[str, str]) -> ProbeResult:
    """Run one probe; never raises for an unhealthy component (a refused exec path is a failed probe)."""
    try:
        if check.kind == "exec":
            return await _probe_exec(check, version_dir, env)
        if check.kind == "http":
            return await _probe_http(check)
        return await _probe_tcp(check)
    except (OSError, ValueError) as exc:
        return ProbeResult(False, _trim(str(exc)))


@dataclass
class HealthTracker:
    """Kubelet probe bookkeeping: ``failure_threshold`` consecutive failures → unhealthy, one success → healthy."""

    failure_threshold: int
    healthy: bool | None = None  # None until the first verdict
    failures: int = 0
    last: ProbeResult | None = None

    def observe(self, result: ProbeResult) -> bool:
        """Record one probe; returns True when the verdict (healthy/unhealthy) changed."""
        self.last = result
        before = self.healthy
        if result.ok:
            self.failures = 0
            self.healthy = True
        else:
            self.failures += 1
            if self.failures >= self.failure_threshold:
                self.healthy = False
        return self.healthy != before


Prober = Callable[[], Awaitable[ProbeResult]]


async def await_verdict(check: HealthCheck, prober: Prober, stop: asyncio.Event | None = None) -> HealthTracker:
    """Probe from a fresh start until there is a verdict: the first success, or ``failure_threshold`` failures.

    Waits ``initialDelaySeconds`` first and ``periodSeconds`` between probes
    (cut short when ``stop`` is set, which returns the tracker as it is).
    """
    tracker = HealthTracker(check.failure_threshold)
    stop = stop or asyncio.Event()
    delay = check.initial_delay
    while tracker.healthy is None:
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            break
        tracker.observe(await prober())
        delay = check.period
    return tracker
