"""Kubernetes' size limits of what a write may store, beyond the request body's 3 MiB.

- Every stored object is at most 1.5 MiB (etcd's default request limit; checked where the object is
  serialised, `storage.encode`, answering 413 as kube does for an etcd "request is too large").
- A ConfigMap's `data` and `binaryData`, and a Secret's `data`, hold at most 1 MiB together
  (`core.MaxSecretSize`; kube's `ValidateConfigMap`/`ValidateSecret`, 422 "Too long").
"""

from __future__ import annotations

from typing import Any

from .errors import Cause, field_cause

#: kube's core.MaxSecretSize, the limit of a ConfigMap's or a Secret's data.
MAX_DATA_BYTES = 1024 * 1024


def _b64_len(value: str) -> int:
    """Bytes a base64 value decodes to (without decoding it: padding and length are enough)."""
    n = len(value)
    return max(0, n * 3 // 4 - value[-2:].count("="))


def _size(values: Any, base64: bool) -> int:
    if not isinstance(values, dict):
        return 0
    total = 0
    for v in values.values():
        if isinstance(v, str):
            total += _b64_len(v) if base64 else len(v.encode("utf-8", "surrogatepass"))
    return total


def data_size_causes(group: str, plural: str, obj: dict[str, Any]) -> list[Cause]:
    """422 causes when a ConfigMap's or Secret's data is larger than kube allows; [] for other resources."""
    if group:
        return []
    if plural == "configmaps":
        total = _size(obj.get("data"), False) + _size(obj.get("binaryData"), True)
    elif plural == "secrets":
        total = _size(obj.get("data"), True)
    else:
        return []
    if total > MAX_DATA_BYTES:
        return [field_cause("FieldValueTooLong", "data",
                            f"Too long: may not be more than {MAX_DATA_BYTES} bytes (the data holds {total})")]
    return []


__all__ = ["MAX_DATA_BYTES", "data_size_causes"]
