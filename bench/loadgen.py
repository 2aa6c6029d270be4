"""The load generator the API-server benches share: an HTTPS client, a closed loop, an open (paced) loop,
and the start of a real `kubenode apiserver` process.

bench/apiserver.py, bench/admission.py and bench/write_ratio.py import it (run them as
`python bench/NAME.py`: the script's folder is on `sys.path`), so every figure they print comes from the
same client code: one aiohttp session over TLS, `clients` connections, latency measured around each
request.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from benchlib import apiserver_cmd, spawn, stop, wait_file
from benchlib import load_average as load_average  # the benches import it from here

from kubenode.apiserver.security import client_ssl_context
from kubenode.apiserver.server import free_port

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
#: `call(worker, i)` of the loops: one request; raises when the answer is wrong.
Request = Callable[[int, int], Awaitable[None]]


def pct(values: Sequence[float], p: float) -> float:
    """The `p`-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Client:
    """One HTTPS session (connections unbounded) to a server whose CA is `ca`."""

    def __init__(self, base: str, ca: Path, token: str = "", cert: tuple[Path, Path] | None = None) -> None:
        self.base = base
        self.headers = {"Accept": JSON, "Content-Type": JSON}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.ssl = client_ssl_context(ca)
        if cert is not None:
            self.ssl.load_cert_chain(str(cert[0]), str(cert[1]))
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, ssl=self.ssl))

    async def close(self) -> None:
        await self.session.close()

    async def call(self, method: str, path: str, body: Any = None, ctype: str = JSON,
                   params: dict[str, str] | None = None,
                   extra_headers: Sequence[tuple[str, str]] = ()) -> tuple[int, bytes]:
        """(status, body) of one request; `body` is sent as JSON."""
        headers: Any = dict(self.headers, **{"Content-Type": ctype})
        if extra_headers:  # repeated names (Impersonate-Group) need a list of pairs
            headers = [*headers.items(), *extra_headers]
        data = None if body is None else orjson.dumps(body)
        async with self.session.request(method, self.base + path, data=data, headers=headers,
                                        params=params) as r:
            return r.status, await r.read()

    async def expect(self, code: int, method: str, path: str, body: Any = None, ctype: str = JSON,
                     extra_headers: Sequence[tuple[str, str]] = ()) -> bytes:
        """The body of a request that must answer `code` (RuntimeError otherwise)."""
        st, answer = await self.call(method, path, body, ctype, extra_headers=extra_headers)
        if st != code:
            raise RuntimeError(f"{method} {path}: {st} (expected {code}) {answer[:300]!r}")
        return answer


@dataclass
class Figures:
    """What a loop measured."""

    ops: int
    seconds: float
    p50_ms: float
    p99_ms: float
    late: int = 0

    @property
    def per_second(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (f"{self.ops} in {self.seconds:.2f}s = {self.per_second:.0f}/s; latency p50 {self.p50_ms:.1f} ms, "
                f"p99 {self.p99_ms:.1f} ms")


async def closed_loop(request: Request, clients: int, total: int) -> Figures:
    """`clients` workers send `total` requests back to back (the next as soon as the last answered)."""
    lat: list[float] = []
    counter = iter(range(total))

    async def worker(w: int) -> None:
        for i in counter:
            t0 = time.perf_counter()
            await request(w, i)
            lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(clients)))
    return Figures(len(lat), time.perf_counter() - t0, pct(lat, 50) * 1000, pct(lat, 99) * 1000)


async def paced(request: Request, clients: int, rate: float, seconds: float) -> Figures:
    """Open loop: `clients` connections together start `rate` requests per second for `seconds`.

    Worker `w` sends its i-th request at `start + (i + w/clients) * clients/rate`; one that is due while the
    worker still waits for its previous answer goes out at once and counts as `late` (the server did not keep
    up). Latency is measured from the send, so lateness shows in `late`, not in the percentiles.
    """
    lat: list[float] = []
    late = 0
    interval = clients / rate
    start = time.perf_counter() + 0.1

    async def worker(w: int) -> None:
        nonlocal late
        i = 0
        while True:
            due = start + (i + w / clients) * interval
            if due - start > seconds:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late += 1
            t0 = time.perf_counter()
            await request(w, i)
            lat.append(time.perf_counter() - t0)
            i += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(clients)))
    return Figures(len(lat), time.perf_counter() - t0, pct(lat, 50) * 1000, pct(lat, 99) * 1000, late)


@dataclass
class Server:
    """A running `kubenode apiserver` process and how to reach it as the admin."""

    proc: subprocess.Popen[bytes]
    data: Path
    base: str

    @property
    def ca(self) -> Path:
        return self.data / "pki" / "ca.crt"

    @property
    def admin_token(self) -> str:
        return (self.data / "pki" / "admin.token").read_text().strip()

    def client(self, token: str | None = None, cert: tuple[Path, Path] | None = None) -> Client:
        """A client as the admin (bearer token), or with `token` / a client certificate instead."""
        return Client(self.base, self.ca, self.admin_token if token is None and cert is None else token or "", cert)


async def wait_for_file(path: Path, proc: subprocess.Popen[bytes], log: Path | None = None,
                        within: float = 60.0) -> None:
    """benchlib's `wait_file`, the log third (as bench/write_ratio.py calls it)."""
    await wait_file(path, proc, within, log)


@contextlib.asynccontextmanager
async def apiserver(wrap: str = "", data: Path | None = None) -> AsyncIterator[Server]:
    """A `kubenode apiserver` in its own process on a free port, in a temporary data directory (or `data`).

    `wrap` prefixes the command (e.g. "py-spy record -o p.svg --"). The server is stopped on exit.
    """
    with tempfile.TemporaryDirectory(prefix="kubenode-bench-") as tmp:
        where = data or Path(tmp) / "data"
        port = free_port()
        log = Path(tmp) / "apiserver.log"
        proc = spawn([*shlex.split(wrap), *apiserver_cmd(where, port)], log)
        try:
            await wait_for_file(where / "kubeconfig", proc, log)
            yield Server(proc, where, f"https://127.0.0.1:{port}")
        finally:
            stop(proc)

