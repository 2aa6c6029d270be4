"""Where the API server is and how to authenticate: kubeconfig or in-cluster.

Parsing the kubeconfig format (contexts, relative paths, ``*-data`` fields)
and in-cluster discovery is ``kubeconfig.py``; the HTTP is aiohttp or h11
(``transport``, see ``transport.py`` and ``docs/libraries.md``). This module turns the selected context into an
``ssl.SSLContext`` and credentials that :class:`~kubenode.client.KubeClient` uses.

Lookup order when no file is given: ``$KUBECONFIG`` (first existing entry of
the list), ``~/.kube/config``, then the in-cluster service account.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import kubeconfig as kc
from .errors import ConfigError
from .kubeconfig import SERVICE_ACCOUNT, SelectedConfig

#: Where a pod finds its ServiceAccount token, CA and namespace.
SERVICE_ACCOUNT_DIR = SERVICE_ACCOUNT
DEFAULT_USER_AGENT = "kubenode/0.1.0"
DEFAULT_FIELD_MANAGER = "kubenode"
# Projected service account tokens rotate; re-read the file this often (client-go uses one minute).
TOKEN_FILE_REFRESH_SECONDS = 60.0


@dataclass
class ClientConfig:
    """Everything :class:`~kubenode.client.KubeClient` needs; one settings object.

    ``ssl_context`` is ``None`` for plain-HTTP servers. At most one of
    ``token``/``token_file``/``username`` is used for the Authorization header;
    client certificates live in ``ssl_context``.
    """

    server: str
    ssl_context: ssl.SSLContext | None = None
    token: str | None = None
    token_file: str | None = None
    username: str | None = None
    password: str | None = None
    namespace: str = "default"
    user_agent: str = DEFAULT_USER_AGENT
    field_manager: str = DEFAULT_FIELD_MANAGER
    qps: float = 50.0
    burst: int = 100
    connection_limit: int = 100
    request_timeout: float = 30.0
    max_retries: int = 5
    #: The HTTP transport: ``aiohttp`` (default: fastest at volume) or ``h11`` (light: the node agent).
    transport: str = "aiohttp"
    #: A client certificate kept in files (kubeconfig `client-certificate`/`client-key`): a rotated
    #: certificate (the files replaced) is picked up by `KubeClient` for new connections.
    client_cert_file: str | None = None
    client_key_file: str | None = None
    #: Rebuilds `ssl_context` from the kubeconfig (set by `load_config` when the certificate is in files).
    ssl_factory: Callable[[], ssl.SSLContext] | None = field(default=None, repr=False, compare=False)
    _token_cache: tuple[float, str] | None = field(default=None, repr=False, compare=False)

    def client_cert_version(self) -> tuple[int, int, int, int] | None:
        """A value that changes whenever the client certificate or key file is replaced (None: no files)."""
        if not self.client_cert_file:
            return None
        try:
            a = os.stat(self.client_cert_file)
            b = os.stat(self.client_key_file or self.client_cert_file)
        except OSError:
            return None
        return (a.st_ino, a.st_mtime_ns, b.st_ino, b.st_mtime_ns)

    def authorization(self) -> str | None:
        """The Authorization header value, re-reading a token file when it may have rotated."""
        if self.token_file:
            now = time.monotonic()
            if self._token_cache is None or now - self._token_cache[0] > TOKEN_FILE_REFRESH_SECONDS:
                try:
                    token = Path(self.token_file).read_text().strip()
                except OSError as exc:
                    raise ConfigError(f"cannot read token file {self.token_file}: {exc}") from exc
                self._token_cache = (now, token)
            return f"Bearer {self._token_cache[1]}"
        if self.token:
            return f"Bearer {self.token}"
        if self.username is not None and self.password is not None:
            raw = f"{self.username}:{self.password}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        return None

    def invalidate_token(self) -> None:
        """Forget a cached token-file token (after a 401), so the next request re-reads it."""
        self._token_cache = None


def load_config(kubeconfig: str | Path | None = None, context: str | None = None) -> ClientConfig:
    """Load a :class:`ClientConfig` from a kubeconfig file, the environment, or the in-cluster service account."""
    single = _select(kubeconfig, context)
    return _from_single(single)


def config_from_kubeconfig_text(text: str | bytes, context: str | None = None) -> ClientConfig:
    """A :class:`ClientConfig` from kubeconfig *content* (a Secret's `kubeconfig` key, an uploaded file).

    Only self-contained kubeconfigs make sense here (``*-data`` fields, tokens): relative file paths would be
    resolved against this process's working directory.
    """
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the kubeconfig is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not doc.get("clusters"):
        raise ConfigError("the kubeconfig has no clusters (is it a kubeconfig file?)")
    try:
        return _from_single(kc.from_dict(doc, context))
    except (KeyError, TypeError, ValueError, ssl.SSLError) as exc:
        raise ConfigError(f"the kubeconfig is incomplete or invalid: {exc}") from None


def _select(kubeconfig: str | Path | None, context: str | None) -> SelectedConfig:
    if kubeconfig is not None:
        return kc.from_file(kubeconfig, context)
    for candidate in _kubeconfig_candidates():
        if candidate.is_file():
            return kc.from_file(candidate, context)
    if context is not None:
        raise ConfigError(f"context {context!r} requested but no kubeconfig file was found")
    return _in_cluster()


def _kubeconfig_candidates() -> list[Path]:
    env = os.environ.get("KUBECONFIG", "")
    paths = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    if not env:
        paths.append(Path("~/.kube/config").expanduser())
    return paths


def _in_cluster() -> SelectedConfig:
    if not os.environ.get("KUBERNETES_SERVICE_HOST") or not os.environ.get("KUBERNETES_SERVICE_PORT"):
        raise ConfigError("no kubeconfig found (KUBECONFIG, ~/.kube/config) and not running in a cluster "
                          "(KUBERNETES_SERVICE_HOST/PORT unset)")
    if not Path(SERVICE_ACCOUNT, "token").is_file():
        raise ConfigError(f"in-cluster: no service account token under {SERVICE_ACCOUNT}")
    return kc.from_service_account(os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])


def _from_single(single: SelectedConfig) -> ClientConfig:
    cluster, user = single.cluster, single.user
    server = cluster.server.rstrip("/")
    ctx: ssl.SSLContext | None = None
    if server.startswith("https://"):
        ctx = _ssl_context(single)
    cfg = ClientConfig(server=server, ssl_context=ctx, namespace=single.namespace)
    if ctx is not None and user is not None and user.client_cert and not user.client_cert_data:
        cfg.client_cert_file = str(single.abs_file(user.client_cert))
        cfg.client_key_file = str(single.abs_file(user.client_key)) if user.client_key else None
        cfg.ssl_factory = lambda: _ssl_context(single)
    if user is not None:
        if user.exec is not None or user.auth_provider is not None:
            raise ConfigError("exec and auth-provider credentials are not supported; use a token or client cert")
        if user.token_file:
            cfg.token_file = str(single.abs_file(user.token_file))
        elif user.token:
            cfg.token = user.token.strip()
        elif user.username is not None:
            cfg.username, cfg.password = user.username, user.password or ""
    return cfg


def _ssl_context(single: SelectedConfig) -> ssl.SSLContext:
    cluster, user = single.cluster, single.user
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if cluster.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cluster.certificate_auth_data:
        ctx.load_verify_locations(cadata=base64.b64decode(cluster.certificate_auth_data).decode("ascii"))
    elif cluster.certificate_auth:
        ctx.load_verify_locations(cafile=str(single.abs_file(cluster.certificate_auth)))
    if user is not None and (user.client_cert or user.client_cert_data):
        _load_client_cert(ctx, single)
    return ctx


def _load_client_cert(ctx: ssl.SSLContext, single: SelectedConfig) -> None:
    user = single.user
    assert user is not None
    if user.client_cert_data and user.client_key_data:
        # ssl can only read a certificate chain from files: write them briefly to a private temp dir.
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp, "client.crt"), Path(tmp, "client.key")
            cert.write_bytes(base64.b64decode(user.client_cert_data))
            key.touch(mode=0o600)
            key.write_bytes(base64.b64decode(user.client_key_data))
            ctx.load_cert_chain(str(cert), str(key))
        return
    if user.client_cert and user.client_key:
        ctx.load_cert_chain(str(single.abs_file(user.client_cert)), str(single.abs_file(user.client_key)))
        return
    raise ConfigError("a client certificate needs both the certificate and the key (both files or both data)")
