"""Component drift: the installed tree against the record taken when the verified artifact was unpacked."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kubenode.agent.installer.drift import HASHES, has_record, record_hashes, verify_hashes
from kubenode.agent.installer.layout import COMPLETE_MARKER
from kubenode.componentset.fleet import ComponentState, traits_of


def _tree(base: Path) -> Path:
    (base / "bin").mkdir(parents=True)
    (base / "bin" / "server").write_text("#!/bin/sh\necho hi\n")
    os.chmod(base / "bin" / "server", 0o755)
    (base / "etc").mkdir()
    (base / "etc" / "a.conf").write_text("a=1\n")
    (base / "etc" / "z.conf").write_text("z=1\n")
    os.symlink("bin/server", base / "run")
    (base / COMPLETE_MARKER).write_text("sha\n")
    return base


def _write(rel: str, text: str) -> Callable[[Path], None]:
    return lambda b: (b / rel).write_text(text)


@pytest.mark.parametrize(("tamper", "path", "what"), [
    (_write("etc/z.conf", "z=2\n"), "etc/z.conf", "content differs"),
    (lambda b: (b / "etc" / "a.conf").unlink(), "etc/a.conf", "missing"),
    (lambda b: os.chmod(b / "bin" / "server", 0o777), "bin/server", "mode 777, verified 755"),
    (lambda b: ((b / "run").unlink(), os.symlink("etc/a.conf", b / "run")), "run", "symlink now points to"),
    (lambda b: ((b / "run").unlink(), (b / "run").write_text("x")), "run", "was a symlink"),
    # two changes: the first differing path in path order is named
    (lambda b: ((b / "etc" / "z.conf").write_text("!"), (b / "etc" / "a.conf").write_text("!")), "etc/a.conf",
     "content differs"),
    (_write(HASHES, "{not json"), HASHES, "unreadable"),
])
def test_drift_names_the_first_differing_path(tmp_path: Path, tamper: Callable[[Path], object], path: str,
                                              what: str) -> None:
    base = _tree(tmp_path / "1.0.0")
    assert record_hashes(base) == 4
    assert verify_hashes(base) is not None and not verify_hashes(base).drifted  # type: ignore[union-attr]
    tamper(base)
    result = verify_hashes(base)
    assert result is not None and result.drifted and result.path == path and what in result.what
    assert result.message.startswith(f"{path}: ")


def test_runtime_files_and_markers_are_not_drift(tmp_path: Path) -> None:
    base = _tree(tmp_path / "1.0.0")
    record_hashes(base)
    (base / "data.db").write_text("written by the service")  # not part of the artifact
    (base / COMPLETE_MARKER).write_text("other\n")
    result = verify_hashes(base)
    assert result is not None and not result.drifted and result.files == 4
    assert result.message == "4 files match the verified artifact"


def test_no_record(tmp_path: Path) -> None:
    base = _tree(tmp_path / "1.0.0")
    assert not has_record(base) and verify_hashes(base) is None


@pytest.mark.parametrize(("drifted", "updated", "ready"), [(False, True, True), (True, False, False)])
def test_rollout_counts_a_drifted_machine_as_not_updated(drifted: bool, updated: bool, ready: bool) -> None:
    comp = ComponentState(name="mc", revision="r2", phase="Running", healthy=True, installed_revision="r2",
                          drifted=drifted)
    t = traits_of(comp, "r2", "r1")
    assert (t.updated, t.ready) == (updated, ready)


@pytest.mark.parametrize(("status", "drifted"), [("True", True), ("False", False), ("Unknown", False)])
def test_component_state_reads_the_drifted_condition(status: str, drifted: bool) -> None:
    from kubenode.componentset.controller import component_state

    mc = {"metadata": {"name": "mc", "generation": 1}, "spec": {"revision": "r2"},
          "status": {"phase": "Running", "healthy": True, "installedRevision": "r2", "observedGeneration": 1,
                     "conditions": [{"type": "Drifted", "status": status, "reason": "X", "message": "",
                                     "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
    assert component_state(mc).drifted is drifted
