"""Who may approve a CertificateSigningRequest: kube's `approve` verb on its signer.

kube-apiserver's CSR `/approval` storage asks the authorizer, for every change of the Approved or
Denied conditions, whether the user may `approve` the resource `signers` (group certificates.k8s.io)
named after the request's `spec.signerName` — or its domain wildcard (`kubernetes.io/*`). Without
it the write is 403, whatever the user's rights on `certificatesigningrequests/approval`. This is
that check, so that the shipped operator role is proven to need (and hold) exactly that right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import errors
from .authz import Attributes
from .builtins_certificates import APPROVAL_TYPES, RESOURCE_ID
from .resources import ResourceInfo
from .rest import WriteCheck, WriteOptions

Obj = dict[str, Any]
Allowed = Callable[[Attributes], tuple[bool, str]]
GROUP = "certificates.k8s.io"


def _approvals(obj: Obj | None) -> list[Any]:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return [(c.get("type"), c.get("status"), c.get("reason"), c.get("message")) for c in conditions
            if isinstance(c, dict) and c.get("type") in APPROVAL_TYPES]


def signer_check(allowed: Allowed) -> WriteCheck:
    """The ObjectAPI write check: a change of a CSR's Approved/Denied conditions needs `approve` on its signer."""

    def check(info: ResourceInfo, obj: Obj, old: Obj | None, opts: WriteOptions) -> None:
        if f"{info.group}/{info.plural}" != RESOURCE_ID or opts.user is None:
            return
        if _approvals(obj) == _approvals(old):
            return
        signer = str((obj.get("spec") or {}).get("signerName") or "")
        domain = signer.split("/", 1)[0] + "/*" if "/" in signer else ""
        for name in (signer, domain):
            if name and allowed(Attributes(opts.user, "approve", GROUP, "signers", "", "", name))[0]:
                return
        raise errors.forbidden(opts.user.name, "approve", "signers", GROUP, signer, "",
                               f'user not permitted to approve requests with signerName "{signer}"')

    return check
