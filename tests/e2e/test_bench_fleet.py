"""bench/fleet.py at two machines, as a test of correctness: both of its halves (`kubenode up`, and a
standalone `kubenode operator` against `kubenode apiserver`) must bring the machines to Running with Ready
Nodes and print their figures. No timing is asserted (figures vary with the machine's load). The operator
half once hung for want of the agents' RBAC, which only `kubenode up` installed, and nothing noticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
BENCH = Path(__file__).parent.parent.parent / "bench" / "fleet.py"


def test_fleet_bench_brings_both_fleets_up() -> None:
    out = subprocess.run([sys.executable, str(BENCH), "--machines", "2", "--rest-seconds", "1"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    assert "kubenode up --machines 2: all 2 Running with Ready nodes" in out.stdout
    assert "operator alone: MachineSet of 2 → all Running with Ready nodes" in out.stdout
    assert "operator at rest with 2 machines: RSS" in out.stdout
