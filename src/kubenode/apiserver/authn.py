"""Request authentication: who is calling, as kube-apiserver's union of authenticators.

Asked in kube's order, the first that recognises the request wins:

1. **X.509 client certificate** signed by the cluster CA (the TLS layer has
   verified the chain during the handshake, see `security.server_ssl_context`):
   CN is the user, each O a group, plus ``system:authenticated``. The
   certificate is checked again on every request — a long-lived connection
   does not outlive its certificate's ``notAfter`` — and must allow client
   authentication (extended key usage).
2. **Bootstrap tokens** (``<id>.<secret>``, `bootstrap_tokens.py`).
3. **Tokens of the `TokenStore`**: the admin and operators, and ServiceAccount
   tokens from TokenRequest. A ServiceAccount token is valid only while that
   ServiceAccount exists *with the UID it had when the token was issued*
   (a re-created account never revives old tokens), and a bound token only
   while every object it is bound to (Pod, Secret) exists with its UID.

A request that none recognises is anonymous: 401 except on public paths.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import bootstrap_tokens
from .security import TokenStore, User
from .storage import Store

log = logging.getLogger("kubenode.apiserver.authn")

AUTHENTICATED = "system:authenticated"
SA_PREFIX = "system:serviceaccount:"
_CACHE_MAX = 10_000


def user_from_certificate(cert: x509.Certificate) -> User | None:
    """The identity a (chain-verified) client certificate names: CN → user, O → groups; None if unusable."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(cns) != 1 or not str(cns[0].value):
        return None
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        return None
    groups = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if AUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return User(str(cns[0].value), tuple(groups))


class RequestAuthenticator:
    """Resolves a request's TLS peer certificate or bearer token to a `User` (None: not authenticated)."""

    def __init__(self, store: Store, tokens: TokenStore) -> None:
        self.store = store
        self.tokens = tokens
        # DER → (user or None, notAfter epoch): parsing a certificate costs ~50 µs, a dict lookup nothing.
        self._certs: dict[bytes, tuple[User | None, float]] = {}

    def authenticate(self, transport: Any, authorization: str | None, now: float) -> User | None:
        """The user of one request: its client certificate first, then its bearer token."""
        der = _peer_certificate(transport)
        if der is not None:
            user = self._certificate_user(der, now)
            if user is not None:
                return user
        if not authorization:
            return None
        parts = authorization.strip().split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return None
        token = parts[1]
        if bootstrap_tokens.TOKEN_RE.fullmatch(token):
            return bootstrap_tokens.authenticate(self.store, token, now)
        found = self.tokens.lookup_bound(token)
        if found is None:
            return None
        user, bound = found
        if user.name.startswith(SA_PREFIX) and not self._service_account_valid(user):
            return None
        for ref in bound:
            obj = self.store.get(ref.key)
            if obj is None or obj["metadata"].get("uid") != ref.uid:
                return None
        return user

    def _service_account_valid(self, user: User) -> bool:
        parts = user.name.split(":")
        if len(parts) != 4 or not user.uid:
            # A token that names an account but not its UID would survive the account's re-creation.
            return False
        sa = self.store.get(f"/serviceaccounts/{parts[2]}/{parts[3]}")
        return sa is not None and sa["metadata"].get("uid") == user.uid

    def _certificate_user(self, der: bytes, now: float) -> User | None:
        hit = self._certs.get(der)
        if hit is None:
            try:
                cert = x509.load_der_x509_certificate(der)
            except ValueError:
                return None
            hit = (user_from_certificate(cert), cert.not_valid_after_utc.timestamp())
            if cert.not_valid_before_utc > dt.datetime.fromtimestamp(now, dt.UTC):
                return None
            if len(self._certs) >= _CACHE_MAX:
                self._certs.clear()
            self._certs[der] = hit
        user, not_after = hit
        if now >= not_after:
            return None
        return user


def _peer_certificate(transport: Any) -> bytes | None:
    if transport is None:
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return der or None
