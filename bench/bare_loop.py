"""The bare baseline of the write path: an aiohttp HTTPS server doing one SQLite INSERT per POST.

Nothing else: no authentication, validation, admission, watch, overlay or group commit. Each
`POST /api/v1/namespaces/NS/configmaps` parses the JSON body, INSERTs it into a table shaped like the
embedded server's (`key` primary key, `rv`, `data`; WAL journal) in autocommit mode, so every request is its
own transaction, and answers 201 with the stored document. With `--synchronous FULL` each insert waits for
its own fsync, as a server without group commit would; with `NORMAL` the WAL is not synced at commit at all
(not durable across a power loss), which bounds what the CPU alone allows.

The insert runs on the event loop itself, the plainest loop there is. The TLS set-up is the embedded
server's own (`ensure_pki`, `server_ssl_context`), so the handshake and cipher costs are the same.

    python bench/bare_loop.py --data-dir DIR --port PORT [--synchronous FULL|NORMAL]

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

import orjson
from aiohttp import web

from kubenode.apiserver.security import ensure_pki, server_ssl_context

SCHEMA = "CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, rv INTEGER NOT NULL, data BLOB NOT NULL) " \
         "WITHOUT ROWID"


def app(db: sqlite3.Connection) -> web.Application:
    rv = 0

    async def create(request: web.Request) -> web.Response:
        nonlocal rv
        doc = orjson.loads(await request.read())
        key = f"/configmaps/{request.match_info['ns']}/{doc['metadata']['name']}"
        rv += 1
        doc["metadata"]["resourceVersion"] = str(rv)
        data = orjson.dumps(doc)
        db.execute("INSERT INTO objects(key, rv, data) VALUES(?,?,?)", (key, rv, data))
        return web.Response(status=201, body=data, content_type="application/json")

    application = web.Application()
    application.router.add_post("/api/v1/namespaces/{ns}/configmaps", create)
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
    args = ap.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    pki = ensure_pki(args.data_dir / "pki", ("127.0.0.1", "localhost"))
    asyncio.run(serve(args.data_dir, args.port, open_db(args.data_dir, args.synchronous), server_ssl_context(pki)))


if __name__ == "__main__":
    main()
