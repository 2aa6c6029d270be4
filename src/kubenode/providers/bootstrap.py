"""What goes onto a host so that it runs the KubeNode agent: files, unit, install steps.

Providers differ in how they reach a host (cloud-init user data at first boot,
an SSH session to an existing host) but not in what they put there. This
module renders that content — the agent command line, the systemd unit, the
cloud-init document, the install commands and the small POSIX shell scripts
that start, check and stop a detached agent — as plain text, so it can be
unit-tested without a host.

Nothing taken from a custom resource is ever interpreted by a shell: every
command is a fixed template whose values pass through `shlex.quote` (or, for
systemd and cloud-init, through their own quoting), and values that would
change a command's meaning even when quoted (a pip requirement starting with
`-`, a newline in a path) are rejected up front.
"""

from __future__ import annotations

import hashlib
import io
import re
import shlex
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

import kubenode

from .base import Bootstrap, ProviderError

#: The systemd unit that runs the agent on a real host (one agent per host).
AGENT_UNIT = "kubenode-agent.service"
UNIT_PATH = f"/etc/systemd/system/{AGENT_UNIT}"
#: Where cloud-init provisioned hosts keep their files.
CLOUD_HOME = "/opt/kubenode"
CLOUD_KUBECONFIG = "/etc/kubenode/kubeconfig"  # the agent's own (client certificate), written by the agent
CLOUD_BOOTSTRAP_KUBECONFIG = "/etc/kubenode/bootstrap-kubeconfig"  # the bootstrap token, from the user data
#: The requirement a pip install uses unless told otherwise: this very version.
DEFAULT_REQUIREMENT = f"kubenode=={kubenode.__version__}"

_SAFE_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-\[\],<>=!~*+:/@]*$")


# ---------------------------------------------------------------------------- install modes
@dataclass(frozen=True)
class PythonInstall:
    """Use an interpreter already on the host that has KubeNode's dependencies.

    The pure-Python `kubenode` package itself is uploaded as a zip (built from
    the installed package at runtime, see `build_agent_zip`) and put on
    PYTHONPATH, so hosts need no network access to an index.
    """

    python: str = "python3"


@dataclass(frozen=True)
class PipInstall:
    """Create a venv on the host and `pip install` the agent into it.

    `requirement` is what pip installs (`kubenode==0.1.0`, a URL, a path);
    with `wheel` set, that local wheel file is uploaded and installed instead.
    """

    requirement: str = DEFAULT_REQUIREMENT
    python: str = "python3"
    wheel: Path | None = None


AgentInstall = PythonInstall | PipInstall


def check_requirement(requirement: str) -> str:
    """Reject pip requirements that pip would read as options or that carry whitespace."""
    if not _SAFE_REQUIREMENT.match(requirement):
        raise ProviderError(f"invalid agent requirement {requirement!r}: expected e.g. 'kubenode==0.1.0'",
                            retryable=False, reason="InvalidParameters")
    return requirement


def check_path(path: str, what: str = "path") -> str:
    """An absolute POSIX path without newlines (they would break line-based files and scripts)."""
    if not path.startswith("/") or any(c in path for c in "\n\r\0"):
        raise ProviderError(f"invalid {what} {path!r}: must be an absolute path", retryable=False,
                            reason="InvalidParameters")
    return path


# ---------------------------------------------------------------------------- layout on the host
@dataclass(frozen=True)
class HostLayout:
    """The files KubeNode keeps on one host, all under `home`."""

    home: str

    def _p(self, *parts: str) -> str:
        return str(PurePosixPath(self.home, *parts))

    @property
    def kubeconfig(self) -> str:
        """The agent's own kubeconfig (client certificate), written by the agent."""
        return self._p("kubeconfig")

    @property
    def bootstrap_kubeconfig(self) -> str:
        """The kubeconfig with the Machine's bootstrap token, which the agent uses to request its certificate."""
        return self._p("bootstrap-kubeconfig")

    @property
    def machine_uid(self) -> str:
        return self._p("machine-uid")

    @property
    def mode(self) -> str:
        """Records how the agent was started: `systemd` or `detached`."""
        return self._p("mode")

    @property
    def state_dir(self) -> str:
        """Checksums of what was installed, so a repeated create changes nothing."""
        return self._p("state")

    @property
    def pid_file(self) -> str:
        return self._p("run", "agent.pid")

    @property
    def log_file(self) -> str:
        return self._p("log", "agent.log")

    @property
    def agent_zip(self) -> str:
        return self._p("lib", "kubenode-agent.zip")

    @property
    def venv(self) -> str:
        return self._p("venv")

    @property
    def dist(self) -> str:
        return self._p("dist")


def host_home(remote_uid: int, remote_home: str) -> str:
    """Root keeps KubeNode in /opt/kubenode; other users in ~/.kubenode."""
    if remote_uid == 0:
        return CLOUD_HOME
    check_path(remote_home, "home directory")
    if remote_home.rstrip("/") == "":
        raise ProviderError("the remote user's home directory is /", retryable=False, reason="InvalidHost")
    return str(PurePosixPath(remote_home, ".kubenode"))


# ---------------------------------------------------------------------------- the agent command
def agent_argv(install: AgentInstall, layout: HostLayout, bootstrap: Bootstrap,
               kubeconfig: str | None = None, bootstrap_kubeconfig: str | None = None) -> list[str]:
    """The agent's command line on a real host (no `--root`: the host is the machine)."""
    python = str(PurePosixPath(layout.venv, "bin", "python")) if isinstance(install, PipInstall) else install.python
    return [
        python, "-m", "kubenode.cli.main", "agent", "--machine", bootstrap.machine_name,
        "--kubeconfig", kubeconfig or layout.kubeconfig,
        "--bootstrap-kubeconfig", bootstrap_kubeconfig or layout.bootstrap_kubeconfig,
        "--node-name", bootstrap.node_name, *bootstrap.agent_args,
    ]


def agent_env(install: AgentInstall, layout: HostLayout) -> dict[str, str]:
    """Environment the agent needs besides the inherited one."""
    env = {"PYTHONUNBUFFERED": "1"}
    if isinstance(install, PythonInstall):
        env["PYTHONPATH"] = layout.agent_zip
    return env


def install_commands(install: PipInstall, layout: HostLayout, wheel_path: str | None = None) -> list[list[str]]:
    """argv lists that create the venv and pip-install the agent (run in order, stop at the first failure)."""
    target = wheel_path or check_requirement(install.requirement)
    pip = str(PurePosixPath(layout.venv, "bin", "pip"))
    return [
        [install.python, "-m", "venv", layout.venv],
        [pip, "install", "--quiet", "--disable-pip-version-check", target],
    ]


def fingerprint(*parts: str | bytes) -> str:
    """A short, stable checksum of what was installed (compared on the next create)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


# ---------------------------------------------------------------------------- systemd
def _systemd_word(value: str) -> str:
    """Quote one word for ExecStart=/Environment=: double quotes, C escapes, and %/$ doubled."""
    if any(c in value for c in "\n\r\0"):
        raise ProviderError(f"value {value!r} contains a line break", retryable=False, reason="InvalidParameters")
    # `%` starts a unit specifier and `$` a variable in ExecStart, even inside quotes.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def render_systemd_unit(argv: Sequence[str], env: Mapping[str, str], machine_name: str) -> str:
    """The `kubenode-agent.service` unit that runs `argv`."""
    env_lines = "".join(f"Environment={_systemd_word(f'{k}={v}')}\n" for k, v in sorted(env.items()))
    # The description is free text, but a line break would inject unit directives.
    description = machine_name.replace("\n", " ").replace("\r", " ")
    return (
        "[Unit]\n"
        f"Description=KubeNode agent (machine {description})\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"{env_lines}"
        f"ExecStart={' '.join(_systemd_word(a) for a in argv)}\n"
        # A crashing agent is restarted by systemd; a host that stays down is
        # what the Machine controller and remediation deal with.
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


# ---------------------------------------------------------------------------- cloud-init
def render_cloud_init(bootstrap: Bootstrap, install: PipInstall | None = None, *,
                      packages: Sequence[str] = ()) -> str:
    """#cloud-config user data: bootstrap kubeconfig (0600), the agent in a venv, and the unit enabled and started.

    `packages` are distribution packages cloud-init installs first (e.g.
    `python3-venv` on Debian and Ubuntu images, where `python3 -m venv` needs it).
    """
    install = install or PipInstall()
    if install.wheel is not None:
        raise ProviderError("a local wheel cannot be used with cloud-init; give a requirement or URL",
                            retryable=False, reason="InvalidParameters")
    layout = HostLayout(CLOUD_HOME)
    argv = agent_argv(install, layout, bootstrap, kubeconfig=CLOUD_KUBECONFIG,
                      bootstrap_kubeconfig=CLOUD_BOOTSTRAP_KUBECONFIG)
    doc: dict[str, object] = {
        "write_files": [
            {"path": CLOUD_BOOTSTRAP_KUBECONFIG, "permissions": "0600", "owner": "root:root",
             "content": bootstrap.kubeconfig},
            {"path": UNIT_PATH, "permissions": "0644", "owner": "root:root",
             "content": render_systemd_unit(argv, agent_env(install, layout), bootstrap.machine_name)},
            {"path": str(PurePosixPath(CLOUD_HOME, "machine-uid")), "permissions": "0644",
             "content": bootstrap.machine_uid + "\n"},
        ],
        # argv lists: cloud-init runs them without a shell.
        "runcmd": [
            *install_commands(install, layout),
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", AGENT_UNIT],
        ],
    }
    if packages:
        doc = {"packages": list(packages), **doc}
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1 << 16)


@dataclass(frozen=True)
class CloudAgent:
    """How a new cloud instance gets its agent: the distribution `packages` cloud-init installs first, then
    the agent pip-installed from `requirement` (`spec.parameters.packages` and `.agentRequirement` of every
    cloud provider)."""

    packages: tuple[str, ...] = ()
    requirement: str = DEFAULT_REQUIREMENT

    @classmethod
    def from_parameters(cls, params: Mapping[str, Any], default_requirement: str = DEFAULT_REQUIREMENT) -> CloudAgent:
        """Parse; ValueError names the field to fix (ProviderError for a requirement pip would misread)."""
        packages = params.get("packages") or []
        if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
            raise ValueError("spec.parameters.packages must be a list of package names")
        requirement = params.get("agentRequirement") or default_requirement
        if not isinstance(requirement, str):
            raise ValueError("spec.parameters.agentRequirement must be a string")
        return cls(tuple(packages), check_requirement(requirement))

    def user_data(self, bootstrap: Bootstrap) -> str:
        """The #cloud-config that installs and starts the agent (:func:`render_cloud_init`)."""
        return render_cloud_init(bootstrap, PipInstall(self.requirement), packages=self.packages)


# ---------------------------------------------------------------------------- the agent as a zip
def build_agent_zip(package_dir: Path | None = None) -> bytes:
    """Zip the installed pure-Python `kubenode` package (importable via PYTHONPATH=zip).

    Entries are sorted and carry a fixed timestamp, so the same code always
    yields the same bytes and a repeated import uploads nothing.
    """
    root = package_dir or Path(kubenode.__file__).resolve().parent
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
                continue
            info = zipfile.ZipInfo(str(PurePosixPath("kubenode", *path.relative_to(root).parts)),
                                   date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


# ---------------------------------------------------------------------------- detached process scripts
# A detached agent is recorded as "PID STARTTIME", STARTTIME being field 22 of
# /proc/PID/stat (clock ticks since boot). A recycled PID has another start
# time, so it is never mistaken for our agent. The `sed` drops everything up
# to the last ") " because the command name in field 2 may contain spaces.
_ALIVE_FN = """alive() {
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  set -- $(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null)
  [ "$#" -ge 20 ] && [ "$1" != Z ] && [ "${20}" = "$st" ]
}
"""


def _read_pid(pid_file: str) -> str:
    q = shlex.quote(pid_file)
    return f'pid=""; st=""\n[ -f {q} ] && read -r pid st < {q} || true\n'


def start_detached_script(argv: Sequence[str], env: Mapping[str, str], layout: HostLayout) -> str:
    """Start the agent in its own session (setsid + nohup), logging to the log file; record PID and start time."""
    env_words = " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(env.items()))
    cmd = shlex.join(argv)
    pid_q, log_q = shlex.quote(layout.pid_file), shlex.quote(layout.log_file)
    # In a non-interactive shell a background job is not a process group
    # leader, so `setsid` does not fork again and $! is the agent's own PID.
    return (
        "set -e\n"
        f"cd {shlex.quote(layout.home)}\n"
        "umask 077\n"
        f"setsid nohup env {env_words} {cmd} >> {log_q} 2>&1 < /dev/null &\n"
        "pid=$!\n"
        "st=$(sed 's/^.*) //' \"/proc/$pid/stat\" | cut -d' ' -f20)\n"
        f"printf '%s %s\\n' \"$pid\" \"$st\" > {pid_q}.tmp\n"
        f"mv {pid_q}.tmp {pid_q}\n"
        "echo \"started $pid\"\n"
    )


def detached_status_script(layout: HostLayout) -> str:
    """Prints `running PID` when the recorded agent lives, else `stopped`."""
    return (_read_pid(layout.pid_file) + _ALIVE_FN +
            'if alive; then echo "running $pid"; else echo stopped; fi\n')


def stop_detached_script(layout: HostLayout, grace_seconds: float = 10.0) -> str:
    """SIGTERM the recorded agent, wait up to `grace_seconds`, then SIGKILL; removes the PID file."""
    ticks = max(1, int(grace_seconds * 10))
    return (
        _read_pid(layout.pid_file) + _ALIVE_FN +
        "if alive; then\n"
        "  kill -TERM \"$pid\" 2>/dev/null || true\n"
        "  i=0\n"
        f"  while alive && [ \"$i\" -lt {ticks} ]; do sleep 0.1; i=$((i + 1)); done\n"
        "  if alive; then kill -KILL \"$pid\" 2>/dev/null || true; fi\n"
        "fi\n"
        f"rm -f {shlex.quote(layout.pid_file)}\n"
    )
