"""Bootstrap tokens, as kubeadm and kube-apiserver define them.

A bootstrap token is a Secret ``kube-system/bootstrap-token-<id>`` of type
``bootstrap.kubernetes.io/token`` with the keys ``token-id`` (``[a-z0-9]{6}``),
``token-secret`` (``[a-z0-9]{16}``), optional ``expiration`` (RFC 3339),
``usage-bootstrap-authentication: "true"`` and optional ``auth-extra-groups``
(comma-separated, each ``system:bootstrappers:…``). The bearer token is
``<id>.<secret>``; while the Secret is valid it authenticates as
``system:bootstrap:<id>`` in the groups ``system:bootstrappers`` (+ the extra
groups) and ``system:authenticated`` — exactly what kube-apiserver's
``--enable-bootstrap-token-auth`` does, so a kubeadm-style join works against
either server.

`TokenCleaner` is kube-controller-manager's tokencleaner: it deletes expired
bootstrap-token Secrets. Authentication never waits for it — an expired token
is refused the moment it expires.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import hmac
import logging
import re
import time
from dataclasses import dataclass

from kubenode.apimachinery.tasks import cancel_and_wait

from . import errors
from .objects import Obj
from .rest import ObjectAPI, WriteResult
from .security import User
from .storage import Change, PassLog, Store

log = logging.getLogger("kubenode.apiserver.bootstrap_tokens")

NAMESPACE = "kube-system"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
USER_PREFIX = "system:bootstrap:"
GROUP = "system:bootstrappers"
AUTHENTICATED = "system:authenticated"

TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
ID_RE = re.compile(r"^[a-z0-9]{6}$")
SECRET_RE = re.compile(r"^[a-z0-9]{16}$")
#: kube's bootstrapapi.BootstrapGroupPattern.
EXTRA_GROUP_RE = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")

_SECRETS_PREFIX = f"/secrets/{NAMESPACE}/{SECRET_PREFIX}"


def secret_key(token_id: str) -> str:
    """The storage key of the Secret of bootstrap token `token_id`."""
    return f"/secrets/{NAMESPACE}/{SECRET_PREFIX}{token_id}"


def parse_token(token: str) -> tuple[str, str] | None:
    """(`id`, `secret`) of a bearer token of the form ``<id>.<secret>``, or None."""
    m = TOKEN_RE.fullmatch(token)
    return (m.group(1), m.group(2)) if m else None


def _data(secret: Obj, key: str) -> str | None:
    raw = (secret.get("data") or {}).get(key)
    if not isinstance(raw, str):
        return None
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def parse_expiration(value: str) -> float | None:
    """Epoch seconds of an RFC 3339 ``expiration`` value, or None when it does not parse."""
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp()


@dataclass(frozen=True)
class TokenSecret:
    """The parsed content of a bootstrap-token Secret."""

    token_id: str
    token_secret: str
    expires_at: float | None
    authentication: bool
    extra_groups: tuple[str, ...]
    problem: str = ""  # why the Secret cannot authenticate anyone ("" when it can)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def read_secret(secret: Obj) -> TokenSecret | None:
    """Parse a bootstrap-token Secret; None if it is not one (wrong type or name)."""
    meta = secret.get("metadata") or {}
    name = str(meta.get("name") or "")
    if secret.get("type") != SECRET_TYPE or not name.startswith(SECRET_PREFIX):
        return None
    token_id = _data(secret, "token-id") or ""
    token_secret = _data(secret, "token-secret") or ""
    expiration = _data(secret, "expiration")
    expires_at = parse_expiration(expiration) if expiration else None
    groups_raw = _data(secret, "auth-extra-groups") or ""
    groups = tuple(g.strip() for g in groups_raw.split(",") if g.strip())
    problem = ""
    if not ID_RE.fullmatch(token_id) or name != SECRET_PREFIX + token_id:
        problem = f"token-id must match [a-z0-9]{{6}} and the Secret must be named {SECRET_PREFIX}<token-id>"
    elif not SECRET_RE.fullmatch(token_secret):
        problem = "token-secret must match [a-z0-9]{16}"
    elif expiration and expires_at is None:
        problem = f"expiration {expiration!r} is not an RFC 3339 time"
    elif any(not EXTRA_GROUP_RE.fullmatch(g) for g in groups):
        problem = "every auth-extra-groups entry must match system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]"
    return TokenSecret(token_id, token_secret, expires_at, _data(secret, "usage-bootstrap-authentication") == "true",
                       groups, problem)


def authenticate(store: Store, token: str, now: float | None = None) -> User | None:
    """The user a bootstrap bearer token authenticates as, or None (unknown, invalid, expired, not for authn)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    token_id, token_secret = parsed
    secret = store.get(secret_key(token_id))
    if secret is None or (secret.get("metadata") or {}).get("deletionTimestamp"):
        return None
    ts = read_secret(secret)
    if ts is None or ts.problem or not ts.authentication:
        return None
    if not hmac.compare_digest(ts.token_secret.encode(), token_secret.encode()):
        return None
    if ts.expired(time.time() if now is None else now):
        return None
    return User(USER_PREFIX + token_id, (*ts.extra_groups, GROUP, AUTHENTICATED))


class TokenCleaner:
    """Deletes bootstrap-token Secrets once they expire (kube-controller-manager's tokencleaner).

    Level-triggered: every pass looks at all bootstrap-token Secrets and
    sleeps until the next one expires (or a Secret in kube-system changes).
    """

    def __init__(self, api: ObjectAPI, store: Store, *, max_interval: float = 60.0) -> None:
        self._passes = PassLog(log, "token cleaner pass")
        self.api = api
        self.store = store
        self.max_interval = max_interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        store.add_listener(self._on_commit)

    def _on_commit(self, changes: list[Change]) -> None:
        if any(c.key.startswith(_SECRETS_PREFIX) and c.type != "DELETED" for c in changes):
            self._wake.set()

    def start(self) -> None:
        """Start cleaning on the running event loop."""
        self._task = asyncio.create_task(self._loop(), name="kubenode-tokencleaner")

    async def stop(self) -> None:
        """Stop and wait."""
        await cancel_and_wait(self._task)
        self._task = None

    def clean_pass(self, now: float) -> tuple[list[WriteResult], float | None]:
        """Delete every expired bootstrap-token Secret; returns (the deletions, the next expiry or None)."""
        from .builtins import builtin_by_plural

        info = builtin_by_plural("", "secrets")
        assert info is not None
        deleted: list[WriteResult] = []
        nxt: float | None = None
        for key, secret in list(self.store.items("/secrets")):
            if not key.startswith(_SECRETS_PREFIX):
                continue
            ts = read_secret(secret)
            if ts is None or ts.expires_at is None:
                continue
            if ts.expired(now):
                if not secret["metadata"].get("deletionTimestamp"):
                    with contextlib.suppress(errors.StatusError):
                        deleted.append(self.api.delete(info, NAMESPACE, secret["metadata"]["name"], {},
                                                       dry_run=False))
                        log.info("deleted expired bootstrap token %s", ts.token_id)
            elif nxt is None or ts.expires_at < nxt:
                nxt = ts.expires_at
        return deleted, nxt

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                pending, nxt = self.clean_pass(time.time())
                for r in pending:
                    await r.wait()
                self._passes.ok()
            except Exception as exc:  # a bug must not stop the loop for good
                self._passes.failed(exc)
                nxt = None
            wait = self.max_interval if nxt is None else min(self.max_interval, max(0.05, nxt - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
