"""DaemonSet mode (`--host-root`): what reaches the host's systemd, and the unit's view of host paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubenode.agent.executor.actions import REBOOT_ARGV, on_host
from kubenode.agent.installer.package import CommandResult
from kubenode.agent.installer.supervisor import ServiceSpec, SystemdSupervisor, relocate, systemd_unit


@pytest.mark.parametrize(("host_root", "argv", "want"), [
    (None, REBOOT_ARGV, ["systemctl", "reboot"]),
    (Path("/host"), REBOOT_ARGV, ["chroot", "/host", "systemctl", "reboot"]),
])
def test_on_host(host_root: Path | None, argv: tuple[str, ...], want: list[str]) -> None:
    assert on_host(host_root, argv) == want


def test_relocate_strips_the_mount_prefix_only() -> None:
    spec = ServiceSpec(argv=("/host/opt/kubenode/components/x/1/bin/x", "--flag=/hostile", "/host"),
                       env={"KUBENODE_ROOT": "/host", "DIR": "/host/opt/x", "OTHER": "/hostname"},
                       cwd=Path("/host/opt/kubenode/components/x/1"), log_file=Path("/host/var/log/components/x.log"))
    out = relocate(spec, Path("/host"))
    assert out.argv == ("/opt/kubenode/components/x/1/bin/x", "--flag=/hostile", "/")
    assert out.env == {"KUBENODE_ROOT": "/", "DIR": "/opt/x", "OTHER": "/hostname"}
    assert out.cwd == Path("/opt/kubenode/components/x/1")
    assert "/host/" not in systemd_unit("x", out)


async def test_systemd_supervisor_writes_the_hosts_unit_and_chroots(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    async def runner(argv: list[str]) -> CommandResult:
        calls.append(argv)
        return CommandResult(0, "")

    sup = SystemdSupervisor("x", runner=runner, host_root=tmp_path)
    bin_ = tmp_path / "opt/kubenode/components/x/1/bin/x"
    await sup.start(ServiceSpec(argv=(str(bin_),), env={}, cwd=bin_.parent, log_file=tmp_path / "x.log"))
    unit = (tmp_path / "etc/systemd/system/kubenode-x.service").read_text()
    assert "ExecStart=\"/opt/kubenode/components/x/1/bin/x\"" in unit
    assert calls == [["chroot", str(tmp_path), "systemctl", "daemon-reload"],
                     ["chroot", str(tmp_path), "systemctl", "enable", "kubenode-x.service"],
                     ["chroot", str(tmp_path), "systemctl", "restart", "kubenode-x.service"]]
