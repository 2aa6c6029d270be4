"""End-to-end fixtures: a real `kubenode apiserver` process and the real kubectl.

`Cluster` owns one server subprocess (free port, its own data dir) and runs
kubectl against it with `--kubeconfig DIR/kubeconfig` and a cache dir of its
own, so discovery and OpenAPI are fetched fresh for each cluster.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubenode.apiserver.server import free_port

from ..integration.crds import WIDGET_CRD

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
MANIFESTS = Path(__file__).parent / "manifests"
START_TIMEOUT = 30.0
KUBECTL_TIMEOUT = 60.0


@dataclass
class Result:
    """What one kubectl run printed."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (f"$ kubectl {' '.join(self.args)}\n[exit {self.returncode}]\n"
                f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}")

    def lines(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.strip()]

    def table(self) -> list[list[str]]:
        """Whitespace-split rows of a kubectl table (header first)."""
        return [line.split() for line in self.lines()]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class LineReader:
    """Collects the stdout lines of a long-running process (e.g. `kubectl get -w`) on a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.seen: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 15.0) -> str:
        """The first new line matching `predicate`; fails with everything seen on timeout/EOF."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no matching line within {timeout}s; saw: {self.seen!r}")
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"process ended (exit {self.proc.poll()}) before a matching line; saw: {self.seen!r}")
            self.seen.append(line)
            if predicate(line):
                return line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._t.join(10)


class Cluster:
    """One `kubenode apiserver` subprocess plus a kubectl runner bound to it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.cache_dir = root / "kubectl-cache"
        self.log_path = root / "apiserver.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"=== start #{self.starts} on port {self.port}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kubenode.cli.main", "apiserver",
                 "--data-dir", str(self.data_dir), "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"apiserver exited with {self.proc.returncode} during start:\n{self.log_tail()}")
            if self.kubeconfig.exists():
                r = self._run(["get", "--raw", "/readyz"], timeout=10)
                if r.returncode == 0 and r.stdout.strip() == "ok":
                    return
                last = str(r)
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"apiserver not ready within {START_TIMEOUT}s; last probe:\n{last}\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL after 15 s); its exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return proc.returncode

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"

    # ------------------------------------------------------------ kubectl
    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBE_EDITOR", "EDITOR")}
        env["HOME"] = str(self.root)  # no ~/.kube of the developer leaks in
        env.update(extra or {})
        return env

    def argv(self, args: list[str], kubeconfig: Path | None = None) -> list[str]:
        return [KUBECTL, "--kubeconfig", str(kubeconfig or self.kubeconfig), "--cache-dir", str(self.cache_dir),
                *args]

    def _run(self, args: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None,
             timeout: float = KUBECTL_TIMEOUT, kubeconfig: Path | None = None) -> Result:
        try:
            p = subprocess.run(self.argv(args, kubeconfig), input=stdin, capture_output=True, text=True,
                               env=self.env(env), timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"kubectl {' '.join(args)} did not finish within {timeout}s: {exc.stdout!r} {exc.stderr!r}")
        return Result(args, p.returncode, p.stdout, p.stderr)

    def kubectl(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None,
                timeout: float = KUBECTL_TIMEOUT, kubeconfig: Path | None = None) -> Result:
        """Run kubectl; fail the test with its output unless it exits 0."""
        r = self._run(list(args), stdin=stdin, env=env, timeout=timeout, kubeconfig=kubeconfig)
        if r.returncode != 0:
            pytest.fail(f"kubectl failed:\n{r}\n--- server log ---\n{self.log_tail(15)}")
        return r

    def kubectl_fails(self, *args: str, stdin: str | None = None, timeout: float = KUBECTL_TIMEOUT) -> Result:
        """Run kubectl that is expected to fail; fail the test if it succeeds."""
        r = self._run(list(args), stdin=stdin, timeout=timeout)
        if r.returncode == 0:
            pytest.fail(f"kubectl unexpectedly succeeded:\n{r}")
        return r

    def apply_docs(self, *docs: dict[str, Any], extra: tuple[str, ...] = ()) -> Result:
        """`kubectl apply -f -` of the given objects."""
        return self.kubectl("apply", *extra, "-f", "-", stdin=yaml.safe_dump_all(docs))

    def create_docs(self, *docs: dict[str, Any]) -> Result:
        return self.kubectl("create", "-f", "-", stdin=yaml.safe_dump_all(docs))

    def get_json(self, *args: str) -> Any:
        return yaml.safe_load(self.kubectl("get", *args, "-o", "json").stdout)

    def jsonpath(self, *args: str, path: str) -> str:
        return self.kubectl("get", *args, "-o", f"jsonpath={path}").stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(list(args)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, env=self.env())


def _cluster(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp(name))
    try:
        c.start()
        yield c
    finally:
        code = c.stop()
        assert code in (None, 0), f"apiserver exited with {code} on SIGTERM:\n{c.log_tail()}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One API server process for the whole test module."""
    yield from _cluster(tmp_path_factory, "e2e-cluster")


@pytest.fixture(scope="module")
def widget_crd(cluster: Cluster) -> Cluster:
    """The sample Widget CRD applied with kubectl's default validation."""
    r = cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(WIDGET_CRD))
    assert r.stdout.strip() == "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
    wait_until(lambda: cluster.jsonpath(
        "crd", "widgets.example.com",
        path='{.status.conditions[?(@.type=="Established")].status}') == "True", 10, "CRD Established")
    return cluster
