"""What the image holds, without an image builder (none runs on our CI machines, docs/deploy.md):
the wheel built from the repository installs into a clean venv, and every entrypoint the manifests in
deploy/ name starts with exactly the manifests' arguments (`--help` appended, as the container's argv)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]


def _container_args() -> dict[str, list[str]]:
    """kind/name -> args of the first container of every workload in deploy/base, with the kubelet's
    $(VAR) expansion applied to the env the container declares (fieldRefs get a sample value)."""
    out: dict[str, list[str]] = {}
    for path in sorted((ROOT / "deploy" / "base").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") not in ("Deployment", "DaemonSet"):
                continue
            container: dict[str, Any] = doc["spec"]["template"]["spec"]["containers"][0]
            env = {e["name"]: e.get("value", "node-a") for e in container.get("env") or []}
            args = []
            for arg in container["args"]:
                for key, value in env.items():
                    arg = arg.replace(f"$({key})", value)
                args.append(arg)
            assert container["image"] == "kubenode", "the image's one entrypoint is `kubenode`"
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = args
    return out


def test_the_wheel_installs_and_every_manifest_entrypoint_starts(tmp_path: Path) -> None:
    entrypoints = _container_args()
    assert set(entrypoints) == {"Deployment/kubenode-operator", "DaemonSet/kubenode-agent"}
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                   check=True, timeout=600)
    (wheel,) = dist.glob("kubenode-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)  # no system packages
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, timeout=1000)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import kubenode; print(kubenode.__file__)"],
                           capture_output=True, text=True, check=True, env=env, cwd=tmp_path)
    assert where.stdout.startswith(str(venv)), where.stdout  # the installed copy, not the source tree
    for name, args in entrypoints.items():
        r = subprocess.run([str(venv / "bin" / "kubenode"), *args, "--help"], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=120)
        assert r.returncode == 0, f"{name}: kubenode {' '.join(args)} --help\n{r.stdout}\n{r.stderr}"
        assert f"Usage: kubenode {args[0]}" in r.stdout, r.stdout
