"""bench/agent.py at a small window, as a test of correctness: it starts a real apiserver and agent, feeds the
kernel-log detector a burst and prints figures. Nothing here asserts a timing or a size (figures vary with the
machine's load); it asserts that figures were produced and that the agent did its work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
BENCH = Path(__file__).parent.parent.parent / "bench" / "agent.py"


def test_agent_bench_produces_figures_and_the_agent_works() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--idle-seconds", "2", "--warmup-seconds", "1",
                          "--burst-lines", "500", "--burst-seconds", "1", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    for window in ("idle", "burst"):
        assert figures[window]["rss_mib"] > 0 and figures[window]["rss_peak_mib"] >= figures[window]["rss_mib"]
        assert figures[window]["cpu_percent"] >= 0 and figures[window]["seconds"] > 0
    assert figures["burst"]["lines"] == 500
    assert figures["agent_worked"]["KernelDeadlock"] == "True"
    assert figures["agent_worked"]["problem_counter"].startswith('problem_counter{reason="TaskHung"}')
