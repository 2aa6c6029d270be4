"""What the providers put on a host: unit, cloud-init, install commands, and the detached-agent scripts."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml

from kubenode.providers import bootstrap as bs
from kubenode.providers.base import Bootstrap, ProviderError

BOOT = Bootstrap(machine_name="m-1", machine_uid="uid-1", node_name="node-1",
                 kubeconfig="apiVersion: v1\nkind: Config\n", agent_args=("--register-node",))


def test_agent_command_for_each_install_mode() -> None:
    layout = bs.HostLayout("/opt/kubenode")
    assert bs.agent_argv(bs.PythonInstall("/usr/bin/python3"), layout, BOOT) == [
        "/usr/bin/python3", "-m", "kubenode.cli.main", "agent", "--machine", "m-1",
        "--kubeconfig", "/opt/kubenode/kubeconfig", "--bootstrap-kubeconfig", "/opt/kubenode/bootstrap-kubeconfig",
        "--node-name", "node-1", "--register-node"]
    assert bs.agent_env(bs.PythonInstall(), layout)["PYTHONPATH"] == "/opt/kubenode/lib/kubenode-agent.zip"
    assert bs.agent_argv(bs.PipInstall(), layout, BOOT)[0] == "/opt/kubenode/venv/bin/python"
    assert "PYTHONPATH" not in bs.agent_env(bs.PipInstall(), layout)
    assert bs.install_commands(bs.PipInstall("kubenode==9.9"), layout) == [
        ["python3", "-m", "venv", "/opt/kubenode/venv"],
        ["/opt/kubenode/venv/bin/pip", "install", "--quiet", "--disable-pip-version-check", "kubenode==9.9"]]


def test_host_home() -> None:
    assert bs.host_home(0, "/root") == "/opt/kubenode"
    assert bs.host_home(1000, "/home/ops") == "/home/ops/.kubenode"
    for bad in ("/", "relative", "/home/x\nrm"):
        with pytest.raises(ProviderError):
            bs.host_home(1000, bad)


@pytest.mark.parametrize("req", ["kubenode==0.1.0", "kubenode[extra]>=0.1,<1", "https://example.com/k-0.1-py3-none-any.whl"])
def test_requirements_accepted(req: str) -> None:
    assert bs.check_requirement(req) == req


@pytest.mark.parametrize("req", ["", "-e .", "--index-url=http://evil", "kubenode 0.1", "kubenode\n--pre", "k;rm"])
def test_requirements_that_pip_would_misread_are_rejected(req: str) -> None:
    with pytest.raises(ProviderError) as err:
        bs.check_requirement(req)
    assert not err.value.retryable


def test_systemd_unit_quotes_every_word() -> None:
    unit = bs.render_systemd_unit(["/usr/bin/python3", "-m", "x", "100%", "a b", 'q"uote', "$HOME"],
                                  {"PYTHONPATH": "/opt/k/lib.zip"}, "m-1\nExecStartPre=/bin/evil")
    lines = unit.splitlines()
    assert 'ExecStart="/usr/bin/python3" "-m" "x" "100%%" "a b" "q\\"uote" "$$HOME"' in lines
    assert 'Environment="PYTHONPATH=/opt/k/lib.zip"' in lines
    assert not any(line.startswith("ExecStartPre") for line in lines)  # no directive injected via the name
    assert "WantedBy=multi-user.target" in lines and "Restart=on-failure" in lines
    with pytest.raises(ProviderError):
        bs.render_systemd_unit(["x", "a\nb"], {}, "m")


def test_cloud_init_user_data() -> None:
    text = bs.render_cloud_init(BOOT, bs.PipInstall("kubenode==0.1.0"), packages=["python3-venv"])
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    assert doc["packages"] == ["python3-venv"]
    files = {f["path"]: f for f in doc["write_files"]}
    # the user data carries only the bootstrap token; the agent writes its own kubeconfig (certificate)
    assert "/etc/kubenode/kubeconfig" not in files
    kubeconfig = files["/etc/kubenode/bootstrap-kubeconfig"]
    assert kubeconfig["content"] == BOOT.kubeconfig and kubeconfig["permissions"] == "0600"
    unit = files["/etc/systemd/system/kubenode-agent.service"]["content"]
    assert '"--kubeconfig" "/etc/kubenode/kubeconfig"' in unit and '"/opt/kubenode/venv/bin/python"' in unit
    assert '"--bootstrap-kubeconfig" "/etc/kubenode/bootstrap-kubeconfig"' in unit
    assert files["/opt/kubenode/machine-uid"]["content"] == "uid-1\n"
    assert doc["runcmd"] == [
        ["python3", "-m", "venv", "/opt/kubenode/venv"],
        ["/opt/kubenode/venv/bin/pip", "install", "--quiet", "--disable-pip-version-check", "kubenode==0.1.0"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "kubenode-agent.service"],
    ]
    assert "packages" not in yaml.safe_load(bs.render_cloud_init(BOOT))
    with pytest.raises(ProviderError):
        bs.render_cloud_init(BOOT, bs.PipInstall(wheel=Path("/tmp/k.whl")))


def test_agent_zip_is_deterministic_and_importable(tmp_path: Path) -> None:
    data = bs.build_agent_zip()
    assert data == bs.build_agent_zip()
    (tmp_path / "a.zip").write_bytes(data)
    names = zipfile.ZipFile(tmp_path / "a.zip").namelist()
    assert "kubenode/cli/main.py" in names and "kubenode/providers/bootstrap.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    # -S: no site-packages, so `kubenode` can only come from the zip.
    out = subprocess.run([sys.executable, "-S", "-c", "import kubenode; print(kubenode.__file__)"],
                         env={"PYTHONPATH": str(tmp_path / "a.zip")}, capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith(str(tmp_path / "a.zip"))


# ---------------------------------------------------------------------------- the detached scripts, run for real
@pytest.fixture
def layout(tmp_path: Path) -> Iterator[bs.HostLayout]:
    home = tmp_path / "home with space"
    for sub in ("run", "log"):
        (home / sub).mkdir(parents=True)
    lay = bs.HostLayout(str(home))
    yield lay
    with contextlib.suppress(FileNotFoundError, ValueError, psutil.NoSuchProcess):
        psutil.Process(int(Path(lay.pid_file).read_text().split()[0])).kill()


def sh(script: str) -> str:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True, timeout=30).stdout


def test_detached_agent_start_status_stop(layout: bs.HostLayout, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    env = {"KUBENODE_TEST": f"$(touch {marker}); `touch {marker}`"}
    out = sh(bs.start_detached_script(["sleep", "60"], env, layout))
    pid = int(out.split()[1])
    proc = psutil.Process(pid)
    # The PID is setsid's; it execs nohup, env and then sleep, which may not have happened yet on a loaded machine.
    deadline = time.monotonic() + 10
    while proc.cmdline() != ["sleep", "60"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.cmdline() == ["sleep", "60"]
    assert proc.environ()["KUBENODE_TEST"] == env["KUBENODE_TEST"]  # passed literally, never evaluated
    assert not marker.exists()
    assert os.getsid(pid) == pid  # its own session: survives the SSH session that started it
    assert sh(bs.detached_status_script(layout)) == f"running {pid}\n"

    # A recycled PID (same number, other start time) is not our agent.
    recorded = Path(layout.pid_file).read_text()
    Path(layout.pid_file).write_text(f"{pid} 1\n")
    assert sh(bs.detached_status_script(layout)) == "stopped\n"
    Path(layout.pid_file).write_text(recorded)

    sh(bs.stop_detached_script(layout, grace_seconds=5))
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and proc.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not psutil.pid_exists(pid) or proc.status() == psutil.STATUS_ZOMBIE
    assert not Path(layout.pid_file).exists()
    assert sh(bs.detached_status_script(layout)) == "stopped\n"
    sh(bs.stop_detached_script(layout))  # stopping twice is fine


def test_status_without_pid_file(layout: bs.HostLayout) -> None:
    assert sh(bs.detached_status_script(layout)) == "stopped\n"
    assert sh(bs.stop_detached_script(layout)) == ""
    assert shlex.quote(layout.pid_file) in bs.stop_detached_script(layout)  # the path has a space: quoted


# --------------------------------------------------------------------------- the cloud providers' agent parameters
@pytest.mark.parametrize(("params", "expected"), [
    ({}, bs.CloudAgent((), "kubenode==9")),
    ({"packages": ["python3-venv", "curl"], "agentRequirement": "kubenode==0.1.0"},
     bs.CloudAgent(("python3-venv", "curl"), "kubenode==0.1.0")),
    ({"packages": [], "agentRequirement": ""}, bs.CloudAgent((), "kubenode==9")),
])
def test_cloud_agent_parameters(params: dict[str, object], expected: bs.CloudAgent) -> None:
    assert bs.CloudAgent.from_parameters(params, "kubenode==9") == expected


@pytest.mark.parametrize(("params", "error", "field"), [
    ({"packages": "python3-venv"}, ValueError, "packages"),  # a string is not a list of names
    ({"packages": ["ok", 3]}, ValueError, "packages"),
    ({"agentRequirement": 1}, ValueError, "agentRequirement"),
    ({"agentRequirement": "--index-url=evil"}, ProviderError, "invalid agent requirement"),
])
def test_cloud_agent_parameters_refused(params: dict[str, object], error: type[Exception], field: str) -> None:
    with pytest.raises(error, match=field):
        bs.CloudAgent.from_parameters(params)


def test_cloud_agent_user_data_is_the_cloud_init_of_its_packages_and_requirement() -> None:
    agent = bs.CloudAgent(("python3-venv",), "kubenode==0.1.0")
    assert agent.user_data(BOOT) == bs.render_cloud_init(BOOT, bs.PipInstall("kubenode==0.1.0"),
                                                         packages=["python3-venv"])
