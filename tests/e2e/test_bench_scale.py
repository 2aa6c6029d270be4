"""`bench/scale.py` at a small fleet, as a test of correctness: it completes and prints every figure.

Real processes (the API server, `kubenode operator`, the hollow fleet in the
bench's process). No figure is compared with a target here: timings belong to
the bench's output (docs/scale.md), never to assertions on a shared machine.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "scale.py"
FIGURES = ("registration", "operator sync", "operator at rest", "informer memory     Node:",
           "informer memory     Machine:", "remediation", "initial install", "rollout  ",
           "informer memory     MachineComponent:", "operator after", "operator settled", "operator scraped",
           "operator peak RSS")


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_scale_bench_runs_at_small_n_and_prints_every_figure() -> None:
    n = 300
    proc = subprocess.run([sys.executable, str(BENCH), "--sizes", f"{n},{2 * n}", "--rest", "3", "--settle", "1",
                           "--faults", "1", "--timeout", "400"],
                          capture_output=True, text=True, timeout=840, check=False, stdin=subprocess.DEVNULL)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    for size in (n, 2 * n):
        assert f"{size} hollow machines: Lease" in out
    for label in FIGURES:
        assert out.count(label) == 2, (label, out)
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[len("RESULT "):])
    assert [r["machines"] for r in result] == [n, 2 * n]
    for r in result:
        # Every faulted node's job was Approved, every machine was updated, every memory figure is real.
        assert r["remedy_faulted"] == r["remedy_approved"] >= 1, r
        assert r["batches"] == 6, r  # 1, 5, 10, 50, 100 and the remaining 134 (of 300) or 434 (of 600)
        for kind in ("Node", "Machine", "MachineComponent"):
            assert r[f"bytes_{kind}"] > 0, r
        assert 0 < r["rest_rss"] <= r["peak_rss"], r
        assert r["settled_rss"] > 0 and r["scraped_rss"] > 0 and r["scrape_bytes"] > 0, r
    assert re.search(r"updated (\d+)/\1", out), out
    assert re.search(rf"rollout {2 * n} vs {n} machines: time x[\d.]+ for x2 machines", out), out
    # The bench stopped every process it started.
    pids = [int(p) for p in re.findall(r"(?:apiserver|operator) pid (\d+)", out)]
    assert len(pids) == 4, out
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
