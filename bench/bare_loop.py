"""The bare baseline of the write path: an aiohttp HTTPS server doing one SQLite INSERT per POST.

Nothing else: no authentication, validation, admission, watch, overlay or group commit. Each
`POST /api/v1/namespaces/NS/configmaps` (or `/apis/coordination.k8s.io/v1/namespaces/NS/leases`) parses the
JSON body, INSERTs it into a table shaped like the embedded server's (`key` primary key, `rv`, `data`; WAL
journal) in autocommit mode, so every request is its own transaction, and answers 201 with the stored
document. `PATCH .../leases/NAME` (a JSON merge patch, RFC 7386) merges the body into the object it keeps
in memory, as the embedded server does, and UPSERTs the result, answering 200. With `--synchronous FULL`
each insert waits for its own fsync, as a server without group commit would; with `NORMAL` the WAL is not
synced at commit at all (not durable across a power loss), which bounds what the CPU alone allows.

The insert runs on the event loop itself, the plainest loop there is. The TLS set-up is the embedded
server's own (`ensure_pki`, `server_ssl_context`), so the handshake and cipher costs are the same.

    python bench/bare_loop.py --data-dir DIR --port PORT [--synchronous FULL|NORMAL] [--uvloop]

`--uvloop` runs it on uvloop's event loop instead of asyncio's (to compare like with like when the embedded
server runs on uvloop too).

Writes DIR/ready once it listens (the CA is DIR/pki/ca.crt); stops on SIGINT/SIGTERM.
bench/write_ratio.py runs it side by side with `kubenode apiserver`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sqlite3
import ssl
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from kubenode.apiserver.security import ensure_pki, server_ssl_context

SCHEMA = "CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, rv INTEGER NOT NULL, data BLOB NOT NULL) " \
         "WITHOUT ROWID"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: null deletes, objects merge, anything else replaces (a new value; `target` is not changed)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def app(db: sqlite3.Connection) -> web.Application:
    rv = 0
    objects: dict[str, Any] = {}

    async def create(request: web.Request) -> web.Response:
        nonlocal rv
        doc = orjson.loads(await request.read())
        key = f"/{request.match_info['plural']}/{request.match_info['ns']}/{doc['metadata']['name']}"
        rv += 1
        doc["metadata"]["resourceVersion"] = str(rv)
        data = orjson.dumps(doc)
        db.execute("INSERT INTO objects(key, rv, data) VALUES(?,?,?)", (key, rv, data))
        objects[key] = doc
        return web.Response(status=201, body=data, content_type="application/json")

    async def patch(request: web.Request) -> web.Response:
        nonlocal rv
        key = f"/{request.match_info['plural']}/{request.match_info['ns']}/{request.match_info['name']}"
        old = objects.get(key)
        if old is None:
            return web.Response(status=404)
        doc = merge_patch(old, orjson.loads(await request.read()))
        rv += 1
        doc["metadata"] = dict(doc["metadata"], resourceVersion=str(rv))
        data = orjson.dumps(doc)
        db.execute("INSERT INTO objects(key, rv, data) VALUES(?,?,?) ON CONFLICT(key) DO UPDATE SET "
                   "rv=excluded.rv, data=excluded.data", (key, rv, data))
        objects[key] = doc
        return web.Response(status=200, body=data, content_type="application/json")

    application = web.Application()
    application.router.add_post("/api/v1/namespaces/{ns}/{plural:configmaps}", create)
    application.router.add_post("/apis/coordination.k8s.io/v1/namespaces/{ns}/{plural:leases}", create)
    application.router.add_patch("/apis/coordination.k8s.io/v1/namespaces/{ns}/{plural:leases}/{name}", patch)
    return application


def open_db(data: Path, synchronous: str) -> sqlite3.Connection:
    db = sqlite3.connect(str(data / "bare.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute(SCHEMA)
    return db


async def serve(data: Path, port: int, db: sqlite3.Connection, ssl_context: ssl.SSLContext) -> None:
    runner = web.AppRunner(app(db), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context, backlog=1024)
    await site.start()
    await asyncio.to_thread((data / "ready").write_text, str(port))
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    await runner.cleanup()
    db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop")
    args = ap.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    pki = ensure_pki(args.data_dir / "pki", ("127.0.0.1", "localhost"))
    coro = serve(args.data_dir, args.port, open_db(args.data_dir, args.synchronous), server_ssl_context(pki))
    if args.uvloop:
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


if __name__ == "__main__":
    main()
