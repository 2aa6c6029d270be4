"""deploy/examples/kubelet-join/ (the imported Machine, containerd and the kubelet as MachineComponentSets) is
valid: the embedded server's CRD schemas and CEL rules accept every object in a server-side dry run, as a real
cluster with KubeNode's CRDs would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import Cluster, wait_until
from .fleet import kubenode

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "kubelet-join"


def test_the_kubelet_join_examples_validate(cluster: Cluster) -> None:
    crds = subprocess.run(kubenode("crds"), capture_output=True, text=True, check=True).stdout
    cluster.kubectl("apply", "-f", "-", stdin=crds)
    wait_until(lambda: cluster._run(["get", "machinecomponentsets"]).returncode == 0, 30, "the CRDs served")
    r = cluster.kubectl("apply", "--dry-run=server", "-f", str(EXAMPLES))
    created = sorted(line.split()[0] for line in r.lines())
    assert created == ["machine.kubenode.io/worker-1", "machinecomponentset.kubenode.io/containerd",
                       "machinecomponentset.kubenode.io/kubelet"], r.stdout
