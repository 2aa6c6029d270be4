"""`certificates.k8s.io/v1` CertificateSigningRequest: schema, columns and the strategy kube's registry applies.

Fields, required lists and the usage enum follow kube's OpenAPI; the printer
columns are kube's (NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION).
The registry rules are kube's `pkg/registry/certificates/certificates`:

* create: `spec.username/uid/groups/extra` are the requester's (set by the
  server from the authenticated user, `set_requester`), `status` is dropped;
* update of the main resource: `spec` and `status` are immutable (kept);
* `/status`: the signer writes `status.certificate` and conditions but may not
  touch the approval conditions (Approved, Denied) nor replace a certificate;
* `/approval`: only the Approved/Denied conditions change, never removed.

Validation (`validate_csr`) checks the PEM request, the signer name, the
usages, `expirationSeconds` and the condition rules with field paths.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cryptography import x509

from .builtin_columns import age_cell
from .errors import Cause, field_cause
from .objects import Obj, clone, now_rfc3339
from .resources import PrinterColumn, ResourceInfo
from .security import User
from .tables import human_duration

GROUP = "certificates.k8s.io"
RESOURCE_ID = f"{GROUP}/certificatesigningrequests"
APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"
APPROVAL_TYPES = frozenset({APPROVED, DENIED})

#: KeyUsage values (kube's certificates/v1 KeyUsage enum).
USAGES = (
    "any", "cert sign", "client auth", "code signing", "content commitment", "crl sign", "data encipherment",
    "decipher only", "digital signature", "email protection", "encipher only", "ipsec end system",
    "ipsec tunnel", "ipsec user", "key agreement", "key encipherment", "microsoft sgc", "netscape sgc",
    "ocsp signing", "s/mime", "server auth", "signing", "timestamping",
)
_SIGNER_NAME = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9._~%!$&'()*+,;=:@-]+$")
MIN_EXPIRATION_SECONDS = 600


def _s(description: str, **extra: Any) -> Obj:
    return {"type": "string", "description": description, **extra}


def _nullable(schema: Obj) -> Obj:
    for child in (schema.get("properties") or {}).values():
        child["nullable"] = True
        _nullable(child)
    for key in ("items", "additionalProperties"):
        child = schema.get(key)
        if isinstance(child, dict):
            child["nullable"] = True
            _nullable(child)
    return schema


CSR_SCHEMA = _nullable({
    "type": "object",
    "description": "CertificateSigningRequest objects provide a mechanism to obtain x509 certificates by "
                   "submitting a certificate signing request, and having it asynchronously approved and issued.",
    "required": ["spec"],
    "properties": {
        "apiVersion": _s("APIVersion defines the versioned schema of this representation of an object."),
        "kind": _s("Kind is a string value representing the REST resource this object represents."),
        "metadata": {"type": "object", "description": "Standard object's metadata.",
                     "x-kubernetes-preserve-unknown-fields": True},
        "spec": {
            "type": "object",
            "description": "spec contains the certificate request, and is immutable after creation. Only the "
                           "request, signerName, expirationSeconds, and usages fields can be set on creation. "
                           "Other fields are derived by Kubernetes and cannot be modified by users.",
            "required": ["request", "signerName"],
            "properties": {
                "request": _s("request contains an x509 certificate signing request encoded in a "
                              "\"CERTIFICATE REQUEST\" PEM block. When serialized as JSON or YAML, the data is "
                              "additionally base64-encoded.", format="byte", **{"x-kubernetes-list-type": "atomic"}),
                "signerName": _s("signerName indicates the requested signer, and is a qualified name. Well-known "
                                 "signers: kubernetes.io/kube-apiserver-client, "
                                 "kubernetes.io/kube-apiserver-client-kubelet, kubernetes.io/kubelet-serving."),
                "expirationSeconds": {"type": "integer", "format": "int32",
                                      "description": "expirationSeconds is the requested duration of validity of "
                                                     "the issued certificate. The minimum valid value is 600."},
                "usages": {"type": "array", "x-kubernetes-list-type": "atomic",
                           "description": "usages specifies a set of key usages requested in the issued "
                                          "certificate.",
                           "items": _s("", enum=list(USAGES))},
                "username": _s("username contains the name of the user that created the "
                               "CertificateSigningRequest. Populated by the API server on creation and immutable."),
                "uid": _s("uid contains the uid of the user that created the CertificateSigningRequest. "
                          "Populated by the API server on creation and immutable."),
                "groups": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {"type": "string"},
                           "description": "groups contains group membership of the user that created the "
                                          "CertificateSigningRequest. Populated by the API server on creation "
                                          "and immutable."},
                "extra": {"type": "object", "description": "extra contains extra attributes of the user that "
                                                           "created the CertificateSigningRequest.",
                          "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            },
        },
        "status": {
            "type": "object",
            "description": "status contains information about whether the request is approved or denied, and "
                           "the certificate issued by the signer, or the failure condition indicating signer "
                           "failure.",
            "properties": {
                "conditions": {
                    "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                    "description": "conditions applied to the request. Known conditions are \"Approved\", "
                                   "\"Denied\", and \"Failed\".",
                    "items": {"type": "object", "required": ["type", "status"], "description": "",
                              "properties": {
                                  "type": _s("type of the condition. Known conditions are \"Approved\", "
                                             "\"Denied\", and \"Failed\"."),
                                  "status": _s("status of the condition, one of True, False, Unknown."),
                                  "reason": _s("reason indicates a brief reason for the request state"),
                                  "message": _s("message contains a human readable message with details about "
                                                "the request state"),
                                  "lastUpdateTime": _s("lastUpdateTime is the time of the last update to this "
                                                       "condition", format="date-time"),
                                  "lastTransitionTime": _s("lastTransitionTime is the time the condition last "
                                                           "transitioned from one status to another.",
                                                           format="date-time"),
                              }},
                },
                "certificate": _s("certificate is populated with an issued certificate by the signer after an "
                                  "Approved condition is present.", format="byte"),
            },
        },
    },
})


# --------------------------------------------------------------------------- columns (kube's printers.go)
def _signer(obj: Obj, _now: float) -> str:
    return str((obj.get("spec") or {}).get("signerName") or "<none>")


def _requestor(obj: Obj, _now: float) -> str:
    return str((obj.get("spec") or {}).get("username") or "")


def _duration(obj: Obj, _now: float) -> str:
    seconds = (obj.get("spec") or {}).get("expirationSeconds")
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        return "<none>"
    return human_duration(float(seconds))


def condition_summary(obj: Obj, _now: float = 0.0) -> str:
    """kube's CONDITION column: "Pending", or the True condition types joined by commas, plus "Issued"."""
    status = obj.get("status") or {}
    types = [c.get("type") for c in status.get("conditions") or []
             if isinstance(c, dict) and c.get("status", "True") == "True" and c.get("type")]
    if status.get("certificate"):
        types.append("Issued")
    return ",".join(str(t) for t in types) if types else "Pending"


CSR_COLUMNS: tuple[PrinterColumn, ...] = (
    PrinterColumn("Age", "string", description="CreationTimestamp is a timestamp representing the server time "
                                               "when this object was created.", cell=age_cell),
    PrinterColumn("SignerName", "string", description="Name of the signer.", cell=_signer),
    PrinterColumn("Requestor", "string", description="Name of the requestor.", cell=_requestor),
    PrinterColumn("RequestedDuration", "string", description="Requested duration of the certificate.",
                  cell=_duration),
    PrinterColumn("Condition", "string", description="Condition of the request.", cell=condition_summary),
)

CSR_RESOURCE = ResourceInfo(
    group=GROUP, version="v1", kind="CertificateSigningRequest", plural="certificatesigningrequests",
    singular="certificatesigningrequest", namespaced=False, short_names=("csr",), schema=CSR_SCHEMA,
    status_subresource=True, printer_columns=CSR_COLUMNS, builtin=True, track_generation=False,
    smp_hints={"metadata.finalizers": ("merge", ""), "metadata.ownerReferences": ("merge", "uid"),
               "status.conditions": ("merge", "type")},
    field_selectors=frozenset({"spec.signerName"}),
    extra_subresources={"approval": (GROUP, "v1", "CertificateSigningRequest", ("get", "patch", "update"))},
)


# --------------------------------------------------------------------------- strategy
def set_requester(body: Any, user: User) -> None:
    """Record the authenticated requester in `spec` (whatever the client sent there), as kube does on create."""
    if not isinstance(body, dict):
        return
    spec = body.get("spec")
    if not isinstance(spec, dict):
        return
    for k in ("username", "uid", "groups", "extra"):
        spec.pop(k, None)
    spec["username"] = user.name
    if user.uid:
        spec["uid"] = user.uid
    if user.groups:
        spec["groups"] = list(user.groups)
    if user.extra:
        spec["extra"] = user.extra_dict()


def _stamp(conditions: list[Obj], old: list[Obj]) -> list[Obj]:
    before = {c.get("type"): c for c in old if isinstance(c, dict)}
    now = now_rfc3339()
    out = []
    for c in conditions:
        if not isinstance(c, dict):
            out.append(c)
            continue
        c = dict(c)
        prev = before.get(c.get("type"))
        if not c.get("lastUpdateTime"):
            c["lastUpdateTime"] = now
        if not c.get("lastTransitionTime"):
            same = prev is not None and prev.get("status") == c.get("status") and prev.get("lastTransitionTime")
            c["lastTransitionTime"] = prev["lastTransitionTime"] if same and prev else now
        out.append(c)
    return out


def prepare_csr(obj: Obj, old: Obj | None) -> None:
    """Create: no status. Any update: `spec` stays what it was."""
    if old is None:
        obj.pop("status", None)
        return
    if "spec" in old:
        obj["spec"] = clone(old["spec"])


def _status_update(obj: Obj, old: Obj) -> tuple[Obj, Obj, list[Obj], list[Any]]:
    """(old's status, the body's status (a dict), old's conditions, the body's conditions) of a status write."""
    old_status = old.get("status") or {}
    new_status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    assert isinstance(new_status, dict)
    old_conds = [c for c in old_status.get("conditions") or [] if isinstance(c, dict)]
    body_conds = new_status.get("conditions") if isinstance(new_status.get("conditions"), list) else []
    return old_status, new_status, old_conds, body_conds or []


def _set_status(obj: Obj, status: Obj) -> None:
    """`status` becomes obj's, without its `conditions` when there are none."""
    if not status["conditions"]:
        del status["conditions"]
    obj["status"] = status


def prepare_csr_status(obj: Obj, old: Obj | None) -> None:
    """`/status`: the approval conditions and an issued certificate stay as they were."""
    if old is None:
        return
    _, new_status, old_conds, body_conds = _status_update(obj, old)
    kept = [c for c in old_conds if c.get("type") in APPROVAL_TYPES]
    others = [c for c in body_conds if not (isinstance(c, dict) and c.get("type") in APPROVAL_TYPES)]
    new_status["conditions"] = kept + _stamp(others, old_conds)
    _set_status(obj, new_status)


def prepare_csr_approval(obj: Obj, old: Obj | None) -> None:
    """`/approval`: only Approved/Denied conditions change; the certificate and other conditions stay."""
    if old is None:
        return
    old_status, _, old_conds, body_conds = _status_update(obj, old)
    others = [c for c in old_conds if c.get("type") not in APPROVAL_TYPES]
    approvals = [c for c in body_conds if isinstance(c, dict) and c.get("type") in APPROVAL_TYPES]
    status: Obj = {"conditions": _stamp(approvals, old_conds) + others}
    if old_status.get("certificate"):
        status["certificate"] = old_status["certificate"]
    _set_status(obj, status)


def _decode_pem(value: Any, path: str, causes: list[Cause]) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        causes.append(field_cause("FieldValueInvalid", path, "Invalid value: illegal base64 data"))
        return None


def parse_request(spec: Obj) -> x509.CertificateSigningRequest:
    """The x509 request in `spec.request` (base64 of a PEM "CERTIFICATE REQUEST" block); ValueError if bad."""
    raw = base64.b64decode(str(spec.get("request") or ""), validate=True)
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in raw:
        raise ValueError('must contain a "CERTIFICATE REQUEST" PEM block')
    csr = x509.load_pem_x509_csr(raw)
    if not csr.is_signature_valid:
        raise ValueError("the request's signature is invalid")
    return csr


def validate_csr(obj: Obj) -> list[Cause]:
    """kube's ValidateCertificateSigningRequest (create and update), with field paths."""
    causes: list[Cause] = []
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    if not spec.get("request"):
        causes.append(field_cause("FieldValueRequired", "spec.request", "Required value"))
    elif _decode_pem(spec.get("request"), "spec.request", causes) is not None:
        try:
            parse_request(spec)
        except ValueError as exc:
            causes.append(field_cause("FieldValueInvalid", "spec.request", f"Invalid value: {exc}"))
    signer = spec.get("signerName")
    if not signer:
        causes.append(field_cause("FieldValueRequired", "spec.signerName", "Required value"))
    elif not _SIGNER_NAME.fullmatch(str(signer)) or len(str(signer)) > 571:
        causes.append(field_cause("FieldValueInvalid", "spec.signerName",
                                  f'Invalid value: "{signer}": must be a fully qualified domain and path of the '
                                  f'form \'example.com/signer-name\''))
    usages = spec.get("usages")
    if not usages:
        causes.append(field_cause("FieldValueRequired", "spec.usages", "Required value"))
    elif not isinstance(usages, list):
        causes.append(field_cause("FieldValueInvalid", "spec.usages", "Invalid value: must be a list"))
    else:
        seen: set[str] = set()
        for i, u in enumerate(usages):
            if not isinstance(u, str):
                continue  # the schema reports the type
            if u in seen:
                causes.append(field_cause("FieldValueDuplicate", f"spec.usages[{i}]", f'Duplicate value: "{u}"'))
            seen.add(u)
    seconds = spec.get("expirationSeconds")
    if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds < MIN_EXPIRATION_SECONDS:
        causes.append(field_cause("FieldValueInvalid", "spec.expirationSeconds",
                                  f"Invalid value: {seconds}: may not specify a duration less than 600 seconds "
                                  f"(10 minutes)"))
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    assert isinstance(status, dict)
    conditions = status.get("conditions") if isinstance(status.get("conditions"), list) else []
    assert isinstance(conditions, list)
    types: set[str] = set()
    for i, c in enumerate(conditions):
        if not isinstance(c, dict):
            continue
        t = c.get("type")
        path = f"status.conditions[{i}]"
        if not isinstance(t, str) or not t:
            causes.append(field_cause("FieldValueRequired", f"{path}.type", "Required value"))
            continue
        if t in types and t in (APPROVED, DENIED, FAILED):
            causes.append(field_cause("FieldValueDuplicate", f"{path}.type", f'Duplicate value: "{t}"'))
        types.add(t)
        if c.get("status") not in ("True", "False", "Unknown"):
            causes.append(field_cause("FieldValueNotSupported", f"{path}.status",
                                      f'Unsupported value: "{c.get("status")}": supported values: "False", '
                                      f'"True", "Unknown"'))
        elif t in (APPROVED, DENIED, FAILED) and c.get("status") != "True":
            causes.append(field_cause("FieldValueNotSupported", f"{path}.status",
                                      f'Unsupported value: "{c.get("status")}": supported values: "True"'))
    if APPROVED in types and DENIED in types:
        causes.append(field_cause("FieldValueInvalid", "status.conditions",
                                  "Invalid value: Approved and Denied conditions are mutually exclusive"))
    cert = status.get("certificate")
    if cert:
        pem = _decode_pem(cert, "status.certificate", causes)
        if pem is not None:
            try:
                if not x509.load_pem_x509_certificates(pem):
                    raise ValueError("no certificate")
            except ValueError:
                causes.append(field_cause("FieldValueInvalid", "status.certificate",
                                          "Invalid value: must contain at least one CERTIFICATE PEM block"))
        if APPROVED not in types or DENIED in types or FAILED in types:
            causes.append(field_cause("FieldValueForbidden", "status.certificate",
                                      "Forbidden: may only be set when the request is approved and not failed"))
    return causes


def validate_csr_update(obj: Obj, old: Obj) -> list[Cause]:
    """Rules of an update: approval conditions are never removed, an issued certificate never replaced."""
    causes: list[Cause] = []
    old_status = old.get("status") or {}
    new_status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    assert isinstance(new_status, dict)
    new_conds = new_status.get("conditions") if isinstance(new_status.get("conditions"), list) else []
    new_types = {c.get("type") for c in new_conds or [] if isinstance(c, dict)}
    for c in old_status.get("conditions") or []:
        if isinstance(c, dict) and c.get("type") in (APPROVED, DENIED, FAILED) and c.get("type") not in new_types:
            causes.append(field_cause("FieldValueForbidden", "status.conditions",
                                      f"Forbidden: updates may not remove a condition of type {c.get('type')!r}"))
    if old_status.get("certificate") and new_status.get("certificate") != old_status["certificate"]:
        causes.append(field_cause("FieldValueForbidden", "status.certificate",
                                  "Forbidden: updates may not modify existing certificate content"))
    return causes
