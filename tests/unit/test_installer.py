"""Table-driven tests of the installer's pure parts: path safety, tar members, package argv, systemd units,
restart backoff, health bookkeeping, the reconcile planner, ports, and journal recovery."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubenode.agent.installer.archive import UnsafeArchiveError, check_member, switch_current
from kubenode.agent.installer.healthcheck import HealthCheck, HealthTracker, ProbeResult
from kubenode.agent.installer.journal import Journal, recover
from kubenode.agent.installer.layout import COMPLETE_MARKER, ComponentLayout, PathEscapeError, resolve_inside
from kubenode.agent.installer.package import PackageError, install_argv, installed_version_argv
from kubenode.agent.installer.plan import Action, Desired, LocalState, Observation, compute_status, plan, reboots
from kubenode.agent.installer.supervisor import Backoff, ServiceSpec, systemctl_argv, systemd_unit
from kubenode.agent.installer.transaction import PORT_RANGE, port_for, preferred_port
from kubenode.api.constants import FINALIZER_MACHINE_COMPONENT

# --------------------------------------------------------------------------- tar members


@pytest.mark.parametrize(
    ("name", "kind", "link", "ok"),
    [
        ("bin/x", "file", "", True),
        ("./bin/x", "file", "", True),
        ("bin/", "dir", "", True),
        ("/etc/passwd", "file", "", False),
        ("../x", "file", "", False),
        ("bin/../../x", "file", "", False),
        ("a/..", "dir", "", False),
        ("", "file", "", False),
        ("bin/x\x00", "file", "", False),
        ("dev/sda", "device", "", False),
        ("run/fifo", "fifo", "", False),
        ("lib/libx.so", "symlink", "libx.so.1", True),
        ("bin/x", "symlink", "../lib/x", True),
        ("bin/x", "symlink", "../../etc/passwd", False),
        ("x", "symlink", "..", False),
        ("bin/x", "symlink", "/bin/sh", False),
        ("bin/x", "hardlink", "bin/y", True),
        ("bin/x", "hardlink", "../y", False),
        ("bin/x", "hardlink", "/etc/shadow", False),
    ],
)
def test_check_member(name: str, kind: str, link: str, ok: bool) -> None:
    if ok:
        check_member(name, kind, link)
    else:
        with pytest.raises(UnsafeArchiveError):
            check_member(name, kind, link)


_segment = st.sampled_from(["a", "b", "..", ".", "", "bin", "x.y"])


@given(st.lists(_segment, min_size=1, max_size=6), st.booleans())
def test_accepted_members_never_escape(parts: list[str], absolute: bool) -> None:
    name = ("/" if absolute else "") + "/".join(parts)
    try:
        normalised = check_member(name, "file")
    except UnsafeArchiveError:
        assert name.startswith("/") or ".." in parts or not name
        return
    assert not name.startswith("/") and ".." not in parts
    assert not os.path.normpath(normalised).startswith("..")


# --------------------------------------------------------------------------- path confinement


@pytest.mark.parametrize(
    ("relative", "ok"),
    [
        ("bin/x", True),
        ("etc/x.conf", True),
        ("/bin/sh", False),
        ("../x", False),
        ("bin/../../x", False),
        ("", False),
        ("link-out/x", False),  # an inner symlink pointing outside
        ("link-in/x", True),  # an inner symlink pointing inside
    ],
)
def test_resolve_inside(tmp_path: Path, relative: str, ok: bool) -> None:
    base = tmp_path / "v"
    (base / "bin").mkdir(parents=True)
    os.symlink(str(tmp_path), base / "link-out")
    os.symlink("bin", base / "link-in")
    if ok:
        assert str(resolve_inside(base, relative)).startswith(str(base.resolve()))
    else:
        with pytest.raises(PathEscapeError):
            resolve_inside(base, relative)


# --------------------------------------------------------------------------- packages


@pytest.mark.parametrize(
    ("manager", "name", "version", "argv"),
    [
        ("apt", "containerd", "1.7.*", ["apt-get", "install", "-y", "--no-install-recommends", "--allow-downgrades",
                                        "-o", "Dpkg::Options::=--force-confold", "containerd=1.7.*"]),
        ("apt", "kubelet", None, ["apt-get", "install", "-y", "--no-install-recommends", "--allow-downgrades",
                                  "-o", "Dpkg::Options::=--force-confold", "kubelet"]),
        ("yum", "containerd.io", "1.7.2", ["yum", "install", "-y", "containerd.io-1.7.2"]),
        ("dnf", "kubelet", "1:1.30.1", ["dnf", "install", "-y", "kubelet-1:1.30.1"]),
    ],
)
def test_install_argv(manager: str, name: str, version: str | None, argv: list[str]) -> None:
    assert install_argv(manager, name, version) == argv


@pytest.mark.parametrize(
    ("name", "version"),
    [("-oAPT::Update=evil", None), ("x; rm -rf /", None), ("x", "1.0 && reboot"), ("x", "-1"), ("x y", None),
     ("", None), ("x", "$(id)")],
)
def test_install_argv_refuses_unsafe_values(name: str, version: str | None) -> None:
    with pytest.raises(PackageError, match=r"spec\.source\.package"):
        install_argv("apt", name, version)


def test_installed_version_argv() -> None:
    assert installed_version_argv("apt", "kubelet") == ["dpkg-query", "--show", "--showformat=${Version}", "kubelet"]
    assert installed_version_argv("yum", "kubelet")[:2] == ["rpm", "--query"]
    with pytest.raises(PackageError):
        install_argv("pacman", "x", None)


# --------------------------------------------------------------------------- systemd


def test_systemd_unit_text() -> None:
    spec = ServiceSpec(argv=("/opt/kubenode/components/x/1.0.0/bin/x", "--greeting=hello world", "100%", "$HOME"),
                       env={"B": 'say "hi"', "A": "1"}, cwd=Path("/opt/kubenode/components/x/1.0.0"),
                       log_file=Path("/dev/null"), version="1.0.0")
    assert systemd_unit("x", spec) == "\n".join([
        "# Written by the KubeNode agent; changes are overwritten.",
        "[Unit]",
        "Description=KubeNode component x 1.0.0",
        "After=network-online.target",
        "Wants=network-online.target",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=simple",
        'ExecStart="/opt/kubenode/components/x/1.0.0/bin/x" "--greeting=hello world" "100%%" "$$HOME"',
        'WorkingDirectory="/opt/kubenode/components/x/1.0.0"',
        'Environment="A=1"',
        'Environment="B=say \\"hi\\""',
        "Restart=on-failure",
        "RestartSec=1",
        "KillMode=control-group",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def test_systemd_unit_refuses_nul_and_systemctl_argv() -> None:
    spec = ServiceSpec(argv=("x\x00y",), env={}, cwd=Path("/"), log_file=Path("/dev/null"))
    with pytest.raises(ValueError, match="NUL"):
        systemd_unit("x", spec)
    assert systemctl_argv("restart", "x") == ["systemctl", "restart", "kubenode-x.service"]
    assert systemctl_argv("daemon-reload", "x") == ["systemctl", "daemon-reload"]
    with pytest.raises(ValueError):
        systemctl_argv("mask; reboot", "x")


# --------------------------------------------------------------------------- backoff and health


@pytest.mark.parametrize(("crashes", "delay"), [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0),
                                                (1000, 60.0)])
def test_backoff_delay(crashes: int, delay: float) -> None:
    assert Backoff().delay(crashes) == delay


@pytest.mark.parametrize(("before", "ran", "after"), [(0, 0.1, 1), (3, 0.1, 4), (5, 30.0, 1), (5, 29.9, 6)])
def test_backoff_resets_after_a_stable_run(before: int, ran: float, after: int) -> None:
    assert Backoff().next_crashes(before, ran) == after


@pytest.mark.parametrize(
    ("threshold", "results", "verdicts"),
    [
        (3, [False, False, False], [None, None, False]),
        (3, [False, True, False, False, False], [None, True, True, True, False]),
        (1, [True, False, True], [True, False, True]),
        (2, [False, False, True], [None, False, True]),
    ],
)
def test_health_tracker(threshold: int, results: list[bool], verdicts: list[bool | None]) -> None:
    tracker = HealthTracker(threshold)
    seen = []
    for ok in results:
        tracker.observe(ProbeResult(ok, ""))
        seen.append(tracker.healthy)
    assert seen == verdicts


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"exec": {"command": ["bin/c"]}, "http": {"port": 1}}, "exactly one of exec, http or tcp"),
        ({"tcp": {"port": 0}}, r"spec\.healthCheck\.tcp\.port"),
        ({"http": {"port": 80, "scheme": "FTP"}}, r"spec\.healthCheck\.http\.scheme"),
        ({"exec": {"command": []}, "tcp": {"port": 1}}, "exactly one"),
        ({"tcp": {"port": 80}, "periodSeconds": 0}, "must be positive"),
    ],
)
def test_health_check_spec_errors(spec: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        HealthCheck.from_spec(spec)


def test_health_check_spec_defaults() -> None:
    check = HealthCheck.from_spec({"http": {"port": 8080}})
    assert check is not None
    assert (check.kind, check.host, check.path, check.period, check.timeout, check.failure_threshold) == \
        ("http", "127.0.0.1", "/", 5.0, 5.0, 3)
    assert HealthCheck.from_spec(None) is None


# --------------------------------------------------------------------------- planner


def mc(version: str = "1.1.0", *, deleting: bool = False, finalizer: bool = True, files: list[Any] | None = None,
       run: dict[str, Any] | None = None, disruption: str = "None", generation: int = 2) -> Desired:
    meta: dict[str, Any] = {"name": "mc1", "generation": generation,
                            "finalizers": [FINALIZER_MACHINE_COMPONENT] if finalizer else []}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return Desired.from_object({"metadata": meta, "spec": {
        "component": "x", "version": version, "source": {"url": f"file:///x-{version}.tgz", "sha256": "a" * 64},
        "run": run if run is not None else {"command": ["bin/x"]}, "files": files or [], "disruption": disruption}})


def applied(d: Desired, **kw: Any) -> LocalState:
    st = LocalState(mc_name=d.name, applied_hash=d.spec_hash, artifact_key=d.artifact_key, run_hash=d.run_hash,
                    files_hash=d.files_hash, version=d.version)
    for k, v in kw.items():
        setattr(st, k, v)
    return st


V110 = mc("1.1.0")
F1 = [{"path": "etc/a", "content": "1"}]
F2 = [{"path": "etc/a", "content": "2"}]


@pytest.mark.parametrize(
    ("desired", "current", "state", "running", "action", "restart"),
    [
        (mc(deleting=True), "1.1.0", applied(V110), True, Action.REMOVE, False),
        (mc(deleting=True, finalizer=False), None, LocalState(), False, Action.FORGET, False),
        (mc(finalizer=False), None, LocalState(), False, Action.ADD_FINALIZER, False),
        (V110, None, LocalState(), False, Action.INSTALL, True),
        (V110, "1.0.0", applied(mc("1.0.0")), True, Action.INSTALL, True),
        (V110, "1.1.0", applied(V110), True, Action.STEADY, False),
        (V110, "1.1.0", applied(V110), False, Action.START, False),
        (V110, "1.1.0", applied(mc("1.1.0", run={})), False, Action.RECONFIGURE, True),
        (mc(run={}), "1.1.0", applied(mc(run={})), False, Action.STEADY, False),
        # the spec that failed (rolled back to 1.0.0) is held until it changes
        (V110, "1.0.0", applied(mc("1.0.0"), failed_hash=V110.spec_hash), True, Action.HOLD_FAILED, False),
        (mc(files=F2), "1.1.0", applied(mc(files=F1)), True, Action.RECONFIGURE, False),
        (mc(files=F2, disruption="Restart"), "1.1.0", applied(mc(files=F1, disruption="Restart")), True,
         Action.RECONFIGURE, True),
        (mc(files=F2, disruption="Reboot"), "1.1.0", applied(mc(files=F1, disruption="Reboot")), True,
         Action.RECONFIGURE, True),
    ],
)
def test_plan(desired: Desired, current: str | None, state: LocalState, running: bool, action: Action,
              restart: bool) -> None:
    assert plan(desired, Observation(current, state, running)) == (action, restart)


R110 = mc("1.1.0", disruption="Reboot")


@pytest.mark.parametrize(
    ("desired", "current", "state", "boot", "action"),
    [
        # installed in this boot: reboot; a new boot runs: check health after boot (also if the service is down)
        (R110, "1.1.0", applied(R110, reboot_from="boot-1"), "boot-1", Action.REBOOT),
        (R110, "1.1.0", applied(R110, reboot_from="boot-1"), "boot-2", Action.AFTER_BOOT),
        (R110, "1.1.0", applied(R110), "boot-2", Action.STEADY),
        # a new spec while the reboot is pending is installed first (its own reboot follows)
        (mc("1.2.0", disruption="Reboot"), "1.1.0", applied(R110, reboot_from="boot-1"), "boot-1", Action.INSTALL),
    ],
)
def test_plan_disruption_reboot(desired: Desired, current: str | None, state: LocalState, boot: str,
                                action: Action) -> None:
    assert plan(desired, Observation(current, state, True, boot))[0] is action


@pytest.mark.parametrize(
    ("desired", "action", "restart", "expected"),
    [
        (R110, Action.INSTALL, True, True),
        (R110, Action.RECONFIGURE, True, True),
        (R110, Action.RECONFIGURE, False, False),
        (R110, Action.START, False, False),
        (mc(disruption="Drain"), Action.INSTALL, True, False),
        (V110, Action.INSTALL, True, False),
    ],
)
def test_which_changes_reboot(desired: Desired, action: Action, restart: bool, expected: bool) -> None:
    assert reboots(desired, action, restart) is expected


@pytest.mark.parametrize(
    ("current", "state", "healthy", "phase"),
    [
        ("1.1.0", applied(V110), True, "Running"),
        ("1.1.0", applied(V110), None, "Running"),
        ("1.1.0", applied(V110), False, "Failed"),
        ("1.0.0", applied(mc("1.0.0"), failed_hash=V110.spec_hash), True, "Failed"),
        ("1.0.0", applied(mc("1.0.0")), True, "Pending"),
        (None, LocalState(), None, "Pending"),
        # disruption Reboot: installed, but not Running until a new boot checked it
        ("1.1.0", applied(V110, reboot_from="boot-1"), True, "Installing"),
    ],
)
def test_compute_status_phase(current: str | None, state: LocalState, healthy: bool | None, phase: str) -> None:
    status = compute_status(V110, Observation(current, state, True), healthy, "m")
    assert status["phase"] == phase
    assert status["observedGeneration"] == 2
    assert status.get("installedVersion") == current


# --------------------------------------------------------------------------- ports


def test_port_is_deterministic_and_skips_busy_ports() -> None:
    p = preferred_port("m1", "node-exporter")
    assert PORT_RANGE[0] <= p < PORT_RANGE[1]
    assert p == preferred_port("m1", "node-exporter")
    assert port_for("m1", "node-exporter", is_free=lambda _: True) == p
    assert port_for("m1", "node-exporter", is_free=lambda q: q not in (p, p + 1)) == p + 2
    assert port_for("m1", "node-exporter", recorded=12345) == 12345
    ports = {preferred_port(f"local-{i}", "node-exporter") for i in range(5)}
    assert len(ports) == 5


# --------------------------------------------------------------------------- journal recovery


def _version(layout: ComponentLayout, v: str, complete: bool = True) -> None:
    d = layout.version_dir(v)
    d.mkdir(parents=True)
    if complete:
        (d / COMPLETE_MARKER).write_text("sha\n")


@pytest.mark.parametrize(
    ("versions", "current", "record", "restored", "left"),
    [
        # crash after the switch of an upgrade: back to 1.0.0, 1.1.0 (complete) kept for the retry
        ({"1.0.0": True, "1.1.0": True}, "1.1.0", ("install", "1.1.0", "1.0.0", "switched"), "1.0.0",
         ["1.0.0", "1.1.0"]),
        # crash while unpacking: the incomplete directory goes
        ({"1.0.0": True, "1.1.0": False}, "1.0.0", ("install", "1.1.0", "1.0.0", "downloaded"), "1.0.0",
         ["1.0.0"]),
        # first install interrupted after the switch: nothing installed
        ({"1.0.0": True}, "1.0.0", ("install", "1.0.0", None, "started"), None, ["1.0.0"]),
        # an interrupted local rollback is completed
        ({"1.1.0": True, "1.2.0": True}, "1.2.0", ("rollback", "1.1.0", "1.1.0", "begin"), "1.1.0",
         ["1.1.0", "1.2.0"]),
        # no journal: nothing changes
        ({"1.0.0": True}, "1.0.0", None, "1.0.0", ["1.0.0"]),
    ],
)
def test_recover(tmp_path: Path, versions: dict[str, bool], current: str, record: tuple[Any, ...] | None,
                 restored: str | None, left: list[str]) -> None:
    layout = ComponentLayout(tmp_path, "x")
    layout.ensure_dirs()
    for v, complete in versions.items():
        _version(layout, v, complete)
    if versions.get(current):
        switch_current(layout, current)
    (layout.home / ".staging-1.1.0-abcd").mkdir()
    if record is not None:
        j = Journal(layout)
        j.begin(record[0], target=record[1], restore=record[2])
        j.step(record[3])
    result = recover(layout)
    assert layout.current_version() == restored
    assert result.restored == restored
    assert sorted(p.name for p in layout.home.iterdir() if p.name != "current") == left
    assert not (layout.state_dir / "journal.json").exists()
