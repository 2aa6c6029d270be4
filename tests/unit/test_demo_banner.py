"""What `kubenode up` prints and creates for the demo component: objects as `kubectl apply` would create
them, and a banner that only suggests versions the set does not target already."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kubenode.demo.artifacts import Artifact
from kubenode.demo.start import LAST_APPLIED, Demo, _notes, as_applied


def demo() -> Demo:
    server = SimpleNamespace(base_url="http://127.0.0.1:1", port_changed=False,
                             url=lambda f: f"http://127.0.0.1:1/{f}")
    arts = [Artifact(v, Path(f"/x/{v}.tar.gz"), "a" * 64, v != "1.2.0") for v in ("1.0.0", "1.1.0", "1.2.0")]
    return Demo(server, arts)  # type: ignore[arg-type]


@pytest.mark.parametrize(("created", "current", "suggested"), [
    (True, None, ["1.1.0", "1.2.0"]),
    (False, "1.0.0", ["1.1.0", "1.2.0"]),
    (False, "1.1.0", ["1.0.0", "1.2.0"]),  # a restart after rolling to 1.1.0 does not suggest 1.1.0 again
    (False, "1.2.0", ["1.0.0", "1.1.0"]),
])
def test_banner_suggests_only_versions_not_targeted(created: bool, current: str | None,
                                                   suggested: list[str]) -> None:
    lines = _notes(Path("/d"), demo(), created, current)
    rolls = [line.split()[2] for line in lines if line.strip().startswith("roll to")]
    assert rolls == suggested


def test_demo_objects_carry_the_last_applied_configuration() -> None:
    manifest: dict[str, Any] = {"apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponentSet",
                                "metadata": {"name": "node-exporter"}, "spec": {"component": "node-exporter"}}
    body = as_applied(manifest)
    assert json.loads(body["metadata"]["annotations"][LAST_APPLIED]) == manifest
    assert "annotations" not in manifest["metadata"]  # the input is not modified
