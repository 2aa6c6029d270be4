"""bench/simulate.py at a small fleet, as a test of correctness: a real `kubenode apiserver` process and a
few hundred hollow nodes writing Leases, Machine heartbeats and Node status. Nothing here asserts a timing
(figures vary with the machine's load); it asserts that every kind of periodic write happened, was timed,
and that none failed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
BENCH = Path(__file__).parent.parent.parent / "bench" / "simulate.py"


def test_simulate_bench_times_every_kind_of_periodic_write() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--sizes", "200", "--window", "4", "--settle", "2",
                          "--lease-seconds", "2", "--heartbeat-seconds", "2", "--status-seconds", "3",
                          "--concurrency", "32", "--json"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["nodes"] == 200 and r["errors"] == 0
    assert set(r["writes_by_kind"]) >= {"lease", "heartbeat", "node-status"}
    assert r["writes_per_s"] > 0 and r["server_cpu_pct"] > 0 and r["server_loop_pct"] > 0
    for key in ("write_p50_ms", "write_p99_ms", "lease_p99_ms", "heartbeat_p99_ms", "status_p99_ms"):
        assert r[key] > 0, key
    assert r["write_p99_ms"] >= r["write_p50_ms"]
    assert "mutating calls" in out.stdout and "SLO p99 < 1000 ms" in out.stdout
