"""The `ssh` provider: import an existing host (Machine `spec.import`) over SSH.

The host already exists, so "create" means: connect, put the agent's files
under one directory (`/opt/kubenode` for root, `~/.kubenode` otherwise),
install the agent and start it — as the `kubenode-agent.service` systemd unit
when systemd is PID 1 and we are root, otherwise as a detached process whose
PID and start time are recorded so a recycled PID is never taken for it.
"Delete" stops the agent and removes those files; the host itself stays.

Kubelet join: with a `kubelet_join` source (the operator wires one), create
also writes the kubelet's TLS bootstrap (`kubelet_join.py`): the cluster CA at
`/etc/kubernetes/pki/ca.crt` (0644) and `/etc/kubernetes/bootstrap-kubelet.conf`
(0600) with the Machine's kubelet bootstrap token, under the host's root — `/`
when the SSH user is root, or the configured `host_root` (tests, chroots). A
non-root user without a configured root gets no kubelet files (a kubelet runs
as root): the agent alone is installed, and the returned status says so.
Delete removes the two files again.

Idempotency: checksums of the kubeconfig, the installed agent and its command
line are kept on the host, so a repeated create with the same inputs finds
the agent running and does nothing; changed inputs restart it. The host
remembers which machine UID owns it, and a host owned by another Machine is
never touched.

Security: only key authentication, no agent forwarding, no ~/.ssh/config.
Host keys are verified against the `known_hosts` of the Machine's Secret when
it has one; otherwise the first key seen is trusted and recorded in a local
state directory (providers never write to the API), so a later change of host
key is refused with a message that says what to do. No command text comes
from the custom resource: commands are fixed templates with every value
quoted (see `bootstrap.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from . import bootstrap as bs
from . import kubelet_join as kj
from .base import (
    STATE_FAILED,
    STATE_MISSING,
    STATE_RUNNING,
    STATE_STOPPED,
    Bootstrap,
    InfraProvider,
    InfraStatus,
    Obj,
    ProviderError,
    machine_uid,
)

log = logging.getLogger("kubenode.providers.ssh")

_ADDRESS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:%\-]*$")
_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,31}$")
MODE_SYSTEMD = "systemd"
MODE_DETACHED = "detached"


@dataclass(frozen=True)
class SSHCredentials:
    """What the Machine's `sshSecretRef` Secret holds (`ssh-privatekey`, optional `known_hosts`)."""

    private_key: str
    known_hosts: str | None = None
    passphrase: str | None = None


@dataclass(frozen=True)
class ImportTarget:
    """A validated `spec.import`."""

    address: str
    port: int
    user: str
    secret_name: str
    secret_namespace: str

    @classmethod
    def from_machine(cls, machine: Obj) -> ImportTarget:
        """Parse and validate `machine.spec.import`; invalid input is a non-retryable error."""
        spec = (machine.get("spec") or {}).get("import") or {}
        address = str(spec.get("address") or "")
        user = str(spec.get("user") or "root")
        ref = spec.get("sshSecretRef") or {}
        try:
            port = int(spec.get("port") or 22)
        except (TypeError, ValueError):
            port = -1
        problems = []
        if not _ADDRESS.match(address):
            problems.append(f"spec.import.address {address!r} is not a host name or IP address")
        if not 0 < port < 65536:
            problems.append(f"spec.import.port {spec.get('port')!r} is not a TCP port")
        if not _USER.match(user):
            problems.append(f"spec.import.user {user!r} is not a user name")
        if problems:
            raise ProviderError("; ".join(problems), retryable=False, reason="InvalidImportSpec")
        return cls(address, port, user, str(ref.get("name") or ""), str(ref.get("namespace") or ""))

    @property
    def endpoint(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.user}@{host}:{self.port}"


#: How the controller hands over the Secret's content for one Machine.
CredentialsLookup = Callable[[Obj], Awaitable[SSHCredentials]]


# ---------------------------------------------------------------------------- host keys
class HostKeyStore:
    """Trust-on-first-use records: the host key first seen for (machine UID, address, port).

    One small file per machine UID in `directory`; the controller's state
    directory survives restarts, so a host that later presents another key is
    refused rather than silently trusted again.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, uid: str) -> Path:
        """The record file of machine `uid` (UIDs that are not plain tokens are hashed)."""
        safe = uid if re.fullmatch(r"[A-Za-z0-9\-]{1,64}", uid) else hashlib.sha256(uid.encode()).hexdigest()
        return self.directory / f"{safe}.hostkey"

    def load(self, uid: str, target: ImportTarget) -> asyncssh.SSHKey | None:
        """The recorded key for this target, or None (never seen, or the Machine now points elsewhere)."""
        try:
            where, key_line = self.path(uid).read_text().splitlines()[:2]
        except (FileNotFoundError, ValueError):
            return None
        if where != f"{target.address}:{target.port}":
            return None
        return asyncssh.import_public_key(key_line)

    def save(self, uid: str, target: ImportTarget, key: asyncssh.SSHKey) -> None:
        """Record `key` as the trusted key of this machine's host."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path(uid).with_suffix(".tmp")
        tmp.write_text(f"{target.address}:{target.port}\n{key.export_public_key().decode().strip()}\n")
        tmp.replace(self.path(uid))

    def forget(self, uid: str) -> None:
        """Drop the record (the Machine is gone)."""
        self.path(uid).unlink(missing_ok=True)


class _HostKeyCheck(asyncssh.SSHClient):
    """Accepts exactly the expected key (TOFU) and remembers what the server presented."""

    def __init__(self, expected: asyncssh.SSHKey | None, tofu: bool) -> None:
        self.expected = expected
        self.tofu = tofu
        self.presented: asyncssh.SSHKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.presented = key
        if not self.tofu:
            return False  # only the Secret's known_hosts may vouch for the key
        return self.expected is None or key == self.expected


# ---------------------------------------------------------------------------- what a probe finds
@dataclass
class _Probe:
    owner: str = ""
    mode: str = ""
    systemd: bool = False
    running: bool = False
    pid: str = ""
    config: str = ""
    install: str = ""
    command: str = ""
    kubelet: str = ""


@dataclass
class _Session:
    conn: asyncssh.SSHClientConnection
    target: ImportTarget
    layout: bs.HostLayout
    remote_uid: int = -1


class SSHImportProvider(InfraProvider):
    """Existing hosts reached over SSH (`spec.import`); see the module docstring."""

    type = "ssh"

    def __init__(self, credentials_lookup: CredentialsLookup, agent_install: bs.AgentInstall, *,
                 state_dir: Path, connect_timeout: float = 10.0, connect_attempts: int = 3,
                 retry_delay: float = 1.0, command_timeout: float = 600.0, stop_grace: float = 10.0,
                 remote_dir: str | None = None, kubelet_join: kj.KubeletJoinSource | None = None,
                 host_root: str | None = None) -> None:
        """`credentials_lookup(machine)` returns the Secret's key material; `state_dir` keeps TOFU host keys.

        `remote_dir` overrides where the agent's files go on every host
        (default: /opt/kubenode for root, ~/.kubenode for other users).
        `kubelet_join(machine)` hands out the kubelet's bootstrap, written under
        `host_root` (default: `/` when the SSH user is root, else not written).
        """
        self.credentials_lookup = credentials_lookup
        self.install = agent_install
        self.host_keys = HostKeyStore(state_dir / "ssh-host-keys")
        self.connect_timeout = connect_timeout
        self.connect_attempts = max(1, connect_attempts)
        self.retry_delay = retry_delay
        self.command_timeout = command_timeout
        self.stop_grace = stop_grace
        if remote_dir is not None and remote_dir.rstrip("/") == "":
            # delete() removes this directory recursively.
            raise ValueError("remote_dir must not be /")
        self.remote_dir = bs.check_path(remote_dir, "remote directory") if remote_dir else None
        self.kubelet_join = kubelet_join
        self.host_root = bs.check_path(host_root, "host root") if host_root else None
        self._agent_zip: bytes | None = None

    # ------------------------------------------------------------------ contract
    async def create(self, machine: Obj, bootstrap: Bootstrap) -> InfraStatus:
        """Install and start the agent unless it already runs with the same inputs."""
        uid = machine_uid(machine)
        async with self._session(machine) as s:
            probe = await self._probe(s)
            if probe.owner and probe.owner != uid:
                raise ProviderError(
                    f"host {s.target.endpoint} already runs the KubeNode agent of another machine (uid "
                    f"{probe.owner}); delete that Machine or remove {s.layout.home} on the host first",
                    retryable=False, reason="HostInUse")
            mode = probe.mode or (MODE_SYSTEMD if probe.systemd else MODE_DETACHED)
            if not probe.owner:
                await self._prepare(s, uid, mode)
            changed = await self._converge(s, probe, mode, bootstrap)
            note = await self._converge_kubelet(s, probe, machine)
            if probe.running and not changed:
                return self._status(s.target, STATE_RUNNING, note)
            if probe.running:
                await self._stop(s, mode)
            await self._start(s, mode)
            after = await self._probe(s)
        if not after.running:
            return self._status(s.target, STATE_STOPPED,
                                f"the agent exited right after it was started; see {s.layout.log_file} on the host")
        return self._status(s.target, STATE_RUNNING, note)

    async def delete(self, machine: Obj) -> InfraStatus:
        """Stop the agent and remove its files; the host itself stays. Idempotent."""
        uid = machine_uid(machine)
        async with self._session(machine) as s:
            probe = await self._probe(s)
            if probe.owner and probe.owner != uid:
                # Someone else's agent: leave it alone, there is nothing of ours.
                return self._status(s.target, STATE_MISSING, f"host is owned by machine uid {probe.owner}")
            if probe.owner or probe.mode:
                await self._stop(s, probe.mode or MODE_DETACHED)
                if probe.mode == MODE_SYSTEMD:
                    await self._run(s, f"systemctl disable {bs.AGENT_UNIT} >/dev/null 2>&1 || true\n"
                                       f"rm -f {shlex.quote(bs.UNIT_PATH)}\n"
                                       "systemctl daemon-reload || true\n", what="remove the systemd unit")
            root = self._kubelet_root(s)
            if probe.kubelet and root is not None:
                files = " ".join(shlex.quote(kj.host_path(root, p)) for p in (kj.KUBELET_BOOTSTRAP_KUBECONFIG,
                                                                              kj.KUBELET_CA))
                await self._run(s, f"rm -f -- {files}\n", what="remove the kubelet's bootstrap")
            await self._run(s, f"rm -rf -- {shlex.quote(s.layout.home)}\n", what="remove the agent's files")
        self.host_keys.forget(uid)
        return self._status(s.target, STATE_MISSING)

    async def state(self, machine: Obj) -> InfraStatus:
        """Running / Stopped / Missing as found on the host.

        Authentication and host key failures are answered with STATE_FAILED
        (trying again will not help); an unreachable host raises a retryable
        ProviderError, because "unknown" is the honest answer then.
        """
        uid = machine_uid(machine)
        try:
            async with self._session(machine) as s:
                probe = await self._probe(s)
        except ProviderError as exc:
            if exc.retryable:
                raise
            return InfraStatus(state=STATE_FAILED, message=str(exc))
        if not probe.owner:
            return self._status(s.target, STATE_MISSING)
        if probe.owner != uid:
            return self._status(s.target, STATE_MISSING, f"host is owned by machine uid {probe.owner}")
        if probe.running:
            return self._status(s.target, STATE_RUNNING, self._kubelet_note(s))
        return self._status(s.target, STATE_STOPPED,
                            f"the agent is installed but not running; see {s.layout.log_file} on the host")

    # ------------------------------------------------------------------ connection
    @asynccontextmanager
    async def _session(self, machine: Obj) -> AsyncIterator[_Session]:
        target = ImportTarget.from_machine(machine)
        creds = await self.credentials_lookup(machine)
        conn = await self._connect(machine_uid(machine), target, creds)
        try:
            out = await self._run(_Session(conn, target, bs.HostLayout("/")), 'id -u\nprintf "%s\\n" "$HOME"\n',
                                  what="find the remote user")
            uid_s, home = [*out.splitlines(), "", ""][:2]
            try:
                remote_uid = int(uid_s)
            except ValueError:
                raise ProviderError(f"unexpected answer from `id -u` on {target.endpoint}: {uid_s!r}",
                                    retryable=False, reason="InvalidHost") from None
            yield _Session(conn, target, bs.HostLayout(self.remote_dir or bs.host_home(remote_uid, home)), remote_uid)
        finally:
            conn.close()
            await conn.wait_closed()

    async def _connect(self, uid: str, target: ImportTarget, creds: SSHCredentials) -> asyncssh.SSHClientConnection:
        try:
            key = asyncssh.import_private_key(creds.private_key, creds.passphrase)
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            raise ProviderError(f"the ssh-privatekey of Secret {target.secret_namespace}/{target.secret_name} "
                                f"cannot be read: {exc}", retryable=False, reason="InvalidCredentials") from None
        tofu = not creds.known_hosts
        expected = self.host_keys.load(uid, target) if tofu else None
        known_hosts = asyncssh.import_known_hosts(creds.known_hosts or "")
        last: BaseException | None = None
        for attempt in range(self.connect_attempts):
            if attempt:
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))  # backoff between attempts
            checker = _HostKeyCheck(expected, tofu)
            try:
                conn = await asyncssh.connect(
                    target.address, target.port, client_factory=lambda checker=checker: checker,
                    username=target.user, client_keys=[key], known_hosts=known_hosts,
                    # Nothing from the operator's own environment: no ssh-agent, no
                    # ~/.ssh/config, no password or keyboard-interactive prompts.
                    agent_path=None, config=[], password=None, kbdint_auth=False, preferred_auth="publickey",
                    connect_timeout=self.connect_timeout, keepalive_interval=30)
            except asyncssh.HostKeyNotVerifiable:
                raise self._host_key_error(uid, target, expected, checker.presented, tofu) from None
            except asyncssh.PermissionDenied as exc:
                raise ProviderError(
                    f"SSH authentication as {target.user} to {target.endpoint} failed ({exc.reason}): the key in "
                    f"Secret {target.secret_namespace}/{target.secret_name} is not authorized on the host",
                    retryable=False, reason="AuthenticationFailed") from None
            except (OSError, TimeoutError, asyncssh.Error) as exc:
                last = exc
                log.debug("connect to %s failed (attempt %d): %s", target.endpoint, attempt + 1, exc)
                continue
            if tofu and expected is None and checker.presented is not None:
                self.host_keys.save(uid, target, checker.presented)
            return conn
        raise ProviderError(f"cannot reach {target.endpoint} over SSH after {self.connect_attempts} attempts: "
                            f"{_describe(last)}", retryable=True, reason="Unreachable")

    def _host_key_error(self, uid: str, target: ImportTarget, expected: asyncssh.SSHKey | None,
                        presented: asyncssh.SSHKey | None, tofu: bool) -> ProviderError:
        got = presented.get_fingerprint() if presented is not None else "an unknown key"
        if not tofu:
            msg = (f"host key {got} of {target.endpoint} is not in the known_hosts of Secret "
                   f"{target.secret_namespace}/{target.secret_name}; refusing to connect")
            return ProviderError(msg, retryable=False, reason="HostKeyNotTrusted")
        want = expected.get_fingerprint() if expected is not None else "?"
        msg = (f"HOST KEY CHANGED for {target.endpoint}: it was {want} when first imported, now the host "
               f"presents {got}; refusing to connect (possible man-in-the-middle). If the host was reinstalled, "
               f"add its key to the Secret's known_hosts or remove {self.host_keys.path(uid)}")
        return ProviderError(msg, retryable=False, reason="HostKeyChanged")

    async def _run(self, s: _Session, script: str, *, what: str, data: bytes | None = None,
                   limit: float | None = None) -> str:
        """Run a POSIX sh script built by us; a non-zero exit is a retryable ProviderError."""
        try:
            result = await s.conn.run("sh -c " + shlex.quote(script), input=data, encoding=None, check=False,
                                      timeout=limit or self.command_timeout)
        except asyncssh.TimeoutError:
            raise ProviderError(f"{what} on {s.target.endpoint} timed out", reason="RemoteCommandFailed") from None
        except (OSError, asyncssh.Error) as exc:
            raise ProviderError(f"{what} on {s.target.endpoint}: connection lost: {exc}",
                                reason="Unreachable") from None
        out = _text(result.stdout)
        if result.exit_status != 0:
            err = _text(result.stderr).strip()[-500:] or out.strip()[-500:]
            raise ProviderError(f"could not {what} on {s.target.endpoint} (exit {result.exit_status}): {err}",
                                reason="RemoteCommandFailed")
        return out

    # ------------------------------------------------------------------ steps
    async def _probe(self, s: _Session) -> _Probe:
        h = s.layout
        q = shlex.quote
        script = (
            f'printf "owner=%s\\n" "$(cat {q(h.machine_uid)} 2>/dev/null)"\n'
            f'printf "mode=%s\\n" "$(cat {q(h.mode)} 2>/dev/null)"\n'
            + "".join(f'printf "{k}=%s\\n" "$(cat {q(h.state_dir + "/" + k)} 2>/dev/null)"\n'
                      for k in ("config", "install", "command", "kubelet"))
            + 'if [ "$(id -u)" = 0 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; '
            'then echo systemd=yes; else echo systemd=no; fi\n'
            f'if [ "$(cat {q(h.mode)} 2>/dev/null)" = {MODE_SYSTEMD} ]; then\n'
            f'  if systemctl is-active --quiet {bs.AGENT_UNIT}; then echo agent=running; else echo agent=stopped; fi\n'
            'else\n'
            f'  printf "agent=%s\\n" "$(sh -c {q(bs.detached_status_script(h))})"\n'
            'fi\n'
        )
        fields = dict(line.split("=", 1) for line in (await self._run(s, script, what="inspect the host")).splitlines()
                      if "=" in line)
        agent = fields.get("agent", "").split()
        return _Probe(owner=fields.get("owner", ""), mode=fields.get("mode", ""),
                      systemd=fields.get("systemd") == "yes", running=bool(agent) and agent[0] == "running",
                      pid=agent[1] if len(agent) > 1 else "", config=fields.get("config", ""),
                      install=fields.get("install", ""), command=fields.get("command", ""),
                      kubelet=fields.get("kubelet", ""))

    async def _prepare(self, s: _Session, uid: str, mode: str) -> None:
        h, q = s.layout, shlex.quote
        dirs = " ".join(q(d) for d in (h.home, h.state_dir, h.home + "/run", h.home + "/log", h.home + "/lib"))
        await self._run(s, f"umask 077\nmkdir -p {dirs}\nchmod 700 {q(h.home)}\n"
                           f"printf '%s\\n' {q(mode)} > {q(h.mode)}\n"
                           f"printf '%s\\n' {q(uid)} > {q(h.machine_uid)}\n", what="create the agent's directory")

    async def _converge(self, s: _Session, probe: _Probe, mode: str, bootstrap: Bootstrap) -> bool:
        """Bring kubeconfig, agent code and command line up to date; True if anything changed."""
        h = s.layout
        changed = False
        want_config = bs.fingerprint(bootstrap.kubeconfig)
        if probe.config != want_config:
            await self._put(s, h.bootstrap_kubeconfig, bootstrap.kubeconfig.encode(), 0o600)
            await self._mark(s, "config", want_config)
            changed = True
        want_install = await self._install_fingerprint()
        if probe.install != want_install:
            await self._install_agent(s)
            await self._mark(s, "install", want_install)
            changed = True
        argv, env = bs.agent_argv(self.install, h, bootstrap), bs.agent_env(self.install, h)
        want_command = bs.fingerprint(mode, *argv, *(f"{k}={v}" for k, v in sorted(env.items())))
        if probe.command != want_command:
            if mode == MODE_SYSTEMD:
                await self._put(s, bs.UNIT_PATH, bs.render_systemd_unit(argv, env, bootstrap.machine_name).encode(),
                                0o644)
                await self._run(s, "systemctl daemon-reload\n", what="reload systemd")
            else:
                await self._put(s, h.home + "/run/agent.sh",
                                bs.start_detached_script(argv, env, h).encode(), 0o700)
            await self._mark(s, "command", want_command)
            changed = True
        return changed

    def _kubelet_root(self, s: _Session) -> str | None:
        """Where the kubelet's files go on this host: the configured root, `/` for root, else nowhere."""
        if self.host_root is not None:
            return self.host_root
        return "/" if s.remote_uid == 0 else None

    def _kubelet_note(self, s: _Session) -> str:
        """Why this host gets no kubelet bootstrap although the importer writes them ("" otherwise)."""
        if self.kubelet_join is None or self._kubelet_root(s) is not None:
            return ""
        return (f"the agent runs, but no kubelet bootstrap was written: {s.target.user} is not root (a kubelet "
                f"runs as root); import as root to join the host as a Kubernetes node")

    async def _converge_kubelet(self, s: _Session, probe: _Probe, machine: Obj) -> str:
        """Write the kubelet's CA and bootstrap kubeconfig when they changed; a note for the status ("" if none).

        The agent need not restart for them (it does not read them), so they do not count as a change.
        """
        root = self._kubelet_root(s)
        if self.kubelet_join is None or root is None:
            return self._kubelet_note(s)
        join = await self.kubelet_join(machine)
        want = bs.fingerprint(root, join.ca_pem, join.kubeconfig)
        if probe.kubelet != want:
            await self._put(s, kj.host_path(root, kj.KUBELET_CA), join.ca_pem, 0o644)
            await self._put(s, kj.host_path(root, kj.KUBELET_BOOTSTRAP_KUBECONFIG), join.kubeconfig.encode(), 0o600)
            await self._mark(s, "kubelet", want)
        return ""

    async def _install_fingerprint(self) -> str:
        if isinstance(self.install, bs.PythonInstall):
            return bs.fingerprint("python", self.install.python, await self._zip())
        if self.install.wheel is not None:
            wheel = await asyncio.to_thread(self.install.wheel.read_bytes)
            return bs.fingerprint("pip", self.install.python, self.install.wheel.name, wheel)
        return bs.fingerprint("pip", self.install.python, bs.check_requirement(self.install.requirement))

    async def _zip(self) -> bytes:
        if self._agent_zip is None:
            self._agent_zip = await asyncio.to_thread(bs.build_agent_zip)
        return self._agent_zip

    async def _install_agent(self, s: _Session) -> None:
        h = s.layout
        if isinstance(self.install, bs.PythonInstall):
            await self._put(s, h.agent_zip, await self._zip(), 0o644)
            # Fail now, with a clear message, if the interpreter cannot run the agent.
            await self._run(s, f"PYTHONPATH={shlex.quote(h.agent_zip)} {shlex.quote(self.install.python)} "
                               "-c 'import kubenode.cli.main'\n", what="check the host's Python for the agent")
            return
        wheel_path = None
        if self.install.wheel is not None:
            wheel_path = f"{h.dist}/{self.install.wheel.name}"
            await self._put(s, wheel_path, await asyncio.to_thread(self.install.wheel.read_bytes), 0o644)
        commands = bs.install_commands(self.install, h, wheel_path)
        await self._run(s, "set -e\n" + "".join(shlex.join(c) + "\n" for c in commands),
                        what="install the agent with pip")

    async def _put(self, s: _Session, path: str, data: bytes, mode: int) -> None:
        """Write a file atomically with `mode` (via stdin: no SFTP subsystem needed)."""
        q = shlex.quote
        tmp = path + ".tmp"
        parent = path.rsplit("/", 1)[0] or "/"
        await self._run(s, f"umask 077\nmkdir -p {q(parent)}\ncat > {q(tmp)}\nchmod {mode:o} {q(tmp)}\n"
                           f"mv -f {q(tmp)} {q(path)}\n", what=f"write {path}", data=data)

    async def _mark(self, s: _Session, name: str, value: str) -> None:
        await self._put(s, f"{s.layout.state_dir}/{name}", value.encode() + b"\n", 0o600)

    async def _start(self, s: _Session, mode: str) -> None:
        if mode == MODE_SYSTEMD:
            await self._run(s, f"systemctl enable --now {bs.AGENT_UNIT}\n", what="start the agent unit")
        else:
            await self._run(s, f"sh {shlex.quote(s.layout.home + '/run/agent.sh')}\n", what="start the agent")

    async def _stop(self, s: _Session, mode: str) -> None:
        if mode == MODE_SYSTEMD:
            await self._run(s, f"systemctl stop {bs.AGENT_UNIT} || true\n", what="stop the agent unit")
        else:
            await self._run(s, bs.stop_detached_script(s.layout, self.stop_grace), what="stop the agent",
                            limit=self.stop_grace + 30)

    @staticmethod
    def _status(target: ImportTarget, state: str, message: str = "") -> InfraStatus:
        try:
            ipaddress.ip_address(target.address)
            addresses = [{"type": "InternalIP", "address": target.address}]
        except ValueError:
            addresses = [{"type": "InternalDNS", "address": target.address}]
        return InfraStatus(state=state, provider_id=f"ssh://{target.endpoint}", addresses=addresses,
                           message=message)


def _text(data: Any) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes | bytearray) else str(data)


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, TimeoutError):
        return "connection timed out"
    return str(exc) or type(exc).__name__
