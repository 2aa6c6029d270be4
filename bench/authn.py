"""Per-request cost of authentication: bearer token vs TLS client certificate (agents' identity).

    python bench/authn.py [--requests 100000]

Measures `RequestAuthenticator.authenticate` in-process on a real TLS
connection (a handshake over memory BIOs with a CA-signed client
certificate), so the figure is what the server pays per request on top of
TLS itself. Prints microseconds per request for each credential.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

from kubenode.apiserver.authn import RequestAuthenticator
from kubenode.apiserver.security import TokenStore, User, ensure_pki, server_ssl_context
from kubenode.apiserver.storage import Store


class _Transport:
    def __init__(self, ssl_object: Any) -> None:
        self.ssl_object = ssl_object

    def get_extra_info(self, key: str) -> Any:
        return self.ssl_object if key == "ssl_object" else None


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> ssl.SSLObject:
    si, so, ci, co = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_ctx.wrap_bio(si, so, server_side=True)
    client = client_ctx.wrap_bio(ci, co, server_hostname="localhost")
    for _ in range(10):
        for side, out, into in ((client, co, si), (server, so, ci)):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            data = out.read()
            if data:
                into.write(data)
    return server


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=100_000)
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("apiserver_bench", Path(__file__).with_name("apiserver.py"))
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with tempfile.TemporaryDirectory(prefix="kubenode-authn-") as tmp:
        pki = ensure_pki(Path(tmp) / "pki")
        crt, key = bench.client_certificate(Path(tmp) / "pki")
        client_ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        client_ctx.load_cert_chain(str(crt), str(key))
        server = _handshake(server_ssl_context(pki), client_ctx)
        tokens = TokenStore(Path(tmp) / "tokens.json")
        token = tokens.issue(User("kubenode:bench", ("system:masters",)))
        store = await asyncio.to_thread(Store.open, Path(tmp) / "state.db")
        try:
            authn = RequestAuthenticator(store, tokens)
            now = time.time()
            for name, transport, header in (("bearer token", _Transport(None), f"Bearer {token}"),
                                            ("client certificate", _Transport(server), None)):
                user = authn.authenticate(transport, header, now)
                assert user is not None and user.name == "kubenode:bench", user
                t0 = time.perf_counter()
                for _ in range(args.requests):
                    authn.authenticate(transport, header, now)
                per = (time.perf_counter() - t0) / args.requests * 1e6
                print(f"{name}: {per:.1f} µs per request ({args.requests} requests)")
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
