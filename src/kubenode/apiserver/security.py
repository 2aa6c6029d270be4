"""Transport security and authentication for the embedded API server.

Three pieces, all file-backed so that a restart keeps every credential:

* a small PKI (`ensure_pki`): a self-signed CA and a server certificate it
  signs, so kubectl and client libraries verify the server exactly as they
  verify a real cluster (no ``insecure-skip-tls-verify``);
* a bearer-token store (`TokenStore`) that keeps only SHA-256 hashes of the
  tokens on disk;
* `write_kubeconfig`, the standard file kubectl and clients read.

Keys use ECDSA P-256: generating them is instantaneous (RSA 2048 takes tens of
milliseconds per key, which adds up in tests), and Go's crypto/tls, which
kubectl uses, supports ECDSA P-256 with SHA-256 signatures everywhere.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import hashlib
import ipaddress
import json
import logging
import math
import os
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubenode.apimachinery.files import write_atomic

__all__ = [
    "BoundObject",
    "PKIPaths",
    "TokenStore",
    "TokenStoreError",
    "User",
    "client_ssl_context",
    "ensure_pki",
    "server_ssl_context",
    "write_kubeconfig",
]

log = logging.getLogger(__name__)

CA_VALIDITY = dt.timedelta(days=3650)
SERVER_VALIDITY = dt.timedelta(days=365)
# A server certificate this close to expiry is replaced on the next start, so a
# long-lived data dir never serves an expired certificate.
RENEW_BEFORE = dt.timedelta(days=30)
# Backdate notBefore so that a client whose clock is slightly behind ours does
# not reject a freshly issued certificate as "not yet valid".
CLOCK_SKEW = dt.timedelta(minutes=5)

DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")

_CA_CERT = "ca.crt"
_CA_KEY = "ca.key"
_SERVER_CERT = "server.crt"
_SERVER_KEY = "server.key"

# Tokens longer than this are rejected before hashing; ours are 43 characters.
_MAX_TOKEN_LEN = 4096


@dataclass(frozen=True)
class User:
    """An authenticated identity: a user name and the groups it belongs to.

    Examples: ``User("kubenode:admin", ("system:masters",))``,
    ``User("system:node:m1", ("system:nodes", "kubenode:agents"))``.
    """

    name: str
    groups: tuple[str, ...] = ()
    #: The identity's UID (a ServiceAccount's metadata.uid), as in Kubernetes' user.Info.
    uid: str = ""
    #: Extra attributes, as Kubernetes' user.Info.GetExtra(): sorted (key, values) pairs, e.g.
    #: ``(("authentication.kubernetes.io/node-name", ("m1",)),)``. A tuple so that User stays hashable.
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("user name must not be empty")
        # Accept any sequence (JSON gives lists) but store a tuple so that the
        # object stays hashable and comparisons do not depend on the input type.
        if not isinstance(self.groups, tuple):
            object.__setattr__(self, "groups", tuple(self.groups))
        if isinstance(self.extra, dict) or not isinstance(self.extra, tuple):
            items = self.extra.items() if isinstance(self.extra, dict) else self.extra
            object.__setattr__(self, "extra", tuple(sorted((str(k), tuple(v)) for k, v in items)))
        if not self.name:
            raise ValueError("user name must not be empty")

    def extra_dict(self) -> dict[str, list[str]]:
        """`extra` as Kubernetes serialises it (key -> list of values)."""
        return {k: list(v) for k, v in self.extra}


@dataclass(frozen=True)
class BoundObject:
    """An object a token is bound to (TokenRequest `boundObjectRef`): the token dies with it.

    `key` is the object's storage key (``group/plural/namespace/name``) and `uid` the UID it had when
    the token was issued, so a deleted and re-created object of the same name does not revive the token.
    """

    key: str
    uid: str


@dataclass(frozen=True)
class PKIPaths:
    """Where `ensure_pki` keeps the CA and the server certificate and keys."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


# --------------------------------------------------------------------------- files


def _make_private_dir(directory: Path) -> None:
    """Create `directory` (and parents) if needed and make it mode 0700."""
    directory.mkdir(parents=True, exist_ok=True)
    # mkdir's mode is filtered by the umask and ignored for existing dirs; the
    # directory holds private keys, so set the mode explicitly either way.
    os.chmod(directory, 0o700)


# --------------------------------------------------------------------------- PKI


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _parse_hosts(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """Turn host strings into SAN entries: IP literals as IPAddress, the rest as DNSName."""
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for raw in hosts:
        host = raw.strip()
        if not host:
            raise ValueError("empty host name in SAN list")
        # Bracketed IPv6 literals come from URLs such as https://[::1]:6443.
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            key = host.lower()
            if key not in seen:
                seen.add(key)
                names.append(x509.DNSName(key))
            continue
        key = str(ip)
        if key not in seen:
            seen.add(key)
            names.append(x509.IPAddress(ip))
    if not names:
        raise ValueError("at least one host is required for the server certificate")
    return names


def _new_ca(now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    # A unique CN (as k3s does) keeps clients from confusing two CAs of
    # different data dirs that would otherwise have identical subjects.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kubenode-ca@{int(now.timestamp())}")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_server_cert(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    hosts: Sequence[str],
    now: dt.datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        # Go ignores the CN for host verification; the SAN is what counts.
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubenode-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + SERVER_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_parse_hosts(hosts)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        # OpenSSL's strict verification (default from Python 3.13) requires an
        # AuthorityKeyIdentifier on every certificate that is not self-signed.
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """Load a certificate and its EC key; None if missing, unreadable or mismatched."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        if not isinstance(exc, FileNotFoundError):
            log.warning("ignoring unusable certificate %s / key %s: %s", cert_path.name, key_path.name, exc)
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        log.warning("ignoring %s: not an EC private key", key_path.name)
        return None
    # A crash between writing the key and the certificate could leave a pair
    # that does not belong together; such a pair is as good as missing.
    if cert.public_key() != key.public_key():
        log.warning("certificate %s does not match key %s", cert_path.name, key_path.name)
        return None
    return cert, key


def _san_covers(cert: x509.Certificate, hosts: Sequence[str]) -> bool:
    """Whether the certificate's SAN lists every requested host."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = set(san)
    return all(name in present for name in _parse_hosts(hosts))


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def ensure_pki(
    pki_dir: Path,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    *,
    now: dt.datetime | None = None,
) -> PKIPaths:
    """Create (once) and return the CA and server certificate under `pki_dir`.

    The directory is created with mode 0700; private keys are written with mode
    0600 and certificates with 0644, each atomically. Existing files are reused
    byte for byte. The CA (ECDSA P-256, 10 years) is only generated when it is
    missing or unusable (which invalidates every kubeconfig that embeds it).
    The server certificate (1 year, serverAuth, SAN = `hosts`; IP literals as
    IPAddress, names as DNSName) is re-issued from the same CA when it is
    missing, expires within 30 days, lacks one of `hosts`, does not match its
    key, or was not signed by the current CA. A re-issued certificate lists
    exactly `hosts`.

    `now` injects the clock (tests); it defaults to the current UTC time.
    """
    now = now or _utcnow()
    _parse_hosts(hosts)  # fail on bad input before touching the disk
    pki_dir = Path(pki_dir)
    _make_private_dir(pki_dir)
    paths = PKIPaths(
        ca_cert=pki_dir / _CA_CERT,
        ca_key=pki_dir / _CA_KEY,
        server_cert=pki_dir / _SERVER_CERT,
        server_key=pki_dir / _SERVER_KEY,
    )

    ca = _load_pair(paths.ca_cert, paths.ca_key)
    if ca is not None and ca[0].not_valid_after_utc <= now:
        log.warning("CA certificate %s has expired; generating a new CA", paths.ca_cert)
        ca = None
    if ca is None:
        ca = _new_ca(now)
        # Key first: a certificate without its key is useless, the reverse is
        # detected as a mismatch on the next run and regenerated.
        write_atomic(paths.ca_key, _key_pem(ca[1]), 0o600)
        write_atomic(paths.ca_cert, ca[0].public_bytes(serialization.Encoding.PEM), 0o644)
    ca_cert, ca_key = ca

    server = _load_pair(paths.server_cert, paths.server_key)
    reason = ""
    if server is None:
        reason = "missing or unusable"
    elif server[0].not_valid_after_utc - now <= RENEW_BEFORE:
        reason = "expires within 30 days"
    elif not _san_covers(server[0], hosts):
        reason = "does not cover all requested hosts"
    elif not _signed_by(server[0], ca_cert):
        reason = "not signed by the current CA"
    if reason:
        log.info("issuing server certificate %s (%s)", paths.server_cert, reason)
        cert, key = _new_server_cert(ca_cert, ca_key, hosts, now)
        write_atomic(paths.server_key, _key_pem(key), 0o600)
        write_atomic(paths.server_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return paths


def server_ssl_context(paths: PKIPaths) -> ssl.SSLContext:
    """A TLS 1.2+ server context serving the server certificate (for aiohttp).

    Clients may present a certificate (CERT_OPTIONAL): one signed by our CA
    authenticates its subject (CN = user, O = groups, see `authn.py`), as
    kube-apiserver's `--client-ca-file`; clients without one authenticate
    with bearer tokens. A certificate our CA did not sign fails the
    handshake. ALPN offers only http/1.1 because aiohttp does not speak
    HTTP/2; Go clients (kubectl) offer h2 first and fall back cleanly.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile=str(paths.server_cert), keyfile=str(paths.server_key))
    ctx.load_verify_locations(cafile=str(paths.ca_cert))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def client_ssl_context(ca_cert: Path) -> ssl.SSLContext:
    """A TLS 1.2+ client context trusting only `ca_cert`, with hostname checking."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_cert))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


# --------------------------------------------------------------------------- tokens


class TokenStoreError(Exception):
    """The token file exists but cannot be read or parsed."""


def _hash_token(token: str) -> str:
    # A plain (unsalted, fast) hash is enough: tokens are 256 random bits, so
    # there is nothing to brute-force, and lookups stay cheap per request.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _valid_token_syntax(token: str) -> bool:
    return 0 < len(token) <= _MAX_TOKEN_LEN and token.isascii() and token.isprintable() and " " not in token


_FileKey = tuple[int, int, int]  # (inode, mtime_ns, size)
#: How many recently presented tokens keep their digest (a fleet's agents each present their own).
_DIGEST_CACHE = 16_384
#: How often the API server's token store looks at its file for other processes' changes (seconds).
TOKEN_RECHECK_SECONDS = 0.1


class TokenStore:
    """Bearer tokens kept as SHA-256 hashes in a JSON file (mode 0600).

    Only hashes are stored, so a stolen copy of the data dir does not leak
    usable tokens (the kubeconfig itself holds the admin token, mode 0600).
    The file is the source of truth: `authenticate` answers from an in-memory
    dict and reloads it when the file changes (another process may issue or
    revoke tokens); a deleted file means no token is valid. Mutations take an
    advisory lock on a sidecar ``.lock`` file so that concurrent processes do
    not lose each other's writes.

    File format: ``{"version": 1, "tokens": {"<sha256 hex>": {"user": NAME,
    "groups": [...], "uid": UID, "extra": {KEY: [...]}, "expires": EPOCH_SECONDS,
    "bound": [{"key": STORAGE_KEY, "uid": UID}]}}}``; everything but `user`
    and `groups` is optional (a token without `expires` is valid until
    revoked; `bound` lists the objects a TokenRequest bound it to, which the
    authenticator checks). Expired entries are dropped at the next write.
    """

    def __init__(self, path: Path, *, recheck_seconds: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Open the store at `path`; a missing file is an empty store.

        Lookups look at the file (one `stat`) at most once per `recheck_seconds` of `clock`: 0, the default,
        looks on every lookup; the API server passes `TOKEN_RECHECK_SECONDS`, so another process's
        revocation takes effect within that time instead of costing a system call per request. This
        store's own changes (issue, revoke) are seen at once either way.

        Raises `TokenStoreError` if the file exists but is not a valid store.
        """
        self._path = Path(path)
        self._lock = threading.Lock()
        self._tokens: dict[str, User] = {}
        self._expires: dict[str, float] = {}  # digest → epoch seconds, for tokens that expire
        self._bound: dict[str, tuple[BoundObject, ...]] = {}  # digest → objects the token dies with
        self._file_key: _FileKey | None = None
        self._recheck = recheck_seconds
        self._clock = clock
        self._checked_at = -math.inf
        #: plain token → its digest, for the tokens presented lately (a SHA-256 per request otherwise)
        self._digests: dict[str, str] = {}
        with self._lock:
            self._refresh()

    @property
    def path(self) -> Path:
        """The JSON file backing this store."""
        return self._path

    # -- reading -------------------------------------------------------------

    def _stat_key(self) -> _FileKey | None:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return None
        # The inode changes on every atomic replace, which catches rewrites
        # within one mtime tick on filesystems with coarse timestamps.
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self, *, force: bool = False) -> None:
        """Reload the file if it changed since the last load (caller holds the lock).

        Raises `TokenStoreError` if the file cannot be read or parsed; the
        in-memory tokens are then empty (fail closed) and the broken version is
        remembered, so that requests do not re-parse and re-log it every time.
        """
        if not force and self._recheck > 0:
            now = self._clock()
            if now - self._checked_at < self._recheck:
                return
            self._checked_at = now
        key = self._stat_key()
        if key == self._file_key and not force:
            return
        self._tokens, self._expires, self._bound, self._file_key = {}, {}, {}, key
        if key is None:
            return
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            self._file_key = None
            return
        except OSError as exc:
            raise TokenStoreError(f"cannot read token file {self._path.name}: {exc}") from exc
        self._tokens, self._expires = self._parse(raw)

    def _parse(self, raw: bytes) -> tuple[dict[str, User], dict[str, float]]:
        try:
            doc = json.loads(raw)
            if not (
                isinstance(doc, dict) and doc.get("version") == 1 and isinstance(doc.get("tokens"), dict)
            ):
                raise ValueError("expected {'version': 1, 'tokens': {...}}")
            tokens: dict[str, User] = {}
            expires: dict[str, float] = {}
            bound: dict[str, tuple[BoundObject, ...]] = {}
            for digest, entry in doc["tokens"].items():
                if not isinstance(entry, dict) or not isinstance(entry.get("user"), str):
                    raise ValueError(f"bad entry for {digest[:8]}…")
                groups = entry.get("groups", [])
                if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
                    raise ValueError(f"bad groups for {digest[:8]}…")
                uid = entry.get("uid", "")
                extra = entry.get("extra", {})
                if not isinstance(uid, str) or not isinstance(extra, dict) or not all(
                        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in extra.values()):
                    raise ValueError(f"bad uid or extra for {digest[:8]}…")
                tokens[digest] = User(entry["user"], tuple(groups), uid, extra)  # type: ignore[arg-type]
                if "expires" in entry:
                    if not isinstance(entry["expires"], int | float) or isinstance(entry["expires"], bool):
                        raise ValueError(f"bad expiry for {digest[:8]}…")
                    expires[digest] = float(entry["expires"])
                refs = entry.get("bound", [])
                if not isinstance(refs, list) or not all(
                        isinstance(r, dict) and isinstance(r.get("key"), str) and isinstance(r.get("uid"), str)
                        for r in refs):
                    raise ValueError(f"bad bound objects for {digest[:8]}…")
                if refs:
                    bound[digest] = tuple(BoundObject(r["key"], r["uid"]) for r in refs)
        except (ValueError, TypeError) as exc:
            raise TokenStoreError(f"invalid token file {self._path.name}: {exc}") from exc
        self._bound = bound
        return tokens, expires

    # -- writing -------------------------------------------------------------

    @contextlib.contextmanager
    def _mutating(self) -> Iterator[dict[str, User]]:
        """Lock (thread and process), reload, yield the dict to change, then persist it."""
        with self._lock:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self._path.with_name(self._path.name + ".lock")
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                # Force a re-read: another process may have written within the
                # same mtime tick, and a broken file must raise here rather
                # than be overwritten with whatever we have in memory.
                self._refresh(force=True)
                now = time.time()
                tokens = {d: u for d, u in self._tokens.items() if self._expires.get(d, math.inf) > now}
                yield tokens
                self._save(tokens)
            finally:
                os.close(fd)  # closing releases the flock

    def _save(self, tokens: dict[str, User]) -> None:
        expires = {d: t for d, t in self._expires.items() if d in tokens}
        bound = {d: b for d, b in self._bound.items() if d in tokens}
        entries: dict[str, Any] = {}
        for d, u in sorted(tokens.items()):
            entries[d] = {"user": u.name, "groups": list(u.groups)}
            if u.uid:
                entries[d]["uid"] = u.uid
            if u.extra:
                entries[d]["extra"] = u.extra_dict()
            if d in expires:
                entries[d]["expires"] = expires[d]
            if d in bound:
                entries[d]["bound"] = [{"key": b.key, "uid": b.uid} for b in bound[d]]
        write_atomic(self._path, (json.dumps({"version": 1, "tokens": entries}, indent=2) + "\n").encode(), 0o600)
        self._tokens, self._expires, self._bound = tokens, expires, bound
        self._file_key = self._stat_key()

    # -- public API ----------------------------------------------------------

    def issue(self, user: User, expires_at: float | None = None, bound: Sequence[BoundObject] = ()) -> str:
        """Create, persist and return a new random token for `user`, valid until `expires_at` (epoch seconds;
        None: until revoked) and, with `bound`, while each of those objects exists with its UID.

        Only the token's hash is stored; the returned plain token cannot be
        recovered from the store later. The user's uid and extra are kept with it.
        """
        token = secrets.token_urlsafe(32)
        digest = _hash_token(token)
        with self._mutating() as tokens:
            tokens[digest] = user
            if expires_at is not None:
                self._expires[digest] = expires_at
            if bound:
                self._bound[digest] = tuple(bound)
        return token

    def ensure(self, user: User, token_file: Path) -> str:
        """Return a valid token for `user`, reusing the one in `token_file` if possible.

        Idempotent: if `token_file` holds a token that authenticates as exactly
        `user` (same name and groups), it is returned unchanged. Otherwise a new
        token is issued and written to `token_file` (mode 0600, atomically); a
        stale token in the file that belonged to the same user name (e.g. with
        different groups) is revoked so it does not linger with old rights.
        """
        token_file = Path(token_file)
        old = ""
        with contextlib.suppress(FileNotFoundError, UnicodeDecodeError):
            old = token_file.read_text("utf-8").strip()
        if old and self.lookup(old) == user:
            return old
        token = secrets.token_urlsafe(32)
        with self._mutating() as tokens:
            if old:
                stale = tokens.get(_hash_token(old))
                if stale is not None and stale.name == user.name:
                    del tokens[_hash_token(old)]
            tokens[_hash_token(token)] = user
        write_atomic(token_file, (token + "\n").encode(), 0o600)
        return token

    def revoke_user(self, name: str) -> int:
        """Invalidate every token of user `name`; return how many were removed."""
        with self._mutating() as tokens:
            doomed = [d for d, u in tokens.items() if u.name == name]
            for d in doomed:
                del tokens[d]
        return len(doomed)

    def lookup(self, token: str) -> User | None:
        """The user a plain token belongs to, or None (reloads the file if it changed).

        Fails closed: if the file has become unreadable, no token is valid.
        """
        found = self.lookup_bound(token)
        return found[0] if found is not None else None

    def lookup_bound(self, token: str) -> tuple[User, tuple[BoundObject, ...]] | None:
        """The user a plain token belongs to and the objects it is bound to, or None (see `lookup`)."""
        digest = self._digests.get(token)
        if digest is None:
            if not _valid_token_syntax(token):
                return None
            digest = _hash_token(token)
            if len(self._digests) >= _DIGEST_CACHE:
                self._digests.clear()
            self._digests[token] = digest
        with self._lock:
            try:
                self._refresh()
            except TokenStoreError as exc:
                log.error("rejecting all tokens: %s", exc)
                return None
            # Comparing hashes through a dict lookup leaks no useful timing:
            # an attacker cannot steer the SHA-256 of their guess towards a
            # stored digest byte by byte.
            if self._expires.get(digest, math.inf) <= time.time():
                return None
            user = self._tokens.get(digest)
            return None if user is None else (user, self._bound.get(digest, ()))

    def authenticate(self, authorization_header: str | None) -> User | None:
        """Resolve an ``Authorization: Bearer <token>`` header value to a user.

        Returns None for a missing header, another scheme, a malformed value
        or an unknown token. The scheme is case-insensitive (RFC 7235), as in
        kube-apiserver.
        """
        if not authorization_header:
            return None
        parts = authorization_header.strip().split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return None
        return self.lookup(parts[1])


# --------------------------------------------------------------------------- kubeconfig


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_cert_pem: bytes,
    token: str,
    user: str = "admin",
    cluster: str = "kubenode",
    context: str = "kubenode",
    namespace: str = "default",
) -> None:
    """Write a standard kubeconfig (one cluster, user and context) atomically, mode 0600.

    The CA is embedded as ``certificate-authority-data`` so the file is
    self-contained and can be copied elsewhere.
    """
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_cert_pem).decode("ascii"),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": context, "context": {"cluster": cluster, "user": user, "namespace": namespace}}
        ],
        "current-context": context,
        "preferences": {},
    }
    data = yaml.safe_dump(config, sort_keys=False, default_flow_style=False).encode("utf-8")
    write_atomic(Path(path), data, 0o600)
