"""The demo exporter and its archives: reproducible builds, safe contents, port selection, metrics text."""

from __future__ import annotations

import tarfile
from pathlib import Path

import aiohttp
import pytest

from kubenode.agent.installer.archive import check_member
from kubenode.demo.artifact_server import ArtifactServer
from kubenode.demo.artifacts import build_all, build_archive
from kubenode.demo.exporter import port_from, render_metrics


def test_archives_are_reproducible_and_distinct(tmp_path: Path) -> None:
    first = build_all(tmp_path / "a")
    second = build_all(tmp_path / "b")
    assert [a.sha256 for a in first] == [a.sha256 for a in second]
    assert len({a.sha256 for a in first}) == 3
    assert [(a.version, a.healthy) for a in first] == [("1.0.0", True), ("1.1.0", True), ("1.2.0", False)]


def test_archive_contents_pass_the_installer_checks(tmp_path: Path) -> None:
    a = build_archive(tmp_path, "1.0.0", True)
    with tarfile.open(a.path) as tar:
        members = {m.name: m for m in tar.getmembers()}
        for m in members.values():
            check_member(m.name, "dir" if m.isdir() else "file")
        assert members["bin/node-exporter"].mode & 0o111
        assert members["bin/check"].mode & 0o111
        assert b'"healthy": true' in (tar.extractfile("share/build.json") or b"").read()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("argv", "env", "port"),
    [
        (["--port", "1234"], {"KUBENODE_COMPONENT_PORT": "5"}, 1234),
        ([], {"EXPORTER_PORT": "2345", "KUBENODE_COMPONENT_PORT": "5"}, 2345),
        ([], {"KUBENODE_COMPONENT_PORT": "3456"}, 3456),
        ([], {}, 9100),
    ],
)
def test_exporter_port(argv: list[str], env: dict[str, str], port: int) -> None:
    assert port_from(argv, env) == port


def test_metrics_text(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "boot_id").write_text("b00t\n")
    text = render_metrics(str(tmp_path), {"version": "1.1.0"}, 7)
    assert 'node_exporter_build_info{version="1.1.0"} 1' in text
    assert 'node_boot_info{boot_id="b00t"} 1' in text
    assert "node_exporter_scrapes_total 7" in text
    assert "# TYPE node_load1 gauge" in text


async def test_artifact_server_serves_archives_only(tmp_path: Path) -> None:
    a = build_archive(tmp_path, "1.0.0", True)
    (tmp_path / "secret.txt").write_text("no")
    server = ArtifactServer(tmp_path)
    await server.start()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(server.url(a.filename)) as resp:
                assert resp.status == 200 and await resp.read() == a.path.read_bytes()
            for name in ("secret.txt", "..%2Fsecret.txt", "missing.tar.gz"):
                async with s.get(f"{server.base_url}/{name}") as resp:
                    assert resp.status == 404
        port = server.port
    finally:
        await server.stop()
    again = ArtifactServer(tmp_path)
    await again.start()
    try:
        assert again.port == port and not again.port_changed  # URLs in MachineComponentSets stay valid
    finally:
        await again.stop()
