"""The API server's memory with many watchers that never read, and after they have gone.

Starts `kubenode apiserver` as a real separate process, fills it with ConfigMaps, then opens `--watchers`
watches on them from ServiceAccounts allowed to watch (at most `--per-identity` each: the server's cap per
identity, which is checked with one watch too many, answered 429 with Retry-After). The watchers never read
their streams (a tiny receive buffer each, as a stalled or hostile client), while `--writes` patches of
`--size` bytes go through. Then every watcher disconnects, and the server's RSS is sampled until it settles.

Prints the server's RSS at baseline, with the watches open, after the writes, and settled after the close,
and whether the writes were all acknowledged while the watchers were stalled.

    python bench/watch_memory.py [--watchers 500] [--writes 2000] [--size 4096] [--per-identity 250]

To measure another version of the server, run the script with that version's `src` first on PYTHONPATH
(the server process inherits the environment).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

from kubenode.apiserver.security import client_ssl_context
from kubenode.apiserver.server import free_port

CM = "/api/v1/namespaces/default/configmaps"
RBAC = "/apis/rbac.authorization.k8s.io/v1"


def mib(proc: psutil.Process) -> float:
    return float(proc.memory_info().rss) / 2**20


class Admin:
    def __init__(self, base: str, token: str, ctx: ssl.SSLContext) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50, ssl=ctx))

    async def call(self, method: str, path: str, body: Any = None,
                   ctype: str = "application/json") -> tuple[int, Any, Any]:
        data = None if body is None else orjson.dumps(body)
        async with self.session.request(method, self.base + path, data=data,
                                        headers=dict(self.headers, **{"Content-Type": ctype})) as r:
            raw = await r.read()
            doc = orjson.loads(raw) if raw and r.content_type == "application/json" else raw
            return r.status, doc, r.headers

    async def must(self, method: str, path: str, body: Any = None, ctype: str = "application/json",
                   ok: tuple[int, ...] = (200, 201)) -> Any:
        st, doc, _ = await self.call(method, path, body, ctype)
        if st not in ok:
            raise SystemExit(f"{method} {path}: {st} {doc}")
        return doc


async def watcher_token(admin: Admin, name: str) -> str:
    """A token of ServiceAccount default/NAME, which RBAC lets list and watch ConfigMaps."""
    await admin.must("POST", "/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": name}})
    await admin.must("POST", f"{RBAC}/clusterrolebindings", {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "bench-watch"},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "default"}]})
    doc = await admin.must("POST", f"/api/v1/namespaces/default/serviceaccounts/{name}/token", {"spec": {}})
    return str(doc["status"]["token"])


async def open_stalled_watch(port: int, token: str, ctx: ssl.SSLContext, rv: str) -> tuple[asyncio.StreamWriter, int]:
    """Send a watch request and never read the answer; returns the connection and the answer's status."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, ssl=ctx, server_hostname="127.0.0.1", limit=1024)
    writer.write((f"GET {CM}?watch=true&resourceVersion={rv}&timeoutSeconds=3600 HTTP/1.1\r\n"
                  f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
                  ).encode())
    await writer.drain()
    status_line = await reader.readline()  # the status line only; the stream itself is never read
    return writer, int(status_line.split()[1])


async def settle(proc: psutil.Process, seconds: float, deadline: float) -> float:
    """Sample RSS until it has changed by less than 2 MiB over `seconds` (or the deadline passes)."""
    window: list[tuple[float, float]] = []
    while True:
        now = time.monotonic()
        window.append((now, mib(proc)))
        window = [(t, v) for t, v in window if now - t <= seconds]
        span = now - window[0][0]
        values = [v for _, v in window]
        if (span >= seconds * 0.9 and max(values) - min(values) < 2.0) or now > deadline:
            return values[-1]
        await asyncio.sleep(0.5)


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="kubenode-bench-") as tmp:
        port = free_port()
        cmd = [sys.executable, "-m", "kubenode.cli.main", "apiserver", "--data-dir", tmp, "--port", str(port)]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: ASYNC220
        writers: list[asyncio.StreamWriter] = []
        admin: Admin | None = None
        try:
            deadline = time.monotonic() + 60
            while not (Path(tmp) / "kubeconfig").exists():
                if server.poll() is not None or time.monotonic() > deadline:
                    err = server.stderr.read().decode(errors="replace") if server.stderr else ""
                    raise SystemExit(f"server did not start: {err}")
                await asyncio.sleep(0.1)
            proc = psutil.Process(server.pid)
            ctx = client_ssl_context(Path(tmp) / "pki" / "ca.crt")
            admin = Admin(f"https://127.0.0.1:{port}", (Path(tmp) / "pki" / "admin.token").read_text().strip(), ctx)
            payload = "x" * args.size
            await admin.must("POST", f"{RBAC}/clusterroles", {"metadata": {"name": "bench-watch"}, "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]})
            identities = -(-args.watchers // args.per_identity)
            tokens = [await watcher_token(admin, f"watcher-{i}") for i in range(identities)]
            for i in range(args.objects):
                await admin.must("POST", CM, {"metadata": {"name": f"c{i}"}, "data": {"v": payload}})
            base = await settle(proc, 3.0, time.monotonic() + 30)
            print(f"server pid {server.pid}; {args.objects} ConfigMaps of {args.size} B; baseline RSS {base:.0f} MiB")

            rv = (await admin.must("GET", CM + "?limit=1"))["metadata"]["resourceVersion"]
            statuses: dict[int, int] = {}
            for i in range(args.watchers):
                w, st = await open_stalled_watch(port, tokens[i // args.per_identity], ctx, rv)
                writers.append(w)
                statuses[st] = statuses.get(st, 0) + 1
            over, status = await open_stalled_watch(port, tokens[0], ctx, rv)
            over.close()
            print(f"{args.watchers} watches from {identities} identities: answers {statuses}; one more from "
                  f"an identity at its cap of {args.per_identity}: {status}")
            opened = mib(proc)

            t0 = time.perf_counter()
            acked = 0

            async def patcher(k: int) -> None:
                nonlocal acked
                for i in range(k, args.writes, 20):
                    st, _, _ = await admin.call("PATCH", f"{CM}/c{i % args.objects}",  # type: ignore[union-attr]
                                                {"data": {"v": payload, "n": str(i)}}, "application/merge-patch+json")
                    acked += st == 200

            await asyncio.gather(*(patcher(k) for k in range(20)))
            dt = time.perf_counter() - t0
            peak = mib(proc)
            print(f"{args.writes} patches with the watchers stalled: {acked} acknowledged in {dt:.1f}s "
                  f"({args.writes / dt:.0f}/s)")

            for w in writers:
                w.close()
            writers.clear()
            after = await settle(proc, 5.0, time.monotonic() + 120)
            st, _, _ = await admin.call("GET", "/readyz")
            print(f"RSS: baseline {base:.0f} MiB, watches open {opened:.0f} MiB, after the writes {peak:.0f} MiB, "
                  f"settled after the watchers closed {after:.0f} MiB ({after - base:+.0f} MiB from baseline, "
                  f"{(peak - base) and (after - base) / (peak - base) * 100:.0f}% of the growth kept); "
                  f"/readyz {st}")
        finally:
            for w in writers:
                w.close()
            if admin is not None:
                await admin.session.close()
            server.send_signal(signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(server.pid, signal.SIGKILL)
                server.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--watchers", type=int, default=500)
    ap.add_argument("--per-identity", type=int, default=250, help="the server's cap of watches per identity")
    ap.add_argument("--objects", type=int, default=200)
    ap.add_argument("--writes", type=int, default=2000)
    ap.add_argument("--size", type=int, default=4096, help="bytes of data in each object and patch")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
