"""A real OpenSSH server on loopback for tests (Debian's openssh-server, installed by .ci/run)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

import asyncssh

from kubenode.apiserver.server import free_port

SSHD = Path("/usr/sbin/sshd")


class Sshd:
    """One `sshd -D` on 127.0.0.1:port; restartable with another host key on the same port."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        base.mkdir(parents=True, exist_ok=True)
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        (base / "authorized_keys").write_bytes(self.client_key.export_public_key())
        self.host_key = self._new_host_key()

    def _new_host_key(self) -> asyncssh.SSHKey:
        key = asyncssh.generate_private_key("ssh-ed25519")
        path = self.base / "ssh_host_ed25519_key"
        path.unlink(missing_ok=True)
        key.write_private_key(str(path))
        path.chmod(0o600)  # sshd refuses readable host keys
        return key

    def start(self) -> None:
        cfg = self.base / "sshd_config"
        cfg.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.base / 'ssh_host_ed25519_key'}\n"
            f"AuthorizedKeysFile {self.base / 'authorized_keys'}\nPidFile {self.base / 'sshd.pid'}\n"
            "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nLogLevel VERBOSE\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        log = open(self.base / "sshd.log", "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(cfg)], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.base / 'sshd.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def restart_with_new_host_key(self) -> None:
        self.stop()
        self.host_key = self._new_host_key()
        self.start()


