"""The kubeconfig format (clientcmd's `Config` v1) and in-cluster discovery, parsed into one selected context.

KubeNode used lightkube for this; lightkube's package imports its own HTTP
stack (httpx) on `import lightkube.config`, ~6 MiB in every agent for a
YAML lookup. The format is small and stable: `clusters`, `users` and
`contexts` are lists of named entries; `current-context` picks one; file
paths are relative to the kubeconfig's directory; `*-data` fields are
base64. What the client does with the result lives in `config.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["SERVICE_ACCOUNT", "ClusterEntry", "SelectedConfig", "UserEntry", "from_dict", "from_file",
           "from_service_account"]

#: Where a pod finds its ServiceAccount token, CA and namespace.
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True)
class ClusterEntry:
    """A kubeconfig `cluster`."""

    server: str
    certificate_auth: str | None = None
    certificate_auth_data: str | None = None
    insecure: bool = False


@dataclass(frozen=True)
class UserEntry:
    """A kubeconfig `user` (AuthInfo)."""

    token: str | None = None
    token_file: str | None = None
    client_cert: str | None = None
    client_cert_data: str | None = None
    client_key: str | None = None
    client_key_data: str | None = None
    username: str | None = None
    password: str | None = None
    exec: Any = None
    auth_provider: Any = None


@dataclass(frozen=True)
class SelectedConfig:
    """One context resolved: its cluster, its user (None: anonymous), namespace, and the file's directory."""

    cluster: ClusterEntry
    user: UserEntry | None
    namespace: str = "default"
    base: Path | None = None

    def abs_file(self, name: str) -> Path:
        """A path of the kubeconfig, relative to the kubeconfig's directory."""
        p = Path(name).expanduser()
        return p if p.is_absolute() or self.base is None else self.base / p


def _named(doc: Mapping[str, Any], key: str, inner: str) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for i, entry in enumerate(doc.get(key) or []):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"kubeconfig {key}[{i}]: needs a name")
        body = entry.get(inner) or {}
        if not isinstance(body, Mapping):
            raise ConfigError(f"kubeconfig {key}[{i}].{inner}: must be a mapping")
        out[entry["name"]] = body
    return out


def _str(v: object) -> str | None:
    return v if isinstance(v, str) and v != "" else None


def from_dict(doc: object, context: str | None = None, base: Path | None = None) -> SelectedConfig:
    """Select `context` (default: `current-context`) of a parsed kubeconfig."""
    if not isinstance(doc, Mapping):
        raise ConfigError("the kubeconfig is not a mapping (is it a kubeconfig file?)")
    contexts = _named(doc, "contexts", "context")
    name = context or _str(doc.get("current-context"))
    if name is None:
        raise ConfigError("no current context in kubeconfig (set current-context or pass a context)")
    if name not in contexts:
        raise ConfigError(f"context {name!r} not found in kubeconfig (contexts: {', '.join(sorted(contexts))})")
    ctx = contexts[name]
    clusters = _named(doc, "clusters", "cluster")
    cluster_name = _str(ctx.get("cluster"))
    if cluster_name is None or cluster_name not in clusters:
        raise ConfigError(f"context {name!r}: cluster {cluster_name!r} not found in kubeconfig")
    c = clusters[cluster_name]
    server = _str(c.get("server"))
    if server is None:
        raise ConfigError(f"cluster {cluster_name!r}: no server")
    cluster = ClusterEntry(server, _str(c.get("certificate-authority")), _str(c.get("certificate-authority-data")),
                           bool(c.get("insecure-skip-tls-verify", False)))
    user: UserEntry | None = None
    user_name = _str(ctx.get("user"))
    if user_name is not None:
        users = _named(doc, "users", "user")
        if user_name not in users:
            raise ConfigError(f"context {name!r}: user {user_name!r} not found in kubeconfig")
        u = users[user_name]
        user = UserEntry(token=_str(u.get("token")), token_file=_str(u.get("tokenFile")),
                         client_cert=_str(u.get("client-certificate")),
                         client_cert_data=_str(u.get("client-certificate-data")),
                         client_key=_str(u.get("client-key")), client_key_data=_str(u.get("client-key-data")),
                         username=_str(u.get("username")), password=_str(u.get("password")),
                         exec=u.get("exec"), auth_provider=u.get("auth-provider"))
    return SelectedConfig(cluster, user, _str(ctx.get("namespace")) or "default", base)


def from_file(path: str | Path, context: str | None = None) -> SelectedConfig:
    """Select `context` of the kubeconfig file at `path` (relative paths resolve against its directory)."""
    p = Path(path).expanduser()
    try:
        doc = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {p}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"kubeconfig {p} is not valid YAML: {exc}") from None
    return from_dict(doc, context, p.resolve().parent)


def from_service_account(host: str, port: str, directory: str = SERVICE_ACCOUNT) -> SelectedConfig:
    """The in-cluster configuration: the Service's address, the pod's token, CA and namespace."""
    d = Path(directory)
    try:
        namespace = (d / "namespace").read_text().strip() or "default"
    except OSError:
        namespace = "default"
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    ca = d / "ca.crt"
    return SelectedConfig(ClusterEntry(server, str(ca) if ca.is_file() else None),
                          UserEntry(token_file=str(d / "token")), namespace, d)
