"""The agent's own checks of MachineComponent inputs (defence in depth behind the CRD rules)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.agent.installer.archive import write_files
from kubenode.agent.installer.inputs import (
    InputRefused,
    capped_mode,
    check_env,
    check_file_source,
    default_trusted_dirs,
    normal_path,
)
from kubenode.agent.installer.layout import PathEscapeError
from kubenode.agent.trust import component_mismatch, job_mismatch


@pytest.mark.parametrize(("raw", "normal"), [
    ("bin/run", "bin/run"), ("./bin/run", "bin/run"), ("bin//run", "bin/run"), ("bin/./run", "bin/run"),
    ("bin/run/", "bin/run"), (".cfg", ".cfg"), ("..x/y", "..x/y"),
])
def test_normal_path(raw: str, normal: str) -> None:
    assert normal_path(raw) == normal


@pytest.mark.parametrize("raw", ["", "/etc/passwd", "../x", "bin/../../x", ".", "./", "a\x00b"])
def test_normal_path_refuses(raw: str) -> None:
    with pytest.raises(InputRefused):
        normal_path(raw)


@given(st.lists(st.sampled_from(["bin", "run", ".", "", "x.conf"]), min_size=1, max_size=6))
def test_every_spelling_of_a_path_has_one_normal_form(segments: list[str]) -> None:
    raw = "/".join(segments)
    if raw.startswith("/") or not [s for s in segments if s not in ("", ".")]:
        return
    assert normal_path(raw) == "/".join(s for s in segments if s not in ("", "."))


@pytest.mark.parametrize("spelling", ["bin/run", "./bin/run", "bin//run", "bin/./run", "link/run"])
def test_no_spelling_replaces_a_verified_file(tmp_path: Path, spelling: str) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "run").write_text("verified")
    (tmp_path / "link").symlink_to("bin")
    with pytest.raises(PathEscapeError, match="part of the artifact"):
        write_files(tmp_path, [{"path": spelling, "content": "evil"}], {"bin/run", "link"})
    assert (tmp_path / "bin" / "run").read_text() == "verified"


def test_two_spellings_of_one_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PathEscapeError, match="same file"):
        write_files(tmp_path, [{"path": "etc/x", "content": "a"}, {"path": "etc//x", "content": "b"}])


@pytest.mark.parametrize(("mode", "written"), [(0o644, 0o644), (0o666, 0o664), (0o777, 0o775), (0o4755, 0o755),
                                               (0o2775, 0o775), (0o1777, 0o775)])
def test_modes_are_capped(tmp_path: Path, mode: int, written: int) -> None:
    assert capped_mode(mode) == written
    write_files(tmp_path, [{"path": "f", "content": "", "mode": mode}])
    assert stat.S_IMODE(os.stat(tmp_path / "f").st_mode) == written


@pytest.mark.parametrize(("name", "refused"), [("LD_PRELOAD", True), ("LD_LIBRARY_PATH", True), ("LD_AUDIT", True),
                                               ("BASH_ENV", True), ("ENV", True), ("PYTHONPATH", True),
                                               ("NODE_OPTIONS", True), ("GLIBC_TUNABLES", True),
                                               ("LOG_LEVEL", False), ("PATHX", False), ("MY_ENV", False)])
def test_loader_env_names(name: str, refused: bool) -> None:
    run: dict[str, Any] = {"command": ["bin/x"], "env": [{"name": "OK", "value": "1"}, {"name": name, "value": "x"}]}
    if refused:
        with pytest.raises(InputRefused, match=r"spec\.run\.env\[1\]\.name"):
            check_env(run)
    else:
        check_env(run)


def test_file_sources_only_from_trusted_dirs(tmp_path: Path) -> None:
    trusted = tmp_path / "artifacts"
    trusted.mkdir()
    (trusted / "a.tar.gz").write_bytes(b"")
    (tmp_path / "elsewhere.tar.gz").write_bytes(b"")
    (trusted / "escape.tar.gz").symlink_to(tmp_path / "elsewhere.tar.gz")
    check_file_source((trusted / "a.tar.gz").as_uri(), (trusted,))
    check_file_source("https://example.com/a.tar.gz", ())
    for url, dirs in [((tmp_path / "elsewhere.tar.gz").as_uri(), (trusted,)),
                      ((trusted / "escape.tar.gz").as_uri(), (trusted,)),
                      (f"file://{trusted}/../elsewhere.tar.gz", (trusted,)),
                      ((trusted / "a.tar.gz").as_uri(), ())]:
        with pytest.raises(InputRefused, match="file://"):
            check_file_source(url, dirs)


def test_default_trusted_dirs() -> None:
    assert default_trusted_dirs(Path("/data/machines/m1"), local=True) == (Path("/data/artifacts"),)
    assert default_trusted_dirs(Path("/"), local=False) == ()


def _mc(machine: str = "m1", label: str = "m1", node: str | None = "n1", owner: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x-m1", "labels": {"kubenode.io/machine": label}}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "kubenode.io/v1alpha1", "kind": "MachineComponentSet",
                                    "name": "x", "uid": "u1", "controller": True}]
    spec: dict[str, Any] = {"machineName": machine}
    if node is not None:
        spec["nodeName"] = node
    return {"metadata": meta, "spec": spec}


@pytest.mark.parametrize(("obj", "why"), [
    (_mc(), None),
    (_mc(node=None), None),
    (_mc(machine="m2"), "spec.machineName"),
    (_mc(label="m2"), "labelled"),
    (_mc(node="n2"), "spec.nodeName"),
    (_mc(owner=False), "no MachineComponentSet as its controller"),
])
def test_component_trust(obj: dict[str, Any], why: str | None) -> None:
    got = component_mismatch(obj, "m1", "n1")
    assert (got is None) if why is None else (got is not None and why in got)


@pytest.mark.parametrize(("spec", "ok"), [({"nodeName": "n1", "machineName": "m1"}, True), ({"nodeName": "n1"}, True),
                                          ({"nodeName": "n2"}, False), ({"nodeName": "n1", "machineName": "m2"}, False),
                                          ({}, False)])
def test_job_trust(spec: dict[str, Any], ok: bool) -> None:
    assert (job_mismatch({"metadata": {"name": "j"}, "spec": spec}, "m1", "n1") is None) == ok
