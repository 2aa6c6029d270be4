"""Starting and stopping the embedded API server with its data directory.

Layout of DIR (default `./.kubenode`):
  DIR/apiserver/state.db   SQLite database (WAL) holding every object
  DIR/pki/                 CA and server certificate (generated once)
  DIR/tokens.json          bearer tokens, as SHA-256 hashes
  DIR/kubeconfig           admin kubeconfig
  DIR/server.lock          held (flock) by the running server; holds its pid
DIR is 0700 and the server's files 0600, created so and corrected at every start (datadir.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from .app import APIServer
from .authz import Authorizer
from .bootstrap_tokens import TokenCleaner
from .certificates import DEFAULT_MAX_SECONDS, CSRSigner
from .controllers import NODE_LEASE_NAMESPACE, ControlLoops
from .datadir import DataDirLock, StartupError, create_private, secure, startup_error
from .hardening import HardenedSite, Limits, quiet_connection_errors
from .rbac_defaults import default_cluster_role_bindings, default_cluster_roles
from .rest import WriteOptions
from .security import (
    TOKEN_RECHECK_SECONDS,
    PKIPaths,
    TokenStore,
    User,
    ensure_pki,
    server_ssl_context,
    write_kubeconfig,
)
from .storage import STARTUP_PROBE_BYTES, StorageError, Store

ADMIN = User("kubenode:admin", ("system:masters",))
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", NODE_LEASE_NAMESPACE)


@dataclass
class ServerConfig:
    """What `kubenode apiserver` needs to start."""

    data_dir: Path
    port: int = 6443
    host: str = "127.0.0.1"
    node_grace_seconds: float = 40.0
    node_check_interval: float = 2.0
    bookmark_interval: float = 5.0
    watch_history: int = 50_000
    extra_hosts: tuple[str, ...] = ()
    #: Longest validity of a certificate the CSR signer issues (kube's --cluster-signing-duration).
    csr_max_seconds: int = DEFAULT_MAX_SECONDS
    limits: Limits = field(default_factory=Limits)


@dataclass
class RunningServer:
    """A started server: where it listens and how to reach it."""

    config: ServerConfig
    url: str
    port: int
    kubeconfig: Path
    pki: PKIPaths
    admin_token: str
    api: APIServer
    store: Store
    loops: ControlLoops
    _runner: web.AppRunner = field(repr=False)
    #: The CSR signer and the bootstrap-token cleaner (kube-controller-manager's csrsigning and tokencleaner).
    auth_loops: tuple[CSRSigner, TokenCleaner] | None = None
    _lock: DataDirLock | None = field(default=None, repr=False)

    async def stop(self) -> None:
        """Stop serving, finish durable writes, close the database, free the data directory."""
        try:
            await self.loops.stop()
            for loop in self.auth_loops or ():
                await loop.stop()
            self.api.hub.close()
            await self._runner.cleanup()
            await self.store.close()
        finally:
            if self._lock is not None:
                self._lock.release()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def _bootstrap(api: APIServer) -> None:
    ns_info = api.registry.lookup("", "v1", "namespaces")
    assert ns_info is not None
    pending = []
    for name in SYSTEM_NAMESPACES:
        if api.store.get(ns_info.key("", name)) is None:
            pending.append(api.api.create(ns_info, "", {"metadata": {"name": name}}, WriteOptions()))
    # kube-apiserver's bootstrap RBAC policy (discovery, self reviews, cluster-admin), created when missing.
    for plural, objs in (("clusterroles", default_cluster_roles()),
                         ("clusterrolebindings", default_cluster_role_bindings())):
        info = api.registry.lookup("rbac.authorization.k8s.io", "v1", plural)
        assert info is not None
        for obj in objs:
            if api.store.get(info.key("", obj["metadata"]["name"])) is None:
                pending.append(api.api.create(info, "", obj, WriteOptions()))
    for res in pending:
        await res.wait()


async def start_server(config: ServerConfig, *, authorizer: Authorizer | None = None) -> RunningServer:
    """Lock the data directory, open the store, generate PKI and tokens on first start, and serve HTTPS.

    Raises `StartupError` (with a message saying what to do) when the directory is in use by another
    server, cannot be written, is full, holds a corrupt database, or the port is taken.
    """
    data = config.data_dir
    lock = await asyncio.to_thread(DataDirLock.acquire, data)
    try:
        return await _start_locked(config, authorizer, lock)
    except BaseException:
        lock.release()
        raise


async def _start_locked(config: ServerConfig, authorizer: Authorizer | None, lock: DataDirLock) -> RunningServer:
    data = config.data_dir
    hosts = ("127.0.0.1", "localhost", "::1", *config.extra_hosts)
    try:
        await asyncio.to_thread(secure, data)
        pki = await asyncio.to_thread(ensure_pki, data / "pki", hosts)
        tokens = TokenStore(data / "tokens.json", recheck_seconds=TOKEN_RECHECK_SECONDS)
        admin_token = await asyncio.to_thread(tokens.ensure, ADMIN, data / "pki" / "admin.token")
        (data / "apiserver").mkdir(mode=0o700, exist_ok=True)
        await asyncio.to_thread(create_private, data / "apiserver" / "state.db")
        store = await asyncio.to_thread(functools.partial(Store.open, data / "apiserver" / "state.db",
                                                          probe_bytes=STARTUP_PROBE_BYTES))
    except (OSError, sqlite3.DatabaseError) as exc:
        raise startup_error(exc, data) from None
    # The loaded objects live as long as the server: move them out of the cyclic collector's
    # reach so full collections do not rescan a large, stable heap on every write burst.
    gc.collect()
    gc.freeze()
    api = APIServer(store, tokens, authorizer=authorizer, bookmark_interval=config.bookmark_interval,
                    watch_history=config.watch_history, limits=config.limits)
    loops = ControlLoops(api.api, store, node_grace_seconds=config.node_grace_seconds,
                         node_check_interval=config.node_check_interval)
    auth_loops = (CSRSigner(api.api, store, pki, max_seconds=config.csr_max_seconds), TokenCleaner(api.api, store))
    try:
        await _bootstrap(api)
    except StorageError as exc:
        await store.close()
        raise StartupError(f"cannot write to the data directory {data}: {exc.message}") from None
    app = api.build_app()
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    port = config.port or free_port(config.host)
    site = HardenedSite(runner, config.host, port, ssl_context=server_ssl_context(pki), backlog=1024,
                        limits=config.limits)
    quiet_connection_errors(asyncio.get_running_loop())
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        await store.close()
        raise StartupError(f"cannot listen on {config.host}:{port}: {exc.strerror or exc}; choose another "
                           "--port") from None
    loops.start()
    host = f"[{config.host}]" if ":" in config.host else config.host
    url = f"https://{host}:{port}"
    kubeconfig = data / "kubeconfig"
    try:
        await asyncio.to_thread(write_kubeconfig, kubeconfig, server=url, ca_cert_pem=pki.ca_cert.read_bytes(),
                                token=admin_token)
        await asyncio.to_thread(secure, data)
    except OSError as exc:
        await loops.stop()
        await runner.cleanup()
        await store.close()
        raise startup_error(exc, data) from None
    for loop in auth_loops:
        loop.start()
    return RunningServer(config, url, port, kubeconfig, pki, admin_token, api, store, loops, runner,
                         auth_loops=auth_loops, _lock=lock)
