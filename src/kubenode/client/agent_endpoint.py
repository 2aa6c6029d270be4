"""Read an agent's HTTP endpoint: its recent log lines (`/logs`) and its metrics (`/metrics`).

The agent serves them only to callers whose bearer token may `get
nodes/proxy <node>` (it asks the API server), so the caller's own
credentials from its kubeconfig are presented. The endpoint's address is the
one the agent reports in `Machine.status.agent.metricsEndpoint`; `/logs`
sits beside `/metrics` on the same port. Every failure is returned as a
reason, never as made-up lines. `/metrics` is open (numbers only, as
node-exporter's), so it is read without credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson

from .config import ClientConfig


@dataclass
class AgentLogs:
    """The agent's lines, or why there are none (`available` False and `reason`)."""

    available: bool
    lines: list[str] = field(default_factory=list)
    reason: str = ""
    url: str = ""


def logs_url(metrics_endpoint: str, lines: int) -> str:
    """The `/logs` URL beside a `/metrics` URL."""
    parts = urlsplit(metrics_endpoint)
    base = parts.path[: -len("/metrics")] if parts.path.endswith("/metrics") else parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, f"{base}/logs", f"lines={lines}&format=json", ""))


async def fetch_agent_logs(metrics_endpoint: str | None, config: ClientConfig, lines: int = 50,
                           within: float = 10.0) -> AgentLogs:
    """The last `lines` log lines of the agent reporting `metrics_endpoint`, with the caller's credentials."""
    if not metrics_endpoint:
        return AgentLogs(False, reason="the agent reports no endpoint (Machine.status.agent.metricsEndpoint is "
                                       "not set: an agent without /metrics and /logs, or not started yet)")
    parts = urlsplit(metrics_endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return AgentLogs(False, reason=f"metricsEndpoint {metrics_endpoint!r} is not an http(s) URL")
    url = logs_url(metrics_endpoint, lines)
    auth = config.authorization()
    if not auth or not auth.startswith("Bearer "):
        return AgentLogs(False, url=url, reason="the agent accepts bearer tokens only and this kubeconfig has none")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as session, \
                session.get(url, headers={"Authorization": auth, "Accept": "application/json"}) as resp:
            raw = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return AgentLogs(False, url=url, reason=f"the agent did not answer at {url}: {exc or type(exc).__name__}")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if status != 200:
        message = body.get("message") if isinstance(body, dict) else raw[:200].decode(errors="replace")
        return AgentLogs(False, url=url, reason=f"the agent answered HTTP {status}: {message}")
    if not isinstance(body, dict) or not isinstance(body.get("lines"), list):
        return AgentLogs(False, url=url, reason="the agent's answer has no `lines` list")
    return AgentLogs(True, [str(x) for x in body["lines"]], url=url)


@dataclass
class AgentMetrics:
    """The agent's exposition text, or why there is none."""

    available: bool
    text: str = ""
    reason: str = ""


async def fetch_agent_metrics(metrics_endpoint: str | None, within: float = 10.0) -> AgentMetrics:
    """One scrape of the agent's `/metrics`."""
    if not metrics_endpoint:
        return AgentMetrics(False, reason="the agent reports no metrics endpoint")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as session, \
                session.get(metrics_endpoint) as resp:
            text = await resp.text(errors="replace")
            if resp.status != 200:
                return AgentMetrics(False, reason=f"{metrics_endpoint} answered HTTP {resp.status}")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return AgentMetrics(False, reason=f"the agent did not answer at {metrics_endpoint}: "
                                          f"{exc or type(exc).__name__}")
    return AgentMetrics(True, text)
